"""The fault and bad-input campaign: `make chaos` (or `python chaos/run_chaos.py [--quick] [--only a,b]`).

It starts a private emulator, loads the sample bucket, and runs every scenario against real
`dagster job execute` processes whose google-cloud-storage client goes through the fault proxy.
After every scenario it checks the invariants (chaos/invariants.py), runs one clean job and checks
that the registries converged. It prints, per scenario, repetitions, invariant violations, crashes
and recoveries, and exits 1 when anything was violated or crashed. See chaos/README.md."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chaos.bad_inputs import NEW_TAG, catalogue, resolve  # noqa: E402
from chaos.fault_proxy import CUT_AFTER, CUT_BEFORE, FaultPlan, FaultProxy  # noqa: E402
from chaos.invariants import (  # noqa: E402
    RegistrySnapshot,
    convergence_violations,
    expected_versions,
    registry_file_violations,
    snapshot,
)
from orchestrator.layout import ENTRY_MANIFEST_PATH, LATEST_METADATA_GLOB, METADATA_FOLDER, registry_overrides  # noqa: E402
from orchestrator.local.emulator import EmulatorConfig, ensure_buckets, start_emulator, stop_emulator  # noqa: E402
from orchestrator.local.load import load_sample  # noqa: E402
from orchestrator.local.ports import free_port  # noqa: E402
from orchestrator.local.sample import generate_sample  # noqa: E402
from orchestrator.resources.gcs import GcsBucketManager, GcsClient  # noqa: E402

METADATA_BUCKET, SPEC_BUCKET = "chaos-metadata", "chaos-specs"
CDN = "https://connectors.chaos.test"  # icon URLs do not depend on which address a run used
SECRET_MARKERS = ("CHAOS-SECRET-PRIVATE-KEY", "xoxb-CHAOS-SECRET-SLACK", "CHAOS-SECRET-WEBHOOK-TOKEN")
MEMORY_LIMIT_MB = 1024  # a run above this is killed and counted as a crash
JOB = ["-m", "orchestrator.definitions", "-j", "generate_registry"]


@dataclass
class RunOutcome:
    returncode: int
    seconds: float
    peak_mb: float
    output: str
    killed_by_us: bool = False

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0

    @property
    def crashed(self) -> bool:
        """Died in a way a clean failure never does: a signal we did not send, the memory limit,
        or an exception that escaped the step's own error handling."""
        by_signal = self.returncode < 0 and not self.killed_by_us
        escaped = any(word in self.output for word in ("MemoryError", "RecursionError", "Segmentation fault"))
        return by_signal or escaped or self.peak_mb > MEMORY_LIMIT_MB


@dataclass
class ScenarioResult:
    name: str
    repetitions: int = 0
    violations: list[str] = field(default_factory=list)
    crashes: int = 0
    recovered: int = 0
    faulty_runs_failed: int = 0
    peak_mb: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def say(message: str) -> None:
    print(message, flush=True)


