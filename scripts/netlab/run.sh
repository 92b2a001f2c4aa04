#!/usr/bin/env bash
# The network lab: six sites in network namespaces around an "internet" namespace, a relay
# agent in each, a real chain node (the `ci` preset: 6 s blocks, 4-block epochs) on the host.
# The relays register themselves, form their group from the chain, and carry two flows:
#   A  site 1 → site 3 (consumer //Alice), whose direct link is impaired by the scenarios;
#   B  site 5 → site 6 (consumer //Eve) over a stable WAN link: 75 ms each way with jitter;
#   C  site 4 → site 5 (consumer //Dave, site 4's owner), run only in its scenario.
# Site 4 is listed as not for sale and is the cheapest-looking detour for flow A.
#
# Scenarios (each writes its figures to OUT/<name>.json; the run fails if an outcome is wrong;
# bounds are coarse, the figures are measured):
#   outage       the 1–3 link drops everything for 10 s: A moves to a detour, then back
#   not-for-sale site 4 never carries A (its route never names it; site 4 relays nothing)
#   own-traffic  site 4's owner's own flow C may take paid detours: with the 4–5 link out, C
#                moves to a detour through relays that are for sale, and back after
#   congestion   a 400 kbit/s bottleneck with background load on 1–3: A moves within a few
#                pulse periods, does not flap while it lasts, and returns after
#   transit-kill A on a detour through site 2, whose relay is killed -9 and restarted: A fails
#                over to another detour and comes back; site 2 and the egress are paid for the
#                epoch of the kill and no dispute of it counts against anyone (what the kill
#                lost is within the tolerance, or forgiven as a corroborated restart)
#   loss         20 % loss on 1–3: A moves to a detour; the detour's relays are paid from
#                //Alice's escrow for the epochs it ran there, and in the epoch the loss began
#                both ends of every link agree (what was lost before the move is within the
#                tolerance), read through the chain's RPC
#   stable       B never switches paths for the whole run (at least 2 minutes; 10 with --long)
#
# Pulses every second (the lab's setting; production uses the seed's 10 s).
#
# usage: scripts/netlab/run.sh [--long] [--force] [--out DIR]
#   --long    keep the stable flow under watch for 10 minutes (PERFORMANCE.md figures)
#   --force   remove a leftover lab first (otherwise the run refuses to start over one)
#   --out     where the JSON figures go (default: $CARGO_TARGET_DIR/netlab)
#   --keep    on failure, leave the lab, its chain and its files as they are (to look
#             around; `--force` on the next run removes them)
# Needs root. Expects the workspace built (scripts/test.sh builds it first).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
. "$here/lab.sh"
. "$here/sites.sh"

long=0 force=0 keep=0 out="$CARGO_TARGET_DIR/netlab"
while [ $# -gt 0 ]; do
	case "$1" in
	--long) long=1 ;;
	--force) force=1 ;;
	--keep) keep=1 ;;
	--out) out=$2; shift ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done

[ "$(id -u)" = 0 ] || die "the network lab needs root (network namespaces, nftables, NFQUEUE): run it with sudo"
for tool in ip nft iptables-legacy tc python3 node curl; do
	command -v "$tool" >/dev/null || die "$tool is needed: scripts/setup.sh installs it"
done
relay="$SRWAN_BIN_DIR/srwan-relay" wire="$SRWAN_BIN_DIR/srwan-wire"
for bin in "$relay" "$wire" "$SRWAN_NODE"; do
	[ -x "$bin" ] || die "no $bin: build the workspace first (scripts/test.sh does)"
done
lab_claim
mkdir -p "$out"

# --- the chain, on the host (the sites reach it through the lab) -------------------------
chain_start "${SRWAN_NETLAB_RPC_PORT:-19940}"

