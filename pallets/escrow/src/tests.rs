//! Unit tests: every call and error, charges with caps and shortfalls, and the escrow cases of
//! the fraud suite (withdrawing to dodge a charge, escrow exhausted mid-settlement).

use crate::{mock::*, Accounts, Error, Event, Spent};
use frame_support::{
	assert_noop, assert_ok,
	traits::fungible::{Inspect, InspectHold},
};
use proptest::prelude::*;
use sp_runtime::TokenError;
use srwan_primitives::traits::{ChargeOutcome, Escrow as _};

fn held(who: u64) -> u128 {
	Balances::balance_on_hold(&crate::HoldReason::ConsumerEscrow.into(), &who)
}

fn deposit(who: u64, amount: u128) {
	assert_ok!(Escrow::deposit(RuntimeOrigin::signed(who), amount));
}

#[test]
fn deposits_go_on_hold_and_add_up() {
	build_and_execute(|| {
		deposit(1, 500);
		deposit(1, 250);
		assert_eq!(held(1), 750);
		assert_eq!(Accounts::<Test>::get(1).unwrap().held, 750);
		assert_eq!(Balances::balance(&1), INITIAL - 750);
		assert_noop!(Escrow::deposit(RuntimeOrigin::signed(1), 0), Error::<Test>::ZeroAmount);
		assert_noop!(Escrow::deposit(RuntimeOrigin::signed(11), 5), TokenError::FundsUnavailable);
	});
}

#[test]
fn withdrawal_waits_for_the_delay_and_for_settlement() {
	build_and_execute(|| {
		deposit(1, 500);
		assert_noop!(Escrow::withdraw(RuntimeOrigin::signed(1)), Error::<Test>::NoWithdrawal);
		assert_noop!(
			Escrow::request_withdraw(RuntimeOrigin::signed(2), 1),
			Error::<Test>::NoEscrow
		);
		assert_noop!(
			Escrow::request_withdraw(RuntimeOrigin::signed(1), 0),
			Error::<Test>::ZeroAmount
		);
		assert_noop!(
			Escrow::request_withdraw(RuntimeOrigin::signed(1), 501),
			Error::<Test>::InsufficientEscrow
		);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 300));
		System::assert_last_event(
			Event::WithdrawRequested { who: 1, amount: 300, unlock_at: 21 }.into(),
		);
		assert_noop!(
			Escrow::request_withdraw(RuntimeOrigin::signed(1), 1),
			Error::<Test>::WithdrawalPending
		);
		assert_noop!(Escrow::withdraw(RuntimeOrigin::signed(1)), Error::<Test>::TooEarly);
		System::set_block_number(21);
		assert_noop!(Escrow::withdraw(RuntimeOrigin::signed(1)), Error::<Test>::UnsettledEpochs);
		settle_through(0);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(1)));
		assert_eq!((held(1), Balances::balance(&1)), (200, INITIAL - 200));
	});
}

#[test]
fn withdrawing_everything_removes_the_record() {
	build_and_execute(|| {
		deposit(1, 100);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 100));
		System::set_block_number(30);
		settle_through(5);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(1)));
		assert!(Accounts::<Test>::get(1).is_none());
		assert_eq!(Balances::balance(&1), INITIAL);
	});
}

#[test]
fn cap_and_receipt_key_need_an_escrow_and_a_real_key() {
	build_and_execute(|| {
		assert_noop!(
			Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(5)),
			Error::<Test>::NoEscrow
		);
		assert_noop!(
			Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([1; 32])),
			Error::<Test>::NoEscrow
		);
		deposit(1, 100);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(5)));
		assert_noop!(
			Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([0; 32])),
			Error::<Test>::InvalidReceiptKey
		);
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([7; 32])));
		assert_eq!(Escrow::receipt_key(&1), Some([7; 32]));
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), None));
		assert_eq!(Escrow::receipt_key(&1), None);
		assert_eq!(Accounts::<Test>::get(1).unwrap().spending_cap, Some(5));
	});
}

#[test]
fn a_charge_pays_every_payee_from_the_hold() {
	build_and_execute(|| {
		deposit(1, 1_000);
		let outcome = Escrow::charge(&1, 0, &[(2, 300), (3, 200)]);
		assert_eq!(outcome, ChargeOutcome { owed: 500, paid: 500 });
		assert_eq!(
			(held(1), Balances::balance(&2), Balances::balance(&3)),
			(500, INITIAL + 300, INITIAL + 200)
		);
		assert_eq!(Spent::<Test>::get(1, 0), 500);
	});
}

#[test]
fn the_cap_limits_each_epoch_and_the_payees_share_the_shortfall() {
	build_and_execute(|| {
		deposit(1, 1_000);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(400)));
		assert_eq!(Escrow::charge(&1, 3, &[(2, 300)]).paid, 300);
		// 100 left in the cap for epoch 3: 300 + 100 owed → paid 75 + 25.
		let outcome = Escrow::charge(&1, 3, &[(2, 300), (3, 100)]);
		assert_eq!(outcome, ChargeOutcome { owed: 400, paid: 100 });
		assert_eq!(Balances::balance(&3), INITIAL + 25);
		System::assert_has_event(
			Event::Shortfall { consumer: 1, epoch: 3, owed: 400, paid: 100 }.into(),
		);
		// A new epoch has a fresh cap.
		assert_eq!(Escrow::charge(&1, 4, &[(2, 400)]).paid, 400);
	});
}

