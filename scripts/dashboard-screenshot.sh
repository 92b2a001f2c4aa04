#!/usr/bin/env bash
# Takes a headless-Chromium screenshot of a running relay's dashboard (Debian's chromium).
#   scripts/dashboard-screenshot.sh [URL] [OUT.png]
# Without a URL it starts the three-relay demo (scripts/relay-demo.sh), sends traffic through
# its tunnel, and shoots relay a's page into docs/dashboard.png.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

url=${1:-}
out=${2:-$SRWAN_ROOT/docs/dashboard.png}
if ! command -v chromium >/dev/null; then
	log "installing Debian's chromium"
	apt-get install -y -qq chromium >/dev/null
fi
if [ -z "$url" ]; then
	url=http://127.0.0.1:7481/
	"$SRWAN_ROOT/scripts/relay-demo.sh" --keep >/dev/null
	trap 'pkill -f "srwan-relay run -c /tmp/srwan-relays" || true; pkill -f "s.bind((\"127.0.0.1\", 5353))" || true' EXIT
	# Let a few pulse rounds fill the matrix.
	sleep 8
fi
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$profile" --window-size=1100,800 --virtual-time-budget=5000 \
	--screenshot="$out" "$url" 2>/dev/null
rm -rf "$profile"
log "screenshot of $url in $out"
