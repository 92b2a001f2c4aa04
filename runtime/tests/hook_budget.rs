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

/// The production clocks (DESIGN.md "Parameters"): a 100-block epoch, claims in the 50 blocks
/// after it.
const PRODUCTION_EPOCH_BLOCKS: u32 = 100;
const PRODUCTION_CLAIM_WINDOW: u32 = 50;

/// The claim shape assumed in the capacity test: the neighbours a router exchanged traffic
/// with, the flows it carried (receipts), and the routers on each flow's path (ingress, one
/// transit, egress).
const SHAPE_PEERS: u32 = 8;
const SHAPE_RECEIPTS: u32 = 2;
const SHAPE_PATH: u32 = 3;

/// How many routers can claim an epoch of the stated shape within the claim window, with
/// everything those claims queue settled within the next epoch under the guaranteed per-block
/// budget — from the benchmarked weights — beside a full exchange (`MaxGroups` ×
/// `MaxGroupSize`). A claim's weight includes (twice) the settlement it queues, so no flood of
/// claims of any shape can push settlement into a growing lag (`settlement_keeps_up`, checked
/// for every shape at genesis, by `set_params`, and here for the production clocks); the
/// capacity printed here is what docs/PERFORMANCE.md reports.
#[test]
fn claims_of_the_stated_shape_fit_the_window_and_settle_within_the_next_epoch() {
	use pallet_tickets::WeightInfo as _;
	type Weights = <Runtime as pallet_tickets::Config>::WeightInfo;
	type Tickets = pallet_tickets::Pallet<Runtime>;
	let groups: u32 = <Runtime as pallet_ditex::Config>::MaxGroups::get();
	let group_size: u32 = <Runtime as pallet_ditex::Config>::MaxGroupSize::get();
	let routers = groups * group_size;
	let normal = RuntimeBlockWeights::get()
		.get(frame_support::dispatch::DispatchClass::Normal)
		.max_total
		.unwrap_or(RuntimeBlockWeights::get().max_block)
		.ref_time();
	let budget = <Runtime as pallet_tickets::Config>::SettlementBudget::get().ref_time();
	let routers_on_paths = SHAPE_RECEIPTS * SHAPE_PATH;
	let claim = Tickets::claim_weight(SHAPE_PEERS, SHAPE_RECEIPTS, routers_on_paths).ref_time();
	let queued =
		Tickets::settlement_queued(SHAPE_PEERS, SHAPE_RECEIPTS, routers_on_paths).ref_time();
	let claims_per_block = normal / claim.max(1);
	let claims_in_window = u128::from(claims_per_block * u64::from(PRODUCTION_CLAIM_WINDOW));
	let settle_capacity =
		u128::from(PRODUCTION_EPOCH_BLOCKS) * u128::from(budget) / u128::from(queued.max(1));
	let supported = claims_in_window.min(settle_capacity);
	let largest = Tickets::claim_weight(
		srwan_primitives::receipts::MAX_CLAIM_PEERS,
		srwan_primitives::receipts::MAX_CLAIM_RECEIPTS,
		srwan_primitives::receipts::MAX_CLAIM_RECEIPTS * 2,
	);
	let ms = |w: u64| w as f64 / 1e9;
	println!(
		"settlement steps (ms): dispute {:.2}, flow {:.2}, verdict {:.2}, payout {:.2}, cleanup of {} {:.2}; \
		 claim({SHAPE_PEERS} peers, {SHAPE_RECEIPTS} receipts over {SHAPE_PATH} routers) {:.2} ms, settlement it \
		 queues {:.2} ms (charged twice) → {claims_per_block} claims per block, {claims_in_window} in a \
		 {PRODUCTION_CLAIM_WINDOW}-block window; an epoch's budget ({:.0} ms a block) settles {settle_capacity} such \
		 claims → {supported} routers metered per epoch (a full exchange: {routers}), {} receipts; \
		 claim(128 peers, 512 two-router receipts) {:.0} ms",
		ms(Weights::settle_dispute().ref_time()),
		ms(Weights::settle_flow().ref_time()),
		ms(Weights::settle_verdict().ref_time()),
		ms(Weights::settle_payout().ref_time()),
		pallet_tickets::CLEANUP_BATCH,
		ms(Weights::settle_cleanup().ref_time()),
		ms(claim),
		ms(queued),
		ms(budget),
		supported * u128::from(SHAPE_RECEIPTS),
		ms(largest.ref_time()),
	);
	assert!(
		Tickets::settlement_keeps_up(PRODUCTION_CLAIM_WINDOW, PRODUCTION_EPOCH_BLOCKS),
		"a flood of claims of some shape would outrun settlement"
	);
	// A regression floor, not a timing threshold: the weights are benchmark outputs.
	assert!(supported >= 500, "only {supported} routers can be metered per epoch");
}
