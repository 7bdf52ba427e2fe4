# asm: build the auth component and its native host, run them, test them.
# `make run` and `make test` do all the set-up a fresh machine needs.

CARGO        ?= cargo
WASM_TARGET  := wasm32-wasip2
COMPONENT    := target/$(WASM_TARGET)/wasm/asm_guest.wasm
HOST         := target/release/asm

# The binary reads its settings from the environment and .env. With none, it keeps
# everything in the embedded SQLite file ./data/asm.db; see .env.example for PostgreSQL + Redis.

.PHONY: setup build build-guest build-host build-bins build-test-components run run-prod test test-node test-node-probe node-deps webhook-verify-deps test-browser api-fuzz soak soak-smoke services haproxy check \
        migrate-up migrate-down migrate-status migrate-force migrate-create fmt lint clean

setup:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

build: build-guest build-host

build-guest: setup
	$(CARGO) build -p asm-guest --target $(WASM_TARGET) --profile wasm
	@ls -l $(COMPONENT) | awk '{print "component: " $$5 " bytes"}'

build-host:
	$(CARGO) build --release -p asm-host

# The host with the benchmark's binaries, in one build: the test scripts and the benchmark use
# this one set of features, so a fresh machine compiles wasmtime twice (tests, binaries), not
# three times.
build-bins:
	$(CARGO) build --release -p asm-host -p asm-bench

# Components that exist only for the tests (host/tests/fault-component: traps, loops, hoards).
build-test-components: setup
	$(CARGO) build -p asm-fault-component -p asm-store-probe --target $(WASM_TARGET) --profile wasm

services:
	@scripts/services.sh check

run: build migrate-up
	$(HOST) serve --component $(COMPONENT)

run-prod: build migrate-up
	APP_ENV=production $(HOST) serve --component $(COMPONENT)

# Unit tests of the logic natively, then the real component in the real host against
# PostgreSQL and Redis over HTTP. One release build serves every test.
# A Redis Cluster (scripts/redis-cluster.sh, started by the tests) and HAProxy serve the
# multi-host tests; the cluster is stopped afterwards.
test: build-guest build-test-components test-node-probe webhook-verify-deps services haproxy
	ASM_COMPONENT=$(CURDIR)/$(COMPONENT) $(CARGO) test --release -p asm-contract -p asm-settings -p asm-stores -p asm-guest -p asm-host; \
		status=$$?; scripts/redis-cluster.sh stop; exit $$status
	$(MAKE) api-fuzz
	$(MAKE) test-browser
	$(MAKE) soak-smoke
	$(MAKE) spin-check
	$(MAKE) spin-e2e
	$(MAKE) test-node

# The mixed-load soak (wrk, from Debian): no unexpected status, flat RSS and descriptors.
soak: build-guest build-bins build-test-components haproxy
	scripts/soak.sh 600
	ASM_SCALE_SECONDS=60 ASM_COMPONENT=$(CURDIR)/$(COMPONENT) $(CARGO) test --release -p asm-host --test api -- scale::; \
		status=$$?; scripts/redis-cluster.sh stop; exit $$status

# HAProxy (Debian's) for the multi-host tests.
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { apt-get install -y haproxy >/dev/null 2>&1 || \
		{ apt-get update >/dev/null && apt-get install -y haproxy >/dev/null; }; } || \
		{ echo "error: haproxy is missing: apt-get install -y haproxy" >&2; exit 1; }

# The account page (/account) in Debian's Chromium, driven by Playwright: sign-in, sessions,
# password, TOTP, mailed links (host/tests/browser/). Installs Chromium when it is missing.
test-browser: build-guest build-bins services
	scripts/browser-test.sh

soak-smoke: build-bins
	scripts/soak.sh 60

# schemathesis (pinned, from PyPI) against the live service, from docs/openapi.yaml.
api-fuzz: build-bins
	scripts/api-fuzz.sh $(or $(examples),100)

# The same component embedded in Node.js through jco, with stores written in JavaScript.
test-node: build-guest node-deps
	cd examples/node-host && COMPONENT=$(CURDIR)/$(COMPONENT) npm run build && npm test

# The Node example's packages (pinned by its package-lock.json).
node-deps:
	@command -v npm >/dev/null || { echo "error: Node.js 20+ and npm are needed: apt-get install -y nodejs npm"; exit 1; }
	cd examples/node-host && npm ci --no-audit --no-fund --loglevel=error

# The Standard Webhooks reference library, which the webhook tests check signatures with.
webhook-verify-deps:
	@command -v npm >/dev/null || { echo "error: Node.js 20+ and npm are needed: apt-get install -y nodejs npm"; exit 1; }
	cd host/tests/webhook-verify && npm ci --no-audit --no-fund --loglevel=error

# The store probe transpiled onto the Node example's stores: the conformance suite runs against
# them as against every other backend.
test-node-probe: build-test-components node-deps
	cd examples/node-host && PROBE=$(CURDIR)/target/$(WASM_TARGET)/wasm/asm_store_probe.wasm npm run -s build:probe

migrate-up: build-host
	$(HOST) migrate up

migrate-down: build-host
	$(HOST) migrate down $(or $(n),1)

migrate-status: build-host
	$(HOST) migrate status

migrate-force: build-host
	@test -n "$(version)" || { echo "usage: make migrate-force version=N"; exit 2; }
	$(HOST) migrate force $(version)

