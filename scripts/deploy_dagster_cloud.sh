#!/usr/bin/env bash
# Deploys the code location in dagster_cloud.yaml (metadata_service_orchestrator) to Dagster+
# with the official dagster-cloud CLI. Run through `make deploy`. See deploy/README.md.
#
# Dagster+ account (required):
#   DAGSTER_CLOUD_API_TOKEN       agent or user token; read by the CLI from the environment, never
#                                 put on a command line and never printed
#   DAGSTER_CLOUD_ORGANIZATION    organization name (the <org> of https://<org>.dagster.cloud)
#   DAGSTER_CLOUD_DEPLOYMENT      deployment to update (default: prod)
#   DAGSTER_CLOUD_DEPLOY_TARGET   hybrid (default: a Kubernetes agent runs DAGSTER_CLOUD_IMAGE)
#                                 or serverless (Dagster+ builds and runs the code itself)
#   DAGSTER_CLOUD_IMAGE           hybrid: the code-location image built from ./Dockerfile and
#                                 pushed to a registry the agent can pull from, e.g. <registry>/connector-orchestrator:<git sha>
#
# Code location settings (what the orchestrator reads at run time):
#   METADATA_BUCKET, SPEC_CACHE_BUCKET   required for hybrid; passed as NAME=value
#   METADATA_CDN_BASE_URL                optional; passed when set
#   GCS_CREDENTIALS                      service-account JSON. Hybrid: never sent to Dagster+; when
#                                        set here, it is stored in the Kubernetes Secret
#                                        $GCS_CREDENTIALS_SECRET (default connector-orchestrator-gcs)
#                                        in namespace $DAGSTER_CLOUD_K8S_NAMESPACE with kubectl; when
#                                        unset, that Secret must already exist.
#   Serverless: the CLI cannot set environment variables; set all four in the Dagster+ UI.
#
# Optional: DAGSTER_CLOUD_CLI (path of the dagster-cloud executable), DEPLOY_PYTHON (a Python with
# PyYAML), DAGSTER_CLOUD_LOCATION_LOAD_TIMEOUT (seconds to wait for the location to load, default 900).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCATION_NAME="metadata_service_orchestrator"
CLOUD_YAML="$REPO_ROOT/dagster_cloud.yaml"

fail() {
  echo "deploy: error: $*" >&2
  exit 2
}

require() {
  local name="$1" hint="$2"
  if [ -z "${!name:-}" ]; then
    fail "$name is not set. $hint"
  fi
}

# -- the account -----------------------------------------------------------------------------
require DAGSTER_CLOUD_API_TOKEN "Create a token in Dagster+ (Organization settings > Tokens) and export it; it is read from the environment only."
require DAGSTER_CLOUD_ORGANIZATION "Export the Dagster+ organization name (the <org> in https://<org>.dagster.cloud)."
export DAGSTER_CLOUD_DEPLOYMENT="${DAGSTER_CLOUD_DEPLOYMENT:-prod}"
TARGET="${DAGSTER_CLOUD_DEPLOY_TARGET:-hybrid}"
case "$TARGET" in
  hybrid | serverless) ;;
  *) fail "DAGSTER_CLOUD_DEPLOY_TARGET must be 'hybrid' or 'serverless', not '$TARGET'." ;;
esac

# -- the tools -------------------------------------------------------------------------------
if [ -n "${DAGSTER_CLOUD_CLI:-}" ]; then
  CLI="$DAGSTER_CLOUD_CLI"
elif [ -x "$REPO_ROOT/.venv/bin/dagster-cloud" ]; then
  CLI="$REPO_ROOT/.venv/bin/dagster-cloud"
elif command -v dagster-cloud >/dev/null 2>&1; then
  CLI="$(command -v dagster-cloud)"
else
  fail "the dagster-cloud CLI was not found. Run 'make install' (it is a dev dependency) or set DAGSTER_CLOUD_CLI."
fi
if [ -n "${DEPLOY_PYTHON:-}" ]; then
  PYTHON="$DEPLOY_PYTHON"
elif [ -x "$REPO_ROOT/.venv/bin/python" ]; then
  PYTHON="$REPO_ROOT/.venv/bin/python"
else
  PYTHON="python3"
fi

# -- the settings the code location needs ----------------------------------------------------
if [ "$TARGET" = "hybrid" ]; then
  require DAGSTER_CLOUD_IMAGE "Build ./Dockerfile, push it (docker build -t <registry>/connector-orchestrator:<tag> . && docker push ...), and export the image reference."
  require METADATA_BUCKET "Export the name of the metadata bucket."
  require SPEC_CACHE_BUCKET "Export the name of the spec-cache bucket."
fi
GCS_SECRET_NAME="${GCS_CREDENTIALS_SECRET:-connector-orchestrator-gcs}"
if [ "$TARGET" = "hybrid" ] && [ -n "${GCS_CREDENTIALS:-}" ]; then
  require DAGSTER_CLOUD_K8S_NAMESPACE "GCS_CREDENTIALS is set, so it is stored in the Kubernetes Secret '$GCS_SECRET_NAME': export the namespace your Dagster+ agent launches code servers in (or unset GCS_CREDENTIALS if the Secret already exists)."
  command -v kubectl >/dev/null 2>&1 || fail "GCS_CREDENTIALS is set but kubectl is not installed: create the Secret '$GCS_SECRET_NAME' yourself (deploy/README.md) and unset GCS_CREDENTIALS."
