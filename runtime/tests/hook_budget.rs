//! The period hooks fit in a block with the benchmarked weights at their bounds: the coin-voting
//! tally must run in one block (a tally spread over blocks would count moved coins twice), so
//! `MaxVoters` voters and `MaxCandidates` candidates must fit, with the payouts of that block,
//! the validator payout and the DITEX's hooks beside it — and settlement's guaranteed budget,
//! which every block reserves.

use frame_support::traits::Get;
use frame_support::weights::Weight;
use pallet_coin_voting::WeightInfo as _;
use pallet_ditex::WeightInfo as _;
use pallet_fee_split::WeightInfo as _;
use srwan_runtime::{configs::RuntimeBlockWeights, Runtime};

mod common;

type CoinVoting = <Runtime as pallet_coin_voting::Config>::WeightInfo;
type FeeSplit = <Runtime as pallet_fee_split::Config>::WeightInfo;
type Ditex = <Runtime as pallet_ditex::Config>::WeightInfo;

/// The normal class of a block: what transactions (claims among them) may fill.
fn normal_class() -> u64 {
	RuntimeBlockWeights::get()
		.get(frame_support::dispatch::DispatchClass::Normal)
		.max_total
		.unwrap_or(RuntimeBlockWeights::get().max_block)
		.ref_time()
}

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

/// The worst case of the stated shape, from the declared weights: how many routers could claim
/// within the window if every claim queued all it could (no receipt merging into another
/// router's record, every link disputed), with everything settled within the next epoch. A
/// claim's weight includes (twice) the settlement it queues, so no flood of claims of any shape
/// can push settlement into a growing lag (`settlement_keeps_up`, checked for every shape at
/// genesis, by `set_params`, and here for the production clocks). What honest claims achieve is
/// measured by the next test.
#[test]
fn claims_of_the_stated_shape_fit_the_window_and_settle_within_the_next_epoch() {
	use pallet_tickets::WeightInfo as _;
	type Weights = <Runtime as pallet_tickets::Config>::WeightInfo;
	type Tickets = pallet_tickets::Pallet<Runtime>;
	let groups: u32 = <Runtime as pallet_ditex::Config>::MaxGroups::get();
	let group_size: u32 = <Runtime as pallet_ditex::Config>::MaxGroupSize::get();
	let routers = groups * group_size;
	let normal = normal_class();
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
		"worst case — settlement steps (ms): dispute {:.2}, flow {:.2}, verdict {:.2}, payout {:.2}, cleanup of {} {:.2}; \
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
	let longest_window = (1..=PRODUCTION_EPOCH_BLOCKS)
		.take_while(|window| Tickets::settlement_keeps_up(*window, PRODUCTION_EPOCH_BLOCKS))
		.last()
		.unwrap_or(0);
	println!(
		"the longest claim window whose claims settle within a {PRODUCTION_EPOCH_BLOCKS}-block \
		 epoch whatever their shapes: {longest_window} blocks"
	);
	assert!(
		longest_window >= PRODUCTION_CLAIM_WINDOW,
		"a flood of claims of some shape would outrun settlement"
	);
	// A regression floor, not a timing threshold: the weights are benchmark outputs.
	assert!(supported >= 1_000, "only {supported} routers can be metered per epoch");
}

