# pyshelf developer commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` serves where pyshelf-server would: PYSHELF_SERVERDIR, PYSHELF_HOST and PYSHELF_PORT
# from the environment, else these defaults; `make run PORT=4000` wins over both.
SERVERDIR ?= $(or $(PYSHELF_SERVERDIR),$(HOME)/.pyshelf/server)
HOST ?= $(or $(PYSHELF_HOST),127.0.0.1)
PORT ?= $(or $(PYSHELF_PORT),3141)
# pip's and the build tools' chatter goes to this log, shown only when an install fails: the
# first thing `make run` prints for a newcomer is root's password, not a wall of warnings.
INSTALL_LOG := $(VENV)/install.log
QUIETLY = > $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
# Optional plugins (plugins/<name>) that `make install` and `make run` add, e.g.
# PLUGINS="constrained lockdown"; `make install-test` and `make test` take every one.
PLUGINS ?=
comma := ,
empty :=
space := $(empty) $(empty)
# Server first, then the rest (they depend on it).
BASE_PARTS := server client web
ALL_PARTS := $(patsubst %/pyproject.toml,%,$(wildcard $(addsuffix /pyproject.toml,$(BASE_PARTS)) plugins/*/pyproject.toml))
PARTS := $(BASE_PARTS) $(addprefix plugins/,$(PLUGINS))
PYPROJECTS := $(addsuffix /pyproject.toml,$(PARTS))
ALL_PYPROJECTS := $(addsuffix /pyproject.toml,$(ALL_PARTS))
# `make run` loads exactly web and the PLUGINS asked for, even when .venv has more installed.
RUN_PLUGINS := $(subst $(space),$(comma),$(strip web $(PLUGINS)))

# Containers (no container engine is needed for anything above this line).
DOCKER ?= docker
COMPOSE ?= docker compose
IMAGE ?= pyshelf
TAG ?= latest
PYSHELF_VERSION ?=
INSTALL_WEB ?= true
INSTALL_CONSTRAINED ?= false
INSTALL_FINDLINKS ?= false
INSTALL_JENKINS ?= false
INSTALL_LOCKDOWN ?= false
BUILD_ARGS = --build-arg INSTALL_WEB=$(INSTALL_WEB) --build-arg INSTALL_CONSTRAINED=$(INSTALL_CONSTRAINED) \
  --build-arg INSTALL_FINDLINKS=$(INSTALL_FINDLINKS) --build-arg INSTALL_JENKINS=$(INSTALL_JENKINS) \
  --build-arg INSTALL_LOCKDOWN=$(INSTALL_LOCKDOWN)
# Compose profiles to start besides pyshelf: e.g. PROFILES="proxy monitoring".
PROFILES ?=
COMPOSE_UP = $(COMPOSE) $(foreach p,$(PROFILES),--profile $(p))
BACKUP ?= backup

.PHONY: help install install-test bytecode run test test-postgresql postgresql test-fast lint bench clean nginx \
  build pypi-build source-build server-up server-down server-logs server-enter backup restore ops-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	@echo "installing pip and pyshelf into $(VENV) (details: $(INSTALL_LOG))"
	@$(BIN)/pip install -q --upgrade pip $(QUIETLY)

$(VENV)/.installed: $(BIN)/python $(PYPROJECTS)
	@$(BIN)/pip install -q $(foreach p,$(PARTS),-e ./$(p)) $(QUIETLY)
	@touch $@

# A plugin asked for after .venv was made: installed on its own.
$(VENV)/.installed-plugin-%: $(BIN)/python plugins/%/pyproject.toml
	@$(BIN)/pip install -q -e ./plugins/$* $(QUIETLY)
	@touch $@

# Editable sources get their .pyc only where Python may write them (not under
# PYTHONDONTWRITEBYTECODE); without them every server start compiles ~0.3 s worth again.
bytecode: install
	@$(BIN)/python -m compileall -q $(PARTS)

$(VENV)/.installed-test: $(BIN)/python $(ALL_PYPROJECTS)
	@$(BIN)/pip install -q $(foreach p,$(ALL_PARTS),-e "./$(p)[test]") $(QUIETLY)
	@touch $(VENV)/.installed $(addprefix $(VENV)/.installed-plugin-,$(notdir $(wildcard plugins/*))) $@

install: $(VENV)/.installed $(addprefix $(VENV)/.installed-plugin-,$(PLUGINS)) ## create .venv and install server, client, web (and PLUGINS="…"), editable

install-test: $(VENV)/.installed-test ## install every part with its test dependencies

run: install bytecode ## initialise $(SERVERDIR) if new and serve on $(HOST):$(PORT) (with PLUGINS="…")
	@test -e $(SERVERDIR)/.serverversion || $(BIN)/pyshelf-init --serverdir $(SERVERDIR)
	$(BIN)/pyshelf-server --serverdir $(SERVERDIR) --host $(HOST) --port $(PORT) --plugins $(RUN_PLUGINS)

# The tests start their own PostgreSQL cluster; they need only its binaries.
postgresql: ## install Debian's PostgreSQL binaries if missing (as root; else say what to do)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends postgresql; } || \
	  { echo "make test needs PostgreSQL's initdb: install Debian's postgresql package"; exit 1; }

# tests/ops puts the shipped nginx configuration in front of a real server.
nginx: ## install Debian's nginx if missing (as root; else say what to do)
	@test -x /usr/sbin/nginx || command -v nginx >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends nginx-light; } || \
	  { echo "make test needs nginx for tests/ops: install Debian's nginx package"; exit 1; }

# Test files run on TEST_WORKERS processes (pytest-xdist), a file on one worker, so that a
# server a file starts once serves all its tests; most tests wait on real servers and clients.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The whole suite on SQLite, then the server, mirror and web suites again on a throwaway
# PostgreSQL cluster that the test set-up starts itself (Debian's postgresql package).
test: install-test postgresql nginx ## run the whole test suite (SQLite, then PostgreSQL)
	$(PYTEST) $(PYTEST_ARGS)
	$(PYTEST) --db=postgresql tests/server tests/mirror tests/web tests/plugins tests/oidc/test_trusted_publishing.py $(PYTEST_ARGS)

test-postgresql: install-test postgresql ## the server, mirror and web suites on PostgreSQL only
	$(PYTEST) --db=postgresql tests/server tests/mirror tests/web tests/plugins tests/oidc/test_trusted_publishing.py $(PYTEST_ARGS)

test-fast: install-test ## the suite without the end-to-end tests
	$(PYTEST) -m "not e2e" $(PYTEST_ARGS)

lint: install-test ## ruff over the whole tree
	$(BIN)/ruff check .

bench: install-test ## run the benchmarks (by hand; see bench/README.md)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

ops-check: install-test nginx ## the offline checks of the images, compose file and entrypoint
	$(BIN)/python -m pytest tests/ops $(PYTEST_ARGS)

pypi-build: ## build the image (IMAGE:TAG, pyshelf:latest) from released distributions (pypi/Dockerfile)
	$(DOCKER) build $(BUILD_ARGS) $(if $(PYSHELF_VERSION),--build-arg PYSHELF_VERSION=$(PYSHELF_VERSION)) -f pypi/Dockerfile -t $(IMAGE):$(TAG) .

source-build: ## build the image (IMAGE:TAG) from this repository (source/Dockerfile)
	$(DOCKER) build $(BUILD_ARGS) -f source/Dockerfile -t $(IMAGE):$(TAG) .

build: source-build ## the same as source-build

server-up: ## start pyshelf with docker compose (PROFILES="proxy postgres s3 monitoring" adds those)
	INSTALL_WEB=$(INSTALL_WEB) INSTALL_CONSTRAINED=$(INSTALL_CONSTRAINED) INSTALL_FINDLINKS=$(INSTALL_FINDLINKS) \
	INSTALL_JENKINS=$(INSTALL_JENKINS) INSTALL_LOCKDOWN=$(INSTALL_LOCKDOWN) $(COMPOSE_UP) up -d --build

server-down: ## stop the compose services (the volumes stay)
	$(COMPOSE_UP) down

server-logs: ## follow pyshelf's log
	$(COMPOSE) logs -f pyshelf

server-enter: ## a shell in the running pyshelf container
	$(COMPOSE) exec pyshelf sh

backup: install ## export $(SERVERDIR) into $(BACKUP) (safe while it serves; see README "Backup")
	$(BIN)/pyshelf-export --serverdir $(SERVERDIR) $(BACKUP)

restore: install ## import $(BACKUP) into a new $(SERVERDIR)
	$(BIN)/pyshelf-import --serverdir $(SERVERDIR) $(BACKUP)

clean: ## remove the virtual environments
	rm -rf $(VENV) .venv-devpi
