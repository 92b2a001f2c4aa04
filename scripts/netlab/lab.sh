# The network lab's topology and impairments (sourced by scripts/netlab/run.sh).
#
# N site namespaces (`srwl-1` … `srwl-N`), each joined by a veth pair to a central "internet"
# namespace (`srwl-inet`) that routes between them; the host reaches every site through a
# veth of its own (`srwl-host`), so the chain node runs on the host and the dashboards are
# reachable from it. Site i is 198.18.i.2/24 (its gateway 198.18.i.1); the host is 198.18.0.1.
# 198.18.0.0/15 is the range set aside for network benchmarks (RFC 2544): nothing outside the
# lab uses it.
#
# Impairments, per pair of sites and on a timeline, with what this kernel has (no netem):
#   delay and jitter   srwan-wire, a userspace NFQUEUE verdict program holding each forwarded
#                      packet until its link's deadline (iptables-legacy mangle FORWARD)
#   loss               nft `numgen random mod 1000 < N drop` (each direction)
#   outage             nft drop of everything between the two sites
#   congestion         htb on the internet's egress towards each site: the pair's traffic in a
#                      rate-limited class with a bounded FIFO (queueing delay, then drops)

# scripts/netlab/loopback.sh is the same interface without root: every relay on this host's
# loopback, joined through srwan-udp-wire.

NETLAB_MODE=netns
NETLAB_PREFIX=${NETLAB_PREFIX:-srwl}
NETLAB_INET="$NETLAB_PREFIX-inet"
NETLAB_HOST_IF="$NETLAB_PREFIX-host"
NETLAB_HOST_ADDR=198.18.0.1

netlab_site_ns() { echo "$NETLAB_PREFIX-$1"; }
netlab_addr() { echo "198.18.$1.2"; }
netlab_net() { echo "198.18.$1.0/24"; }
in_site() { local i=$1; shift; ip netns exec "$(netlab_site_ns "$i")" "$@"; }
in_inet() { ip netns exec "$NETLAB_INET" "$@"; }
# Where site i's relay listens, where peers send to it, its dashboard, its consumer's tunnel and
# the echo service behind its egress (tunnel and echo are on each site's own loopback).
site_listen() { echo "$(netlab_addr "$1"):7400"; }
site_endpoint() { site_listen "$1"; }
site_dashboard_listen() { echo "$(netlab_addr "$1"):7480"; }
site_tunnel() { echo "127.0.0.1:5300"; }
site_echo() { echo "127.0.0.1:5353"; }
# The host's address as the sites see it (the chain node runs on the host).
NETLAB_HOST=$NETLAB_HOST_ADDR
# What is left of a run: its files and its chain node's pid.
NETLAB_STATE=${NETLAB_STATE:-/run/srwan-netlab}
# `site_spawn I LOG COMMAND...`: starts COMMAND in site I in the background, its output
# appended to LOG; SPAWNED_PID is the command itself (`ip netns exec` execs it).
site_spawn() {
	local i=$1 out=$2
	shift 2
	ip netns exec "$(netlab_site_ns "$i")" "$@" >>"$out" 2>&1 &
	SPAWNED_PID=$!
}

# Whether a lab (or what is left of one) exists.
netlab_leftover() {
	ip netns list 2>/dev/null | grep -q "^$NETLAB_PREFIX-" || ip link show "$NETLAB_HOST_IF" >/dev/null 2>&1
}

# Tears down everything a lab made: processes in its namespaces, the namespaces, the host's
# veth and route. Safe to run on a partial lab or none.
netlab_down() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NETLAB_PREFIX-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
	done
	sleep 0.5
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NETLAB_PREFIX-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	ip route del 198.18.0.0/15 2>/dev/null || true
	ip link del "$NETLAB_HOST_IF" 2>/dev/null || true
}

# State of the impairments (rewritten into the wire's table and nft's chain on each change).
declare -gA NETLAB_DELAY NETLAB_JITTER NETLAB_LOSS NETLAB_OUTAGE
NETLAB_SITES=0
NETLAB_DIR=""

# `netlab_up N DIR WIRE`: builds the lab with N sites; DIR holds its files, WIRE is the
# srwan-wire binary.
netlab_up() {
	local n=$1 i
	NETLAB_SITES=$n NETLAB_DIR=$2
	local wire=$3
	mkdir -p "$NETLAB_DIR"
	ip netns add "$NETLAB_INET"
	in_inet ip link set lo up
	in_inet sysctl -qw net.ipv4.ip_forward=1
	ip link add "$NETLAB_HOST_IF" type veth peer name h0 netns "$NETLAB_INET"
	ip addr add "$NETLAB_HOST_ADDR/24" dev "$NETLAB_HOST_IF"
	ip link set "$NETLAB_HOST_IF" up
	in_inet ip addr add 198.18.0.2/24 dev h0
	in_inet ip link set h0 up
	ip route add 198.18.0.0/15 via 198.18.0.2
	for i in $(seq 1 "$n"); do
		local ns
		ns=$(netlab_site_ns "$i")
		ip netns add "$ns"
		in_site "$i" ip link set lo up
		ip link add eth0 netns "$ns" type veth peer name "s$i" netns "$NETLAB_INET"
		in_site "$i" ip addr add "$(netlab_addr "$i")/24" dev eth0
		in_site "$i" ip link set eth0 up
		in_site "$i" ip route add default via "198.18.$i.1"
		in_inet ip addr add "198.18.$i.1/24" dev "s$i"
		in_inet ip link set "s$i" up
	done
	# Site-to-site packets go through the wire (the host's are left alone).
	in_inet iptables-legacy -t mangle -A FORWARD -i 's+' -o 's+' -j NFQUEUE --queue-num 0 --queue-bypass
	in_inet nft add table inet netlab
	in_inet nft add chain inet netlab forward '{ type filter hook forward priority 0; policy accept; }'
	: >"$NETLAB_DIR/links.txt"
	# Ahead of the relays for the CPU: a wire that falls behind overflows its netlink socket,
	# and the kernel drops what it queued (loss nobody asked for).
	in_inet nice -n -10 "$wire" --queue 0 --links "$NETLAB_DIR/links.txt" >"$NETLAB_DIR/wire.log" 2>&1 &
	sleep 0.3
	grep -q "serving NFQUEUE" "$NETLAB_DIR/wire.log" || {
		cat "$NETLAB_DIR/wire.log" >&2
		return 1
	}
}

