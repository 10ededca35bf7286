"""Issue 16, case 1: a slow run never leaves an older entry in place, and a clean run converges."""

from __future__ import annotations

import json
import os
import threading
import time

from dagster import DagsterInstance

from chaos.fault_proxy import FaultPlan, FaultProxy
from orchestrator.layout import REGISTRY_NAMES, registry_path
from orchestrator.resources.deployments import local_resources
from tests.builders import code_location, make_data, put_connector

REPOSITORY = "airbyte/source-raced"
LATEST = f"metadata/{REPOSITORY}/latest"


def named_run_config(tag: str) -> dict:
    """What the metadata sensor names after an upload of `tag`."""
    changed = [f"metadata/{REPOSITORY}/{tag}/metadata.yaml", f"{LATEST}/metadata.yaml"]
    return {"ops": {"metadata_definitions": {"config": {"changed_files": changed, "deleted_files": []}}}}


def listed_versions(gcs_env) -> dict[str, str]:
    versions = {}
    for registry in REGISTRY_NAMES:
        registry_document = json.loads(gcs_env["metadata"].read(registry_path(registry))[0])
        [entry] = [item for item in registry_document["sources"] if item["dockerRepository"] == REPOSITORY]
        versions[registry] = entry["dockerImageTag"]
    return versions


def entry_tag(gcs_env, registry: str) -> str:
    return json.loads(gcs_env["metadata"].read(f"{LATEST}/{registry}.json")[0])["dockerImageTag"]


def test_a_slow_writer_never_leaves_an_older_entry_and_one_clean_run_converges(gcs_env, gcs_emulator, monkeypatch):
    job = code_location().resolve_job_def("generate_registry")
    put_connector(gcs_env, make_data("source-raced", tag="0.9.0"))
    put_connector(gcs_env, make_data("source-bystander", tag="0.3.0"))
    direct = local_resources(os.environ)
    assert job.execute_in_process(resources=direct, instance=DagsterInstance.ephemeral()).success

    with FaultProxy(gcs_emulator.url) as proxy:
        # Run A reads version 1.1.0, then its write of latest/oss.json takes 8 s.
        put_connector(gcs_env, make_data("source-raced", tag="1.1.0"))
        proxy.reset(FaultPlan(delay=[("POST", f"{LATEST}/oss.json".encode(), 8.0)]))
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        slow = local_resources(os.environ)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
        outcome: dict = {}
        instance_a = DagsterInstance.ephemeral()

        def run_a() -> None:
            outcome["a"] = job.execute_in_process(
                run_config=named_run_config("1.1.0"), resources=slow, instance=instance_a, raise_on_error=False
            )

        thread = threading.Thread(target=run_a)
        thread.start()
        deadline = time.monotonic() + 60
        while not proxy.counts.get("delayed") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proxy.counts.get("delayed") == 1, "run A reached its latest/ entry write"

        # Meanwhile 1.2.0 is uploaded and run B publishes it.
        put_connector(gcs_env, make_data("source-raced", tag="1.2.0"))
        run_b = job.execute_in_process(
            run_config=named_run_config("1.2.0"), resources=direct, instance=DagsterInstance.ephemeral()
        )
        assert run_b.success
        assert listed_versions(gcs_env) == {"oss": "1.2.0", "cloud": "1.2.0"}
        thread.join(timeout=120)

    assert not outcome["a"].success, "run A read older metadata: it fails instead of publishing it"
    assert entry_tag(gcs_env, "oss") == "1.2.0", "run A's late write did not replace the newer entry"
    assert listed_versions(gcs_env) == {"oss": "1.2.0", "cloud": "1.2.0"}

    clean = job.execute_in_process(resources=direct, instance=DagsterInstance.ephemeral())
    assert clean.success
    assert {registry: entry_tag(gcs_env, registry) for registry in REGISTRY_NAMES} == {"oss": "1.2.0", "cloud": "1.2.0"}
    assert listed_versions(gcs_env) == {"oss": "1.2.0", "cloud": "1.2.0"}


def test_an_entry_replaced_behind_the_manifest_is_rebuilt_by_the_next_full_run(gcs_env):
    """What the old race left behind (an older entry over the newer one, the manifest recording the
    newer): a run that lists the bucket sees the entry is not the one recorded and builds it again."""
    job = code_location().resolve_job_def("generate_registry")
    put_connector(gcs_env, make_data("source-raced", tag="1.1.0"))
    resources = local_resources(os.environ)
    assert job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral()).success
    older = gcs_env["metadata"].read(f"metadata/{REPOSITORY}/1.1.0/oss.json")[0]

    put_connector(gcs_env, make_data("source-raced", tag="1.2.0"))
    assert job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral()).success
    gcs_env["metadata"].write(f"{LATEST}/oss.json", older)  # the stale write of a slow run
    assert entry_tag(gcs_env, "oss") == "1.1.0"

    assert job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral()).success
    assert entry_tag(gcs_env, "oss") == "1.2.0"
    assert listed_versions(gcs_env) == {"oss": "1.2.0", "cloud": "1.2.0"}
