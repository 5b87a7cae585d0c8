# featurestore: `make` lists the targets.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK := scripts/stack

# The local stack's endpoints; `make run` and `make smoke` use them.
export FEATURESTORE_DYNAMODB_ENDPOINT ?= http://127.0.0.1:8000
export AWS_ACCESS_KEY_ID ?= local
export AWS_SECRET_ACCESS_KEY ?= local

.DEFAULT_GOAL := help
.PHONY: help install stack-install stack-up stack-down stack-status setup run smoke fuzz chaos bench test test-unit test-stack lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed stack-install ## Create the virtualenv, fetch Kafka and dynalite, install Chromium
	scripts/install-deb chromium chromium "the API page test"

stack-install: ## Fetch the Kafka jars (Maven) and dynalite (npm)
	$(STACK) install

stack-up: ## Start local DynamoDB (dynalite) and Kafka, wait until both answer
	$(STACK) up

stack-down: ## Stop the local stack
	$(STACK) down

stack-status: ## Show whether the local servers run
	@$(STACK) status || true

setup: $(BIN)/.installed stack-up ## Create the table and the topic on the local stack
	$(BIN)/flask --app featurestore setup

run: install setup ## Serve the API on 127.0.0.1:8015 in the foreground
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

smoke: $(BIN)/.installed ## Post the seed request to the running service and check each effect
	$(BIN)/python scripts/smoke.py

test: install ## Run every test; the stack tests start and stop their own servers
	$(BIN)/pytest

test-unit: $(BIN)/.installed ## Run the unit tests only (no servers)
	$(BIN)/pytest tests/unit

test-stack: install ## Run the tests against their own local dynalite and Kafka
	$(BIN)/pytest tests/stack

FUZZ_EXAMPLES ?= 300
FEATURESTORE_URL ?= http://127.0.0.1:8015

fuzz: $(BIN)/.installed ## Fuzz the running service from its OpenAPI document, then the value conversion
	$(BIN)/st run $(FEATURESTORE_URL)/openapi.json --checks all \
		--max-examples $(FUZZ_EXAMPLES) --request-timeout 10
	$(BIN)/pytest tests/unit/test_properties.py --hypothesis-profile=fuzz

CHAOS_WRITES ?= 3000
CHAOS_CLIENTS ?= 16

chaos: $(BIN)/.installed stack-install ## Check that no acknowledged write is lost while Kafka, dynalite and workers fail
	$(BIN)/python scripts/chaos.py --writes $(CHAOS_WRITES) --clients $(CHAOS_CLIENTS)

BENCH_ARGS ?= --runs 3 --seconds 10 --soak-seconds 300

bench: install ## Measure latency, throughput and memory against the bare-SDK floor
	scripts/install-deb wrk wrk "make bench"
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

lint: $(BIN)/.installed ## Check formatting and lint with ruff
	$(BIN)/ruff format --check featurestore tests scripts wsgi.py gunicorn.conf.py
	$(BIN)/ruff check featurestore tests scripts wsgi.py gunicorn.conf.py

format: $(BIN)/.installed ## Format the code with ruff
	$(BIN)/ruff format featurestore tests scripts wsgi.py gunicorn.conf.py
	$(BIN)/ruff check --fix featurestore tests scripts wsgi.py gunicorn.conf.py

clean: stack-down ## Stop the stack and remove the virtualenv, caches and local data
	rm -rf $(VENV) .cache .stack stack/node_modules