#[test]
fn chargeable_is_the_hold_limited_by_what_the_cap_leaves() {
	build_and_execute(|| {
		assert_eq!(Escrow::chargeable(&1, 0), 0, "no escrow, nothing chargeable");
		deposit(1, 1_000);
		assert_eq!(Escrow::chargeable(&1, 0), 1_000);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(400)));
		assert_eq!(Escrow::charge(&1, 0, &[(2, 300)]).paid, 300);
		assert_eq!(Escrow::chargeable(&1, 0), 100, "the cap leaves 100 in epoch 0");
		assert_eq!(Escrow::chargeable(&1, 1), 400, "a new epoch has a fresh cap");
		// A pending withdrawal stays chargeable until it completes.
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 700));
		assert_eq!(Escrow::chargeable(&1, 1), 400);
	});
}

#[test]
fn fraud_consumer_withdrawing_during_the_delay_still_pays_its_charges() {
	build_and_execute(|| {
		deposit(1, 1_000);
		// Traffic in epoch 0, then the consumer asks for everything back at once.
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 1_000));
		// The claim window ends and settlement charges during the delay.
		System::set_block_number(16);
		assert_eq!(Escrow::charge(&1, 0, &[(5, 600)]).paid, 600);
		System::set_block_number(21);
		settle_through(0);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(1)));
		assert_eq!(Balances::balance(&5), INITIAL + 600, "the relay was paid");
		assert_eq!(Balances::balance(&1), INITIAL - 600, "only the rest came back");
	});
}

#[test]
fn fraud_escrow_exhausted_mid_settlement_prorates_the_shortfall() {
	build_and_execute(|| {
		deposit(1, 100);
		assert_eq!(Escrow::charge(&1, 0, &[(2, 60)]).paid, 60);
		// 40 left for 30 + 50 owed: 15 and 25.
		let outcome = Escrow::charge(&1, 0, &[(3, 30), (4, 50)]);
		assert_eq!(outcome, ChargeOutcome { owed: 80, paid: 40 });
		assert_eq!((Balances::balance(&3), Balances::balance(&4)), (INITIAL + 15, INITIAL + 25));
		assert_eq!(held(1), 0);
		// Nothing left: the next charge pays nothing, records the shortfall, never panics.
		assert_eq!(Escrow::charge(&1, 0, &[(3, 10)]), ChargeOutcome { owed: 10, paid: 0 });
		assert_eq!(
			Escrow::charge(&9, 0, &[(3, 10)]),
			ChargeOutcome { owed: 10, paid: 0 },
			"no escrow at all"
		);
	});
}

#[test]
fn spending_history_is_pruned() {
	build_and_execute(|| {
		deposit(1, 1_000);
		for epoch in 0..10 {
			Escrow::charge(&1, epoch, &[(2, 1)]);
		}
		assert_eq!(Spent::<Test>::iter_prefix(1).count(), 4);
	});
}

#[test]
fn root_sets_the_withdraw_delay_for_later_requests_only() {
	build_and_execute(|| {
		assert_noop!(
			Escrow::set_withdraw_delay(RuntimeOrigin::signed(1), 5),
			sp_runtime::DispatchError::BadOrigin
		);
		assert_noop!(
			Escrow::set_withdraw_delay(RuntimeOrigin::root(), 0),
			Error::<Test>::ZeroWithdrawDelay
		);
		deposit(1, 100);
		deposit(2, 100);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 100)); // unlocks at 21
		assert_ok!(Escrow::set_withdraw_delay(RuntimeOrigin::root(), 5));
		System::assert_last_event(Event::WithdrawDelaySet { blocks: 5 }.into());
		assert_eq!(crate::WithdrawDelay::<Test>::get(), 5);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(2), 100));
		System::assert_last_event(
			Event::WithdrawRequested { who: 2, amount: 100, unlock_at: 6 }.into(),
		);
		System::set_block_number(6);
		// A short delay never skips settlement; the earlier request keeps its own delay.
		assert_noop!(Escrow::withdraw(RuntimeOrigin::signed(2)), Error::<Test>::UnsettledEpochs);
		settle_through(0);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(2)));
		assert_noop!(Escrow::withdraw(RuntimeOrigin::signed(1)), Error::<Test>::TooEarly);
	});
}

proptest! {
	#[test]
	fn a_charge_never_pays_more_than_owed_held_or_capped(
		held_amount in 1u128..1_000_000,
		cap in proptest::option::of(0u128..1_000_000),
		owed in proptest::collection::vec(0u128..500_000, 1..6),
	) {
		build_and_execute(|| {
			deposit(1, held_amount);
			assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), cap));
			let payees: Vec<(u64, u128)> = owed.iter().enumerate().map(|(i, a)| (2 + i as u64, *a)).collect();
			let before: u128 = payees.iter().map(|(p, _)| Balances::balance(p)).sum();
			let outcome = Escrow::charge(&1, 0, &payees);
			let after: u128 = payees.iter().map(|(p, _)| Balances::balance(p)).sum();
			let total: u128 = owed.iter().sum();
			assert_eq!(after - before, outcome.paid, "what the payees got is what was charged");
			assert!(outcome.paid <= total && outcome.paid <= held_amount);
			assert!(outcome.paid <= cap.unwrap_or(u128::MAX));
			assert_eq!(held(1), held_amount - outcome.paid);
			for ((payee, amount), _) in payees.iter().zip(0..) {
				assert!(Balances::balance(payee) - INITIAL <= *amount, "no payee gets more than owed");
			}
		});
	}
}
