//! The period hooks fit in a block with the benchmarked weights at their bounds: the coin-voting
//! tally must run in one block (a tally spread over blocks would count moved coins twice), so
//! `MaxVoters` voters and `MaxCandidates` candidates must fit, with the payouts of that block,
//! the validator payout and the DITEX's hooks beside it.

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
	let group = <Runtime as pallet_ditex::Config>::MaxGroupSize::get();
	let hooks = CoinVoting::tally(voters, candidates)
		.saturating_add(CoinVoting::pay_out(payouts))
		.saturating_add(FeeSplit::mint_subsidy())
		.saturating_add(FeeSplit::pay_validators(authors))
		.saturating_add(Ditex::rebalance(1_000))
		.saturating_add(Ditex::evaluate_group(group));
	let max_block = RuntimeBlockWeights::get().max_block;
	let share = hooks.ref_time() as f64 / max_block.ref_time() as f64;
	println!(
		"tally({voters} voters, {candidates} candidates) + payouts + subsidy + validator payout + ditex hooks: {:.1} % of a block",
		share * 100.0
	);
	assert!(
		hooks.all_lte(max_block.saturating_div(2)),
		"hooks take {:.1} % of a block",
		share * 100.0
	);
}
