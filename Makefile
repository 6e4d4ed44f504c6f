# macie-chatops — every command a developer or CI needs. `make test` is the contract.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT        := $(abspath .)
TOOLS       := $(ROOT)/.tools
TOOLS_BIN   := $(TOOLS)/bin
NODE_DIR    := $(TOOLS)/node
BUILD_DIR   := $(ROOT)/build
MODULES     := shared functions infra
FUNCTIONS   := finding-handler remediation-handler remediator sweeper

# Pinned versions of every external test tool.
VERSITYGW_VERSION   := v1.8.0
RIE_VERSION         := v0.0.0-20261030222936-bef5c4ba774d
DYNALITE_VERSION    := 4.0.0
PLAYWRIGHT_VERSION  := 1.64.1
# AGPL-3.0: a test tool only (infra/stack IAM decision table), never bundled or imported by shipped code.
IAM_SIMULATE_VERSION := 0.1.173
# moto is not installed by make: it comes with the machine image's python3 (PyPI is not reachable);
# `make tools` checks it is there and is this version.
MOTO_VERSION        := 5.2.1

# Tests find the tools here; a missing tool fails with "run: make tools".
export MACIE_CHATOPS_TOOLS := $(TOOLS)
export PATH := $(TOOLS_BIN):$(PATH)

.PHONY: help tools tools-go tools-node tools-browser tools-iam tools-moto build test test-repeat test-unit bench lint demo demo-headless fuzz clean

help:
	@echo "make demo       run the whole flow locally (see README)"
	@echo "make test       install test tools, lint, run every module's tests"
	@echo "make test-repeat  every module's tests COUNT times (default 5), no tool install: flake check"
	@echo "make tools      install pinned test tools into .tools/"
	@echo "make build      build build/<function>.zip (linux/arm64 bootstraps)"
	@echo "make bench      print the benchmark table"
	@echo "make lint       gofmt check + go vet on every module"
	@echo "make fuzz       5 minutes on each fuzz target"
	@echo "make demo-headless  the scripted local scenario, exits non-zero on any difference"

tools: tools-go tools-node tools-browser tools-iam tools-moto

# moto (S3 with KMS and Object Lock, STS, DynamoDB, SQS) is the tests' second AWS implementation.
tools-moto:
	@python3 -c 'import moto, flask, sys; sys.exit(0 if moto.__version__ == "$(MOTO_VERSION)" else "moto " + moto.__version__ + " found, the tests are pinned to $(MOTO_VERSION)")' \
	  || { echo "moto $(MOTO_VERSION) is missing for python3: install it with pip install 'moto[server]==$(MOTO_VERSION)' (the tests run python3 -m moto.server)"; exit 1; }
	@echo "moto $(MOTO_VERSION) ok"

tools-go: $(TOOLS_BIN)/versitygw $(TOOLS_BIN)/aws-lambda-rie

$(TOOLS_BIN)/versitygw:
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) GOWORK=off go install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

$(TOOLS_BIN)/aws-lambda-rie:
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) GOWORK=off go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

tools-node: $(NODE_DIR)/node_modules/dynalite/package.json

$(NODE_DIR)/node_modules/dynalite/package.json:
	@mkdir -p $(NODE_DIR)
	cd $(NODE_DIR) && npm install --no-audit --no-fund --save-exact dynalite@$(DYNALITE_VERSION)

# The independent IAM evaluator behind infra/stack's decision table (TestIAMDecisions).
tools-iam: $(NODE_DIR)/node_modules/@cloud-copilot/iam-simulate/package.json

$(NODE_DIR)/node_modules/@cloud-copilot/iam-simulate/package.json: $(NODE_DIR)/node_modules/dynalite/package.json
	cd $(NODE_DIR) && npm install --no-audit --no-fund --save-exact @cloud-copilot/iam-simulate@$(IAM_SIMULATE_VERSION)

# Debian's chromium (the machine's only browser source: no browser downloads) and the pinned
# playwright-core that drives it. Debian serves one chromium version at a time, so it is
# installed by name; the version in use is printed.
tools-browser: $(NODE_DIR)/node_modules/playwright-core/package.json
	@{ command -v chromium >/dev/null && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; } || { echo "installing Debian chromium"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-color-emoji) \
	  || { echo "could not install chromium: run 'apt-get update && apt-get install -y chromium' as root"; exit 1; }; }
	@chromium --version

$(NODE_DIR)/node_modules/playwright-core/package.json: $(NODE_DIR)/node_modules/dynalite/package.json
	cd $(NODE_DIR) && npm install --no-audit --no-fund --save-exact playwright-core@$(PLAYWRIGHT_VERSION)

lint:
	@bad=$$(gofmt -l $(MODULES)); if [ -n "$$bad" ]; then echo "gofmt needed on:"; echo "$$bad"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done

test: tools lint
	@for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test -count=1 ./...) || exit 1; done

# Every module's tests COUNT times in one go, to catch flaky tests before resolving an issue that
# adds tests. No tool install (run `make tools` once); stops at the first failing module. The
# timeout grows with COUNT: go test's 10-minute default is per package binary, for all N runs.
COUNT ?= 5
test-repeat:
	@[[ "$(COUNT)" =~ ^[1-9][0-9]*$$ ]] || { echo "COUNT=$(COUNT) is not a number of runs: make test-repeat COUNT=5"; exit 1; }
	@for m in $(MODULES); do echo "== go test -count=$(COUNT) $$m"; (cd $$m && go test -count=$(COUNT) -timeout=$$(( $(COUNT) * 10 ))m ./...) || exit 1; done

bench: tools build
	go run ./functions/cmd/bench

fuzz:
	cd shared && go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 5m ./finding
	cd shared && go test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime 5m ./policy
	cd shared && go test -run '^$$' -fuzz '^FuzzParseAction$$' -fuzztime 5m ./chatops

build:
	@mkdir -p $(BUILD_DIR)
	@for f in $(FUNCTIONS); do \
	  (cd functions && GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -tags lambda.norpc \
	    -o $(BUILD_DIR)/$$f/bootstrap ./$$f) || exit 1; \
	  rm -f $(BUILD_DIR)/$$f.zip; \
	  if command -v zip >/dev/null; then (cd $(BUILD_DIR)/$$f && zip -q -X ../$$f.zip bootstrap) || exit 1; \
	  else (cd $(BUILD_DIR)/$$f && python3 -m zipfile -c ../$$f.zip bootstrap) || exit 1; fi; \
	  printf '%-22s %s bytes\n' $$f.zip $$(stat -c %s $(BUILD_DIR)/$$f.zip); \
	done

demo: tools-go tools-moto
	@go build -o $(TOOLS_BIN)/macie-chatops ./functions/cmd/macie-chatops
	$(TOOLS_BIN)/macie-chatops local

demo-headless: tools-go tools-moto
	@go build -o $(TOOLS_BIN)/macie-chatops ./functions/cmd/macie-chatops
	$(TOOLS_BIN)/macie-chatops local --headless

clean:
	rm -rf $(BUILD_DIR)
