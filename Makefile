# Flotilla: `make run` starts a single-node cluster, `make test` proves it.
GO        ?= go
BIN       := bin/flotilla
DATA_DIR  ?= /var/lib/flotilla
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/flotilla-io/flotilla/pkg/version.flotilla=$(VERSION) \
             -X github.com/flotilla-io/flotilla/pkg/version.gitCommit=$(shell git rev-parse HEAD 2>/dev/null || echo unknown) \
             -X github.com/flotilla-io/flotilla/pkg/version.buildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)
TEST_TIMEOUT ?= 30m
# How many of the e2e tests that start their own clusters run at once.
E2E_PARALLEL ?= 4

.PHONY: build install run test unit integration e2e chaos fuzz bench conformance vet fmt clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/flotilla
	$(GO) build -trimpath -ldflags '-s -w' -o bin/kubectl-rolling_update ./cmd/kubectl-rolling_update

install: build
	install -m 0755 $(BIN) bin/kubectl-rolling_update /usr/local/bin/

# EVICTION_HARD replaces the node's hard eviction thresholds, e.g.
# EVICTION_HARD='memory.available<100Mi' on a nearly full disk.
EVICTION_HARD ?=
run: build
	hack/install-deps.sh
	$(BIN) server --data-dir $(DATA_DIR) $(if $(EVICTION_HARD),--eviction-hard='$(EVICTION_HARD)')

vet:
	$(GO) vet ./...
	$(GO) vet -tags chaos ./test/e2e/
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# Everything that proves it: vet and gofmt, unit, integration (in-process
# server on embedded etcd), short fuzzing of decoders and validators, and
# e2e with the built binary and the stock kubectl. hack/test.sh runs vet
# while the e2e package, which mostly waits, already runs.
test: build
	hack/install-deps.sh --test --conformance
	FLOTILLA_BIN=$(CURDIR)/$(BIN) TEST_TIMEOUT=$(TEST_TIMEOUT) E2E_PARALLEL=$(E2E_PARALLEL) hack/test.sh
	$(MAKE) fuzz FUZZTIME=10s

unit:
	$(GO) test -count=1 ./pkg/...

integration:
	$(GO) test -count=1 ./test/integration/...

e2e: build
	FLOTILLA_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -parallel $(E2E_PARALLEL) ./test/e2e/...

# The fault and soak suite (test/e2e, TestChaos*, build tag chaos):
# CHAOS_KILLS kill -9s of the server under writes, containerd killed under
# 50 pods, a joined agent down past the grace period, the leading server
# and an etcd member killed during a rollout, the data dir's filesystem
# filled, and a CHAOS_SOAK-long soak; one table of figures at the end.
# make test runs the short part (3 kills, the full data dir) untagged.
CHAOS_KILLS ?= 20
CHAOS_SOAK  ?= 30m
chaos: build
	hack/install-deps.sh --test
	FLOTILLA_BIN=$(CURDIR)/$(BIN) CHAOS_KILLS=$(CHAOS_KILLS) CHAOS_SOAK=$(CHAOS_SOAK) \
		$(GO) test -tags chaos -timeout 150m -count=1 -v -run '^TestChaos' ./test/e2e/

FUZZTIME ?= 30s
fuzz:
	hack/fuzz.sh $(FUZZTIME)

bench: build
	FLOTILLA_BIN=$(CURDIR)/$(BIN) $(GO) run ./hack/bench $(BENCH_ARGS)

# Upstream's v1.32 conformance suite against a fresh cluster on this
# machine (not part of make test: the first build of the suite takes about
# 15 minutes, a full run about an hour). FOCUS= and SKIP= are regular
# expressions over spec names; UPDATE=1 adds newly passing specs to
# test/conformance/passing.txt; PROCS= sets the concurrent processes.
FOCUS ?=
SKIP  ?=
PROCS ?= 4
conformance: build
	hack/install-deps.sh --conformance
	$(GO) run ./hack/conformance -focus '$(FOCUS)' -skip '$(SKIP)' -procs $(PROCS) $(if $(UPDATE),-update-passing) $(CONFORMANCE_ARGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
