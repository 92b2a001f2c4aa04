# The network lab without root (sourced instead of lab.sh; the same functions): every site's
# relay runs on this host's loopback, and srwan-udp-wire, a UDP proxy, sits between them. Site
# i's relay lists 127.0.0.1:74i0 (held by the wire) as its endpoint and listens on 127.0.0.1:74i1;
# a datagram it sends to site j's endpoint reaches relay j from 127.0.0.1:74i0 after the i–j
# link's delay, unless the link's loss or outage drops it. The relays carry no impairment code.
# Delay, jitter, loss and outage are per link and change on a timeline (the wire re-reads its
# table); there is no congestion here (no queue to fill).

NETLAB_MODE=loopback
NETLAB_HOST=127.0.0.1
NETLAB_STATE=${NETLAB_STATE:-${XDG_RUNTIME_DIR:-/tmp}/srwan-netlab-loopback-$(id -u)}

site_endpoint() { echo "127.0.0.1:$((7400 + 10 * $1))"; }
site_listen() { echo "127.0.0.1:$((7401 + 10 * $1))"; }
site_dashboard_listen() { echo "127.0.0.1:$((7480 + $1))"; }
site_tunnel() { echo "127.0.0.1:$((5300 + 10 * $1))"; }
site_echo() { echo "127.0.0.1:$((5303 + 10 * $1))"; }
in_site() { shift; "$@"; }
# `site_spawn I LOG COMMAND...`: as lab.sh's (a host process, recorded by sites.sh's
# host_spawn so that a later `--force` can stop what a killed run left).
site_spawn() { shift; host_spawn "$@"; }
# A leftover is a state dir (sites.sh checks it); nothing else marks one.
netlab_leftover() { return 1; }
netlab_down() { host_stop_all; }

declare -gA NETLAB_DELAY NETLAB_JITTER NETLAB_LOSS NETLAB_OUTAGE
NETLAB_SITES=0
NETLAB_DIR=""

# `netlab_up N DIR WIRE`: starts the wire between N sites; WIRE is the srwan-udp-wire binary.
netlab_up() {
	local n=$1 wire=$3 i sites=()
	NETLAB_SITES=$n NETLAB_DIR=$2
	mkdir -p "$NETLAB_DIR" "$NETLAB_STATE"
	: >"$NETLAB_DIR/links.txt"
	for i in $(seq 1 "$n"); do sites+=(--site "$(site_endpoint "$i")=$(site_listen "$i")"); done
	site_spawn 0 "$NETLAB_DIR/wire.log" "$wire" "${sites[@]}" --links "$NETLAB_DIR/links.txt"
	local pid=$SPAWNED_PID tries=0
	# Up once it says so; gone (a port taken, a bad table) or silent for 30 s is a failure.
	until grep -q "serving" "$NETLAB_DIR/wire.log"; do
		if ! kill -0 "$pid" 2>/dev/null || [ $((tries += 1)) -gt 300 ]; then
			cat "$NETLAB_DIR/wire.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

netlab_pair() { if [ "$1" -lt "$2" ]; then echo "$1 $2"; else echo "$2 $1"; fi; }

# Rewrites the wire's table from the four maps (atomically: the wire re-reads it on change).
netlab_write_links() {
	local pair tmp="$NETLAB_DIR/links.txt.tmp" line
	: >"$tmp"
	for pair in $(printf '%s\n' "${!NETLAB_DELAY[@]}" "${!NETLAB_LOSS[@]}" "${!NETLAB_OUTAGE[@]}" | sort -u); do
		line="${pair/-/ } ${NETLAB_DELAY[$pair]:-0} ${NETLAB_JITTER[$pair]:-0}"
		[ "${NETLAB_LOSS[$pair]:-0}" -gt 0 ] && line+=" loss=${NETLAB_LOSS[$pair]}"
		[ "${NETLAB_OUTAGE[$pair]:-off}" = on ] && line+=" down"
		echo "$line" >>"$tmp"
	done
	mv "$tmp" "$NETLAB_DIR/links.txt"
}

netlab_key() { local p; p=$(netlab_pair "$1" "$2"); echo "${p/ /-}"; }
netlab_delay() {
	local key
	key=$(netlab_key "$1" "$2")
	NETLAB_DELAY[$key]=$3
	NETLAB_JITTER[$key]=${4:-0}
	netlab_write_links
}
netlab_loss() { NETLAB_LOSS[$(netlab_key "$1" "$2")]=$3; netlab_write_links; }
netlab_outage() { NETLAB_OUTAGE[$(netlab_key "$1" "$2")]=$3; netlab_write_links; }
