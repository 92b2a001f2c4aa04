#!/usr/bin/env bash
# Relay measurements for docs/PERFORMANCE.md, each against a baseline of the same run:
#   1. criterion: one relay hop in memory vs a bare forwarder (type check + copy);
#   2. pulse and row traffic of one node in an N-agent loopback group (default 100);
#   3. failover and revert times of the four-relay loopback test.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SRWAN_ROOT"
agents=${AGENTS:-100}

log "criterion: one hop vs bare forwarder"
cargo bench "${SRWAN_CARGO_ARGS[@]}" --bench forwarding -- --noplot 2>&1 |
	grep -E "^one hop|time:|thrpt:" || true

log "pulse budget: $agents agents on loopback"
# Built with the workspace (`--all-targets` includes examples); run the binary directly so
# that cargo does not resolve features for one package and rebuild.
build_workspace
"$SRWAN_BIN_DIR/examples/pulse_budget" "$agents" 14 2000

log "failover: four relays, one cut link"
cargo test "${SRWAN_CARGO_ARGS[@]}" --test loopback -- --nocapture 2>&1 |
	grep -E "taken|back on"
