# Thin wrappers; every target creates the virtual environment from pyproject.toml if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ARGS ?= --days 3 --invoices-per-day 50
INVOICE_HOME ?= $(CURDIR)/.invoice_home
DAGSTER_HOME ?= $(INVOICE_HOME)/dagster
# The demo's days start three days ago: partitions from a week ago keep them visible in the UI
# (not among a thousand empty days since 2024-01-01) even if `make dev` comes a few days later.
INVOICE_PARTITIONS_START ?= $(shell TZ=Europe/Istanbul date -d '-7 days' +%F)
APP_ENV := INVOICE_HOME=$(INVOICE_HOME) DAGSTER_HOME=$(DAGSTER_HOME) \
	INVOICE_PARTITIONS_START=$(INVOICE_PARTITIONS_START)

.PHONY: install run dev test check bench topology topology-down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: generate demo invoices, materialise every day on the embedded SQLite store, print the summary
run: $(STAMP)
	$(APP_ENV) $(BIN)/invoice-ops demo $(DEMO_ARGS)

## dev: the Dagster UI (lineage, checks, runs) on http://127.0.0.1:3000
dev: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp config/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(APP_ENV) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## check: format, lint, types, the threshold gates, the layer contract and no import cycles
check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy invoice_assets resources
	$(BIN)/python .ci/threshold_gate.py
	$(BIN)/lint-imports --no-cache
	$(BIN)/python .ci/import_cycles.py
	@# the seed's own grep gate, as the seed writes it, over the project's sources: prints nothing
	@out=$$(grep -rn "THRESHOLD\s*=" --include="*.py" invoice_assets resources bench .ci tests \
		| grep -v "config.py" | grep -v "test_"); \
		if [ -n "$$out" ]; then echo "seed grep gate:"; echo "$$out"; exit 1; fi; \
		echo "seed grep gate: nothing printed"

## test: the quality gate, then the whole suite (needs PostgreSQL on 127.0.0.1:5432)
test: check
	env -u DAGSTER_HOME -u INVOICE_HOME -u INVOICE_DB_URL $(BIN)/pytest -q -p no:cacheprovider

## bench: benchmarks, results recorded in bench/README.md
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

## topology: the production topology (code server, webserver, daemon, ops API) as processes on the
## local PostgreSQL; topology-down stops it (deploy/topology.sh; README "Scaling beyond one machine")
topology: $(STAMP)
	deploy/topology.sh up

topology-down:
	deploy/topology.sh down

clean:
	rm -rf $(VENV) .invoice_home .pytest_cache .ruff_cache .mypy_cache
