# Профпортал. `make run` serves the portal on http://127.0.0.1:8000; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
DEMO_MEMBERS ?= 3000

.PHONY: install run test test-sqlite test-postgres lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Migrates, loads the demo registry on first start, then runs what production runs, as one command: gunicorn (a
# production WSGI server) and `portal worker` (the scheduled jobs — the 01:00 transfer to PROFCARDS, the 1st/15th
# card processing — and the mail outbox). Ctrl+C stops both: the worker finishes the job or message in hand.
# If gunicorn stops by itself, the worker is stopped too (SIGTERM). The background worker is started by this shell,
# which ignores SIGINT for it, but the worker installs its own SIGINT/SIGTERM handlers; a second signal would stop it
# at once, so after a Ctrl+C (which reached it already) it is only waited for.
# Plain http on loopback, so session cookies go without the Secure flag here; behind HTTPS leave it unset.
run: install
	$(BIN)/portal db upgrade
	$(BIN)/portal demo-data --if-empty --members $(DEMO_MEMBERS)
	@echo "Профпортал: http://$(HOST):$(PORT) — сайт, задания по расписанию и почта; Ctrl+C останавливает всё."
	@export PORTAL_INSECURE_COOKIES=1; \
	$(BIN)/portal worker & worker=$$!; \
	trap 'interrupted=1; exit 130' INT TERM; \
	trap '[ -n "$$interrupted" ] || kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; \
	$(BIN)/gunicorn --workers 2 --threads 4 --bind $(HOST):$(PORT) --access-logfile - wsgi:app

# The whole suite on SQLite; again on PostgreSQL when TEST_DATABASE_URL is set (CI sets it). The SQLite pass must not
# see TEST_DATABASE_URL (tests/conftest.py would switch to PostgreSQL), so it runs with the variable removed.
# The PostgreSQL pass leaves out the browser tests: they check the pages, which do not depend on the database.
PYTEST_WORKERS ?= 2
test: test-sqlite test-postgres

test-sqlite: install
	env -u TEST_DATABASE_URL $(BIN)/pytest -n $(PYTEST_WORKERS)

test-postgres: install
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "PostgreSQL pass on $${TEST_DATABASE_URL##*@}"; \
	  $(BIN)/pytest -n $(PYTEST_WORKERS) -m "not browser"; \
	else echo "PostgreSQL pass skipped: TEST_DATABASE_URL is not set"; fi

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m bench.registry --help

clean:
	rm -rf $(VENV) instance .pytest_cache
