"""How `metadata_service validate` and `upload` report: every message on its own line, problems
first, then one summary line, all on standard output in that order; `--json` gives the same as one
JSON document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.metadata_service.cli import main
from tests.test_upload_command import metadata_bytes, write_connector

SCRIPT = Path(sys.executable).with_name("metadata_service")


def three_connectors(root: Path) -> tuple[Path, Path, Path]:
    good = write_connector(root / "source-good", metadata_bytes("0.2.0", repository="airbyte/source-good"))
    # A major version without its breaking-change entry: the message the issue saw glued to the summary.
    major = write_connector(root / "source-major", metadata_bytes("1.0.0", repository="airbyte/source-major"))
    nameless = write_connector(root / "source-nameless", metadata_bytes("0.1.0", drop=("name",)))
    return good, major, nameless


def run(capsys, *arguments: str) -> tuple[int, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    assert captured.err == "", "everything a command reports goes to standard output, in order"
    return code, captured.out


def test_validate_lists_problems_then_one_summary_line(tmp_path, capsys):
    good, major, nameless = three_connectors(tmp_path)
    code, output = run(capsys, "validate", str(tmp_path))
    assert code == 1
    assert output.endswith("\n")
    lines = output.splitlines()
    assert lines == [
        f"{major}: data.releases.breakingChanges: major version 1.0.0 needs a breaking change entry for 1.0.0",
        f"{nameless}: data.name: required field is missing",
        f"valid: {good}",
        "3 metadata file(s) checked: 1 valid, 2 invalid",
    ]


def test_validate_json_is_the_same_outcome(tmp_path, capsys):
    good, major, nameless = three_connectors(tmp_path)
    code, output = run(capsys, "validate", str(tmp_path), "--json")
    document = json.loads(output)
    assert code == 1 and document["ok"] is False and document["command"] == "validate"
    assert (document["checked"], document["invalid"]) == (3, 2)
    assert document["summary"] == "3 metadata file(s) checked: 1 valid, 2 invalid"
    by_file = {entry["file"]: entry for entry in document["files"]}
    assert by_file[str(good)] == {"file": str(good), "valid": True, "problems": [], "warnings": []}
    assert by_file[str(nameless)]["problems"] == [
        {"file": str(nameless), "field": "data.name", "message": "required field is missing"}
    ]
    assert [problem["field"] for problem in by_file[str(major)]["problems"]] == ["data.releases.breakingChanges"]


def test_upload_reports_details_then_one_summary_and_the_same_as_json(gcs_env, tmp_path, capsys):
    bucket = os.environ["METADATA_BUCKET"]
    good, _, nameless = three_connectors(tmp_path)
    code, output = run(capsys, "upload", str(good), bucket)
    assert code == 0
    lines = output.splitlines()
    assert f"uploaded gs://{bucket}/metadata/airbyte/source-good/0.2.0/metadata.yaml" in lines
    assert lines[-1] == (
        f"uploaded 4 file(s) to gs://{bucket} on the local emulator at {gcs_env['emulator_url']}, 0 unchanged"
    )

    code, output = run(capsys, "upload", str(good), bucket, "--json")
    document = json.loads(output)
    assert code == 0 and document["ok"] is True and document["written"] == []
    assert len(document["unchanged"]) == 4
    assert document["summary"].startswith(f"nothing to upload: gs://{bucket}")

    code, output = run(capsys, "upload", str(nameless), bucket, "--json")
    document = json.loads(output)
    assert code == 1 and document["ok"] is False
    assert document["problems"] == [
        {"file": str(nameless), "field": "data.name", "message": "required field is missing"}
    ]
    assert document["summary"] == f"upload refused: 1 problem(s); nothing was written to gs://{bucket}"


def test_usage_error_with_json_is_json(tmp_path, capsys):
    code = main(["upload", str(tmp_path / "absent.yaml"), "bucket", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 2 and document["ok"] is False and "no such file" in document["summary"]


def test_the_console_script_keeps_the_order_when_both_streams_are_merged(tmp_path):
    """The issue's glued line came from a terminal merging two streams; one stream, in order, now."""
    if not SCRIPT.exists():
        pytest.skip(f"console script not installed at {SCRIPT}")
    _, major, _ = three_connectors(tmp_path)
    result = subprocess.run(
        [str(SCRIPT), "validate", str(major)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120
    )
    assert result.returncode == 1
    assert result.stdout.decode().splitlines() == [
        f"{major}: data.releases.breakingChanges: major version 1.0.0 needs a breaking change entry for 1.0.0",
        "1 metadata file(s) checked: 0 valid, 1 invalid",
    ]
