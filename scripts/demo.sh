#!/usr/bin/env bash
# The main job: the whitepaper's promise, end to end on this machine. Builds srwan, starts a dev
# chain, four sites with a relay agent each, lets the relays register on the chain, deposits a
# consumer's escrow and runs a flow from site 1 to a service behind site 3; then cuts the direct
# 1–3 path, shows the flow move to a detour through another provider's relay, repairs the path,
# shows the flow come back, waits for the chain to settle, and reports the paths taken, the
# octets each relay carried and the coins each earned from the consumer's escrow.
set -euo pipefail
here="$(cd "$(dirname "$0")/netlab" && pwd)"
. "$here/../lib.sh"
cd "$SRWAN_ROOT"

once=0 force=0 keep=0 build=1 mode="" rpc_port=9944 cut=50
usage() {
	cat <<USAGE
usage: scripts/demo.sh [--once] [--loopback] [--force] [--skip-build] [--rpc-port PORT] [--cut SECONDS]

Builds the workspace (progress at each long step), starts a dev chain (srwan-node --dev --chain
ci: 6 s blocks and 24 s epochs, so settlement comes within the story), shows a wallet transfer,
then runs the story on four sites:

  site 1  //Alice    DE  0.5 SRW/GB   the consumer's ingress: a tunnel to the echo service behind 3
  site 2  //Bob      FR  0.2 SRW/GB   a transit relay
  site 3  //Charlie  NL  0.3 SRW/GB   the egress
  site 4  //Dave     BE  not for sale measures and is measured, never carries others' traffic

The relays pulse every second (the lab's setting; production uses the seed's 10 s). The direct
1–3 path is cut for --cut seconds (default 50: two whole epochs on the detour), then repaired;
the chain settles those epochs and the report shows what each relay was paid.

As root the sites are network namespaces around an "internet" namespace, with one-way delays
of 15–40 ms added by srwan-wire (scripts/netlab/lab.sh), and the dashboards are reachable from
the host. Without root (or with --loopback) the same story runs on this host's loopback with
srwan-udp-wire, a userspace UDP impairment proxy, between the agents (srwan-relay itself
carries no impairment code).

  --once         stop everything after the report (for scripted use); otherwise the chain, the
                 relays and the flow keep running until Ctrl-C
  --loopback     the loopback lab even as root
  --force        remove a leftover lab first (otherwise the demo refuses to start over one)
  --keep         if the story fails, leave its processes and files to look at
  --skip-build   use the binaries already built (in \$CARGO_TARGET_DIR)
  --rpc-port     the chain's RPC port (default 9944)
  --cut          how long the direct path stays cut, in seconds (default 50)
USAGE
}
while [ $# -gt 0 ]; do
	case "$1" in
	--once) once=1 ;;
	--loopback) mode=loopback ;;
	--force) force=1 ;;
	--keep) keep=1 ;;
	--skip-build) build=0 ;;
	--rpc-port) rpc_port="$2"; shift ;;
	--cut) cut="$2"; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done
[[ "$cut" =~ ^[0-9]+$ ]] && [ "$cut" -ge 10 ] || die "--cut takes whole seconds, at least 10"
[[ "$rpc_port" =~ ^[0-9]+$ ]] || die "--rpc-port takes a port number"

