"""A realistic, generated sample bucket for the embedded local deployment and the benchmark.

`generate_sample` is a pure function of its arguments: the same (connectors, versions, seed,
spec_size) always yields the same objects, byte for byte. Every choice comes from a random.Random
seeded with a string (string seeds hash with SHA-512, so PYTHONHASHSEED never changes the result).

What it models (SPEC §2, §3): sources and destinations of every connector subtype; several versions
per connector with patch/minor/major bumps, a breaking change for every major, the occasional
release candidate pinned to the last stable image through its registry overrides; the current
`registryOverrides` key and the older `registries` one; cloud overrides pointing at a
`-strict-encrypt` image; connectors disabled in cloud; icons for most connectors; and a spec cache
entry for every image a registry entry will reference, with secrets nested inside `oneOf` options.
"""

from __future__ import annotations

import json
import math
import random
import re
import uuid
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from itertools import accumulate
from typing import Any

import yaml

from orchestrator.layout import LATEST_FOLDER, RELEASE_CANDIDATE_FOLDER, registry_overrides

SPEC_SIZES = ("small", "realistic")
SAMPLE_ERAS = ("2023", "2025")
# Realistic specs land inside these bounds (bytes of spec.json); targets keep a margin from both.
REALISTIC_SPEC_BYTES = (5_000, 50_000)
_REALISTIC_TARGET = (5_600, 48_000)

JSON_SCHEMA_DRAFT = "http://json-schema.org/draft-07/schema#"
_BASE_DATE = date(2022, 3, 1)


@dataclass(frozen=True)
class SampleConnector:
    """What the sample holds for one connector; lets tests and the benchmark predict registries."""

    docker_repository: str
    connector_type: str
    connector_subtype: str
    name: str
    definition_id: str
    versions: tuple[str, ...]
    latest_version: str
    has_icon: bool
    oss_enabled: bool
    cloud_enabled: bool
    cloud_docker_repository: str
    has_cloud_spec: bool
    release_candidate: str | None = None  # the version in release_candidate/ (era 2025)
    supports_data_activation: bool = False


@dataclass(frozen=True)
class SampleBucket:
    """Objects to write: metadata-bucket paths and spec-cache-bucket paths, each to its bytes."""

    metadata_objects: dict[str, bytes]
    spec_objects: dict[str, bytes]
    connectors: tuple[SampleConnector, ...] = field(default_factory=tuple)

    @property
    def file_count(self) -> int:
        return len(self.metadata_objects) + len(self.spec_objects)

    def metadata_files(self) -> dict[str, bytes]:
        return {path: data for path, data in self.metadata_objects.items() if path.endswith("/metadata.yaml")}


# ---------------------------------------------------------------------------------------------
# Vocabulary. Invented brand words combined with generic product kinds and technology names.

_WORDS = [
    "acorn",
    "amber",
    "apex",
    "arbor",
    "atlas",
    "aurora",
    "beacon",
    "birch",
    "bolt",
    "brook",
    "cedar",
    "cinder",
    "cobalt",
    "comet",
    "coral",
    "crest",
    "delta",
    "drift",
    "ember",
    "fable",
    "fern",
    "flint",
    "forge",
    "glade",
    "granite",
    "harbor",
    "hazel",
    "helix",
    "indigo",
    "ion",
    "jade",
    "juniper",
    "kestrel",
    "lark",
    "lumen",
    "maple",
    "meadow",
    "mesa",
    "nimbus",
    "nova",
    "oak",
    "onyx",
    "orbit",
    "pine",
    "pixel",
    "prism",
    "quartz",
    "quill",
    "raven",
    "ridge",
    "river",
    "sable",
    "sage",
    "sierra",
    "slate",
    "solar",
    "spruce",
    "summit",
    "tandem",
    "tide",
    "timber",
    "umber",
    "vale",
    "vertex",
    "willow",
    "zephyr",
]

# Product kind -> streams such an API typically exposes.
_API_KINDS: dict[str, tuple[str, ...]] = {
    "crm": ("accounts", "contacts", "deals", "leads", "notes", "owners", "pipelines", "tasks", "companies"),
    "ads": ("campaigns", "ad_groups", "ads", "ad_insights", "audiences", "creatives", "keywords", "budgets"),
    "billing": ("customers", "invoices", "subscriptions", "plans", "coupons", "credit_notes", "payments"),
    "support": ("tickets", "ticket_comments", "users", "groups", "organizations", "satisfaction_ratings", "macros"),
    "mail": ("lists", "campaigns", "email_activity", "reports", "segments", "automations", "unsubscribes"),
    "calendar": ("calendars", "events", "attendees", "availability", "resources"),
    "payments": ("charges", "refunds", "disputes", "payouts", "balance_transactions", "transfers"),
    "forms": ("forms", "responses", "questions", "webhooks", "workspaces"),
    "survey": ("surveys", "survey_responses", "collectors", "survey_pages", "survey_questions"),
    "tickets": ("issues", "projects", "sprints", "boards", "issue_comments", "worklogs", "users"),
    "inventory": ("items", "locations", "stock_levels", "purchase_orders", "suppliers", "transfers"),
    "analytics": ("events", "sessions", "users", "page_views", "cohorts", "funnels", "annotations"),
    "chat": ("channels", "messages", "threads", "users", "reactions", "files"),
    "hr": ("employees", "departments", "time_off_requests", "job_titles", "locations", "compensations"),
    "commerce": ("orders", "products", "customers", "refunds", "discount_codes", "fulfillments", "carts"),
    "projects": ("projects", "tasks", "sections", "tags", "portfolios", "stories", "users"),
    "marketing": ("contacts", "lists", "email_events", "forms", "landing_pages", "workflows"),
    "recruiting": ("candidates", "applications", "jobs", "interviews", "offers", "scorecards"),
    "accounting": ("accounts", "journal_entries", "bills", "vendors", "tax_rates", "bank_transactions"),
}
_DATABASE_ENGINES = [
    "postgres",
    "mysql",
    "mssql",
    "oracle",
    "mongodb",
    "clickhouse",
    "cockroachdb",
    "mariadb",
    "db2",
    "tidb",
    "yugabytedb",
    "singlestore",
    "teradata",
    "vertica",
    "redshift",
    "snowflake",
    "bigquery",
    "databricks",
    "firebolt",
    "duckdb",
    "starrocks",
    "timescaledb",
    "cassandra",
    "scylla",
    "dynamodb",
    "couchbase",
]
_FILE_SOURCES = [
    "file",
    "s3",
    "gcs",
    "azure-blob-storage",
    "sftp",
    "sftp-bulk",
    "google-drive",
    "sharepoint",
    "onedrive",
    "ftp",
    "box",
    "dropbox",
]
_DATALAKES = ["s3-data-lake", "iceberg", "delta-lake", "gcs", "azure-blob-storage", "s3-glue", "hudi", "lakehouse"]
_VECTOR_STORES = [
    "pinecone",
    "weaviate",
    "qdrant",
    "chroma",
    "milvus",
    "pgvector",
    "astra",
    "typesense",
    "vespa",
    "lancedb",
]
_QUEUES = ["kafka", "pubsub", "kinesis", "rabbitmq", "pulsar", "redpanda", "nats", "sqs", "mqtt", "eventhubs"]
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306, "mssql": 1433, "oracle": 1521, "mongodb": 27017, "clickhouse": 8123}