/// The stated shape, measured through the real runtime: `ROUTERS` routers of one group, each
/// exchanging traffic with 8 neighbours (4 on either side of a ring) and carrying 2 flows over
/// 3-router paths (each flow claimed by its three routers, so its receipts merge), claim an
/// epoch; every router is paid once it settles. What the claims weighed once dispatched and
/// what the settlement hook did for them, per router, give how many routers the production
/// clocks meter: claims in the 50-block window (each block filled up to the normal class, the
/// last claim fitting its declared weight) and their settlement in the next 100 blocks'
/// budgets (each block's overhead and its largest step left unused): at least twice
/// `MaxGroups × MaxGroupSize`.
#[test]
fn every_router_of_a_full_exchange_claims_the_stated_shape_and_it_settles_within_the_next_epoch() {
	use frame_support::traits::fungible::Mutate;
	use sp_keyring::Sr25519Keyring;
	use sp_runtime::AccountId32;
	use srwan_primitives::{
		receipts::{Claim, PeerOctets, SignedReceipt, UsageReceipt},
		traits::RouterRegistry,
	};
	use srwan_runtime::{
		Balances, Ditex, Escrow, RuntimeEvent, RuntimeOrigin, System, Tickets, SRW,
	};
	use std::collections::{BTreeMap, BTreeSet};
	const ROUTERS: usize = 24;
	const GB: u64 = 1_000_000_000;

	common::externalities("development").execute_with(|| {
		let routers: Vec<AccountId32> =
			(1..=ROUTERS as u8).map(|i| AccountId32::new([i; 32])).collect();
		common::run_to(1);
		for (i, router) in routers.iter().enumerate() {
			let last = i as u8 + 1;
			Balances::set_balance(router, 1_000 * SRW);
			common::register(router, last);
		}
		let consumer = Sr25519Keyring::Dave;
		Escrow::deposit(RuntimeOrigin::signed(consumer.to_account_id()), 1_000 * SRW).unwrap();
		let epoch_length = <Ditex as RouterRegistry<AccountId32>>::epoch_length();

		// Two partitions of the ring into 3-router paths: every router is on two of them.
		let paths: Vec<[usize; 3]> = (0..ROUTERS / 3)
			.flat_map(|k| {
				[[3 * k, 3 * k + 1, 3 * k + 2], [3 * k + 1, 3 * k + 2, (3 * k + 3) % ROUTERS]]
			})
			.collect();
		let receipts: Vec<SignedReceipt<AccountId32>> = paths
			.iter()
			.enumerate()
			.map(|(flow, path)| {
				let receipt = UsageReceipt {
					consumer: consumer.to_account_id(),
					flow: [flow as u8 + 1; 16],
					path: path
						.iter()
						.map(|i| routers[*i].clone())
						.collect::<Vec<_>>()
						.try_into()
						.unwrap(),
					epoch: 1,
					fwd_octets: GB,
					rev_octets: GB / 2,
					max_price_per_gb: 10 * SRW,
					nonce: 1,
				};
				let payload = receipt.signing_payload(&Tickets::genesis_hash());
				SignedReceipt { signature: consumer.sign(&payload).0, receipt }
			})
			.collect();
		// Counters (in, out) per (router, peer): every ring neighbour within 4, and the flows.
		let mut counters: BTreeMap<(usize, usize), (u64, u64)> = BTreeMap::new();
		for i in 0..ROUTERS {
			for d in 1..=4 {
				counters.entry((i, (i + d) % ROUTERS)).or_default();
				counters.entry((i, (i + ROUTERS - d) % ROUTERS)).or_default();
			}
		}
		for path in &paths {
			for pair in path.windows(2) {
				let (a, b) = (pair[0], pair[1]);
				let ab = counters.get_mut(&(a, b)).expect("path hops are neighbours");
				ab.1 += GB;
				ab.0 += GB / 2;
				let ba = counters.get_mut(&(b, a)).expect("path hops are neighbours");
				ba.0 += GB;
				ba.1 += GB / 2;
			}
		}

		common::run_to(2 * epoch_length);
		let (mut claimed, mut declared_max) = (Weight::zero(), Weight::zero());
		for (i, router) in routers.iter().enumerate() {
			let peers: Vec<_> = counters
				.range((i, 0)..(i + 1, 0))
				.map(|(&(_, peer), &(in_octets, out_octets))| PeerOctets {
					peer: routers[peer].clone(),
					in_octets,
					out_octets,
					peer_boots: vec![7].try_into().unwrap(),
				})
				.collect();
			let mine: Vec<_> =
				receipts.iter().filter(|r| r.receipt.path.contains(router)).cloned().collect();
			assert_eq!((peers.len(), mine.len()), (SHAPE_PEERS as usize, SHAPE_RECEIPTS as usize));
			let routers_on_paths = mine.iter().map(|r| r.receipt.path.len() as u32).sum();
			let declared = pallet_tickets::Pallet::<Runtime>::claim_weight(
				SHAPE_PEERS,
				SHAPE_RECEIPTS,
				routers_on_paths,
			);
			declared_max = declared_max.max(declared);
			let claim = Claim {
				epoch: 1,
				restarted: false,
				peers: peers.try_into().unwrap(),
				receipts: mine.try_into().unwrap(),
			};
			let info = Tickets::claim(RuntimeOrigin::signed(router.clone()), claim)
				.expect("claim accepted");
			claimed =
				claimed.saturating_add(info.actual_weight.expect("claims report their weight"));
		}

		let overhead = pallet_tickets::Pallet::<Runtime>::settle_overhead();
		let mut used = Vec::new();
		while pallet_tickets::NextToSettle::<Runtime>::get() < 2 {
			assert!(System::block_number() < 3 * epoch_length, "epoch 1 settles in the next");
			used.extend(common::run_to(System::block_number() + 1));
		}
		let settled = used
			.iter()
			.fold(Weight::zero(), |sum, w| sum.saturating_add(w.saturating_sub(overhead)));
		let paid: BTreeSet<_> =
			System::events()
				.into_iter()
				.filter_map(|r| match r.event {
					RuntimeEvent::Tickets(pallet_tickets::Event::Paid {
						relay, amount, ..
					}) if amount > 0 => Some(relay),
					_ => None,
				})
				.collect();
		assert_eq!(paid.len(), ROUTERS, "every router of the group is paid");

		let largest_step = pallet_tickets::Pallet::<Runtime>::largest_settle_step();
		let normal = normal_class();
		let budget = <Runtime as pallet_tickets::Config>::SettlementBudget::get().ref_time();
		let per_claim = claimed.ref_time() / ROUTERS as u64;
		let per_settlement = (settled.ref_time() / ROUTERS as u64).max(1);
		let claims_per_block = (normal - declared_max.ref_time()) / per_claim.max(1) + 1;
		let claims_in_window = claims_per_block * u64::from(PRODUCTION_CLAIM_WINDOW);
		let usable = budget.saturating_sub(overhead.ref_time() + largest_step.ref_time());
		let settle_capacity = u64::from(PRODUCTION_EPOCH_BLOCKS) * usable / per_settlement;
		let supported = claims_in_window.min(settle_capacity);
		let groups: u32 = <Runtime as pallet_ditex::Config>::MaxGroups::get();
		let group_size: u32 = <Runtime as pallet_ditex::Config>::MaxGroupSize::get();
		let full = u64::from(groups * group_size);
		let ms = |w: u64| w as f64 / 1e9;
		println!(
			"measured, {ROUTERS} routers of the stated shape: a claim weighs {:.2} ms once dispatched \
			 (declared {:.2} ms), its settlement {:.2} ms → {claims_per_block} claims per block, \
			 {claims_in_window} in a {PRODUCTION_CLAIM_WINDOW}-block window; {settle_capacity} settle in \
			 {PRODUCTION_EPOCH_BLOCKS} blocks' budgets → {supported} routers metered per epoch \
			 (MaxGroups × MaxGroupSize: {full})",
			ms(per_claim),
			ms(declared_max.ref_time()),
			ms(per_settlement),
		);
		// Twice every router's claim: honest claims vary (more peers, more flows), and a
		// margin keeps one busy epoch from eating into the next one's window.
		assert!(
			supported >= 2 * full,
			"only {supported} claims per epoch for {full} routers: less than twice"
		);
	});
}
