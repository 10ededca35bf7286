"""`orchestrator-local`: the embedded local bucket and the code location on a laptop.

start        start the GCS emulator in the background (idempotent) and create the buckets
stop         stop it
status       say whether it runs
load-sample  write the generated sample bucket (skips objects that are already identical)
run          start + load the sample into an empty bucket + run generate_registry, print what it wrote
dev          start + load the sample into an empty bucket + `dagster dev -m orchestrator.definitions`;
             Ctrl-C (or SIGTERM) stops dagster dev's process group and the emulator
mirror       copy a real bucket (metadata/, optionally its spec cache and registries/) into the local one
settings     print the buckets, addresses and ports the commands use (after `.env`)

Ports: the emulator listens on EMULATOR_PORT (default 9023; STORAGE_EMULATOR_HOST, when set, wins),
the Dagster UI on UI_PORT (default 3000) or `dev --port`. A port already taken stops the command
before anything starts, naming the port and the variable to change.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.local import emulator
from orchestrator.local.ports import UI_PORT_VARIABLE, PortError, require_free_port, ui_port
from orchestrator.local.sample import SPEC_SIZES

if TYPE_CHECKING:
    from rich.progress import TaskID

    from orchestrator.local.mirror import MirrorPart

_PROGRESS_STEPS = 10


def _say(message: str) -> None:
    print(message, flush=True)


def _config(args: argparse.Namespace) -> emulator.EmulatorConfig:
    return emulator.EmulatorConfig.from_environment(args.state_dir)


def _require_local_environment() -> None:
    """These commands write the sample and run the jobs against the local bucket only: they refuse
    when the environment selects real GCS."""
    from orchestrator.resources.deployments import DEPLOYMENT_VARIABLE, Deployment, select_deployment
    from orchestrator.settings import load_dotenv_files

    load_dotenv_files()
    deployment, reason = select_deployment(os.environ)
    if deployment is not Deployment.local:
        raise emulator.EmulatorError(
            f"the environment selects the gcs deployment ({reason}), so the code location would use real GCS; "
            f"set {DEPLOYMENT_VARIABLE}=local (or unset GCS_CREDENTIALS) to run against the local bucket"
        )


def _load_sample_if_empty(config: emulator.EmulatorConfig, args: argparse.Namespace) -> None:
    from orchestrator.local.load import bucket_has_metadata

    metadata, _ = _bucket_managers(config)
    if bucket_has_metadata(metadata):
        _say(f"bucket {metadata.bucket_name} already holds metadata: using it as it is")
    else:
        _say(f"bucket {metadata.bucket_name} has no metadata yet: loading the sample")
        _load_sample(config, args)


def _start(config: emulator.EmulatorConfig) -> emulator.EmulatorStatus:
    status = emulator.start_emulator(config)
    _say(f"emulator: {status.message}")
    # Everything downstream (resources, clients) reads the address from the environment.
    os.environ["STORAGE_EMULATOR_HOST"] = config.url
    created = emulator.ensure_buckets(config.url, emulator.configured_bucket_names())
    if created:
        _say(f"created bucket(s): {', '.join(created)}")
    return status


def _bucket_managers(config: emulator.EmulatorConfig):
    from orchestrator.resources.gcs import GcsBucketManager, GcsClient

    metadata_bucket, spec_bucket = emulator.configured_bucket_names()
    client = GcsClient(emulator_host=config.url)
    cdn = os.environ.get("METADATA_CDN_BASE_URL") or None
    return (
        GcsBucketManager(gcp_gcs_client=client, bucket_name=metadata_bucket, cdn_base_url=cdn),
        GcsBucketManager(gcp_gcs_client=client, bucket_name=spec_bucket),
    )


def _load_sample(config: emulator.EmulatorConfig, args: argparse.Namespace) -> None:
    from orchestrator.local.load import load_sample
    from orchestrator.local.sample import generate_sample

    started = time.perf_counter()
    sample = generate_sample(
        connectors=args.connectors, versions=args.versions, seed=args.seed, spec_size=args.spec_size
    )
    _say(
        f"sample: {len(sample.connectors)} connectors x {args.versions} versions "
        f"(seed {args.seed}, {args.spec_size} specs): "
        f"{len(sample.metadata_objects)} metadata-bucket files, {len(sample.spec_objects)} spec-cache files"
    )
    last_step: dict[str, int] = {}

    def progress(bucket: str, done: int, total: int) -> None:
        if total == 0:
            _say(f"  {bucket}: nothing to write, every file is already there")
            return
        step = done * _PROGRESS_STEPS // total
        if done == 0 or done == total or step > last_step.get(bucket, -1):
            last_step[bucket] = step
            _say(f"  {bucket}: {done}/{total} files written")

    metadata, specs = _bucket_managers(config)
    reports = load_sample(sample, metadata, specs, workers=args.workers, progress=progress)
    written = sum(report.written for report in reports)
    unchanged = sum(report.unchanged for report in reports)
    _say(f"loaded in {time.perf_counter() - started:.1f}s: {written} files written, {unchanged} unchanged")


def cmd_start(args: argparse.Namespace) -> int:
    config = _config(args)
    _start(config)
    _say(f"data: {config.data_dir}  log: {config.log_file}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    stopped = emulator.stop_emulator(_config(args))
    _say(f"emulator stopped (pid {', '.join(map(str, stopped))})" if stopped else "emulator was not running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = emulator.emulator_status(_config(args))
    _say(f"emulator: {status.message}")
    return 0 if status.running else 3


def cmd_load_sample(args: argparse.Namespace) -> int:
    _require_local_environment()
    config = _config(args)
    _start(config)
    _load_sample(config, args)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.local.runner import execute_job, prepare_dagster_home, summarize_bucket

    _require_local_environment()
    config = _config(args)
    _start(config)
    _load_sample_if_empty(config, args)
    metadata, _ = _bucket_managers(config)

    home = prepare_dagster_home()
    _say(f"running {args.job} (DAGSTER_HOME={home}) ...")
    started = time.perf_counter()
    outcome = execute_job(args.job)
    state = (
        "succeeded" if outcome.success else f"FAILED (steps: {', '.join(outcome.failed_steps) or 'see the run log'})"
    )
    _say(f"run {outcome.run_id} {state} in {time.perf_counter() - started:.1f}s; see it in `make dev`")
    if outcome.success and args.job == "generate_registry":
        # The registry sensor does this in `dagster dev`; here the report follows the registries directly.
        report = execute_job("generate_registry_reports")
        _say(f"report run {report.run_id} {'succeeded' if report.success else 'FAILED'}")

    summary = summarize_bucket(metadata)
    _say("registry files:")
    for registry in summary.registries:
        _say(
            f"  {registry.gs_url}  ({registry.sources} sources, {registry.destinations} destinations)\n"
            f"    {registry.public_url}"
        )
    if not summary.registries:
        _say("  (none written)")
    for _path, gs_url, public_url in summary.other_files:
        _say(f"  {gs_url}\n    {public_url}")
    invalid_files = sorted({problem.split(": ", 1)[0] for problem in summary.invalid_files})
    _say(f"metadata files: {summary.metadata_files}, invalid: {len(invalid_files)}")
    for problem in summary.invalid_files:
        _say(f"  {problem}")
    _say(f"the emulator keeps running at {config.url}; stop it with `make stop`")
    return 0 if outcome.success else 1


def cmd_dev(args: argparse.Namespace) -> int:
    from orchestrator.local.runner import supervise_dagster_dev

    _require_local_environment()
    config = _config(args)
    port = args.port if args.port is not None else ui_port()
    # Before anything starts: a busy UI port must not leave an emulator (or a UI-less dagster dev) behind.
    require_free_port(args.host, port, "Dagster UI", UI_PORT_VARIABLE if args.port is None else "--port")
    _start(config)
    if not args.no_sample:
        _load_sample_if_empty(config, args)

    def stop_emulator() -> None:
        if args.keep_emulator:
            _say(f"emulator left running at {config.url}")
            return
        stopped = emulator.stop_emulator(config)
        _say(f"emulator stopped (pid {', '.join(map(str, stopped))})" if stopped else "emulator was not running")

    return supervise_dagster_dev(port=port, host=args.host, on_exit=stop_emulator, echo=_say)


class _MirrorProgress:
    """The mirror's progress: a rich bar per part in a terminal, plain lines elsewhere."""

    def __init__(self, show_bar: bool):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._console = Console(highlight=False, soft_wrap=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files, {task.fields[copied]}"),
            TimeElapsedColumn(),
            console=self._console,
            disable=not show_bar,
        )
        self._tasks: dict[str, TaskID] = {}
        self._bytes: dict[str, int] = {}

    def __enter__(self) -> _MirrorProgress:
        self._progress.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._progress.stop()

    def say(self, message: str) -> None:
        self._console.print(message, markup=False)

    def part_started(self, part: MirrorPart, to_copy: int, to_copy_bytes: int, skipped: int) -> None:
        from orchestrator.local.mirror import format_bytes

        self.say(
            f"{part.label} -> gs://{part.destination.bucket_name}/{part.prefix}: "
            f"{to_copy} to copy ({format_bytes(to_copy_bytes)}), {skipped} already identical"
        )
        self._tasks[part.label] = self._progress.add_task(part.prefix, total=to_copy, copied="0 B")
        self._bytes[part.label] = 0

    def object_copied(self, part: MirrorPart, size: int) -> None:
        from orchestrator.local.mirror import format_bytes

        self._bytes[part.label] += size
        task = self._tasks[part.label]
        self._progress.update(task, advance=1, copied=format_bytes(self._bytes[part.label]))


