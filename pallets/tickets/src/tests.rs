//! Claims, their validation errors, settlement, and the fraud suite (one named test per attack).

use crate::{
	math::LinkFigures, mock::*, Bills, Claimed, ClaimedReceipts, Disputed, Disputes, Error, Event,
	LastRestartGrace, Links, MoneyTotals, NextToSettle, Owed, QueuedWork, Receipts, SawRestart,
	SkipReason, Stage, TicketParams, SETTLEMENT_MARKUP,
};
use frame_support::{assert_noop, assert_ok, traits::fungible::InspectHold, weights::Weight};
use sp_core::Pair;
use sp_runtime::{AccountId32, DispatchResult, Perbill};
use srwan_primitives::{
	currency::Balance,
	ditex::EpochIndex,
	receipts::{SignedReceipt, UsageReceipt},
};
use std::collections::BTreeMap;

const GB: u64 = 1_000_000_000;

/// Honest relays: each one's counters of the current epoch for the flows they carried.
#[derive(Default)]
struct Net {
	counters: BTreeMap<AccountId32, BTreeMap<AccountId32, (u64, u64)>>,
}

impl Net {
	/// Adds a (zero-traffic) link between `a` and `b` to both ends' counters.
	fn link(&mut self, a: &AccountId32, b: &AccountId32) {
		self.counters.entry(a.clone()).or_default().entry(b.clone()).or_default();
		self.counters.entry(b.clone()).or_default().entry(a.clone()).or_default();
	}

	/// Counts what the flow of `receipt` moved on every link of its path, at both ends.
	fn carry(&mut self, receipt: &UsageReceipt<AccountId32>) {
		for pair in receipt.path.windows(2) {
			let (a, b) = (&pair[0], &pair[1]);
			self.link(a, b);
			let ab = self.counters.get_mut(a).unwrap().get_mut(b).unwrap();
			ab.1 += receipt.fwd_octets; // a out to b
			ab.0 += receipt.rev_octets; // a in from b
			let ba = self.counters.get_mut(b).unwrap().get_mut(a).unwrap();
			ba.0 += receipt.fwd_octets;
			ba.1 += receipt.rev_octets;
		}
	}

	/// A new epoch: every counter starts again at zero (the links stay).
	fn next_epoch(&mut self) {
		self.counters.values_mut().flat_map(|m| m.values_mut()).for_each(|c| *c = (0, 0));
	}

	/// `relay`'s counters as `(peer, in, out)`.
	fn peers(&self, relay: &AccountId32) -> Vec<(AccountId32, u64, u64)> {
		self.counters
			.get(relay)
			.map(|m| m.iter().map(|(p, (i, o))| (p.clone(), *i, *o)).collect())
			.unwrap_or_default()
	}

	/// `relay` claims `epoch` with its counters and the receipts whose path it is on, after
	/// `tamper` had its way with the counters.
	fn claim_tampered(
		&self,
		relay: &AccountId32,
		epoch: EpochIndex,
		receipts: &[SignedReceipt<AccountId32>],
		tamper: impl FnOnce(&mut Vec<(AccountId32, u64, u64)>),
	) -> DispatchResult {
		let mut peers = self.peers(relay);
		tamper(&mut peers);
		let mine = receipts.iter().filter(|r| r.receipt.path.contains(relay)).cloned().collect();
		Tickets::claim(RuntimeOrigin::signed(relay.clone()), claim(epoch, &peers, mine))
			.map(|_| ())
			.map_err(|e| e.error)
	}

	fn claim(
		&self,
		relay: &AccountId32,
		epoch: EpochIndex,
		receipts: &[SignedReceipt<AccountId32>],
	) -> DispatchResult {
		self.claim_tampered(relay, epoch, receipts, |_| {})
	}

	/// Every relay claims honestly.
	fn claim_all(&self, epoch: EpochIndex, receipts: &[SignedReceipt<AccountId32>]) {
		for relay in self.counters.keys() {
			assert_ok!(self.claim(relay, epoch, receipts));
		}
	}
}

fn free(who: &AccountId32) -> Balance {
	Balances::free_balance(who)
}

fn held(n: u8) -> Balance {
	Balances::balance_on_hold(
		&RuntimeHoldReason::Escrow(pallet_escrow::HoldReason::ConsumerEscrow),
		&consumer(n),
	)
}

fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| if let RuntimeEvent::Tickets(e) = r.event { Some(e) } else { None })
		.collect()
}

fn path(routers: &[u8]) -> Vec<AccountId32> {
	routers.iter().map(|n| relay(*n)).collect()
}

/// Consumer 1's flow 1 over relays 1 → 2 → 3 in epoch 0: 2 GB forward, 1 GB back; every relay
/// claims honestly in epoch 1.
fn one_honest_epoch() -> (Net, SignedReceipt<AccountId32>) {
	fund(1, 100_000_000);
	let receipt = signed(receipt(1, 1, &path(&[1, 2, 3]), 0, 2 * GB, GB, 7));
	let mut net = Net::default();
	net.carry(&receipt.receipt);
	run_to_epoch(1);
	net.claim_all(0, std::slice::from_ref(&receipt));
	(net, receipt)
}

// --- the honest case ---

#[test]
fn an_honest_path_pays_every_hop_at_its_price_minus_the_infrastructure_share() {
	build_and_execute(|| {
		let before: Vec<Balance> = (1..=3).map(|n| free(&relay(n))).collect();
		let infra_before = free(&Infra::get());
		one_honest_epoch();
		assert_eq!(Receipts::<Test>::iter().count(), 1);
		settle_epoch(0);

		// Each hop measures 3 GB (2 forward + 1 back) on its link: 3 × 10^6 at 10^6 per GB.
		let hop = 3 * PRICE;
		let infra = Perbill::from_percent(5).mul_floor(hop);
		for (n, before) in (1..=3).zip(before) {
			assert_eq!(free(&relay(n)), before + hop - infra, "relay {n}");
		}
		assert_eq!(free(&Infra::get()), infra_before + 3 * infra);
		assert_eq!(held(1), 100_000_000 - 3 * hop);
		let totals = MoneyTotals::<Test>::get();
		assert_eq!(totals.charged, 3 * hop);
		assert_eq!(totals.to_relays + totals.to_infra, totals.charged);
		assert!(events().contains(&Event::EpochSettled { epoch: 0 }));
		// Everything of the epoch is gone, and the escrow sees it settled.
		assert_eq!(NextToSettle::<Test>::get(), 1);
		assert_eq!(Receipts::<Test>::iter().count(), 0);
		assert_eq!(Links::<Test>::iter().count(), 0);
		assert_eq!(Owed::<Test>::iter().count(), 0);
		assert_eq!(Bills::<Test>::iter().count(), 0);
		assert!(<Tickets as srwan_primitives::traits::SettlementStatus<_>>::settled_through(
			&consumer(1),
			0
		));
	});
}

#[test]
fn settlement_waits_for_the_claim_window_and_empty_epochs_settle_too() {
	build_and_execute(|| {
		one_honest_epoch();
		// Block 14 is the window's last block: nothing is settled yet.
		run_to_block(14);
		assert_eq!(NextToSettle::<Test>::get(), 0);
		assert_eq!(Receipts::<Test>::iter().count(), 1);
		run_to_block(15);
		assert_eq!(NextToSettle::<Test>::get(), 1);
		// Epochs without claims settle as their windows close.
		run_to_block(45);
		assert_eq!(NextToSettle::<Test>::get(), 4);
	});
}

#[test]
fn settlement_waits_for_the_exchanges_verdict_on_the_epochs_prices() {
	build_and_execute(|| {
		set_judged(0, false);
		one_honest_epoch();
		settle_epoch(0);
		assert_eq!(NextToSettle::<Test>::get(), 0, "a premium verdict may still change prices");
		assert_eq!(Receipts::<Test>::iter().count(), 1);
		set_judged(0, true);
		run_to_block(System::block_number() + 1);
		assert_eq!(NextToSettle::<Test>::get(), 1);
	});
}

#[test]
fn settlement_never_exceeds_its_budget_and_finishes_over_several_blocks() {
	build_and_execute(|| {
		fund(1, 500_000_000);
		let mut net = Net::default();
		let receipts: Vec<_> =
			(0..40u8).map(|flow| signed(receipt(1, flow, &path(&[1, 2]), 0, GB, 0, 1))).collect();
		receipts.iter().for_each(|r| net.carry(&r.receipt));
		run_to_epoch(1);
		net.claim_all(0, &receipts);
		run_to_block(15);
		// From now on settle by hand with room for five steps per block.
		use crate::WeightInfo;
		let step = <() as WeightInfo>::settle_flow()
			.max(<() as WeightInfo>::settle_dispute())
			.max(<() as WeightInfo>::settle_payout())
			.max(<() as WeightInfo>::settle_cleanup());
		let budget = step.saturating_mul(5).saturating_add(Weight::from_parts(1_000_000_000, 0));
		// The hook of block 15 already ran with the mock's large budget: start again from
		// a fresh epoch for the measured part.
		assert_eq!(NextToSettle::<Test>::get(), 1);
		let receipts: Vec<_> =
			(0..40u8).map(|flow| signed(receipt(1, flow, &path(&[1, 2]), 1, GB, 0, 1))).collect();
		let mut net = Net::default();
		receipts.iter().for_each(|r| net.carry(&r.receipt));
		System::set_block_number(20);
		net.claim_all(1, &receipts);
		System::set_block_number(25);
		let mut blocks = 0;
		while NextToSettle::<Test>::get() == 1 {
			let used = Tickets::settle(budget);
			assert!(used.all_lte(budget), "settlement stays within its budget");
			blocks += 1;
			assert!(blocks < 100, "settlement finishes");
		}
		// 40 flow steps alone need five blocks at no more than eight per block.
		assert!(blocks >= 5, "took {blocks} blocks");
		assert_eq!(
			free(&relay(2)),
			INITIAL + 2 * (40 * PRICE - Perbill::from_percent(5).mul_floor(40 * PRICE))
		);
	});
}

