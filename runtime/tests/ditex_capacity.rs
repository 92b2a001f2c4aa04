//! How many of the largest DITEX reports one block holds, with the benchmarked weights: a
//! whole group (100 routers) must be able to report in a single block, or heartbeats would
//! queue behind each other every period.

use codec::Encode;
use frame_support::{
	dispatch::{DispatchClass, GetDispatchInfo},
	BoundedVec,
};
use srwan_primitives::ditex::PeerMeasurement;
use srwan_runtime::{
	configs::{RuntimeBlockLength, RuntimeBlockWeights},
	AccountId, RuntimeCall,
};

/// Signature (64 + 1), signer (32 + 1), era, nonce, tip, metadata hash mode, version: an upper
/// bound of a signed extrinsic's overhead beyond its call.
const SIGNED_OVERHEAD: usize = 128;

#[test]
fn a_full_group_reports_in_one_block() {
	let peers = 99u8;
	let row: Vec<PeerMeasurement<AccountId>> = (0..peers)
		.map(|i| PeerMeasurement {
			peer: AccountId::new([i; 32]),
			owd_us: -12_345,
			rtt_us: 40_000,
			jitter_us: 900,
			loss_ppm: 1_000,
			samples: 60,
		})
		.collect();
	let call = RuntimeCall::Ditex(pallet_ditex::Call::report {
		period: 7,
		row: BoundedVec::truncate_from(row),
	});
	let normal = RuntimeBlockWeights::get().get(DispatchClass::Normal).clone();
	let per_report = call.get_dispatch_info().call_weight.saturating_add(normal.base_extrinsic);
	let budget = normal.max_total.expect("normal class has a budget");
	let by_weight = budget.ref_time() / per_report.ref_time();
	let length = call.encoded_size() + SIGNED_OVERHEAD;
	let by_length = *RuntimeBlockLength::get().max.get(DispatchClass::Normal) as usize / length;
	println!(
		"largest report: {peers} peers, {length} bytes, {} ps; per block: {by_weight} by weight, {by_length} by length",
		per_report.ref_time()
	);
	assert!(by_weight >= 100 && by_length >= 100, "{by_weight} / {by_length}");
}