def cmd_mirror(args: argparse.Namespace) -> int:
    from orchestrator.layout import METADATA_FOLDER, REGISTRY_FOLDER, SPEC_FOLDER
    from orchestrator.local.mirror import GCS_ENDPOINT, MirrorError, MirrorPart, mirror, source_client
    from orchestrator.resources.deployments import Deployment, select_deployment
    from orchestrator.resources.gcs import GcsBucketManager, GcsClient
    from orchestrator.settings import load_dotenv_files, setting

    load_dotenv_files()
    deployment, reason = select_deployment(os.environ)
    metadata_bucket, spec_bucket = emulator.configured_bucket_names()
    source_bucket = args.source.removeprefix("gs://").strip("/")
    spec_source = args.spec_bucket.removeprefix("gs://").strip("/") if args.spec_bucket else None
    if deployment is Deployment.local:
        config = _config(args)
        _start(config)
        client = GcsClient(emulator_host=config.url)
        emulator.ensure_buckets(config.url, [name for name in (args.to, args.spec_to) if name])
        where = f"the local emulator at {config.url}"
    else:
        # A mirror overwrites what it copies: into real GCS only when the command names the bucket.
        unnamed = ["--to"] if not args.to else []
        if spec_source and not args.spec_to:
            unnamed.append("--spec-to")
        if unnamed:
            raise emulator.EmulatorError(
                f"the environment selects real GCS ({reason}), and mirror writes into the local bucket only "
                f"unless the destination is named: pass {' and '.join(unnamed)} with the real bucket, "
                "or set ORCHESTRATOR_DEPLOYMENT=local"
            )
        client = GcsClient(gcs_credentials=setting("GCS_CREDENTIALS") or None)
        where = "Google Cloud Storage"
    metadata_destination = GcsBucketManager(gcp_gcs_client=client, bucket_name=args.to or metadata_bucket)
    spec_destination = GcsBucketManager(gcp_gcs_client=client, bucket_name=args.spec_to or spec_bucket)
    if deployment is Deployment.gcs and args.source_endpoint == GCS_ENDPOINT:
        for source, destination in ((source_bucket, metadata_destination), (spec_source, spec_destination)):
            if source == destination.bucket_name:
                raise emulator.EmulatorError(f"gs://{source} would be mirrored into itself")

    parts = []
    if spec_source:
        parts.append(MirrorPart(spec_source, f"{SPEC_FOLDER}/", spec_destination))
    for prefix in args.prefix or [f"{METADATA_FOLDER}/"]:
        parts.append(MirrorPart(source_bucket, prefix, metadata_destination))
    if args.registries:
        parts.append(MirrorPart(source_bucket, f"{REGISTRY_FOLDER}/", metadata_destination))

    _say(f"mirroring from {args.source_endpoint} into {where} ({args.workers} parallel copies)")
    try:
        source = source_client(args.source_endpoint, args.credentials)
        with _MirrorProgress(show_bar=not args.no_progress and sys.stdout.isatty()) as progress:
            report = mirror(parts, source, workers=args.workers, observer=progress)
    except MirrorError as error:
        raise emulator.EmulatorError(str(error)) from None
    shown = 20
    for failure in report.failures[:shown]:
        _say(f"failed: {failure}")
    if len(report.failures) > shown:
        _say(f"failed: ... and {len(report.failures) - shown} more")
    if report.interrupted or report.failures:
        _say("run the same command again to copy what is missing (identical objects are skipped)")
    _say(report.summary())
    return 130 if report.interrupted else (1 if report.failures else 0)


