"""The campaign's catalogue of bad metadata files: each one a hostile or broken version of a connector.

Every kind is applied as a bad *update*: a new version folder and a `latest/` copy over a connector
that has a good published entry, so the invariant is exact: the registries keep that connector at
its last good version, every other connector publishes, and the file is reported. A few kinds need
a second connector (a duplicate definition id) or a folder that is not the file's own."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import yaml

NEW_TAG = "9.9.9"  # newer than any sample version, so a valid file would become latest/


@dataclass(frozen=True)
class BadInput:
    kind: str
    # metadata-bucket path -> bytes, relative to the victim connector: "{folder}" is replaced by
    # metadata/<victim repository>, so one catalogue serves any bucket.
    files: dict[str, bytes]
    # True: the upload command must refuse it too (a file that reaches the bucket only by hand
    # may be acceptable to upload once fixed, e.g. a folder that is not its own).
    upload_refuses: bool = True
    # Connectors other than the victim this input names (a duplicate id's owner), by repository.
    also_names: tuple[str, ...] = field(default_factory=tuple)


def document(data: dict) -> bytes:
    return yaml.safe_dump({"metadataSpecVersion": "1.0", "data": data}, sort_keys=False).encode()


def _update(raw: bytes) -> dict[str, bytes]:
    return {f"{{folder}}/{NEW_TAG}/metadata.yaml": raw, "{folder}/latest/metadata.yaml": raw}


def _with(good: dict, **changes: object) -> dict:
    data = copy.deepcopy(good)
    data["dockerImageTag"] = NEW_TAG
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _alias_bomb() -> bytes:
    lines = ["metadataSpecVersion: '1.0'", "bomb0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        lines.append(f"bomb{level}: &b{level} [" + ", ".join([f"*b{level - 1}"] * 10) + "]")
    lines.append("data:\n  name: *b8")
    return ("\n".join(lines) + "\n").encode()


def catalogue(good: dict, other: dict) -> list[BadInput]:
    """`good`: the victim's valid `data` (as published); `other`: another connector's `data`."""
    text = document(_with(good)).decode()
    kinds: list[tuple[str, bytes | dict[str, bytes]]] = [
        ("malformed-yaml", b"metadataSpecVersion: '1.0'\ndata: [unclosed\n"),
        ("empty-file", b""),
        ("yaml-list-not-mapping", b"- 1\n- 2\n"),
        ("binary-garbage", bytes(range(256)) * 4),
        ("missing-data", b"metadataSpecVersion: '1.0'\n"),
        ("missing-required-field", document(_with(good, name=None))),
        ("wrong-type", document(_with(good, maxSecondsBetweenMessages="soon"))),
        ("unknown-field", document(_with(good, notAField=True))),
        ("bad-uuid", document(_with(good, definitionId="not-a-uuid"))),
        ("bad-connector-type", document(_with(good, connectorType="transformer"))),
        ("bad-subtype-enum", document(_with(good, connectorSubtype="spreadsheet"))),
        ("bad-documentation-url", document(_with(good, documentationUrl="not a url"))),
        ("javascript-url", document(_with(good, documentationUrl="javascript:alert(1)"))),
        ("tag-not-semver", document(_with(good, dockerImageTag="latest-ish"))),
        (
            "tag-trailing-newline",
            text.replace(f"dockerImageTag: {NEW_TAG}", f'dockerImageTag: "{NEW_TAG}\\n"').encode(),
        ),
        ("major-without-breaking-change", document(_with(good, dockerImageTag="99.0.0"))),
        (
            "breaking-change-key-not-xyz",
            document(
                _with(good, releases={"breakingChanges": {"v2": {"message": "m", "upgradeDeadline": "2024-01-01"}}})
            ),
        ),
        ("tag-without-colon", document(_with(good, tags=["language:python", "nocolon"]))),
        ("no-language-tag", document(_with(good, tags=["cdk:low-code"]))),
        ("alias-bomb", _alias_bomb()),
        ("deep-nesting", (text + "  connectorIPCOptions:\n    x: " + "[" * 600 + "]" * 600 + "\n").encode()),
        ("binary-tag", text.replace(f"name: {good['name']}", "name: !!binary aGVsbG8=", 1).encode()),
        ("set-tag", (text + "  connectorIPCOptions: !!set {a: null}\n").encode()),
        ("python-tag", text.replace(f"name: {good['name']}", "name: !!python/object/apply:os.getcwd []", 1).encode()),
        ("nan-number", (text.rstrip("\n") + "\n  maxSecondsBetweenMessages: .nan\n").encode()),
        ("infinite-number", (text.rstrip("\n") + "\n  maxSecondsBetweenMessages: .inf\n").encode()),
        ("duplicate-yaml-key", (text.rstrip("\n") + f"\n  license: {good['license']}-again\n").encode()),
        ("overrides-wrong-type", document(_with(good, registryOverrides={"oss": "yes", "cloud": {"enabled": True}}))),
        ("over-one-mib", (text.rstrip("\n") + "\n  erdUrl: '" + "x" * (1024 * 1024) + "'\n").encode()),
        ("control-chars-in-repository", document(_with(good, dockerRepository=good["dockerRepository"] + "\n"))),
        ("path-traversal-repository", document(_with(good, dockerRepository="airbyte/../../registries"))),
        (
            "latest-claims-another-repository",
            {"{folder}/latest/metadata.yaml": document(_with(good, dockerRepository=other["dockerRepository"]))},
        ),
        (
            "versioned-folder-of-another-version",
            {f"{{folder}}/{NEW_TAG}/metadata.yaml": document(_with(good, dockerImageTag="9.9.8"))},
        ),
        (
            "release-candidate-in-latest",
            {"{folder}/latest/metadata.yaml": document(_with(good, dockerImageTag=f"{NEW_TAG}-rc.1"))},
        ),
        ("missing-metadata-spec-version", yaml.safe_dump({"data": _with(good)}).encode()),
    ]
    inputs = []
    for kind, payload in kinds:
        files = payload if isinstance(payload, dict) else _update(payload)
        # A file in a folder that is not its own can only be put there by hand: upload writes by content.
        by_hand_only = kind in (
            "latest-claims-another-repository",
            "versioned-folder-of-another-version",
            "release-candidate-in-latest",
        )
        inputs.append(BadInput(kind, files, upload_refuses=not by_hand_only))
    # The victim's definition id, claimed by another connector's newer version.
    thief = _with(other, definitionId=good["definitionId"])
    inputs.append(
        BadInput(
            "duplicate-definition-id",
            {
                f"metadata/{other['dockerRepository']}/{NEW_TAG}/metadata.yaml": document(thief),
                f"metadata/{other['dockerRepository']}/latest/metadata.yaml": document(thief),
            },
            upload_refuses=False,  # each file is valid alone; the registry build must catch it
            also_names=(other["dockerRepository"],),
        )
    )
    return inputs


def resolve(bad: BadInput, victim_repository: str) -> dict[str, bytes]:
    return {path.replace("{folder}", f"metadata/{victim_repository}"): data for path, data in bad.files.items()}
