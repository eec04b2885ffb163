# aks-edw: one Go module, one Helm chart. `make help` lists the targets.
#
# Built tools (helm, helm-docs, the simulated cluster's binaries) are cached outside the
# repository under EDW_CACHE_DIR, keyed by version, and never rebuilt once cached.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
EDW_CACHE_DIR ?= $(HOME)/.cache/aks-edw
export EDW_CACHE_DIR

BIN := $(CURDIR)/bin
AZURITE_DIR := $(CURDIR)/tools/azurite

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {n++; name[n] = $$1; text[n] = $$2; if (length($$1) > width) width = length($$1)} \
		END {for (i = 1; i <= n; i++) printf "  %-" width "s  %s\n", name[i], text[i]}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build producer, consumer and edwctl into ./bin
	$(GO) build -o $(BIN)/ ./src/producer ./src/consumer ./tools/edwctl

.PHONY: azurite
azurite: $(AZURITE_DIR)/node_modules/.bin/azurite ## Install the pinned Azurite from npm

$(AZURITE_DIR)/node_modules/.bin/azurite: $(AZURITE_DIR)/package.json $(AZURITE_DIR)/package-lock.json
	npm ci --prefix $(AZURITE_DIR) --no-audit --no-fund
	@touch $@

.PHONY: test
test: azurite ## Run the unit, Azurite and chart tests (no cluster builds)
	$(GO) test -count=1 ./...

LOCAL_FLAGS ?=
BENCH_FLAGS ?=

.PHONY: local
local: azurite ## Run producer and consumer against a local Azurite and print a summary (LOCAL_FLAGS)
	$(GO) run ./tools/edwctl local $(LOCAL_FLAGS)

.PHONY: bench
bench: azurite ## Print consumer and producer throughput on Azurite next to the raw SDK (BENCH_FLAGS; not in make test)
	$(GO) run ./test/bench $(BENCH_FLAGS)

.PHONY: lint
lint: lint-bicep chart-lint chart-docs-check ## Vet the Go code and check the Bicep files and the chart
	$(GO) vet ./...

.PHONY: ci
ci: lint test e2e-sim ## What .ci/run runs

# --- Bicep checks, Azure deploy and destroy, container images -----------------------------
#
# No Bicep compiler runs here: every .bicep file is parsed with pycep-parser, scanned with
# Checkov, and test/bicep asserts the settings that must not drift from the parsed trees.
# The two Python tools pin different pycep-parser versions, so each gets a virtualenv under
# EDW_CACHE_DIR named after the Python version and a hash of its requirements file.

PYTHON ?= python3
BICEP_DIR := $(CURDIR)/bicep
BICEP_LINT_DIR := $(CURDIR)/tools/bicep-lint
BICEP_PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
BICEP_PARSE_VENV := $(EDW_CACHE_DIR)/venv/bicep-parse-py$(BICEP_PY_VERSION)-$(shell sha256sum $(BICEP_LINT_DIR)/requirements-parse.txt | cut -c1-12)
BICEP_CHECKOV_VENV := $(EDW_CACHE_DIR)/venv/bicep-checkov-py$(BICEP_PY_VERSION)-$(shell sha256sum $(BICEP_LINT_DIR)/requirements-checkov.txt | cut -c1-12)
# test/bicep runs this interpreter; without it the tests skip and say how to create it.
export EDW_BICEP_PYTHON := $(BICEP_PARSE_VENV)/bin/python

$(BICEP_PARSE_VENV)/.installed: $(BICEP_LINT_DIR)/requirements-parse.txt
	@rm -rf $(@D)
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r $<
	$(@D)/bin/python -m pip check --disable-pip-version-check
	@touch $@

$(BICEP_CHECKOV_VENV)/.installed: $(BICEP_LINT_DIR)/requirements-checkov.txt
	@rm -rf $(@D)
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r $<
	$(@D)/bin/python -m pip check --disable-pip-version-check
	@touch $@

.PHONY: bicep-venv
bicep-venv: $(BICEP_PARSE_VENV)/.installed $(BICEP_CHECKOV_VENV)/.installed ## Create the Python virtualenvs for the Bicep checks

