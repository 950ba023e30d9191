# The two commands of the README. Both set themselves up on a fresh machine.
#   make serve   install the serving stack (no torch) and serve the shipped model: API + web UI
#   make test    install everything (training stack, test tools, Chromium) and run lint, types, tests
# Both install pinned by constraints.txt, and only when the venv lacks the install or
# pyproject.toml / constraints.txt changed since.
VENV ?= .venv
# HOST and PORT, when given (make serve PORT=9000), override DERMCAD_HOST / DERMCAD_PORT.
HOST ?=
PORT ?=

.PHONY: serve test lint install install-all system-deps lock

serve: install
	$(VENV)/bin/dermcad serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

test: system-deps install-all
	VENV=$(VENV) scripts/check.sh

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

install:
	VENV=$(VENV) scripts/bootstrap.sh

install-all:
	VENV=$(VENV) scripts/bootstrap.sh all

system-deps:
	scripts/install-system-deps.sh

# Refresh constraints.txt (the pinned dependency set every install uses) with pip-tools'
# pip-compile; `make lock ARGS=--upgrade` moves every pin to the newest release the ranges allow.
lock:
	scripts/lock.sh $(ARGS)
