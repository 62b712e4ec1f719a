# Every command of the project. `make run` brings the whole system up; `make test` tests it.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)
SCALE ?=
PYTEST_ARGS ?=

.PHONY: install databases migrate seed topology run test test-unit lint format bench \
        bench-catalog parked replay-parked clean-test-data

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

# Demo data: loaded by `make run` only into empty databases; `make seed` forces it.
SEED_MODULES :=
seed: migrate
	@for module in $(SEED_MODULES); do $(PY) -m $$module || exit 1; done

seed-if-empty: migrate
	@for module in $(SEED_MODULES); do $(PY) -m $$module --if-empty || exit 1; done

topology: install
	$(PY) -m servicekit.topology

# SCALE=catalog=2,certificates=2 runs more instances of a service, as ops would.
run: seed-if-empty topology
	$(BIN)/honcho start -f Procfile $(if $(SCALE),-c $(SCALE))

test: install
	$(BIN)/nameko test tests -q -p no:warnings $(PYTEST_ARGS)

test-unit: install
	$(BIN)/nameko test tests/unit -q $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Operator tools for events whose handler failed every retry.
parked: install
	$(PY) -m servicekit.parked list

replay-parked: install
	$(PY) -m servicekit.parked replay $(if $(EVENT_ID),--event-id $(EVENT_ID))

bench: install
	$(PY) -m tests.bench.rpc_rate
