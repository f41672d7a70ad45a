# The two commands of README.md: `make run` and `make test`. Everything they need is
# installed by this file (and scripts/ it calls), so both work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/sigportal
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test system install install-dev install-js lint typecheck bench-core bench-upload bench-scale bench-search bench-issue clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@ $(RUN_STAMP)

# sigstore-js, pinned, for the interoperability tests (interop/js/README.md).
JS_STAMP := interop/js/node_modules/.installed
$(JS_STAMP): interop/js/package.json interop/js/package-lock.json
	npm ci --prefix interop/js --no-audit --no-fund
	touch $@

install: $(RUN_STAMP)
install-dev: $(DEV_STAMP)
install-js: $(JS_STAMP)

# Debian's chromium and docker-registry, driven by the browser and image tests.
system:
	scripts/install-system.sh

# The embedded default: SQLite and keys under $SIGPORTAL_DATA_DIR (var/), tasks in-process.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sigportal_init
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "sigportal serving http://127.0.0.1:$(PORT)"
	exec $(VENV)/bin/gunicorn sigportal.wsgi --bind 127.0.0.1:$(PORT) --workers 1 \
	  --threads 8 --access-logfile - --error-logfile -

lint: install-dev
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --no-cache --check .

typecheck: install-dev
	$(VENV)/bin/mypy

# The whole suite against the machine's PostgreSQL and Redis (DATABASE_URL, REDIS_URL).
test: system install-dev install-js lint typecheck
	rm -rf var/test && mkdir -p var/test
	SIGPORTAL_DEV_IDP=true \
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	REDIS_URL="$${REDIS_URL:-$(TEST_REDIS_URL)}" \
	SIGPORTAL_DATA_DIR="$(CURDIR)/var/test" \
	  $(VENV)/bin/pytest $(PYTEST_ARGS)

bench-core: install-dev
	$(PY) -m bench.core

bench-upload: install-dev
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" $(PY) -m bench.upload

bench-issue: install-dev
	$(PY) -m bench.issue

bench-scale: install-dev
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" $(PY) -m bench.scale

bench-search: install-dev
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" $(PY) -m bench.search

clean:
	rm -rf $(VENV) var/test .pytest_cache .mypy_cache .ruff_cache interop/js/node_modules
