# Two commands set everything up on a machine with only Python 3.11 and pip:
#   make run   - install, start the embedded local bucket with sample data, run generate_registry
#   make test  - install, run the whole test suite
# Also: make lint (ruff, mypy, dg check defs), make test-fast (no PostgreSQL, browser or dagster dev).
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
POETRY := $(TOOLS)/bin/poetry
VENV := .venv
INSTALLED := $(VENV)/.installed
# The mirror plugin lets Poetry use pip's simple index; the URL is read from pip at run time.
export POETRY_PYPI_MIRROR_URL ?= $(shell $(PYTHON) -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)' 2>/dev/null)
export POETRY_VIRTUALENVS_IN_PROJECT := true

.PHONY: install run test test-fast lint format dev bench bench-latency deploy deploy-check image test-postgres lock clean system-deps

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
	$(POETRY) run orchestrator-local run

# Browsers and database servers come from Debian; installed only when missing.
system-deps:
	@bash scripts/ensure_system_deps.sh

test: install system-deps
	$(POETRY) run pytest -q -ra $(PYTEST_ARGS)

# The tests that need neither PostgreSQL, a browser nor `dagster dev` (they still start the emulator).
test-fast: install
	$(POETRY) run pytest -q -ra -m "not postgres and not browser and not e2e" $(PYTEST_ARGS)

LINTED := orchestrator tests bench
lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy
	$(VENV)/bin/dg check defs

format: install
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

dev: install
	$(POETRY) run orchestrator-local dev

bench: install
	$(POETRY) run python bench/run_bench.py $(BENCH_ARGS)

# Upload -> registry latency under a real `dagster dev` (about 15 minutes; see bench/README.md).
bench-latency: install
	$(POETRY) run python bench/latency.py $(LATENCY_ARGS)

deploy: install
	bash scripts/deploy_dagster_cloud.sh

clean:
	rm -rf $(VENV) $(TOOLS) .local_bucket .dagster_home

# Offline check of dagster_cloud.yaml with the Dagster Cloud CLI (no account needed).
deploy-check: install
	$(POETRY) run dagster-cloud ci check --dagster-cloud-yaml-check=error --dagster-cloud-connect-check=skip

# Code-location image (needs Docker). IMAGE_GROUPS=main,dev for Dagster+ Hybrid.
IMAGE ?= connector-orchestrator:$(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
IMAGE_GROUPS ?= main
image:
	docker build --build-arg POETRY_GROUPS=$(IMAGE_GROUPS) -t $(IMAGE) .

# The production instance against a real PostgreSQL server.
test-postgres: install system-deps
	$(POETRY) run pytest -q -m postgres
