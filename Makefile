# Every command of the project. `make run` brings the whole system up; `make test` tests it.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)
SCALE ?=
PYTEST_ARGS ?=

.PHONY: install databases migrate seed topology run test test-unit lint format bench asyncapi \
        bench-catalog bench-rpc bench-certificates bench-billing bench-opening-day parked \
        replay-parked regional-operator wrk seed-if-empty audit-ledger close-period

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
# Each service serves Prometheus metrics on honcho's PORT: METRICS_BASE_PORT + 100 per
# Procfile line (+1 per extra instance); the gateway at /metrics on its own address.
METRICS_BASE_PORT ?= 9100
run: seed-if-empty topology
	@$(PY) -m servicekit.metrics --base-port $(METRICS_BASE_PORT) --scale "$(SCALE)"
	$(BIN)/honcho start -f Procfile -p $(METRICS_BASE_PORT) $(if $(SCALE),-c $(SCALE))

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

# Recount every certificate balance and reservation from the ledger; non-zero exit on a
# difference (docs/certificates.md).
audit-ledger: install
	$(PY) -m services.certificates.audit --applications

# Close a period once its last day is over (refused before; the certificates calendar does it
# by itself): leftovers expire, the next period's nominals are credited. Safe to re-run.
close-period: migrate
	$(PY) -m services.certificates.rollover $(PERIOD)

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

# /healthz, /api/v1/ping and the distinct search mix from one running system (docs/catalog.md);
# SCALE=catalog=2 runs it with two catalog instances.
bench: install wrk seed-if-empty
	$(PY) -m bench.catalog_search --seconds $(BENCH_SECONDS) $(if $(SCALE),--scale $(SCALE))
	$(PY) -m bench.telemetry_overhead

bench-catalog: bench

# The plumbing alone: /healthz and /api/v1/ping.
bench-rpc: install wrk
	$(PY) -m bench.gateway_rpc

# Reservations per second of one certificates instance, as a ratio to ping; see
# docs/certificates.md. INSTANCES=2 runs two.
INSTANCES ?= 1
bench-certificates: install
	$(PY) -m bench.certificates_reserve --seconds $(BENCH_SECONDS) --instances $(INSTANCES)

# bench-billing truncates payments and certificates, bench-opening-day drops and recreates
# every database: by default they work on databases of their own, never on `make run`'s.
bench-billing bench-opening-day: export ACCOUNTS_DATABASE_NAME ?= navigator_bench_accounts
bench-billing bench-opening-day: export CATALOG_DATABASE_NAME ?= navigator_bench_catalog
bench-billing bench-opening-day: export CERTIFICATES_DATABASE_NAME ?= navigator_bench_certificates
bench-billing bench-opening-day: export PAYMENTS_DATABASE_NAME ?= navigator_bench_payments
bench-billing bench-opening-day: export GATEWAY_DATABASE_NAME ?= navigator_bench_gateway

# Billing of CONTRACTS (100000) active contracts prepared in the databases, while the catalog
# search runs; see docs/payments.md.
CONTRACTS ?= 100000
MONTH ?= 2026-10
CHARGE_ONLY ?=
bench-billing: install wrk
	CONTRACTS=$(CONTRACTS) MONTH=$(MONTH) CHARGE_ONLY=$(CHARGE_ONLY) $(PY) -m bench.billing

# Opening day: 15,000 applications to 10,000 seats from 200 clients, invariants checked
# (docs/enrollment.md).
APPLICATIONS ?= 15000
SEATS ?= 10000
CLIENTS ?= 200
bench-opening-day: install wrk
	$(PY) -m bench.opening_day --applications $(APPLICATIONS) --seats $(SEATS) \
		--clients $(CLIENTS) $(if $(SCALE),--scale $(SCALE))

