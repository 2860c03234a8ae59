# The two commands of the quick start are `make run` and `make test`; the rest help.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

# The PostgreSQL pass of `make test` (services of the development and CI machines).
PG_ADMIN_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_DATABASE_URL ?= postgres://sandbox@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-sqlite test-postgres lint format check clean install chromium postgres-role

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) manage.py runsandbox

test: $(STAMP) chromium
	@bin/test-all

test-sqlite: $(STAMP)
	$(VENV)/bin/pytest

test-postgres: $(STAMP) postgres-role
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_REDIS_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(VENV)/bin/pytest --create-db

# Browser tests drive Debian's Chromium; install it when it is missing and apt can.
chromium:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium is not installed and cannot be installed here: browser tests will be skipped."; }

# The application role: not a superuser, so PostgreSQL's row-level security binds it.
postgres-role:
	@$(PY) -m bin.postgres_role "$(PG_ADMIN_URL)" sandbox

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: $(STAMP)
	$(PY) manage.py check

clean:
	rm -rf $(VENV) var
