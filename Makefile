# One command per job. Both bootstrap a local virtualenv (.venv) on first use
# and reuse it afterwards; the only prerequisites are Python >= 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

BROWSER := tests/browser
BROWSER_STAMP := $(BROWSER)/node_modules/.installed

.PHONY: run test lint typecheck unit browser-deps emulator bench clean

# First run: says what it is doing (about 30 s of installing, with pip's progress bar).
$(STAMP): pyproject.toml
	@echo "==> first run (or pyproject.toml changed): setting up $(VENV) with $(PYTHON)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> upgrading pip"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "==> installing athena-fhir-facade and its dependencies into $(VENV) (about 30 s)"
	@$(BIN)/python -m pip install --progress-bar on --no-color -e '.[dev]'
	@touch $(STAMP)
	@echo "==> installed; next runs start at once"

## run: start the facade with the embedded athenahealth emulator on :8080
run: $(STAMP)
	@echo "==> starting the facade with the embedded athenahealth emulator (Ctrl+C stops it)"
	$(BIN)/athena-facade serve

## test: lint, type checks and the whole test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) browser-deps
	$(BIN)/pytest -q

# The headless-Chromium SMART test (tests/auth/test_browser.py) needs fhirclient and
# playwright-core from npm (never a browser download; Chromium comes from Debian, see .ci/run).
browser-deps:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(BROWSER_STAMP); \
	else echo "npm not found: the browser test will be skipped (CI installs it)"; fi

$(BROWSER_STAMP): $(BROWSER)/package.json $(BROWSER)/package-lock.json
	cd $(BROWSER) && npm ci --no-audit --no-fund
	touch $@

emulator: $(STAMP)
	$(BIN)/athena-facade emulator --port 9090

bench: $(STAMP)
	$(BIN)/athena-facade bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache $(BROWSER)/node_modules test-artifacts
