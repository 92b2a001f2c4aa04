#!/usr/bin/env bash
# Regenerates a pallet's weights.rs from its benchmarks (outside CI; CI runs the benchmarks as
# tests). Builds the node with `runtime-benchmarks` (the shared feature set) and runs
# `srwan-node benchmark pallet` with the repo's weight template.
#
# usage: scripts/bench.sh PALLET [PALLET...]     e.g. scripts/bench.sh pallet_ditex
#        scripts/bench.sh --list                 lists the benchmarked pallets
#   STEPS (default 50) and REPEAT (default 20) tune precision.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SRWAN_ROOT"

[ $# -gt 0 ] || die "usage: scripts/bench.sh PALLET [PALLET...] | --list"
case "$SRWAN_FEATURES" in *runtime-benchmarks*) ;; *) die "SRWAN_FEATURES must include runtime-benchmarks" ;; esac
build_workspace

if [ "$1" = "--list" ]; then
	"$SRWAN_NODE" benchmark pallet --runtime "$(ls "$SRWAN_BIN_DIR"/wbuild/srwan-runtime/srwan_runtime.compact.compressed.wasm)" \
		--genesis-builder=runtime --list=pallets
	exit 0
fi

for pallet in "$@"; do
	# pallet_ditex -> pallets/ditex/src/weights.rs
	dir="pallets/$(echo "${pallet#pallet_}" | tr '_' '-')"
	[ -d "$dir/src" ] || die "no pallet directory $dir for $pallet"
	log "benchmarking $pallet -> $dir/src/weights.rs"
	"$SRWAN_NODE" benchmark pallet \
		--runtime "$SRWAN_BIN_DIR/wbuild/srwan-runtime/srwan_runtime.compact.compressed.wasm" \
		--genesis-builder=runtime --genesis-builder-preset=development \
		--pallet "$pallet" --extrinsic '*' \
		--steps "${STEPS:-50}" --repeat "${REPEAT:-20}" \
		--wasm-execution=compiled --heap-pages=4096 \
		--template scripts/frame-weight-template.hbs \
		--output "$dir/src/weights.rs"
done