_UPPER = {
    "crm": "CRM",
    "hr": "HR",
    "s3": "S3",
    "gcs": "GCS",
    "sftp": "SFTP",
    "ftp": "FTP",
    "db2": "DB2",
    "sqs": "SQS",
    "mqtt": "MQTT",
    "mssql": "MS SQL Server",
    "mysql": "MySQL",
    "pgvector": "PGVector",
    "tidb": "TiDB",
    "yugabytedb": "YugabyteDB",
    "mongodb": "MongoDB",
    "duckdb": "DuckDB",
    "bigquery": "BigQuery",
    "clickhouse": "ClickHouse",
    "cockroachdb": "CockroachDB",
    "mariadb": "MariaDB",
    "timescaledb": "TimescaleDB",
    "singlestore": "SingleStore",
    "dynamodb": "DynamoDB",
    "pubsub": "Pub/Sub",
    "rabbitmq": "RabbitMQ",
}

# (connector type, subtype) and how often each appears among the non-pinned connectors.
_CATEGORIES = (
    (("source", "api"), 55),
    (("source", "database"), 12),
    (("source", "file"), 6),
    (("source", "message_queue"), 2),
    (("destination", "database"), 10),
    (("destination", "datalake"), 4),
    (("destination", "vectorstore"), 4),
    (("destination", "message_queue"), 3),
    (("destination", "api"), 4),
)
# The first connectors are pinned so that even a small sample shows every notable feature.
_PINNED: tuple[dict[str, Any], ...] = (
    {
        "category": ("source", "api"),
        "support": "certified",
        "cloud_spec": True,
        "icon": True,
        "style": "registryOverrides",
    },
    {
        "category": ("source", "database"),
        "support": "certified",
        "strict": True,
        "rc": True,
        "style": "registryOverrides",
    },
    {"category": ("destination", "database"), "cloud_enabled": False, "style": "registries"},
    {"category": ("source", "api"), "support": "community", "icon": False, "language": "manifest-only"},
    {"category": ("destination", "vectorstore"), "support": "community"},
    {"category": ("source", "file"), "support": "certified", "style": "migrated"},
    {"category": ("destination", "database"), "support": "certified", "strict": True, "normalization": True},
)

_METRIC_PARTS = [
    "account",
    "ad",
    "adset",
    "app",
    "audience",
    "browser",
    "campaign",
    "channel",
    "click",
    "content",
    "conversion",
    "cost",
    "country",
    "creative",
    "device",
    "event",
    "impression",
    "keyword",
    "landing",
    "lead",
    "order",
    "page",
    "placement",
    "product",
    "region",
    "revenue",
    "search",
    "session",
    "social",
    "user",
    "video",
]
_METRIC_MIDDLE = [
    "daily",
    "weekly",
    "unique",
    "total",
    "paid",
    "organic",
    "mobile",
    "desktop",
    "first",
    "last",
    "average",
    "median",
    "new",
    "returning",
    "view",
]
_METRIC_SUFFIX = [
    "id",
    "name",
    "count",
    "rate",
    "value",
    "share",
    "cost_per",
    "ratio",
    "duration",
    "status",
    "type",
    "date",
    "score",
    "spend",
    "percent",
]

_SENTENCES = (
    "Leave it empty to use the default behaviour of the connector.",
    "See the connector documentation for the permissions this requires.",
    "Values are validated when the connection is checked, not when the form is saved.",
    "Changing this setting after the first sync requires a reset of the affected streams.",
    "Larger values make syncs faster but use more memory on the worker.",
    "This applies to incremental streams only; full refresh streams ignore it.",
    "Use a dedicated read-only user so that the connector can never modify data.",
    "When several values are given they are combined with a logical OR.",
)


# ---------------------------------------------------------------------------------------------
# Small JSON-schema builders for connector specs.


def _prop(kind: str, title: str, description: str, order: int | None = None, **extra: Any) -> dict:
    schema: dict[str, Any] = {"type": kind, "title": title, "description": description}
    if order is not None:
        schema["order"] = order
    schema.update(extra)
    return schema


def _secret(title: str, description: str, order: int | None = None, **extra: Any) -> dict:
    return _prop("string", title, description, order, airbyte_secret=True, **extra)


def _option(
    title: str, discriminator: str, value: str, properties: dict, required: tuple = (), description: str = ""
) -> dict:
    """One `oneOf` branch: an object told apart from its siblings by a constant discriminator."""
    props = {discriminator: {"type": "string", "const": value, "order": 0}}
    props.update(properties)
    option = {"title": title, "type": "object", "required": [discriminator, *required], "properties": props}
    if description:
        option["description"] = description
    return option


def _one_of(title: str, description: str, order: int, options: list[dict]) -> dict:
    return {"type": "object", "title": title, "description": description, "order": order, "oneOf": options}


def _ssl_modes(strict: bool) -> dict:
    verify_ca = {
        "ca_certificate": _secret("CA certificate", "PEM certificate of the certificate authority.", 1, multiline=True),
        "client_certificate": _prop(
            "string", "Client certificate", "PEM client certificate (optional).", 2, multiline=True
        ),
        "client_key": _secret("Client key", "PEM client key (optional).", 3, multiline=True),
        "client_key_password": _secret(
            "Client key password", "Password of the client key; generated when left empty.", 4
        ),
    }
    options = [
        _option("disable", "mode", "disable", {}, description="Never use TLS."),
        _option("allow", "mode", "allow", {}, description="Use TLS only when the server insists."),
        _option("prefer", "mode", "prefer", {}, description="Try TLS first and fall back to plain text."),
        _option("require", "mode", "require", {}, description="Always use TLS; do not verify the certificate."),
        _option(
            "verify-ca",
            "mode",
            "verify-ca",
            verify_ca,
            ("ca_certificate",),
            "Use TLS and verify the server certificate.",
        ),
        _option(
            "verify-full",
            "mode",
            "verify-full",
            dict(verify_ca),
            ("ca_certificate",),
            "Verify the certificate and the host name.",
        ),
    ]
    if strict:  # the strict-encrypt image refuses plain-text connections
        options = options[3:]
    return _one_of("SSL modes", "How the connection to the server is encrypted.", 8, options)


def _tunnel(strict: bool) -> dict:
    host = {
        "tunnel_host": _prop("string", "SSH tunnel jump server host", "Host name of the bastion.", 1),
        "tunnel_port": _prop(
            "integer", "SSH connection port", "Port of the bastion.", 2, default=22, minimum=0, maximum=65536
        ),
        "tunnel_user": _prop("string", "SSH login username", "OS-level user on the bastion.", 3),
    }
    options = [
        _option("No tunnel", "tunnel_method", "NO_TUNNEL", {}, description="Connect directly."),
        _option(
            "SSH key authentication",
            "tunnel_method",
            "SSH_KEY_AUTH",
            {**host, "ssh_key": _secret("SSH private key", "OpenSSH private key (RSA or ED25519).", 4, multiline=True)},
            ("tunnel_host", "tunnel_port", "tunnel_user", "ssh_key"),
        ),
        _option(
            "Password authentication",
            "tunnel_method",
            "SSH_PASSWORD_AUTH",
            {**host, "tunnel_user_password": _secret("Password", "Password of the bastion user.", 4)},
            ("tunnel_host", "tunnel_port", "tunnel_user", "tunnel_user_password"),
        ),
    ]
    if strict:
        options = options[1:]
    return _one_of("SSH tunnel method", "Whether to reach the database through an SSH bastion.", 9, options)


