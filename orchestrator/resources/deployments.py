"""The resource set of each deployment, chosen in one place.

`local`: the embedded bucket (fake-gcs-server at STORAGE_EMULATOR_HOST, anonymous credentials).
`gcs`: real Google Cloud Storage with the service account in GCS_CREDENTIALS.
ORCHESTRATOR_DEPLOYMENT names one; without it, `local` is chosen only when nothing says this is a
real deployment (no GCS_CREDENTIALS, not on Dagster Cloud)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from dagster import EnvVar

from orchestrator.layout import (
    ALL_METADATA_GLOB,
    LATEST_METADATA_GLOB,
    METADATA_AND_YANK_MARKER_GLOB,
    METADATA_FOLDER,
    REGISTRY_FOLDER,
    REPORT_FOLDER,
    latest_entry_glob,
)
from orchestrator.models.registry import DEFAULT_REGISTRY_FORMAT, RegistryFormat
from orchestrator.resources.alerts import AlertNotifier
from orchestrator.resources.gcs import GcsBlobListing, GcsBucketManager, GcsClient, GcsFileManager, SpecCache
from orchestrator.resources.policy import (
    SIGNING_KEY_VARIABLE,
    RegistryFormatSettings,
    RegistryPublishPolicy,
    RegistrySigning,
)
from orchestrator.settings import emulator_host, metadata_bucket_name, setting, spec_cache_bucket_name

DEPLOYMENT_VARIABLE = "ORCHESTRATOR_DEPLOYMENT"
# Threads per bulk read/write. Real GCS is latency-bound: many requests in flight. The emulator
# shares the machine's cores with the run, so more threads only contend (8 beat 32 by ~13% on a
# 2-core machine for a 6,000-file cold build).
GCS_WORKERS = 32
EMULATOR_WORKERS = 8


class Deployment(StrEnum):
    local = "local"
    gcs = "gcs"


class DeploymentError(RuntimeError):
    """The environment does not describe a deployment that can run; the message says what to set."""


def select_deployment(environ: Mapping[str, str]) -> tuple[Deployment, str]:
    """The deployment and what chose it."""
    explicit = setting(DEPLOYMENT_VARIABLE, environ=environ).lower()
    if explicit:
        try:
            return Deployment(explicit), f"{DEPLOYMENT_VARIABLE}={explicit}"
        except ValueError:
            raise DeploymentError(
                f"{DEPLOYMENT_VARIABLE}={explicit!r} is not a deployment: use 'local' (the embedded emulator) "
                "or 'gcs' (real Google Cloud Storage)"
            ) from None
    for signal in ("GCS_CREDENTIALS", "DAGSTER_CLOUD_DEPLOYMENT_NAME"):
        if setting(signal, environ=environ):
            return Deployment.gcs, f"{signal} is set and {DEPLOYMENT_VARIABLE} is not"
    return Deployment.local, f"neither {DEPLOYMENT_VARIABLE}, GCS_CREDENTIALS nor DAGSTER_CLOUD_DEPLOYMENT_NAME is set"


def gcs_deployment_problems(environ: Mapping[str, str]) -> list[str]:
    """Why a `gcs` deployment could not run with this environment (empty: it can)."""
    problems = []
    credentials = setting("GCS_CREDENTIALS", environ=environ)
    if not credentials:
        problems.append("GCS_CREDENTIALS is not set: it must hold the service-account JSON key")
    else:
        try:
            info = json.loads(credentials)
        except ValueError:
            info = None
        if not isinstance(info, dict) or not info.get("client_email") or not info.get("private_key"):
            problems.append(
                "GCS_CREDENTIALS is not a service-account JSON key (client_email and private_key are needed)"
            )
    for name in ("METADATA_BUCKET", "SPEC_CACHE_BUCKET"):
        if not setting(name, environ=environ):
            problems.append(f"{name} is not set")
    if setting("STORAGE_EMULATOR_HOST", environ=environ):
        # google-cloud-storage would quietly send every request to that emulator.
        problems.append("STORAGE_EMULATOR_HOST is set, which points the Google client at an emulator: unset it")
    return problems


def bucket_resources(
    gcp_gcs_client: GcsClient, gcs_bucket_manager: GcsBucketManager, spec_cache: SpecCache
) -> dict[str, Any]:
    """The resource keys of SPEC §5 over one metadata bucket and one spec cache."""

    def listing(glob: str) -> GcsBlobListing:
        return GcsBlobListing(gcs_bucket_manager=gcs_bucket_manager, prefix=f"{METADATA_FOLDER}/", glob=glob)

    return {
        "gcp_gcs_client": gcp_gcs_client,
        "gcs_bucket_manager": gcs_bucket_manager,
        "root_metadata_directory_manager": GcsFileManager(gcs_bucket_manager=gcs_bucket_manager, prefix=""),
        "registry_directory_manager": GcsFileManager(gcs_bucket_manager=gcs_bucket_manager, prefix=REGISTRY_FOLDER),
        "registry_report_directory_manager": GcsFileManager(
            gcs_bucket_manager=gcs_bucket_manager, prefix=REPORT_FOLDER
        ),
        "latest_metadata_file_blobs": listing(LATEST_METADATA_GLOB),
        "all_metadata_file_blobs": listing(ALL_METADATA_GLOB),
        # What the metadata sensor watches and a full scan reads, in one listing: every metadata file
        # and every `.yanked` marker.
        "metadata_file_and_yank_marker_blobs": listing(METADATA_AND_YANK_MARKER_GLOB),
        "latest_oss_registry_entries_file_blobs": listing(latest_entry_glob("oss")),
        "latest_cloud_registry_entries_file_blobs": listing(latest_entry_glob("cloud")),
        "spec_cache": spec_cache,
    }


def _publish_policy(environ: Mapping[str, str]) -> RegistryPublishPolicy:
    raw = setting("REGISTRY_MAX_DROP_SHARE", "0.05", environ)
    try:
        share = float(raw)
    except ValueError:
        raise DeploymentError(f"REGISTRY_MAX_DROP_SHARE={raw!r} is not a number between 0 and 1") from None
    return RegistryPublishPolicy(max_unexplained_drop_share=share)


def _registry_format(environ: Mapping[str, str]) -> RegistryFormatSettings:
    raw = setting("REGISTRY_FORMAT", DEFAULT_REGISTRY_FORMAT.value, environ)
    try:
        return RegistryFormatSettings(registry_format=RegistryFormat(raw))
    except ValueError:
        choices = " or ".join(f"'{item.value}'" for item in RegistryFormat)
        raise DeploymentError(f"REGISTRY_FORMAT={raw!r} is not a registry format: use {choices}") from None


def _registry_signing(environ: Mapping[str, str]) -> RegistrySigning:
    """A key that cannot sign fails when the definitions load, naming the variable (never the key)."""
    raw = setting(SIGNING_KEY_VARIABLE, environ=environ)
    if not raw:
        return RegistrySigning()
    from orchestrator.logic.signing import SigningKeyError, load_private_key

    try:
        load_private_key(raw, SIGNING_KEY_VARIABLE)
    except SigningKeyError as error:
        raise DeploymentError(str(error)) from None
    # Through EnvVar the key is read when a run starts and shown in the UI by its variable's name only.
    from_process = os.environ.get(SIGNING_KEY_VARIABLE, "").strip() == raw
    return RegistrySigning(private_key_pem=EnvVar(SIGNING_KEY_VARIABLE) if from_process else raw)


def alert_notifier(environ: Mapping[str, str]) -> AlertNotifier:
    """Off unless a destination is set. Secrets are passed as EnvVar: the UI shows the variable's
    name, never its value."""
    webhook = setting("ORCHESTRATOR_ALERT_WEBHOOK_URL", environ=environ)
    token = setting("SLACK_TOKEN", environ=environ)
    return AlertNotifier(
        webhook_url=EnvVar("ORCHESTRATOR_ALERT_WEBHOOK_URL") if webhook else None,
        slack_token=EnvVar("SLACK_TOKEN") if token else None,
        slack_channel=setting("SLACK_CHANNEL", environ=environ) or None,
        webserver_url=setting("ORCHESTRATOR_WEBSERVER_URL", "http://localhost:3000", environ),
    )


def local_resources(environ: Mapping[str, str]) -> dict[str, Any]:
    client = GcsClient(emulator_host=emulator_host(environ))
    manager = GcsBucketManager(
        gcp_gcs_client=client,
        max_workers=EMULATOR_WORKERS,
        bucket_name=metadata_bucket_name(environ),
        cdn_base_url=setting("METADATA_CDN_BASE_URL", environ=environ) or None,
    )
    spec_cache = SpecCache(gcp_gcs_client=client, bucket_name=spec_cache_bucket_name(environ))
    return {
        **bucket_resources(client, manager, spec_cache),
        "registry_publish_policy": _publish_policy(environ),
        "registry_format_settings": _registry_format(environ),
        "registry_signing": _registry_signing(environ),
        "alert_notifier": alert_notifier(environ),
    }


def gcs_resources(environ: Mapping[str, str]) -> dict[str, Any]:
    """Step outputs are kept in the bucket too, so that run workers on other machines (Kubernetes)
    can hand them to each other."""
    from orchestrator.resources.step_outputs import bucket_pickle_io_manager

    client = GcsClient(gcs_credentials=EnvVar("GCS_CREDENTIALS"))
    manager = GcsBucketManager(
        gcp_gcs_client=client,
        max_workers=GCS_WORKERS,
        bucket_name=EnvVar("METADATA_BUCKET"),
        cdn_base_url=setting("METADATA_CDN_BASE_URL", environ=environ) or None,
    )
    spec_cache = SpecCache(gcp_gcs_client=client, bucket_name=EnvVar("SPEC_CACHE_BUCKET"))
    return {
        **bucket_resources(client, manager, spec_cache),
        "registry_publish_policy": _publish_policy(environ),
        "registry_format_settings": _registry_format(environ),
        "registry_signing": _registry_signing(environ),
        "alert_notifier": alert_notifier(environ),
        "io_manager": bucket_pickle_io_manager(client, EnvVar("METADATA_BUCKET")),
    }


def deployment_resources(environ: Mapping[str, str]) -> tuple[Deployment, dict[str, Any]]:
    """The deployment the environment selects and its resources. A `gcs` deployment that cannot run
    fails here, when the definitions load, never by falling back to the emulator."""
    deployment, reason = select_deployment(environ)
    if deployment is Deployment.local:
        return deployment, local_resources(environ)
    problems = gcs_deployment_problems(environ)
    if problems:
        raise DeploymentError(
            f"the gcs deployment (real Google Cloud Storage; {reason}) cannot start: "
            + "; ".join(problems)
            + f". To use the embedded emulator instead, set {DEPLOYMENT_VARIABLE}=local."
        )
    return deployment, gcs_resources(environ)


def command_line_client(environ: Mapping[str, str]) -> tuple[GcsClient, str]:
    """The GCS client of the command-line tools, chosen like the code location's (the embedded
    emulator unless the environment selects `gcs`), and a phrase saying where it points. For `gcs`,
    GCS_CREDENTIALS when set, else Application Default Credentials (a CI runner's identity)."""
    deployment, reason = select_deployment(environ)
    if deployment is Deployment.local:
        host = emulator_host(environ)
        return GcsClient(emulator_host=host), f"the local emulator at {host}"
    if setting("STORAGE_EMULATOR_HOST", environ=environ):
        raise DeploymentError(
            f"the gcs deployment is selected ({reason}) but STORAGE_EMULATOR_HOST is set, which would send "
            f"every request to an emulator: unset it, or set {DEPLOYMENT_VARIABLE}=local"
        )
    credentials = setting("GCS_CREDENTIALS", environ=environ)
    return GcsClient(gcs_credentials=credentials or None), "Google Cloud Storage"
