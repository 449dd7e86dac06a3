# Podman's Go packages need these tags; every build, vet and test uses them.
TAGS    := remote exclude_graphdriver_btrfs containers_image_openpgp
GO      ?= go
export CGO_ENABLED := 0
PREFIX  ?= /usr/local
BIN     := bin/launch
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOLDEN  := ./creds ./sshconf ./cmd/launch ./backend/docker ./backend/podman ./backend/singularity

.PHONY: build install test test-unit test-integration golden lint docs man bench cross clean

build:
	$(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/launch

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/launch

# test runs everything once: gofmt and vet, the unit tests, and the
# real-engine tests (build tag integration). Without an engine those skip with
# a reason; with LAUNCH_REQUIRE_ENGINES=1 (CI) a missing engine fails instead.
test: build lint
	$(GO) test -tags '$(TAGS) integration' -count=1 -timeout 60m -p 1 ./...

test-unit:
	$(GO) test -tags '$(TAGS)' -count=1 ./...

test-integration: build
	$(GO) test -tags '$(TAGS) integration' -count=1 -timeout 60m -p 1 ./backend/...

golden:
	$(GO) test -tags '$(TAGS)' $(GOLDEN) -update

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'gofmt: run gofmt -w .'; exit 1; }
	$(GO) vet -tags '$(TAGS)' ./...
	$(GO) vet -tags '$(TAGS) integration' ./...

docs:
	$(GO) test -tags '$(TAGS)' ./cmd/launch -run 'TestCLIDocs|TestDocExamples|TestManPage' -update

# man writes docs/launch.1 (man ./docs/launch.1), generated like docs/cli.md
# and checked for staleness the same way (TestManPage).
man:
	$(GO) test -tags '$(TAGS)' ./cmd/launch -run TestManPage -update

# bench times whole launch processes (--version, --dry-run codex per backend,
# --json, ps and doctor with no engine answering) against a hello-world Go
# program it builds, interleaved, and prints the ratios (x-hello; goals:
# --version 1.5, --dry-run 2) and peak RSS (goal: within 1 MiB of
# hello-world's); then the package initialisation report of GODEBUG=inittrace=1
# (goal: init-ms at most 3). BENCHTIME=50x for a quicker run.
BENCHTIME ?= 200x
bench: build
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench '^Benchmark(Process|Init)$$' -benchtime $(BENCHTIME) ./cmd/launch

cross:
	@for os in linux darwin; do for arch in amd64 arm64; do \
		echo "$$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch $(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o dist/launch-$$os-$$arch ./cmd/launch || exit 1; \
	done; done

clean:
	rm -rf bin dist
