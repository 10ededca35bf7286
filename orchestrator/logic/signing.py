"""Ed25519 signatures of the registry manifest (SPEC §8). The signature file holds the base64 of the
64-byte signature of the manifest's exact bytes, and a newline. Errors never include key material."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SigningKeyError(ValueError):
    """A key that cannot be used; the message names what is wrong, never the key."""


def _pem_bytes(pem: str | bytes) -> bytes:
    text = pem.decode("utf-8", errors="replace") if isinstance(pem, bytes) else pem
    # An environment variable often carries the PEM on one line, its newlines written as \n.
    return text.strip().replace("\\n", "\n").encode("utf-8")


def load_private_key(pem: str | bytes, label: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_pem_bytes(pem), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningKeyError(f"{label} is not an unencrypted private key in PEM") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{label} is a private key, but not an Ed25519 one")
    return key


def load_public_key(pem: str | bytes, label: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(_pem_bytes(pem))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SigningKeyError(f"{label} is not a public key in PEM") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{label} is a public key, but not an Ed25519 one")
    return key


def public_key_pem(private_key_pem: str | bytes, label: str) -> bytes:
    key = load_private_key(private_key_pem, label).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def signature_file(payload: bytes, private_key_pem: str | bytes, label: str) -> bytes:
    """The contents of the signature file of `payload` (Ed25519 signatures are deterministic: the same
    bytes and key always give the same file)."""
    signature = load_private_key(private_key_pem, label).sign(payload)
    return base64.b64encode(signature) + b"\n"


def signature_matches(payload: bytes, signature: bytes, public_key_pem_bytes: bytes, label: str) -> bool:
    key = load_public_key(public_key_pem_bytes, label)
    try:
        key.verify(base64.b64decode(signature.strip(), validate=True), payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
