#!/usr/bin/env bash
# Relay measurements for docs/PERFORMANCE.md, each against a baseline of the same run:
#   1. criterion: one relay hop in memory vs a bare forwarder (type check + copy);
#   2. sockets: packets/s, Gbit/s and one-way latency p50/p99 through one relay hop vs a bare
#      batched (recvmmsg/GRO, GSO) UDP forwarder (examples/relay_load.rs);
#   3. pulse and row traffic of one node in an N-agent loopback group (default 100);
#   4. failover and revert times of the four-relay loopback test.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SRWAN_ROOT"
agents=${AGENTS:-100}

log "criterion: one hop vs bare forwarder"
cargo bench "${SRWAN_CARGO_ARGS[@]}" --bench forwarding -- --noplot 2>&1 |
	grep -E "^one hop|time:|thrpt:" || true

# Built with the workspace (`--all-targets` includes examples); run the binaries directly so
# that cargo does not resolve features for one package and rebuild.
build_workspace
for payload in 1200 64; do
	log "sockets: one relay hop vs a bare batched forwarder, $payload B payloads"
	"$SRWAN_BIN_DIR/examples/relay_load" 1 "$payload" 7
done

log "pulse budget: $agents agents on loopback (one warm-up and one counted 30-round cycle)"
"$SRWAN_BIN_DIR/examples/pulse_budget" "$agents" 1 2000

log "failover: four relays, one cut link"
cargo test "${SRWAN_CARGO_ARGS[@]}" --test loopback -- --nocapture 2>&1 |
	grep -E "taken|back on"
