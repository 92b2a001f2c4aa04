#!/usr/bin/env bash
# Starts a fresh `srwan-node --dev`, runs the polkadot.js suite against it, and stops the node
# whatever happens. Expects the node to be built (scripts/test.sh does that).
# usage: e2e/run.sh [test files...]   (default: every file in tests/)
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

[ -x "$SRWAN_NODE" ] || die "no node binary at $SRWAN_NODE: run scripts/test.sh (it builds first)"

base=$(mktemp -d /tmp/srwan-e2e.XXXXXX)
rpc_port=${SRWAN_E2E_RPC_PORT:-19944}
node_pid=""
cleanup() {
	if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
		kill "$node_pid" 2>/dev/null || true
		wait "$node_pid" 2>/dev/null || true
	fi
	rm -rf "$base"
}
trap cleanup EXIT INT TERM

log "starting srwan-node --dev (rpc port $rpc_port, log $base/node.log)"
"$SRWAN_NODE" --dev --base-path "$base/dev" --rpc-port "$rpc_port" --port 0 \
	--no-prometheus --no-telemetry >"$base/node.log" 2>&1 &
node_pid=$!

if ! wait_finalized "http://127.0.0.1:$rpc_port" 1 120 >/dev/null; then
	tail -n 50 "$base/node.log" >&2
	die "the dev node did not finalize a block within 120 s"
fi

cd "$SRWAN_ROOT/e2e"
status=0
SRWAN_WS="ws://127.0.0.1:$rpc_port" SRWAN_NODE="$SRWAN_NODE" \
	node --test --test-concurrency=1 --test-reporter=spec "${@:-tests/}" || status=$?
if [ $status -ne 0 ]; then
	log "e2e failed; last lines of the node log:"
	tail -n 30 "$base/node.log" >&2
fi
exit $status
