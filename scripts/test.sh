#!/usr/bin/env bash
# The test command: formatting, clippy, every workspace test (benchmarks run as tests), then at
# once the e2e suite through polkadot.js (each file against a node of the `ci` chain that
# e2e/run.sh starts and always stops), the network lab (scripts/netlab/run.sh), the README's
# demo on loopback (scripts/demo.sh --once) and the docker/ checks (scripts/docker-check.sh);
# once the lab has ended, the networks of nodes (e2e/networks: five validators).
# One profile and one feature set throughout (scripts/lib.sh), so nothing compiles twice.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$SRWAN_ROOT"

# Each step has a time budget (seconds, on the project's 2-core machines; docs/PERFORMANCE.md
# "Budgets"): warm = a fresh clone on a machine that has built before (CI's usual case), cold =
# an empty target dir. Every step prints its time against both when it ends, and the run ends
# with the table, so a slow step shows up in every log.
# A warm build reuses the target dir's build of every unchanged source (scripts/source_times.py);
# a changed runtime still costs its wasm and the node (about 8 minutes).
declare -A warm_budget=([setup]=30 [build]=150 [clippy]=60 [cargo-tests]=120 [e2e]=720)
declare -A cold_budget=([setup]=120 [build]=2400 [clippy]=300 [cargo-tests]=240 [e2e]=900)
steps=()
declare -A took
started=$SECONDS
step_name="" step_started=$SECONDS
# `step NAME TEXT`: ends the step before (recording its time) and starts NAME.
step() {
	end_step
	step_name=$1 step_started=$SECONDS
	shift
	log "[$((SECONDS - started))s] $step_name: $*"
}
end_step() {
	[ -n "$step_name" ] || return 0
	local t=$((SECONDS - step_started)) warm=${warm_budget[$step_name]:-} cold=${cold_budget[$step_name]:-}
	took[$step_name]=$t
	steps+=("$step_name")
	local verdict=""
	[ -n "$warm" ] && [ "$t" -gt "$warm" ] && verdict=" (over the warm budget)"
	[ -n "$cold" ] && [ "$t" -gt "$cold" ] && verdict=" (OVER THE COLD BUDGET)"
	log "step $step_name: ${t} s; budget warm ${warm:-?} s, cold ${cold:-?} s$verdict"
	step_name=""
}
summary() {
	local status=$?
	end_step
	echo "step times (s; budget warm / cold):"
	for s in "${steps[@]}"; do
		printf '  %-12s %6d   (%s / %s)\n' "$s" "${took[$s]}" "${warm_budget[$s]:-?}" "${cold_budget[$s]:-?}"
	done
	printf '  %-12s %6d   (900 / 3600)\n' total "$((SECONDS - started))"
	if [ "$status" -eq 0 ]; then
		# One closing line for every test that ran: Rust and polkadot.js.
		local rust e2e
		rust=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$cargo_log" 2>/dev/null |
			awk '{ n += $1 } END { print n + 0 }')
		e2e=$(sed -n 's/^e2e: \([0-9]*\) passed, 0 failed$/\1/p' "$e2e_log" 2>/dev/null |
			awk '{ n += $1 } END { print n + 0 }')
		echo "tests: $((rust + ${e2e:-0})) passed, 0 failed"
	fi
	rm -f "$cargo_log" "$e2e_log"
	exit $status
}
cargo_log=$(mktemp /tmp/srwan-cargo-test.XXXXXX)
e2e_log=$(mktemp /tmp/srwan-e2e-summary.XXXXXX)
trap summary EXIT

step setup "system packages, toolchain, npm packages"
"$SRWAN_ROOT/scripts/setup.sh"

step build "checking Cargo.lock: no rocksdb anywhere"
if grep -q 'name = "librocksdb-sys"' Cargo.lock; then
	die "librocksdb-sys is in Cargo.lock: some sc-* crate lost default-features = false"
fi

log "cargo fmt --check"
cargo fmt --all -- --check

build_workspace

# After the build the runtime's wasm exists, so clippy needs no wasm build. Setting
# SKIP_WASM_BUILD=1 here would change the runtime build script's inputs and force the runtime
# and the node to be rebuilt twice on every run.
step clippy "clippy -D warnings"
cargo_recorded clippy "${SRWAN_CARGO_ARGS[@]}" --all-targets -- -D warnings

step cargo-tests "workspace tests (unit, integration, benchmarks as tests)"
cargo_recorded test "${SRWAN_CARGO_ARGS[@]}" --all-targets 2>&1 | tee "$cargo_log"

# The chain-bound suites wait on chain time and real timers, not on the cores: they run at once.
step e2e "polkadot.js (every file at once, each against its own ci-chain node; then the \
five-validator network, once the lab has ended) and, beside it, the network lab (six relays in network namespaces on a chain: outage, not for sale, transit kill, \
congestion, loss and payment, stable WAN), the README's demo on loopback (--once), the \
docker/ checks (each image's command run natively) and the systemd units (systemd-analyze verify)"
# `beside NAME COMMAND...`: runs COMMAND in the background, its output in a log of its own.
declare -A beside_pid beside_log
beside() {
	local name=$1
	shift
	beside_log[$name]=$(mktemp "/tmp/srwan-$name-log.XXXXXX")
	(
		started=$SECONDS
		status=0
		"$@" >"${beside_log[$name]}" 2>&1 || status=$?
		echo "$name: exit $status after $((SECONDS - started)) s" >>"${beside_log[$name]}"
		exit $status
	) &
	beside_pid[$name]=$!
}
beside "network-lab" "$SRWAN_ROOT/scripts/netlab/run.sh" --force
beside demo "$SRWAN_ROOT/scripts/demo.sh" --once --loopback --skip-build --force --rpc-port 19930
e2e_status=0
"$SRWAN_ROOT/e2e/run.sh" 2>&1 | tee "$e2e_log" || e2e_status=$?
# After the e2e files: while their two dozen nodes compile the runtime, a node started here
# can take minutes to open its ports; the lab still runs for a few minutes after them.
beside docker "$SRWAN_ROOT/scripts/docker-check.sh"
beside systemd "$SRWAN_ROOT/scripts/systemd-check.sh"
failed_beside=()
# `finish_beside NAME`: waits for NAME, prints its outcomes and figures (the demo: its report;
# every line only when it failed).
finish_beside() {
	local name=$1 status=0
	wait "${beside_pid[$name]}" || status=$?
	log "$name:"
	if [ "$status" -eq 0 ]; then
		if [ "$name" = demo ]; then sed -n '/^The story.s report/,$p' "${beside_log[$name]}"; else grep -a '==>' "${beside_log[$name]}" || true; fi
	else
		cat "${beside_log[$name]}"
		failed_beside+=("$name")
	fi
	tail -n 1 "${beside_log[$name]}"
	rm -f "${beside_log[$name]}"
}
finish_beside network-lab
# The networks of nodes (e2e/networks: five validators for about five minutes of chain time)
# run once the lab has ended: they would slow its timed scenarios on two cores.
"$SRWAN_ROOT/e2e/run.sh" "$SRWAN_ROOT"/e2e/networks/*.test.js 2>&1 | tee -a "$e2e_log" || e2e_status=$?
for name in demo docker systemd; do finish_beside "$name"; done
[ ${#failed_beside[@]} -eq 0 ] || die "failed: ${failed_beside[*]}"
[ "$e2e_status" -eq 0 ] || die "the e2e suite failed"

end_step
log "all tests passed"
