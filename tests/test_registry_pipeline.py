"""End to end on the emulator: the real generate_registry job over a small bucket."""

from __future__ import annotations

import json

import pytest
import yaml
from dagster import DagsterInstance

from orchestrator import defn
from tests.builders import make_data, make_spec, put_connector


def run_job(resources, job_name="generate_registry", instance=None, raise_on_error=True):
    job = defn.resolve_job_def(job_name)
    return job.execute_in_process(resources=resources, instance=instance or DagsterInstance.ephemeral(), raise_on_error=raise_on_error)


def read_json(gcs_env, path):
    stored = gcs_env["metadata"].read(path)
    assert stored is not None, f"{path} was not written"
    return json.loads(stored[0])


def test_generate_registry_end_to_end(gcs_env, resources):
    put_connector(gcs_env, make_data("source-alpha"))
    put_connector(gcs_env, make_data("destination-beta", connector_type="destination", tag="0.4.0"))
    result = run_job(resources)
    assert result.success
    oss = read_json(gcs_env, "registries/v0/oss_registry.json")
    assert [entry["dockerRepository"] for entry in oss["sources"]] == ["airbyte/source-alpha"]
    assert [entry["dockerRepository"] for entry in oss["destinations"]] == ["airbyte/destination-beta"]
    assert read_json(gcs_env, "metadata/airbyte/source-alpha/1.2.3/oss.json")["sourceDefinitionId"] == oss["sources"][0]["sourceDefinitionId"]
    mask = yaml.safe_load(gcs_env["metadata"].read("registries/v0/specs_secrets_mask.yaml")[0])
    assert mask == {"properties": ["api_key", "client_secret", "personal_token"]}
