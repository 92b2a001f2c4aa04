//! The period hooks fit in a block with the benchmarked weights at their bounds: the coin-voting
//! tally must run in one block (a tally spread over blocks would count moved coins twice), so
//! `MaxVoters` voters and `MaxCandidates` candidates must fit, with the payouts of that block,
//! the validator payout and the DITEX's hooks beside it — and settlement's guaranteed budget,
//! which every block reserves.

use frame_support::traits::Get;
use pallet_coin_voting::WeightInfo as _;
use pallet_ditex::WeightInfo as _;
use pallet_fee_split::WeightInfo as _;
use srwan_runtime::{configs::RuntimeBlockWeights, Runtime};

type CoinVoting = <Runtime as pallet_coin_voting::Config>::WeightInfo;
type FeeSplit = <Runtime as pallet_fee_split::Config>::WeightInfo;
type Ditex = <Runtime as pallet_ditex::Config>::WeightInfo;

#[test]
fn the_busiest_boundary_block_fits_its_hooks() {
	let voters = <Runtime as pallet_coin_voting::Config>::MaxVoters::get();
	let candidates = <Runtime as pallet_coin_voting::Config>::MaxCandidates::get();
	let payouts = <Runtime as pallet_coin_voting::Config>::PayoutsPerBlock::get();
	let authors = <Runtime as pallet_fee_split::Config>::MaxAuthors::get();
	let group: u32 = <Runtime as pallet_ditex::Config>::MaxGroupSize::get();
	let groups: u32 = <Runtime as pallet_ditex::Config>::MaxGroups::get();
	// A full health sweep at the shortest report period judges this many groups a block.
	let judged_per_block = u64::from(groups.div_ceil(pallet_ditex::MIN_REPORT_PERIOD));
	let hooks = pallet_coin_voting::Pallet::<Runtime>::tally_weight(voters, candidates)
		.saturating_add(CoinVoting::pay_out(payouts))
		.saturating_add(FeeSplit::mint_subsidy())
		.saturating_add(FeeSplit::pay_validators(authors))
		.saturating_add(Ditex::rebalance(groups * group))
		.saturating_add(Ditex::evaluate_group(group).saturating_mul(judged_per_block))
		.saturating_add(<Runtime as pallet_tickets::Config>::SettlementBudget::get());
	let max_block = RuntimeBlockWeights::get().max_block;
	let share = hooks.ref_time() as f64 / max_block.ref_time() as f64;
	println!(
		"tally({voters} voters, {candidates} candidates) + payouts + subsidy + validator payout + ditex hooks + settlement budget: {:.1} % of a block",
		share * 100.0
	);
	assert!(
		hooks.all_lte(max_block.saturating_div(2)),
		"hooks take {:.1} % of a block",
		share * 100.0
	);
}

/// Settlement's budget keeps up with 10,000 claims per production epoch (100 blocks): each
/// claim carries one receipt of a three-router path (each flow is claimed by its three relays),
/// so three claims cost one flow step, the consumer's three payouts, and the cleanup of two
/// links per peer per relay (`CLEANUP_BATCH` per cleanup step), each at its benchmarked weight.
#[test]
fn the_settlement_budget_settles_ten_thousand_claims_per_epoch() {
	use pallet_tickets::WeightInfo as _;
	type Tickets = <Runtime as pallet_tickets::Config>::WeightInfo;
	const PRODUCTION_EPOCH_BLOCKS: u64 = 100;
	let budget = <Runtime as pallet_tickets::Config>::SettlementBudget::get().ref_time() as f64;
	let (flow, payout, cleanup) = (
		Tickets::settle_flow().ref_time() as f64,
		Tickets::settle_payout().ref_time() as f64,
		Tickets::settle_cleanup().ref_time() as f64,
	);
	let per_three_claims =
		flow + 3.0 * payout + 12.0 / f64::from(pallet_tickets::CLEANUP_BATCH) * cleanup;
	let claims_per_epoch =
		(3.0 * budget * PRODUCTION_EPOCH_BLOCKS as f64 / per_three_claims) as u64;
	// The claims themselves go in the blocks' normal class.
	let normal = RuntimeBlockWeights::get()
		.get(frame_support::dispatch::DispatchClass::Normal)
		.max_total
		.unwrap_or(RuntimeBlockWeights::get().max_block);
	let claim = Tickets::claim(2, 1);
	let largest = Tickets::claim(
		srwan_primitives::receipts::MAX_CLAIM_PEERS,
		srwan_primitives::receipts::MAX_CLAIM_RECEIPTS,
	);
	println!(
		"settlement steps: flow {:.0} µs, payout {:.0} µs, cleanup of {} links {:.0} µs → {claims_per_epoch} claims per 100-block epoch in a {:.0} ms budget; \
		 claim(2 peers, 1 receipt) {:.0} µs → {} per block; claim(128, 512) {:.0} ms",
		flow / 1e6,
		payout / 1e6,
		pallet_tickets::CLEANUP_BATCH,
		cleanup / 1e6,
		budget / 1e9,
		claim.ref_time() as f64 / 1e6,
		normal.ref_time() / claim.ref_time().max(1),
		largest.ref_time() as f64 / 1e9,
	);
	assert!(claims_per_epoch >= 10_000, "only {claims_per_epoch} claims per epoch");
	assert!(largest.all_lte(normal), "the largest claim does not fit in a block");
}