def _storage_options() -> dict:
    return _one_of(
        "Storage",
        "Where the files live.",
        1,
        [
            _option(
                "Amazon S3",
                "storage",
                "S3",
                {
                    "bucket": _prop("string", "Bucket", "Name of the S3 bucket.", 1),
                    "region": _prop(
                        "string", "Region", "AWS region of the bucket.", 2, examples=["us-east-1", "eu-west-1"]
                    ),
                    "aws_access_key_id": _secret("Access key ID", "Key of an IAM user with read access.", 3),
                    "aws_secret_access_key": _secret("Secret access key", "Secret of that IAM user.", 4),
                    "role_arn": _prop("string", "Role ARN", "Role to assume instead of keys.", 5),
                },
                ("bucket",),
            ),
            _option(
                "Google Cloud Storage",
                "storage",
                "GCS",
                {
                    "bucket": _prop("string", "Bucket", "Name of the GCS bucket.", 1),
                    "service_account_json": _secret(
                        "Service account JSON", "Key of a service account.", 2, multiline=True
                    ),
                },
                ("bucket", "service_account_json"),
            ),
            _option(
                "Azure Blob Storage",
                "storage",
                "AzBlob",
                {
                    "storage_account_name": _prop("string", "Storage account", "Name of the storage account.", 1),
                    "storage_account_key": _secret("Account key", "Access key of the storage account.", 2),
                    "container_name": _prop("string", "Container", "Blob container.", 3),
                },
                ("storage_account_name", "container_name"),
            ),
            _option(
                "SFTP",
                "storage",
                "SFTP",
                {
                    "host": _prop("string", "Host", "Server name.", 1),
                    "port": _prop("integer", "Port", "Server port.", 2, default=22),
                    "user": _prop("string", "User", "Login name.", 3),
                    "password": _secret("Password", "Login password.", 4),
                },
                ("host", "user"),
            ),
            _option(
                "Public HTTPS",
                "storage",
                "HTTPS",
                {
                    "user_agent": _prop(
                        "boolean", "Send user agent", "Some servers require a user agent.", 1, default=False
                    ),
                },
            ),
        ],
    )


def _file_formats() -> dict:
    return _one_of(
        "Format",
        "How each file is parsed.",
        3,
        [
            _option(
                "CSV",
                "filetype",
                "csv",
                {
                    "delimiter": _prop("string", "Delimiter", "Column separator; \\t for tab.", 1, default=","),
                    "quote_char": _prop("string", "Quote character", "Character that quotes values.", 2, default='"'),
                    "header_definition": _prop(
                        "string",
                        "Header",
                        "Where column names come from.",
                        3,
                        enum=["From CSV", "Autogenerated", "User Provided"],
                        default="From CSV",
                    ),
                },
            ),
            _option("JSON Lines", "filetype", "jsonl", {}),
            _option(
                "Parquet",
                "filetype",
                "parquet",
                {
                    "decimal_as_float": _prop("boolean", "Decimals as floats", "Lossy but faster.", 1, default=False),
                },
            ),
            _option("Avro", "filetype", "avro", {}),
        ],
    )


# Options that appear one by one as a connector gains versions, so specs change between versions.
_EVOLVING_OPTIONS = (
    (
        "request_timeout_seconds",
        _prop("integer", "Request timeout", "Seconds before a request is abandoned.", default=60, minimum=1),
    ),
    (
        "max_retries",
        _prop("integer", "Maximum retries", "Retries of a failed request before the sync fails.", default=5, minimum=0),
    ),
    (
        "num_workers",
        _prop("integer", "Number of workers", "Parallel workers fetching data.", default=3, minimum=1, maximum=40),
    ),
    ("page_size", _prop("integer", "Page size", "Records requested per page.", default=100, minimum=1, maximum=10000)),
    (
        "log_level",
        _prop(
            "string",
            "Log level",
            "Verbosity of the connector logs.",
            enum=["debug", "info", "warning", "error"],
            default="info",
        ),
    ),
    ("fetch_deleted", _prop("boolean", "Include deleted records", "Also read soft-deleted records.", default=False)),
)


@dataclass
class _Profile:
    """Every per-connector choice, drawn once, so all its versions stay consistent."""

    index: int
    connector_type: str
    subtype: str
    slug: str
    name: str
    definition_id: str
    support: str
    language: str
    has_icon: bool
    oss_enabled: bool
    cloud_enabled: bool
    strict: bool
    cloud_spec: bool
    style: str  # registryOverrides | registries | migrated
    normalization: bool
    streams: tuple[str, ...]
    suggested: tuple[str, ...]
    versions: tuple[str, ...]
    spec_target: int
    color: str
    flags: dict[str, Any]

    @property
    def repository(self) -> str:
        return f"airbyte/{self.connector_type}-{self.slug}"

    @property
    def cloud_repository(self) -> str:
        return f"{self.repository}-strict-encrypt" if self.strict else self.repository

    @property
    def docs_url(self) -> str:
        return f"https://docs.airbyte.com/integrations/{self.connector_type}s/{self.slug}"


def _display_name(slug: str) -> str:
    return " ".join(_UPPER.get(part, part.capitalize()) for part in slug.split("-"))


def _name_pools(seed: int) -> dict[str, list[str]]:
    """Per subtype, a seeded order of slugs; generic technology names first, then invented ones."""
    rng = random.Random(f"{seed}/names")

    def shuffled(items: list[str]) -> list[str]:
        items = list(items)
        rng.shuffle(items)
        return items

    api = shuffled([f"{word}-{kind}" for word in _WORDS for kind in _API_KINDS])

    def technology(base: list[str]) -> list[str]:
        return shuffled(base) + shuffled([f"{word}-{tech}" for word in _WORDS for tech in base])

    return {
        "api": api,
        "database": technology(_DATABASE_ENGINES),
        "file": technology(_FILE_SOURCES),
        "datalake": technology(_DATALAKES),
        "vectorstore": technology(_VECTOR_STORES),
        "message_queue": technology(_QUEUES),
    }


def _pick_slug(
    pools: dict[str, list[str]], cursors: dict[str, int], connector_type: str, subtype: str, used: set[str]
) -> str:
    pool = pools[subtype]
    while True:
        position = cursors.get(subtype, 0)
        cursors[subtype] = position + 1
        slug = pool[position % len(pool)]
        if position >= len(pool):  # only past ~1,300 connectors of one subtype
            slug = f"{slug}-{position // len(pool) + 1}"
        if f"{connector_type}-{slug}" not in used:
            used.add(f"{connector_type}-{slug}")
            return slug


