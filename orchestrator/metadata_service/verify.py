"""Checking a published set against its manifest (SPEC §8): download `registries/v0/manifest.json`
and every object it lists, compare digests and sizes, look for objects it does not list, and check
the signature with a public key when one is given."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from orchestrator.layout import REGISTRY_FOLDER, REGISTRY_MANIFEST_PATH, REGISTRY_MANIFEST_SIGNATURE_PATH
from orchestrator.logic.distribution import manifest_differences
from orchestrator.logic.signing import signature_matches
from orchestrator.models.distribution import RegistryManifest
from orchestrator.resources.gcs import GcsBucketManager


@dataclass
class VerifyResult:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    objects: int = 0
    signature: str = "not checked"  # valid, invalid, missing, not checked

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_published_set(
    bucket: GcsBucketManager, public_key_pem: bytes | None = None, public_key_label: str = "the public key"
) -> VerifyResult:
    """`public_key_pem`: check the signature with it (a missing or wrong signature is then a problem)."""
    where = f"gs://{bucket.bucket_name}"
    result = VerifyResult()
    stored = bucket.read(REGISTRY_MANIFEST_PATH)
    if stored is None:
        result.problems.append(f"{where}/{REGISTRY_MANIFEST_PATH}: missing: no build has published a manifest here")
        return result
    payload, _ = stored
    try:
        manifest = RegistryManifest.model_validate_json(payload)
    except ValidationError as error:
        result.problems += [
            f"{where}/{REGISTRY_MANIFEST_PATH}: {'.'.join(map(str, item['loc'])) or '(document)'}: {item['msg']}"
            for item in error.errors()
        ]
        return result
    result.objects = len(manifest.objects)
    found = bucket.read_many(manifest.objects)
    present = {blob.name for blob in bucket.list_blobs(f"{REGISTRY_FOLDER}/")}
    differences = manifest_differences(
        manifest, found, present, {REGISTRY_MANIFEST_PATH, REGISTRY_MANIFEST_SIGNATURE_PATH}
    )
    result.problems += [f"{where}/{problem}" for problem in differences.problems]
    result.notes += [f"{where}/{note}" for note in differences.notes]

    signature = bucket.read(REGISTRY_MANIFEST_SIGNATURE_PATH)
    if public_key_pem is None:
        if signature is not None:
            result.notes.append(
                f"{where}/{REGISTRY_MANIFEST_SIGNATURE_PATH}: present, not checked (no --public-key given)"
            )
    elif signature is None:
        result.signature = "missing"
        result.problems.append(
            f"{where}/{REGISTRY_MANIFEST_SIGNATURE_PATH}: missing, so the manifest cannot be checked "
            f"against {public_key_label}"
        )
    elif signature_matches(payload, signature[0], public_key_pem, public_key_label):
        result.signature = "valid"
    else:
        result.signature = "invalid"
        result.problems.append(
            f"{where}/{REGISTRY_MANIFEST_SIGNATURE_PATH}: not a signature of this manifest by {public_key_label}"
        )
    return result
