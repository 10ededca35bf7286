"""The production instance (deploy/dagster.prod.yaml) against a real PostgreSQL server.

A PostgreSQL server from Debian's `postgresql` package (scripts/ensure_system_deps.sh installs it)
is started for this module in a temporary data directory on a free loopback port, as an
unprivileged user when the tests run as root, and stopped again afterwards, also when a test
fails. DAGSTER_HOME holds deploy/dagster.prod.yaml unchanged; the DAGSTER_PG_* variables point it
at the server. Everything the tests assert about storage is read back from PostgreSQL itself.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

psycopg2 = pytest.importorskip("psycopg2")

pytestmark = pytest.mark.postgres

REPO_ROOT = Path(__file__).resolve().parents[1]
PROD_INSTANCE_YAML = REPO_ROOT / "deploy" / "dagster.prod.yaml"
VENV_BIN = Path(sys.executable).parent
REGISTRY_TAG = ("orchestrator/job", "generate_registry")

ADMIN_USER = "orchestrator_admin"
ADMIN_PASSWORD = "admin-test-password"
DAGSTER_USER = "dagster"
DAGSTER_PASSWORD = "dagster-test-password"
_database_numbers = itertools.count(1)


# --------------------------------------------------------------------------------------------
# A throwaway PostgreSQL server
# --------------------------------------------------------------------------------------------


def _postgres_bin_dir() -> Path | None:
    """The newest installed server's bin directory (Debian keeps them per major version)."""
    candidates = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(initdb).parent.parent.name
        try:
            candidates.append((float(version), Path(initdb).parent))
        except ValueError:
            continue
    if not candidates:
        return None
    return max(candidates)[1]


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl in a private directory. PostgreSQL refuses to run as root, so as root the
    server commands run as the `postgres` system user (created by the Debian package)."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.host = "127.0.0.1"
        self.port = _free_loopback_port()
        # Not under pytest's tmp_path: that tree is private to the current user (mode 0700).
        self.base_dir = Path(tempfile.mkdtemp(prefix="orchestrator-pg-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sockets"
        self.log_file = self.base_dir / "server.log"
        self.run_as = None
        if os.geteuid() == 0:
            self.run_as = "postgres"
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                pytest.skip("running as root and there is no `postgres` system user to run the server as")
        self.started = False

    # -- helpers -----------------------------------------------------------------------------

    def _command(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", self.run_as, "--", *args]
        return ["su", self.run_as, "-s", "/bin/sh", "-c", " ".join(_shell_quote(arg) for arg in args)]

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            self._command(*args),
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{self.server_log()}"
            )
        return result

    def server_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.socket_dir.mkdir()
        password_file = self.base_dir / "admin-password"
        password_file.write_text(ADMIN_PASSWORD + "\n")
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            for path in (self.base_dir, self.socket_dir, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(self.base_dir, 0o700)
        os.chmod(password_file, 0o600)
        self._run(
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            ADMIN_USER,
            "--pwfile",
            str(password_file),
            "--auth-local",
            "trust",
            "--auth-host",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        )
        password_file.unlink()
        options = (
            f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories={self.socket_dir} -c fsync=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "--pgdata",
            str(self.data_dir),
            "--log",
            str(self.log_file),
            "--options",
            options,
            "--wait",
            "--timeout",
            "60",
            "start",
        )
        self.started = True

    def stop(self) -> None:
        try:
            if self.started:
                for mode in ("fast", "immediate"):
                    try:
                        self._run(
                            str(self.bin_dir / "pg_ctl"),
                            "--pgdata",
                            str(self.data_dir),
                            "--mode",
                            mode,
                            "--wait",
                            "--timeout",
                            "60",
                            "stop",
                        )
                        self.started = False
                        break
                    except (RuntimeError, subprocess.TimeoutExpired):
                        continue
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def is_running(self) -> bool:
        result = subprocess.run(
            self._command(str(self.bin_dir / "pg_ctl"), "--pgdata", str(self.data_dir), "status"),
            capture_output=True,
            text=True,
        )
        return result.returncode == 0

    # -- SQL ---------------------------------------------------------------------------------

    def connect(self, user: str = ADMIN_USER, password: str = ADMIN_PASSWORD, dbname: str = "postgres"):
        return psycopg2.connect(host=self.host, port=self.port, user=user, password=password, dbname=dbname)

    def execute_as_admin(self, *statements: tuple[str, tuple]) -> None:
        connection = self.connect()
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        try:
            with connection.cursor() as cursor:
                for sql, params in statements:
                    cursor.execute(sql, params)
        finally:
            connection.close()


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


@pytest.fixture(scope="module")
def postgres_server():
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (run `make system-deps`)")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        # An ordinary role, as in production: it owns its database and creates Dagster's tables.
        server.execute_as_admin((f'CREATE ROLE "{DAGSTER_USER}" LOGIN PASSWORD %s', (DAGSTER_PASSWORD,)))
        yield server
    finally:
        server.stop()


@pytest.fixture
def dagster_db(postgres_server) -> str:
    """A fresh, empty database per test, owned by the Dagster role."""
    name = f"dagster_test_{next(_database_numbers)}"
    postgres_server.execute_as_admin((f'CREATE DATABASE "{name}" OWNER "{DAGSTER_USER}"', ()))
    return name


@pytest.fixture
def pg_env(postgres_server, dagster_db, monkeypatch) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.prod.yaml reads, pointing at the test server."""
    values = {
        "DAGSTER_PG_HOST": postgres_server.host,
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_USERNAME": DAGSTER_USER,
        "DAGSTER_PG_PASSWORD": DAGSTER_PASSWORD,
        "DAGSTER_PG_DB": dagster_db,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def dagster_home(tmp_path, pg_env, monkeypatch) -> Path:
    """A DAGSTER_HOME whose dagster.yaml is deploy/dagster.prod.yaml, byte for byte."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROD_INSTANCE_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def prod_instance(dagster_home):
    from dagster import DagsterInstance

    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        yield instance
    finally:
        instance.dispose()


@pytest.fixture
def pg_query(postgres_server, dagster_db):
    """Run one SQL query as the Dagster role against this test's database; rows as dicts."""

    def query(sql: str, params: tuple = ()) -> list[dict]:
        connection = postgres_server.connect(DAGSTER_USER, DAGSTER_PASSWORD, dagster_db)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                columns = [column.name for column in cursor.description]
                return [dict(zip(columns, row, strict=False)) for row in cursor.fetchall()]
        finally:
            connection.close()

    return query


def _run_row(pg_query, run_id: str) -> dict:
    rows = pg_query("SELECT run_id, pipeline_name, status, start_time, end_time FROM runs WHERE run_id = %s", (run_id,))
    assert len(rows) == 1, f"run {run_id} not found in PostgreSQL"
    return rows[0]


def _materialized_asset_keys(pg_query, run_id: str) -> set[str]:
    rows = pg_query(
        "SELECT asset_key FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        (run_id,),
    )
    keys = set()
    for row in rows:
        stored = json.loads(row["asset_key"])  # the asset key path as a JSON list
        keys.add("/".join(stored["path"] if isinstance(stored, dict) else stored))
    return keys


# --------------------------------------------------------------------------------------------
# The server fixture and the instance itself
# --------------------------------------------------------------------------------------------


def test_server_runs_as_unprivileged_user_on_loopback(postgres_server, dagster_db):
    assert postgres_server.is_running()
    connection = postgres_server.connect(DAGSTER_USER, DAGSTER_PASSWORD, dagster_db)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database(), inet_server_addr()::text, inet_server_port()")
            user, database, address, port = cursor.fetchone()
    finally:
        connection.close()
    assert (user, database, port) == (DAGSTER_USER, dagster_db, postgres_server.port)
    assert address.split("/")[0] == "127.0.0.1"
    if os.geteuid() == 0:
        owner = pwd.getpwuid(postgres_server.data_dir.stat().st_uid).pw_name
        assert owner == postgres_server.run_as


def test_wrong_password_is_refused(postgres_server, dagster_db):
    with pytest.raises(psycopg2.OperationalError):
        postgres_server.connect(DAGSTER_USER, "not-the-password", dagster_db)


def test_prod_instance_uses_postgres_for_every_storage(prod_instance, pg_query):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    assert isinstance(prod_instance.run_storage, PostgresRunStorage)
    assert isinstance(prod_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(prod_instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(prod_instance.run_coordinator, QueuedRunCoordinator)

    limits = prod_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
    assert {"key": REGISTRY_TAG[0], "value": REGISTRY_TAG[1], "limit": 1} in limits
    assert prod_instance.run_retries_enabled
    assert prod_instance.run_retries_max_retries == 2

    tables = {
        row["table_name"]
        for row in pg_query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    }
    assert {"runs", "event_logs", "jobs", "job_ticks", "instigators"} <= tables


def _write_probe_job(path: Path) -> Path:
    """A tiny code location: one asset job carrying the generate_registry tag."""
    path.write_text(
        textwrap.dedent(
            """
            import time

            from dagster import Definitions, asset, define_asset_job, in_process_executor


            @asset
            def probe_upstream():
                time.sleep(1.5)
                return 1


            @asset
            def probe_downstream(probe_upstream):
                return probe_upstream + 1


            probe_job = define_asset_job(
                "probe_registry_job",
                selection=[probe_upstream, probe_downstream],
                tags={"orchestrator/job": "generate_registry"},
                executor_def=in_process_executor,
            )

            defs = Definitions(assets=[probe_upstream, probe_downstream], jobs=[probe_job])
            """
        )
    )
    return path


def test_trivial_job_in_process_lands_in_postgres(prod_instance, pg_query, tmp_path):
    from dagster import DagsterRunStatus, Definitions, asset, define_asset_job

    @asset
    def pg_probe_asset():
        return 42

    job = Definitions(assets=[pg_probe_asset], jobs=[define_asset_job("pg_probe_job")]).resolve_job_def("pg_probe_job")
    result = job.execute_in_process(instance=prod_instance)
    assert result.success

    row = _run_row(pg_query, result.run_id)
    assert row["pipeline_name"] == "pg_probe_job"
    assert row["status"] == DagsterRunStatus.SUCCESS.value
    assert _materialized_asset_keys(pg_query, result.run_id) == {"pg_probe_asset"}
    # The instance reads back what it wrote.
    assert prod_instance.get_latest_materialization_event(pg_probe_asset.key) is not None


def test_cli_job_execute_with_prod_dagster_home(dagster_home, pg_query, tmp_path):
    code = _write_probe_job(tmp_path / "probe_location.py")
    result = subprocess.run(
        [str(VENV_BIN / "dagster"), "job", "execute", "-f", str(code), "-j", "probe_registry_job"],
        cwd=tmp_path,
        env=os.environ.copy(),  # DAGSTER_HOME and DAGSTER_PG_* set by the fixtures
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = pg_query("SELECT run_id, status FROM runs WHERE pipeline_name = 'probe_registry_job'")
    assert [row["status"] for row in rows] == ["SUCCESS"]
    assert _materialized_asset_keys(pg_query, rows[0]["run_id"]) == {"probe_upstream", "probe_downstream"}
    tags = pg_query("SELECT key, value FROM run_tags WHERE run_id = %s", (rows[0]["run_id"],))
    assert {"key": REGISTRY_TAG[0], "value": REGISTRY_TAG[1]} in tags


@contextlib.contextmanager
def _dagster_daemon(code: Path, cwd: Path, log_path: Path):
    """`dagster-daemon run` on the prod instance, in its own process group so that it and the
    code server / run workers it spawns can be stopped together, by that group's id."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "dagster-daemon"), "run", "-f", str(code)],
            cwd=cwd,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=30)


def test_daemon_runs_queued_generate_registry_runs_one_at_a_time(dagster_home, pg_query, tmp_path):
    """Two runs tagged orchestrator/job=generate_registry are queued in PostgreSQL by
    `dagster job launch`; the daemon drains the queue and never lets two of them overlap."""
    code = _write_probe_job(tmp_path / "probe_location.py")
    for _ in range(2):
        launched = subprocess.run(
            [str(VENV_BIN / "dagster"), "job", "launch", "-f", str(code), "-j", "probe_registry_job"],
            cwd=tmp_path,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]

    queued = pg_query("SELECT run_id, status FROM runs WHERE pipeline_name = 'probe_registry_job'")
    assert len(queued) == 2
    assert {row["status"] for row in queued} == {"QUEUED"}, "the QueuedRunCoordinator must hold runs for the daemon"

    daemon_log = tmp_path / "daemon.log"
    with _dagster_daemon(code, tmp_path, daemon_log) as daemon:
        deadline = time.monotonic() + 240
        rows: list[dict] = []
        max_in_flight = 0
        while time.monotonic() < deadline:
            rows = pg_query(
                "SELECT run_id, status, start_time, end_time FROM runs WHERE pipeline_name = 'probe_registry_job'"
            )
            in_flight = sum(row["status"] in ("STARTING", "STARTED") for row in rows)
            max_in_flight = max(max_in_flight, in_flight)
            if all(row["status"] in ("SUCCESS", "FAILURE", "CANCELED") for row in rows):
                break
            assert daemon.poll() is None, "dagster-daemon exited:\n" + daemon_log.read_text()[-4000:]
            time.sleep(0.25)
        else:
            pytest.fail("queued runs did not finish in time:\n" + repr(rows) + "\n" + daemon_log.read_text()[-4000:])

    assert [row["status"] for row in rows] == ["SUCCESS"] * 2, daemon_log.read_text()[-4000:]
    assert max_in_flight <= 1
    spans = sorted((row["start_time"], row["end_time"]) for row in rows)
    for (_, previous_end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert previous_end <= next_start, f"two generate_registry runs overlapped: {spans}"
    # The daemon's own bookkeeping (heartbeats) went to PostgreSQL as well.
    assert pg_query("SELECT count(*) AS n FROM daemon_heartbeats")[0]["n"] > 0


# --------------------------------------------------------------------------------------------
# The real generate_registry job on the production instance
# --------------------------------------------------------------------------------------------

CORE_REGISTRY_ASSETS = {
    "metadata_definitions",
    "registry_entry",
    "persisted_oss_registry",
    "persisted_cloud_registry",
    "specs_secrets_mask_yaml",
}


def _generate_registry_job():
    from tests.builders import code_location

    return code_location().resolve_job_def("generate_registry")


def _load_sample_bucket(gcs_env: dict) -> int:
    """A few valid connectors (sources and destinations, several versions) into the test's buckets.
    Uses the project's sample generator when present, a minimal hand-written set otherwise."""
    try:
        from orchestrator.local.sample import generate_sample
    except ImportError:
        return _load_minimal_bucket(gcs_env)
    sample = generate_sample(connectors=4, versions=2, seed=11)
    for path, data in sample.metadata_objects.items():
        gcs_env["metadata"].write(path, data)
    for path, data in sample.spec_objects.items():
        gcs_env["specs"].write(path, data)
    return len(sample.connectors)


def _load_minimal_bucket(gcs_env: dict) -> int:
    import yaml

    connectors = [("source", "source-pg-probe", "0.3.1"), ("destination", "destination-pg-probe", "1.0.0")]
    for index, (connector_type, name, tag) in enumerate(connectors):
        data = {
            "name": name.replace("-", " ").title(),
            "definitionId": f"00000000-0000-4000-8000-00000000000{index + 1}",
            "connectorType": connector_type,
            "dockerRepository": f"airbyte/{name}",
            "dockerImageTag": tag,
            "license": "MIT",
            "documentationUrl": f"https://docs.example.com/{name}",
            "githubIssueLabel": name,
            "connectorSubtype": "api",
            "releaseStage": "beta",
            "tags": ["language:python"],
            "registryOverrides": {"oss": {"enabled": True}, "cloud": {"enabled": True}},
        }
        if tag == "1.0.0":
            data["releases"] = {
                "breakingChanges": {"1.0.0": {"upgradeDeadline": "2024-01-01", "message": "Renamed streams."}}
            }
        document = yaml.safe_dump({"metadataSpecVersion": "1.0", "data": data}, sort_keys=False).encode()
        for folder in (tag, "latest"):
            gcs_env["metadata"].write(f"metadata/airbyte/{name}/{folder}/metadata.yaml", document)
        spec = {
            "documentationUrl": data["documentationUrl"],
            "connectionSpecification": {
                "type": "object",
                "properties": {"api_key": {"type": "string", "airbyte_secret": True}, "start_date": {"type": "string"}},
            },
        }
        gcs_env["specs"].write(f"specs/airbyte/{name}/{tag}/spec.json", json.dumps(spec).encode())
    return len(connectors)


def _assert_registries_published(gcs_env: dict) -> None:
    for path in ("registries/v0/oss_registry.json", "registries/v0/cloud_registry.json"):
        stored = gcs_env["metadata"].read(path)
        assert stored is not None, f"{path} was not written"
        registry = json.loads(stored[0])
        assert registry["sources"] or registry["destinations"]
    assert gcs_env["metadata"].read("registries/v0/specs_secrets_mask.yaml") is not None


def _assert_queue_limits_job(instance_limits: list[dict], job_tags: dict) -> None:
    """Whatever tag generate_registry carries, the production queue holds it to one run."""
    limited = [
        limit for limit in instance_limits if limit["limit"] == 1 and job_tags.get(limit["key"]) == limit.get("value")
    ]
    assert limited, f"no tag concurrency limit of 1 in deploy/dagster.prod.yaml matches the job's tags {job_tags}"


def test_generate_registry_in_process_on_prod_instance(prod_instance, pg_query, gcs_env, resources):
    job = _generate_registry_job()
    _load_sample_bucket(gcs_env)

    result = job.execute_in_process(resources=resources, instance=prod_instance)
    assert result.success

    row = _run_row(pg_query, result.run_id)
    assert (row["pipeline_name"], row["status"]) == ("generate_registry", "SUCCESS")
    stored_keys = _materialized_asset_keys(pg_query, result.run_id)
    in_memory_keys = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert stored_keys == in_memory_keys
    assert stored_keys >= CORE_REGISTRY_ASSETS
    _assert_registries_published(gcs_env)

    stored_tags = {
        row["key"]: row["value"]
        for row in pg_query("SELECT key, value FROM run_tags WHERE run_id = %s", (result.run_id,))
    }
    for key, value in job.tags.items():
        assert stored_tags.get(key) == value
    _assert_queue_limits_job(
        prod_instance.get_concurrency_config().run_queue_config.tag_concurrency_limits, dict(job.tags)
    )


def test_generate_registry_via_dagster_job_execute(dagster_home, pg_query, gcs_env, tmp_path):
    _generate_registry_job()
    _load_sample_bucket(gcs_env)

    # The code location's default executor runs the steps in the run's own process; separate
    # processes opening the instance from DAGSTER_HOME are covered by the daemon test above.
    result = subprocess.run(
        [str(VENV_BIN / "dagster"), "job", "execute", "-m", "orchestrator.definitions", "-j", "generate_registry"],
        cwd=REPO_ROOT,
        env=os.environ.copy(),  # DAGSTER_HOME, DAGSTER_PG_*, the emulator and the test's buckets
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    rows = pg_query("SELECT run_id, status FROM runs WHERE pipeline_name = 'generate_registry'")
    assert [row["status"] for row in rows] == ["SUCCESS"]
    assert _materialized_asset_keys(pg_query, rows[0]["run_id"]) >= CORE_REGISTRY_ASSETS
    _assert_registries_published(gcs_env)
