"""The registry-entry step's spec lookup: each spec file read once, cloud specs known to be absent not read."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from pydantic import PrivateAttr

from orchestrator.resources.gcs import GcsClient, SpecCache
from orchestrator.resources.spec_lookup import CachedSpecLookup


class CountingSpecCache(SpecCache):
    """A SpecCache whose reads come from a dict and are counted."""

    _store: dict[str, dict] = PrivateAttr(default_factory=dict)
    _counts: dict[str, int] = PrivateAttr(default_factory=dict)
    _count_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def read_spec_blob(self, path):
        with self._count_lock:
            self._counts[path] = self._counts.get(path, 0) + 1
        return (self._store[path], 100 + len(path)) if path in self._store else None


def make_cache(store):
    cache = CountingSpecCache(gcp_gcs_client=GcsClient(emulator_host="http://127.0.0.1:1"), bucket_name="specs")
    cache._store.update(store)
    return cache


PLAIN = "specs/airbyte/source-a/1.0.0/spec.json"
CLOUD = "specs/airbyte/source-a/1.0.0/spec.cloud.json"


def test_same_answers_as_find_spec_order_and_one_read_per_file():
    cache = make_cache({PLAIN: {"plain": True}})
    lookup = CachedSpecLookup(cache)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda registry: lookup("airbyte/source-a", "1.0.0", registry), ["oss", "cloud"] * 20))
    assert all(result == {"plain": True} for result in results)
    assert cache._counts == {PLAIN: 1, CLOUD: 1}


def test_cloud_spec_first_when_it_exists():
    cache = make_cache({PLAIN: {"plain": True}, CLOUD: {"cloud": True}})
    lookup = CachedSpecLookup(cache, cloud_specs={CLOUD})
    assert lookup("airbyte/source-a", "1.0.0", "cloud") == {"cloud": True}
    assert lookup("airbyte/source-a", "1.0.0", "oss") == {"plain": True}


def test_listed_cloud_specs_spare_the_failed_reads():
    cache = make_cache({PLAIN: {"plain": True}})
    lookup = CachedSpecLookup(cache, cloud_specs=set())
    assert lookup("airbyte/source-a", "1.0.0", "cloud") == {"plain": True}
    assert CLOUD not in cache._counts
    assert lookup("airbyte/source-b", "2.0.0", "oss") is None


def test_recording_lookup_names_every_spec_looked_up_with_its_generation():
    cache = make_cache({PLAIN: {"plain": True}})
    shared = CachedSpecLookup(cache)
    cloud = shared.recording()
    assert cloud("airbyte/source-a", "1.0.0", "cloud") == {"plain": True}
    assert cloud.consulted == {CLOUD: 0, PLAIN: 100 + len(PLAIN)}, "the absent cloud spec is awaited too"
    missing = shared.recording()
    assert missing("airbyte/source-b", "2.0.0", "oss") is None
    assert missing.consulted == {"specs/airbyte/source-b/2.0.0/spec.json": 0}
    skipped = CachedSpecLookup(cache, cloud_specs=set()).recording()
    skipped("airbyte/source-a", "1.0.0", "cloud")
    assert skipped.consulted[CLOUD] == 0, "a cloud spec known absent from the listing is recorded as awaited"
