//! Benchmarks (v2) of the calls and of each settlement step, at their worst cases.

use super::*;
use crate::{math::LinkFigures, Pallet as Tickets};
use alloc::vec::Vec;
use codec::Decode;
use frame_benchmarking::v2::*;
use frame_support::BoundedVec;
use frame_system::RawOrigin;
use sp_core::crypto::KeyTypeId;
use srwan_primitives::receipts::{
	PeerOctets, MAX_CLAIM_PEERS, MAX_CLAIM_RECEIPTS, MAX_PATH_ROUTERS,
};
use srwan_primitives::traits::RouterRegistry;

const KEY_TYPE: KeyTypeId = KeyTypeId(*b"srwb");
/// The most peers the claim benchmark names: with the relay and its path's routers they fit
/// in one group of the runtime (`MaxGroupSize` 100) and of the mock.
const BENCHMARKED_PEERS: u32 = 64;
const PRICE: Balance = 1_000_000;

fn set_block<T: Config>(block: u32) {
	frame_system::Pallet::<T>::set_block_number(block.into());
}

/// A consumer whose account is a fresh sr25519 key in the benchmark keystore.
fn consumer<T: Config>() -> (T::AccountId, sp_core::sr25519::Public) {
	let public = sp_io::crypto::sr25519_generate(KEY_TYPE, None);
	let account = T::AccountId::decode(&mut &public.0[..]).expect("accounts are 32 bytes");
	(account, public)
}

fn sign<T: Config>(
	receipt: UsageReceipt<T::AccountId>,
	key: &sp_core::sr25519::Public,
) -> SignedReceipt<T::AccountId> {
	let payload = receipt.signing_payload(&Tickets::<T>::genesis_hash());
	let signature = sp_io::crypto::sr25519_sign(KEY_TYPE, key, &payload).expect("key in keystore");
	SignedReceipt { receipt, signature: signature.0 }
}

/// `count` registered routers at [`PRICE`].
fn routers<T: Config>(name: &'static str, count: u32) -> Vec<T::AccountId> {
	(0..count)
		.map(|i| {
			let who: T::AccountId = account(name, i, 0);
			T::BenchmarkHelper::register_router(&who, PRICE);
			who
		})
		.collect()
}

/// The first block after `epoch`'s claim window, where it may settle.
fn after_window<T: Config>(epoch: EpochIndex) -> u32 {
	Tickets::<T>::claim_deadline(epoch)
}

fn receipt<T: Config>(
	consumer: &T::AccountId,
	flow: u32,
	path: &[T::AccountId],
	epoch: EpochIndex,
	nonce: u64,
) -> UsageReceipt<T::AccountId> {
	let mut id = [0u8; 16];
	id[..4].copy_from_slice(&flow.to_le_bytes());
	UsageReceipt {
		consumer: consumer.clone(),
		flow: id,
		path: BoundedVec::truncate_from(path.to_vec()),
		epoch,
		fwd_octets: 1_000_000_000,
		rev_octets: 500_000_000,
		max_price_per_gb: PRICE * 10,
		nonce,
	}
}

