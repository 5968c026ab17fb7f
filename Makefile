# landkort — the two commands: `make demo` and `make test`.
# Needs only Python 3.11+ and make; everything else goes into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-faults lint typecheck bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "landkort needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,demo]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## set up demo data and run the whole loop on http://127.0.0.1:8080
	$(BIN)/landkort demo

test: $(STAMP)  ## the test suite (PostgreSQL, Dovecot, Chromium parts run where available)
	$(BIN)/pytest

test-faults: $(STAMP)  ## kill -9 rounds and outages (prints rounds, mails, duplicates, losses)
	$(BIN)/pytest -m faults tests/faults

lint: $(STAMP)
	$(BIN)/ruff check bot intake moderation tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var build *.egg-info
