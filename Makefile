# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV := .venv
CSBOT := $(VENV)/bin/csbot
# Rasa must not send telemetry or error reports anywhere.
export RASA_TELEMETRY_ENABLED := false

.PHONY: run test lint format setup

setup:
	@bash scripts/bootstrap.sh

run: setup
	$(CSBOT) db init
	$(CSBOT) db seed
	$(CSBOT) train --if-needed
	$(CSBOT) run

# The rules kept by tools: import-linter's layer contracts (pyproject.toml), ruff, mypy.
lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(VENV)/bin/python -m pytest
