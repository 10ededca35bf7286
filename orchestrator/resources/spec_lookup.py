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

    def _read(self, path: str) -> dict | None:
        with self._lock:
            future = self._reads.get(path)
            owner = future is None
            if future is None:
                future = self._reads[path] = Future()
        if owner:
            try:
                future.set_result(self._spec_cache.read_spec(path))
            except BaseException as error:  # every waiter sees the failure
                future.set_exception(error)
        return future.result()

    def __call__(self, repository: str, tag: str, registry: str) -> dict | None:
        for path, cloud in self._spec_cache.candidate_paths(repository, tag, registry):
            if cloud and self._cloud_specs is not None and path not in self._cloud_specs:
                continue
            spec = self._read(path)
            if spec is not None:
                return spec
        return None
