# pyshelf developer commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVERDIR ?= $(HOME)/.pyshelf/server
HOST ?= 127.0.0.1
PORT ?= 3141
# Every part that exists: server first, then the rest (they depend on it).
PARTS := $(patsubst %/pyproject.toml,%,$(wildcard server/pyproject.toml client/pyproject.toml web/pyproject.toml plugins/*/pyproject.toml))
PYPROJECTS := $(addsuffix /pyproject.toml,$(PARTS))

.PHONY: help install install-test bytecode run test test-postgresql postgresql test-fast lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python $(PYPROJECTS)
	$(BIN)/pip install -q $(foreach p,$(PARTS),-e ./$(p))
	touch $@

# Editable sources get their .pyc only where Python may write them (not under
# PYTHONDONTWRITEBYTECODE); without them every server start compiles ~0.3 s worth again.
bytecode: install
	@$(BIN)/python -m compileall -q $(PARTS)

$(VENV)/.installed-test: $(BIN)/python $(PYPROJECTS)
	$(BIN)/pip install -q $(foreach p,$(PARTS),-e "./$(p)[test]")
	touch $(VENV)/.installed $@

install: $(VENV)/.installed ## create .venv and install every part, editable

install-test: $(VENV)/.installed-test ## install every part with its test dependencies

run: install bytecode ## initialise $(SERVERDIR) if new and serve on $(HOST):$(PORT)
	@test -e $(SERVERDIR)/.serverversion || $(BIN)/pyshelf-init --serverdir $(SERVERDIR)
	$(BIN)/pyshelf-server --serverdir $(SERVERDIR) --host $(HOST) --port $(PORT)

# The tests start their own PostgreSQL cluster; they need only its binaries.
postgresql: ## install Debian's PostgreSQL binaries if missing (as root; else say what to do)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends postgresql; } || \
	  { echo "make test needs PostgreSQL's initdb: install Debian's postgresql package"; exit 1; }

# The whole suite on SQLite, then the server, mirror and web suites again on a throwaway
# PostgreSQL cluster that the test set-up starts itself (Debian's postgresql package).
test: install-test postgresql ## run the whole test suite (SQLite, then PostgreSQL)
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m pytest --db=postgresql tests/server tests/mirror tests/web $(PYTEST_ARGS)

test-postgresql: install-test postgresql ## the server, mirror and web suites on PostgreSQL only
	$(BIN)/python -m pytest --db=postgresql tests/server tests/mirror tests/web $(PYTEST_ARGS)

test-fast: install-test ## the suite without the end-to-end tests
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: install-test ## ruff over the whole tree
	$(BIN)/ruff check .

bench: install-test ## run the benchmarks (by hand; see bench/README.md)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean: ## remove the virtual environments
	rm -rf $(VENV) .venv-devpi