def _version_history(rng: random.Random, count: int, with_rc: bool) -> tuple[str, ...]:
    major = rng.choice((0, 0, 0, 1, 1, 2, 3, 4))
    minor = rng.randrange(1 if major == 0 else 0, 12)
    patch = rng.randrange(0, 25)
    versions = [f"{major}.{minor}.{patch}"]
    stable_count = count - 1 if with_rc else count
    while len(versions) < stable_count:
        roll = rng.random()
        if roll < 0.1:
            major, minor, patch = major + 1, 0, 0
        elif roll < 0.35:
            minor, patch = minor + 1, 0
        else:
            patch += 1
        versions.append(f"{major}.{minor}.{patch}")
    if with_rc:  # a release candidate of the next patch, never a major (its breaking change would be "newer")
        versions.append(f"{major}.{minor}.{patch + 1}-rc.{rng.randint(1, 3)}")
    return tuple(versions)


def _profile(index: int, seed: int, versions: int, pools: dict, cursors: dict, used: set) -> _Profile:
    rng = random.Random(f"{seed}/connector/{index}")
    pinned = _PINNED[index] if index < len(_PINNED) else {}
    if "category" in pinned:
        connector_type, subtype = pinned["category"]
    else:
        categories, weights = zip(*_CATEGORIES, strict=False)
        connector_type, subtype = rng.choices(categories, weights=weights)[0]
    slug = _pick_slug(pools, cursors, connector_type, subtype, used)
    support = pinned.get("support") or ("certified" if rng.random() < 0.3 else "community")

    if "language" in pinned:
        language = pinned["language"]
    elif connector_type == "source" and subtype == "api":
        language = rng.choices(("manifest-only", "python", "java"), weights=(50, 42, 8))[0]
    elif subtype in ("database", "message_queue"):
        language = "java"
    else:
        language = rng.choice(("python", "java"))

    is_database = subtype == "database"
    streams: tuple[str, ...] = ()
    suggested: tuple[str, ...] = ()
    if subtype == "api":
        kind = slug.rsplit("-", 1)[-1] if slug.rsplit("-", 1)[-1] in _API_KINDS else rng.choice(sorted(_API_KINDS))
        streams = _API_KINDS[kind]
        suggested = tuple(sorted(rng.sample(streams, rng.randint(2, min(6, len(streams))))))

    cloud_enabled = pinned.get("cloud_enabled", rng.random() > 0.08)
    with_rc = versions >= 2 and pinned.get("rc", rng.random() < 0.08)
    low, high = _REALISTIC_TARGET
    return _Profile(
        index=index,
        connector_type=connector_type,
        subtype=subtype,
        slug=slug,
        name=_display_name(slug),
        definition_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        support=support,
        language=language,
        has_icon=pinned.get("icon", rng.random() < 0.85),
        oss_enabled=True,
        cloud_enabled=cloud_enabled,
        strict=pinned.get("strict", is_database and rng.random() < 0.3) and cloud_enabled,
        cloud_spec=pinned.get("cloud_spec", subtype == "api" and rng.random() < 0.15),
        style=pinned.get("style")
        or rng.choices(("registryOverrides", "registries", "migrated"), weights=(60, 25, 15))[0],
        normalization=pinned.get(
            "normalization", connector_type == "destination" and is_database and rng.random() < 0.35
        ),
        streams=streams,
        suggested=suggested,
        versions=_version_history(rng, versions, with_rc),
        # log-uniform: many mid-sized specs, a few large ones, as in the real spec cache
        spec_target=int(math.exp(rng.uniform(math.log(low), math.log(high)))),
        color=f"#{rng.randrange(0x202020, 0xE0E0E0):06x}",
        flags={
            "allowed_hosts": rng.random() < 0.8,
            "suggested_streams": subtype == "api" and rng.random() < 0.85,
            "resources": rng.choice((None, None, "sync_memory", "default_cpu")),
            "max_seconds": rng.choice((None, 3600, 7200, 86400)) if connector_type == "source" else None,
            "release_date": rng.random() < 0.4,
            "protocol": rng.random() < 0.3,
            "erd": subtype == "api" and rng.random() < 0.2,
            "pypi": language == "python" and connector_type == "source" and rng.random() < 0.6,
            "migration_url": rng.random() < 0.4,
            "rollout": rng.random() < 0.3,
            "refreshes": connector_type == "destination" or rng.random() < 0.2,
            "file_transfer": subtype == "file" and rng.random() < 0.5,
            "external_docs": rng.random() < 0.35,
            "test_suites": rng.random() < 0.5,
            "keyword": rng.random() < 0.3,
            "cloud_resources": rng.random() < 0.15,
            "migrate_at": rng.randint(1, max(1, versions - 1)),
            "build_digest": rng.getrandbits(256),
            "test_connection_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        },
    )


# ---------------------------------------------------------------------------------------------
# Metadata files.


def _parse(tag: str) -> tuple[int, int, int]:
    major, minor, patch = tag.split("-", 1)[0].split(".")
    return int(major), int(minor), int(patch)


def _breaking_changes(profile: _Profile, seed: int, tag: str) -> dict:
    """Entries for the last (up to three) majors up to this tag: every N.0.0 (N >= 1) has its own."""
    current_major = _parse(tag)[0]
    changes = {}
    for major in range(max(1, current_major - 2), current_major + 1):
        version = f"{major}.0.0"
        rng = random.Random(f"{seed}/breaking/{profile.index}/{major}")  # same entry in every later version
        if profile.streams and rng.random() < 0.5:
            impacted = sorted(rng.sample(profile.streams, rng.randint(1, min(3, len(profile.streams)))))
            entry: dict[str, Any] = {
                "message": f"The primary key of {', '.join(impacted)} changes; "
                f"reset {'this stream' if len(impacted) == 1 else 'these streams'} after upgrading.",
                "scopedImpact": [{"scopeType": "stream", "impactedScopes": impacted}],
            }
        else:
            entry = {
                "message": rng.choice(
                    (
                        "Configuration options were renamed; review the connection settings after upgrading.",
                        "Column types change from string to integer; downstream models may need an update.",
                        "Authentication moves to OAuth 2.0; re-authenticate the connection after upgrading.",
                        "Raw tables move to a dedicated schema; grant the connector permission to create it.",
                    )
                )
            }
        entry["upgradeDeadline"] = (_BASE_DATE + timedelta(days=120 * major + rng.randint(0, 60))).isoformat()
        if rng.random() < 0.3:
            entry["migrationDocumentationUrl"] = f"{profile.docs_url}-migrations#{version}"
        if rng.random() < 0.15:
            entry["deadlineAction"] = "auto_upgrade"
        changes[version] = entry
    return changes


def _overrides(profile: _Profile, pinned_tag: str | None) -> dict:
    oss: dict[str, Any] = {"enabled": profile.oss_enabled}
    cloud: dict[str, Any] = {"enabled": profile.cloud_enabled}
    if profile.cloud_enabled and profile.strict:
        cloud["dockerRepository"] = profile.cloud_repository
    if pinned_tag:  # a release candidate keeps both registries on the last stable image
        oss["dockerImageTag"] = pinned_tag
        cloud["dockerImageTag"] = pinned_tag
    if profile.cloud_enabled and profile.flags["cloud_resources"]:
        cloud["resourceRequirements"] = {
            "jobSpecific": [
                {"jobType": "sync", "resourceRequirements": {"memory_limit": "4Gi", "memory_request": "2Gi"}}
            ]
        }
    return {"cloud": cloud, "oss": oss}


def _allowed_hosts(profile: _Profile) -> list[str]:
    if profile.subtype == "database":
        return ["${host}", "${tunnel_method.tunnel_host}"]
    if profile.subtype == "api":
        return [f"api.{profile.slug.replace('-', '')}.com", f"*.{profile.slug.replace('-', '')}.io"]
    if profile.subtype == "vectorstore":
        return ["api.openai.com", "api.cohere.ai", "${indexing.host}"]
    return ["*"]


def _tags(profile: _Profile) -> list[str]:
    tags = [f"language:{profile.language}"]
    cdk = {"manifest-only": "low-code", "python": "python", "java": "java"}[profile.language]
    tags.append(f"cdk:{cdk}")
    if profile.flags["keyword"]:
        tags.append(f"keyword:{profile.subtype}")
    return tags


def _build_image(profile: _Profile, ordinal: int) -> str:
    base = {
        "manifest-only": "source-declarative-manifest",
        "python": "python-connector-base",
        "java": "java-connector-base",
    }[profile.language]
    digest = f"{(profile.flags['build_digest'] + ordinal):064x}"[-64:]
    return f"docker.io/airbyte/{base}:{2 + ordinal // 3}.{ordinal % 3}.0@sha256:{digest}"


def _supports_data_activation(profile: _Profile, seed: int) -> bool:
    """Era 2025: about a third of the destinations, from a random stream of its own."""
    if profile.connector_type != "destination":
        return False
    return profile.index == 2 or random.Random(f"{seed}/data-activation/{profile.index}").random() < 0.3


def _rollout_configuration(profile: _Profile, seed: int) -> dict:
    """Era 2025: a release candidate's progressive rollout, some values left to the registry's defaults."""
    rng = random.Random(f"{seed}/rollout/{profile.index}")
    rollout: dict[str, Any] = {"enableProgressiveRollout": True}
    if rng.random() < 0.5:
        rollout["initialPercentage"] = rng.choice((5, 10, 25))
    if rng.random() < 0.5:
        rollout["maxPercentage"] = rng.choice((25, 50, 100))
    if rng.random() < 0.3:
        rollout["advanceDelayMinutes"] = rng.choice((30, 60, 120))
    return rollout


def _metadata_document(profile: _Profile, seed: int, ordinal: int, era: str = "2023") -> dict:
    tag = profile.versions[ordinal]
    candidate = "-rc." in tag
    # The seed's release candidates kept both registries on the last stable image; today's run their own.
    pinned_tag = profile.versions[ordinal - 1] if candidate and era == "2023" else None
    flags = profile.flags
    data: dict[str, Any] = {
        "ab_internal": {
            "sl": 300 if profile.support == "certified" else 100,
            "ql": 400 if profile.support == "certified" else 200,
        },
        "connectorBuildOptions": {"baseImage": _build_image(profile, ordinal)},
        "connectorSubtype": profile.subtype,
        "connectorType": profile.connector_type,
        "definitionId": profile.definition_id,
        "dockerImageTag": tag,
        "dockerRepository": profile.repository,
        "documentationUrl": profile.docs_url,
        "githubIssueLabel": f"{profile.connector_type}-{profile.slug}",
        "license": "ELv2" if profile.support == "certified" else "MIT",
        "name": profile.name,
        "releaseStage": ("generally_available" if profile.support == "certified" else "beta")
        if _parse(tag)[0] >= 1
        else "alpha",
        "supportLevel": profile.support,
        "tags": _tags(profile),
    }
    if profile.has_icon:
        data["icon"] = f"{profile.slug}.svg"
    if flags["allowed_hosts"]:
        data["allowedHosts"] = {"hosts": _allowed_hosts(profile)}
    if flags["suggested_streams"]:
        data["suggestedStreams"] = {"streams": list(profile.suggested)}
    if flags["resources"] == "sync_memory":
        data["resourceRequirements"] = {
            "jobSpecific": [
                {"jobType": "sync", "resourceRequirements": {"memory_limit": "2Gi", "memory_request": "1Gi"}}
            ]
        }
    elif flags["resources"] == "default_cpu":
        data["resourceRequirements"] = {"default": {"cpu_request": "0.5", "cpu_limit": "2"}}
    if flags["max_seconds"]:
        data["maxSecondsBetweenMessages"] = flags["max_seconds"]
    if flags["release_date"]:
        data["releaseDate"] = (_BASE_DATE + timedelta(days=7 * profile.index % 700)).isoformat()
    if flags["protocol"]:
        data["protocolVersion"] = "0.2.0"
    if flags["erd"]:
        data["erdUrl"] = f"https://dbdocs.io/airbyteio/{profile.connector_type}-{profile.slug}?view=relationships"
    if flags["pypi"]:
        data["remoteRegistries"] = {
            "pypi": {"enabled": True, "packageName": f"airbyte-{profile.connector_type}-{profile.slug}"}
        }
    if flags["refreshes"]:
        data["supportsRefreshes"] = True
    if flags["file_transfer"]:
        data["supportsFileTransfer"] = True
    if profile.connector_type == "destination":
        data["supportsDbt"] = profile.normalization
    if era == "2025" and _supports_data_activation(profile, seed):
        data["supportsDataActivation"] = True
    if profile.normalization:
        engine = profile.slug.rsplit("-", 1)[-1]
        data["supportsNormalization"] = True
        data["normalizationConfig"] = {
            "normalizationRepository": f"airbyte/normalization-{engine}",
            "normalizationTag": "0.4.3",
            "normalizationIntegrationType": engine,
        }
    if flags["external_docs"]:
        data["externalDocumentationUrls"] = [
            {
                "title": "API reference",
                "url": f"https://developers.{profile.slug.replace('-', '')}.com/reference",
                "type": "api_reference",
            },
            {
                "title": "Changelog",
                "url": f"https://developers.{profile.slug.replace('-', '')}.com/changelog",
                "type": "api_release_history",
            },
        ]
    if flags["test_suites"]:
        secret_name = f"SECRET_{profile.connector_type.upper()}-{profile.slug.upper()}__CREDS"
        data["connectorTestSuitesOptions"] = [
            {"suite": "unitTests"},
            {
                "suite": "integrationTests" if profile.language == "java" else "acceptanceTests",
                "testSecrets": [
                    {
                        "name": secret_name,
                        "fileName": "config.json",
                        "secretStore": {"type": "GSM", "alias": "airbyte-connector-testing-secret-store"},
                    }
                ],
            },
        ]

    releases: dict[str, Any] = {}
    breaking = _breaking_changes(profile, seed, tag)
    if breaking:
        releases["breakingChanges"] = breaking
        if flags["migration_url"]:
            releases["migrationDocumentationUrl"] = f"{profile.docs_url}-migrations"
    if era == "2025" and candidate:
        releases["rolloutConfiguration"] = _rollout_configuration(profile, seed)
        releases["isReleaseCandidate"] = True
    elif pinned_tag or flags["rollout"]:
        releases["rolloutConfiguration"] = {"enableProgressiveRollout": bool(pinned_tag)}
    if releases:
        data["releases"] = releases

    overrides_key = profile.style
    if profile.style == "migrated":  # older versions still use the old key name
        overrides_key = "registries" if ordinal < flags["migrate_at"] else "registryOverrides"
    data[overrides_key] = _overrides(profile, pinned_tag)
    # Today's files write the version unquoted: a YAML float, read as "1.0" (SPEC §3.1).
    return {"data": data, "metadataSpecVersion": 1.0 if era == "2025" else "1.0"}


# Plain (unquoted) YAML scalars: a conservative character set, and nothing YAML would read as
# another type (numbers, booleans, dates, null) or as an indicator (": ", " #", a leading "*").
_PLAIN = re.compile(r"^[A-Za-z0-9_$/][A-Za-z0-9 _./@:${}+,()'-]*$")
_RESOLVER = yaml.resolver.Resolver()


@lru_cache(maxsize=65536)
def _yaml_string(text: str) -> str:
    if (
        _PLAIN.match(text)
        and ": " not in text
        and not text.endswith((" ", ":"))
        and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"
    ):
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid double-quoted YAML scalar


def _yaml_inline(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _yaml_string(str(value))


def _emit_yaml(value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key in sorted(value):
            item = value[key]
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{_yaml_string(str(key))}:")
                _emit_yaml(item, indent + 2, lines)
            else:
                lines.append(f"{pad}{_yaml_string(str(key))}: {_yaml_inline(item)}")
        return
    for item in value:
        if isinstance(item, dict) and item:
            nested: list[str] = []
            _emit_yaml(item, indent + 2, nested)
            nested[0] = f"{pad}- {nested[0][indent + 2 :]}"  # the first key shares the dash's line
            lines.extend(nested)
        elif isinstance(item, list) and item:
            lines.append(f"{pad}-")
            _emit_yaml(item, indent + 2, lines)
        else:
            lines.append(f"{pad}- {_yaml_inline(item)}")


def _dump_yaml(document: dict) -> bytes:
    """Block-style YAML laid out like the real files (keys sorted, list items indented). A small
    emitter of our own: PyYAML's Python-level representer dominated generation time."""
    lines: list[str] = []
    _emit_yaml(document, 0, lines)
    return ("\n".join(lines) + "\n").encode("utf-8")


def _icon(profile: _Profile) -> bytes:
    initials = "".join(part[0] for part in profile.slug.split("-")[:2]).upper()
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="250" height="250" viewBox="0 0 64 64">'
        f'<rect width="64" height="64" rx="12" fill="{profile.color}"/>'
        '<text x="32" y="41" font-family="Helvetica, Arial, sans-serif" font-size="24" font-weight="bold" '
        f'text-anchor="middle" fill="#ffffff">{initials}</text></svg>\n'
    ).encode()


# ---------------------------------------------------------------------------------------------
# Connection specs.


def _source_api_properties(profile: _Profile, variant: str) -> tuple[dict, list[str]]:
    oauth = _option(
        "OAuth2.0",
        "auth_type",
        "oauth2.0",
        {
            "client_id": _secret("Client ID", "Client ID of your developer application.", 1),
            "client_secret": _secret("Client secret", "Client secret of your developer application.", 2),
            "refresh_token": _secret("Refresh token", "Token used to obtain new access tokens.", 3),
            "access_token": _secret("Access token", "Short-lived token; refreshed automatically.", 4),
        },
        ("client_id", "client_secret", "refresh_token"),
    )
    api_key = _option(
        "API key",
        "auth_type",
        "api_key",
        {
            "api_key": _secret("API key", f"Key generated in the {profile.name} settings.", 1),
        },
        ("api_key",),
    )
    # The cloud spec offers OAuth only: cloud users authenticate through the hosted flow.
    options = [oauth] if variant == "cloud" else [oauth, api_key]
    properties = {
        "credentials": _one_of("Authentication", "How the connector authenticates.", 0, options),
        "start_date": _prop(
            "string",
            "Start date",
            "Records created before this date are not replicated.",
            1,
            format="date-time",
            pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
            examples=["2023-01-01T00:00:00Z"],
        ),
        "lookback_window_days": _prop(
            "integer",
            "Lookback window (days)",
            "Re-read this many days on each incremental sync.",
            2,
            default=0,
            minimum=0,
            maximum=60,
        ),
        "streams_filter": _prop(
            "array",
            "Streams",
            "Limit the sync to these streams.",
            3,
            items={"type": "string", "enum": list(profile.streams)},
        ),
    }
    return properties, ["credentials", "start_date"]


def _database_properties(profile: _Profile, variant: str) -> tuple[dict, list[str]]:
    engine = profile.slug.rsplit("-", 1)[-1]
    strict = variant in ("strict", "cloud")
    properties = {
        "host": _prop("string", "Host", "Host name of the database.", 0),
        "port": _prop(
            "integer",
            "Port",
            "Port of the database.",
            1,
            default=_DEFAULT_PORTS.get(engine, 5432),
            minimum=0,
            maximum=65536,
        ),
        "database": _prop("string", "Database", "Name of the database.", 2),
        "schemas": _prop(
            "array", "Schemas", "Schemas to replicate; all when empty.", 3, items={"type": "string"}, uniqueItems=True
        ),
        "username": _prop("string", "User", "User name with read access.", 4),
        "password": _secret("Password", "Password of that user.", 5),
        "jdbc_url_params": _prop("string", "JDBC URL parameters", "Extra key=value pairs joined with '&'.", 6),
        "ssl_mode": _ssl_modes(strict),
        "tunnel_method": _tunnel(strict),
    }
    if profile.connector_type == "source":
        properties["replication_method"] = _one_of(
            "Update method",
            "How changed rows are detected.",
            7,
            [
                _option("Read changes using a cursor", "method", "Standard", {}),
                _option(
                    "Change data capture",
                    "method",
                    "CDC",
                    {
                        "replication_slot": _prop("string", "Replication slot", "Logical replication slot.", 1),
                        "publication": _prop("string", "Publication", "Publication of the replicated tables.", 2),
                        "initial_waiting_seconds": _prop(
                            "integer",
                            "Initial waiting time",
                            "Seconds to wait for the first change.",
                            3,
                            default=300,
                            minimum=120,
                            maximum=1200,
                        ),
                    },
                    ("replication_slot", "publication"),
                ),
            ],
        )
    else:
        properties["raw_data_schema"] = _prop("string", "Raw table schema", "Schema of the raw tables.", 10)
        properties["disable_type_dedupe"] = _prop(
            "boolean", "Disable final tables", "Write raw tables only.", 11, default=False
        )
        properties["loading_method"] = _one_of(
            "Loading method",
            "How records reach the database.",
            12,
            [
                _option("Standard inserts", "method", "Standard", {}),
                _option(
                    "S3 staging",
                    "method",
                    "S3 Staging",
                    {
                        "s3_bucket_name": _prop("string", "S3 bucket", "Staging bucket.", 1),
                        "s3_bucket_region": _prop(
                            "string", "S3 bucket region", "Region of the staging bucket.", 2, default=""
                        ),
                        "access_key_id": _secret("Access key ID", "Key with write access to the bucket.", 3),
                        "secret_access_key": _secret("Secret access key", "Secret of that key.", 4),
                    },
                    ("s3_bucket_name", "access_key_id", "secret_access_key"),
                ),
            ],
        )
    return properties, ["host", "port", "database", "username"]


def _file_properties(profile: _Profile, variant: str) -> tuple[dict, list[str]]:
    properties = {
        "provider": _storage_options(),
        "streams": _prop(
            "array",
            "Streams",
            "Each stream reads the files matching its globs.",
            2,
            items={
                "type": "object",
                "required": ["name", "format"],
                "properties": {
                    "name": _prop("string", "Name", "Name of the stream.", 0),
                    "globs": _prop(
                        "array", "Globs", "Patterns of the files to read.", 1, items={"type": "string"}, default=["**"]
                    ),
                    "format": _file_formats(),
                    "days_to_sync_if_history_is_full": _prop(
                        "integer", "Days to sync", "When the file history is full.", 4, default=3
                    ),
                },
            },
        ),
    }
    if profile.connector_type == "destination":
        properties["catalog"] = _one_of(
            "Catalog",
            "Where table metadata is kept.",
            4,
            [
                _option(
                    "AWS Glue",
                    "catalog_type",
                    "GLUE",
                    {"role_arn": _prop("string", "Role ARN", "Role with Glue access.", 1)},
                ),
                _option(
                    "Nessie",
                    "catalog_type",
                    "NESSIE",
                    {
                        "server_uri": _prop("string", "Server URI", "Nessie endpoint.", 1),
                        "access_token": _secret("Access token", "Bearer token for Nessie.", 2),
                    },
                    ("server_uri",),
                ),
                _option(
                    "REST",
                    "catalog_type",
                    "REST",
                    {
                        "server_uri": _prop("string", "Server URI", "REST catalog endpoint.", 1),
                        "credential": _secret("Credential", "client_id:client_secret for the catalog.", 2),
                    },
                    ("server_uri",),
                ),
            ],
        )
    return properties, ["provider", "streams"]


def _vectorstore_properties(profile: _Profile, variant: str) -> tuple[dict, list[str]]:
    properties = {
        "embedding": _one_of(
            "Embedding",
            "Model that turns text into vectors.",
            0,
            [
                _option(
                    "OpenAI",
                    "mode",
                    "openai",
                    {"openai_key": _secret("OpenAI API key", "Key of your OpenAI account.", 1)},
                    ("openai_key",),
                ),
                _option(
                    "Cohere",
                    "mode",
                    "cohere",
                    {"cohere_key": _secret("Cohere API key", "Key of your Cohere account.", 1)},
                    ("cohere_key",),
                ),
                _option(
                    "Azure OpenAI",
                    "mode",
                    "azure_openai",
                    {
                        "openai_key": _secret("Azure OpenAI key", "Key of the Azure resource.", 1),
                        "api_base": _prop("string", "Resource base URL", "https://<resource>.openai.azure.com", 2),
                        "deployment": _prop("string", "Deployment", "Name of the embedding deployment.", 3),
                    },
                    ("openai_key", "api_base", "deployment"),
                ),
                _option("Fake", "mode", "fake", {}, description="Random vectors, for testing pipelines."),
            ],
        ),
        "processing": _prop(
            "object",
            "Processing",
            "How records are split into chunks.",
            1,
            required=["chunk_size"],
            properties={
                "chunk_size": _prop("integer", "Chunk size", "Tokens per chunk.", 0, minimum=1, maximum=8191),
                "chunk_overlap": _prop(
                    "integer", "Chunk overlap", "Tokens shared by neighbouring chunks.", 1, default=0
                ),
                "text_fields": _prop(
                    "array", "Text fields", "Fields embedded as text.", 2, items={"type": "string"}, default=[]
                ),
                "metadata_fields": _prop(
                    "array",
                    "Metadata fields",
                    "Fields stored next to the vector.",
                    3,
                    items={"type": "string"},
                    default=[],
                ),
            },
        ),
        "indexing": _prop(
            "object",
            "Indexing",
            "The vector store.",
            2,
            required=["host", "index"],
            properties={
                "host": _prop("string", "Host", "Endpoint of the vector store.", 0),
                "index": _prop("string", "Index", "Index or collection to write to.", 1),
                "api_key": _secret("API key", "Key of the vector store.", 2),
            },
        ),
    }
    return properties, ["embedding", "processing", "indexing"]


def _queue_properties(profile: _Profile, variant: str) -> tuple[dict, list[str]]:
    sasl = {
        "sasl_mechanism": _prop(
            "string",
            "SASL mechanism",
            "Mechanism used by the client.",
            1,
            enum=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
        ),
        "sasl_jaas_config": _secret("SASL JAAS config", "JAAS login module configuration.", 2),
    }
    properties = {
        "bootstrap_servers": _prop("string", "Bootstrap servers", "host1:port1,host2:port2", 0),
        "protocol": _one_of(
            "Protocol",
            "Protocol between client and brokers.",
            1,
            [
                _option("PLAINTEXT", "security_protocol", "PLAINTEXT", {}),
                _option(
                    "SASL PLAINTEXT",
                    "security_protocol",
                    "SASL_PLAINTEXT",
                    dict(sasl),
                    ("sasl_mechanism", "sasl_jaas_config"),
                ),
                _option(
                    "SASL SSL", "security_protocol", "SASL_SSL", dict(sasl), ("sasl_mechanism", "sasl_jaas_config")
                ),
            ],
        ),
        "topic_pattern": _prop(
            "string", "Topic pattern", "Topics to read or write; supports {namespace} and {stream}.", 2
        ),
        "client_id": _prop("string", "Client ID", "Identifies this client in the broker logs.", 3),
        "compression_type": _prop(
            "string",
            "Compression",
            "Compression of record batches.",
            4,
            enum=["none", "gzip", "snappy", "lz4", "zstd"],
            default="none",
        ),
    }
    return properties, ["bootstrap_servers", "protocol"]


_PROPERTY_BUILDERS = {
    "api": _source_api_properties,
    "database": _database_properties,
    "file": _file_properties,
    "datalake": _file_properties,
    "vectorstore": _vectorstore_properties,
    "message_queue": _queue_properties,
}


@lru_cache(maxsize=1)
def _report_fields() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Every distinct report field name (three word lists, mixed radix) and the running total of
    their serialised lengths, so padding to a size is a bisect instead of a loop."""
    names = tuple(
        f"{first}_{middle}_{suffix}"
        for suffix in _METRIC_SUFFIX
        for middle in _METRIC_MIDDLE
        for first in _METRIC_PARTS
    )
    # each enum entry costs its quotes plus ", " in the default JSON separators
    return names, tuple(accumulate(len(name) + 4 for name in names))


def _dump_spec(spec: dict) -> bytes:
    return json.dumps(spec, ensure_ascii=False).encode("utf-8")


def _pad_to(spec: dict, profile: _Profile, target: int) -> bytes:
    """Grow a spec to about `target` bytes the way real large specs are large: a custom-report
    option whose field list enumerates hundreds of report fields."""
    current = _dump_spec(spec)
    if len(current) >= target:
        return current
    fields: list[str] = []
    report = _prop(
        "array",
        "Custom reports",
        f"Reports built from the fields below. {' '.join(_SENTENCES[:3])}",
        50,
        items={
            "type": "object",
            "required": ["name", "fields"],
            "properties": {
                "name": _prop("string", "Name", "Stream name of the report.", 0),
                "fields": _prop(
                    "array", "Fields", "Fields of the report.", 1, items={"type": "string", "enum": fields}
                ),
            },
        },
    )
    spec["connectionSpecification"]["properties"]["custom_reports"] = report
    deficit = target - len(_dump_spec(spec))
    names, running = _report_fields()
    # each connector starts at its own place in the list, so reports differ between connectors
    start = (profile.index * 97) % (len(names) // 2)
    already = running[start - 1] if start else 0
    count = bisect_left(running, already + deficit, lo=start) - start + 1
    fields.extend(names[start : start + count])
    return _dump_spec(spec)


def _spec_bytes(profile: _Profile, ordinal: int, variant: str, spec_size: str) -> bytes:
    """spec.json of one image (variant: oss, strict or cloud) at the version with this ordinal."""
    properties, required = _PROPERTY_BUILDERS[profile.subtype](profile, variant)
    for offset, (key, schema) in enumerate(_EVOLVING_OPTIONS[: ordinal % (len(_EVOLVING_OPTIONS) + 1)]):
        properties[key] = {**schema, "order": 20 + offset}
    title = f"{profile.name} {profile.connector_type.capitalize()} Spec" + (
        " (strict encrypt)" if variant == "strict" else ""
    )
    spec: dict[str, Any] = {
        "documentationUrl": profile.docs_url,
        "connectionSpecification": {
            "$schema": JSON_SCHEMA_DRAFT,
            "title": title,
            "type": "object",
            "required": required,
            "additionalProperties": True,
            "properties": properties,
        },
    }
    if profile.connector_type == "source":
        spec["supportsIncremental"] = True
    else:
        spec["supportsIncremental"] = True
        spec["supportsNormalization"] = profile.normalization
        spec["supportsDBT"] = profile.normalization
        spec["supported_destination_sync_modes"] = ["overwrite", "append", "append_dedup"]
    if profile.subtype == "api":
        spec["advanced_auth"] = {
            "auth_flow_type": "oauth2.0",
            "predicate_key": ["credentials", "auth_type"],
            "predicate_value": "oauth2.0",
            "oauth_config_specification": {
                "complete_oauth_output_specification": {
                    "type": "object",
                    "properties": {
                        "refresh_token": {
                            "type": "string",
                            "path_in_connector_config": ["credentials", "refresh_token"],
                        }
                    },
                },
                "complete_oauth_server_input_specification": {
                    "type": "object",
                    "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"}},
                },
            },
        }
    if spec_size == "realistic":
        return _pad_to(spec, profile, profile.spec_target)
    return _dump_spec(spec)


# ---------------------------------------------------------------------------------------------


def generate_sample(
    connectors: int = 40, versions: int = 3, seed: int = 7, spec_size: str = "small", era: str = "2025"
) -> SampleBucket:
    """The sample bucket: `connectors` connectors with `versions` published versions each.
    `era="2023"` gives exactly the sample of the seed's format, byte for byte (tests compare the
    registries built from it with those recorded before the project changed).

    Metadata bucket: `metadata/<repo>/<tag>/metadata.yaml` per version, `latest/` holding a copy of
    the newest non-rc version (and in era 2025 `release_candidate/` one of the release candidate),
    `icon.svg` beside each for connectors with an icon. Spec cache:
    `specs/<repo>/<tag>/spec.json` for every image a registry entry references (registry overrides
    included) and `spec.cloud.json` for connectors with a cloud-specific spec."""
    if connectors < 0 or versions < 1:
        raise ValueError("need connectors >= 0 and versions >= 1")
    if spec_size not in SPEC_SIZES:
        raise ValueError(f"spec_size must be one of {SPEC_SIZES}, not {spec_size!r}")
    if era not in SAMPLE_ERAS:
        raise ValueError(f"era must be one of {SAMPLE_ERAS}, not {era!r}")
    pools = _name_pools(seed)
    cursors: dict[str, int] = {}
    used: set[str] = set()
    metadata_objects: dict[str, bytes] = {}
    spec_objects: dict[str, bytes] = {}
    summaries = []
    for index in range(connectors):
        profile = _profile(index, seed, versions, pools, cursors, used)
        icon = _icon(profile) if profile.has_icon else None
        ordinals = {tag: ordinal for ordinal, tag in enumerate(profile.versions)}
        latest_tag = [tag for tag in profile.versions if "-rc." not in tag][-1]
        candidate_tag = profile.versions[-1] if era == "2025" and "-rc." in profile.versions[-1] else None
        for ordinal, tag in enumerate(profile.versions):
            document = _metadata_document(profile, seed, ordinal, era)
            raw = _dump_yaml(document)
            folders = (
                [tag]
                + ([LATEST_FOLDER] if tag == latest_tag else [])
                + ([RELEASE_CANDIDATE_FOLDER] if tag == candidate_tag else [])
            )
            for folder in folders:
                metadata_objects[f"metadata/{profile.repository}/{folder}/metadata.yaml"] = raw
                if icon is not None:
                    metadata_objects[f"metadata/{profile.repository}/{folder}/icon.svg"] = icon

            # The file's own image, then every image its registry overrides point at.
            images = {(profile.repository, tag, "oss")}
            data = document["data"]
            for registry, override in registry_overrides(data).items():
                if not override.get("enabled"):
                    continue
                repository = override.get("dockerRepository", profile.repository)
                image_tag = override.get("dockerImageTag", tag)
                images.add((repository, image_tag, "strict" if repository.endswith("-strict-encrypt") else "oss"))
                if registry == "cloud" and profile.cloud_spec:
                    images.add((repository, image_tag, "cloud"))
            for repository, image_tag, variant in sorted(images):
                name = "spec.cloud.json" if variant == "cloud" else "spec.json"
                path = f"specs/{repository}/{image_tag}/{name}"
                if path not in spec_objects:
                    spec_objects[path] = _spec_bytes(profile, ordinals[image_tag], variant, spec_size)

        summaries.append(
            SampleConnector(
                docker_repository=profile.repository,
                connector_type=profile.connector_type,
                connector_subtype=profile.subtype,
                name=profile.name,
                definition_id=profile.definition_id,
                versions=profile.versions,
                latest_version=latest_tag,
                has_icon=profile.has_icon,
                oss_enabled=profile.oss_enabled,
                cloud_enabled=profile.cloud_enabled,
                cloud_docker_repository=profile.cloud_repository,
                has_cloud_spec=profile.cloud_spec and profile.cloud_enabled,
                release_candidate=candidate_tag,
                supports_data_activation=era == "2025" and _supports_data_activation(profile, seed),
            )
        )
    return SampleBucket(metadata_objects=metadata_objects, spec_objects=spec_objects, connectors=tuple(summaries))
