# certdrop — build, test and demo. `make demo` and `make test` install what
# they need on a fresh Debian machine (scripts/install-deps).

CARGO ?= cargo
PREFIX ?= /usr/local

.PHONY: all build release static deps test test-a2c unit lint lint-man deps-check crash demo bench install clean \
    install-bin install-man install-share install-etc install-FreeBSD install-rc install-periodic \
    install-Linux uninstall port-crates

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

# certdrop-issue against acme2certifier alone (bins/issue/tests/a2c/, about
# 20 s; `make test` runs it too): the second ACME server, installed by
# scripts/install-a2c, in a network namespace of its own (as root). The
# nsd test runs certdrop-zone, so it is built first.
test-a2c: deps
	$(CARGO) build --locked -p certdrop-issue -p certdrop-zone
	$(CARGO) test --locked -p certdrop-issue --test a2c

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
	python3 bench/persist/run --no-build
	python3 bench/report.py

BINARIES = certdrop-issue certdrop-zone certdrop-publish certdrop-trigger certdrop-jails certdrop-check

# `make install`: the programs, the manual, the shipped service definitions,
# the jail templates, the sample configurations and the system's own way of
# running the daemons, picked by OS (FreeBSD: rc.d and periodic scripts
# and deploy-triggers/*.toml; Linux: systemd units and
# deploy-triggers/linux/*.toml). DESTDIR is honoured everywhere, so
# `make install DESTDIR=/tmp/stage` needs no root. The port
# (dist/freebsd/port/security/certdrop) installs the same files through the
# install-* targets below, apart from the programs and rc.d scripts,
# which its framework installs itself.
#
# Written for both GNU make and BSD make: `!=` is the shell assignment
# both know (GNU make 4 and later); `make OS=Linux` still overrides it.
OS != uname -s
# Where the programs come from. The default builds a release first; any
# other directory is installed as it is, building nothing (`make install
# BINDIR_SRC=target/debug`, or the musl build of `make static`).
BINDIR_SRC ?= target/release
ETC = $(DESTDIR)$(PREFIX)/etc
SHARE = $(DESTDIR)$(PREFIX)/share
# The sample configurations, installed as $(PREFIX)/etc/certdrop/<name>.sample.
SAMPLES = dist/etc/issue.toml.sample dist/etc/zone.toml.sample dist/etc/publish.toml.sample \
    dist/etc/trigger.toml.sample dist/etc/check.toml.sample jail-templates/site.toml.sample
RC_SCRIPTS = certdrop_zone certdrop_trigger certdrop_publish
PERIODIC_DAILY = 500.certdrop
PERIODIC_WEEKLY = 500.certdrop-status
SYSTEMD_UNITS = certdrop-zone.service certdrop-trigger.service certdrop-publish.service \
    certdrop-renew.service certdrop-renew.timer certdrop-status.service certdrop-status.timer
# The layout of certdrop(7) on this OS, for the sample configurations:
# the shared data, the stages' state, the zone directory nsd reads (on
# Linux the one certdrop-zone.service may write; nsd.conf's zonesdir
# names it), and the etc/ of the services' packages.
DBDIR != if [ "$(OS)" = Linux ]; then echo /var/lib/certdrop; else echo /var/db/certdrop; fi
STATEDIR != if [ "$(OS)" = Linux ]; then echo /var/lib/certdrop/state; else echo /var/db/certdrop; fi
NSDZONES != if [ "$(OS)" = Linux ]; then echo /var/lib/certdrop/zones; else echo /usr/local/etc/nsd/zones; fi
LOCALETC != if [ "$(OS)" = Linux ]; then echo /etc; else echo /usr/local/etc; fi
# The scripts, units and samples name their files as the port does
# (%%PREFIX%% and the other words of the ports framework's SUB_LIST they
# may use), and the layout above.
SUBST = sed -e 's|%%PREFIX%%|$(PREFIX)|g' -e 's|%%LOCALBASE%%|$(PREFIX)|g' \
    -e 's|%%ETCDIR%%|$(PREFIX)/etc/certdrop|g' -e 's|%%DATADIR%%|$(PREFIX)/share/certdrop|g' \
    -e 's|%%DBDIR%%|$(DBDIR)|g' -e 's|%%STATEDIR%%|$(STATEDIR)|g' \
    -e 's|%%NSDZONES%%|$(NSDZONES)|g' -e 's|%%LOCALETC%%|$(LOCALETC)|g'

install:
	@if [ "$(BINDIR_SRC)" = target/release ]; then $(MAKE) release || exit 1; fi
	@case "$(OS)" in FreeBSD|Linux) ;; \
	    *) echo "make install: OS=$(OS): expected FreeBSD or Linux" >&2; exit 1;; esac
	$(MAKE) install-bin install-man install-share install-etc install-$(OS) \
	    OS=$(OS) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) BINDIR_SRC=$(BINDIR_SRC)

