# LeadFlow: `make run` starts everything, `make test` checks everything.
# Both work on a fresh machine with Python 3.11 (and npm for the pinned front-end libraries).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test lint format bench browser install clean-var help

help:
	@echo "make run    start LeadFlow on http://127.0.0.1:8000 (web, Celery worker and beat)"
	@echo "make test   lint and run the whole test suite against real PostgreSQL and Redis"
	@echo "make bench  run the benchmarks under bench/ at 1M rows (SCALE=10k: a smoke run)"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e '.[embedded,test]'
	touch $@ $(VENV)/.installed-run

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the front-end libraries (apt-get install -y npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed-run node_modules/.installed

# Browser tests drive Debian's Chromium; install it when we can (root) and it is missing.
browser:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Chromium for the browser tests ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "WARNING: chromium is missing and cannot be installed here; browser tests will skip (fail under CI=true)."; \
	  fi; \
	fi

run: $(VENV)/.installed-run node_modules/.installed
	$(PY) -m leadflow.devstack run

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Tests use Redis database 1 so a `make run` worker (database 0) never takes their tasks.
test: $(VENV)/.installed-test node_modules/.installed browser lint
	SECRET_KEY=test-only-not-secret $(PY) -m leadflow.devstack exec --redis-db 1 -- \
	  $(VENV)/bin/pytest $(PYTEST_ARGS)

# make bench: every benchmark at 1M rows, one table in bench/results/latest.md (and each
# row's plan in bench/results/explain/). SCALE=10k: the same at 10k rows, a smoke test
# (no target judged; written to var/bench/). BENCH_ARGS="list_leads --repeat 5": one.
bench: $(VENV)/.installed-test node_modules/.installed
	SECRET_KEY=bench-only-not-secret $(PY) -m leadflow.devstack exec --redis-db 2 -- \
	  $(PY) -m bench $(if $(SCALE),--scale $(SCALE)) $(BENCH_ARGS)

clean-var:
	$(PY) -m leadflow.devstack down
	rm -rf var
