# Two commands on a fresh machine: `make run` and `make test`. Both create .venv and install
# everything from pyproject.toml first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
RUNTIME := $(VENV)/.runtime-stamp

.PHONY: install run test lint typecheck contracts pytest bench format clean screenshots

# `make run` needs only the runtime; `make test` adds the dev tools on top.
$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(RUNTIME)
	$(BIN)/orchestrator db upgrade
	$(BIN)/orchestrator serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

contracts: install
	$(BIN)/lint-imports

pytest: install
	$(BIN)/pytest

test: lint typecheck contracts pytest

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench.http_overhead
	$(BIN)/python -m bench.limiter_precision
	$(BIN)/python -m bench.transactions_sync
	$(BIN)/python -m bench.reconcile_throughput
	$(BIN)/python -m bench.investors_list
	$(BIN)/python -m bench.console_pages
	$(BIN)/python -m bench.kis_stream
	$(BIN)/python -m bench.kiwoom_stack

# Refresh the two console pictures the README shows (docs/*.png) from a real browser run.
screenshots: install
	mkdir -p docs
	CONSOLE_README_SHOTS=$(CURDIR)/docs $(BIN)/pytest -q tests/web/test_console_browser.py -k readme_pictures

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
