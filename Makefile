# asm: build the auth component and its native host, run them, test them.
# `make run` and `make test` do all the set-up a fresh machine needs.

CARGO        ?= cargo
WASM_TARGET  := wasm32-wasip2
COMPONENT    := target/$(WASM_TARGET)/wasm/asm_guest.wasm
HOST         := target/release/asm

# Settings come from .env when it exists, else these local defaults.
-include .env
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/asm
REDIS_ADDR   ?= 127.0.0.1:6379
export DATABASE_URL REDIS_ADDR

.PHONY: setup build build-guest build-host run run-prod test test-node services \
        migrate-up migrate-down migrate-status migrate-force migrate-create fmt lint clean

setup:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

build: build-guest build-host

build-guest: setup
	$(CARGO) build -p asm-guest --target $(WASM_TARGET) --profile wasm
	@ls -l $(COMPONENT) | awk '{print "component: " $$5 " bytes"}'

build-host:
	$(CARGO) build --release -p asm-host

services:
	@scripts/services.sh check

run: build services migrate-up
	$(HOST) serve --component $(COMPONENT)

run-prod: build services migrate-up
	APP_ENV=production $(HOST) serve --component $(COMPONENT)

# Unit tests of the logic natively, then the real component in the real host against
# PostgreSQL and Redis over HTTP. One release build serves every test.
test: build-guest services
	ASM_COMPONENT=$(CURDIR)/$(COMPONENT) $(CARGO) test --release -p asm-guest -p asm-store-queries -p asm-host
	$(MAKE) test-node

# The same component embedded in Node.js through jco, with stores written in JavaScript.
test-node: build-guest
	@command -v npm >/dev/null || { echo "error: Node.js 20+ and npm are needed: apt-get install -y nodejs npm"; exit 1; }
	cd examples/node-host && npm ci --no-audit --no-fund --loglevel=error && \
		COMPONENT=$(CURDIR)/$(COMPONENT) npm run build && npm test

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

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release -p asm-host -p asm-guest --all-targets -- -D warnings
	$(CARGO) clippy -p asm-guest --target $(WASM_TARGET) --profile wasm -- -D warnings

clean:
	$(CARGO) clean