// --- validation: each bad input its own error ---

#[test]
fn claims_from_unknown_routers_and_before_the_epoch_ends_are_rejected() {
	build_and_execute(|| {
		let stranger = AccountId32::new([42; 32]);
		run_to_epoch(1);
		assert_noop!(
			Tickets::claim(RuntimeOrigin::signed(stranger), claim(0, &[], vec![])),
			Error::<Test>::UnknownRouter
		);
		assert_noop!(
			Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(1, &[], vec![])),
			Error::<Test>::EpochNotEnded
		);
	});
}

#[test]
fn fraud_claim_by_a_relay_quarantined_before_the_epoch_is_rejected() {
	build_and_execute(|| {
		// Quarantined during epoch 0: it still served epoch 0, not epoch 1.
		quarantine(&relay(1));
		run_to_epoch(1);
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(0, &[], vec![])));
		run_to_epoch(2);
		assert_noop!(
			Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(1, &[], vec![])),
			Error::<Test>::Quarantined
		);
	});
}

#[test]
fn a_router_outside_every_group_when_the_epoch_started_cannot_claim_it() {
	build_and_execute(|| {
		// Relay 1 counts in no group in epoch 0 (it registered during it, say).
		set_group(&relay(1), 0, None);
		set_group(&relay(1), 1, Some(0));
		run_to_epoch(1);
		assert_noop!(
			Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(0, &[], vec![])),
			Error::<Test>::NotInGroup
		);
		run_to_epoch(2);
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(1, &[], vec![])));
	});
}

#[test]
fn fraud_peers_and_paths_outside_the_relays_group_at_the_epochs_start_are_skipped() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		// Relay 3 belongs to group 1 in epoch 0; it joins group 0 only from epoch 1.
		set_group(&relay(3), 0, Some(1));
		set_group(&relay(3), 1, Some(0));
		run_to_epoch(1);
		let inside = signed(receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1));
		let outside = signed(receipt(1, 2, &path(&[1, 3]), 0, GB, 0, 1));
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(0, &[(relay(2), 0, GB), (relay(3), 0, GB)], vec![inside, outside])
		));
		assert!(events().contains(&Event::PeerSkipped { relay: relay(1), peer: relay(3) }));
		assert_eq!(skipped(), vec![SkipReason::OutsideGroup]);
		assert_eq!(Links::<Test>::get((0, relay(1), relay(2))).sent, Some(GB));
		assert_eq!(Links::<Test>::get((0, relay(1), relay(3))).sent, None, "not recorded");
		assert_eq!(Receipts::<Test>::iter().count(), 1);
	});
}

#[test]
fn a_claim_after_the_window_is_late() {
	build_and_execute(|| {
		run_to_block(15);
		assert_noop!(
			Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(0, &[], vec![])),
			Error::<Test>::LateClaim
		);
		run_to_block(14 + 10);
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(1, &[], vec![])));
	});
}

#[test]
fn fraud_claim_submitted_twice_is_rejected() {
	build_and_execute(|| {
		let (net, receipt) = one_honest_epoch();
		assert_noop!(net.claim(&relay(2), 0, &[receipt]), Error::<Test>::AlreadyClaimed);
	});
}

#[test]
fn an_honest_relay_that_misses_a_claim_window_loses_that_epoch_only() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		let mut net = Net::default();
		let first = signed(receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1));
		net.carry(&first.receipt);
		run_to_epoch(1);
		// Relay 2 misses epoch 0's window: link 1 → 2 is unconfirmed, nobody is disputed.
		assert_ok!(net.claim(&relay(1), 0, std::slice::from_ref(&first)));
		net.next_epoch();
		let second = signed(receipt(1, 2, &path(&[1, 2]), 1, GB, 0, 1));
		net.carry(&second.receipt);
		run_to_epoch(2);
		// Epoch 1's claims stand alone: no counter carries over, nothing disagrees.
		net.claim_all(1, std::slice::from_ref(&second));
		settle_epoch(1);
		assert!(!events().iter().any(|e| matches!(e, Event::LinkDisputed { .. })));
		assert!(Disputes::<Test>::iter().next().is_none());
		assert!(reported().is_empty());
		// Epoch 1 is paid in full on both ends; epoch 0 not at all.
		assert_eq!(held(1), 100_000_000 - 2 * PRICE);
	});
}

#[test]
fn peers_must_be_distinct_and_not_the_relay_itself() {
	build_and_execute(|| {
		run_to_epoch(1);
		let twice = claim(0, &[(relay(2), 1, 1), (relay(2), 1, 1)], vec![]);
		assert_noop!(
			Tickets::claim(RuntimeOrigin::signed(relay(1)), twice),
			Error::<Test>::DuplicatePeer
		);
		let itself = claim(0, &[(relay(1), 1, 1)], vec![]);
		assert_noop!(
			Tickets::claim(RuntimeOrigin::signed(relay(1)), itself),
			Error::<Test>::SelfAsPeer
		);
	});
}

/// The reasons the latest events give for skipped receipts.
fn skipped() -> Vec<SkipReason> {
	events()
		.into_iter()
		.filter_map(
			|e| if let Event::ReceiptSkipped { reason, .. } = e { Some(reason) } else { None },
		)
		.collect()
}

#[test]
fn fraud_forged_receipt_is_skipped_and_a_delegate_key_is_accepted() {
	build_and_execute(|| {
		fund(1, 1_000_000);
		let delegate = sp_core::sr25519::Pair::from_seed(&[9; 32]);
		assert_ok!(Escrow::set_receipt_key(
			RuntimeOrigin::signed(consumer(1)),
			Some(delegate.public().0)
		));
		run_to_epoch(1);
		let r = receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1);
		// Signed by somebody else's key.
		let forged = sign_with(r.clone(), &consumer_pair(2));
		// Signed correctly, then edited.
		let mut edited = signed(receipt(1, 2, &path(&[1, 2]), 0, GB, 0, 1));
		edited.receipt.fwd_octets *= 10;
		// Signed for another chain.
		let other_chain = receipt(1, 3, &path(&[1, 2]), 0, GB, 0, 1);
		let foreign = SignedReceipt {
			signature: consumer_pair(1).sign(&other_chain.signing_payload(&[7; 32])).0,
			receipt: other_chain,
		};
		// The consumer's delegate key (its agent's, in force since epoch 1... for epoch 0 the
		// account key only): a receipt of epoch 0 signed by the delegate is not valid yet.
		let too_early = sign_with(receipt(1, 4, &path(&[1, 2]), 0, GB, 0, 1), &delegate);
		let good = signed(r);
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(0, &[(relay(2), 0, GB)], vec![forged, edited, foreign, too_early, good])
		));
		assert_eq!(skipped(), vec![SkipReason::BadSignature; 4]);
		assert_eq!(Receipts::<Test>::iter().count(), 1, "the good receipt counts");
		assert_eq!(Links::<Test>::get((0, relay(1), relay(2))).sent, Some(GB), "and the counters");
		// From epoch 1 the delegate key signs.
		run_to_epoch(2);
		let by_delegate = sign_with(receipt(1, 5, &path(&[1, 2]), 1, GB, 0, 1), &delegate);
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(1, &[], vec![by_delegate])
		));
		assert_eq!(Receipts::<Test>::iter_prefix((1,)).count(), 1);
	});
}

#[test]
fn fraud_receipt_replay_in_another_epoch_or_twice_in_a_claim_is_skipped() {
	build_and_execute(|| {
		let (_, old) = one_honest_epoch();
		run_to_epoch(2);
		let fresh = signed(receipt(1, 2, &path(&[1, 2]), 1, GB, 0, 1));
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(4)),
			claim(1, &[], vec![fresh.clone()])
		));
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(1, &[(relay(2), 0, GB)], vec![old, fresh.clone(), fresh])
		));
		assert_eq!(
			skipped(),
			vec![SkipReason::NotOnPath, SkipReason::WrongEpoch, SkipReason::Duplicate]
		);
		assert_eq!(Receipts::<Test>::iter_prefix((1,)).count(), 1);
		assert!(events().contains(&Event::ClaimAccepted {
			relay: relay(1),
			epoch: 1,
			restarted: false,
			peers: 1,
			receipts: 1,
			skipped: 2,
		}));
	});
}

#[test]
fn receipts_whose_paths_are_short_or_loop_are_skipped() {
	build_and_execute(|| {
		fund(1, 1_000_000);
		run_to_epoch(1);
		let short = signed(receipt(1, 1, &path(&[1]), 0, GB, 0, 1));
		let looping = signed(receipt(1, 2, &path(&[1, 2, 1]), 0, GB, 0, 1));
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(0, &[], vec![short, looping])
		));
		assert_eq!(skipped(), vec![SkipReason::PathTooShort, SkipReason::LoopingPath]);
		assert_eq!(Receipts::<Test>::iter().count(), 0);
	});
}

#[test]
fn fraud_a_consumer_below_the_minimum_escrow_gets_no_receipt_counted() {
	build_and_execute(|| {
		fund(1, MIN_ESCROW - 1);
		fund(2, MIN_ESCROW);
		run_to_epoch(1);
		let poor = signed(receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1));
		let covered = signed(receipt(2, 1, &path(&[1, 2]), 0, GB, 0, 1));
		// Consumer 3 has no escrow at all.
		let none = signed(receipt(3, 1, &path(&[1, 2]), 0, GB, 0, 1));
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(0, &[], vec![poor, covered, none])
		));
		assert_eq!(skipped(), vec![SkipReason::BelowMinEscrow; 2]);
		assert_eq!(Receipts::<Test>::iter().count(), 1);
	});
}

