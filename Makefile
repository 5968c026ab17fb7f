# landkort — the two commands: `make demo` and `make test`.
# Needs only Python 3.11+ and make; everything else goes into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install messages demo test test-aiosqlite test-faults lint typecheck bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "landkort needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,demo]'
	$(BIN)/python tools/messages.py --compile-only
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## set up demo data and run the whole loop on http://127.0.0.1:8080
	$(BIN)/landkort demo

test: $(STAMP)  ## the test suite (PostgreSQL, Dovecot, Chromium parts run where available)
	$(BIN)/pytest

test-aiosqlite: $(STAMP)  ## the database-heavy SQLite tests through the aiosqlite fallback driver
	LANDKORT_TEST_SQLITE_DRIVER=aiosqlite $(BIN)/pytest -q -m 'not postgres and not browser' \
		tests/test_registry.py tests/test_intake_processor.py tests/test_decisions.py \
		tests/test_outbox_sender.py tests/test_campaign_scheduler.py tests/test_mail_attacks.py \
		tests/test_moderation_web.py tests/test_leases.py tests/test_sqlite_inline.py

test-faults: $(STAMP)  ## kill -9 rounds and outages (prints rounds, mails, duplicates, losses)
	$(BIN)/pytest -m faults tests/faults

# Every dependency at the minimum pyproject.toml declares (constraints/floors.txt), in a
# venv of its own made afresh, and a fast subset: the parser, the registry and migrations
# on SQLite, the public and moderation web apps, LMTP, IMAP (pymap), SMTP and the
# catalogues. Outside services are not required here (LANDKORT_TEST_REQUIRE_ALL empty).
FLOORS_VENV  := .venv-floors
FLOORS_TESTS := tests/test_parse_*.py tests/test_registry.py tests/test_csv_import.py \
	tests/test_duplicates.py tests/test_public_catalogue.py tests/test_public_pages.py \
	tests/test_translations.py tests/test_moderation_web.py tests/test_intake_processor.py \
	tests/test_intake_lmtp.py tests/test_imap_client.py tests/test_sandbox.py \
	tests/test_outbox_sender.py tests/test_sqlite_inline.py tests/test_migration_lock.py
LOCK_VENV    := .venv-lock

.PHONY: test-floors lock

test-floors:  ## a fast subset with every dependency at its declared minimum (constraints/floors.txt)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "landkort needs Python 3.11 or newer"'
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/pip install --quiet --upgrade pip
	$(FLOORS_VENV)/bin/pip install --quiet -c constraints/floors.txt -e '.[test,demo]'
	$(FLOORS_VENV)/bin/python tools/messages.py --compile-only
	LANDKORT_TEST_REQUIRE_ALL= $(FLOORS_VENV)/bin/pytest -q -p no:cacheprovider \
		-m 'not postgres and not browser and not dovecot' $(FLOORS_TESTS)

lock:  ## refresh constraints/ci-lock.txt: a fresh venv at the newest versions, frozen
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "landkort needs Python 3.11 or newer"'
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet -e '.[test,demo]'
	{ printf '%s\n' \
	    '# The versions CI tests at the top: what a fresh install of .[test,demo] resolved to' \
	    "# on $$(date -u +%F) with Python $$($(LOCK_VENV)/bin/python -c 'import platform; print(platform.python_version())')." \
	    '# CI itself installs the newest versions (make install), so this is the set of that day,' \
	    '# to compare with or to reproduce: pip install -c constraints/ci-lock.txt -e ".[test,demo]"' \
	    '# Refresh with `make lock` (a fresh venv, pip install -e ".[test,demo]", pip freeze).'; \
	  $(LOCK_VENV)/bin/pip freeze --exclude-editable; } > constraints/ci-lock.txt.new
	mv constraints/ci-lock.txt.new constraints/ci-lock.txt
	rm -rf $(LOCK_VENV)

messages: $(STAMP)  ## extract texts into the catalogues (bot/locale), report gaps, compile .mo
	$(BIN)/python tools/messages.py --unused

lint: $(STAMP)  ## ruff, mypy and the import contracts (pyproject.toml [tool.importlinter])
	$(BIN)/ruff check bot intake moderation tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var build *.egg-info
