# The only two commands a new user needs: `make run` and `make test`.
# Both create .venv from uv.lock when it is missing or out of date, then act.
SHELL := /bin/bash
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL ?= 2
# Material for MkDocs prints a banner about MkDocs 2 on every build
export NO_MKDOCS_2_WARNING := 1

.PHONY: setup run test lint clean deps mutation reference docs docs-serve

$(UV):
	$(BOOTSTRAP_PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: every stage, test and server is a new Python process importing TensorFlow,
# Keras, Great Expectations, Prefect or DVC; without .pyc files (none are written where
# PYTHONDONTWRITEBYTECODE is set) each compiles them again, about twice the CPU of an import
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --extra cpu --python 3.11 --compile-bytecode
	@touch $@

## setup: create or update .venv from uv.lock
setup: $(VENV)/.synced

## run: the whole pipeline (dvc repro) on the configured data, the built-in sample by default
run: setup
	dvc repro

## test: the test suite in parallel (pytest-xdist): one worker more than there are cores, since
## the slow tests wait on subprocesses and servers; PYTEST_WORKERS=0 runs it in one process
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: setup
	pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=25

lint: setup
	ruff check .

## reference: regenerate what the docs take from the code (docs/reference/, params.yaml's
## comments, the pipeline pictures); a test fails while any of it is out of date
reference: setup
	python -m tools.reference_docs

## docs: build the documentation site into site/; --strict fails on a broken link or anchor. With
## a report from `make run`, its picture is taken first (tools/report_screenshot.py, git-ignored)
docs: setup
	python -m tools.report_screenshot --if-present
	mkdocs build --strict

## docs-serve: serve the documentation at http://127.0.0.1:8000, rebuilt on each change
docs-serve: setup
	mkdocs serve

## deps: rewrite dvc.yaml's code deps from the imports (docs/development/dependencies.md)
deps: setup
	python -m tools.stage_deps

## mutation: mutation testing with mutmut (not part of `make test`): the registry, drift and
## evaluation modules, core/contracts.py, config/ and the reader (input/reader.py, crops.py)
## against their unit tests (pyproject.toml [tool.mutmut]), then a per-module summary; MUTATE
## picks some of them, e.g. `make mutation MUTATE=alexnet_pipeline/drift`
## (docs/development/mutation.md). Each run maps mutants to tests afresh (mutmut cannot see
## edited tests) and retests every selected mutant; results and mutated copies stay in mutants/
## (`mutmut show NAME`), which one run at a time uses (a lock)
MUTATE ?= alexnet_pipeline/registry alexnet_pipeline/drift alexnet_pipeline/evaluation \
	alexnet_pipeline/core/contracts.py alexnet_pipeline/config \
	alexnet_pipeline/input/crops.py alexnet_pipeline/input/reader.py
MUTMUT_CHILDREN ?= $(shell nproc)
mutation: setup
	@set -f -o pipefail; globs="$$(python -m tools.mutation_summary --patterns $(MUTATE))" || exit 1; \
	mkdir -p mutants; exec 9>mutants/.make-mutation.lock; \
	flock -n 9 || { echo "make mutation: waiting for the other run using mutants/"; flock 9; }; \
	rm -f mutants/mutmut-stats.json; \
	PYTHONUNBUFFERED=1 mutmut run --max-children $(MUTMUT_CHILDREN) $$globs \
		| python -m tools.mutation_summary --filter; status=$$?; \
	python -m tools.mutation_summary $(MUTATE); exit $$status

clean:
	rm -rf $(VENV) $(TOOLS)