fi

WORK_DIR="$(mktemp -d)"
chmod 700 "$WORK_DIR"
trap 'rm -rf "$WORK_DIR"' EXIT

# -- 1. the dagster_cloud.yaml check (offline) -----------------------------------------------
echo ">> checking dagster_cloud.yaml"
"$CLI" ci check --project-dir "$REPO_ROOT" --dagster-cloud-yaml-path dagster_cloud.yaml \
  --dagster-cloud-yaml-check=error --dagster-cloud-connect-check=skip

# -- 2. the location document with this deployment's values ----------------------------------
LOCATION_FILE="$WORK_DIR/location.yaml"
(
  umask 077
  DEPLOY_TARGET="$TARGET" GCS_SECRET_NAME="$GCS_SECRET_NAME" "$PYTHON" - "$CLOUD_YAML" "$LOCATION_NAME" "$LOCATION_FILE" <<'PY'
import os
import sys

import yaml

source, location_name, destination = sys.argv[1:4]
with open(source, encoding="utf-8") as handle:
    document = yaml.safe_load(handle)
location = next(entry for entry in document["locations"] if entry["location_name"] == location_name)
location.pop("build", None)  # only the image build uses it
if os.environ["DEPLOY_TARGET"] == "serverless":
    location.pop("container_context", None)  # agent configuration: Hybrid only
else:
    k8s = location.setdefault("container_context", {}).setdefault("k8s", {})
    rendered = []
    for item in k8s.get("env_vars", []):
        # A bare name gets this environment's value; NAME=value entries are fixed in the file.
        # GCS_CREDENTIALS never goes into the location document: it is a secret.
        if "=" not in item and item != "GCS_CREDENTIALS" and os.environ.get(item):
            rendered.append(f"{item}={os.environ[item]}")
        else:
            rendered.append(item)
    k8s["env_vars"] = rendered
    secrets = [name for name in k8s.get("env_secrets", []) if name != "connector-orchestrator-gcs"]
    k8s["env_secrets"] = secrets + [os.environ["GCS_SECRET_NAME"]]
with open(destination, "w", encoding="utf-8") as handle:
    yaml.safe_dump({"locations": [location]}, handle, sort_keys=False)
PY
)

# -- 3. hybrid: the GCS service account as a Kubernetes Secret -------------------------------
if [ "$TARGET" = "hybrid" ] && [ -n "${GCS_CREDENTIALS:-}" ]; then
  echo ">> storing GCS_CREDENTIALS in Secret $GCS_SECRET_NAME (namespace $DAGSTER_CLOUD_K8S_NAMESPACE)"
  CREDENTIALS_FILE="$WORK_DIR/GCS_CREDENTIALS"
  (umask 077 && printf '%s' "$GCS_CREDENTIALS" >"$CREDENTIALS_FILE")
  kubectl --namespace "$DAGSTER_CLOUD_K8S_NAMESPACE" create secret generic "$GCS_SECRET_NAME" \
    --from-file=GCS_CREDENTIALS="$CREDENTIALS_FILE" --dry-run=client --output=yaml \
    | kubectl --namespace "$DAGSTER_CLOUD_K8S_NAMESPACE" apply --filename=- >/dev/null
  rm -f "$CREDENTIALS_FILE"
elif [ "$TARGET" = "hybrid" ]; then
  echo ">> GCS_CREDENTIALS is not set here: the code location reads it from the existing Secret $GCS_SECRET_NAME"
fi

# -- 4. deploy -------------------------------------------------------------------------------
COMMIT_HASH="$(git -C "$REPO_ROOT" rev-parse HEAD 2>/dev/null || true)"
COMMON=(--organization "$DAGSTER_CLOUD_ORGANIZATION" --deployment "$DAGSTER_CLOUD_DEPLOYMENT"
  --location-load-timeout "${DAGSTER_CLOUD_LOCATION_LOAD_TIMEOUT:-900}")
if [ -n "$COMMIT_HASH" ]; then
  COMMON+=(--commit-hash "$COMMIT_HASH")
fi

echo ">> deploying $LOCATION_NAME to $DAGSTER_CLOUD_ORGANIZATION/$DAGSTER_CLOUD_DEPLOYMENT ($TARGET)"
if [ "$TARGET" = "hybrid" ]; then
  "$CLI" deployment add-location "${COMMON[@]}" \
    --location-file "$LOCATION_FILE" --location-name "$LOCATION_NAME" --image "$DAGSTER_CLOUD_IMAGE"
else
  echo ">> serverless: the code location reads METADATA_BUCKET, SPEC_CACHE_BUCKET, GCS_CREDENTIALS and"
  echo "   METADATA_CDN_BASE_URL from the Dagster+ UI (Deployment > Environment variables); make sure they are set there."
  "$CLI" serverless deploy-python-executable "$REPO_ROOT" "${COMMON[@]}" \
    --location-file "$LOCATION_FILE" --location-name "$LOCATION_NAME" --python-version 3.11
fi
echo ">> deployed $LOCATION_NAME"
