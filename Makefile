# Two commands set everything up on a machine with only Python 3.11 and pip:
#   make run   - install, start the embedded local bucket with sample data, run generate_registry
#   make test  - install, run the whole test suite
# Also: make lint (ruff, mypy, dg check defs), make test-fast (no PostgreSQL, browser or dagster dev).
# Local bucket: make dev | start | stop | status, make upload FILE=..., make upload-spec SPEC=... REPO=... TAG=...,
# make validate FILE=..., make mirror SOURCE=... [SPEC_SOURCE=...]. Ports: EMULATOR_PORT=..., UI_PORT=...
# (on the command line or in the environment, as for every command of the project).
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
POETRY := $(TOOLS)/bin/poetry
VENV := .venv
INSTALLED := $(VENV)/.installed
# The mirror plugin lets Poetry use pip's simple index; the URL is read from pip at run time.
export POETRY_PYPI_MIRROR_URL ?= $(shell $(PYTHON) -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)' 2>/dev/null)
export POETRY_VIRTUALENVS_IN_PROJECT := true

.PHONY: install run test test-fast lint format dev bench bench-latency chaos deploy deploy-check image test-postgres lock \
	clean system-deps start stop status validate upload upload-spec mirror

$(POETRY):
	@echo ">> installing Poetry into $(TOOLS)/ (project-local tool environment)"
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet "poetry>=2.1,<3" "poetry-plugin-pypi-mirror>=0.6,<1"

$(INSTALLED): $(POETRY) pyproject.toml poetry.lock
	@echo ">> installing project dependencies into $(VENV)/ (poetry install)"
	$(POETRY) install --no-interaction
	@touch $(INSTALLED)

install: $(INSTALLED)

lock: $(POETRY)
	$(POETRY) lock

run: install
	$(VENV)/bin/orchestrator-local run

# Browsers and database servers come from Debian; installed only when missing.
system-deps:
	@bash scripts/ensure_system_deps.sh

# One line of progress per test file; then skips and failures with their reasons, and the slowest tests.
PYTEST_REPORT := -ra --durations=15
test: install system-deps
	$(VENV)/bin/pytest $(PYTEST_REPORT) $(PYTEST_ARGS)

# The tests that need neither PostgreSQL, a browser, `dagster dev`, a fresh clone nor PyAirbyte's
# environment (they still start the emulator).
test-fast: install
	$(VENV)/bin/pytest $(PYTEST_REPORT) -m "not postgres and not browser and not e2e and not pyairbyte" $(PYTEST_ARGS)

LINTED := orchestrator tests bench chaos
lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy
	$(VENV)/bin/dg check defs

format: install
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

dev: install
	$(VENV)/bin/orchestrator-local dev

start stop status: install
	$(VENV)/bin/orchestrator-local $@

# The buckets the code location uses (METADATA_BUCKET, SPEC_CACHE_BUCKET after .env); BUCKET= / SPEC_BUCKET= override.
BUCKET ?= $(shell $(VENV)/bin/orchestrator-local settings METADATA_BUCKET)
SPEC_BUCKET ?= $(shell $(VENV)/bin/orchestrator-local settings SPEC_CACHE_BUCKET)
define require
$(if $($(1)),,$(error $(2)))
endef

validate: install
	$(call require,FILE,usage: make validate FILE=path/to/metadata.yaml)
	$(VENV)/bin/metadata_service validate $(FILE)

upload: install
	$(call require,FILE,usage: make upload FILE=path/to/metadata.yaml [BUCKET=...])
	$(VENV)/bin/metadata_service upload $(FILE) $(BUCKET)

upload-spec: install
	$(call require,SPEC,usage: make upload-spec SPEC=spec.json REPO=airbyte/source-x TAG=1.2.3 [CLOUD=1])
	$(call require,REPO,usage: make upload-spec SPEC=spec.json REPO=airbyte/source-x TAG=1.2.3 [CLOUD=1])
	$(call require,TAG,usage: make upload-spec SPEC=spec.json REPO=airbyte/source-x TAG=1.2.3 [CLOUD=1])
	$(VENV)/bin/metadata_service upload-spec $(SPEC) $(REPO) $(TAG) $(SPEC_BUCKET) $(if $(CLOUD),--cloud)

# SPEC_SOURCE: the source's spec cache; MIRROR_ARGS: more options (--registries, --prefix, --credentials ...).
mirror: install
	$(call require,SOURCE,usage: make mirror SOURCE=bucket [SPEC_SOURCE=bucket] [MIRROR_ARGS=...])
	$(VENV)/bin/orchestrator-local mirror $(SOURCE) $(if $(SPEC_SOURCE),--spec-bucket $(SPEC_SOURCE)) $(MIRROR_ARGS)

bench: install
	$(VENV)/bin/python bench/run_bench.py $(BENCH_ARGS)

# The fault and bad-input campaign (about 17 minutes on 2 cores; CHAOS_ARGS="--quick" for a smoke run).
chaos: install
	$(VENV)/bin/python chaos/run_chaos.py $(CHAOS_ARGS)

# Upload -> registry latency under a real `dagster dev` (about 15 minutes; see bench/README.md).
bench-latency: install
	$(POETRY) run python bench/latency.py $(LATENCY_ARGS)

deploy: install
	bash scripts/deploy_dagster_cloud.sh

clean:
	rm -rf $(VENV) $(TOOLS) .local_bucket .dagster_home

# Offline check of dagster_cloud.yaml with the Dagster Cloud CLI (no account needed).
deploy-check: install
	$(VENV)/bin/dagster-cloud ci check --dagster-cloud-yaml-check=error --dagster-cloud-connect-check=skip

# Code-location image (needs Docker). IMAGE_GROUPS=main,dev for Dagster+ Hybrid.
IMAGE ?= connector-orchestrator:$(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
IMAGE_GROUPS ?= main
image:
	docker build --build-arg POETRY_GROUPS=$(IMAGE_GROUPS) -t $(IMAGE) .

# The production instance against a real PostgreSQL server.
test-postgres: install system-deps
	$(VENV)/bin/pytest -ra -m postgres
