#!/usr/bin/env bash
# Checks the systemd units in packaging/systemd with `systemd-analyze verify`, in a scratch
# root that holds this host's system units and the built binaries where the units expect them
# (nothing is installed on this host).
#
# usage: scripts/systemd-check.sh   (after a build; scripts/test.sh runs it)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SRWAN_ROOT"

command -v systemd-analyze >/dev/null || die "systemd-analyze is needed: scripts/setup.sh installs systemd"
root=$(mktemp -d /tmp/srwan-systemd-check.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"
for binary in srwan-node srwan-relay; do
	[ -x "$SRWAN_BIN_DIR/$binary" ] || die "$binary is not built ($SRWAN_BIN_DIR)"
	# Symlinks would point outside the root: a copy (or a shared extent where the disk can).
	cp --reflink=auto "$SRWAN_BIN_DIR/$binary" "$root/usr/local/bin/$binary"
done
cp packaging/systemd/*.service "$root/etc/systemd/system/"
for unit in packaging/systemd/*.service; do
	name=$(basename "$unit")
	# Warnings are failures too: a unit systemd would half-understand is wrong.
	out=$(systemd-analyze verify --root="$root" "/etc/systemd/system/$name" 2>&1) || {
		echo "$out" >&2
		die "$unit does not verify"
	}
	if [ -n "$out" ]; then
		echo "$out" >&2
		die "$unit: systemd-analyze has remarks"
	fi
	log "$unit verifies"
done