.PHONY: lint-bicep
lint-bicep: $(BICEP_PARSE_VENV)/.installed $(BICEP_CHECKOV_VENV)/.installed ## Parse the Bicep files, run Checkov on them, the workflows and the Dockerfiles, run test/bicep
	$(BICEP_PARSE_VENV)/bin/python $(BICEP_LINT_DIR)/bicep_lint.py parse $(BICEP_DIR)
	$(BICEP_CHECKOV_VENV)/bin/python $(BICEP_LINT_DIR)/bicep_lint.py checkov --framework bicep $(BICEP_DIR)
	$(BICEP_CHECKOV_VENV)/bin/python $(BICEP_LINT_DIR)/bicep_lint.py checkov --framework github_actions $(CURDIR)/.github/workflows
	$(BICEP_CHECKOV_VENV)/bin/python $(BICEP_LINT_DIR)/bicep_lint.py checkov --framework dockerfile $(CURDIR)/src
	$(GO) test -count=1 ./test/bicep/

# `make test` includes test/bicep, which needs the parser virtualenv (created in seconds).
test: $(BICEP_PARSE_VENV)/.installed

RESOURCE_GROUP ?= rg-aks-edw
LOCATION ?=
DEPLOY_FLAGS ?=
DESTROY_FLAGS ?=
IMAGE_TAG ?= dev

.PHONY: deploy
deploy: ## Deploy to Azure: Bicep, image build in ACR, chart install (RESOURCE_GROUP, LOCATION, DEPLOY_FLAGS)
	$(GO) run ./tools/edwctl deploy --resource-group $(RESOURCE_GROUP) $(if $(LOCATION),--location $(LOCATION)) $(DEPLOY_FLAGS)

.PHONY: destroy
destroy: ## Delete the Azure resource group that deploy created, after a confirmation (RESOURCE_GROUP, DESTROY_FLAGS)
	$(GO) run ./tools/edwctl destroy --resource-group $(RESOURCE_GROUP) $(DESTROY_FLAGS)

.PHONY: image
image: ## Build the consumer and producer OCI image tarballs offline into .work/images (IMAGE_TAG)
	$(GO) run ./tools/edwctl image --component consumer --tag $(IMAGE_TAG) --output $(CURDIR)/.work/images/consumer.tar
	$(GO) run ./tools/edwctl image --component producer --tag $(IMAGE_TAG) --output $(CURDIR)/.work/images/producer.tar

# --- Helm chart ---------------------------------------------------------------------------
#
# helm and helm-docs are go.mod tools: `go tool` builds them from the pinned modules once and
# Go's build cache keeps the binaries. The chart's CRD check needs a cluster, so lint turns it
# off; test/chart covers the check itself.

CHART_DIR := $(CURDIR)/charts/aks-edw
HELM_DOCS_FLAGS := --sort-values-order file --log-level warning

