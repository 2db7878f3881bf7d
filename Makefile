# Two commands: `make run` and `make test`. Both set themselves up on a fresh machine
# that has Python 3.11+ and make, and are safe to run again.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
SFEMU_PORT ?= 8443
export DEBUG ?= true

.PHONY: run test setup lint format ci bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

SFEMU_CREDENTIALS := var/sfemulator/credentials.env

# The demo emulator's OAuth client and fault-admin secrets: generated once, kept under var/.
$(SFEMU_CREDENTIALS):
	@mkdir -p var/sfemulator && chmod 700 var var/sfemulator
	@umask 077 && $(PYTHON) -c 'import secrets; print("SFEMU_CLIENT_ID=cockpit-demo"); print("SFEMU_CLIENT_SECRET=" + secrets.token_urlsafe(24)); print("SFEMU_FAULT_SECRET=" + secrets.token_urlsafe(24))' > $@
	@chmod 600 $@

run: setup $(SFEMU_CREDENTIALS)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@set -a && . ./$(SFEMU_CREDENTIALS) && set +a && \
	  SFEMU_URL=https://127.0.0.1:$(SFEMU_PORT) SFEMU_CA=$(CURDIR)/var/sfemulator/ca.pem \
	  $(BIN)/python manage.py bootstrap --demo
	@echo
	@echo "  Cockpit:   http://127.0.0.1:$(PORT)/   (admin: http://127.0.0.1:$(PORT)/admin/)"
	@echo "  API docs:  http://127.0.0.1:$(PORT)/api/docs/"
	@echo "  Salesforce emulator: https://127.0.0.1:$(SFEMU_PORT)  (CA: var/sfemulator/ca.pem;"
	@echo "    OAuth client id/secret in $(SFEMU_CREDENTIALS); see docs/sfemulator.md)"
	@echo "  Metrics:   curl http://127.0.0.1:$(PORT)/metrics   (docs/operations.md)"
	@echo
	@# The last run's metric counters: every process starts from zero together.
	@rm -rf "$${PROMETHEUS_MULTIPROC_DIR:-$${COCKPIT_VAR_DIR:-var}/prometheus}"
	@chmod 700 var var/sfemulator
	@# What the processes create under var/ (the emulator's state, kombu's control files, the
	@# metrics' files, gunicorn's control socket) is the running account's alone: 0600/0700.
	@umask 077 && set -a && . ./$(SFEMU_CREDENTIALS) && set +a && \
	  METRICS_ALLOWED_IPS=$${METRICS_ALLOWED_IPS-127.0.0.1} \
	  PORT=$(PORT) SFEMU_PORT=$(SFEMU_PORT) $(BIN)/honcho start -p $(PORT)

test: setup
	@bash tests/run.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var
