# Candor — `make run` starts a collector on the embedded store; `make test` runs everything.
SHELL := /bin/bash
CHDB_VERSION := 26.7.3-stable.1
LIBCHDB := $(CURDIR)/.cache/libchdb/$(CHDB_VERSION)/libchdb.so
export CANDOR_LIBCHDB ?= $(LIBCHDB)
CARGO ?= cargo

.PHONY: smtp-sink deploy-check run test libchdb geo data fixtures snippet dashboard build release fmt-check clippy test-rust test-browser tools chromium bench bench-reports bench-soak bench-under-load clean

## Fetch libchdb (pinned, integrity-checked) from the npm registry into .cache/ (once).
libchdb: $(LIBCHDB)
$(LIBCHDB):
	CHDB_VERSION=$(CHDB_VERSION) bash deploy/fetch-libchdb.sh

## The default IP databases (DB-IP City Lite for locations, ASN lists for organisations) from the
## npm registry, pinned and integrity-checked, into .cache/geo (once; refreshed when the pinned
## versions in deploy/fetch-geo.sh change). The server reads them at start.
geo:
	@bash deploy/fetch-geo.sh >/dev/null

## Enrichment rule sets from the npm registry (uap-core, referer-parser, isbot), embedded at build time.
DATA := collector/data/generated/uap.json
data: $(DATA)
$(DATA): collector/data/package.json collector/data/package-lock.json collector/data/prepare.mjs
	cd collector/data && npm ci --no-audit --no-fund && node prepare.mjs

## GeoIP/ASN test databases, generated with PyPI's mmdb-writer.
fixtures: target/fixtures/geo-city.mmdb
target/fixtures/geo-city.mmdb: tests/fixtures/make_mmdb.py
	@python3 -c 'import mmdb_writer' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check mmdb-writer
	python3 tests/fixtures/make_mmdb.py target/fixtures

## A real SMTP server for the privacy center's tests: aiosmtpd (with trustme for STARTTLS
## certificates) from PyPI, pinned, in a virtualenv under .cache (once).
SMTP_VENV := $(CURDIR)/.cache/smtp-venv
export CANDOR_TEST_SMTP_PYTHON ?= $(SMTP_VENV)/bin/python
smtp-sink: $(SMTP_VENV)/.ready
$(SMTP_VENV)/.ready:
	python3 -m venv $(SMTP_VENV)
	$(SMTP_VENV)/bin/pip install --quiet --disable-pip-version-check "aiosmtpd==1.4.6" "trustme==1.2.1"
	touch $@

## Build the tracker snippet (embedded into the binary at build time).
snippet:
	@if [ -f snippet/package.json ]; then \
	  cd snippet && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent build; \
	fi

## Build the dashboard into dashboard/dist (embedded into the binary at build time, served at /dashboard/).
dashboard:
	@cd dashboard && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent build

release: libchdb data snippet dashboard
	$(CARGO) build --release --bin candor

## Start the collector on the embedded store in ./data, listening on 127.0.0.1:8080.
run: release geo
	CANDOR_SITES="$${CANDOR_SITES:-localhost}" ./target/release/candor serve

## Everything a fresh machine needs, then the whole suite.
test: tools libchdb geo data fixtures smtp-sink snippet dashboard fmt-check clippy deploy-check test-rust test-browser

tools:
	@command -v cargo-nextest >/dev/null || $(CARGO) install cargo-nextest --locked
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: install Debian's chromium package (needs root)"; exit 1; fi; \
	fi

## The deploy files (systemd, Kubernetes, ClickHouse config, nginx) with the validators that run here.
deploy-check:
	bash deploy/check.sh

fmt-check:
	$(CARGO) fmt --all -- --check

clippy: data snippet dashboard
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-rust: libchdb geo data fixtures smtp-sink snippet dashboard
	$(CARGO) nextest run --workspace --no-fail-fast

test-browser: chromium libchdb data smtp-sink snippet dashboard
	$(CARGO) build --bin candor
	@if [ -f snippet/package.json ]; then cd snippet && npm test; fi
	cd dashboard && npm test

## Ingest throughput vs a bare actix-web ceiling (wrk, 256 connections), chDB insert rate, and
## throughput again with 10 million events stored. Not part of `make test`. Figures: docs/benchmarks.md.
bench: libchdb data snippet
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	bash tests/bench/run.sh

## The dashboard's full query set for 30 days on 10 million events from 50,000 visitors (embedded
## chDB), through the report engine. Not part of `make test`. Figures: docs/benchmarks.md.
bench-reports: libchdb data snippet dashboard
	$(CARGO) build --release -p candor-bench --bin reports-bench
	@dir="$$(mktemp -d)"; trap 'rm -rf "$$dir"' EXIT; ./target/release/reports-bench "$$dir" "$${BENCH_EVENTS:-10000000}"

## The dashboard's reports while ingest runs at half of Candor's rate, on 10 million stored events,
## and the server's peak memory. Not part of `make test`. Figures: docs/benchmarks.md.
bench-under-load: libchdb data snippet
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	bash tests/bench/under-load.sh

## `candor serve` (release) under a steady beacon load for 30 minutes (SOAK_SECONDS, SOAK_RATE
## beacons/s, SOAK_SAMPLE), sampling its memory, open files and threads; fails unless every 202
## was stored. Not part of `make test`. Figures: docs/benchmarks.md.
bench-soak: libchdb data snippet
	bash tests/bench/soak.sh

clean:
	rm -rf target snippet/dist snippet/node_modules dashboard/dist dashboard/node_modules collector/data/node_modules collector/data/generated
