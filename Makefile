# Every command of the project. `make run` brings the whole system up; `make test` tests it.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)
SCALE ?=
PYTEST_ARGS ?=

.PHONY: install databases migrate seed topology run test test-unit lint format bench asyncapi \
        bench-catalog bench-opening-day parked replay-parked regional-operator wrk seed-if-empty

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

databases: install
	$(PY) -m servicekit.migrate create

migrate: databases
	$(PY) -m servicekit.migrate upgrade

# Demo data (deploy/seed.py lists the seeds in order): `make run` loads it only into empty
# databases; `make seed` loads it again (each seed is idempotent).
seed: migrate
	$(PY) -m deploy.seed

seed-if-empty: migrate
	$(PY) -m deploy.seed --if-empty

topology: install
	$(PY) -m servicekit.topology

# SCALE=catalog=2,certificates=2 runs more instances of a service, as ops would.
run: seed-if-empty topology
	$(BIN)/honcho start -f Procfile $(if $(SCALE),-c $(SCALE))

test: install
	$(BIN)/nameko test tests -q -p no:warnings $(PYTEST_ARGS)

test-unit: install
	$(BIN)/nameko test tests/unit -q $(PYTEST_ARGS)

# The event catalog for integrators, generated from the services' marshmallow event schemas.
asyncapi: install
	$(PY) -m servicekit.asyncapi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The first regional operator: make regional-operator EMAIL=... NAME="..." (asks the password,
# or takes it from OPERATOR_PASSWORD).
regional-operator: migrate
	$(PY) -m services.accounts.admin create-regional-operator --email "$(EMAIL)" --full-name "$(NAME)"

# Operator tools for events whose handler failed every retry.
parked: install
	$(PY) -m servicekit.parked list

replay-parked: install
	$(PY) -m servicekit.parked replay $(if $(EVENT_ID),--event-id $(EVENT_ID))

# Benchmarks print figures (wrk, 50 connections); nothing in `make test` is timed.
BENCH_SECONDS ?= 20
wrk:
	@command -v wrk >/dev/null || (apt-get install -y wrk >/dev/null 2>&1 || \
		(apt-get update >/dev/null && apt-get install -y wrk >/dev/null)) || \
		{ echo "install wrk (apt-get install wrk)"; exit 1; }

bench: install wrk
	$(PY) -m bench.gateway_rpc
	$(PY) -m bench.catalog_search --seconds $(BENCH_SECONDS)

# Opening day: 15,000 applications to 10,000 seats from 200 clients, invariants checked
# (docs/enrollment.md). It drops and recreates the databases named in the environment:
# export your own CATALOG_DATABASE_NAME=... etc. first (CONTRACTS.md, last section).
APPLICATIONS ?= 15000
SEATS ?= 10000
CLIENTS ?= 200
bench-opening-day: install wrk
	$(PY) -m bench.opening_day --applications $(APPLICATIONS) --seats $(SEATS) \
		--clients $(CLIENTS) $(if $(SCALE),--scale $(SCALE))

# Catalog search under load through the gateway; see docs/catalog.md.
bench-catalog: install wrk
	$(PY) -m bench.catalog_search --seconds $(BENCH_SECONDS)