if [ -z "$mode" ]; then
	if [ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1; then mode=netns; else mode=loopback; fi
fi
if [ "$build" = 1 ]; then
	log "step 1/3: system packages, toolchain and npm packages (scripts/setup.sh)"
	"$SRWAN_ROOT/scripts/setup.sh"
	log "step 2/3: building the workspace (about 30–45 min the first time on 2 cores, seconds after)"
	build_workspace
fi
relay="$SRWAN_BIN_DIR/srwan-relay"
if [ "$mode" = netns ]; then
	. "$here/lab.sh"
	wire="$SRWAN_BIN_DIR/srwan-wire"
	log "step 3/3: the story, in network namespaces (root)"
else
	. "$here/loopback.sh"
	wire="$SRWAN_BIN_DIR/srwan-udp-wire"
	[ "$(id -u)" = 0 ] || log "not root: the story runs on loopback, through srwan-udp-wire between the agents"
	log "step 3/3: the story, on this host's loopback"
fi
. "$here/sites.sh"
for bin in "$relay" "$wire" "$SRWAN_NODE"; do
	[ -x "$bin" ] || die "no $bin: build first (scripts/demo.sh without --skip-build does)"
done
for tool in python3 node curl; do
	command -v "$tool" >/dev/null || die "$tool is needed: scripts/setup.sh installs it"
done
lab_claim
out="$dir/report"
mkdir -p "$out"
story_started=$SECONDS
t() { printf '%3ds' $((SECONDS - story_started)); }

log "$(t) a dev chain: srwan-node --dev --chain ci (RPC ws://127.0.0.1:$rpc_port)"
chain_start "$rpc_port"
log "$(t) what a wallet sees (polkadot.js):"
SRWAN_WS="ws://127.0.0.1:$rpc_port" node "$SRWAN_ROOT/e2e/demo.js"

sites=4
netlab_up "$sites" "$dir/lab" "$wire"
# One-way delays (ms) and jitter: 1–3 direct is 30 ms; the detour through 2 is 20 + 25, the
# one through 4 (not for sale) 15 + 15.
netlab_delay 1 2 20 1; netlab_delay 2 3 25 1; netlab_delay 1 3 30 1
netlab_delay 1 4 15 1; netlab_delay 3 4 15 1; netlab_delay 2 4 40 1
accounts=("" //Alice //Bob //Charlie //Dave)
countries=("" DE FR NL BE)
prices=("" 0.5 0.2 0.3 infinite)
names=("" "site 1 (//Alice, ingress)" "site 2 (//Bob, transit)" "site 3 (//Charlie, egress)" "site 4 (//Dave, not for sale)")
write_configs
add_tunnel 1 3
log "$(t) the consumer (site 1's account) deposits 100 SRW of escrow and sets its receipt key"
consumer 1 >>"$dir/cli.log" 2>&1 &
consumer_pid=$!
start_echo 3
log "$(t) four relays start; each registers itself in the exchange (srwan-relay run with [chain.router])"
for i in $(seq 1 "$sites"); do start_relay "$i"; done
wait "$consumer_pid" || die "the consumer's escrow could not be set up: $(tail -n 5 "$dir/cli.log")"
wait_until "a group of $sites from the chain at every relay" 240 group_of_all
map_members
# A new group starts with an empty matrix: the cut must find the detours already measured.
wait_until "the 1–3 segment and its detours measured at site 1" 60 detours_measured 1 3

# 50 datagrams a second: light enough to run beside the test command's other suites.
start_flow a 1 20
start_watch a=1
wait_until "echoes through the tunnel" 60 more_echoes a 50
wait_until "the flow on its direct path" 30 on_route a direct
sleep 5
direct_rtt=$(py rtt "$dir/flow-a.log" "$(($(stamp) - 5000000000))" "$(stamp)")
log "$(t) the flow runs direct 1 → 3: median round trip ${direct_rtt} ms"

log "$(t) the direct 1–3 path is cut for $cut s"
cut_epoch=$(epoch_now)
cut_at=$(stamp)
netlab_outage 1 3 on
cut_applied=$(stamp)
wait_until "the flow on a detour" 30 on_detour a
detour=$(route a)
log "$(t) rerouted: the flow goes $(sites_of "$detour" | sed 's/ / → /g')"
sleep "$cut"
# The relays are paid for the epochs the detour ran in whole: the cut lasts into the next one.
past_cut_epoch() { [ "$(epoch_now)" -gt "$cut_epoch" ]; }
wait_until "an epoch after the one the cut began in" 120 past_cut_epoch
last_epoch=$(($(epoch_now) - 1))
repaired_at=$(stamp)
netlab_outage 1 3 off
log "$(t) the direct path is repaired"
wait_until "the flow back on its direct path" 30 on_route a direct
py outage "$dir/flow-a.log" "$dir/watch.log" a "$cut_at" "$repaired_at" "$cut_applied" >"$out/outage.json"

# Every relay the flow crossed is paid for the epochs it ran on a detour; the first of them
# is the one the cut began in.
paid_sites=()
for s in $(awk '$2 == "a" && $3 ~ /^detour/ { print $3 }' "$dir/watch.log" | sort -u); do
	for site in $(sites_of "$s"); do [ "$site" = 1 ] || paid_sites+=("$site"); done
done
mapfile -t paid_sites < <(printf '%s\n' "${paid_sites[@]}" | sort -un)
log "$(t) waiting for the chain to settle epochs $cut_epoch–$last_epoch (claims, cross-checks, payment)"
settle_check settled "$cut_epoch" "$last_epoch" 1 "${paid_sites[@]}"
wait "${settle_pid[settled]}" || die "the chain did not pay the detour's relays: $(cat "$out/settled.json")"

# --- the report -------------------------------------------------------------------------------
for i in $(seq 1 "$sites"); do
	api "$i" /api/status >"$out/status$i.json" || echo '{}' >"$out/status$i.json"
done
members=""
for m in "${!site_of_member[@]}"; do members+="$m=${site_of_member[$m]} "; done
python3 - "$out" "$dir/watch.log" "$cut_at" "$repaired_at" "$direct_rtt" "$members" \
	"$(for i in $(seq 1 "$sites"); do printf '%s|%s|%s\n' "${account_of[$i]}" "${names[$i]}" "$(dashboard "$i")"; done)" <<-'PY'
	import json, sys
	out, watch, cut_at, repaired_at, direct_rtt, members, sites = sys.argv[1:]
	cut_at, repaired_at = int(cut_at), int(repaired_at)
	site_of = dict(pair.split("=") for pair in members.split())
	sites = [line.split("|") for line in sites.strip().split("\n")]
	outage = json.load(open(f"{out}/outage.json"))
	settled = json.load(open(f"{out}/settled.json"))
	srw = lambda planck: f"{int(planck) / 1e12:.6f} SRW"
	def path(route):
	    if not route.startswith("detour-"):
	        return route
	    return " → ".join(f"site {site_of.get(m, '?')}" for m in route[len("detour-"):].split("-"))
	print()
	print("The story's report")
	print("==================")
	print(f"Direct path 1 → 3: median round trip {direct_rtt} ms.")
	print("Paths of the flow (time from the cut):")
	for line in open(watch):
	    t, name, route = line.split()
	    if name == "a":
	        print(f"  {(int(t) - cut_at) / 1e9:+8.2f} s  {path(route)}")
	first = outage.get("outage_to_first_delivery_ms")
	back = outage.get("repair_to_direct_ms")
	print(f"Cut to the first datagram delivered on the detour: {first} ms; datagrams lost in the switch: {outage.get('datagrams_lost_in_switch')}.")
	print(f"Median round trip on the detour: {outage.get('rtt_during_outage_ms')} ms.")
	print(f"Repair to the flow back on the direct path: {back} ms.")
	print("Each relay (octets counted by the agents; coins from the chain's Paid events):")
	for i, (account, name, url) in enumerate(sites, start=1):
	    status = json.load(open(f"{out}/status{i}.json"))
	    paid = settled["paid"].get(account, "0")
	    print(f"  {name:32} in {status.get('in_octets', '?'):>10} B  out {status.get('out_octets', '?'):>10} B  earned {srw(paid)}")
	print(f"The consumer (site 1's account) was charged {srw(settled['charged_to_consumer'])} for epochs "
	      f"{settled['epochs'][0]}–{settled['epochs'][1]} ({srw(settled['infrastructure'])} of it to shared infrastructure).")
	name_of = {account: name.split(" (")[0] for account, name, _ in sites}
	held = {(d["epoch"], d["from"], d["to"]) for d in settled["disputes_judged"] if not d["forgiven"]}
	print(f"Links disputed on chain in those epochs: {len(settled['links_disputed'])} (unpaid for that epoch).")
	cut_link = {sites[0][0], sites[2][0]}
	for d in settled["links_disputed"]:
	    verdict = "counted against both ends" if (d["epoch"], d["from"], d["to"]) in held else "forgiven"
	    why = "; the cut lost these in flight: the sender counted them, the receiver never saw them" if {d["from"], d["to"]} == cut_link else ""
	    print(f"  epoch {d['epoch']}: {name_of.get(d['from'], d['from'])} → {name_of.get(d['to'], d['to'])} "
	          f"sent {d['sent']} B, received {d['received']} B ({verdict}{why})")
	print("Dashboards:")
	for account, name, url in sites:
	    print(f"  {name:32} {url}/")
	PY
cat <<INFO
Chain: ws://127.0.0.1:$rpc_port (polkadot.js apps: custom endpoint; token SRW, 12 decimals, SS58 42;
dev accounts //Alice, //Bob, ... are funded). The story took $((SECONDS - story_started)) s.
INFO
lab_done
if [ "$once" = 1 ]; then
	log "--once: stopping the chain and the relays"
	exit 0
fi
log "the chain, the relays and the flow keep running; press Ctrl-C to stop them"
wait "$node_pid"
