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
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

.PHONY: lint
lint: ## Vet the Go code and check the Bicep files and the chart
	$(GO) vet ./...

.PHONY: ci
ci: lint test e2e-sim ## What .ci/run runs