class Campaign:
    def __init__(self, work: Path, connectors: int, versions: int):
        self.work = work
        self.emulator = EmulatorConfig(state_dir=work / "emulator", port=free_port())
        start_emulator(self.emulator)
        ensure_buckets(self.emulator.url, [METADATA_BUCKET, SPEC_BUCKET])
        client = GcsClient(emulator_host=self.emulator.url)
        self.bucket = GcsBucketManager(gcp_gcs_client=client, bucket_name=METADATA_BUCKET, cdn_base_url=CDN)
        self.specs = GcsBucketManager(gcp_gcs_client=client, bucket_name=SPEC_BUCKET)
        load_sample(generate_sample(connectors=connectors, versions=versions, seed=17), self.bucket, self.specs)
        self.home = work / "dagster_home"
        self.home.mkdir()
        self.serial = 0
        self.repositories = sorted(
            blob.name[len(METADATA_FOLDER) + 1 : -len("/latest/metadata.yaml")]
            for blob in self.bucket.list_blobs(f"{METADATA_FOLDER}/", LATEST_METADATA_GLOB)
        )

    def close(self) -> None:
        stop_emulator(self.emulator)

    def environment(self, storage_url: str | None = None, **extra: str) -> dict[str, str]:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("GCS_", "ORCHESTRATOR_", "SLACK_"))
        }
        env.update(
            ORCHESTRATOR_DEPLOYMENT="local",
            STORAGE_EMULATOR_HOST=storage_url or self.emulator.url,
            METADATA_BUCKET=METADATA_BUCKET,
            SPEC_CACHE_BUCKET=SPEC_BUCKET,
            METADATA_CDN_BASE_URL=CDN,
            DAGSTER_HOME=str(self.home),
            PYTHONUNBUFFERED="1",
            PYTHONPYCACHEPREFIX=str(self.work / "pycache"),
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(extra)
        return env

    def start_job(self, env: dict[str, str], config: dict | None = None) -> tuple[subprocess.Popen, Path]:
        log = Path(tempfile.mkstemp(dir=self.work, suffix=".log")[1])
        command = [str(Path(sys.executable).with_name("dagster")), "job", "execute", *JOB]
        if config:
            config_path = log.with_suffix(".yaml")
            config_path.write_text(yaml.safe_dump(config))
            command += ["-c", str(config_path)]
        with open(log, "wb") as output:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        return process, log

    def finish_job(
        self, process: subprocess.Popen, log: Path, timeout: float = 300, kill_after: float | None = None
    ) -> RunOutcome:
        started, peak, killed = time.monotonic(), 0.0, False
        while process.poll() is None:
            elapsed = time.monotonic() - started
            try:
                tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
                peak = max(peak, max(p.memory_info().rss for p in tree) / 2**20)
            except psutil.Error:
                pass
            if (kill_after is not None and elapsed >= kill_after) or elapsed > timeout or peak > MEMORY_LIMIT_MB:
                killed = kill_after is not None and elapsed >= kill_after
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                break
            time.sleep(0.05)
        output = log.read_text(errors="replace")
        return RunOutcome(process.returncode, time.monotonic() - started, peak, output, killed_by_us=killed)

    def run_job(self, storage_url: str | None = None, config: dict | None = None, **kwargs: float) -> RunOutcome:
        process, log = self.start_job(self.environment(storage_url), config)
        return self.finish_job(process, log, **kwargs)

    def upload_version(self, repository: str) -> str:
        """What the upload command writes for a new patch release: specs, versioned folder, latest/."""
        self.serial += 1
        latest = f"{METADATA_FOLDER}/{repository}/latest"
        stored = self.bucket.read(f"{latest}/metadata.yaml")
        assert stored is not None
        document = yaml.safe_load(stored[0])
        data = document["data"]
        old_tag = str(data["dockerImageTag"])
        major, minor, patch = (int(part) for part in old_tag.split("-")[0].split("."))
        new_tag = f"{major}.{minor}.{patch + 100 + self.serial}"
        data["dockerImageTag"] = new_tag
        images = {repository} | {
            override["dockerRepository"]
            for override in registry_overrides(data).values()
            if isinstance(override, dict) and override.get("dockerRepository")
        }
        for image in sorted(images):
            for blob in self.specs.list_blobs(f"specs/{image}/{old_tag}/"):
                spec = self.specs.read(blob.name)
                assert spec is not None
                self.specs.write(blob.name.replace(f"/{old_tag}/", f"/{new_tag}/"), spec[0])
        payload = yaml.safe_dump(document, sort_keys=False).encode()
        for folder in (f"{METADATA_FOLDER}/{repository}/{new_tag}", latest):
            self.bucket.write(f"{folder}/metadata.yaml", payload)
        return new_tag

    def settle(self, result: ScenarioResult, before: RegistrySnapshot, faulty: RunOutcome | None) -> None:
        """After a faulty action: the invariants, one clean run, convergence."""
        result.repetitions += 1
        result.violations += registry_file_violations(before, snapshot(self.bucket))
        if faulty is not None:
            result.peak_mb = max(result.peak_mb, faulty.peak_mb)
            result.crashes += int(faulty.crashed)
            result.faulty_runs_failed += int(not faulty.succeeded)
        clean = self.run_job()
        if not clean.succeeded:
            result.violations.append(f"the clean run after the fault failed: {failure_line(clean.output)}")
            return
        converged = convergence_violations(self.bucket, expected_versions(self.bucket, before))
        result.violations += converged
        result.recovered += int(not converged)


def failure_line(output: str) -> str:
    """The first failure the run reported, with the line that says why."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if "STEP_FAILURE" in line or "RUN_FAILURE" in line:
            reason = next((text.strip() for text in lines[index + 1 : index + 8] if text.strip()), "")
            return f"{line.split(' - ')[-2].strip() if ' - ' in line else ''}: {reason}"[:300]
    return lines[-1][-300:] if lines else "(no output)"


# ---------------------------------------------------------------------------------------------
# Scenarios


def scenario_transient_errors(campaign: Campaign, repeat: int) -> ScenarioResult:
    """503 and 429 on 15% of requests (unforwarded): the client retries; nothing torn."""
    result = ScenarioResult("transient 503/429")
    with FaultProxy(campaign.emulator.url) as proxy:
        for trial in range(repeat):
            before = snapshot(campaign.bucket)
            campaign.upload_version(campaign.repositories[trial % len(campaign.repositories)])
            proxy.reset(FaultPlan(error_rate=0.15, seed=trial))
            faulty = campaign.run_job(proxy.url)
            result.notes.append(
                f"injected {proxy.counts.get('503', 0) + proxy.counts.get('429', 0)} of {proxy.requests}"
            )
            campaign.settle(result, before, faulty)
    return result


def scenario_lost_replies(campaign: Campaign, repeat: int) -> ScenarioResult:
    """A write happens, then its reply is lost (503): the retried conditional write meets its own
    generation. The run must recognise its own write and succeed."""
    result = ScenarioResult("lost write replies")
    with FaultProxy(campaign.emulator.url) as proxy:
        for trial in range(repeat):
            before = snapshot(campaign.bucket)
            campaign.upload_version(campaign.repositories[(trial + 3) % len(campaign.repositories)])
            proxy.reset(FaultPlan(lost_reply_rate=0.3, seed=100 + trial))
            faulty = campaign.run_job(proxy.url)
            if not faulty.succeeded:
                result.violations.append(
                    f"trial {trial}: a run whose own writes landed failed: {failure_line(faulty.output)}"
                )
            campaign.settle(result, before, faulty)
    return result


def scenario_cut_connections(campaign: Campaign, points: int) -> ScenarioResult:
    """The connection cut at request k (before or after forwarding), k spread over a whole run."""
    result = ScenarioResult("cut connections")
    with FaultProxy(campaign.emulator.url) as proxy:
        campaign.upload_version(campaign.repositories[0])
        proxy.reset()
        baseline = campaign.run_job(proxy.url)
        total = proxy.requests
        if not baseline.succeeded:
            result.violations.append(f"the baseline run failed: {failure_line(baseline.output)}")
            return result
        for index in range(points):
            at = max(1, round((index + 0.5) * total / points))
            before = snapshot(campaign.bucket)
            campaign.upload_version(campaign.repositories[(index + 1) % len(campaign.repositories)])
            proxy.reset(FaultPlan(cut_at={at: CUT_AFTER if index % 2 else CUT_BEFORE}))
            faulty = campaign.run_job(proxy.url)
            result.notes.append(f"cut {at}/{total}")
            campaign.settle(result, before, faulty)
    return result


def scenario_sigkill(campaign: Campaign, points: int) -> ScenarioResult:
    """`dagster job execute` killed (SIGKILL, whole process group) at points spread over a run."""
    result = ScenarioResult("SIGKILL mid-run")
    campaign.upload_version(campaign.repositories[2])
    baseline = campaign.run_job()
    span = baseline.seconds
    for index in range(points):
        before = snapshot(campaign.bucket)
        campaign.upload_version(campaign.repositories[(index + 5) % len(campaign.repositories)])
        faulty = campaign.run_job(kill_after=span * (index + 0.5) / points)
        campaign.settle(result, before, faulty)
    return result


def scenario_simultaneous_runs(campaign: Campaign, trials: int) -> ScenarioResult:
    """Two runs started at once over the same change."""
    result = ScenarioResult("two runs at once")
    for trial in range(trials):
        before = snapshot(campaign.bucket)
        campaign.upload_version(campaign.repositories[(trial + 7) % len(campaign.repositories)])
        campaign.upload_version(campaign.repositories[(trial + 11) % len(campaign.repositories)])
        first = campaign.start_job(campaign.environment())
        second = campaign.start_job(campaign.environment())
        outcomes = [campaign.finish_job(*first), campaign.finish_job(*second)]
        worst = max(outcomes, key=lambda outcome: (outcome.crashed, not outcome.succeeded))
        campaign.settle(result, before, worst)
    return result


def scenario_slow_writer(campaign: Campaign, trials: int) -> ScenarioResult:
    """Issue 16, case 1: run A reads version v1 and is slow writing its entries; meanwhile v2 is
    uploaded and run B publishes it. A's late write must not leave an older entry in place once a
    clean run has passed."""
    result = ScenarioResult("slow writer race")
    with FaultProxy(campaign.emulator.url) as proxy:
        for trial in range(trials):
            repository = campaign.repositories[(trial + 13) % len(campaign.repositories)]
            before = snapshot(campaign.bucket)
            campaign.upload_version(repository)
            latest = f"{METADATA_FOLDER}/{repository}/latest/metadata.yaml"
            named = {"ops": {"metadata_definitions": {"config": {"changed_files": [latest], "deleted_files": []}}}}
            entry = f"{METADATA_FOLDER}/{repository}/latest/oss.json".encode()
            proxy.reset(FaultPlan(delay=[("POST", entry, 12.0)]))
            slow = campaign.start_job(campaign.environment(proxy.url), named)
            deadline = time.monotonic() + 120
            while proxy.counts.get("delayed", 0) == 0 and time.monotonic() < deadline:
                time.sleep(0.1)  # A has read v1 and is writing its latest/ entry
            campaign.upload_version(repository)
            fast = campaign.run_job(config=named)
            if not fast.succeeded:
                result.notes.append(f"run B failed: {failure_line(fast.output)}")
            slow_outcome = campaign.finish_job(*slow)
            result.notes.append(f"run A {'succeeded' if slow_outcome.succeeded else 'failed'}")
            campaign.settle(result, before, slow_outcome)
    return result


def _manifest_reports(campaign: Campaign, paths: list[str]) -> bool:
    stored = campaign.bucket.read(ENTRY_MANIFEST_PATH)
    if stored is None:
        return False
    files = json.loads(stored[0]).get("files", {})
    for path in paths:
        record = files.get(path)
        failed = record and any(outcome.get("status") == "failed" for outcome in record.get("registries", {}).values())
        if not record or (record.get("valid") and not failed):
            return False
    return True


BAD_INPUT_BATCH = 9  # kinds written together, each over its own connector: one faulty and one clean run per batch


def scenario_bad_inputs(campaign: Campaign, only: set[str] | None) -> ScenarioResult:
    """Each kind of bad file, first through the upload command (it must refuse it and write
    nothing), then written straight into the bucket over a published connector of its own: the run
    succeeds, the registries do not change, every file is reported; the bucket is put back and one
    clean run converges. Kinds go in batches, each over a different connector, so that one run
    serves several; a kind that touches a second connector (a duplicate id) runs alone."""
    result = ScenarioResult("bad input")
    other = campaign.repositories[4]
    victims = [repository for repository in campaign.repositories if repository != other]

    def latest_path(repository: str) -> str:
        return f"{METADATA_FOLDER}/{repository}/latest/metadata.yaml"

    def data_of(repository: str) -> dict:
        stored = campaign.bucket.read(latest_path(repository))
        assert stored is not None
        return yaml.safe_load(stored[0])["data"]

    # Every batch puts the latest/ files back as they were, so each connector's data is read once.
    data = {repository: data_of(repository) for repository in campaign.repositories}

    kinds = [bad.kind for bad in catalogue(data[victims[0]], data[other]) if only is None or bad.kind in only]
    alone = [kind for kind in kinds if kind == "duplicate-definition-id"]
    together = [kind for kind in kinds if kind not in alone]
    batches = [together[index : index + BAD_INPUT_BATCH] for index in range(0, len(together), BAD_INPUT_BATCH)]
    batches += [[kind] for kind in alone]
    result.notes.append(f"{len(kinds)} kinds in {len(batches)} runs")
    _give_specs_for_catalogue_tags(campaign, other, str(data[other]["dockerImageTag"]))
    for batch in batches:
        cases = []  # (kind, victim, bad input, files)
        # An id is claimed within one connector type: the duplicate's victim is of the thief's type.
        same_type = [v for v in victims if data[v]["connectorType"] == data[other]["connectorType"]]
        for kind, victim in zip(batch, same_type if batch == alone else victims, strict=False):
            _give_specs_for_catalogue_tags(campaign, victim, str(data[victim]["dockerImageTag"]))
            bad = next(item for item in catalogue(data[victim], data[other]) if item.kind == kind)
            cases.append((kind, victim, bad, resolve(bad, victim)))
        touched = {victim for _, victim, _, _ in cases} | {other}
        originals = {latest_path(repository): campaign.bucket.read(latest_path(repository)) for repository in touched}
        before = snapshot(campaign.bucket)
        # Through the upload command first, while the bucket does not hold the files yet.
        for kind, _, bad, files in cases:
            result.violations += [f"{kind}: {text}" for text in upload_refusal_violations(campaign, bad, files)]
        for _, _, _, files in cases:
            for path, payload in files.items():
                campaign.bucket.write(path, payload)
        faulty = campaign.run_job()
        result.repetitions += len(cases)
        result.peak_mb = max(result.peak_mb, faulty.peak_mb)
        result.crashes += int(faulty.crashed)
        label = ",".join(batch)
        if not faulty.succeeded:
            result.violations.append(
                f"{label}: the run failed, so bad files stopped the others: {failure_line(faulty.output)}"
            )
        after = snapshot(campaign.bucket)
        changed = registry_file_violations(before, after)
        if after.raw != before.raw:
            changed.append("the registries changed although only bad files were added")
        result.violations += [f"{label}: {text}" for text in changed]
        for kind, _, bad, files in cases:
            # A claim on another connector's id is valid file by file: the registry build names both.
            reported = (
                all(name in faulty.output for name in bad.also_names) and "claims definition id" in faulty.output
                if bad.also_names
                else _manifest_reports(campaign, [path for path in files if path.endswith("metadata.yaml")])
            )
            if faulty.succeeded and not reported:
                result.violations.append(f"{kind}: the file is not recorded as invalid or failed (nothing reports it)")
        # Put the bucket back as it was, then one clean run must converge.
        for _, _, _, files in cases:
            for path in files:
                campaign.bucket.delete(path)
        for path, stored in originals.items():
            if stored is not None:
                campaign.bucket.write(path, stored[0])
        clean = campaign.run_job()
        if not clean.succeeded:
            result.violations.append(f"{label}: the clean run after restoring failed: {failure_line(clean.output)}")
            continue
        converged = convergence_violations(campaign.bucket, expected_versions(campaign.bucket, before))
        result.violations += [f"{label}: {text}" for text in converged]
        result.recovered += len(cases) if not converged else 0
    return result


def _give_specs_for_catalogue_tags(campaign: Campaign, repository: str, tag: str) -> None:
    """Specs exist for every tag the catalogue uses: a file is refused for its defect, not for a missing spec."""
    for blob in campaign.specs.list_blobs(f"specs/{repository}/{tag}/"):
        spec = campaign.specs.read(blob.name)
        assert spec is not None
        for new_tag in (NEW_TAG, "9.9.8", f"{NEW_TAG}-rc.1", "99.0.0"):
            campaign.specs.write(blob.name.replace(f"/{tag}/", f"/{new_tag}/"), spec[0])


def upload_refusal_violations(campaign: Campaign, bad, files: dict[str, bytes]) -> list[str]:
    if not bad.upload_refuses:
        return []
    violations = []
    command = str(Path(sys.executable).with_name("metadata_service"))
    for path, payload in files.items():
        if "/latest/" in path or not path.endswith("metadata.yaml"):
            continue
        folder = Path(tempfile.mkdtemp(dir=campaign.work))
        local = folder / "metadata.yaml"
        local.write_bytes(payload)
        generations = {blob.name: blob.generation for blob in campaign.bucket.list_blobs(f"{METADATA_FOLDER}/")}
        try:
            upload = subprocess.run(
                [command, "upload", str(local), METADATA_BUCKET],
                env=campaign.environment(),
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            violations.append("upload did not finish within 60 s (crash: the file exhausts the command)")
            continue
        after = {blob.name: blob.generation for blob in campaign.bucket.list_blobs(f"{METADATA_FOLDER}/")}
        if upload.returncode != 1:
            violations.append(f"upload exited {upload.returncode} instead of refusing ({upload.stdout.strip()[-200:]})")
        if after != generations:
            violations.append(f"upload wrote {len(set(after.items()) - set(generations.items()))} object(s)")
        if upload.returncode < 0 or "Traceback" in upload.stderr:
            violations.append(f"upload crashed: {upload.stderr.strip()[-300:]}")
        shutil.rmtree(folder, ignore_errors=True)
    return violations


class _Hook(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the base class's naming
        self.received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def scenario_credential_leaks(campaign: Campaign) -> ScenarioResult:
    """Secrets in the environment of a failing run (so alerts fire): none may appear in any output,
    log, stored event, alert or bucket object."""
    result = ScenarioResult("credential leaks")
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        secrets = {
            "GCS_CREDENTIALS": json.dumps(
                {"type": "service_account", "client_email": "x@y", "private_key": SECRET_MARKERS[0]}
            ),
            "SLACK_TOKEN": SECRET_MARKERS[1],
            "SLACK_CHANNEL": "#chaos",
            "ORCHESTRATOR_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{hook.server_address[1]}/hook?token={SECRET_MARKERS[2]}",
        }
        stored = campaign.bucket.read(ENTRY_MANIFEST_PATH)
        campaign.bucket.write(ENTRY_MANIFEST_PATH, b"{unreadable")  # the run fails, naming the file
        process, log = campaign.start_job(campaign.environment(**secrets))
        outcome = campaign.finish_job(process, log)
        if stored is not None:
            campaign.bucket.write(ENTRY_MANIFEST_PATH, stored[0])
        result.repetitions += 1
        if outcome.succeeded:
            result.notes.append("the run meant to fail succeeded")
        haystacks = {"run output": outcome.output.encode()}
        for path in campaign.home.rglob("*"):
            if path.is_file():
                haystacks[f"DAGSTER_HOME/{path.relative_to(campaign.home)}"] = path.read_bytes()
        for index, body in enumerate(_Hook.received):
            haystacks[f"webhook message {index}"] = body
        for blob in campaign.bucket.list_blobs(""):
            found = campaign.bucket.read(blob.name)
            haystacks[f"gs://{METADATA_BUCKET}/{blob.name}"] = found[0] if found else b""
        for where, data in haystacks.items():
            for marker in SECRET_MARKERS:
                if marker.encode() in data:
                    result.violations.append(f"{marker} appears in {where}")
        result.notes.append(f"searched {len(haystacks)} places")
        clean = campaign.run_job()
        result.recovered += int(clean.succeeded)
    finally:
        hook.shutdown()
    return result


SCENARIOS: dict[str, Callable[[Campaign, argparse.Namespace], ScenarioResult]] = {
    "transient": lambda c, o: scenario_transient_errors(c, o.repeat),
    "lost-replies": lambda c, o: scenario_lost_replies(c, max(2, o.repeat // 2)),
    "cut": lambda c, o: scenario_cut_connections(c, o.points),
    "sigkill": lambda c, o: scenario_sigkill(c, o.points - 1),
    "simultaneous": lambda c, o: scenario_simultaneous_runs(c, o.repeat),
    "slow-writer": lambda c, o: scenario_slow_writer(c, 2),
    "bad-input": lambda c, o: scenario_bad_inputs(c, set(o.kinds.split(",")) if o.kinds else None),
    "credentials": lambda c, o: scenario_credential_leaks(c),
}


def print_table(results: list[ScenarioResult]) -> None:
    say("")
    say("| scenario | repetitions | violations | crashes | recovered | faulty runs failed | peak MiB | seconds |")
    say("|---|---|---|---|---|---|---|---|")
    for item in results:
        say(
            f"| {item.name} | {item.repetitions} | {len(item.violations)} | {item.crashes} "
            f"| {item.recovered}/{item.repetitions} | {item.faulty_runs_failed} "
            f"| {item.peak_mb:.0f} | {item.seconds:.0f} |"
        )
    for item in results:
        for violation in item.violations:
            say(f"VIOLATION {item.name}: {violation}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios of {', '.join(SCENARIOS)}")
    parser.add_argument("--kinds", default="", help="bad-input kinds to run (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    options = parser.parse_args(argv)
    options.repeat, options.points = (2, 3) if options.quick else (10, 11)
    chosen = [name for name in SCENARIOS if not options.only or name in options.only.split(",")]
    work = Path(tempfile.mkdtemp(prefix="chaos-"))
    started = time.monotonic()
    say(f"chaos campaign: {', '.join(chosen)}; work folder {work}")
    campaign = Campaign(work, connectors=40, versions=3)
    results = []
    try:
        first = campaign.run_job()
        if not first.succeeded:
            say(f"the first build failed: {failure_line(first.output)}")
            return 1
        for name in chosen:
            began = time.monotonic()
            say(f"-- {name}")
            result = SCENARIOS[name](campaign, options)
            result.seconds = time.monotonic() - began
            say(
                f"   {result.repetitions} repetitions, {len(result.violations)} violations, {result.crashes} crashes, "
                f"{result.recovered} recovered, {result.seconds:.0f} s ({'; '.join(result.notes[:4])})"
            )
            results.append(result)
    finally:
        campaign.close()
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    say(f"campaign finished in {time.monotonic() - started:.0f} s")
    bad = sum(len(item.violations) + item.crashes for item in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