#[test]
fn fraud_a_consumer_cannot_lower_its_bill_with_a_later_receipt() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		run_to_epoch(1);
		let p = path(&[1, 2, 3]);
		let early = signed(receipt(1, 1, &p, 0, GB, 0, 1));
		let late = signed(receipt(1, 1, &p, 0, 3 * GB, 0, 2));
		// An accomplice on the path (relay 3) claims a receipt that says "nothing, for free",
		// with the highest nonce there is.
		let mut void = receipt(1, 1, &p, 0, 0, 0, u64::MAX);
		void.max_price_per_gb = 0;
		let void = signed(void);
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(2)),
			claim(0, &[(relay(1), 3 * GB, 0)], vec![late])
		));
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(0, &[(relay(2), 0, 3 * GB)], vec![early])
		));
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(3)), claim(0, &[], vec![void])));
		assert!(skipped().is_empty(), "all signed by the consumer: merged, not skipped");
		let (_, record) = Receipts::<Test>::iter().next().unwrap();
		// Every figure is the largest the consumer signed.
		assert_eq!(record.receipt.fwd_octets, 3 * GB);
		assert_eq!(record.receipt.max_price_per_gb, PRICE * 10);
		assert_eq!(Links::<Test>::get((0, relay(1), relay(2))).demand, 3 * GB);
		settle_epoch(0);
		// Relays 1 and 2 are paid for 3 GB on link 1 → 2 (relay 3 claimed no link).
		assert_eq!(held(1), 100_000_000 - 2 * 3 * PRICE);
	});
}

#[test]
fn fraud_a_receipt_for_another_path_moves_nothing_off_this_one() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		run_to_epoch(1);
		let honest = signed(receipt(1, 1, &path(&[1, 2]), 0, 2 * GB, 0, 1));
		// The same flow id on a path through the consumer's accomplice 4, highest nonce, no
		// octets: recorded apart, it changes nothing on 1 → 2.
		let elsewhere = signed(receipt(1, 1, &path(&[4, 5]), 0, 0, 0, u64::MAX));
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(4)), claim(0, &[], vec![elsewhere])));
		let mut net = Net::default();
		net.carry(&honest.receipt);
		net.claim_all(0, std::slice::from_ref(&honest));
		assert_eq!(Receipts::<Test>::iter().count(), 2);
		settle_epoch(0);
		assert_eq!(held(1), 100_000_000 - 2 * 2 * PRICE);
	});
}

#[test]
fn fraud_receipts_no_end_of_a_link_vouched_for_add_no_demand_to_it() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		fund(2, 100_000_000);
		run_to_epoch(1);
		// Consumer 1 really sends 2 GB over 1 → 2. Consumer 2 (with a cap that pays nothing)
		// signs 100 GB over 3 → 1 → 2, and only its accomplice 3 claims it: diluting 1 → 2
		// would make consumer 1's share of the link almost nothing.
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(consumer(2)), Some(0)));
		let honest = signed(receipt(1, 1, &path(&[1, 2]), 0, 2 * GB, 0, 1));
		let dilution = signed(receipt(2, 1, &path(&[3, 1, 2]), 0, 100 * GB, 0, 1));
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(3)), claim(0, &[], vec![dilution])));
		let mut net = Net::default();
		net.carry(&honest.receipt);
		net.claim_all(0, std::slice::from_ref(&honest));
		assert_eq!(Links::<Test>::get((0, relay(1), relay(2))).demand, 2 * GB);
		settle_epoch(0);
		assert_eq!(held(1), 100_000_000 - 2 * 2 * PRICE, "consumer 1 pays its whole share");
	});
}

#[test]
fn fraud_a_deposit_made_during_an_epoch_backs_it_from_the_next() {
	build_and_execute(|| {
		fund_now(1, 100_000_000);
		run_to_epoch(1);
		let late = signed(receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1));
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(0, &[], vec![late])));
		assert_eq!(skipped(), vec![SkipReason::BelowMinEscrow], "nothing backed epoch 0's start");
		run_to_epoch(2);
		let next = signed(receipt(1, 2, &path(&[1, 2]), 1, GB, 0, 1));
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(1, &[], vec![next])));
		assert_eq!(Receipts::<Test>::iter_prefix((1,)).count(), 1);
	});
}

#[test]
fn fraud_charges_for_an_earlier_epoch_do_not_void_the_next() {
	build_and_execute(|| {
		// Barely above the minimum: epoch 0's bill takes it below before epoch 1 is claimed.
		fund(1, MIN_ESCROW + 500);
		let first = signed(receipt(1, 1, &path(&[1, 2]), 0, 300_000, 0, 1));
		let mut net = Net::default();
		net.carry(&first.receipt);
		run_to_epoch(1);
		net.claim_all(0, std::slice::from_ref(&first));
		let second = signed(receipt(1, 2, &path(&[1, 2]), 1, 200_000, 0, 1));
		let mut net = Net::default();
		net.carry(&second.receipt);
		settle_epoch(0);
		assert!(held(1) < MIN_ESCROW, "epoch 0 was charged during epoch 1");
		run_to_epoch(2);
		net.claim_all(1, std::slice::from_ref(&second));
		assert!(skipped().is_empty(), "epoch 1 started with the minimum: its receipts count");
		settle_epoch(1);
		assert_eq!(held(1), MIN_ESCROW + 500 - 2 * 300 - 2 * 200);
	});
}

#[test]
fn fraud_a_pending_withdrawal_pays_for_its_own_epoch_first() {
	build_and_execute(|| {
		fund(1, 10 * PRICE);
		// In epoch 0 the consumer asks 3 back, then uses 7 in epoch 0 and 7 more in epoch 1.
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(consumer(1)), 3 * PRICE));
		let mut net = Net::default();
		let first = signed(receipt(1, 1, &path(&[1, 2]), 0, 3_500_000_000, 0, 1));
		net.carry(&first.receipt);
		run_to_epoch(1);
		net.claim_all(0, std::slice::from_ref(&first));
		net.next_epoch();
		let second = signed(receipt(1, 2, &path(&[1, 2]), 1, 3_500_000_000, 0, 1));
		net.carry(&second.receipt);
		run_to_epoch(2);
		net.claim_all(1, std::slice::from_ref(&second));
		settle_epoch(1);
		// Epoch 0 took the 3 on their way out first: 3 stayed to pay epoch 1's relays.
		assert_eq!(MoneyTotals::<Test>::get().charged, 10 * PRICE);
		assert_eq!(held(1), 0);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(consumer(1))));
		assert_eq!(held(1), 0, "nothing was left to withdraw");
	});
}

#[test]
fn a_newer_receipt_replaces_the_older_ones_demand() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		run_to_epoch(1);
		let p = path(&[1, 2]);
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(2)),
			claim(0, &[(relay(1), 3 * GB, 0)], vec![signed(receipt(1, 1, &p, 0, GB, 0, 1))])
		));
		assert_eq!(Links::<Test>::get((0, relay(1), relay(2))).demand, GB);
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(0, &[(relay(2), 0, 3 * GB)], vec![signed(receipt(1, 1, &p, 0, 3 * GB, 0, 2))])
		));
		assert_eq!(
			Links::<Test>::get((0, relay(1), relay(2))),
			LinkFigures { sent: Some(3 * GB), received: Some(3 * GB), demand: 3 * GB }
		);
	});
}

#[test]
fn set_params_is_root_only_and_checked() {
	build_and_execute(|| {
		let good = TicketParams { claim_window: 3, ..Default::default() };
		assert_noop!(
			Tickets::set_params(RuntimeOrigin::signed(relay(1)), good),
			sp_runtime::DispatchError::BadOrigin
		);
		let too_long = TicketParams { claim_window: EPOCH + 1, ..Default::default() };
		assert_noop!(
			Tickets::set_params(RuntimeOrigin::root(), too_long),
			Error::<Test>::InvalidParams
		);
		let one_counterparty = TicketParams { dispute_counterparties: 1, ..good };
		assert_noop!(
			Tickets::set_params(RuntimeOrigin::root(), one_counterparty),
			Error::<Test>::InvalidParams
		);
		// A slack beyond the credit window would let a link lose more than any flow may owe.
		let wide_slack = TicketParams { loss_slack_octets: good.credit_window_octets + 1, ..good };
		assert_noop!(
			Tickets::set_params(RuntimeOrigin::root(), wide_slack),
			Error::<Test>::InvalidParams
		);
		let full_slack = TicketParams { loss_slack_octets: good.credit_window_octets, ..good };
		assert_ok!(Tickets::set_params(RuntimeOrigin::root(), full_slack));
		assert_ok!(Tickets::set_params(RuntimeOrigin::root(), good));
		assert_eq!(crate::Params::<Test>::get(), good);
	});
}

#[test]
fn fraud_raising_the_claim_window_never_reopens_an_epoch_whose_settlement_began() {
	build_and_execute(|| {
		fund(1, 500_000_000);
		let mut net = Net::default();
		let receipts: Vec<_> = (0..20u8)
			.map(|flow| signed(receipt(1, flow, &path(&[1, 2, 3]), 0, GB, 0, 1)))
			.collect();
		receipts.iter().for_each(|r| net.carry(&r.receipt));
		run_to_epoch(1);
		// Relays 1 and 2 claim in time; relay 3 misses the window.
		assert_ok!(net.claim(&relay(1), 0, &receipts));
		assert_ok!(net.claim(&relay(2), 0, &receipts));
		System::set_block_number(u64::from(EPOCH + WINDOW));
		// Two steps of epoch 0's settlement: two of its twenty flows are charged.
		use crate::WeightInfo;
		let step = <() as WeightInfo>::settle_flow();
		Tickets::settle(
			step.saturating_mul(2)
				.saturating_add(<() as WeightInfo>::settle_dispute())
				.saturating_add(Weight::from_parts(1_000_000_000, 0)),
		);
		assert_eq!(Receipts::<Test>::iter_prefix((0,)).count(), 18);
		// Root raises the window to a whole epoch: epoch 0 would be open again until block 20,
		// and relay 3's receipts would put the two charged flows back to be charged again.
		let longer = TicketParams { claim_window: EPOCH, ..crate::Params::<Test>::get() };
		assert_ok!(Tickets::set_params(RuntimeOrigin::root(), longer));
		assert_noop!(net.claim(&relay(3), 0, &receipts), Error::<Test>::LateClaim);
		while NextToSettle::<Test>::get() == 0 {
			Tickets::settle(Weight::from_parts(u64::MAX / 4, u64::MAX / 4));
		}
		// Each flow paid once on the confirmed link 1 → 2: relay 1 and relay 2, 1 GB each.
		assert_eq!(MoneyTotals::<Test>::get().charged, 20 * 2 * PRICE);
		// A settled epoch stays closed too.
		assert_noop!(net.claim(&relay(3), 0, &receipts), Error::<Test>::LateClaim);
		// Later epochs do get the longer window.
		run_to_block(u64::from(2 * EPOCH + EPOCH - 1));
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(4)), claim(1, &[], vec![])));
	});
}

