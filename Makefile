# sen2cloud developer commands. Every target creates/uses the virtual environment in .venv/.
VENV    := .venv
PY      := $(VENV)/bin/python
PYTEST_WORKERS ?= 2
BENCH_SIZES ?= 1830,5490,10980
BENCH_CACHE ?= .bench-cache

.DEFAULT_GOAL := help
.PHONY: help setup local demo test lint typecheck check bench lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements.lock infra/system-deps.sh
	bash infra/system-deps.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

setup: $(VENV)/.installed ## Install system libraries and the Python environment (.venv/)

local: setup ## Run the stack locally (moto S3/SQS/DynamoDB, functions, STAC API) until Ctrl-C; prints its endpoints as JSON
	$(PY) -m infra.emulation serve

demo: setup ## Upload a simulated L1C to the emulated stack and show it become a searchable STAC item
	$(PY) -m infra.emulation demo

test: setup ## Run the test suite (uses ../shared/data when present)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -q

lint: setup ## ruff (lint + format check)
	$(VENV)/bin/ruff check core handlers infra tests benchmarks
	$(VENV)/bin/ruff format --check core handlers infra tests benchmarks

typecheck: setup ## mypy on core/, handlers/ and infra/
	$(VENV)/bin/mypy

check: lint typecheck test ## Everything CI checks

bench: setup ## Stage timings, peak memory and disk vs the I/O floor at BENCH_SIZES (default 1830,5490,10980; with the scene's DEM; ~35 min), JSON in bench-results.json
	$(PY) -m benchmarks.run --sizes $(BENCH_SIZES) --cache $(BENCH_CACHE) --output bench-results.json

lock: ## Re-pin requirements.lock from the current environment
	$(PY) -m pip freeze --exclude-editable | grep -v '^sen2cloud' > requirements.lock

clean: ## Remove the environment and generated outputs
	rm -rf $(VENV) demo-output bench-results.json $(BENCH_CACHE) .pytest_cache .ruff_cache .mypy_cache
