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
	$(BIN)/gunicorn --workers 4 --threads 2 --bind $(HOST):$(PORT) --access-logfile - wsgi:app

# Without TEST_DATABASE_URL (a fresh clone): the whole suite on SQLite, the embedded database of `make run`.
# With it (CI, where PostgreSQL is the production database): the whole suite on PostgreSQL, browser tests included,
# then on SQLite again everything but the page-level modules below, whose requests read and write through the same
# dialect-neutral code the PostgreSQL pass has just covered — so every dialect branch (imports, throttling, outbox,
# counts, search, locks, migrations) still runs on both within the time budget. The SQLite pass must not see
# TEST_DATABASE_URL (tests/conftest.py would switch to PostgreSQL), so it runs with the variable removed.
PYTEST_WORKERS ?= 2
PAGE_LEVEL := tests/browser tests/test_access_matrix.py tests/test_aid_pages.py tests/test_admin.py \
              tests/test_i18n.py tests/test_look.py tests/test_workflow_roles.py tests/test_registry_pages.py
test: install
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "PostgreSQL pass on $${TEST_DATABASE_URL##*@}" && \
	  $(BIN)/pytest -n $(PYTEST_WORKERS) && \
	  echo "SQLite pass (dialect-sensitive modules; page-level ones ran on PostgreSQL)" && \
	  env -u TEST_DATABASE_URL $(BIN)/pytest -n $(PYTEST_WORKERS) $(addprefix --ignore=,$(PAGE_LEVEL)); \
	else \
	  $(BIN)/pytest -n $(PYTEST_WORKERS); \
	fi

test-sqlite: install
	env -u TEST_DATABASE_URL $(BIN)/pytest -n $(PYTEST_WORKERS)

test-postgres: install
	@test -n "$$TEST_DATABASE_URL" || { echo "set TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres)"; exit 2; }
	$(BIN)/pytest -n $(PYTEST_WORKERS)

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m bench.registry --help

clean:
	rm -rf $(VENV) instance .pytest_cache
