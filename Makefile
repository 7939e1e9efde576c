# gpuform: `make synth` then `make test` on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
GPUFORM := $(VENV)/bin/gpuform
OUT ?= cdktf.out
# checkov pins much of its own world; it gets a venv of its own so it cannot move ours.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION := 3.3.30
TF ?= terraform
STACK ?=
NODE ?= 0
# Extra arguments for terraform apply/destroy under deploy/destroy, e.g. ARGS=-auto-approve.
ARGS ?=
# jsii prints an end-of-life banner on Node 20; nothing of it belongs in user output.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: help install synth test test-fast lint tools deploy destroy boot bench schema clean node-coverage tf-e2e

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create .venv and install gpuform with its dev tools

$(VENV)/.installed: pyproject.toml
	@command -v node >/dev/null || { echo "gpuform needs Node.js (cdktf runs on jsii): apt-get install nodejs"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $@

synth: install ## Synthesize every stack in stacks/ to $(OUT)/stacks/<name>/cdk.tf.json
	$(GPUFORM) synth --out $(OUT)

tools: $(CHECKOV_VENV)/.installed ## Install what the tests run for real (cloud-init, shellcheck, checkov, ...)
	@tools/ensure-debian-tools.sh

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	@touch $@

test: install tools lint ## Lint, then run every test (real validators, sshd, boots)
	$(VENV)/bin/pytest -q

test-fast: install ## Tests without the slow ones (no container boots)
	$(VENV)/bin/pytest -q -m "not slow"

lint: install ## ruff and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy infra stacks tools tests bench

deploy: synth ## terraform init + apply for STACK=<name> (variables from TF_VAR_* or a tfvars file)
	@test -n "$(STACK)" || { echo "usage: make deploy STACK=<name>  (see: $(GPUFORM) stacks)"; exit 2; }
	cd $(OUT)/stacks/$(STACK) && $(TF) init -input=false && $(TF) apply $(ARGS)

destroy: ## terraform destroy for STACK=<name>
	@test -n "$(STACK)" || { echo "usage: make destroy STACK=<name>"; exit 2; }
	cd $(OUT)/stacks/$(STACK) && $(TF) destroy $(ARGS)

tf-e2e: install ## Every stack (or STACK=<name>) through terraform init/validate/plan/apply/re-plan/destroy on the stand-in OCI provider
	$(PY) -m tests.standin_oci.e2e $(STACK)

boot: install tools ## Boot NODE of STACK under systemd + cloud-init in a container, print what it did
	@test -n "$(STACK)" || { echo "usage: make boot STACK=<name> [NODE=0]"; exit 2; }
	$(PY) -m tests.boot $(STACK) $(NODE)

# Where `make node-coverage` keeps its traces and data; which tests it runs (default: all, so the
# boot harness and every script test; narrow it, e.g. NODECOV_TESTS="tests/test_oci_client.py").
NODECOV ?= build/node-coverage
NODECOV_TESTS ?= tests

node-coverage: install tools ## Which lines of the node scripts ran under the boot harness and script tests
	rm -rf $(NODECOV) && mkdir -p $(NODECOV)/py
	-GPUFORM_NODE_COVERAGE=$(abspath $(NODECOV)) COVERAGE_FILE=$(abspath $(NODECOV))/py/.coverage \
	  $(VENV)/bin/coverage run --rcfile=tests/nodecov/coveragerc -m pytest -q -p no:cacheprovider $(NODECOV_TESTS)
	$(PY) -m tests.nodecov.report $(NODECOV)

bench: install ## Print synth timings (bench/synth.py)
	$(PY) bench/synth.py

schema: install ## Re-derive infra/tf/schema/oci.json and the stand-in provider's tests/standin_oci/schema.json
	$(PY) tools/derive_oci_schema.py --full

clean: ## Remove build and synth output (keeps .venv)
	rm -rf $(OUT) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis $(CHECKOV_VENV)
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
