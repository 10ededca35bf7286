# Code-location image: the orchestrator package with its locked dependencies (poetry.lock), served
# to Dagster over gRPC on port 4000. The Dagster Helm chart (deploy/helm/values.yaml) runs it as a
# user-code deployment and as the image of every run and step pod; a Dagster+ Hybrid agent runs
# it as the code location metadata_service_orchestrator. See deploy/README.md.
#
#   docker build -t <registry>/connector-orchestrator:<git sha> .
#
# Build arguments:
#   POETRY_GROUPS    dependency groups to install (default: main). Dagster+ Hybrid also needs the
#                    dagster-cloud package, which poetry.lock holds in the dev group: main,dev
#   PYPI_MIRROR_URL  a PEP 503 simple index to use instead of the default one, for pip (which
#                    installs Poetry) and for Poetry (through poetry-plugin-pypi-mirror)

FROM python:3.11-slim AS build

ARG POETRY_SPEC="poetry>=2.1,<3"
ARG POETRY_GROUPS=main
ARG PYPI_MIRROR_URL=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Poetry lives in its own environment so that its dependencies never mix with the project's.
RUN python -m venv /opt/poetry \
 && /opt/poetry/bin/pip install ${PYPI_MIRROR_URL:+--index-url "$PYPI_MIRROR_URL"} \
      "$POETRY_SPEC" "poetry-plugin-pypi-mirror>=0.6,<1"

# The project's environment. Poetry installs into it because it is the active virtualenv.
RUN python -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    POETRY_VIRTUALENVS_CREATE=false \
    POETRY_NO_INTERACTION=1

WORKDIR /opt/dagster/app

# Locked dependencies first: this layer is rebuilt only when pyproject.toml or poetry.lock change.
COPY pyproject.toml poetry.lock README.md ./
RUN POETRY_PYPI_MIRROR_URL="$PYPI_MIRROR_URL" /opt/poetry/bin/poetry install --only "$POETRY_GROUPS" --no-root --no-ansi

# Then the package itself (the code location and the metadata_service command).
COPY orchestrator ./orchestrator
RUN POETRY_PYPI_MIRROR_URL="$PYPI_MIRROR_URL" /opt/poetry/bin/poetry install --only "$POETRY_GROUPS" --no-ansi \
 && python -c "import orchestrator.definitions, dagster_k8s, dagster_postgres, dagster_gcp" \
 && find /opt/venv /opt/dagster/app -name __pycache__ -type d -prune -exec rm -rf {} +


FROM python:3.11-slim

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    ORCHESTRATOR_DEPLOYMENT=gcs

# An unprivileged user; DAGSTER_HOME is where the Helm chart mounts the instance's dagster.yaml.
RUN useradd --system --uid 10001 --user-group --home-dir /opt/dagster --no-create-home dagster \
 && mkdir -p /opt/dagster/dagster_home \
 && chown dagster:dagster /opt/dagster/dagster_home

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/dagster/app /opt/dagster/app
WORKDIR /opt/dagster/app
USER 10001

EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s \
  CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
CMD ["dagster", "api", "grpc", "-m", "orchestrator.definitions", "-h", "0.0.0.0", "-p", "4000"]
