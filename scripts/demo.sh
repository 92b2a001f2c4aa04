#!/usr/bin/env bash
# The main job: builds srwan, starts a local dev chain, waits until GRANDPA finalizes blocks,
# then shows how to connect a wallet and what is on chain. Keeps the chain running until
# Ctrl-C; with --once it stops after showing.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SRWAN_ROOT"

once=0
rpc_port=9944
while [ $# -gt 0 ]; do
	case "$1" in
	--once) once=1 ;;
	--rpc-port) rpc_port="$2"; shift ;;
	-h | --help)
		cat <<USAGE
usage: scripts/demo.sh [--once] [--rpc-port PORT]

Builds the workspace, starts 'srwan-node --dev' (Alice authors and finalizes), waits for a
finalized block, shows a wallet transfer and how to connect a polkadot.js wallet, then starts
three relays with a UDP tunnel and shows their dashboards.
  --once            stop the chain after the walkthrough instead of running until Ctrl-C
  --rpc-port PORT   RPC port of the dev node (default 9944)
USAGE
		exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done

"$SRWAN_ROOT/scripts/setup.sh"
build_workspace

base=$(mktemp -d /tmp/srwan-demo.XXXXXX)
node_pid=""
cleanup() {
	[ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
	rm -rf "$base"
}
trap cleanup EXIT INT TERM

log "starting srwan-node --dev (RPC ws://127.0.0.1:$rpc_port, log $base/node.log)"
"$SRWAN_NODE" --dev --base-path "$base/chain" --rpc-port "$rpc_port" --rpc-cors all \
	--no-telemetry >"$base/node.log" 2>&1 &
node_pid=$!

log "waiting for GRANDPA to finalize a block"
finalized=$(wait_finalized "http://127.0.0.1:$rpc_port" 2 120) ||
	{ tail -n 40 "$base/node.log" >&2; die "no finalized block within 120 s"; }
log "block #$finalized is finalized"

log "what a wallet sees (polkadot.js):"
SRWAN_WS="ws://127.0.0.1:$rpc_port" node "$SRWAN_ROOT/e2e/demo.js"

cat <<INFO

Connect a wallet:
  * polkadot.js apps or any Substrate wallet: custom endpoint ws://127.0.0.1:$rpc_port
  * token SRW, 12 decimals, SS58 prefix 42; dev accounts //Alice, //Bob, ... are funded
  * from code: new ApiPromise({ provider: new WsProvider('ws://127.0.0.1:$rpc_port') })
Prometheus metrics: http://127.0.0.1:9615/metrics
INFO

log "the relays: a static group of three, with a tunnel"
if [ "$once" = 1 ]; then
	"$SRWAN_ROOT/scripts/relay-demo.sh"
	log "--once: stopping the chain and the relays"
	exit 0
fi
"$SRWAN_ROOT/scripts/relay-demo.sh" --keep
log "the chain and the relays keep running; press Ctrl-C to stop them"
trap 'pkill -P $$ 2>/dev/null; pkill -f "srwan-relay run -c /tmp/srwan-relays" 2>/dev/null; cleanup' INT TERM
wait "$node_pid"
