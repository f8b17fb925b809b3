# One command per job. Both bootstrap a local virtualenv (.venv) on first use
# and reuse it afterwards; the only prerequisites are Python >= 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit emulator bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the facade with the embedded athenahealth emulator on :8080
run: $(STAMP)
	$(BIN)/athena-facade serve

## test: lint, type checks and the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

emulator: $(STAMP)
	$(BIN)/athena-facade emulator --port 9090

bench: $(STAMP)
	$(BIN)/athena-facade bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
