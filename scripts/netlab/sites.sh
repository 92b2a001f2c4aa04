# What the network lab's scenarios (run.sh) and the demo's story (scripts/demo.sh) share: the
# lab's lifetime, its chain node, its relays and their configs, the flows and the route watch.
# Sourced after scripts/lib.sh and one lab backend (lab.sh: namespaces, root; loopback.sh: one
# host, no root). The caller sets `here` (this directory), `relay` (the srwan-relay binary) and
# `sites`, and before lab_claim: `force` and `keep` (0/1).

EPOCH_BLOCKS=4 # the `ci` chain's epoch length

# `host_spawn LOG COMMAND...`: starts COMMAND on the host in the background, output appended
# to LOG; SPAWNED_PID is its pid, recorded so that cleanup (or a later --force) stops it.
host_spawn() {
	local out=$1
	shift
	"$@" >>"$out" 2>&1 &
	SPAWNED_PID=$!
	remember_pid "$SPAWNED_PID" >>"$NETLAB_STATE/host.pids"
}
host_stop_all() {
	[ -e "$NETLAB_STATE/host.pids" ] || return 0
	kill_remembered TERM <"$NETLAB_STATE/host.pids"
	sleep 0.5
	kill_remembered KILL <"$NETLAB_STATE/host.pids"
	rm -f "$NETLAB_STATE/host.pids"
}

# `remember_pid PID`: "PID START" with the process's start time (clock ticks after boot), which
# tells it from a later process given the same pid once it is gone (a lab left by a crash, a
# reboot in between).
remember_pid() { echo "$1 $(process_start "$1")"; }
process_start() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	# Fields after the command's ") ": state is the 1st, the start time the 20th.
	read -ra fields <<<"${stat##*) }"
	echo "${fields[19]:-0}"
}
# `kill_remembered SIGNAL < FILE`: signals each remembered process that is still the same one.
kill_remembered() {
	local pid start
	while read -r pid start; do
		[ -n "$pid" ] && [ "$(process_start "$pid")" = "${start:-}" ] || continue
		kill -s "$1" "$pid" 2>/dev/null || true
	done
}