#[test]
fn a_removed_routers_restart_allowance_and_disputes_are_forgotten() {
	use srwan_primitives::traits::OnRouterRemoved;
	build_and_execute(|| {
		LastRestartGrace::<Test>::insert(relay(1), 3);
		LastRestartGrace::<Test>::insert(relay(2), 3);
		<Tickets as OnRouterRemoved<AccountId32>>::on_router_removed(&relay(1));
		assert!(LastRestartGrace::<Test>::get(relay(1)).is_none());
		assert!(!Disputes::<Test>::contains_key(relay(1)));
		assert_eq!(LastRestartGrace::<Test>::get(relay(2)), Some(3), "only that router's");
	});
}

// --- the fraud suite ---

#[test]
fn fraud_inflated_counters_on_one_end_leave_the_link_disputed_and_unpaid() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		let receipt = signed(receipt(1, 1, &path(&[1, 2, 3]), 0, 2 * GB, 0, 1));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(1);
		assert_ok!(net.claim(&relay(1), 0, std::slice::from_ref(&receipt)));
		// Relay 2 says it received ten times what relay 1 sent.
		assert_ok!(net.claim_tampered(&relay(2), 0, std::slice::from_ref(&receipt), |peers| {
			peers.iter_mut().find(|(p, ..)| *p == relay(1)).unwrap().1 *= 10;
		}));
		assert_ok!(net.claim(&relay(3), 0, &[receipt]));
		assert!(events().iter().any(|e| matches!(e,
			Event::LinkDisputed { from, to, sent, received, .. }
				if *from == relay(1) && *to == relay(2) && *sent == 2 * GB && *received == 20 * GB)));
		let (r1, r2, r3) = (free(&relay(1)), free(&relay(2)), free(&relay(3)));
		settle_epoch(0);
		// Link 1→2 pays nobody (relays 1 and 2 are paid on it); link 2→3 pays relay 3.
		assert_eq!(free(&relay(1)), r1);
		assert_eq!(free(&relay(2)), r2);
		let hop = 2 * PRICE;
		assert_eq!(free(&relay(3)), r3 + hop - Perbill::from_percent(5).mul_floor(hop));
		assert_eq!(held(1), 100_000_000 - hop);
	});
}

/// What [`lost_in_flight`] saw at settlement.
#[derive(Debug, PartialEq)]
struct InFlight {
	/// Link 1→2 was disputed when both ends had claimed.
	disputed: bool,
	/// Settlement withdrew that dispute (the figures agree under its parameters).
	withdrawn: bool,
	/// What relay 2 earned.
	earned: Balance,
	/// Whether the link's dispute weighs against relay 1 and relay 2 afterwards.
	counted: (bool, bool),
}

/// A 10 MB flow over 1 → 2 → 3 whose first link lost `lost` octets in flight (relay 1 counted
/// them, relay 2 never saw them) under production's 1 MiB slack, which root sets to
/// `slack_at_settlement` once every relay has claimed, if given.
fn lost_in_flight(lost: u64, slack_at_settlement: Option<u64>) -> InFlight {
	let mut outcome = None;
	build_and_execute(|| {
		crate::Params::<Test>::mutate(|p| p.loss_slack_octets = 1 << 20);
		fund(1, 100_000_000);
		let receipt = signed(receipt(1, 1, &path(&[1, 2, 3]), 0, 10_000_000, 0, 1));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(1);
		assert_ok!(net.claim(&relay(1), 0, std::slice::from_ref(&receipt)));
		// Relay 2 received and forwarded what arrived.
		let arrived = |peers: &mut Vec<(AccountId32, u64, u64)>| {
			for (peer, received, sent) in peers.iter_mut() {
				if *peer == relay(1) {
					*received -= lost;
				} else {
					*sent -= lost;
				}
			}
		};
		assert_ok!(net.claim_tampered(&relay(2), 0, std::slice::from_ref(&receipt), arrived));
		assert_ok!(net.claim_tampered(&relay(3), 0, std::slice::from_ref(&receipt), |peers| {
			peers[0].1 -= lost
		}));
		if let Some(slack) = slack_at_settlement {
			let params = TicketParams { loss_slack_octets: slack, ..crate::Params::<Test>::get() };
			assert_ok!(Tickets::set_params(RuntimeOrigin::root(), params));
		}
		let before = free(&relay(2));
		settle_epoch(0);
		let weighs_on = |router: u8, peer: u8| {
			Disputes::<Test>::get(relay(router)).iter().any(|(p, _)| *p == relay(peer))
		};
		outcome = Some(InFlight {
			disputed: events().iter().any(|e| matches!(e, Event::LinkDisputed { .. })),
			withdrawn: events().iter().any(|e| matches!(e, Event::DisputeWithdrawn { .. })),
			earned: free(&relay(2)) - before,
			counted: (weighs_on(1, 2), weighs_on(2, 1)),
		});
	});
	outcome.expect("the test ran")
}

#[test]
fn what_a_failing_path_lost_in_flight_within_the_slack_is_no_dispute_and_pays_what_arrived() {
	let slack = 1 << 20;
	let pay = |octets| {
		let hop = crate::math::hop_charge(PRICE, octets);
		hop - Perbill::from_percent(5).mul_floor(hop)
	};
	// 1 MiB of 10 MB (10.5 %, far beyond the 2 % tolerance): within the slack.
	let within = lost_in_flight(slack, None);
	assert_eq!(
		within,
		InFlight {
			disputed: false,
			withdrawn: false,
			earned: pay(10_000_000 - slack),
			counted: (false, false)
		},
		"paid what arrived"
	);
	// One octet more is a dispute: link 1→2 pays relay 2 nothing and weighs on both ends.
	let beyond = lost_in_flight(slack + 1, None);
	assert_eq!(
		beyond,
		InFlight { disputed: true, withdrawn: false, earned: 0, counted: (true, true) }
	);
}

#[test]
fn a_dispute_the_parameters_at_settlement_resolve_is_paid_and_counted_against_no_one() {
	let slack = 1 << 20;
	let hop = crate::math::hop_charge(PRICE, 10_000_000 - 2 * slack);
	// Disputed at claim time (2 MiB lost against a 1 MiB slack); root widens the slack to
	// 4 MiB before the epoch settles, as a runtime upgrade might.
	assert_eq!(
		lost_in_flight(2 * slack, Some(4 * slack)),
		InFlight {
			disputed: true,
			withdrawn: true,
			earned: hop - Perbill::from_percent(5).mul_floor(hop),
			counted: (false, false)
		}
	);
	// Narrowing it changes nothing for a dispute: still unpaid, still counted.
	let narrowed = lost_in_flight(2 * slack, Some(slack / 2));
	assert_eq!((narrowed.withdrawn, narrowed.earned, narrowed.counted), (false, 0, (true, true)));
}

#[test]
fn fraud_colluding_pair_inflating_both_ends_is_capped_by_the_receipts() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		let receipt = signed(receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(1);
		let inflate = |peers: &mut Vec<(AccountId32, u64, u64)>| {
			for (_, i, o) in peers.iter_mut() {
				*i *= 50;
				*o *= 50;
			}
		};
		assert_ok!(net.claim_tampered(&relay(1), 0, std::slice::from_ref(&receipt), inflate));
		assert_ok!(net.claim_tampered(&relay(2), 0, &[receipt], inflate));
		settle_epoch(0);
		// Both ends agree on 50 GB, but the consumer signed for 1 GB: 1 GB is paid, per hop.
		assert_eq!(held(1), 100_000_000 - 2 * PRICE);
	});
}

#[test]
fn fraud_consumer_colluding_with_one_hop_cannot_get_an_honest_neighbour_quarantined() {
	build_and_execute(|| {
		fund(1, 500_000_000);
		// Relay 2 (honest) sits between relays 1, 3 and 4; relay 1 lies about its link with 2
		// in every epoch, for the consumer that pays it.
		let mut net = Net::default();
		for n in [1, 3, 4] {
			net.link(&relay(2), &relay(n));
		}
		for epoch in 0..4u32 {
			net.next_epoch();
			let receipt = signed(receipt(1, epoch as u8, &path(&[1, 2, 3]), epoch, GB, 0, 1));
			net.carry(&receipt.receipt);
			run_to_epoch(epoch + 1);
			for relay_id in net.counters.keys() {
				if *relay_id == relay(1) {
					assert_ok!(net.claim_tampered(
						relay_id,
						epoch,
						std::slice::from_ref(&receipt),
						|peers| peers[0].2 += 5 * GB
					));
				} else {
					assert_ok!(net.claim(relay_id, epoch, std::slice::from_ref(&receipt)));
				}
			}
		}
		settle_epoch(3);
		let counted = events()
			.iter()
			.filter(|e| matches!(e, Event::DisputeJudged { forgiven: false, .. }))
			.count();
		assert_eq!(counted, 4, "one dispute per epoch, judged in settlement");
		assert!(reported().is_empty(), "one disagreeing neighbour quarantines nobody");
		assert_eq!(Disputes::<Test>::get(relay(2)).len(), 1);
	});
}

