# Podman's Go packages need these tags; every build, vet and test uses them.
TAGS    := remote exclude_graphdriver_btrfs containers_image_openpgp
GO      ?= go
export CGO_ENABLED := 0
PREFIX  ?= /usr/local
BIN     := bin/launch
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# LINUX_BINDIR is where install-linux puts launch's Linux builds, which the
# proxy sidecar of --network allow=... runs on macOS. It is under the home
# directory, which a podman machine shares with the Mac (the sidecar mounts
# the binary), and launch looks there.
LINUX_BINDIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/launch/bin
GOHOSTOS := $(shell $(GO) env GOHOSTOS)
GOLDEN  := ./creds ./sshconf ./cmd/launch ./backend/docker ./backend/podman ./backend/singularity

.PHONY: build install install-linux test test-unit test-integration golden lint portable docs man bench cross clean

build:
	$(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/launch

# install installs launch to PREFIX/bin; on macOS also launch's Linux
# builds (install-linux), which the default --network allow=... needs there.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/launch
ifeq ($(GOHOSTOS),darwin)
	$(MAKE) install-linux
endif

# install-linux builds launch for linux/amd64 (the default images') and
# linux/arm64 (--arch arm64 on Apple silicon) into LINUX_BINDIR. Run it as
# yourself: after a sudo make install, run it again without sudo.
install-linux:
	install -d '$(LINUX_BINDIR)'
	@for arch in amd64 arm64; do \
		echo "launch-linux-$$arch -> $(LINUX_BINDIR)"; \
		GOOS=linux GOARCH=$$arch $(GO) build -tags '$(TAGS)' -trimpath -ldflags '$(LDFLAGS)' -o '$(LINUX_BINDIR)'/launch-linux-$$arch ./cmd/launch || exit 1; \
	done

# test runs everything once: gofmt and vet, the unit tests, and the
# real-engine tests (build tag integration). Without an engine those skip with
# a reason; with LAUNCH_REQUIRE_ENGINES=1 (CI) a missing engine fails instead.
test: build lint portable
	$(GO) test -tags '$(TAGS) integration' -count=1 -timeout 60m -p 1 ./...

test-unit:
	$(GO) test -tags '$(TAGS)' -count=1 ./...

test-integration: build
	$(GO) test -tags '$(TAGS) integration' -count=1 -timeout 60m -p 1 ./backend/...

golden:
	$(GO) test -tags '$(TAGS)' -p 1 $(GOLDEN) -update

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'gofmt: run gofmt -w .'; exit 1; }
	$(GO) vet -tags '$(TAGS)' ./...
	$(GO) vet -tags '$(TAGS) integration' ./...

# portable proves that launch builds where CI cannot run it: the four
# release targets (linux and darwin, amd64 and arm64), go vet for darwin with
# both tag sets, and every package's test binary for darwin. A Linux-only
# call outside a file constrained to Linux fails here.
portable:
	@for os in linux darwin; do for arch in amd64 arm64; do \
		echo "build $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch $(GO) build -tags '$(TAGS)' -o /dev/null ./cmd/launch || exit 1; \
	done; done
	@for arch in arm64 amd64; do for tags in '$(TAGS)' '$(TAGS) integration'; do \
		echo "vet darwin/$$arch ($$tags)"; \
		GOOS=darwin GOARCH=$$arch $(GO) vet -tags "$$tags" ./... || exit 1; \
	done; done
	@for arch in arm64 amd64; do echo "test binaries darwin/$$arch"; \
		for p in $$(GOOS=darwin $(GO) list -tags '$(TAGS) integration' -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do \
			GOOS=darwin GOARCH=$$arch $(GO) test -c -o /dev/null -tags '$(TAGS) integration' $$p || exit 1; \
		done; done

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
