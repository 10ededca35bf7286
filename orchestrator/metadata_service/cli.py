"""`metadata_service validate <metadata.yaml or its folder> [--prerelease TAG]` and
`metadata_service upload <metadata.yaml> <bucket> [--prerelease TAG] [--check-docker-hub]`.

Exit codes: 0 success (including an upload that had nothing to change), 1 invalid file, refused
upload or concurrent change, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.resources.gcs import GcsBucketManager


def _bucket_manager(bucket_name: str) -> GcsBucketManager:
    """The bucket as the environment describes it: the emulator at STORAGE_EMULATOR_HOST, else real
    GCS with GCS_CREDENTIALS (or Application Default Credentials)."""
    from orchestrator.resources.gcs import GcsBucketManager, GcsClient
    from orchestrator.settings import load_dotenv_files, setting

    load_dotenv_files()
    client = GcsClient(
        gcs_credentials=setting("GCS_CREDENTIALS") or None, emulator_host=setting("STORAGE_EMULATOR_HOST") or None
    )
    return GcsBucketManager(gcp_gcs_client=client, bucket_name=bucket_name)


def _print_warnings(warnings) -> None:
    for warning in warnings:
        print(f"warning: {warning}")


def cmd_validate(args: argparse.Namespace) -> int:
    from orchestrator.metadata_service.files import metadata_files_under, validate_for_upload

    failures = 0
    for path in metadata_files_under(args.path):
        result, _ = validate_for_upload(path, args.prerelease)
        _print_warnings(result.warnings)
        if result.ok:
            print(f"valid: {path}")
        else:
            failures += 1
            for problem in result.problems:
                print(problem)
    if failures:
        print(f"{failures} invalid metadata file(s)", file=sys.stderr)
    return 1 if failures else 0


def cmd_upload(args: argparse.Namespace) -> int:
    from google.api_core import exceptions as gcs_errors

    from orchestrator.metadata_service.files import parse_bucket_argument
    from orchestrator.metadata_service.upload import upload_metadata

    bucket_name, expected = parse_bucket_argument(args.bucket)
    bucket = _bucket_manager(bucket_name)
    try:
        result = upload_metadata(
            args.metadata_file,
            bucket,
            expected_destination=expected,
            check_docker_hub=args.check_docker_hub,
            prerelease=args.prerelease,
        )
    except gcs_errors.NotFound as error:
        print(f"gs://{bucket_name}: {error.message if hasattr(error, 'message') else error}", file=sys.stderr)
        return 1
    _print_warnings(result.warnings)
    if result.problems:
        for problem in result.problems:
            print(problem)
        print(
            f"upload refused: {len(result.problems)} problem(s); nothing was written to gs://{bucket_name}",
            file=sys.stderr,
        )
        return 1
    for path in result.written:
        print(f"uploaded gs://{bucket_name}/{path}")
    for path in result.unchanged:
        print(f"unchanged gs://{bucket_name}/{path} (same MD5)")
    for note in result.notes:
        print(note)
    if result.conflict:
        print(f"upload stopped: {result.conflict}", file=sys.stderr)
        return 1
    if not result.changed:
        print(f"nothing to upload: gs://{bucket_name} already holds these files unchanged")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metadata_service", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate a metadata.yaml (or every one under a folder)")
    validate.add_argument("path", type=Path, help="metadata.yaml or its folder")
    validate.add_argument(
        "--prerelease", metavar="TAG", help="validate as the development build TAG (release-candidate rules skipped)"
    )
    validate.set_defaults(handler=cmd_validate)
    upload = commands.add_parser("upload", help="validate, then upload to metadata/<repo>/<tag>/ and latest/")
    upload.add_argument("metadata_file", type=Path, help="metadata.yaml (icon.svg beside it is uploaded too)")
    upload.add_argument(
        "bucket",
        help="bucket name or gs://bucket (optionally gs://bucket/metadata/<repo>/<tag> to assert the destination)",
    )
    upload.add_argument(
        "--prerelease",
        metavar="TAG",
        help="upload as the development build TAG (e.g. 1.2.3-dev.abc1234) to metadata/<repo>/TAG/ only",
    )
    upload.add_argument(
        "--check-docker-hub",
        action="store_true",
        help="before writing, check that the images exist on Docker Hub (needs the network)",
    )
    upload.set_defaults(handler=cmd_upload)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from orchestrator.metadata_service.files import UsageError

    try:
        return args.handler(args)
    except UsageError as error:
        print(f"metadata_service: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