migrate-create: build-host
	@test -n "$(name)" || { echo "usage: make migrate-create name=add_something"; exit 2; }
	$(HOST) migrate create $(name)

fmt:
	$(CARGO) fmt --all

# The loop to run after each change (under 3 minutes once built; no services needed): format,
# clippy, the logic's unit tests, and the store conformance suite on the in-memory and SQLite
# stores. `make test` is the whole run (every backend, Spin, the browser, Node, the soak).
check: lint
	$(CARGO) test --release -p asm-contract -p asm-settings -p asm-stores -p asm-guest
	ASM_CONFORMANCE_BACKENDS=memory,sqlite $(CARGO) test --release -p asm-host --test api -- conformance::

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release -p asm-contract -p asm-settings -p asm-stores -p asm-host -p asm-guest -p asm-bench --all-targets -- -D warnings
	$(CARGO) clippy -p asm-guest --target $(WASM_TARGET) --profile wasm -- -D warnings

clean:
	$(CARGO) clean

# Spin (spin.toml): the auth component plus the store adapter that Spin composes into it.
# spin-check composes them as Spin 3.6 does and checks every import against Spin's platform
# world; it needs no Spin CLI (see README, "Deploying on Spin").
SPIN_ADAPTER := target/$(WASM_TARGET)/wasm/asm_spin_adapter.wasm

.PHONY: spin-build spin-check spin-e2e

spin-build: build-guest
	$(CARGO) build -p asm-spin-adapter --target $(WASM_TARGET) --profile wasm
	@ls -l $(SPIN_ADAPTER) | awk '{print "spin adapter: " $$5 " bytes"}'

spin-check: spin-build
	$(CARGO) test --release -p asm-spin-adapter -p asm-spin-check

# The end-to-end suite and the store conformance suite under a real `spin up` (SPIN=..., or
# `spin` on the PATH, or ../shared/tools/spin/spin): every app a test starts is spin.toml on a
# fresh Redis key prefix; the conformance suite reaches the adapter through a test component.
SPIN_E2E_MODULES := register:: login:: sessions:: security:: credentials:: routing:: conformance:: mail::the_outbox \
	admin::operators_need admin::without_a_token admin::erasing admin::owners_delete admin::with_registration_off admin::the_operators_command_line events::the_audit_trail

spin-e2e: spin-build build-test-components services
	@scripts/find-spin.sh >/dev/null
	ASM_TEST_TARGET=spin SPIN="$$(scripts/find-spin.sh)" ASM_COMPONENT=$(CURDIR)/$(COMPONENT) \
		$(CARGO) test --release -p asm-host --test api -- $(SPIN_E2E_MODULES)

# Benchmarks: the release host (component and native engines, and the component under Spin
# when a Spin CLI is found) over HTTP against PostgreSQL and Redis on localhost; writes
# docs/BENCHMARKS.md and docs/benchmarks.png (about 10 minutes). bench-peers adds Better Auth
# on Node beside them (needs node and npm; installs bench/peers/better-auth with npm ci).
# bench-smoke runs every phase for a few seconds and checks that it works, not its timings.
# Extra flags: make bench BENCH_ARGS="--duration 5s --concurrency 16" (asm-bench --help).
BENCH       := target/release/asm-bench
BENCH_FONT  := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
BENCH_ARGS  ?=
BENCH_SPIN   = $$(spin=$$(scripts/find-spin.sh 2>/dev/null) && echo "--spin $$spin")

.PHONY: bench bench-peers bench-smoke bench-deps

bench-deps: build-guest build-bins spin-build services
	@test -f $(BENCH_FONT) || { echo "installing fonts-dejavu-core for the chart"; \
		apt-get update -qq && apt-get install -y -qq fonts-dejavu-core; }

bench: bench-deps
	$(BENCH) --font $(BENCH_FONT) $(BENCH_SPIN) $(BENCH_ARGS)

bench-peers: bench-deps
	@command -v npm >/dev/null || { echo "error: bench-peers needs Node.js and npm (apt-get install -y nodejs npm)" >&2; exit 1; }
	cd bench/peers/better-auth && npm ci --no-audit --no-fund --loglevel=error
	$(BENCH) --font $(BENCH_FONT) $(BENCH_SPIN) --peers $(BENCH_ARGS)

bench-smoke: build-guest build-bins spin-build services
	$(BENCH) --smoke $(BENCH_SPIN) $(BENCH_ARGS)

# Coverage-guided fuzzing (cargo-fuzz + libFuzzer, AddressSanitizer, overflow checks) of the
# guest code that reads untrusted bytes: JSON bodies, auth headers, User-Agent, X-Forwarded-For
# and the whole router (fuzz/fuzz_targets/). Runs on stable Rust (scripts/fuzz.sh explains how)
# and installs cargo-fuzz if missing. The first build takes 4-8 minutes on 2 cores.
# fuzz-smoke: 30 s per target, for CI; fuzz: 300 s per target (make fuzz seconds=N targets="handle").
# A crash fails the run and leaves its input in fuzz/artifacts/TARGET/.
.PHONY: fuzz fuzz-smoke

fuzz:
	scripts/fuzz.sh $(or $(seconds),300) $(targets)

fuzz-smoke:
	scripts/fuzz.sh 30 $(targets)