# --- the lab -------------------------------------------------------------------------------
sites=6
log "netlab: $sites sites around an internet namespace (delay in srwan-wire, loss and outage in nft)"
netlab_up "$sites" "$dir/lab" "$wire"
# One-way delays (ms) and jitter: sites 1–4 close together; 5 and 6 far from everyone.
netlab_delay 1 2 20 1; netlab_delay 2 3 25 1; netlab_delay 1 3 30 1
netlab_delay 1 4 12 1; netlab_delay 3 4 12 1; netlab_delay 2 4 40 1
for i in 1 2 3 4; do netlab_delay "$i" 5 50 2; netlab_delay "$i" 6 50 2; done
netlab_delay 5 6 75 5
in_site 1 ping -c 2 -q "$(netlab_addr 3)" >/dev/null || die "netlab: site 1 cannot reach site 3"

accounts=("" //Alice //Bob //Charlie //Dave //Eve //Ferdie)
countries=("" DE FR NL BE AT CH)
prices=("" 0.5 0.2 0.3 infinite 0.4 0.3)
write_configs
# The flows' tunnels, by the egress's account.
add_tunnel 1 3
add_tunnel 5 6
add_tunnel 4 5
consumers=()
for i in 1 5 4; do consumer "$i" >>"$dir/cli.log" 2>&1 & consumers+=($!); done
for pid in "${consumers[@]}"; do wait "$pid" || die "netlab: the consumers' escrow could not be set up (see $dir/cli.log)"; done
start_echo 3
start_echo 6
start_echo 5
for i in $(seq 1 "$sites"); do start_relay "$i"; done
wait_until "group of $sites from the chain at every relay" 240 group_of_all
map_members
# A new group starts with an empty matrix: the scenarios must find their detours measured.
wait_until "the 1–3 segment and its detours measured at site 1" 60 detours_measured 1 3

# --- flows and the route watch -------------------------------------------------------------
start_flow a 1
start_flow b 5
start_watch a=1 b=5 c=4
wait_until "echoes of flow A" 60 more_echoes a 100
wait_until "echoes of flow B" 60 more_echoes b 100
wait_until "flow A on its direct path" 30 on_route a direct
wait_until "flow B on its direct path" 30 on_route b direct
stable_from=$(stamp)

# --- scenario: outage ----------------------------------------------------------------------
sleep 5
log "netlab [outage]: the 1–3 link drops everything for 10 s"
# The clock is read just before each change: on a busy host starting a process takes long
# enough for the relays to react before a clock read after the change. Datagrams count as
# cut off once the cut is surely in place (`applied`).
start=$(stamp)
netlab_outage 1 3 on
applied=$(stamp)
sleep 10
end=$(stamp)
netlab_outage 1 3 off
wait_until "flow A back on its direct path after the outage" 30 on_route a direct
sleep 2
py outage "$dir/flow-a.log" "$dir/watch.log" a "$start" "$end" "$applied" >"$out/outage.json"
log "netlab [outage]: $(cat "$out/outage.json")"
python3 - "$out/outage.json" <<-'PY' || die "netlab [outage]: wrong outcome"
	import json, sys
	r = json.load(open(sys.argv[1]))
	assert r["outage_to_first_delivery_ms"] is not None, "nothing delivered during the outage"
	assert r["outage_to_first_delivery_ms"] <= 10_000, "no delivery through a detour within 10 s"
	assert r["route_at_end_of_outage"].startswith("detour"), "not on a detour at the end of the outage"
	assert r["repair_to_direct_ms"] is not None and r["repair_to_direct_ms"] <= 20_000, "not back to direct"
PY

# --- scenario: not for sale ----------------------------------------------------------------
# Site 4 is the shortest detour for flow A (12 + 12 ms against 20 + 25), but not for sale.
detours=$(awk '$2 == "a" && $3 ~ /^detour/ { print $3 }' "$dir/watch.log" | sort -u)
via4=0
for d in $detours; do [[ " $(sites_of "$d") " == *" 4 "* ]] && via4=1; done
site4_octets=$(($(status_field 4 in_octets) + $(status_field 4 out_octets)))
printf '{"detours_taken": "%s", "through_site_4": %s, "site_4_octets": %s}\n' \
	"$(for d in $detours; do printf '%s ' "$(sites_of "$d" | tr ' ' '>')"; done)" "$via4" "$site4_octets" >"$out/not-for-sale.json"
log "netlab [not-for-sale]: $(cat "$out/not-for-sale.json")"
[ "$via4" = 0 ] || die "netlab [not-for-sale]: flow A was routed through site 4, which is not for sale"
[ "$site4_octets" = 0 ] || die "netlab [not-for-sale]: site 4 counted $site4_octets octets of others' traffic"

# --- scenario: the not-for-sale relay's own traffic ----------------------------------------
# Not for sale means carrying nobody else's traffic: site 4's owner may still pay others'
# relays. Flow C (4 → 5, 50 ms direct; every detour is longer) loses its direct link.
log "netlab [own-traffic]: flow C from the not-for-sale site 4 to site 5, then the 4–5 link out"
start_flow c 4
flow_c_pid=$SPAWNED_PID
wait_until "echoes of flow C" 60 more_echoes c 50
wait_until "flow C on its direct path" 30 on_route c direct
start=$(stamp)
netlab_outage 4 5 on
wait_until "flow C on a detour" 20 on_detour c
detour_c=$(route c)
on_detour_from=$(echoes c)
wait_until "echoes of flow C through the detour" 20 more_echoes c $((on_detour_from + 50))
delivered=$(stamp)
netlab_outage 4 5 off
wait_until "flow C back on its direct path" 30 on_route c direct
kill "$flow_c_pid" 2>/dev/null || true
printf '{"detour": "%s", "outage_to_50_echoes_on_detour_ms": %s}\n' \
	"$(sites_of "$detour_c" | tr ' ' '>')" $(((delivered - start) / 1000000)) >"$out/own-traffic.json"
log "netlab [own-traffic]: $(cat "$out/own-traffic.json")"
for s in $(sites_of "$detour_c"); do
	[ "$s" = 4 ] || [ "$s" = 5 ] || [ "${prices[$s]}" != infinite ] ||
		die "netlab [own-traffic]: flow C went through site $s, which is not for sale"
done

# --- scenario: a transit relay killed -9 ---------------------------------------------------
log "netlab [transit-kill]: flow A on a detour (1–3 out), its transit relay killed -9 and restarted"
netlab_outage 1 3 on
via2() { [ "$(sites_of "$(route a)")" = "1 2 3" ]; }
wait_until "flow A through site 2" 20 via2
# The kill goes into an epoch that starts with A on the detour: the direct link's own loss at
# the outage's start (a sender counts what the link then lost) stays out of it.
outage_epoch=$(epoch_now)
later_epoch() { [ "$(epoch_now)" -gt "$outage_epoch" ]; }
wait_until "the next epoch" 30 later_epoch
sleep 3
kill_epoch=$(epoch_now)
start=$(stamp)
kill -9 "${relay_pid[2]}"
not_via2() { [[ "$(route a)" == detour* ]] && ! via2; }
wait_until "flow A on another detour" 20 not_via2
failover=$(stamp)
start_relay 2
wait_until "flow A through site 2 again" 60 via2
back=$(stamp)
netlab_outage 1 3 off
wait_until "flow A back on its direct path" 30 on_route a direct
settle_check transit-kill-chain "$kill_epoch" "$kill_epoch" 1 2 3
printf '{"kill_to_other_detour_ms": %s, "kill_to_back_through_restarted_ms": %s, "kill_epoch": %s}\n' \
	$(((failover - start) / 1000000)) $(((back - start) / 1000000)) "$kill_epoch" >"$out/transit-kill.json"
log "netlab [transit-kill]: $(cat "$out/transit-kill.json")"

# --- scenario: congestion ------------------------------------------------------------------
# The 1–3 link gets a 400 kbit/s bottleneck with a 64-packet FIFO, and site 1 pushes 800 kbit/s
# of background load to site 3 through it: the queue fills (about 1.3 s of queueing delay).
log "netlab [congestion]: a 400 kbit/s bottleneck on 1–3 under 800 kbit/s of background load"
start=$(stamp)
netlab_congest 1 3 400
ip netns exec "$(netlab_site_ns 1)" python3 "$here/netlab.py" flow "$(netlab_addr 3):9" "$dir/load.log" --every-ms 10 --size 1000 &
load_pid=$!
wait_until "flow A on a detour under congestion" 20 on_detour a
sleep 15
end=$(stamp)
kill "$load_pid" 2>/dev/null || true
netlab_congest 1 3 off
wait_until "flow A back on its direct path after the congestion" 30 on_route a direct
py congestion "$dir/flow-a.log" "$dir/watch.log" a "$start" "$end" >"$out/congestion.json"
log "netlab [congestion]: $(cat "$out/congestion.json")"
python3 - "$out/congestion.json" <<-'PY' || die "netlab [congestion]: wrong outcome"
	import json, sys
	r = json.load(open(sys.argv[1]))
	assert r["start_to_detour_route_ms"] is not None and r["start_to_detour_route_ms"] <= 10_000, "no reroute"
	assert r["switches_after_reroute"] == 0, "the flow flapped while the congestion lasted"
	assert r["end_to_direct_ms"] is not None, "not back to direct"
PY

# --- scenario: loss, then payment ----------------------------------------------------------
log "netlab [loss]: 20 % loss on the 1–3 link"
loss_epoch=$(epoch_now)
netlab_loss 1 3 200
wait_until "flow A on a detour under 20 % loss" 15 on_detour a
detour=$(route a)
# Two whole epochs (4 blocks of 6 s) on the detour.
first_epoch=$(($(epoch_now) + 1))
sleep 54
last_epoch=$(($(epoch_now) - 1))
netlab_loss 1 3 0
wait_until "flow A back on its direct path after the loss" 30 on_route a direct
detour_sites=$(sites_of "$detour")
log "netlab [loss]: flow A took sites ${detour_sites// />} in epochs $first_epoch–$last_epoch"
paid_sites=()
for s in $detour_sites; do [ "$s" = 1 ] || paid_sites+=("$s"); done
settle_check loss-paid "$first_epoch" "$last_epoch" 1 "${paid_sites[@]}"
# The epoch the loss began in: the direct link lost some of A before it moved, yet both of its
# ends agree within the tolerance (nothing disputed, nothing unpaid).
settle_check loss-start "$loss_epoch" "$loss_epoch" 1

# --- scenario: stable WAN ------------------------------------------------------------------
want=$((long == 1 ? 600 : 120))
elapsed=$((($(stamp) - stable_from) / 1000000000))
if [ "$elapsed" -lt "$want" ]; then
	log "netlab [stable]: watching flow B $((want - elapsed)) s more"
	sleep $((want - elapsed))
fi
py switches "$dir/watch.log" b "$stable_from" "$(stamp)" >"$out/stable.json"
log "netlab [stable]: $(cat "$out/stable.json")"
python3 - "$out/stable.json" <<-'PY' || die "netlab [stable]: flow B switched paths on a stable link"
	import json, sys
	r = json.load(open(sys.argv[1]))
	assert r["route_at_start"] == "direct" and r["switches"] == 0, r
PY

# --- what the chain paid -------------------------------------------------------------------
for name in transit-kill-chain loss-paid loss-start; do
	wait "${settle_pid[$name]}" || die "netlab [$name]: the chain did not pay the path's relays: $(cat "$out/$name.json")"
	log "netlab [$name]: $(cat "$out/$name.json")"
done
python3 - "$out/transit-kill-chain.json" "${account_of[2]}" <<-'PY' || die "netlab [transit-kill]: a dispute counted against the restarted relay"
	import json, sys
	r, killed = json.load(open(sys.argv[1])), sys.argv[2]
	against = [d for d in r["disputes_judged"] if killed in (d["from"], d["to"]) and not d["forgiven"]]
	assert not against, against
PY

python3 - "$out/loss-start.json" <<-'PY' || die "netlab [loss]: the lossy link's ends disagreed beyond the tolerance"
	import json, sys
	r = json.load(open(sys.argv[1]))
	assert not r["links_disputed"], r["links_disputed"]
PY

lab_done
log "netlab: every scenario passed; figures in $out"
