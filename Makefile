# Every target a newcomer needs; `make help` lists them from the `##` comments.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins boto3 and packaging of its own, so it lives in a venv of its own.
TOOLS := .venv-tools

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-tools.txt container/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r container/requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install everything (idempotent)

.PHONY: docker
docker: ## Install and start the Docker engine when missing (Debian, root), or say what to do
	bash scripts/ensure-docker.sh

.PHONY: test
test: install docker ## Run the whole suite: unit, container, contract, ui, e2e
	$(BIN)/python -m pytest

.PHONY: test-fast
test-fast: install ## Unit, container and contract tiers only (no Docker, no browser)
	$(BIN)/python -m pytest -m "unit or container or contract"

.PHONY: lint
lint: install ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy  # strict, on services, container, app and benchmarks (pyproject.toml)

.PHONY: bench-image
bench-image: install docker ## Training image: size, MB added on the base (goal <= 350), build cold/warm (BENCH_COLD_BASE=1: rebuild the offline base too)
	$(BIN)/python -m benchmarks.bench_image

.PHONY: image
image: install docker ## Build the training image if its content changed, push it to ECR (local: the stack's registry)
	$(BIN)/titanic-sm image

.PHONY: stack-up
stack-up: install ## Start the local stack (moto + registry on 127.0.0.1); state in .state/local-stack
	$(BIN)/titanic-sm local up

.PHONY: stack-down
stack-down: install ## Stop the local stack
	$(BIN)/titanic-sm local down

.PHONY: bench-model
bench-model: install ## Model quality: 5x5 repeated stratified CV against honest baselines
	$(BIN)/python -m benchmarks.bench_model

.PHONY: bench-capacity
bench-capacity: install docker ## Capacity probe: peak memory and wall time under Docker limits, then the proof on the chosen instance
	$(BIN)/titanic-sm data prepare
	$(BIN)/titanic-sm probe
	$(BIN)/titanic-sm instances | sed -n '1,5p'

.PHONY: run
run: install docker ## Serve the dashboard on 127.0.0.1:8501 (starts the local stack first)
	$(BIN)/titanic-sm local up
	$(BIN)/streamlit run app/Home.py \
		--server.address 127.0.0.1 --server.port 8501 --server.headless true --client.toolbarMode viewer \
		--client.showErrorDetails type

.PHONY: bench-ui
bench-ui: install docker ## Dashboard timings: cold page load, launch to first log line and to metrics, Jobs page with 200 jobs
	bash scripts/ensure-browser.sh
	$(BIN)/python tests/ui/bench_ui.py
	$(BIN)/python tests/ui/bench_jobs.py

.PHONY: screenshots
screenshots: install docker ## Refresh docs/screenshots/ (each page in English, and in Korean as <page>-ko.png) while measuring as bench-ui does
	bash scripts/ensure-browser.sh
	$(BIN)/python tests/ui/bench_ui.py --screenshots docs/screenshots

.PHONY: pipeline
pipeline: install docker ## Headless end to end: data -> S3 channels -> build -> push -> fit -> verify -> download (RUN_ARGS="--hp num_leaves=7")
	$(BIN)/titanic-sm run $(RUN_ARGS)

.PHONY: bench-run
bench-run: install docker ## Wall time of each `titanic-sm run` stage, cold (new stack, empty bucket and registry) and warm
	$(BIN)/python -m benchmarks.bench_run
	$(BIN)/python benchmarks/bench_concurrent_runs.py
