"""The README's commands run as written, as a newcomer would run them: on a fresh clone of the
committed HEAD, after its own `make install` (done by the first block, `make run`), every fenced
`sh` block in order, on free ports. A block whose first line is `# not run by the README test:
<reason>` is skipped, and the reason is printed; everything else must succeed, and after the
README's `make stop` no emulator of the clone may be left running."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

import psutil
import pytest

from orchestrator.local.emulator import EmulatorConfig, emulator_pids, stop_emulator
from orchestrator.local.ports import free_port
from orchestrator.settings import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
SKIP_MARKER = "# not run by the README test:"
# Commands the newcomer path must include, run, not skipped: the list.
REQUIRED_COMMANDS = (
    "make run",
    ".venv/bin/metadata_service validate",
    "make upload-spec",
    "make upload FILE=",
    ".venv/bin/dagster job execute",
    "make stop",
)
# What a developer's shell may carry that would point the clone at something other than its own setup.
INHERITED_SETTINGS = (
    "VIRTUAL_ENV",
    "STORAGE_EMULATOR_HOST",
    "METADATA_BUCKET",
    "SPEC_CACHE_BUCKET",
    "METADATA_CDN_BASE_URL",
    "GCS_CREDENTIALS",
    "ORCHESTRATOR_DEPLOYMENT",
    "DAGSTER_HOME",
    "REGISTRY_FORMAT",
    "BUCKET",
    "SPEC_BUCKET",
)


@dataclass(frozen=True)
class ShellBlock:
    line: int  # of the opening fence, 1-based
    text: str

    @property
    def skip_reason(self) -> str | None:
        first = self.text.lstrip().splitlines()[0] if self.text.strip() else ""
        return first[len(SKIP_MARKER) :].strip() if first.startswith(SKIP_MARKER) else None


def shell_blocks(markdown: str) -> list[ShellBlock]:
    blocks: list[ShellBlock] = []
    current: list[str] | None = None
    start = 0
    for number, line in enumerate(markdown.splitlines(), start=1):
        if current is None and re.fullmatch(r"```(sh|bash|shell)\s*", line):
            current, start = [], number
        elif current is not None and line.strip() == "```":
            blocks.append(ShellBlock(start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"README.md: the code block opened on line {start} is never closed"
    return blocks


def test_every_skipped_block_says_why_and_the_newcomer_commands_are_run():
    blocks = shell_blocks(README.read_text())
    assert blocks, "README.md has no sh blocks"
    for block in blocks:
        if block.skip_reason is not None:
            assert block.skip_reason, f"README.md line {block.line}: a skipped block must give its reason"
    run = "".join(block.text for block in blocks if block.skip_reason is None)
    for command in REQUIRED_COMMANDS:
        assert command in run, f"no block the README test runs contains {command!r}"
    assert "poetry run" not in README.read_text(), "Poetry lives in .tools/: `poetry run` does not run as written"
    first = next(block for block in blocks if block.skip_reason is None)
    assert first.text.lstrip().startswith("make run"), "a newcomer starts with make run"


def clean_environment(emulator_port: int, ui_port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in INHERITED_SETTINGS and not key.startswith("PYTEST")
    }
    # A venv activated in the developer's shell must not stand in for the clone's own.
    env["PATH"] = os.pathsep.join(
        entry for entry in env.get("PATH", "").split(os.pathsep) if not entry.startswith(str(PROJECT_ROOT))
    )
    env.update(EMULATOR_PORT=str(emulator_port), UI_PORT=str(ui_port))
    return env


def processes_mentioning(text: str) -> list[str]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = " ".join(process.info.get("cmdline") or [])
        if text in command and process.info["pid"] != os.getpid():
            found.append(f"{process.info['pid']}: {command}")
    return found


@pytest.mark.e2e
@pytest.mark.timeout(2400)
def test_every_readme_command_runs_on_a_fresh_clone(tmp_path):
    if shutil.which("git") is None or not (PROJECT_ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of the project to clone")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True, timeout=300)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", head], check=True, timeout=60)

    blocks = shell_blocks((clone / "README.md").read_text())
    env = clean_environment(emulator_port=free_port(), ui_port=free_port())
    emulator = EmulatorConfig(state_dir=clone / ".local_bucket", port=int(env["EMULATOR_PORT"]))
    timings: list[str] = []
    try:
        for block in blocks:
            if block.skip_reason is not None:
                timings.append(f"README.md:{block.line}: skipped: {block.skip_reason}")
                continue
            started = time.monotonic()
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.text],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=1200,
            )
            seconds = time.monotonic() - started
            first_command = block.text.strip().splitlines()[0]
            timings.append(f"README.md:{block.line}: {seconds:6.1f} s  {first_command}")
            assert result.returncode == 0, (
                f"README.md line {block.line} failed (exit {result.returncode}) on a fresh clone:\n{block.text}\n"
                f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
            )
        print("\n".join(["", "README commands on a fresh clone:", *timings]))
        assert emulator_pids(emulator) == [], "make stop left the clone's emulator running"
        assert processes_mentioning(str(clone)) == [], "a process of the clone is still running"
    finally:
        stop_emulator(emulator)
