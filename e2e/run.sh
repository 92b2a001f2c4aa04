#!/usr/bin/env bash
# Runs the polkadot.js suite: every test file at once, each against a fresh node of its own
# (`srwan-node --dev --chain ci`: the dev chain with the short clocks of the `ci` preset, its own
# base path and RPC port), so files share no chain state and their waits for chain time overlap.
# Every node is stopped whatever happens. Expects the node to be built (scripts/test.sh does it).
#
# usage: e2e/run.sh [test files...]   (default: every tests/*.test.js)
#
# A file whose header says `// e2e-node: none` gets no node (it needs none, or starts its own).
# SRWAN_E2E_CHAIN picks another chain (e.g. `dev`, for the long clocks people see);
# SRWAN_E2E_RPC_PORT the first RPC port (one per file from there).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

[ -x "$SRWAN_NODE" ] || die "no node binary at $SRWAN_NODE: run scripts/test.sh (it builds first)"
command -v node >/dev/null || die "node (Node.js) is needed: scripts/setup.sh installs it"

cd "$SRWAN_ROOT/e2e"
if [ $# -gt 0 ]; then files=("$@"); else files=(tests/*.test.js); fi
chain=${SRWAN_E2E_CHAIN:-ci}
first_port=${SRWAN_E2E_RPC_PORT:-19950}

base=$(mktemp -d /tmp/srwan-e2e.XXXXXX)
runners=()
cleanup() {
	# The runners first (each stops its own node on the way out), then any node left behind.
	for pid in "${runners[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
	for pidfile in "$base"/*.node.pid; do
		[ -e "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		kill "$pid" 2>/dev/null || true
		# A node flushing its database must not lose its directory underneath it.
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -rf "$base"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

needs_node() { ! head -n 12 "$1" | grep -q '^// e2e-node: none'; }

# Runs one test file, against a node of its own where it needs one; writes `<name>.status`.
run_file() {
	local file=$1 port=$2 name
	name=$(basename "$file" .test.js)
	local out="$base/$name.out" ws=""
	local started=$SECONDS
	if needs_node "$file"; then
		"$SRWAN_NODE" --dev --chain "$chain" --base-path "$base/$name.chain" --rpc-port "$port" \
			--port 0 --no-mdns --no-prometheus --no-telemetry >"$base/$name.node.log" 2>&1 &
		local node_pid=$!
		echo "$node_pid" >"$base/$name.node.pid"
		# Nodes that start together share two cores while they compile the runtime.
		if ! wait_finalized "http://127.0.0.1:$port" 1 300 >/dev/null; then
			{
				echo "the $chain node for $file did not finalize a block within 300 s; its log:"
				tail -n 50 "$base/$name.node.log"
			} >"$out"
			echo 1 >"$base/$name.status"
			return
		fi
		ws="ws://127.0.0.1:$port"
	fi
	local status=0
	SRWAN_WS="$ws" SRWAN_NODE="$SRWAN_NODE" \
		node --test --test-reporter=spec "$file" >"$out" 2>&1 || status=$?
	if [ -n "$ws" ]; then
		if [ $status -ne 0 ]; then
			{ echo "--- last lines of the node log ---"; tail -n 30 "$base/$name.node.log"; } >>"$out"
		fi
		kill "$node_pid" 2>/dev/null || true
		wait "$node_pid" 2>/dev/null || true
		rm -f "$base/$name.node.pid"
	fi
	echo "$((SECONDS - started))" >"$base/$name.seconds"
	echo "$status" >"$base/$name.status"
}

log "e2e: ${#files[@]} files at once, each against its own '$chain' node (logs in $base)"
port=$first_port
for file in "${files[@]}"; do
	[ -f "$file" ] || die "no test file $file"
	run_file "$file" "$port" &
	runners+=($!)
	port=$((port + 1))
done
for pid in "${runners[@]}"; do wait "$pid" || true; done
runners=()

# The reports, file by file, then one total.
passed=0 failed=0 broken=0
for file in "${files[@]}"; do
	name=$(basename "$file" .test.js)
	status=$(cat "$base/$name.status" 2>/dev/null || echo 1)
	log "e2e $file: exit $status after $(cat "$base/$name.seconds" 2>/dev/null || echo '?') s"
	cat "$base/$name.out"
	p=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$base/$name.out" | tail -n 1)
	f=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$base/$name.out" | tail -n 1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	if [ "$status" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then broken=$((broken + 1)); fi
done
# A file that failed without a failing test (its node never came up, a crash) counts as one.
failed=$((failed + broken))
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
