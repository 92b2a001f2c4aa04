#!/usr/bin/env bash
# Runs the relay's cargo-fuzz targets (libFuzzer, nightly toolchain) for a bounded time each.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# Not part of CI (CI runs the targets' bodies on stable: tests/fuzz_bodies.rs); installs cargo-fuzz
# on first use.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
seconds=${1:-60}
rustup toolchain list | grep -q '^nightly' ||
	die "cargo fuzz needs a nightly toolchain (rustup toolchain install nightly)"
command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked
cd "$SRWAN_ROOT/relay-agent/fuzz"
export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
for target in parse relay_core; do
	log "fuzzing $target for ${seconds}s"
	# fuzz/corpus/<target> (ignored by git) grows; fuzz/seeds/<target> is the checked-in start,
	# which tests/fuzz_bodies.rs also runs on stable.
	mkdir -p "corpus/$target"
	cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
		-max_total_time="$seconds" -max_len=2048
done