/// Consumer 1 (funded) sends a GB over `[n, 1]` for every `n` in `senders` in `epoch`: the
/// receipts relay 1 and its peers hold, and the honest counters of those links.
fn traffic_into_relay_1(
	epoch: EpochIndex,
	senders: &[u8],
) -> (Net, Vec<SignedReceipt<AccountId32>>) {
	let mut net = Net::default();
	let receipts: Vec<_> =
		senders.iter().map(|n| signed(receipt(1, *n, &path(&[*n, 1]), epoch, GB, 0, 1))).collect();
	receipts.iter().for_each(|r| net.carry(&r.receipt));
	(net, receipts)
}

#[test]
fn a_relay_disagreeing_with_three_distinct_peers_is_reported_for_quarantine() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		let (net, receipts) = traffic_into_relay_1(0, &[2, 3, 4]);
		run_to_epoch(1);
		// Relay 1 says it received three times what each peer sent it.
		assert_ok!(net.claim_tampered(&relay(1), 0, &receipts, |peers| {
			peers.iter_mut().for_each(|p| p.1 *= 3);
		}));
		for n in [2, 3, 4] {
			assert_ok!(net.claim(&relay(n), 0, &receipts));
		}
		assert_eq!(Disputed::<Test>::iter_prefix((0,)).count(), 3);
		assert!(reported().is_empty(), "disputes are judged once every claim is in");
		settle_epoch(0);
		assert_eq!(reported(), vec![relay(1)]);
		assert!(
			events().contains(&Event::ReportedForDisputes { router: relay(1), counterparties: 3 })
		);
		// Each honest peer disagreed with one router only.
		for n in [2, 3, 4] {
			assert_eq!(Disputes::<Test>::get(relay(n)).len(), 1);
		}
	});
}

#[test]
fn fraud_a_liar_hiding_its_disputes_among_agreements_on_dust_is_quarantined() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		for n in 10..=14u8 {
			register(&relay(n));
		}
		// Relay 1 carries receipted traffic from honest relays 2..=5 and inflates each link;
		// with colluders 10..=14 it agrees on a little unreceipted traffic.
		let (mut net, receipts) = traffic_into_relay_1(0, &[2, 3, 4, 5]);
		for n in 10..=14u8 {
			net.link(&relay(1), &relay(n));
			net.counters.get_mut(&relay(1)).unwrap().get_mut(&relay(n)).unwrap().0 = 1_000;
			net.counters.get_mut(&relay(n)).unwrap().get_mut(&relay(1)).unwrap().1 = 1_000;
		}
		run_to_epoch(1);
		assert_ok!(net.claim_tampered(&relay(1), 0, &receipts, |peers| {
			peers.iter_mut().filter(|p| p.1 == GB).for_each(|p| p.1 *= 2);
		}));
		for relay_id in net.counters.keys().filter(|r| **r != relay(1)) {
			assert_ok!(net.claim(relay_id, 0, &receipts));
		}
		settle_epoch(0);
		assert_eq!(reported(), vec![relay(1)], "five agreements on dust hide nothing");
	});
}

/// Relay 1 has honest peers `honest` (a GB each of receipted traffic, agreeing) and `sybils`
/// that each push `sybil_octets` of receipted traffic through it and then claim ten times what
/// they sent; returns whether relay 1 was reported after the epoch settles.
fn sybil_attack(epoch: EpochIndex, honest: &[u8], sybils: &[u8], sybil_octets: u64) -> bool {
	fund(1, 100_000_000);
	fund(2, 100_000_000);
	let mut net = Net::default();
	let mut receipts: Vec<_> =
		honest.iter().map(|n| signed(receipt(1, *n, &path(&[*n, 1]), epoch, GB, 0, 1))).collect();
	// The Sybils' own consumer signs for their traffic.
	receipts.extend(
		sybils.iter().map(|n| signed(receipt(2, *n, &path(&[*n, 1]), epoch, sybil_octets, 0, 1))),
	);
	receipts.iter().for_each(|r| net.carry(&r.receipt));
	run_to_epoch(epoch + 1);
	for relay_id in net.counters.keys() {
		if sybils.iter().any(|n| relay(*n) == *relay_id) {
			assert_ok!(net.claim_tampered(relay_id, epoch, &receipts, |peers| {
				peers.iter_mut().for_each(|p| p.2 *= 10);
			}));
		} else {
			assert_ok!(net.claim(relay_id, epoch, &receipts));
		}
	}
	settle_epoch(epoch);
	reported().contains(&relay(1))
}

#[test]
fn fraud_three_young_sybils_cannot_quarantine_an_honest_router() {
	build_and_execute(|| {
		crate::Params::<Test>::mutate(|p| p.min_age_epochs = 2);
		for n in [7, 8, 9] {
			set_registered_epoch(&relay(n), 1);
		}
		// Young Sybils count against no one, however much they push.
		assert!(!sybil_attack(2, &[2, 3, 4, 5, 6], &[7, 8, 9], 10 * GB));
		assert!(Disputes::<Test>::get(relay(1)).is_empty());
	});
}

#[test]
fn fraud_three_aged_sybils_cannot_quarantine_an_honest_router_with_six_peers() {
	build_and_execute(|| {
		register(&relay(10));
		// Aged Sybils push a GB each through relay 1, which carries 6 GB for honest peers.
		assert!(!sybil_attack(0, &[2, 3, 4, 5, 6, 10], &[7, 8, 9], GB));
		assert_eq!(Disputes::<Test>::get(relay(1)).len(), 3, "counted, but outweighed");
	});
}

#[test]
fn fraud_three_aged_sybils_against_a_router_with_two_peers() {
	build_and_execute(|| {
		// The limit case, as it turns out: aged Sybils that push less real traffic through
		// the router than its two honest peers do cannot quarantine it...
		assert!(!sybil_attack(0, &[2, 3], &[7, 8, 9], GB / 2));
		// ...but Sybils that push more real, receipted traffic through it than all its
		// honest peers together can: its own figures weigh only what really crossed.
		assert!(sybil_attack(1, &[2, 3], &[7, 8, 9], GB));
	});
}

#[test]
fn the_production_loss_slack_changes_no_sybil_verdict() {
	let production_slack = || crate::Params::<Test>::mutate(|p| p.loss_slack_octets = 1 << 20);
	build_and_execute(|| {
		production_slack();
		register(&relay(10));
		assert!(!sybil_attack(0, &[2, 3, 4, 5, 6, 10], &[7, 8, 9], GB));
		assert_eq!(Disputes::<Test>::get(relay(1)).len(), 3, "counted, but outweighed");
	});
	build_and_execute(|| {
		production_slack();
		assert!(!sybil_attack(0, &[2, 3], &[7, 8, 9], GB / 2));
		assert!(sybil_attack(1, &[2, 3], &[7, 8, 9], GB));
	});
	build_and_execute(|| {
		production_slack();
		// Sybils lying by less than the slack (100 kB sent, 1 MB claimed) dispute nothing
		// (and a link pays the smaller figure).
		assert!(!sybil_attack(0, &[2, 3], &[7, 8, 9], 100_000));
		assert!(Disputes::<Test>::get(relay(1)).is_empty());
		assert!(!events().iter().any(|e| matches!(e, Event::LinkDisputed { .. })));
	});
}

#[test]
fn fraud_a_quarantine_imposed_after_an_epoch_never_unpays_it() {
	build_and_execute(|| {
		let r2 = free(&relay(2));
		one_honest_epoch();
		// Relay 2 is quarantined during epoch 1, before epoch 0 settles.
		quarantine(&relay(2));
		settle_epoch(0);
		let hop = 3 * PRICE;
		assert_eq!(free(&relay(2)), r2 + hop - Perbill::from_percent(5).mul_floor(hop));
	});
}

/// Relay 1 linked with relays 2, 3 and 4, each of which sent relay 1 a receipted GB in `epoch`;
/// relay 1 restarted and lost its count of it. Claims `epoch`: relay 1 says whether it
/// `declares` the restart, and `witnesses` saw two boot values from it.
fn crash_epoch(epoch: EpochIndex, declares: bool, witnesses: &[u8]) {
	fund(1, 10_000_000);
	let receipts: Vec<_> = [2u8, 3, 4]
		.iter()
		.map(|n| signed(receipt(1, *n, &path(&[*n, 1]), epoch, GB, 0, 1)))
		.collect();
	run_to_epoch(epoch + 1);
	let lost = [(relay(2), 0, 0), (relay(3), 0, 0), (relay(4), 0, 0)];
	assert_ok!(Tickets::claim(
		RuntimeOrigin::signed(relay(1)),
		claim_with_boots(epoch, declares, &lost, &Default::default(), receipts.clone())
	));
	for n in [2u8, 3, 4] {
		let mut boots = BTreeMap::new();
		if witnesses.contains(&n) {
			boots.insert(relay(1), vec![BOOT, BOOT + 30]);
		}
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(n)),
			claim_with_boots(epoch, false, &[(relay(1), 0, GB)], &boots, receipts.clone())
		));
	}
	settle_epoch(epoch);
}

#[test]
fn an_honest_crash_that_a_peer_corroborates_counts_against_no_one() {
	build_and_execute(|| {
		crash_epoch(0, true, &[3]);
		assert!(SawRestart::<Test>::iter().next().is_none(), "pruned with the epoch");
		assert!(Claimed::<Test>::iter().next().is_none(), "pruned with the epoch");
		assert!(events().contains(&Event::RestartForgiven { epoch: 0, router: relay(1) }));
		let forgiven = events()
			.iter()
			.filter(|e| matches!(e, Event::DisputeJudged { forgiven: true, .. }))
			.count();
		assert_eq!(forgiven, 3);
		assert!(reported().is_empty());
		assert!(Disputes::<Test>::iter().next().is_none());
		assert_eq!(LastRestartGrace::<Test>::get(relay(1)), Some(0));
	});
}

