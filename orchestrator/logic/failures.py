"""What failed, as rows a person can read: invalid metadata files, entries that could not be
built, connectors the published registry is behind on; from the entry manifest (the state of the
bucket, not only of one run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.layout import entry_path, is_latest_metadata
from orchestrator.models.state import EntryManifest, RegistryInputs
from orchestrator.models.steps import FailedEntryRow, InvalidFileRow, StaleRow


def _without_file(text: str, file: str) -> str:
    prefix = f"{file}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def split_problem(file: str, problem: str) -> tuple[str, str]:
    """`<file>: <field>: <message>` (validation's format) -> (field, message)."""
    field, separator, message = _without_file(problem, file).partition(": ")
    return (field, message) if separator else ("(document)", field)


def invalid_file_rows(invalid: Mapping[str, Sequence[str]]) -> list[InvalidFileRow]:
    """One row per problem of every invalid file, by file."""
    return [
        InvalidFileRow(file, *split_problem(file, problem))
        for file in sorted(invalid)
        for problem in (invalid[file] or ["invalid"])
    ]


def invalid_files_of(manifest: EntryManifest) -> dict[str, list[str]]:
    return {path: record.problems for path, record in manifest.files.items() if not record.valid}


def failed_entry_rows(manifest: EntryManifest) -> list[FailedEntryRow]:
    """Every entry of a valid metadata file whose last build failed (an invalid file's entries are
    not built at all: that file is among the invalid ones)."""
    rows = []
    for path, record in sorted(manifest.files.items()):
        if not record.valid:
            continue
        for registry, outcome in sorted(record.registries.items()):
            if outcome.status == "failed":
                reason = _without_file(outcome.error or "failed", path)
                rows.append(FailedEntryRow(path, registry, reason, tuple(outcome.awaited_specs)))
    return rows


def first_few(head: str, items: Sequence[str], rest_noun: str, shown: int = 3) -> str:
    """`head: a; b; c; and N more <rest_noun> (see the table)`: a check's one-line description."""
    text = f"{head}: " + "; ".join(items[:shown])
    if len(items) > shown:
        text += f"; and {len(items) - shown} more{' ' + rest_noun if rest_noun else ''} (see the table)"
    return text


def markdown_rows(header: Sequence[str], rows: Sequence[Sequence[str]], limit: int, noun: str) -> str:
    """A markdown table of the first `limit` rows, saying how many there are in all."""
    if not rows:
        return f"No {noun}."
    shown = min(limit, len(rows))
    lines = [f"First {shown} of {len(rows)} {noun}.", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "---|" * len(header))
    for row in rows[:limit]:
        cells = (str(cell).replace("|", "/").replace("\n", " ") for cell in row)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stale_connectors(manifest: EntryManifest, published_inputs: Mapping[str, RegistryInputs]) -> list[StaleRow]:
    """Connectors whose `latest/` metadata the published registry does not reflect: its entry failed
    to build (the registry keeps the one before), or it was built but the registry was not published
    since (a refused publish). `published_inputs`: per registry, the entries the published registry
    was built from. An invalid `latest/` file is listed with the invalid files instead."""
    rows = []
    for path, record in sorted(manifest.files.items()):
        if not record.valid or not is_latest_metadata(path):
            continue
        for registry, outcome in sorted(record.registries.items()):
            if outcome.status == "failed":
                reason = f"its entry failed to build: {_without_file(outcome.error or 'failed', path)}"
            elif outcome.status == "written":
                inputs = published_inputs.get(registry)
                published = inputs.entries.get(entry_path(path, registry)) if inputs is not None else None
                if published is not None and published.generation == outcome.generation:
                    continue
                reason = "its entry was built but the registry has not been published since"
            else:
                continue
            rows.append(StaleRow(path, registry, record.definition_id or "", record.docker_image_tag or "", reason))
    return rows
