# The two commands of the README: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV := .venv
CSBOT := $(VENV)/bin/csbot
# Rasa must not send telemetry or error reports anywhere.
export RASA_TELEMETRY_ENABLED := false

.PHONY: run test setup

setup:
	@bash scripts/bootstrap.sh

run: setup
	$(CSBOT) db init
	$(CSBOT) db seed
	$(CSBOT) train --if-needed
	$(CSBOT) run

test: setup
	$(VENV)/bin/python -m pytest
