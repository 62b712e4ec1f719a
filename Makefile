# Every command of the project. `make run` brings the whole system up; `make test` tests it.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)
SCALE ?=
PYTEST_ARGS ?=

.PHONY: install web web-client databases migrate seed topology run test test-unit lint format bench asyncapi \
        bench-catalog bench-rpc bench-certificates bench-billing bench-opening-day parked \
        replay-parked regional-operator wrk seed-if-empty audit-ledger close-period lint-openapi lock \
        year-demo chaos

install: $(VENV)/.installed web/node_modules/.installed

# The Python of pyproject.toml's requires-python; tools/check_python.py names it when the one
# given is another. psycopg2 builds against libpq: pg_config and a C compiler (libpq-dev, gcc).
PYTHON ?= python3
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	@$(PYTHON) tools/check_python.py $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# a .venv from before the lock had psycopg2-binary, which shares psycopg2's files
	$(PY) -m pip uninstall -q -y psycopg2-binary 2>/dev/null || true
	$(PY) -m pip install -q -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check
	touch $@

# requirements.lock (the image) and requirements-dev.lock (make install, CI) from
# pyproject.toml: run after changing a dependency there, and commit both (tools/lock.py).
lock:
	@$(PYTHON) tools/check_python.py $(PYTHON)
	$(PYTHON) tools/lock.py

# The parents' portal (web/): its npm packages exactly as web/package-lock.json pins them.
web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

# web/dist, served by the gateway at / beside /api/v1 (nginx serves it in production).
WEB_SOURCES := $(shell find web/src web/public web/index.html web/package.json web/vite.config.ts -type f 2>/dev/null)
web/dist/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run build --silent
web: web/dist/index.html

# The portal's API client from the gateway's OpenAPI document (tests/unit/test_web.py fails
# when the committed one differs): run after changing a route.
web-client: install
	$(PY) -m gateway.openapi_file web/openapi.json
	cd web && npm run generate --silent

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
# Procfile line (+1 per extra instance), the gateway too (not on its API address).
METRICS_BASE_PORT ?= 9100
run: seed-if-empty topology web
	@$(PY) -m servicekit.metrics --base-port $(METRICS_BASE_PORT) --scale "$(SCALE)"
	$(BIN)/honcho start -f Procfile -p $(METRICS_BASE_PORT) $(if $(SCALE),-c $(SCALE))

test: install web
	$(BIN)/nameko test tests -q -p no:warnings $(PYTEST_ARGS)

test-unit: install
	$(BIN)/nameko test tests/unit -q $(PYTEST_ARGS)

# The event catalog for integrators, generated from the services' marshmallow event schemas.
asyncapi: install
	$(PY) -m servicekit.asyncapi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Redocly's recommended lint (warnings as errors) of the gateway's OpenAPI document: the
# @redocly/cli pinned in tools/openapi-lint/package-lock.json, installed by `npm ci` (Node 20+).
OPENAPI_LINT := tools/openapi-lint
lint: lint-openapi
lint-openapi: install $(OPENAPI_LINT)/node_modules/.installed
	$(PY) -m gateway.openapi_file $(OPENAPI_LINT)/openapi.json
	cd $(OPENAPI_LINT) && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
		./node_modules/.bin/redocly lint --config redocly.yaml openapi.json

$(OPENAPI_LINT)/node_modules/.installed: $(OPENAPI_LINT)/package-lock.json
	cd $(OPENAPI_LINT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The first regional operator: make regional-operator EMAIL=... NAME="..." (asks the password,
# or takes it from OPERATOR_PASSWORD).
regional-operator: migrate
	$(PY) -m services.accounts.admin create-regional-operator --email "$(EMAIL)" --full-name "$(NAME)"

# Recount every certificate balance and reservation from the ledger, then check invoices
# against debits per provider x municipality x month; non-zero exit on a difference
# (docs/certificates.md, docs/payments.md).
audit-ledger: install
	$(PY) -m services.certificates.audit --applications
	$(PY) -m services.payments.audit

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
# every database: they work only on databases they created, named navigator_bench_...
# (bench/databases.py refuses others, and production; BENCH_ALLOW_FOREIGN_DATABASES=yes).
bench-billing bench-opening-day: export ACCOUNTS_DATABASE_NAME ?= navigator_bench_accounts
bench-billing bench-opening-day: export CATALOG_DATABASE_NAME ?= navigator_bench_catalog
bench-billing bench-opening-day: export CERTIFICATES_DATABASE_NAME ?= navigator_bench_certificates
bench-billing bench-opening-day: export PAYMENTS_DATABASE_NAME ?= navigator_bench_payments
bench-billing bench-opening-day: export ENROLLMENT_DATABASE_NAME ?= navigator_bench_enrollment
bench-billing bench-opening-day: export NOTIFICATIONS_DATABASE_NAME ?= navigator_bench_notifications
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

# A whole program year, September to August, on databases of its own (navigator_bench_year_*,
# dropped and recreated; bench/databases.py's refusals) with the business clock moved by a
# clock file: YEAR_APPLICATIONS (300) opening-day applications through the gateway, lessons,
# the calendar's billing, payments, events; a line a month and the invariants (exit 1 if one
# fails). See docs/payments.md.
YEAR_APPLICATIONS ?= 300
year-demo: install
	$(PY) -m bench.year_demo --applications $(YEAR_APPLICATIONS)

# The fault campaign (issue 20, bench/chaos.py): per scenario a system of its own (databases
# navigator_bench_chaos_*, dropped and recreated; a vhost of its own behind a TCP proxy that it
# cuts, never the shared RabbitMQ server), CHAOS_APPLICATIONS parents applying while a process
# is killed or stopped or the broker is cut; prints scenario x answers x invariants x events
# and exits 1 on an orphaned reservation, an application created after its 503, a repeat that
# did not return the first result, an overbooking or a lost event. CHAOS_ARGS="--scenario
# 'stop certificates'" runs one.
CHAOS_APPLICATIONS ?= 300
chaos: install
	$(PY) -m bench.chaos --applications $(CHAOS_APPLICATIONS) $(CHAOS_ARGS)

