"""The fast part of the chaos campaign (chaos/run_chaos.py runs it all): the real google-cloud-storage
client through the fault-injecting proxy in front of the emulator."""

from __future__ import annotations

import os

import pytest
from dagster import DagsterInstance

from chaos.fault_proxy import LOST_REPLY, FaultPlan, FaultProxy
from orchestrator.layout import REGISTRY_NAMES, registry_path
from orchestrator.resources.deployments import local_resources
from orchestrator.resources.gcs import ConcurrentWriteError, GcsBucketManager, GcsClient
from tests.builders import code_location, make_data, put_connector


class LoseFirstWriteReply(FaultPlan):
    """The first upload is carried out, then its reply is lost (503); everything else passes."""

    def decide(self, number: int, method: str, path: str) -> str:
        if method == "POST" and "/upload/" in path and not getattr(self, "lost", False):
            self.lost = True
            return LOST_REPLY
        return "pass"


@pytest.fixture
def proxy(gcs_emulator):
    with FaultProxy(gcs_emulator.url) as running:
        yield running


def proxied_bucket(proxy: FaultProxy, name: str) -> GcsBucketManager:
    return GcsBucketManager(gcp_gcs_client=GcsClient(emulator_host=proxy.url), bucket_name=name)


def test_a_conditional_write_whose_reply_was_lost_recognises_its_own_write(gcs_env, proxy):
    direct = gcs_env["metadata"]
    generation = direct.write("registries/v0/oss_registry.json", b'{"old": true}\n')
    proxy.reset(LoseFirstWriteReply())
    through_faults = proxied_bucket(proxy, direct.bucket_name)

    new_generation = through_faults.write(
        "registries/v0/oss_registry.json", b'{"new": true}\n', if_generation_match=generation
    )

    assert proxy.counts.get(LOST_REPLY) == 1, "the fault was injected"
    stored = direct.read("registries/v0/oss_registry.json")
    assert stored == (b'{"new": true}\n', new_generation)
    assert new_generation != generation


def test_a_real_concurrent_writer_is_still_refused(gcs_env, proxy):
    direct = gcs_env["metadata"]
    generation = direct.write("registries/v0/oss_registry.json", b'{"old": true}\n')
    direct.write("registries/v0/oss_registry.json", b'{"someone else": true}\n')
    with pytest.raises(ConcurrentWriteError, match="another writer got there first"):
        proxied_bucket(proxy, direct.bucket_name).write(
            "registries/v0/oss_registry.json", b'{"mine": true}\n', if_generation_match=generation
        )
    assert direct.read("registries/v0/oss_registry.json")[0] == b'{"someone else": true}\n'


def test_generate_registry_through_transient_errors_publishes_what_a_clean_run_publishes(gcs_env, proxy, monkeypatch):
    for name in ("source-alpha", "source-beta", "destination-gamma"):
        put_connector(
            gcs_env, make_data(name, connector_type="destination" if name.startswith("destination") else "source")
        )
    monkeypatch.setenv("METADATA_CDN_BASE_URL", "https://connectors.example.test")
    job = code_location().resolve_job_def("generate_registry")

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    proxy.reset(FaultPlan(error_rate=0.3, seed=5))
    faulty = job.execute_in_process(resources=local_resources(os.environ), instance=DagsterInstance.ephemeral())
    assert faulty.success
    assert proxy.counts.get("503", 0) + proxy.counts.get("429", 0) > 5, "enough faults were injected to matter"
    through_faults = {registry: gcs_env["metadata"].read(registry_path(registry))[0] for registry in REGISTRY_NAMES}

    for blob in gcs_env["metadata"].list_blobs(""):
        if blob.name.startswith(("registries/", "orchestrator_state/")) or blob.name.endswith(
            ("oss.json", "cloud.json")
        ):
            gcs_env["metadata"].delete(blob.name)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_env["emulator_url"])
    clean = job.execute_in_process(resources=local_resources(os.environ), instance=DagsterInstance.ephemeral())
    assert clean.success
    assert {
        registry: gcs_env["metadata"].read(registry_path(registry))[0] for registry in REGISTRY_NAMES
    } == through_faults


def test_workers_keep_their_connections_from_one_batch_of_reads_to_the_next(gcs_env, proxy, caplog):
    direct = gcs_env["metadata"]
    paths = [f"metadata/airbyte/source-pool/{index}/metadata.yaml" for index in range(96)]
    for path in paths:
        direct.write(path, b"name: pool\n")
    # Each read held 20 ms, so that all 32 workers hold a connection at once.
    proxy.reset(FaultPlan(delay=[("GET", b"alt=media", 0.02)]))
    manager = GcsBucketManager(
        gcp_gcs_client=GcsClient(emulator_host=proxy.url), bucket_name=direct.bucket_name, max_workers=32
    )

    batches = [manager.read_many(paths[start : start + 32]) for start in range(0, len(paths), 32)]

    assert all(item is not None for batch in batches for item in batch.values())
    # requests' default pool keeps 10 idle connections: at the end of each batch the other 22
    # were closed (a warning each) and the next batch opened (over TLS, negotiated) new ones.
    assert proxy.connections <= 32, f"{proxy.connections} connections for 3 batches of 32 reads by 32 workers"
    assert "Connection pool is full" not in caplog.text