# Key of an unordered pair.
netlab_pair() { if [ "$1" -lt "$2" ]; then echo "$1-$2"; else echo "$2-$1"; fi; }

# Rewrites the wire's link table from NETLAB_DELAY/NETLAB_JITTER (atomically: the wire reloads
# it when it changes).
netlab_write_links() {
	local pair i j tmp="$NETLAB_DIR/links.txt.tmp"
	: >"$tmp"
	for pair in "${!NETLAB_DELAY[@]}"; do
		i=${pair%-*} j=${pair#*-}
		printf '%s %s %s %s\n' "$(netlab_net "$i")" "$(netlab_net "$j")" "${NETLAB_DELAY[$pair]}" "${NETLAB_JITTER[$pair]:-0}" >>"$tmp"
		printf '%s %s %s %s\n' "$(netlab_net "$j")" "$(netlab_net "$i")" "${NETLAB_DELAY[$pair]}" "${NETLAB_JITTER[$pair]:-0}" >>"$tmp"
	done
	mv "$tmp" "$NETLAB_DIR/links.txt"
}

# Rewrites nft's forward chain from NETLAB_LOSS and NETLAB_OUTAGE.
netlab_write_filters() {
	local pair i j rules=""
	for pair in "${!NETLAB_OUTAGE[@]}"; do
		[ "${NETLAB_OUTAGE[$pair]}" = on ] || continue
		i=${pair%-*} j=${pair#*-}
		rules+="add rule inet netlab forward ip saddr $(netlab_net "$i") ip daddr $(netlab_net "$j") drop"$'\n'
		rules+="add rule inet netlab forward ip saddr $(netlab_net "$j") ip daddr $(netlab_net "$i") drop"$'\n'
	done
	for pair in "${!NETLAB_LOSS[@]}"; do
		[ "${NETLAB_LOSS[$pair]}" -gt 0 ] || continue
		i=${pair%-*} j=${pair#*-}
		rules+="add rule inet netlab forward ip saddr $(netlab_net "$i") ip daddr $(netlab_net "$j") numgen random mod 1000 < ${NETLAB_LOSS[$pair]} drop"$'\n'
		rules+="add rule inet netlab forward ip saddr $(netlab_net "$j") ip daddr $(netlab_net "$i") numgen random mod 1000 < ${NETLAB_LOSS[$pair]} drop"$'\n'
	done
	# One transaction: the flush and the new rules apply together.
	printf 'flush chain inet netlab forward\n%s' "$rules" | in_inet nft -f -
}

# `netlab_delay I J MS [JITTER_MS]`: one-way delay of the link between sites I and J (each way).
netlab_delay() {
	local pair
	pair=$(netlab_pair "$1" "$2")
	NETLAB_DELAY[$pair]=$3
	NETLAB_JITTER[$pair]=${4:-0}
	netlab_write_links
}

# `netlab_loss I J PERMILLE`: random loss on the link (each way); 0 lifts it.
netlab_loss() {
	NETLAB_LOSS[$(netlab_pair "$1" "$2")]=$3
	netlab_write_filters
}

# `netlab_outage I J on|off`: the link drops everything, or nothing.
netlab_outage() {
	NETLAB_OUTAGE[$(netlab_pair "$1" "$2")]=$3
	netlab_write_filters
}

# `netlab_congest I J KBIT`: traffic from I to J and from J to I shares a KBIT/s class with a
# 64-packet FIFO on the internet's way out to each site (queueing delay, then drops); `off`
# lifts it.
netlab_congest() {
	local i=$1 j=$2 rate=$3 from to
	for from_to in "$i $j" "$j $i"; do
		read -r from to <<<"$from_to"
		in_inet tc qdisc del dev "s$to" root 2>/dev/null || true
		[ "$rate" = off ] && continue
		in_inet tc qdisc add dev "s$to" root handle 1: htb default 99
		in_inet tc class add dev "s$to" parent 1: classid 1:99 htb rate 10gbit quantum 60000
		in_inet tc class add dev "s$to" parent 1: classid 1:10 htb rate "${rate}kbit" ceil "${rate}kbit"
		in_inet tc qdisc add dev "s$to" parent 1:10 handle 10: pfifo limit 64
		in_inet tc filter add dev "s$to" parent 1: protocol ip prio 1 u32 \
			match ip src "$(netlab_net "$from")" flowid 1:10
	done
}
