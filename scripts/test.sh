#!/usr/bin/env bash
# The test command: formatting, clippy, every workspace test (benchmarks run as tests), three
# relay processes in network namespaces, then the e2e suite through polkadot.js against a node
# this script starts (and always stops).
# One profile and one feature set throughout (scripts/lib.sh), so nothing compiles twice.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SRWAN_ROOT"

"$SRWAN_ROOT/scripts/setup.sh"

started=$SECONDS
step() { log "[$((SECONDS - started))s] $*"; }

step "checking Cargo.lock: no rocksdb anywhere"
if grep -q 'name = "librocksdb-sys"' Cargo.lock; then
	die "librocksdb-sys is in Cargo.lock: some sc-* crate lost default-features = false"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "building the workspace"
build_workspace

# After the build the runtime's wasm exists, so clippy needs no wasm build. Setting
# SKIP_WASM_BUILD=1 here would change the runtime build script's inputs and force the runtime
# and the node to be rebuilt twice on every run.
step "clippy -D warnings"
cargo clippy "${SRWAN_CARGO_ARGS[@]}" --all-targets -- -D warnings

step "workspace tests (unit, integration, benchmarks as tests)"
cargo test "${SRWAN_CARGO_ARGS[@]}" --all-targets

step "relays in network namespaces: failover on a link cut and back"
"$SRWAN_ROOT/scripts/netns-test.sh"

step "e2e: polkadot.js against a fresh dev node"
"$SRWAN_ROOT/e2e/run.sh"

step "all tests passed"