# Refuses to start over a leftover lab (or removes it with force=1), then makes the run's dir
# ($dir) and state dir, and sets the cleanup that tears everything down on exit, failure or
# Ctrl-C (keep=1 leaves a failed lab to look at). Call `lab_done` once the run succeeded.
lab_claim() {
	if netlab_leftover || [ -e "$NETLAB_STATE" ]; then
		[ "$force" = 1 ] || die "a network lab is still set up ($NETLAB_STATE${NETLAB_PREFIX:+, namespaces $NETLAB_PREFIX-*}): another run is going on, or one was killed; run again with --force to remove it"
		log "removing the leftover lab (--force)"
		[ -e "$NETLAB_STATE/node.pid" ] && kill_remembered TERM <"$NETLAB_STATE/node.pid"
		host_stop_all
		# The relays before their files: they write into the old run's dir until they are gone.
		netlab_down
		sleep 1
		[ -e "$NETLAB_STATE/dir" ] && { rm -rf "$(cat "$NETLAB_STATE/dir")" || true; }
		rm -rf "$NETLAB_STATE"
	fi
	dir=$(mktemp -d /tmp/srwan-netlab.XXXXXX)
	mkdir -p "$NETLAB_STATE"
	echo "$dir" >"$NETLAB_STATE/dir"
	node_pid=""
	lab_failed=1
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
}
lab_done() { lab_failed=0; }
lab_cleanup() {
	local status=$?
	if [ "$lab_failed" = 1 ] && [ "$keep" = 1 ]; then
		echo "failed; kept the lab (files in $dir, chain pid $node_pid)" >&2
		exit "$status"
	fi
	# What the relays thought, while they still run: routes and matrix at every site.
	if [ "$lab_failed" = 1 ] && [ "$status" != 130 ]; then relay_views >&2 || true; fi
	jobs -p | xargs -r kill 2>/dev/null || true
	host_stop_all
	netlab_down
	[ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
	if [ "$lab_failed" = 1 ] && [ "$status" != 130 ]; then
		echo "failed; the last lines of every log:" >&2
		for f in "$dir"/*.log "$dir"/lab/*.log; do [ -e "$f" ] && { echo "--- ${f#"$dir"/}" >&2; tail -n 15 "$f" >&2; }; done
		# Last, where a truncated CI log still shows it.
		[ -n "${SRWAN_DIED:-}" ] && echo "error: $SRWAN_DIED" >&2
	fi
	rm -rf "$dir" "$NETLAB_STATE"
	exit "$status"
}

# --- the chain ------------------------------------------------------------------------------
# `chain_start PORT`: a `ci` chain node on the host (6 s blocks, 4-block epochs), reachable
# from the sites at $chain_ws; waits for its first finalized block.
chain_start() {
	rpc_port=$1
	"$SRWAN_NODE" --dev --chain ci --base-path "$dir/chain" --rpc-port "$rpc_port" --rpc-external \
		--rpc-cors all --port 0 --no-mdns --no-prometheus --no-telemetry >"$dir/node.log" 2>&1 &
	node_pid=$!
	remember_pid "$node_pid" >"$NETLAB_STATE/node.pid"
	wait_finalized "http://127.0.0.1:$rpc_port" 1 300 >/dev/null || die "the chain did not finalize a block"
	chain_ws="ws://$NETLAB_HOST:$rpc_port"
}
chain_best() {
	curl -s -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"chain_getHeader","params":[]}' "http://127.0.0.1:$rpc_port" |
		sed -n 's/.*"number":"\(0x[0-9a-f]*\)".*/\1/p' | { read -r n; echo $((n)); }
}
epoch_now() { echo $(($(chain_best) / EPOCH_BLOCKS)); }

# --- the relays -----------------------------------------------------------------------------
config() { echo "$dir/site$1.toml"; }
# `write_configs`: one relay config per site from the arrays `accounts`, `countries` and
# `prices` (index = site), pulsing every second; fills `account_of` (site → account).
declare -A account_of
write_configs() {
	local i
	for i in $(seq 1 "$sites"); do
		cat >"$(config "$i")" <<-TOML
			id = "site$i"
			data_dir = "$dir/site$i"
			listen = "$(site_listen "$i")"
			dashboard = "$(site_dashboard_listen "$i")"
			allowed_destinations = ["$(site_echo "$i")"]
			[pulse]
			interval_ms = 1000
			[chain]
			url = "$chain_ws"
			account = "${accounts[$i]}"
			[chain.router]
			endpoint = "$(site_endpoint "$i")"
			country = "${countries[$i]}"
			asn = 6450$i
			lat = 50.$i
			lon = 8.$i
			price_per_gb = "${prices[$i]}"
		TOML
		account_of[$i]=$("$relay" key -c "$(config "$i")" 2>/dev/null | sed -n 's/^account *\([^ ]*\).*/\1/p')
	done
}
# `add_tunnel I J`: site I's consumer sends through its tunnel to the echo service behind J.
add_tunnel() {
	printf '[[tunnels]]\nlisten = "%s"\negress = "%s"\nto = "%s"\n' \
		"$(site_tunnel "$1")" "${account_of[$2]}" "$(site_echo "$2")" >>"$(config "$1")"
}
# `consumer I`: site I's account deposits escrow and sets its receipt key (CLI, on the host).
consumer() {
	"$relay" escrow deposit 100 -c "$(config "$1")" &&
		"$relay" escrow set-receipt-key -c "$(config "$1")"
}
# `start_echo I`: the UDP echo service behind site I's egress.
start_echo() { site_spawn "$1" "$dir/echo$1.log" python3 "$here/netlab.py" echo "$(site_echo "$1")"; }
declare -A relay_pid
# `start_relay I`: site I's relay agent (relay_pid[I] is the agent itself).
start_relay() {
	site_spawn "$1" "$dir/site$1.log" env RUST_LOG=info "$relay" run -c "$(config "$1")"
	relay_pid[$1]=$SPAWNED_PID
}
dashboard() { echo "http://$(site_dashboard_listen "$1")"; }
api() { curl -sf --max-time 2 "$(dashboard "$1")$2"; }
status_field() { api "$1" /api/status | python3 -c "import json,sys; print(json.load(sys.stdin)[\"$2\"])" 2>/dev/null; }
# `relay_views`: each running relay's tunnels (/api/paths) and round trips (/api/matrix), for a
# failure's log.
relay_views() {
	local i
	for i in $(seq 1 "${sites:-0}"); do
		echo "--- site $i: /api/paths"
		api "$i" /api/paths || echo "(no answer)"
		echo
		echo "--- site $i: /api/matrix"
		api "$i" /api/matrix || echo "(no answer)"
		echo
	done
}
# `detours_measured I J`: site I's relay knows the round trips a cut of the I–J segment needs:
# I–J itself and both segments of every one-relay detour (I → k → J). A new group starts with an
# empty matrix.
detours_measured() {
	local from to
	from=$(status_field "$1" member_index) to=$(status_field "$2" member_index)
	[ -n "$from" ] && [ -n "$to" ] || return 1
	api "$1" /api/matrix | python3 -c '
import json, sys
a, b = int(sys.argv[1]), int(sys.argv[2])
rtt = json.load(sys.stdin)["rtt_us"]
others = [k for k in range(len(rtt)) if k not in (a, b)]
needed = [(a, b)] + [(a, k) for k in others] + [(k, b) for k in others]
sys.exit(0 if all(rtt[i][j] is not None for i, j in needed) else 1)
' "$from" "$to" 2>/dev/null
}
group_of_all() {
	local i
	for i in $(seq 1 "$sites"); do
		[ "$(status_field "$i" group_size)" = "$sites" ] || return 1
	done
}
# `wait_until WHAT SECONDS COMMAND...`: polls COMMAND every half second.
wait_until() {
	local what=$1 seconds=$2 start=$SECONDS
	shift 2
	until "$@"; do
		((SECONDS - start > seconds)) && die "no $what within ${seconds} s"
		sleep 0.5
	done
	log "$what after $((SECONDS - start)) s"
}
declare -A site_of_member
# Which site each group member is (call once the group formed).
map_members() {
	local i
	for i in $(seq 1 "$sites"); do site_of_member[$(status_field "$i" member_index)]=$i; done
}
# A route (detour-I-J-K, member indices) as the sites it crosses.
sites_of() {
	local m out="" members
	[[ "$1" == detour-* ]] || return 0
	IFS=- read -ra members <<<"${1#detour-}"
	for m in "${members[@]}"; do out+="${site_of_member[$m]} "; done
	echo "${out% }"
}

# --- flows and the route watch ----------------------------------------------------------------
# `start_flow NAME I [EVERY_MS]`: a numbered flow from site I's consumer through its tunnel,
# a datagram every EVERY_MS (default 10).
start_flow() {
	site_spawn "$2" "$dir/flow-$1.stderr.log" python3 "$here/netlab.py" flow "$(site_tunnel "$2")" \
		"$dir/flow-$1.log" --every-ms "${3:-10}"
}
# `start_watch NAME=I...`: logs each named flow's route changes (its ingress's first tunnel).
start_watch() {
	local targets=() pair
	for pair in "$@"; do targets+=("${pair%=*}=$(dashboard "${pair#*=}")"); done
	host_spawn "$dir/watch.stderr.log" python3 "$here/netlab.py" watch "$dir/watch.log" "${targets[@]}"
}
py() { python3 "$here/netlab.py" "$@"; }
stamp() { py now; }
route() { awk -v n="$1" '$2 == n { r = $3 } END { print r }' "$dir/watch.log"; }
echoes() { grep -c '^r ' "$dir/flow-$1.log" 2>/dev/null || echo 0; }
on_route() { [ "$(route "$1")" = "$2" ]; }
on_detour() { [[ "$(route "$1")" == detour* ]]; }
more_echoes() { [ "$(echoes "$1")" -gt "$2" ]; }

# `settle_check NAME FROM_EPOCH TO_EPOCH CONSUMER_SITE RELAY_SITE...`: in the background,
# waits for the chain to settle those epochs and writes what it paid the relays from the
# consumer's escrow to $out/NAME.json (settle_pid[NAME]; exits 1 if a RELAY_SITE got nothing).
declare -A settle_pid
settle_check() {
	local name=$1 from=$2 to=$3 payer=$4 accounts=() s
	shift 4
	for s in "$@"; do accounts+=("${account_of[$s]}"); done
	SRWAN_WS="ws://127.0.0.1:$rpc_port" node "$SRWAN_ROOT/e2e/netlab-chain.js" settled \
		"$from" "$to" 300 "${account_of[$payer]}" "${accounts[@]}" >"$out/$name.json" 2>"$dir/$name-chain.log" &
	settle_pid[$name]=$!
}
