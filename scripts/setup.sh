#!/usr/bin/env bash
# Installs what srwan needs on a fresh Debian machine: system packages, the pinned Rust
# toolchain (as a link to the installed 1.95 stable), the wasm target, rust-src and the e2e npm
# packages. Idempotent: run it as often as you like.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_apt=()
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
command -v curl >/dev/null || need_apt+=(curl)
command -v clang >/dev/null || need_apt+=(clang)
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v python3 >/dev/null || need_apt+=(python3)
# The network lab: nft (loss, outage), iptables-legacy (the NFQUEUE of the delay wire), tc.
command -v nft >/dev/null || need_apt+=(nftables)
command -v iptables-legacy >/dev/null || need_apt+=(iptables)
command -v ping >/dev/null || need_apt+=(iputils-ping)
# For scripts/systemd-check.sh (the units in packaging/systemd).
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
# For scripts/docker-check.sh's `config -q` of docker/compose.yml (no engine needed).
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || need_apt+=(docker-compose)
if [ ${#need_apt[@]} -gt 0 ]; then
	log "installing system packages: ${need_apt[*]}"
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
else
	log "system packages present (protoc, pkg-config, libssl-dev, curl, clang, node)"
fi

command -v rustup >/dev/null || die "rustup is not installed; install Rust 1.95 with rustup first"
host=$(rustc +stable -vV | sed -n 's/^host: //p')
toolchains="${RUSTUP_HOME:-$HOME/.rustup}/toolchains"
if ! rustup toolchain list | grep -q '^1\.95\.0'; then
	stable_version=$(rustc +stable --version | awk '{print $2}')
	case "$stable_version" in
	1.95.*)
		log "linking toolchain 1.95.0 to the installed stable ($stable_version)"
		ln -sfn "$(rustc +stable --print sysroot)" "$toolchains/1.95.0-$host"
		;;
	*) die "srwan pins Rust 1.95.0 (1.96 breaks wasm linking of this polkadot-sdk line), but \
the installed stable is $stable_version and no other toolchain can be downloaded here" ;;
	esac
else
	log "toolchain 1.95.0 present"
fi
if ! rustup +stable target list --installed | grep -q '^wasm32v1-none$'; then
	log "adding the wasm32v1-none target"
	rustup +stable target add wasm32v1-none
fi
if ! rustup +stable component list --installed | grep -q '^rust-src'; then
	log "adding rust-src"
	rustup +stable component add rust-src
fi
for component in clippy rustfmt; do
	rustup +stable component list --installed | grep -q "^$component" ||
		rustup +stable component add "$component"
done

if [ -f "$SRWAN_ROOT/e2e/package-lock.json" ]; then
	if [ ! -d "$SRWAN_ROOT/e2e/node_modules" ] ||
		[ "$SRWAN_ROOT/e2e/package-lock.json" -nt "$SRWAN_ROOT/e2e/node_modules/.package-lock.json" ]; then
		log "installing e2e npm packages (npm ci)"
		(cd "$SRWAN_ROOT/e2e" && npm ci --no-audit --no-fund --loglevel=error)
	else
		log "e2e npm packages present"
	fi
fi
log "setup complete"
