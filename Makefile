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

.PHONY: help install install-test bytecode run test test-fast lint bench clean

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

test: install-test ## run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install-test ## the suite without the end-to-end tests
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: install-test ## ruff over the whole tree
	$(BIN)/ruff check .

bench: install-test ## run the benchmarks (by hand; see bench/README.md)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean: ## remove the virtual environments
	rm -rf $(VENV) .venv-devpi
