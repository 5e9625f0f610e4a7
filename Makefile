# certdrop — build, test and demo. `make demo` and `make test` install what
# they need on a fresh Debian machine (scripts/install-deps).

CARGO ?= cargo
PREFIX ?= /usr/local

.PHONY: all build release static deps test unit lint lint-man deps-check crash demo bench install clean

all: build

deps:
	@sh scripts/install-deps

build:
	$(CARGO) build --workspace --locked

# One package at a time: cargo unifies the features of every package in one
# build, so a workspace build would give certdrop-trigger the issuer's
# aws-lc-rs (through rcgen and rustls) beside its own ring. Built alone,
# each program links what its own Cargo.toml asks for (.ci/deps-check).
release:
	for b in $(BINARIES); do $(CARGO) build --locked --release -p $$b || exit 1; done

# Statically linked (musl) builds of the programs that run in jails without
# a C library of their own to share: no run-time dependency at all. The
# issuer links C code (aws-lc) and stays a glibc build.
MUSL = x86_64-unknown-linux-musl
static:
	rustup target add $(MUSL)
	$(CARGO) build --locked --release --target $(MUSL) \
	    -p certdrop-zone -p certdrop-publish -p certdrop-trigger -p certdrop-jails

# Everything CI runs: unit and integration tests against real Pebble, nsd
# and nginx on loopback, formatting, lints, and the privilege-domain check.
test: deps
	$(CARGO) build --workspace --locked --all-targets
	$(CARGO) test --workspace --locked
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	sh .ci/deps-check
	sh .ci/lint-man

deps-check:
	sh .ci/deps-check

# The manual pages: `mandoc -Tlint -Wstyle doc/man/*` with no message (one
# left out, and checked by other means: see .ci/lint-man).
lint-man:
	sh .ci/lint-man

# The kill -9 tests of certdrop-zone, -publish and -trigger
# (tests/e2e/crash*.rs) at 100 killed runs each, instead of the suite's
# 30; CERTDROP_CRASH_SEED=<printed seed> replays a run's kill points.
crash: deps
	$(CARGO) build --workspace --locked
	CERTDROP_CRASH_ITERATIONS=100 $(CARGO) test --locked -p certdrop-e2e --test e2e crash_ -- --nocapture

# The pipeline on a built-in default against a local Pebble (see demo/run).
demo: deps release
	sh demo/run

# Benchmarks side by side with the peers (bench/README.md), one after the
# other on an otherwise idle machine, then BENCHMARKS.md from their results.
bench: deps release
	sh bench/run --no-build
	python3 bench/dns01/run --no-build
	python3 bench/zone/run --no-build
	python3 bench/pipeline/run --no-build
	python3 bench/footprint/run
	sh bench/run --scenarios f --fault-runs 40 --out bench/results-faults.md
	python3 bench/probe/run --no-build
	sh bench/check/run
	python3 bench/cluster/run --no-build
	python3 bench/report.py

BINARIES = certdrop-issue certdrop-zone certdrop-publish certdrop-trigger certdrop-jails certdrop-check
SHARE = $(DESTDIR)$(PREFIX)/share

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/man/man5 $(SHARE)/man/man7 $(SHARE)/man/man8 \
	    $(SHARE)/certdrop/deploy-triggers $(SHARE)/certdrop/jail-templates/linux
	for b in $(BINARIES); do \
	    install -m 0755 target/release/$$b $(DESTDIR)$(PREFIX)/bin/ && \
	    install -m 0644 doc/man/$$b.8 $(SHARE)/man/man8/ || exit 1; \
	done
	install -m 0644 doc/man/certdrop.5 $(SHARE)/man/man5/
	install -m 0644 doc/man/certdrop.7 $(SHARE)/man/man7/
	install -m 0644 deploy-triggers/*.toml $(SHARE)/certdrop/deploy-triggers/
	install -m 0644 jail-templates/site.toml.sample jail-templates/jail.conf jail-templates/fstab \
	    jail-templates/crontab jail-templates/install.sh jail-templates/update.sh $(SHARE)/certdrop/jail-templates/
	install -m 0644 jail-templates/linux/* $(SHARE)/certdrop/jail-templates/linux/

clean:
	$(CARGO) clean
