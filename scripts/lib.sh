# Shared settings of srwan's scripts: one target dir, one profile, one feature set, so that
# setup, tests, the demo and CI all reuse the same build (DESIGN.md "Build once").
# Source it: `. "$(dirname "$0")/lib.sh"`.

SRWAN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SRWAN_ROOT

# A fixed target dir outside the clone, so a fresh clone on a warm machine builds incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/srwan-target}"
# With the target dir outside the workspace, substrate-wasm-builder cannot find Cargo.lock.
export WASM_BUILD_WORKSPACE_HINT="$SRWAN_ROOT"
# frame-benchmarking-cli depends on a test runtime that it needs only for `benchmark storage
# --mode validate-block` (parachains); its wasm build costs minutes of a cold build. srwan-node
# refuses that mode with a clear error.
export SKIP_FRAME_STORAGE_ACCESS_TEST_RUNTIME_WASM_BUILD=1
# The runtime's build also makes its `next-spec` twin (one spec later) for the runtime-upgrade
# e2e; every scripted cargo run sets it alike, or the runtime's build script would rerun.
export SRWAN_NEXT_SPEC_WASM=1
# Link Debian's OpenSSL instead of building it from source (minutes saved).
export OPENSSL_NO_VENDOR=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# One profile and one feature set for clippy, tests, the node and e2e.
SRWAN_PROFILE="${SRWAN_PROFILE:-release}"
SRWAN_FEATURES="${SRWAN_FEATURES:-runtime-benchmarks,try-runtime}"
export SRWAN_PROFILE SRWAN_FEATURES
SRWAN_CARGO_ARGS=(--workspace --locked --profile "$SRWAN_PROFILE" --features "$SRWAN_FEATURES")

# Where the binaries land.
SRWAN_BIN_DIR="$CARGO_TARGET_DIR/$SRWAN_PROFILE"
[ "$SRWAN_PROFILE" = "dev" ] && SRWAN_BIN_DIR="$CARGO_TARGET_DIR/debug"
export SRWAN_BIN_DIR
export SRWAN_NODE="$SRWAN_BIN_DIR/srwan-node"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
# The message is kept in SRWAN_DIED so that an EXIT trap printing logs can repeat it last.
die() {
	SRWAN_DIED="$*"
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Builds every target of the workspace (node, relay, tests) with the shared settings.
# `--all-targets` makes cargo resolve features with dev-dependencies included, exactly as
# `cargo test` and clippy do: a plain `cargo build` would unify features differently and
# rebuild large parts of the dependency tree between the two.
build_workspace() {
	log "building the workspace (profile $SRWAN_PROFILE, features $SRWAN_FEATURES)"
	restore_source_times
	cargo_recorded build "${SRWAN_CARGO_ARGS[@]}" --all-targets
}

# A fresh clone's files are all newer than the shared target dir's build, so cargo would
# rebuild every workspace crate: sources whose content is what the last recorded cargo run
# compiled get that run's times back (scripts/source_times.py says why this is safe).
restore_source_times() {
	mkdir -p "$CARGO_TARGET_DIR"
	python3 "$SRWAN_ROOT/scripts/source_times.py" restore "$SRWAN_ROOT" "$CARGO_TARGET_DIR" >&2 || true
}
# `cargo_recorded ARGS...`: `cargo ARGS`, then records the sources' contents and times for the
# next clone's `restore_source_times`, and returns cargo's status. Also after a failure: a crate
# that did not compile kept its older build, which its sources' recorded times still outdate.
cargo_recorded() {
	local began status=0
	began=$(date +%s%N)
	cargo "$@" || status=$?
	python3 "$SRWAN_ROOT/scripts/source_times.py" record "$SRWAN_ROOT" "$CARGO_TARGET_DIR" "$began" >&2 || true
	return "$status"
}

# Waits until the node's RPC at $1 (http://host:port) reports a finalized block >= $2.
wait_finalized() {
	local url="$1" want="$2" deadline=$((SECONDS + ${3:-120})) head
	while [ $SECONDS -lt $deadline ]; do
		head=$(curl -s -H 'Content-Type: application/json' \
			-d '{"id":1,"jsonrpc":"2.0","method":"chain_getFinalizedHead","params":[]}' "$url" |
			sed -n 's/.*"result":"\(0x[0-9a-f]*\)".*/\1/p')
		if [ -n "$head" ]; then
			local number
			number=$(curl -s -H 'Content-Type: application/json' \
				-d "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"chain_getHeader\",\"params\":[\"$head\"]}" "$url" |
				sed -n 's/.*"number":"\(0x[0-9a-f]*\)".*/\1/p')
			if [ -n "$number" ] && [ $((number)) -ge "$want" ]; then
				echo $((number))
				return 0
			fi
		fi
		sleep 1
	done
	return 1
}
