"""Semantic versions of docker image tags: `1.2.3`, optionally with a pre-release such as `-rc.1`."""

from __future__ import annotations

import re
from dataclasses import dataclass

# `\Z`, not `$`: `$` also matches before a final newline, and "1.2.3\n" is not a version.
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\Z")
PLAIN_VERSION = re.compile(r"^\d+\.\d+\.\d+\Z")
RELEASE_CANDIDATE = re.compile(r"-rc\.\d+\Z")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int
    # A release (no pre-release) sorts after its pre-releases: (1, ()) > (0, ("rc", 1)).
    release_rank: tuple

    @property
    def is_major_release(self) -> bool:
        return self.major >= 1 and self.minor == 0 and self.patch == 0 and self.release_rank[0] == 1


def _prerelease_key(prerelease: str) -> tuple:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in prerelease.split("."))


def parse_version(tag: str) -> Version:
    match = SEMVER.match(str(tag))
    if match is None:
        raise ValueError(f"{str(tag)[:40]!r} is not a semantic version (x.y.z, optionally -prerelease)")
    major, minor, patch, prerelease = match.groups()
    rank = (1, ()) if prerelease is None else (0, _prerelease_key(prerelease))
    return Version(int(major), int(minor), int(patch), rank)


def is_release_candidate(tag: str) -> bool:
    return bool(RELEASE_CANDIDATE.search(str(tag)))
