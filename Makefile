# affectops — run `make help` for the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export AFFECTOPS_HOME ?= $(CURDIR)/.affectops

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint format lock repro bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# torch first, pinned: a machine that carries the CPU build takes it instead of CUDA wheels
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv with torch (CPU if present), the platform and its dev tools

demo: $(STAMP) ## The main job end to end on embedded defaults
	$(VENV)/bin/affectops demo

test: $(STAMP) ## Run the whole test suite (what CI runs)
	$(VENV)/bin/pytest -q

test-fast: $(STAMP) ## Unit tests only
	$(VENV)/bin/pytest -q -m unit

lint: $(STAMP) ## Ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: ## Re-resolve the stack from pyproject.toml into constraints.txt
	rm -rf /tmp/affectops-lock && python3 -m venv /tmp/affectops-lock
	/tmp/affectops-lock/bin/pip install -q --upgrade pip
	/tmp/affectops-lock/bin/pip install -q torch==2.13.0
	/tmp/affectops-lock/bin/pip install -q -e '.[dev]'
	{ echo "# Exact versions of the whole stack as resolved and tested together (python 3.11, CPU torch)."; \
	  echo "# Regenerate with: make lock"; \
	  /tmp/affectops-lock/bin/pip freeze --exclude-editable | grep -v '^torch=='; } > constraints.txt

repro: $(STAMP) ## Run the DVC stages of dvc.yaml (prepare, split, validate) with params.yaml
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/dvc repro

bench: $(STAMP) ## Full-size data-layer benchmark (minutes; writes benchmarks/RESULTS.md)
	$(PY) -m benchmarks.data_layer

clean: ## Remove the embedded state under AFFECTOPS_HOME
	rm -rf $(AFFECTOPS_HOME)
