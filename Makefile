# The two commands of the README's quick start. Each creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench chromium clean

demo: $(VENV)/.installed
	$(BIN)/makespan plan examples/devflow/makespan.toml -j 4
	$(BIN)/makespan run examples/devflow/makespan.toml

test: $(VENV)/.installed-dev chromium lint typecheck unit

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -rs

# tests/test_report_browser.py opens an HTML report in headless Chromium (Debian's package),
# installed here where apt-get works as root; elsewhere that test is skipped and says why.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	  chromium; } >/dev/null 2>&1; } || echo "chromium not installed: the browser test is skipped"

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_analysis.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev,dask]'
	touch $@ $(VENV)/.installed

clean:
	rm -rf $(VENV) .makespan .pytest_cache .mypy_cache .ruff_cache .hypothesis
