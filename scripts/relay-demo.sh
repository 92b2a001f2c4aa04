#!/usr/bin/env bash
# Starts three relays (a, b, c) in static group mode on this machine, with a UDP tunnel from a
# to an echo service behind c, sends datagrams through it and shows the dashboards. Used by
# demo.sh; also runs on its own after a build. Stops everything on exit unless --keep.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

keep=0
[ "${1:-}" = "--keep" ] && keep=1
relay="$SRWAN_BIN_DIR/srwan-relay"
[ -x "$relay" ] || die "no relay binary at $relay: build first (scripts/demo.sh does)"
command -v python3 >/dev/null || die "python3 is needed for the demo's echo service"

dir=$(mktemp -d /tmp/srwan-relays.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
if [ "$keep" = 0 ]; then trap cleanup EXIT INT TERM; fi

# An echo service: what the tunnel's destination is.
python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 5353))
while True:
    data, peer = s.recvfrom(2048); s.sendto(data, peer)
' &
pids+=($!)

names=(a b c)
for i in 0 1 2; do
	mkdir -p "$dir/${names[$i]}"
	printf 'id = "%s"\ndata_dir = "%s"\n' "${names[$i]}" "$dir/${names[$i]}" >"$dir/${names[$i]}.toml"
	keys[$i]=$("$relay" key --pulse -c "$dir/${names[$i]}.toml" 2>/dev/null)
done
for i in 0 1 2; do
	name=${names[$i]}
	{
		printf 'id = "%s"\ndata_dir = "%s"\n' "$name" "$dir/$name"
		printf 'listen = "127.0.0.1:%d"\ndashboard = "127.0.0.1:%d"\n' $((7401 + i)) $((7481 + i))
		[ "$name" = c ] && printf 'allowed_destinations = ["127.0.0.1:5353"]\n'
		printf '[pulse]\ninterval_ms = 1000\n'
		for j in 0 1 2; do
			[ "$j" = "$i" ] && continue
			printf '[[peers]]\nid = "%s"\naddr = "127.0.0.1:%d"\npulse_key = "%s"\n' \
				"${names[$j]}" $((7401 + j)) "${keys[$j]}"
		done
		[ "$name" = a ] && printf '[[tunnels]]\nlisten = "127.0.0.1:5300"\negress = "c"\nto = "127.0.0.1:5353"\n'
	} >"$dir/$name.toml"
	RUST_LOG=warn "$relay" run -c "$dir/$name.toml" >"$dir/$name.log" 2>&1 &
	pids+=($!)
done

log "three relays pulsing each other; waiting until relay a is ready"
for _ in $(seq 1 30); do
	curl -sf http://127.0.0.1:7481/ready >/dev/null && break
	sleep 1
done
curl -sf http://127.0.0.1:7481/ready >/dev/null || { cat "$dir"/*.log >&2; die "relay a never became ready"; }

log "sending 5 datagrams into the tunnel at 127.0.0.1:5300 (a → c → echo service)"
python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
for i in range(5):
    t = time.time(); s.sendto(b"hello %d through srwan" % i, ("127.0.0.1", 5300))
    data = s.recv(2048)
    print("  echo: %s  (%.2f ms round trip)" % (data.decode(), (time.time() - t) * 1000))
'
log "relay a's view:"
curl -s http://127.0.0.1:7481/api/status; echo
curl -s http://127.0.0.1:7481/api/paths; echo
cat <<INFO

Dashboards: http://127.0.0.1:7481/ (a)  http://127.0.0.1:7482/ (b)  http://127.0.0.1:7483/ (c)
Metrics:    http://127.0.0.1:7481/metrics
INFO
if [ "$keep" = 1 ]; then
	log "relays keep running (configs and logs in $dir); pids: ${pids[*]}"
fi
