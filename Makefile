# cdc-lakehouse: every target installs what it needs first (scripts/install.sh is idempotent).
SHELL := /bin/bash
PY := .venv/bin/python
CDC := $(PY) -m cdc_project.cli
DURATION ?=
QUICK ?=
ONLY ?=
RATE ?= 50
PYTEST_ARGS ?=

.PHONY: install up down status reset demo test test-unit bench lock clean

install:
	@bash scripts/install.sh

up: install
	@$(CDC) up

down:
	@if [ -x $(PY) ]; then $(CDC) down; fi

status: install
	@$(CDC) status

reset: install
	@$(CDC) reset

# make demo: seed, start the stack and the change generator, leave the Dagster UI running.
# make demo DURATION=60: headless; stop after 60 s, wait for the lake, print a summary, fail on any difference.
demo: install
	@$(CDC) demo --rate $(RATE) $(if $(DURATION),--duration $(DURATION),)

# The whole suite, live-service tests included: the session fixture starts PostgreSQL, Kafka, Kafka Connect
# (Debezium) and Dagster in a throwaway state dir and stops them at the end.
test: install
	@$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-unit: install
	@$(PY) -m pytest -q -p no:cacheprovider -m "not live" $(PYTEST_ARGS)

# make bench: throughput, lag and memory on the suite's own stack (< 15 min), bench/results/latest.json.
# make bench QUICK=1: reduced sizes (< 3 min), bench/results/quick.json. make bench ONLY="ceiling": one case.
bench: install
	@$(PY) -m bench $(if $(QUICK),--quick,) $(if $(ONLY),--only $(ONLY),)

lock:
	@$(PY) -m pip freeze --all --exclude-editable | grep -vE '^(pip|mypy|mypy_extensions|ruff|pathspec)==' > requirements.lock.new
	@sed -i '1i # Pinned Python environment (pip freeze of a working install). Regenerate with `make lock`.' requirements.lock.new
	@mv requirements.lock.new requirements.lock

clean: down
	rm -rf .state
