"""Which specs the entries depend on, and which entries a change of the spec cache rebuilds.

The entries step records, per entry, every spec file it looked up and the generation it read (0:
not in the cache). `spec_watch_of` turns the manifest into the file the metadata sensor reads; the
sensor compares it with the spec cache (`changed_specs`, `files_to_rebuild`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from orchestrator.models.state import EntryManifest, ProcessedMetadataFile, SpecWatch

# In a watch summary: the entries using this spec were built from different generations of it.
MIXED_GENERATIONS = -1


def spec_watch_of(manifest: EntryManifest) -> SpecWatch:
    """Spec path -> {metadata file -> generation its entries were built from} over valid files (an
    invalid file builds nothing, whatever the cache holds)."""
    specs: dict[str, dict[str, int]] = {}
    for path, record in manifest.files.items():
        for spec, generation in _watched_by(record).items():
            specs.setdefault(spec, {})[path] = generation
    return SpecWatch(specs={spec: dict(sorted(files.items())) for spec, files in sorted(specs.items())})


def _watched_by(record: ProcessedMetadataFile | None) -> dict[str, int]:
    """What one metadata file adds to the watch: spec path -> the lowest generation its entries read
    (if either registry's build is behind the cache, the file is rebuilt)."""
    if record is None or not record.valid:
        return {}
    watched: dict[str, int] = {}
    for outcome in record.registries.values():
        for spec, generation in outcome.specs.items():
            watched[spec] = min(generation, watched.get(spec, generation))
    return watched


def spec_watch_changed(before: EntryManifest, after: EntryManifest, touched: Iterable[str]) -> bool:
    """Whether `spec_watch_of(after)` differs from `spec_watch_of(before)`, when only the records of
    the `touched` files differ between the two manifests: compared record by record, without
    building either watch."""
    return any(_watched_by(before.files.get(path)) != _watched_by(after.files.get(path)) for path in touched)


def watch_summary(watch: SpecWatch) -> dict[str, int]:
    """Spec path -> the one generation its dependents were built from (0: they wait for it), or
    MIXED_GENERATIONS: what the sensor keeps in its cursor to compare with the cache each tick."""
    summary = {}
    for spec, files in watch.specs.items():
        generations = set(files.values())
        summary[spec] = generations.pop() if len(generations) == 1 else MIXED_GENERATIONS
    return summary


def changed_specs(summary: Mapping[str, int], cache: Mapping[str, int]) -> dict[str, int]:
    """Watched specs the cache now holds at another generation (arrived, or rewritten) -> that
    generation. A spec that left the cache rebuilds nothing: its entries would only fail."""
    return {
        spec: cache[spec]
        for spec, generation in summary.items()
        if cache.get(spec) and (generation == MIXED_GENERATIONS or cache[spec] != generation)
    }


def files_to_rebuild(watch: SpecWatch, changed: Mapping[str, int]) -> list[str]:
    """The metadata files whose entries were built from (or wait for) another generation of a
    changed spec than the cache's: exactly those, sorted."""
    files = {
        path
        for spec, generation in changed.items()
        for path, built_from in watch.specs.get(spec, {}).items()
        if built_from != generation
    }
    return sorted(files)
