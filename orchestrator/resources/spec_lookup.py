"""Spec lookups shared by the entries of one run."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from orchestrator.resources.gcs import SpecCache


class CachedSpecLookup:
    """Specs are shared by several entries (oss and cloud, a version and its latest/ copy): each spec
    file is read once per lookup object, by one thread while the others wait for it. With
    `cloud_specs` (every spec.cloud.json that exists), a cloud spec that is not there is not asked for."""

    def __init__(self, spec_cache: SpecCache, cloud_specs: set[str] | None = None):
        self._spec_cache = spec_cache
        self._cloud_specs = cloud_specs
        self._reads: dict[str, Future] = {}
        self._lock = threading.Lock()

    def _read(self, path: str) -> tuple[dict, int] | None:
        with self._lock:
            future = self._reads.get(path)
            owner = future is None
            if future is None:
                future = self._reads[path] = Future()
        if owner:
            try:
                future.set_result(self._spec_cache.read_spec_blob(path))
            except BaseException as error:  # every waiter sees the failure
                future.set_exception(error)
        return future.result()

    def find(self, repository: str, tag: str, registry: str) -> tuple[dict | None, dict[str, int]]:
        """The spec, and every spec file looked up for it with the generation read (0: absent)."""
        consulted: dict[str, int] = {}
        for path, cloud in self._spec_cache.candidate_paths(repository, tag, registry):
            if cloud and self._cloud_specs is not None and path not in self._cloud_specs:
                consulted[path] = 0
                continue
            stored = self._read(path)
            if stored is not None:
                consulted[path] = stored[1]
                return stored[0], consulted
            consulted[path] = 0
        return None, consulted

    def __call__(self, repository: str, tag: str, registry: str) -> dict | None:
        return self.find(repository, tag, registry)[0]

    def recording(self) -> RecordingSpecLookup:
        return RecordingSpecLookup(self)


class RecordingSpecLookup:
    """A lookup for one entry's build: it remembers which spec files it looked up, at which generation."""

    def __init__(self, shared: CachedSpecLookup):
        self._shared = shared
        self.consulted: dict[str, int] = {}

    def __call__(self, repository: str, tag: str, registry: str) -> dict | None:
        spec, consulted = self._shared.find(repository, tag, registry)
        self.consulted.update(consulted)
        return spec
