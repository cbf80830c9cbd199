# The two commands of the README: `make run` and `make test`. Everything else is a helper.
# Two environments (scripts/bootstrap.sh builds both): .venv (Python 3.12: the project, csbot, tests,
# lint) and .venv-rasa (Python 3.10: Rasa 3.6 and nlu/ only; csbot starts Rasa from there).
SHELL := /bin/bash
VENV := .venv
RASA_VENV := .venv-rasa
CSBOT := $(VENV)/bin/csbot
# Rasa must not send telemetry or error reports anywhere.
export RASA_TELEMETRY_ENABLED := false

.PHONY: run test test-rasa test-main lint format setup

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

# Each part in its own environment; both parts run even when the first fails.
test: lint
	@rc=0; \
	$(MAKE) --no-print-directory test-rasa || rc=1; \
	$(MAKE) --no-print-directory test-main || rc=1; \
	exit $$rc

# Tests that import Rasa in-process (tests/rasa/, with its own pytest.ini).
test-rasa: setup
	$(RASA_VENV)/bin/python -m pytest -c tests/rasa/pytest.ini tests/rasa

# Everything else; Rasa itself runs as .venv-rasa subprocesses (csbot train/run, tests/test_conversations.py).
test-main: setup
	$(VENV)/bin/python -m pytest
