"""The generated sample bucket: deterministic, scalable, valid, realistic (SPEC §2, §3)."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from orchestrator.local.sample import REALISTIC_SPEC_BYTES, generate_sample
from orchestrator.logic.validation import upload_rule_problems, validate_metadata_bytes
from orchestrator.logic.versions import is_release_candidate, parse_version


@pytest.fixture(scope="module")
def sample():
    return generate_sample(connectors=40, versions=3, seed=7)


def _data(raw: bytes) -> dict:
    return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["data"]


def _overrides(data: dict) -> dict:
    """The sample writes one of the two override blocks in every file."""
    overrides = data.get("registryOverrides") or data.get("registries")
    assert overrides is not None, data
    return overrides


def _secret_paths(schema, path=()) -> list[tuple]:
    """Every (path to a property) marked airbyte_secret, descending through oneOf/items/properties."""
    found = []
    if isinstance(schema, dict):
        if schema.get("airbyte_secret") is True:
            found.append(path)
        for key, value in schema.items():
            found.extend(_secret_paths(value, path + (key,)))
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found.extend(_secret_paths(value, path + (index,)))
    return found


def test_same_seed_gives_same_bytes_and_other_seeds_differ(sample):
    again = generate_sample(connectors=40, versions=3, seed=7)
    assert again.metadata_objects == sample.metadata_objects
    assert again.spec_objects == sample.spec_objects
    other = generate_sample(connectors=40, versions=3, seed=8)
    assert other.metadata_objects != sample.metadata_objects
    ids = {c.definition_id for c in sample.connectors}
    assert ids.isdisjoint({c.definition_id for c in other.connectors})


@pytest.mark.parametrize("connectors,versions", [(1, 1), (7, 2), (25, 5)])
def test_scales_to_n_connectors_times_m_versions(connectors, versions):
    bucket = generate_sample(connectors=connectors, versions=versions, seed=3)
    assert len(bucket.connectors) == connectors
    repositories = {c.docker_repository for c in bucket.connectors}
    assert len(repositories) == connectors  # names never collide
    metadata = bucket.metadata_files()
    versioned = [p for p in metadata if "/latest/" not in p and "/release_candidate/" not in p]
    latest = [p for p in metadata if "/latest/" in p]
    assert len(versioned) == connectors * versions
    assert len(latest) == connectors
    for connector in bucket.connectors:
        assert len(connector.versions) == versions
        for tag in connector.versions:
            assert f"metadata/{connector.docker_repository}/{tag}/metadata.yaml" in metadata


def test_every_generated_metadata_file_validates(sample):
    bigger = generate_sample(connectors=150, versions=4, seed=11)
    for bucket in (sample, bigger):
        for path, raw in bucket.metadata_files().items():
            result = validate_metadata_bytes(raw, path)
            assert result.ok, result.describe()
            data = _data(raw)
            # the path is the file's own repository and tag
            assert path.startswith(f"metadata/{data['dockerRepository']}/")
            if "/latest/" not in path and "/release_candidate/" not in path:
                assert path == f"metadata/{data['dockerRepository']}/{data['dockerImageTag']}/metadata.yaml"


def test_latest_is_a_copy_of_the_newest_stable_version(sample):
    for connector in sample.connectors:
        base = f"metadata/{connector.docker_repository}"
        stable = [tag for tag in connector.versions if not is_release_candidate(tag)]
        newest = max(stable, key=parse_version)
        assert connector.latest_version == newest
        assert (
            sample.metadata_objects[f"{base}/latest/metadata.yaml"]
            == sample.metadata_objects[f"{base}/{newest}/metadata.yaml"]
        )
        assert (f"{base}/latest/icon.svg" in sample.metadata_objects) == connector.has_icon
        for tag in connector.versions:
            assert (f"{base}/{tag}/icon.svg" in sample.metadata_objects) == connector.has_icon
            if connector.has_icon:
                assert sample.metadata_objects[f"{base}/{tag}/icon.svg"].startswith(b"<svg")


def test_breaking_changes_cover_every_major_and_are_never_newer(sample):
    majors_seen = 0
    for path, raw in generate_sample(connectors=200, versions=4, seed=5).metadata_files().items():
        data = _data(raw)
        tag = parse_version(data["dockerImageTag"])
        changes = (data.get("releases") or {}).get("breakingChanges") or {}
        for key in changes:
            assert parse_version(key) <= tag, path
        if tag.is_major_release:
            majors_seen += 1
            assert data["dockerImageTag"] in changes, path
    assert majors_seen > 0


def test_sample_shows_the_realistic_variety(sample):
    documents = [_data(raw) for path, raw in sample.metadata_files().items()]
    types = {d["connectorType"] for d in documents}
    assert types == {"source", "destination"}
    assert len({d["connectorSubtype"] for d in documents}) >= 4
    assert {d["supportLevel"] for d in documents} >= {"community", "certified"}
    assert any("registryOverrides" in d for d in documents) and any("registries" in d for d in documents)
    overrides = [_overrides(d) for d in documents]
    assert any(o["cloud"]["enabled"] is False for o in overrides)
    assert any(o["cloud"].get("dockerRepository", "").endswith("-strict-encrypt") for o in overrides)
    assert any(is_release_candidate(d["dockerImageTag"]) for d in documents)
    assert any("suggestedStreams" in d for d in documents)
    assert any("allowedHosts" in d for d in documents)
    assert any("resourceRequirements" in d for d in documents)
    assert all(any(t.startswith("language:") for t in d["tags"]) for d in documents)
    assert any(len(d["tags"]) > 1 for d in documents)
    with_breaking = [d for d in documents if (d.get("releases") or {}).get("breakingChanges")]
    assert any("migrationDocumentationUrl" in d["releases"] for d in with_breaking)
    assert any("migrationDocumentationUrl" not in d["releases"] for d in with_breaking)
    assert (
        any(not c.has_icon for c in sample.connectors)
        and sum(c.has_icon for c in sample.connectors) > len(sample.connectors) / 2
    )
    assert any(p.endswith("/spec.cloud.json") for p in sample.spec_objects)


def test_every_image_a_registry_entry_references_has_a_cached_spec(sample):
    for path, raw in sample.metadata_files().items():
        data = _data(raw)
        overrides = _overrides(data)
        for registry in ("oss", "cloud"):
            override = overrides.get(registry) or {}
            if not override.get("enabled"):
                continue
            repository = override.get("dockerRepository") or data["dockerRepository"]
            tag = override.get("dockerImageTag") or data["dockerImageTag"]
            assert f"specs/{repository}/{tag}/spec.json" in sample.spec_objects, (path, registry)
    strict = [p for p in sample.spec_objects if "-strict-encrypt/" in p]
    assert strict, "a cloud override to a -strict-encrypt image must come with its own spec"


def test_specs_are_airbyte_specs_with_secrets_inside_one_of(sample):
    secrets_in_one_of = 0
    for path, raw in sample.spec_objects.items():
        spec = json.loads(raw)
        assert spec["documentationUrl"].startswith("https://")
        connection = spec["connectionSpecification"]
        assert connection["$schema"].startswith("http://json-schema.org/")
        assert connection["type"] == "object"
        assert set(connection["required"]) <= set(connection["properties"])
        paths = _secret_paths(connection["properties"])
        assert paths, path
        secrets_in_one_of += sum("oneOf" in p for p in paths)
    assert secrets_in_one_of > 0
    names = {p[-1] for raw in sample.spec_objects.values() for p in _secret_paths(json.loads(raw))}
    assert {"password", "api_key", "client_secret"} <= names


def test_realistic_specs_vary_between_5_and_50_kb():
    bucket = generate_sample(connectors=60, versions=2, seed=9, spec_size="realistic")
    sizes = [len(raw) for raw in bucket.spec_objects.values()]
    low, high = REALISTIC_SPEC_BYTES
    assert all(low <= size <= high for size in sizes), (min(sizes), max(sizes))
    assert max(sizes) - min(sizes) > 20_000  # varied, not one padded size
    small = generate_sample(connectors=60, versions=2, seed=9, spec_size="small")
    assert small.metadata_objects == bucket.metadata_objects  # spec size changes specs only
    assert sum(len(raw) for raw in small.spec_objects.values()) < sum(sizes) / 2
    for raw in bucket.spec_objects.values():
        json.loads(raw)


def test_specs_change_between_versions(sample):
    connector = sample.connectors[0]
    first, last = connector.versions[0], connector.versions[-1]
    base = f"specs/{connector.docker_repository}"
    assert sample.spec_objects[f"{base}/{first}/spec.json"] != sample.spec_objects[f"{base}/{last}/spec.json"]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        generate_sample(spec_size="huge")
    with pytest.raises(ValueError):
        generate_sample(versions=0)


def test_twelve_thousand_files_in_a_few_seconds():
    started = time.perf_counter()
    bucket = generate_sample(connectors=1100, versions=3, seed=1, spec_size="realistic")
    elapsed = time.perf_counter() - started
    assert bucket.file_count >= 11_000
    assert elapsed < 15, f"{bucket.file_count} files took {elapsed:.1f}s"


def test_yaml_writer_round_trips_tricky_values():
    from orchestrator.local.sample import _dump_yaml

    tricky = [
        "yes",
        "No",
        "on",
        "1.0",
        "1.0.0",
        "2024-01-01",
        "*.example.io",
        "a: b",
        "#x",
        "x #y",
        "null",
        "~",
        "",
        "-x",
        "${host}",
        "0.10.2",
        "1e3",
        "0x1F",
        "@x",
        "'q'",
        'say "hi"',
        "multi\nline",
        "ünïcode",
        "trailing ",
        "key:",
        "https://a.b/c?d=e#f",
        "[x]",
        "{y}",
        "!tag",
        "&anchor",
        "? q",
        "%d",
        "`x`",
        "|",
        ">",
    ]
    document = {
        "data": {
            "values": tricky,
            "keyed": {value or "empty": value for value in tricky},
            "nested": [{"a": 1, "b": [True, False, None]}, {"c": {}}, {"d": []}],
        },
        "version": "1.0",
    }
    assert yaml.safe_load(_dump_yaml(document)) == document


def test_era_2025_writes_release_candidates_data_activation_and_unquoted_spec_version(sample):
    candidates = [connector for connector in sample.connectors if connector.release_candidate]
    assert candidates, "the sample shows at least one release candidate"
    for connector in sample.connectors:
        base = f"metadata/{connector.docker_repository}"
        copy = sample.metadata_objects.get(f"{base}/release_candidate/metadata.yaml")
        if connector.release_candidate is None:
            assert copy is None
            continue
        # uploaded as the upload command would: the versioned folder and release_candidate/, never latest/
        assert copy == sample.metadata_objects[f"{base}/{connector.release_candidate}/metadata.yaml"]
        assert parse_version(connector.release_candidate) > parse_version(connector.latest_version)
        data = _data(copy)
        rollout = data["releases"]["rolloutConfiguration"]
        assert rollout["enableProgressiveRollout"] is True and data["releases"]["isReleaseCandidate"] is True
        for override in _overrides(data).values():
            assert "dockerImageTag" not in override, "today's release candidates run their own image"
        spec = f"specs/{connector.docker_repository}/{connector.release_candidate}/spec.json"
        assert spec in sample.spec_objects
    activation = [connector for connector in sample.connectors if connector.supports_data_activation]
    assert activation and all(connector.connector_type == "destination" for connector in activation)
    for path, raw in sample.metadata_files().items():
        assert raw.endswith(b"\nmetadataSpecVersion: 1.0\n"), path
        document = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        assert document["metadataSpecVersion"] == 1.0  # a YAML float, read as "1.0"
        assert upload_rule_problems(path, document["data"]) == [], path
        data = document["data"]
        repository = data["dockerRepository"]
        expected = next(c for c in sample.connectors if c.docker_repository == repository).supports_data_activation
        assert data.get("supportsDataActivation", False) is expected, path


def test_era_2023_is_the_seed_sample_without_the_2025_files():
    seed = generate_sample(connectors=40, versions=3, seed=7, era="2023")
    today = generate_sample(connectors=40, versions=3, seed=7)
    assert not any("/release_candidate/" in path for path in seed.metadata_objects)
    assert all(raw.endswith(b'metadataSpecVersion: "1.0"\n') for raw in seed.metadata_files().values())
    assert all(b"supportsDataActivation" not in raw for raw in seed.metadata_files().values())
    # The rest of the bucket is drawn from the same random streams: same connectors, same versions.
    assert [(c.docker_repository, c.versions) for c in seed.connectors] == [
        (c.docker_repository, c.versions) for c in today.connectors
    ]
    assert set(seed.spec_objects) <= set(today.spec_objects)
