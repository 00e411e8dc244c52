# jobbergate-agent: build, test and demo. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
TOOLS := $(CURDIR)/.tools/bin
PKG   := github.com/omnivector-solutions/jobbergate-agent-go
VERSION ?= $(shell git describe --tags --always 2>/dev/null | sed 's/^v//' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$$' || echo 5.12.0)
LDFLAGS := -X $(PKG)/internal/buildinfo.Version=$(VERSION)
TEST_TIMEOUT ?= 14m
TEST_FUZZTIME ?= 3s
# The Go vulnerability database, as the golang.org/x/vulndb module publishes it (the machine
# reaches the module proxy, not vuln.go.dev); scripts/vulndb.sh indexes it for govulncheck.
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
VULNDB := $(CURDIR)/.tools/vulndb-$(VULNDB_VERSION)
# Go 1.26.11: 1.26.8 (the machine's) has standard-library vulnerabilities govulncheck reports in
# called code. The go command fetches this toolchain from the module proxy once.
export GOTOOLCHAIN ?= go1.26.11
FUZZTIME ?= 60s

export PATH := $(TOOLS):/usr/local/go/bin:$(PATH)

.PHONY: help build test test-unit test-slurm-versions services demo bench bench-cluster lint fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

build: ## build bin/jobbergate-agent and bin/jobbergate-devapi
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

services: ## install and start what the integration tests need (Slurm, munge, slapd, nats CLI); idempotent, needs root
	bash deploy/test-services.sh

test: services ## every test, unit and integration (brings up the services first), a short fuzz run, then the Slurm-facing tests on Slurm 24.11 and 26.05 and the packages' install test
	@echo "make test: host tests on $$(sbatch --version 2>/dev/null || echo 'no Slurm')"
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	FUZZTIME=$(TEST_FUZZTIME) FUZZMINIMIZETIME=1s bash scripts/fuzz.sh
	bash scripts/slurm-versions.sh
	bash scripts/package-test.sh

test-slurm-versions: ## the Slurm-facing tests against Slurm 24.11 (trixie) and 26.05 (sid), each in a debootstrap root (root; SLURM_SUITES picks)
	bash scripts/slurm-versions.sh

test-unit: ## tests without starting services (integration tests skip unless CI=true)
	$(GO) test -count=1 ./...

demo: build ## single-node Slurm + embedded NATS + development API with example submissions (root)
	bash deploy/slurm/slurm-single-node.sh start
	$(BIN)/jobbergate-demo

bench: services ## benchmarks; each prints its figures
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./...

bench-cluster: ## what the agent costs a login node and slurmctld with 10,000 and 50,000 other jobs in Slurm (root; about 10 min; not in make test)
	bash scripts/bench-cluster.sh

lint: ## go vet, staticcheck and govulncheck (offline, against the Go vulnerability database module)
	$(GO) vet ./...
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(TOOLS)/staticcheck ./...
	@test -x $(TOOLS)/govulncheck || GOBIN=$(TOOLS) $(GO) install golang.org/x/vuln/cmd/govulncheck@v1.9.0
	@test -f $(VULNDB)/index/db.json || bash scripts/vulndb.sh $(VULNDB_VERSION) $(VULNDB)
	$(TOOLS)/govulncheck -db file://$(VULNDB) ./...

fuzz: ## run every fuzz target for FUZZTIME (default 60s) each
	FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

# make package: nfpm (github.com/goreleaser/nfpm) built into .tools/bin; the packages go to
# PKG_OUT (PKG_FORMATS: deb, rpm or both).
NFPM_VERSION ?= v2.48.0
PKG_OUT ?= $(BIN)/packages
PKG_FORMATS ?= deb rpm
.PHONY: package

package: ## the .deb and .rpm of the agent in bin/packages (packaging/), versioned VERSION
	@$(GO) version -m $(TOOLS)/nfpm 2>/dev/null | grep -qE 'nfpm/v2[[:space:]]+$(NFPM_VERSION)([[:space:]]|$$)' || GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	$(GO) build -trimpath -ldflags "$(LDFLAGS) -s -w" -o $(PKG_OUT)/.bin/jobbergate-agent ./cmd/jobbergate-agent
	VERSION=$(VERSION) NFPM=$(TOOLS)/nfpm bash packaging/build.sh $(PKG_OUT)/.bin/jobbergate-agent $(PKG_OUT) $(PKG_FORMATS)

clean: ## remove build output
	rm -rf $(BIN)
