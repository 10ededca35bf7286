"""Small registries for the report tests, with the values real connectors publish.

Sources: Faker in both registries with different images, Postgres in both with the same image,
GitHub only in OSS, MySQL only in Cloud. Destinations: Postgres in both (same image), Snowflake in
both (different images), DuckDB only in OSS."""

import copy
import json

FAKER = "dfd88b22-b603-4c3d-aad7-3701784586b1"
SOURCE_POSTGRES = "decd338e-5647-4c0b-adf4-da0e75f5a750"
GITHUB = "ef69ef6e-aa7f-4af1-a01d-ef775033524e"
MYSQL = "435bb9a5-7887-4809-aa58-28c27df0d7ad"
DESTINATION_POSTGRES = "25c5221d-dce2-4163-ade9-739ef790f503"
SNOWFLAKE = "424892c4-daac-4491-b35d-c6688ba547ba"
DUCKDB = "94bd199c-2ff0-4aa2-b98e-17f0acb72610"


def entry(
    connector_type,
    definition_id,
    name,
    repository,
    tag,
    stage="generally_available",
    support="certified",
    subtype="database",
    **extra,
):
    kind = "sources" if connector_type == "source" else "destinations"
    label = repository.split("/")[-1]
    return {
        f"{connector_type}DefinitionId": definition_id,
        "name": name,
        "dockerRepository": repository,
        "dockerImageTag": tag,
        "documentationUrl": f"https://docs.airbyte.com/integrations/{kind}/{label.split('-', 1)[1]}",
        "githubIssueLabel": label,
        "releaseStage": stage,
        "supportLevel": support,
        "sourceType": subtype,
        "tags": ["language:java"],
        "license": "ELv2",
        "public": True,
        "custom": False,
        "tombstone": False,
        "spec": {"connectionSpecification": {"type": "object", "properties": {}}},
        **extra,
    }


def oss_registry():
    return {
        "destinations": [
            entry(
                "destination",
                DUCKDB,
                "DuckDB",
                "airbyte/destination-duckdb",
                "0.1.0",
                stage="alpha",
                support="community",
            ),
            entry("destination", DESTINATION_POSTGRES, "Postgres", "airbyte/destination-postgres", "2.4.7"),
            entry("destination", SNOWFLAKE, "Snowflake", "airbyte/destination-snowflake", "4.0.33"),
        ],
        "sources": [
            entry(
                "source",
                FAKER,
                "Sample Data (Faker)",
                "airbyte/source-faker",
                "6.2.20",
                stage="beta",
                support="community",
                subtype="api",
                tags=["language:python"],
            ),
            entry(
                "source", GITHUB, "GitHub", "airbyte/source-github", "3.0.0", subtype="api", tags=["language:python"]
            ),
            entry("source", SOURCE_POSTGRES, "Postgres", "airbyte/source-postgres", "3.7.0"),
        ],
    }


def cloud_registry():
    return {
        "destinations": [
            entry("destination", DESTINATION_POSTGRES, "Postgres", "airbyte/destination-postgres", "2.4.7"),
            entry("destination", SNOWFLAKE, "Snowflake", "airbyte/destination-snowflake", "4.0.31"),
        ],
        "sources": [
            entry(
                "source",
                FAKER,
                "Sample Data (Faker)",
                "airbyte/source-faker",
                "6.2.19",
                stage="beta",
                support="community",
                subtype="api",
                tags=["language:python"],
            ),
            entry("source", MYSQL, "MySQL", "airbyte/source-mysql", "3.6.1"),
            entry("source", SOURCE_POSTGRES, "Postgres", "airbyte/source-postgres", "3.7.0"),
        ],
    }


def with_hostile_source(registry):
    """A copy of `registry` with a source whose name and links try to inject markup and script."""
    registry = copy.deepcopy(registry)
    registry["sources"].append(
        entry(
            "source",
            "6f1ba4bb-44b6-4b0c-94c3-0d7c1cbb5f54",
            "<script>alert(1)</script>",
            "airbyte/source-evil",
            "0.0.1",
            stage="alpha",
            support="community",
            documentationUrl="javascript:alert(2)",
            iconUrl="javascript:alert(3)",
        )
    )
    return registry


OSS_DIFF = {
    "registry": "oss",
    "added": [
        {
            "definitionId": GITHUB,
            "name": "GitHub",
            "dockerRepository": "airbyte/source-github",
            "dockerImageTag": "3.0.0",
            "connectorType": "source",
        }
    ],
    "removed": [
        {
            "definitionId": "b6604cbd-1b12-4c08-8767-e140d0fb0877",
            "name": "Chargebee",
            "dockerRepository": "airbyte/source-chargebee",
            "dockerImageTag": "0.5.0",
            "connectorType": "source",
        }
    ],
    "changed": [
        {
            "definitionId": FAKER,
            "name": "Sample Data (Faker)",
            "dockerRepository": "airbyte/source-faker",
            "connectorType": "source",
            "from": "6.2.19",
            "to": "6.2.20",
        }
    ],
}


def to_bytes(document) -> bytes:
    return json.dumps(document, indent=2).encode("utf-8")