install-bin:
	install -d $(DESTDIR)$(PREFIX)/bin
	for b in $(BINARIES); do install -m 0755 $(BINDIR_SRC)/$$b $(DESTDIR)$(PREFIX)/bin/ || exit 1; done

install-man:
	install -d $(SHARE)/man/man5 $(SHARE)/man/man7 $(SHARE)/man/man8
	install -m 0644 doc/man/certdrop.5 $(SHARE)/man/man5/
	install -m 0644 doc/man/certdrop.7 $(SHARE)/man/man7/
	for b in $(BINARIES); do install -m 0644 doc/man/$$b.8 $(SHARE)/man/man8/ || exit 1; done

# The definitions of this OS, under one name whatever the OS, and the
# template for a definition of one's own.
install-share:
	install -d $(SHARE)/certdrop/deploy-triggers $(SHARE)/certdrop/jail-templates/linux
	if [ "$(OS)" = Linux ]; then dir=deploy-triggers/linux; else dir=deploy-triggers; fi; \
	    install -m 0644 $$dir/*.toml $(SHARE)/certdrop/deploy-triggers/
	install -m 0644 deploy-triggers/generic.toml.sample $(SHARE)/certdrop/deploy-triggers/
	install -m 0644 jail-templates/site.toml.sample jail-templates/jail.conf jail-templates/fstab \
	    jail-templates/crontab jail-templates/rc.conf jail-templates/rc.d jail-templates/install.sh \
	    jail-templates/update.sh $(SHARE)/certdrop/jail-templates/
	install -m 0644 jail-templates/linux/* $(SHARE)/certdrop/jail-templates/linux/

install-etc:
	install -d $(ETC)/certdrop
	for f in $(SAMPLES); do \
	    n=`basename $$f`; \
	    $(SUBST) $$f > $(ETC)/certdrop/$$n && chmod 0644 $(ETC)/certdrop/$$n || exit 1; \
	done

install-FreeBSD: install-rc install-periodic

install-rc:
	install -d $(ETC)/rc.d
	for f in $(RC_SCRIPTS); do \
	    $(SUBST) dist/freebsd/rc.d/$$f > $(ETC)/rc.d/$$f && chmod 0755 $(ETC)/rc.d/$$f || exit 1; \
	done

install-periodic:
	install -d $(ETC)/periodic/daily $(ETC)/periodic/weekly
	for f in $(PERIODIC_DAILY); do \
	    $(SUBST) dist/freebsd/periodic/daily/$$f > $(ETC)/periodic/daily/$$f && \
	    chmod 0755 $(ETC)/periodic/daily/$$f || exit 1; \
	done
	for f in $(PERIODIC_WEEKLY); do \
	    $(SUBST) dist/freebsd/periodic/weekly/$$f > $(ETC)/periodic/weekly/$$f && \
	    chmod 0755 $(ETC)/periodic/weekly/$$f || exit 1; \
	done

install-Linux:
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	for f in $(SYSTEMD_UNITS); do \
	    $(SUBST) dist/linux/systemd/$$f > $(DESTDIR)$(PREFIX)/lib/systemd/system/$$f && \
	    chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/$$f || exit 1; \
	done

# What install put there, whatever OS it was for; configurations made from
# the samples stay, and so do the directories that still hold them.
# share/certdrop goes whole; elsewhere, what an older version installed
# and the lists above no longer name (a sample, unit or script dropped
# since) is not known here and stays behind: remove it by hand. Likewise
# install-share over an older install only adds and replaces, so a
# definition since removed from deploy-triggers/ stays until uninstall.
uninstall:
	for b in $(BINARIES); do rm -f $(DESTDIR)$(PREFIX)/bin/$$b $(SHARE)/man/man8/$$b.8; done
	rm -f $(SHARE)/man/man5/certdrop.5 $(SHARE)/man/man7/certdrop.7
	rm -rf $(SHARE)/certdrop
	for f in $(SAMPLES); do rm -f $(ETC)/certdrop/`basename $$f`; done
	for f in $(RC_SCRIPTS); do rm -f $(ETC)/rc.d/$$f; done
	for f in $(PERIODIC_DAILY); do rm -f $(ETC)/periodic/daily/$$f; done
	for f in $(PERIODIC_WEEKLY); do rm -f $(ETC)/periodic/weekly/$$f; done
	for f in $(SYSTEMD_UNITS); do rm -f $(DESTDIR)$(PREFIX)/lib/systemd/system/$$f; done
	-rmdir $(ETC)/certdrop 2>/dev/null

# The port's crate list, from Cargo.lock (tests/e2e/install.rs checks that
# the committed one is current).
port-crates:
	sh dist/freebsd/port/gen-crates Cargo.lock > dist/freebsd/port/security/certdrop/Makefile.crates

clean:
	$(CARGO) clean