#[test]
fn a_forgiven_link_is_paid_at_the_lower_figure() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		// Relay 2 restarted during epoch 0 and lost a tenth of its count of link 1 → 2.
		let r = signed(receipt(1, 1, &path(&[1, 2]), 0, 10 * GB, 0, 1));
		run_to_epoch(1);
		let mut saw = BTreeMap::new();
		saw.insert(relay(2), vec![BOOT, BOOT + 30]);
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim_with_boots(0, false, &[(relay(2), 0, 10 * GB)], &saw, vec![r.clone()])
		));
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(2)),
			claim_with_boots(0, true, &[(relay(1), 9 * GB, 0)], &Default::default(), vec![r])
		));
		settle_epoch(0);
		// Both hops paid on the 9 GB both ends vouch for.
		assert_eq!(held(1), 100_000_000 - 2 * 9 * PRICE);
		assert!(reported().is_empty());
	});
}

#[test]
fn fraud_an_uncorroborated_restart_is_not_forgiven() {
	build_and_execute(|| {
		// Relay 1 says it restarted; no peer saw a second boot value: nothing is forgiven, its
		// links stay unpaid. (Its lower figure weighs nothing against its peers, as an honest
		// router's figure weighs nothing against inflating Sybils: it loses its own pay and its
		// peers', and is not reported for it.)
		let before: Vec<Balance> = [2u8, 3, 4].iter().map(|n| free(&relay(*n))).collect();
		crash_epoch(0, true, &[]);
		assert!(!events().iter().any(|e| matches!(e, Event::RestartForgiven { .. })));
		let unforgiven = events()
			.iter()
			.filter(|e| matches!(e, Event::DisputeJudged { forgiven: false, .. }))
			.count();
		assert_eq!(unforgiven, 3);
		let after: Vec<Balance> = [2u8, 3, 4].iter().map(|n| free(&relay(*n))).collect();
		assert_eq!(after, before, "disputed links are unpaid");
		assert!(reported().is_empty());
		// A peer's word alone (no declaration) forgives nothing either.
		crash_epoch(1, false, &[2, 3, 4]);
		assert!(!events().iter().any(|e| matches!(e, Event::RestartForgiven { .. })));
	});
}

#[test]
fn fraud_a_crash_looping_relay_is_forgiven_once_per_grace_period() {
	build_and_execute(|| {
		let grace = crate::Params::<Test>::get().restart_grace_epochs;
		crash_epoch(0, true, &[2, 3, 4]);
		assert!(events().contains(&Event::RestartForgiven { epoch: 0, router: relay(1) }));
		// Declaring restarts every epoch is no escape: the next ones are not forgiven.
		crash_epoch(1, true, &[2, 3, 4]);
		assert!(!events().contains(&Event::RestartForgiven { epoch: 1, router: relay(1) }));
		assert_eq!(LastRestartGrace::<Test>::get(relay(1)), Some(0));
		// After the grace period, a corroborated restart is forgiven again.
		crash_epoch(grace, true, &[2]);
		assert!(events().contains(&Event::RestartForgiven { epoch: grace, router: relay(1) }));
		assert_eq!(LastRestartGrace::<Test>::get(relay(1)), Some(grace));
	});
}

#[test]
fn fraud_consumer_withdrawing_during_the_delay_still_pays() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		let receipt = signed(receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		// The consumer asks for everything back while its traffic is still unsettled.
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(consumer(1)), 100_000_000));
		run_to_epoch(1);
		net.claim_all(0, &[receipt]);
		run_to_block(14);
		assert_noop!(
			Escrow::withdraw(RuntimeOrigin::signed(consumer(1))),
			pallet_escrow::Error::<Test>::TooEarly
		);
		run_to_block(21);
		// The delay has passed and epoch 0 settled: the charge was taken first.
		let before = free(&consumer(1));
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(consumer(1))));
		assert_eq!(free(&consumer(1)), before + 100_000_000 - 2 * PRICE);
	});
}

#[test]
fn withdrawal_waits_for_settlement_even_after_the_delay() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(consumer(1)), 1_000));
		// Block 21 is past the 20-block delay, but settlement is held up by a tiny budget.
		System::set_block_number(21);
		assert_noop!(
			Escrow::withdraw(RuntimeOrigin::signed(consumer(1))),
			pallet_escrow::Error::<Test>::UnsettledEpochs
		);
		Tickets::settle(Weight::MAX);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(consumer(1))));
	});
}

#[test]
fn fraud_escrow_exhausted_mid_settlement_pays_every_relay_pro_rata() {
	build_and_execute(|| {
		// The bill will be 3 × 3 × 10^6 = 9 × 10^6; the escrow holds a third of it.
		fund(1, 3_000_000);
		let before: Vec<Balance> = (1..=3).map(|n| free(&relay(n))).collect();
		let receipt = signed(receipt(1, 1, &path(&[1, 2, 3]), 0, 2 * GB, GB, 7));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(1);
		net.claim_all(0, &[receipt]);
		settle_epoch(0);
		assert!(events().contains(&Event::ChargeShortfall {
			epoch: 0,
			consumer: consumer(1),
			owed: 9 * PRICE,
			payable: 3_000_000,
		}));
		let share = PRICE; // 3 × 10^6 × 3 × 10^6 / 9 × 10^6
		for (n, before) in (1..=3).zip(before) {
			assert_eq!(free(&relay(n)), before + share - Perbill::from_percent(5).mul_floor(share));
		}
		assert_eq!(held(1), 0);
	});
}

#[test]
fn the_spending_cap_limits_the_bill_like_an_empty_escrow() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		// Set in epoch 0, in force from epoch 1.
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(consumer(1)), Some(900_000)));
		run_to_epoch(1);
		let receipt = signed(receipt(1, 1, &path(&[1, 2, 3]), 1, 2 * GB, GB, 7));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(2);
		net.claim_all(1, &[receipt]);
		settle_epoch(1);
		assert_eq!(held(1), 100_000_000 - 900_000);
		assert_eq!(MoneyTotals::<Test>::get().charged, 900_000);
	});
}

#[test]
fn fraud_a_consumer_cannot_void_its_bill_by_zeroing_its_cap_and_removing_its_key() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		let agent = sp_core::sr25519::Pair::from_seed(&[9; 32]);
		assert_ok!(Escrow::set_receipt_key(
			RuntimeOrigin::signed(consumer(1)),
			Some(agent.public().0)
		));
		run_to_epoch(1);
		// Epoch 1's traffic, receipted by the consumer's agent.
		let used = sign_with(receipt(1, 1, &path(&[1, 2, 3]), 1, 2 * GB, GB, 7), &agent);
		let mut net = Net::default();
		net.carry(&used.receipt);
		run_to_epoch(2);
		// Before the relays claim, the consumer zeroes its cap and removes its key.
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(consumer(1)), Some(0)));
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(consumer(1)), None));
		net.claim_all(1, std::slice::from_ref(&used));
		assert!(skipped().is_empty(), "the key in force for epoch 1 signed it");
		let before: Vec<Balance> = (1..=3).map(|n| free(&relay(n))).collect();
		settle_epoch(1);
		let hop = 3 * PRICE;
		for (n, before) in (1..=3).zip(before) {
			assert_eq!(free(&relay(n)), before + hop - Perbill::from_percent(5).mul_floor(hop));
		}
		assert_eq!(held(1), 100_000_000 - 3 * hop, "paid in full");
		// From epoch 3 on (the epoch after the change) its agent's receipts no longer count.
		run_to_epoch(4);
		let late = sign_with(receipt(1, 2, &path(&[1, 2]), 3, GB, 0, 1), &agent);
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(3, &[], vec![late])));
		assert_eq!(skipped(), vec![SkipReason::BadSignature]);
	});
}

#[test]
fn fraud_a_pending_withdrawal_backs_no_later_epoch() {
	build_and_execute(|| {
		fund(1, 10 * PRICE);
		// In epoch 0 the consumer asks for 8 × PRICE back: from epoch 1 on only 2 × PRICE
		// backs its traffic, though all 10 stay on hold until the request's epoch settles.
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(consumer(1)), 8 * PRICE));
		run_to_epoch(1);
		let receipt = signed(receipt(1, 1, &path(&[1, 2, 3]), 1, 2 * GB, GB, 7));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(2);
		net.claim_all(1, &[receipt]);
		settle_epoch(1);
		// The bill was 3 hops × 3 × PRICE; 2 × PRICE was available.
		assert!(events().contains(&Event::ChargeShortfall {
			epoch: 1,
			consumer: consumer(1),
			owed: 9 * PRICE,
			payable: 2 * PRICE,
		}));
		// Pro-rating rounds each share down: at most 2 × PRICE was taken.
		let charged = MoneyTotals::<Test>::get().charged;
		assert!(charged <= 2 * PRICE && charged > 2 * PRICE - 10, "charged {charged}");
		assert_eq!(held(1), 10 * PRICE - charged, "the pending amount was not touched");
		let before = free(&consumer(1));
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(consumer(1))));
		assert_eq!(free(&consumer(1)), before + 8 * PRICE);
	});
}

#[test]
fn fraud_a_price_change_mid_epoch_does_not_reprice_the_epoch() {
	build_and_execute(|| {
		// Relay 2 raises its price during epoch 0: the exchange schedules it for epoch 1.
		set_price(&relay(2), 1, Some(PRICE * 100));
		let r2 = free(&relay(2));
		one_honest_epoch();
		settle_epoch(0);
		let hop = 3 * PRICE;
		assert_eq!(free(&relay(2)), r2 + hop - Perbill::from_percent(5).mul_floor(hop));
	});
}

#[test]
fn the_receipts_max_price_caps_every_hop() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		set_price(&relay(2), 0, Some(PRICE * 100));
		let mut r = receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1);
		r.max_price_per_gb = PRICE / 2;
		let receipt = signed(r);
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(1);
		net.claim_all(0, &[receipt]);
		settle_epoch(0);
		assert_eq!(held(1), 100_000_000 - 2 * (PRICE / 2));
	});
}

