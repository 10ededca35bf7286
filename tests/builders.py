"""Small, explicit builders of metadata documents and specs for tests (no sample generator involved),
and one sensor evaluation as the daemon would make it."""

from __future__ import annotations

import copy
import json
import uuid
from types import ModuleType
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from dagster import AssetsDefinition


def make_data(name: str = "source-example", connector_type: str = "source", tag: str = "1.2.3", **fields: Any) -> dict:
    definition_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{connector_type}/{name}"))
    data = {
        "name": name.replace("-", " ").title(),
        "definitionId": definition_id,
        "connectorType": connector_type,
        "dockerRepository": f"airbyte/{name}",
        "dockerImageTag": tag,
        "license": "MIT",
        "documentationUrl": f"https://docs.example.com/integrations/{connector_type}s/{name}",
        "githubIssueLabel": name,
        "connectorSubtype": "api",
        "releaseStage": "beta",
        "supportLevel": "community",
        "tags": ["language:python"],
        "registryOverrides": {"oss": {"enabled": True}, "cloud": {"enabled": True}},
    }
    data.update(fields)
    return data


def make_document(data: dict) -> dict:
    return {"metadataSpecVersion": "1.0", "data": copy.deepcopy(data)}


def to_yaml(data: dict) -> bytes:
    return yaml.safe_dump(make_document(data), sort_keys=False).encode()


def make_spec(secret: str = "api_key", title: str = "Example") -> dict:
    return {
        "documentationUrl": "https://docs.example.com",
        "connectionSpecification": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": title,
            "type": "object",
            "required": [secret],
            "properties": {
                secret: {"type": "string", "airbyte_secret": True},
                "start_date": {"type": "string"},
                "credentials": {
                    "type": "object",
                    "oneOf": [
                        {
                            "title": "OAuth",
                            "properties": {
                                "client_secret": {"type": "string", "airbyte_secret": True},
                                "client_id": {"type": "string"},
                            },
                        },
                        {
                            "title": "Token",
                            "properties": {"personal_token": {"type": "string", "airbyte_secret": True}},
                        },
                    ],
                },
            },
        },
    }


def put_connector(
    gcs_env: dict,
    data: dict,
    spec: dict | None = None,
    cloud_spec: dict | None = None,
    icon: bool = True,
    latest: bool = True,
    spec_images: list[tuple[str, str]] | None = None,
) -> list[str]:
    """Upload one version (and its latest/ copy) plus the spec(s) its entries will need."""
    metadata, specs = gcs_env["metadata"], gcs_env["specs"]
    folders = [f"metadata/{data['dockerRepository']}/{data['dockerImageTag']}"]
    if latest:
        folders.append(f"metadata/{data['dockerRepository']}/latest")
    for folder in folders:
        metadata.write(f"{folder}/metadata.yaml", to_yaml(data))
        if icon:
            metadata.write(f"{folder}/icon.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    spec = spec if spec is not None else make_spec()
    images = spec_images if spec_images is not None else [(data["dockerRepository"], data["dockerImageTag"])]
    for repository, tag in images:
        specs.write(f"specs/{repository}/{tag}/spec.json", json.dumps(spec).encode())
        if cloud_spec is not None:
            specs.write(f"specs/{repository}/{tag}/spec.cloud.json", json.dumps(cloud_spec).encode())
    return [f"{folder}/metadata.yaml" for folder in folders]


def tick(sensor, resources, instance, cursor=None):
    """One evaluation: (run requests, skip reason text or None, new cursor)."""
    from dagster import build_sensor_context

    with build_sensor_context(cursor=cursor, resources=resources, instance=instance) as context:
        result = sensor(context)
    skip = result.skip_reason.skip_message if result.skip_reason else None
    return list(result.run_requests or []), skip, result.cursor


def module_assets(module: ModuleType, group_name: str | None = None) -> list[AssetsDefinition]:
    """load_assets_from_modules for a module of @asset functions, as the list `materialize` takes."""
    from dagster import AssetsDefinition, load_assets_from_modules

    loaded = load_assets_from_modules([module], group_name=group_name)
    assets = [item for item in loaded if isinstance(item, AssetsDefinition)]
    assert len(assets) == len(loaded), f"{module.__name__} holds more than @asset definitions"
    return assets


def code_location():
    """The code location's Definitions with the local resource set of the current environment
    (tests pass their own resources to each run; `.env` is not read)."""
    import os

    from orchestrator.definitions import build_definitions
    from orchestrator.resources.deployments import local_resources

    return build_definitions(local_resources(os.environ))


def bucket_needing_attention(gcs_env: dict, resources: dict) -> dict[str, str]:
    """A bucket built by two real generate_registry runs, left with an invalid file, two entries
    waiting for their spec and a connector whose new latest/ version the registries lack."""
    from dagster import DagsterInstance

    put_connector(gcs_env, make_data("source-good"))
    put_connector(gcs_env, make_data("source-stale"))
    job = code_location().resolve_job_def("generate_registry")
    assert job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral()).success
    broken = make_data("source-broken", tag="1.1.0")
    del broken["license"]
    put_connector(gcs_env, broken)
    put_connector(gcs_env, make_data("source-stale", tag="1.3.0"), spec_images=[])
    assert job.execute_in_process(resources=resources, instance=DagsterInstance.ephemeral()).success
    return {
        "invalid": "metadata/airbyte/source-broken/1.1.0/metadata.yaml",
        "invalid_latest": "metadata/airbyte/source-broken/latest/metadata.yaml",
        "waiting": "metadata/airbyte/source-stale/1.3.0/metadata.yaml",
        "stale_latest": "metadata/airbyte/source-stale/latest/metadata.yaml",
    }