SETTING_NAMES = ("ORCHESTRATOR_DEPLOYMENT", "METADATA_BUCKET", "SPEC_CACHE_BUCKET", "STORAGE_EMULATOR_HOST", "UI_PORT")


def resolved_settings() -> dict[str, str]:
    from orchestrator.resources.deployments import select_deployment
    from orchestrator.settings import emulator_host, load_dotenv_files

    load_dotenv_files()
    metadata_bucket, spec_bucket = emulator.configured_bucket_names()
    values = [select_deployment(os.environ)[0].value, metadata_bucket, spec_bucket, emulator_host(), str(ui_port())]
    return dict(zip(SETTING_NAMES, values, strict=True))


def cmd_settings(args: argparse.Namespace) -> int:
    values = resolved_settings()
    if args.name:
        _say(values[args.name])
    else:
        for name, value in values.items():
            _say(f"{name}={value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator-local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="emulator state: data/, emulator.log, emulator.pid (default: <project>/.local_bucket)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def sample_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--connectors", type=int, default=40, help="number of connectors (default 40)")
        command.add_argument("--versions", type=int, default=3, help="published versions per connector (default 3)")
        command.add_argument("--seed", type=int, default=7, help="seed of the generator (default 7)")
        command.add_argument(
            "--spec-size", choices=SPEC_SIZES, default="small", help="small specs, or realistic 5-50 KB ones"
        )
        command.add_argument("--workers", type=int, default=10, help="parallel uploads (default 10)")

    commands.add_parser("start", help="start the emulator and create the buckets").set_defaults(handler=cmd_start)
    commands.add_parser("stop", help="stop the emulator").set_defaults(handler=cmd_stop)
    commands.add_parser("status", help="exit 0 when the emulator runs, 3 when not").set_defaults(handler=cmd_status)
    load = commands.add_parser("load-sample", help="write the generated sample bucket")
    sample_options(load)
    load.set_defaults(handler=cmd_load_sample)
    run = commands.add_parser("run", help="start, load the sample into an empty bucket, run generate_registry")
    sample_options(run)
    run.add_argument("--job", default="generate_registry", help="job to run (default generate_registry)")
    run.set_defaults(handler=cmd_run)
    dev = commands.add_parser("dev", help="start the emulator and dagster dev (UI at http://localhost:3000)")
    dev.add_argument("--port", type=int, default=None, help=f"UI port (default: {UI_PORT_VARIABLE}, else 3000)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--keep-emulator", action="store_true", help="leave the emulator running when dagster dev stops")
    dev.add_argument("--no-sample", action="store_true", help="do not load the sample into an empty bucket")
    sample_options(dev)
    dev.set_defaults(handler=cmd_dev)

    from orchestrator.local.mirror import DEFAULT_WORKERS, GCS_ENDPOINT, PRODUCTION_BUCKET

    mirror = commands.add_parser(
        "mirror",
        help="copy a real bucket's metadata/ (and spec cache, registries) into the local bucket",
        description=(
            "Copy metadata/ of SOURCE (e.g. the public production bucket "
            f"{PRODUCTION_BUCKET}) into the local metadata bucket, skipping objects whose checksum "
            "already matches. Anonymous credentials unless --credentials; resumable."
        ),
    )
    mirror.add_argument("source", help=f"source bucket, e.g. {PRODUCTION_BUCKET}")
    mirror.add_argument("--spec-bucket", help="also copy specs/ of this spec-cache bucket into the local spec cache")
    mirror.add_argument(
        "--prefix", action="append", help="copy this prefix instead of metadata/ (repeatable), e.g. metadata/airbyte/"
    )
    mirror.add_argument("--registries", action="store_true", help="also copy registries/v0/")
    mirror.add_argument("--credentials", type=Path, help="service-account key file for a private source")
    mirror.add_argument(
        "--source-endpoint", default=GCS_ENDPOINT, help=f"GCS API of the source (default {GCS_ENDPOINT})"
    )
    mirror.add_argument("--to", help="destination metadata bucket (default METADATA_BUCKET); required for real GCS")
    mirror.add_argument("--spec-to", help="destination spec cache (default SPEC_CACHE_BUCKET); required for real GCS")
    mirror.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help=f"parallel copies (default {DEFAULT_WORKERS})"
    )
    mirror.add_argument("--no-progress", action="store_true", help="no progress bar, even in a terminal")
    mirror.set_defaults(handler=cmd_mirror)

    settings = commands.add_parser("settings", help="print the buckets, emulator address and UI port in use")
    settings.add_argument("name", nargs="?", choices=SETTING_NAMES, help="print only this value")
    settings.set_defaults(handler=cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (emulator.EmulatorError, PortError) as error:
        print(f"orchestrator-local: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