#[test]
fn the_consumers_own_quarantined_and_unpriced_routers_are_not_paid() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		// Consumer 1 runs its own ingress router; relay 3 is not for sale; relay 4 was
		// quarantined before epoch 1 began (its claim is refused); relay 2 is paid.
		register(&consumer(1));
		set_price(&relay(3), 0, None);
		quarantine(&relay(4));
		run_to_epoch(1);
		let receipt =
			signed(receipt(1, 1, &[consumer(1), relay(2), relay(3), relay(4)], 1, GB, 0, 1));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(2);
		for relay_id in net.counters.keys() {
			let result = net.claim(relay_id, 1, std::slice::from_ref(&receipt));
			if *relay_id == relay(4) {
				assert_eq!(result, Err(Error::<Test>::Quarantined.into()));
			} else {
				assert_ok!(result);
			}
		}
		let before: Vec<Balance> = (2..=4).map(|n| free(&relay(n))).collect();
		settle_epoch(1);
		assert_eq!(held(1), 100_000_000 - PRICE);
		assert_eq!(free(&relay(2)), before[0] + PRICE - Perbill::from_percent(5).mul_floor(PRICE));
		assert_eq!(free(&relay(3)), before[1]);
		assert_eq!(free(&relay(4)), before[2]);
	});
}

#[test]
fn an_unconfirmed_link_is_unpaid() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		let receipt = signed(receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(1);
		assert_ok!(net.claim(&relay(1), 0, &[receipt]));
		settle_epoch(0);
		assert_eq!(held(1), 100_000_000, "relay 2 never claimed: nothing confirms the link");
		assert_eq!(crate::SettlementStage::<Test>::get(), Stage::Disputes);
	});
}

#[test]
fn genesis_hash_is_block_zeros_hash() {
	build_and_execute(|| {
		let zero = System::block_hash(0);
		assert_eq!(Tickets::genesis_hash(), zero.0);
	});
}

// --- claims in parts ---

#[test]
fn receipts_that_do_not_fit_one_claim_are_added_in_parts_and_paid_the_same() {
	build_and_execute(|| {
		fund(1, 500_000_000);
		let receipts: Vec<_> =
			(0..6u8).map(|flow| signed(receipt(1, flow, &path(&[1, 2]), 0, GB, 0, 1))).collect();
		let mut net = Net::default();
		receipts.iter().for_each(|r| net.carry(&r.receipt));
		let before = (free(&relay(1)), free(&relay(2)));
		run_to_epoch(1);
		// Relay 1 claims its counters with half its receipts, and adds the rest in a part.
		let peers = net.peers(&relay(1));
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(0, &peers, receipts[..3].to_vec())
		));
		let rest: Vec<_> = receipts[3..].to_vec();
		let info = Tickets::claim_more_receipts(
			RuntimeOrigin::signed(relay(1)),
			0,
			rest.try_into().unwrap(),
		)
		.expect("part accepted");
		let created = QueuedWork { flows: 3, payees: 6, links_touched: 6, ..Default::default() };
		assert_eq!(info.actual_weight, Some(Tickets::claim_actual_weight(0, 3, created)));
		assert!(events().contains(&Event::ReceiptsAdded {
			relay: relay(1),
			epoch: 0,
			receipts: 3,
			skipped: 0
		}));
		assert_ok!(net.claim(&relay(2), 0, &receipts));
		settle_epoch(0);

		// Both hops are paid for all six flows, as if they had come in one claim.
		let hop = 6 * PRICE;
		let paid = hop - Perbill::from_percent(5).mul_floor(hop);
		assert_eq!((free(&relay(1)), free(&relay(2))), (before.0 + paid, before.1 + paid));
		assert_eq!(ClaimedReceipts::<Test>::iter().count(), 0, "gone once settled");
	});
}

#[test]
fn fraud_parts_need_the_claim_stay_within_the_receipt_bound_and_the_window() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		let one = signed(receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 1));
		let part = |n: usize| -> frame_support::BoundedVec<_, _> {
			vec![one.clone(); n].try_into().expect("within the bound")
		};
		let add = |n: usize| {
			Tickets::claim_more_receipts(RuntimeOrigin::signed(relay(1)), 0, part(n))
				.map_err(|e| e.error)
		};
		run_to_epoch(1);
		assert_noop!(add(1), Error::<Test>::NotClaimed);
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(0, &[(relay(2), 0, GB)], vec![one.clone()])
		));
		// The bound counts the claim's receipts and every part's.
		let max = srwan_primitives::receipts::MAX_CLAIM_RECEIPTS as usize;
		assert_ok!(add(max - 1));
		assert_eq!(ClaimedReceipts::<Test>::get(0, relay(1)), max as u32);
		assert_noop!(add(1), Error::<Test>::TooManyReceipts);
		// After the window nothing more is added.
		run_to_block(u64::from(EPOCH + WINDOW));
		assert_noop!(add(0), Error::<Test>::LateClaim);
	});
}

// --- weights: a claim pays for the settlement it queues ---

/// What `relay` claiming `epoch` honestly weighed once dispatched, and what it was declared at.
fn claim_weights(
	net: &Net,
	relay: &AccountId32,
	epoch: EpochIndex,
	receipts: &[SignedReceipt<AccountId32>],
) -> (Weight, Weight) {
	let peers = net.peers(relay);
	let mine: Vec<_> =
		receipts.iter().filter(|r| r.receipt.path.contains(relay)).cloned().collect();
	let routers = mine.iter().map(|r| r.receipt.path.len() as u32).sum();
	let declared = Tickets::claim_weight(peers.len() as u32, mine.len() as u32, routers);
	let info = Tickets::claim(RuntimeOrigin::signed(relay.clone()), claim(epoch, &peers, mine))
		.expect("honest claim");
	(info.actual_weight.expect("a claim reports what it weighed"), declared)
}

#[test]
fn an_honest_claim_is_charged_only_for_the_records_it_created() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		let receipt = signed(receipt(1, 1, &path(&[1, 2, 3]), 0, 2 * GB, GB, 7));
		let mut net = Net::default();
		net.carry(&receipt.receipt);
		run_to_epoch(1);
		let receipts = std::slice::from_ref(&receipt);
		let weighs = Tickets::claim_actual_weight;

		// Relay 1 claims first: both records of its link with 2, the flow and its payees.
		let (first, declared) = claim_weights(&net, &relay(1), 0, receipts);
		let created =
			QueuedWork { links: 2, flows: 1, payees: 3, links_touched: 4, ..Default::default() };
		assert_eq!(first, weighs(1, 1, created));
		assert!(first.all_lt(declared));
		// Relay 2 creates only its link with 3; its receipt merges into relay 1's record.
		let (second, _) = claim_weights(&net, &relay(2), 0, receipts);
		assert_eq!(
			second,
			weighs(2, 1, QueuedWork { links: 2, links_touched: 4, ..Default::default() })
		);
		// Relay 3 creates nothing: it pays for its own work and its claim mark.
		let (third, _) = claim_weights(&net, &relay(3), 0, receipts);
		assert_eq!(third, weighs(1, 1, QueuedWork { links_touched: 4, ..Default::default() }));
		assert!(third.all_lt(first));
	});
}

#[test]
fn a_claim_that_finds_disputes_is_charged_for_judging_them() {
	build_and_execute(|| {
		let mut net = Net::default();
		net.link(&relay(1), &relay(2));
		run_to_epoch(1);
		assert_ok!(net.claim(&relay(1), 0, &[]));
		// Relay 2 says it received 5 GB from relay 1 and sent 5 GB to it: both links disagree.
		let lies = vec![(relay(1), 5 * GB, 5 * GB)];
		let info = Tickets::claim(RuntimeOrigin::signed(relay(2)), claim(0, &lies, vec![]))
			.expect("claim accepted");
		let found = QueuedWork { disputes: 2, ..Default::default() };
		assert_eq!(info.actual_weight, Some(Tickets::claim_actual_weight(1, 0, found)));
		assert_eq!(Disputed::<Test>::iter().count(), 2);
	});
}

/// Every piece of an epoch's settlement is charged to exactly one of its claims: in an epoch
/// with shared and merged flows, two consumers, a disputed link and a corroborated restart, the
/// settlement the hook does is at most what the claims were charged for (beyond the constant
/// cost of moving through the stages once).
#[test]
fn an_epochs_claims_together_pay_for_all_of_its_settlement() {
	build_and_execute(|| {
		use crate::WeightInfo;
		fund(1, 500_000_000);
		fund(2, 500_000_000);
		let receipts: Vec<_> = [
			receipt(1, 1, &path(&[1, 2, 3]), 0, 2 * GB, GB, 1),
			receipt(1, 2, &path(&[2, 3, 4]), 0, GB, GB, 1),
			receipt(1, 3, &path(&[1, 4]), 0, GB, 0, 1),
			receipt(2, 1, &path(&[3, 4, 1]), 0, GB, 2 * GB, 1),
		]
		.into_iter()
		.map(signed)
		.collect();
		let mut net = Net::default();
		receipts.iter().for_each(|r| net.carry(&r.receipt));
		run_to_epoch(1);

		let mut charged = Weight::zero();
		for relay_n in 1..=4u8 {
			let relay = relay(relay_n);
			let mut peers = net.peers(&relay);
			// Relay 4 inflates what it received from 3 (a dispute); relay 1 restarted and
			// relay 2 saw two of its boots (a corroborated restart).
			if relay_n == 4 {
				peers.iter_mut().filter(|(p, ..)| *p == self::relay(3)).for_each(|p| p.1 += GB);
			}
			let boots: BTreeMap<_, _> = if relay_n == 2 {
				[(self::relay(1), vec![BOOT, BOOT + 1])].into()
			} else {
				BTreeMap::new()
			};
			let mine: Vec<_> =
				receipts.iter().filter(|r| r.receipt.path.contains(&relay)).cloned().collect();
			let r = mine.len() as u32;
			let ticket = claim_with_boots(0, relay_n == 1, &peers, &boots, mine);
			let info = Tickets::claim(RuntimeOrigin::signed(relay), ticket).expect("claim");
			// The full own weight: a claim refunded writes it did not do was charged at least
			// this for settlement, so `charged` can only come out low (the check only stricter).
			let most = r * crate::MAX_LINKS_TOUCHED_PER_RECEIPT;
			let own = Tickets::claim_own_weight(peers.len() as u32, r, most);
			let actual = info.actual_weight.expect("actual weight");
			charged = charged
				.saturating_add(actual.saturating_sub(own).saturating_div(SETTLEMENT_MARKUP));
		}
		assert!(Disputed::<Test>::iter().count() > 0, "the epoch has a dispute to judge");
		assert!(SawRestart::<Test>::iter().count() > 0, "and a corroborated restart");

		run_to_block(u64::from(EPOCH + WINDOW));
		System::set_block_number(u64::from(EPOCH + WINDOW + 1));
		let used = Tickets::settle(Budget::get());
		assert_eq!(NextToSettle::<Test>::get(), 1, "the epoch settled in the block");
		let stages = <() as WeightInfo>::settle_dispute()
			.saturating_add(Tickets::settle_flow_weight())
			.saturating_add(<() as WeightInfo>::settle_verdict())
			.saturating_add(<() as WeightInfo>::settle_payout())
			.saturating_add(<() as WeightInfo>::settle_cleanup());
		assert!(
			used.ref_time() <= charged.saturating_add(stages).ref_time(),
			"settlement used {used:?}, its claims paid for {charged:?}"
		);
		assert!(events().iter().any(|e| matches!(e, Event::Paid { .. })));
	});
}

