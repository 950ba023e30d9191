# The two commands of the README. Both set themselves up on a fresh machine.
#   make serve   install the serving stack (no torch) and serve the shipped model: API + web UI
#   make test    install everything (training stack, test tools, Chromium) and run lint, types, tests
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test lint install install-all system-deps

serve: install
	$(VENV)/bin/dermcad serve --host $(HOST) --port $(PORT)

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