.PHONY: chart-lint
chart-lint: ## Run helm lint --strict on the chart with each ci/*-values.yaml scenario
	@for values in $(CHART_DIR)/ci/*-values.yaml; do \
		echo "helm lint --strict -f $${values#$(CURDIR)/}"; \
		$(GO) tool helm lint --strict --quiet $(CHART_DIR) -f "$$values" --set crdCheck.enabled=false; \
	done

.PHONY: chart-docs
chart-docs: ## Regenerate the chart README from README.md.gotmpl and values.yaml
	$(GO) tool helm-docs --chart-search-root $(CHART_DIR) $(HELM_DOCS_FLAGS)

.PHONY: chart-docs-check
chart-docs-check: ## Fail when the chart README differs from what chart-docs generates
	@scratch=$$(mktemp -d); trap 'rm -rf "$$scratch"' EXIT; \
	cp -R $(CHART_DIR) "$$scratch/"; \
	$(GO) tool helm-docs --chart-search-root "$$scratch" $(HELM_DOCS_FLAGS); \
	if ! diff -u $(CHART_DIR)/README.md "$$scratch/$(notdir $(CHART_DIR))/README.md"; then \
		echo "charts/aks-edw/README.md is out of date: run make chart-docs and commit the result" >&2; \
		exit 1; \
	fi

# --- Installer integration tests ----------------------------------------------------------
#
# test/installer starts its own etcd and kube-apiserver on loopback (no controllers) from the
# simulated cluster's cached binaries, and installs KEDA's and Karpenter's CRDs from their
# pinned Go modules. EDW_ETCD and EDW_KUBE_APISERVER override the binaries.

.PHONY: test-installer
test-installer: ## Run the preflight, install and status tests against a bare kube-apiserver (builds the cached binaries once)
	$(GO) run ./tools/edwctl sim build
	$(GO) test -tags e2esim -count=1 ./test/installer/

# --- Simulated cluster ----------------------------------------------------------------------
#
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok, KEDA and
# Karpenter's kwok provider are built from the Go module proxy into EDW_CACHE_DIR/bin. The first
# build took about 20 minutes on a 2-core machine; later runs reuse the cache. sim-up leaves the
# cluster running on 127.0.0.1 with its kubeconfig, pids and logs in SIM_STATE_DIR, and sim-down
# stops every process it started.

SIM_STATE_DIR ?= $(CURDIR)/.work/sim
# The helper processes that sim up leaves running (Azurite, the pod runner) are this binary,
# so it must stay in place while the cluster runs; `go run` would delete it.
EDWCTL := $(BIN)/edwctl

.PHONY: sim-build
sim-build: ## Build the simulated cluster's components into EDW_CACHE_DIR (cached; first run ~20 min)
	$(GO) run ./tools/edwctl sim build

.PHONY: sim-up
sim-up: azurite sim-build ## Start the simulated cluster and leave it running (SIM_STATE_DIR, default .work/sim)
	$(GO) build -o $(EDWCTL) ./tools/edwctl
	$(EDWCTL) sim up --state-dir $(SIM_STATE_DIR)

.PHONY: sim-down
sim-down: ## Stop every process of the simulated cluster; logs stay in SIM_STATE_DIR/logs
	$(GO) build -o $(EDWCTL) ./tools/edwctl
	$(EDWCTL) sim down --state-dir $(SIM_STATE_DIR)

# --- End-to-end scaling tests and the demo ----------------------------------------------------
#
# One scenario (test/e2e/scenario) runs on three clusters. e2e-sim runs it here and in CI; e2e
# needs Docker or Podman for kind, and e2e-aks an az login and a subscription, and neither was
# run on the machine that wrote them: e2e-vet compiles both, and e2e-sim runs e2e-vet first.
# The e2esim packages run one at a time (-p 1): test/sim starts a cluster of its own, and two
# clusters at once on 2 cores slow each other's controllers.

.PHONY: e2e-vet
e2e-vet: ## Compile the kind and AKS end-to-end tests without running them
	$(GO) vet -tags e2ekind ./test/e2e/...
	$(GO) vet -tags e2eaks ./test/e2e/...

.PHONY: e2e-sim
e2e-sim: e2e-vet sim-up ## Run the e2esim tests against the simulated cluster, then take it down (also on failure or Ctrl-C)
	@trap 'status=$$?; $(EDWCTL) sim down --state-dir $(SIM_STATE_DIR) || status=1; exit $$status' EXIT; \
	EDW_SIM_STATE_DIR=$(SIM_STATE_DIR) $(GO) test -tags e2esim ./test/... -count=1 -p 1 -timeout 60m -v

.PHONY: e2e
e2e: ## Run the scaling scenario on a new kind cluster, then delete it (needs Docker or Podman)
	$(GO) test -tags e2ekind ./test/e2e/ -run TestKind -count=1 -timeout 60m -v

.PHONY: e2e-aks
e2e-aks: ## Deploy to a new resource group, run the scaling scenario on AKS, delete the group (LOCATION; needs az login)
	EDW_E2E_LOCATION=$(LOCATION) $(GO) test -tags e2eaks ./test/e2e/ -run TestAKS -count=1 -timeout 150m -v

DEMO_FLAGS ?=

.PHONY: demo
demo: azurite ## Start the simulated cluster, send a burst, watch pods and nodes scale out and in, tear down (DEMO_FLAGS)
	$(GO) build -o $(EDWCTL) ./tools/edwctl
	$(EDWCTL) demo $(DEMO_FLAGS)
