"""`metadata_service validate <metadata.yaml or its folder> [--prerelease TAG]`,
`metadata_service upload <metadata.yaml> <bucket> [--prerelease TAG] [--check-docker-hub]`,
`metadata_service upload-spec <spec.json> <dockerRepository> <dockerImageTag> <bucket> [--cloud]`,
`metadata_service yank <dockerRepository> <version> <bucket> --reason TEXT`, `metadata_service unyank
<dockerRepository> <version> <bucket>` and `metadata_service verify <bucket> [--public-key FILE]`.

The bucket is on the local emulator unless the environment selects real GCS (ORCHESTRATOR_DEPLOYMENT=gcs,
or GCS_CREDENTIALS set), exactly as for the code location. Output: problems first, one per line, then
one summary line; warnings (they do not refuse a file) are lines of their own, `warning: …`; `--json`
prints the same as one JSON document.

Exit codes: 0 success (including an upload, yank or unyank that had nothing to change, and a verify
that found everything matching), 1 invalid file, refused upload, unknown version, concurrent change
or a published set that does not match its manifest, 2 bad arguments or an environment that names no
usable bucket.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.logic.validation import ValidationProblem
    from orchestrator.resources.gcs import GcsBucketManager


@dataclass
class CommandOutput:
    """What a command reports: detail lines (problems first), one summary line, and the same as data."""

    command: str
    ok: bool = True
    lines: list[str] = field(default_factory=list)
    summary: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def emit(self, as_json: bool) -> None:
        if as_json:
            document = {"command": self.command, "ok": self.ok, **self.data, "summary": self.summary}
            sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        else:
            sys.stdout.write("".join(f"{line}\n" for line in [*self.lines, self.summary]))
        sys.stdout.flush()


def _problem_data(problems: Sequence[ValidationProblem]) -> list[dict[str, str]]:
    return [{"file": problem.file, "field": problem.field, "message": problem.message} for problem in problems]


def _warning_lines(warnings: Sequence[ValidationProblem]) -> list[str]:
    return [f"warning: {warning}" for warning in warnings]


def _bucket_manager(bucket_name: str) -> tuple[GcsBucketManager, str]:
    """The bucket as the environment describes it, and a phrase saying where that is."""
    import os

    from orchestrator.resources.deployments import command_line_client
    from orchestrator.resources.gcs import GcsBucketManager
    from orchestrator.settings import load_dotenv_files

    load_dotenv_files()
    client, where = command_line_client(os.environ)
    return GcsBucketManager(gcp_gcs_client=client, bucket_name=bucket_name), where


def cmd_validate(args: argparse.Namespace) -> CommandOutput:
    from orchestrator.metadata_service.files import metadata_files_under, validate_for_upload

    output = CommandOutput("validate")
    files = []
    invalid = 0
    for path in metadata_files_under(args.path):
        result, _ = validate_for_upload(path, args.prerelease)
        files.append(
            {
                "file": str(path),
                "valid": result.ok,
                "problems": _problem_data(result.problems),
                "warnings": _problem_data(result.warnings),
            }
        )
        output.lines.extend(_warning_lines(result.warnings))
        if result.ok:
            output.lines.append(f"valid: {path}")
        else:
            invalid += 1
            output.lines.extend(str(problem) for problem in result.problems)
    # Problems first, then warnings: the valid files follow them.
    output.lines.sort(key=lambda line: (line.startswith("valid: "), line.startswith("warning: ")))
    output.ok = invalid == 0
    output.summary = f"{len(files)} metadata file(s) checked: {len(files) - invalid} valid, {invalid} invalid"
    output.data = {"files": files, "checked": len(files), "invalid": invalid}
    return output


def cmd_upload(args: argparse.Namespace) -> CommandOutput:
    from google.api_core import exceptions as gcs_errors

    from orchestrator.metadata_service.files import parse_bucket_argument
    from orchestrator.metadata_service.upload import upload_metadata

    output = CommandOutput("upload")
    bucket_name, expected = parse_bucket_argument(args.bucket)
    bucket, where = _bucket_manager(bucket_name)
    output.data = {"bucket": bucket_name, "target": where, "problems": [], "written": [], "unchanged": []}
    try:
        result = upload_metadata(
            args.metadata_file,
            bucket,
            expected_destination=expected,
            check_docker_hub=args.check_docker_hub,
            prerelease=args.prerelease,
        )
    except gcs_errors.NotFound as error:
        output.ok = False
        output.summary = f"upload failed: gs://{bucket_name} on {where}: {getattr(error, 'message', error)}"
        return output
    output.data.update(
        problems=_problem_data(result.problems),
        warnings=_problem_data(result.warnings),
        written=list(result.written),
        unchanged=list(result.unchanged),
        notes=list(result.notes),
        conflict=result.conflict,
    )
    output.lines.extend(str(problem) for problem in result.problems)
    output.lines.extend(_warning_lines(result.warnings))
    if result.problems:
        output.ok = False
        output.summary = f"upload refused: {len(result.problems)} problem(s); nothing was written to gs://{bucket_name}"
        return output
    output.lines.extend(f"uploaded gs://{bucket_name}/{path}" for path in result.written)
    output.lines.extend(f"unchanged gs://{bucket_name}/{path} (same MD5)" for path in result.unchanged)
    output.lines.extend(result.notes)
    if result.conflict:
        output.ok = False
        output.summary = f"upload stopped: {result.conflict}"
    elif not result.changed:
        output.summary = f"nothing to upload: gs://{bucket_name} on {where} already holds these files unchanged"
    else:
        output.summary = (
            f"uploaded {len(result.written)} file(s) to gs://{bucket_name} on {where}, "
            f"{len(result.unchanged)} unchanged"
        )
    return output


def cmd_upload_spec(args: argparse.Namespace) -> CommandOutput:
    from orchestrator.metadata_service.specs import upload_spec

    output = CommandOutput("upload-spec")
    bucket_name = args.bucket.removeprefix("gs://").strip("/")
    bucket, where = _bucket_manager(bucket_name)
    result = upload_spec(args.spec_file, args.docker_repository, args.docker_image_tag, bucket, cloud=args.cloud)
    url = f"gs://{bucket_name}/{result.path}"
    output.ok = result.ok
    output.data = {
        "bucket": bucket_name,
        "target": where,
        "path": result.path,
        "problems": _problem_data(result.problems),
        "written": result.written,
        "conflict": result.conflict,
    }
    output.lines.extend(str(problem) for problem in result.problems)
    if result.problems:
        output.summary = f"upload-spec refused: {len(result.problems)} problem(s); nothing was written to {url}"
    elif result.conflict:
        output.summary = f"upload-spec stopped: {result.conflict}"
    elif result.written:
        output.summary = f"uploaded {url} on {where}"
    else:
        output.summary = f"nothing to upload: {url} on {where} already holds this spec (same MD5)"
    return output


def _bucket_name(argument: str) -> str:
    name = argument.removeprefix("gs://").strip("/")
    if not name or "/" in name:
        from orchestrator.metadata_service.files import UsageError

        raise UsageError(f"{argument!r}: give the bucket alone (name or gs://name)")
    return name


def _yank_output(command: str, result, bucket_name: str, where: str) -> CommandOutput:
    output = CommandOutput(command, ok=result.ok)
    output.data = {
        "bucket": bucket_name,
        "target": where,
        "marker": result.marker,
        "problems": _problem_data(result.problems),
        "changed": result.changed,
        "notes": list(result.notes),
        "conflict": result.conflict,
    }
    output.lines.extend(str(problem) for problem in result.problems)
    output.lines.extend(result.notes)
    url = f"gs://{bucket_name}/{result.marker}"
    if result.problems:
        output.summary = f"{command} refused: {len(result.problems)} problem(s); nothing changed in gs://{bucket_name}"
    elif result.conflict:
        output.summary = f"{command} stopped: {result.conflict}"
    elif result.changed:
        output.summary = f"{'wrote' if command == 'yank' else 'removed'} {url} on {where}"
    else:
        output.summary = f"nothing to change: {url} on {where} already says so"
    return output


def cmd_yank(args: argparse.Namespace) -> CommandOutput:
    from orchestrator.metadata_service.yank import yank_version

    bucket_name = _bucket_name(args.bucket)
    bucket, where = _bucket_manager(bucket_name)
    result = yank_version(bucket, args.docker_repository, args.version, args.reason)
    return _yank_output("yank", result, bucket_name, where)


def cmd_unyank(args: argparse.Namespace) -> CommandOutput:
    from orchestrator.metadata_service.yank import unyank_version

    bucket_name = _bucket_name(args.bucket)
    bucket, where = _bucket_manager(bucket_name)
    result = unyank_version(bucket, args.docker_repository, args.version)
    return _yank_output("unyank", result, bucket_name, where)


def cmd_verify(args: argparse.Namespace) -> CommandOutput:
    from orchestrator.layout import REGISTRY_MANIFEST_PATH
    from orchestrator.logic.signing import SigningKeyError, load_public_key
    from orchestrator.metadata_service.files import UsageError
    from orchestrator.metadata_service.verify import verify_published_set

    public_key = None
    label = "the public key"
    if args.public_key is not None:
        if not args.public_key.is_file():
            raise UsageError(f"{args.public_key}: no such file")
        public_key, label = args.public_key.read_bytes(), str(args.public_key)
        try:
            load_public_key(public_key, label)
        except SigningKeyError as error:
            raise UsageError(str(error)) from None
    bucket_name = _bucket_name(args.bucket)
    bucket, where = _bucket_manager(bucket_name)
    result = verify_published_set(bucket, public_key, label)
    output = CommandOutput("verify", ok=result.ok)
    output.lines = [*result.problems, *(f"note: {note}" for note in result.notes)]
    output.data = {
        "bucket": bucket_name,
        "target": where,
        "problems": result.problems,
        "notes": result.notes,
        "objects": result.objects,
        "signature": result.signature,
    }
    manifest = f"gs://{bucket_name}/{REGISTRY_MANIFEST_PATH}"
    signed = {"valid": ", signature valid", "not checked": ""}.get(result.signature, f", signature {result.signature}")
    if result.ok:
        output.summary = f"verified {result.objects} object(s) against {manifest} on {where}: all match{signed}"
    else:
        output.summary = (
            f"verification failed: {len(result.problems)} difference(s) from {manifest} "
            f"({result.objects} object(s) listed){signed}"
        )
    return output


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metadata_service", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def json_option(command: argparse.ArgumentParser) -> None:
        command.add_argument("--json", action="store_true", help="print the outcome as one JSON document")

    validate = commands.add_parser("validate", help="validate a metadata.yaml (or every one under a folder)")
    validate.add_argument("path", type=Path, help="metadata.yaml or its folder")
    validate.add_argument(
        "--prerelease", metavar="TAG", help="validate as the development build TAG (release-candidate rules skipped)"
    )
    json_option(validate)
    validate.set_defaults(handler=cmd_validate)

    upload = commands.add_parser("upload", help="validate, then upload to metadata/<repo>/<tag>/ and latest/")
    upload.add_argument("metadata_file", type=Path, help="metadata.yaml (icon.svg beside it is uploaded too)")
    upload.add_argument(
        "bucket",
        help="bucket name or gs://bucket (optionally gs://bucket/metadata/<repo>/<tag> to assert the destination)",
    )
    upload.add_argument(
        "--check-docker-hub",
        action="store_true",
        help="before writing, check that the images exist on Docker Hub (needs the network)",
    )
    upload.add_argument(
        "--prerelease",
        metavar="TAG",
        help="upload as the development build TAG (e.g. 1.2.3-dev.abc1234) to metadata/<repo>/TAG/ only",
    )
    json_option(upload)
    upload.set_defaults(handler=cmd_upload)

    spec = commands.add_parser(
        "upload-spec", help="check a connector spec, then write it to specs/<repo>/<tag>/spec.json in the spec cache"
    )
    spec.add_argument("spec_file", type=Path, help="the spec JSON (what the connector's `spec` command prints)")
    spec.add_argument("docker_repository", help="e.g. airbyte/source-faker")
    spec.add_argument("docker_image_tag", help="e.g. 6.2.1")
    spec.add_argument("bucket", help="spec-cache bucket name or gs://bucket")
    spec.add_argument("--cloud", action="store_true", help="write spec.cloud.json, the cloud registry's own spec")
    json_option(spec)
    spec.set_defaults(handler=cmd_upload_spec)

    yank = commands.add_parser(
        "yank", help="withdraw a version from the registries (metadata/<repo>/<version>/.yanked); nothing is deleted"
    )
    unyank = commands.add_parser("unyank", help="remove a version's .yanked marker: the registries may list it again")
    for command in (yank, unyank):
        command.add_argument("docker_repository", help="e.g. airbyte/source-faker")
        command.add_argument("version", help="a published version, e.g. 6.2.1")
        command.add_argument("bucket", help="metadata bucket name or gs://bucket")
        json_option(command)
    yank.add_argument("--reason", required=True, help="why the version is withdrawn (one line, kept in the marker)")
    yank.set_defaults(handler=cmd_yank)
    unyank.set_defaults(handler=cmd_unyank)

    verify = commands.add_parser(
        "verify", help="check the published registries/v0/ against its manifest.json (digests, and the signature)"
    )
    verify.add_argument("bucket", help="metadata bucket name or gs://bucket")
    verify.add_argument(
        "--public-key", type=Path, metavar="FILE", help="Ed25519 public key (PEM): check manifest.json.sig with it"
    )
    json_option(verify)
    verify.set_defaults(handler=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from orchestrator.metadata_service.files import UsageError
    from orchestrator.resources.deployments import DeploymentError

    try:
        output = args.handler(args)
    except (UsageError, DeploymentError) as error:
        if args.json:
            CommandOutput(args.command, ok=False, summary=f"metadata_service: {error}").emit(as_json=True)
        else:
            print(f"metadata_service: {error}", file=sys.stderr)
        return 2
    output.emit(args.json)
    return 0 if output.ok else 1


if __name__ == "__main__":
    sys.exit(main())