// --- storage migration ---

#[test]
fn version_1_state_migrates_to_per_epoch_claims_once() {
	use crate::migrations::{v1, V1ToV2};
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	build_and_execute(|| {
		// A chain at version 1 in epoch 1: relay 1 claimed epoch 0 with cumulative counters
		// (and was marked rebooted), and a receipt of epoch 0 waits for settlement.
		run_to_epoch(1);
		let defaults = TicketParams::default();
		frame_support::storage::unhashed::put(
			&crate::Params::<Test>::hashed_key(),
			&v1::TicketParams {
				claim_window: WINDOW,
				loss_tolerance_ppm: defaults.loss_tolerance_ppm,
				dispute_counterparties: defaults.dispute_counterparties,
				dispute_window: defaults.dispute_window,
				infra_share: defaults.infra_share,
			},
		);
		v1::Counters::<Test>::insert(
			relay(1),
			v1::RelayCounters {
				epoch: 0,
				boot_time: BOOT,
				peers: vec![v1::PeerOctets { peer: relay(2), in_octets: 5, out_octets: 7 }]
					.try_into()
					.unwrap(),
			},
		);
		v1::Rebooted::<Test>::insert(0, relay(1), ());
		let old = receipt(1, 1, &path(&[1, 2]), 0, GB, 0, 4);
		v1::Receipts::<Test>::insert((0, consumer(1), old.flow), old.clone());
		StorageVersion::new(1).put::<Tickets>();

		#[cfg(feature = "try-runtime")]
		assert_ok!(V1ToV2::<Test>::try_on_runtime_upgrade(true));
		#[cfg(not(feature = "try-runtime"))]
		V1ToV2::<Test>::on_runtime_upgrade();

		assert_eq!(Tickets::on_chain_storage_version(), StorageVersion::new(2));
		let params = crate::Params::<Test>::get();
		assert_eq!(params.claim_window, WINDOW);
		assert_eq!(params.restart_grace_epochs, defaults.restart_grace_epochs);
		assert_eq!(params.min_age_epochs, defaults.min_age_epochs);
		assert!(v1::Counters::<Test>::iter().next().is_none(), "cumulative counters gone");
		assert!(v1::Rebooted::<Test>::iter().next().is_none(), "reboot marks gone");
		assert_eq!(Claimed::<Test>::get(0, relay(1)), Some(false), "epoch 0 stays claimed");
		let records: Vec<_> = Receipts::<Test>::iter().collect();
		assert_eq!(records.len(), 1);
		let ((epoch, who, flow, hash), record) = &records[0];
		assert_eq!((*epoch, who, *flow), (0, &consumer(1), old.flow));
		assert_eq!(*hash, crate::path_hash(&old.path));
		assert_eq!(record.receipt, old);
		assert_eq!(record.on_link(0).map(|f| f.fwd_octets), Some(GB), "counted on every link");
		// A second run does nothing: relay 1 still cannot claim epoch 0 twice.
		V1ToV2::<Test>::on_runtime_upgrade();
		assert_noop!(
			Tickets::claim(RuntimeOrigin::signed(relay(1)), claim(0, &[], vec![])),
			Error::<Test>::AlreadyClaimed
		);
	});
}

#[test]
fn version_2_parameters_gain_the_loss_slack_once() {
	use crate::migrations::{v2, V2ToV3};
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	build_and_execute(|| {
		let old = v2::TicketParams {
			claim_window: WINDOW,
			loss_tolerance_ppm: 30_000,
			dispute_counterparties: 4,
			dispute_window: 7,
			infra_share: Perbill::from_percent(3),
			restart_grace_epochs: 2,
			min_age_epochs: 1,
			credit_window_octets: 1 << 24,
		};
		frame_support::storage::unhashed::put(&crate::Params::<Test>::hashed_key(), &old);
		StorageVersion::new(2).put::<Tickets>();

		#[cfg(feature = "try-runtime")]
		assert_ok!(V2ToV3::<Test>::try_on_runtime_upgrade(true));
		#[cfg(not(feature = "try-runtime"))]
		V2ToV3::<Test>::on_runtime_upgrade();

		assert_eq!(Tickets::on_chain_storage_version(), StorageVersion::new(3));
		let expected = TicketParams {
			claim_window: WINDOW,
			loss_tolerance_ppm: 30_000,
			dispute_counterparties: 4,
			dispute_window: 7,
			infra_share: Perbill::from_percent(3),
			restart_grace_epochs: 2,
			min_age_epochs: 1,
			credit_window_octets: 1 << 24,
			loss_slack_octets: 1 << 20,
		};
		assert_eq!(crate::Params::<Test>::get(), expected);
		// A second run changes nothing (the version says it ran).
		crate::Params::<Test>::mutate(|p| p.loss_slack_octets = 5);
		V2ToV3::<Test>::on_runtime_upgrade();
		assert_eq!(crate::Params::<Test>::get().loss_slack_octets, 5);
	});
}

#[test]
fn version_1_parameters_reach_version_3_through_both_migrations() {
	use crate::migrations::{v1, V1ToV2, V2ToV3};
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	build_and_execute(|| {
		let old = v1::TicketParams {
			claim_window: WINDOW,
			loss_tolerance_ppm: 30_000,
			dispute_counterparties: 4,
			dispute_window: 7,
			infra_share: Perbill::from_percent(3),
		};
		frame_support::storage::unhashed::put(&crate::Params::<Test>::hashed_key(), &old);
		StorageVersion::new(1).put::<Tickets>();

		// As the runtime lists them: a chain at version 1 runs both, in order.
		#[cfg(feature = "try-runtime")]
		assert_ok!(<(V1ToV2<Test>, V2ToV3<Test>)>::try_on_runtime_upgrade(true));
		#[cfg(not(feature = "try-runtime"))]
		<(V1ToV2<Test>, V2ToV3<Test>)>::on_runtime_upgrade();

		assert_eq!(Tickets::on_chain_storage_version(), StorageVersion::new(3));
		let defaults = TicketParams::default();
		assert_eq!(
			crate::Params::<Test>::get(),
			TicketParams {
				claim_window: WINDOW,
				loss_tolerance_ppm: 30_000,
				dispute_counterparties: 4,
				dispute_window: 7,
				infra_share: Perbill::from_percent(3),
				..defaults
			}
		);
	});
}

#[test]
fn parameters_that_do_not_decode_as_version_2_are_reset_to_the_defaults() {
	use crate::migrations::V2ToV3;
	use frame_support::traits::{OnRuntimeUpgrade, StorageVersion};
	build_and_execute(|| {
		frame_support::storage::unhashed::put_raw(&crate::Params::<Test>::hashed_key(), &[1, 2]);
		StorageVersion::new(2).put::<Tickets>();
		V2ToV3::<Test>::on_runtime_upgrade();
		assert_eq!(crate::Params::<Test>::get(), TicketParams::default());
		assert!(
			frame_support::storage::unhashed::get_raw(&crate::Params::<Test>::hashed_key())
				.is_some_and(|bytes| bytes.len() > 2),
			"written down in the new layout"
		);
	});
}

#[test]
fn fraud_a_receipt_inflated_at_one_end_of_the_path_moves_nothing_on_the_others_links() {
	build_and_execute(|| {
		fund(1, 100_000_000);
		fund(2, 100_000_000);
		run_to_epoch(1);
		// Consumer 1's flow crosses 1 → 2 → 3; relays 1 and 2 hold its honest 1 GB receipt,
		// its accomplice relay 3 a 100 GB one for the same flow and path. Consumer 2 sends 1 GB
		// over 1 → 2 too.
		let honest = signed(receipt(1, 1, &path(&[1, 2, 3]), 0, GB, 0, 1));
		let inflated = signed(receipt(1, 1, &path(&[1, 2, 3]), 0, 100 * GB, 0, 2));
		let other = signed(receipt(2, 1, &path(&[1, 2]), 0, GB, 0, 1));
		let both = [honest.clone(), other.clone()];
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(1)),
			claim(0, &[(relay(2), 0, 2 * GB)], both.to_vec())
		));
		assert_ok!(Tickets::claim(
			RuntimeOrigin::signed(relay(2)),
			claim(0, &[(relay(1), 2 * GB, 0)], both.to_vec())
		));
		assert_ok!(Tickets::claim(RuntimeOrigin::signed(relay(3)), claim(0, &[], vec![inflated])));
		assert_eq!(Links::<Test>::get((0, relay(1), relay(2))).demand, 2 * GB);
		settle_epoch(0);
		// Both consumers pay their whole gigabyte on 1 → 2 (to relays 1 and 2).
		assert_eq!(held(2), 100_000_000 - 2 * PRICE);
		assert_eq!(held(1), 100_000_000 - 2 * PRICE);
	});
}