/// A claim of epoch 1 with `p` peers whose other ends already claimed figures that disagree
/// (each link is recorded as disputed) and that it saw restart (each gets a restart mark); and
/// `r` receipts, each with the longest path, signed by a delegate key (two verifications), each
/// merging into a record that every other router of its path vouched for. Returns the relay
/// and its claim, at a block within the claim window.
fn claim_setup<T: Config>(p: u32, r: u32) -> (T::AccountId, Claim<T::AccountId>) {
	let epoch: EpochIndex = 1;
	let relay = routers::<T>("relay", 1).remove(0);
	let path_rest = routers::<T>("hop", MAX_PATH_ROUTERS - 1);
	// Group members (in a runtime only a group's worth of them share the relay's group; the
	// others are skipped, which costs less).
	let peers = routers::<T>("peer", p);
	T::BenchmarkHelper::start_epoch(epoch);

	for peer in &peers {
		Links::<T>::insert(
			(epoch, peer, &relay),
			LinkFigures { sent: Some(1), ..Default::default() },
		);
		Links::<T>::insert(
			(epoch, &relay, peer),
			LinkFigures { received: Some(1), ..Default::default() },
		);
	}

	let (consumer, _) = consumer::<T>();
	let delegate = sp_io::crypto::sr25519_generate(KEY_TYPE, None);
	T::BenchmarkHelper::fund_escrow(&consumer, 1_000_000_000_000);
	T::BenchmarkHelper::set_receipt_key(&consumer, delegate.0);
	let mut path = path_rest.clone();
	path.insert(0, relay.clone());
	let receipts: Vec<SignedReceipt<T::AccountId>> = (0..r)
		.map(|flow| {
			// Recorded already, vouched for by every other router of the path: each
			// receipt merges and moves demand on every link, both ways.
			let old = receipt::<T>(&consumer, flow, &path, epoch, 1);
			let key = (epoch, &consumer, old.flow, path_hash(&old.path));
			let far_end = path.len().saturating_sub(1);
			let record = (1..far_end)
				.fold(RecordedReceipt::new(old.clone(), far_end), |r, at| r.merged(&old, at));
			Receipts::<T>::insert(key, record);
			sign::<T>(receipt::<T>(&consumer, flow, &path, epoch, 2), &delegate)
		})
		.collect();

	let now: Vec<PeerOctets<T::AccountId>> = peers
		.iter()
		.map(|peer| PeerOctets {
			peer: peer.clone(),
			// Far beyond any tolerance of the other ends' 1 octet: every link is disputed.
			in_octets: 1 << 40,
			out_octets: 1 << 40,
			peer_boots: BoundedVec::truncate_from(alloc::vec![1, 2]),
		})
		.collect();
	let ticket = Claim {
		epoch,
		restarted: true,
		peers: BoundedVec::truncate_from(now),
		receipts: BoundedVec::truncate_from(receipts),
	};
	set_block::<T>(T::Registry::epoch_length().saturating_mul(2));
	(relay, ticket)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// A claim with `p` peers and no receipt (see [`claim_setup`]). Every peer is a member of
	/// the relay's group, so each costs the most a peer can: `p` stops at
	/// [`BENCHMARKED_PEERS`], within one group beside the path's routers, and the line
	/// extrapolates up to `MAX_CLAIM_PEERS` (peers beyond a group's size are skipped, which
	/// costs less). Peers and receipts are benchmarked apart: varied together, each line was
	/// measured with the other component at its maximum, and the fit moved the difference
	/// into the intercept.
	#[benchmark]
	fn claim_peers(p: Linear<0, BENCHMARKED_PEERS>) {
		let (relay, ticket) = claim_setup::<T>(p, 0);

		#[extrinsic_call]
		claim(RawOrigin::Signed(relay.clone()), ticket);

		assert_eq!(Claimed::<T>::get(1, &relay), Some(true));
		// Every peer disputed both ways: none was skipped as outside the group.
		assert_eq!(Disputed::<T>::iter_prefix((1,)).count(), 2 * p as usize);
	}

	/// A claim with `r` receipts and no peer (see [`claim_setup`]).
	#[benchmark]
	fn claim_receipts(r: Linear<0, MAX_CLAIM_RECEIPTS>) {
		let (relay, ticket) = claim_setup::<T>(0, r);

		#[extrinsic_call]
		claim(RawOrigin::Signed(relay.clone()), ticket);

		assert_eq!(Claimed::<T>::get(1, &relay), Some(true));
		assert_eq!(Receipts::<T>::iter_prefix((1,)).count(), r as usize);
	}

	#[benchmark]
	fn set_params() {
		let params = TicketParams { claim_window: 1, ..Default::default() };
		#[extrinsic_call]
		_(RawOrigin::Root, params);
		assert_eq!(Params::<T>::get(), params);
	}

	/// One disputed link whose ends both declared a corroborated restart but used up their
	/// allowance (every grace check reads everything), both aged, with full dispute lists.
	#[benchmark]
	fn settle_dispute() {
		let ends = routers::<T>("end", 2);
		let (from, to) = (&ends[0], &ends[1]);
		let params = Params::<T>::get();
		let epoch: EpochIndex = params.min_age_epochs.saturating_add(1);
		T::BenchmarkHelper::start_epoch(epoch);
		for (router, other) in [(from, to), (to, from)] {
			Claimed::<T>::insert(epoch, router, true);
			SawRestart::<T>::insert(epoch, router, ());
			LastRestartGrace::<T>::insert(router, epoch - 1);
			let counterparties: Vec<(T::AccountId, EpochIndex)> = (0..MAX_CLAIM_PEERS - 1)
				.map(|i| (account("other", i, 0), epoch.saturating_sub(params.dispute_window / 2)))
				.chain(core::iter::once((other.clone(), epoch)))
				.collect();
			Disputes::<T>::insert(router, BoundedVec::truncate_from(counterparties));
		}
		Links::<T>::insert(
			(epoch, from, to),
			LinkFigures { sent: Some(1 << 40), received: Some(1), demand: 1 },
		);
		Disputed::<T>::insert((epoch, from, to), ());
		NextToSettle::<T>::put(epoch);
		set_block::<T>(after_window::<T>(epoch));

		#[block]
		{
			Tickets::<T>::settle_step();
		}

		assert_eq!(Disputed::<T>::iter_prefix((epoch,)).count(), 0);
		assert!(!Forgiven::<T>::contains_key((epoch, from, to)));
		assert_eq!(Suspects::<T>::get(epoch, from).disputed, 1, "counted: both ends are aged");
	}

	/// The verdict on a suspect that disagreed with a full list of peers and whose disputed
	/// links carried most of its receipted octets: it is reported for quarantine.
	#[benchmark]
	fn settle_verdict() {
		let router = routers::<T>("suspect", 1).remove(0);
		let epoch: EpochIndex = 1;
		T::BenchmarkHelper::start_epoch(epoch);
		let counterparties: Vec<(T::AccountId, EpochIndex)> =
			(0..MAX_CLAIM_PEERS).map(|i| (account("other", i, 0), epoch)).collect();
		Disputes::<T>::insert(&router, BoundedVec::truncate_from(counterparties));
		let disputed = Params::<T>::get().credit_window_octets.saturating_add(2);
		Suspects::<T>::insert(epoch, &router, SuspectTally { disputed, confirmed: 1 });
		SettlementStage::<T>::put(Stage::Verdicts);
		NextToSettle::<T>::put(epoch);
		SettlementBegun::<T>::put(true);
		set_block::<T>(after_window::<T>(epoch));

		#[block]
		{
			Tickets::<T>::settle_step();
		}

		assert!(!Disputes::<T>::contains_key(&router), "reported");
		assert_eq!(Suspects::<T>::iter_prefix(epoch).count(), 0);
	}

	/// One flow over the longest path, every link confirmed in both directions.
	#[benchmark]
	fn settle_flow() {
		let epoch: EpochIndex = 0;
		let path = routers::<T>("hop", MAX_PATH_ROUTERS);
		T::BenchmarkHelper::start_epoch(epoch);
		let (consumer, _) = consumer::<T>();
		let flow = receipt::<T>(&consumer, 0, &path, epoch, 1);
		for pair in path.windows(2) {
			let figures =
				|octets| LinkFigures { sent: Some(octets), received: Some(octets), demand: octets };
			Links::<T>::insert((epoch, &pair[0], &pair[1]), figures(flow.fwd_octets));
			Links::<T>::insert((epoch, &pair[1], &pair[0]), figures(flow.rev_octets));
		}
		let key = (epoch, &consumer, flow.flow, path_hash(&flow.path));
		Receipts::<T>::insert(key, RecordedReceipt::vouched_by_all(flow));
		SettlementStage::<T>::put(Stage::Flows);
		set_block::<T>(after_window::<T>(epoch));

		#[block]
		{
			Tickets::<T>::settle_step();
		}

		assert_eq!(Bills::<T>::get(epoch, &consumer).owed, 6 * 1_500_000);
	}

	/// One payee of a consumer whose escrow cannot cover its bill (shortfall, pro rata).
	#[benchmark]
	fn settle_payout() {
		let epoch: EpochIndex = 0;
		let payee = routers::<T>("hop", 1).remove(0);
		let (consumer, _) = consumer::<T>();
		T::BenchmarkHelper::fund_escrow(&consumer, 1_000_000);
		Owed::<T>::insert((epoch, &consumer, &payee), 2_000_000);
		Bills::<T>::insert(epoch, &consumer, Bill { owed: 4_000_000, ..Default::default() });
		SettlementStage::<T>::put(Stage::Payouts);
		T::BenchmarkHelper::start_epoch(epoch);
		set_block::<T>(after_window::<T>(epoch));

		#[block]
		{
			Tickets::<T>::settle_step();
		}

		assert_eq!(Bills::<T>::get(epoch, &consumer).charged, 500_000);
	}

	/// A full batch of links to remove.
	#[benchmark]
	fn settle_cleanup() {
		let epoch: EpochIndex = 0;
		for i in 0..CLEANUP_BATCH {
			let a: T::AccountId = account("a", i, 0);
			let b: T::AccountId = account("b", i, 0);
			Links::<T>::insert((epoch, &a, &b), LinkFigures::default());
		}
		SettlementStage::<T>::put(Stage::Cleanup);
		T::BenchmarkHelper::start_epoch(epoch);
		set_block::<T>(after_window::<T>(epoch));

		#[block]
		{
			Tickets::<T>::settle_step();
		}

		assert_eq!(Links::<T>::iter_prefix((epoch,)).count(), 0);
	}

	impl_benchmark_test_suite!(Tickets, crate::mock::new_test_ext(), crate::mock::Test);
}
