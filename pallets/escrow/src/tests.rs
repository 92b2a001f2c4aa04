//! Unit tests: every call and error, charges with caps and shortfalls, terms that take effect
//! from the next epoch, what a pending withdrawal backs, the storage migration, and the escrow
//! cases of the fraud suite (withdrawing to dodge a charge, voiding a bill with the cap or the
//! receipt key, escrow exhausted mid-settlement).

use crate::{mock::*, Accounts, Error, Event, Spent, Terms, MAX_SCHEDULED_TERMS};
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

/// The epochs `who`'s terms history entries start at.
fn starts(who: u64) -> Vec<u32> {
	Accounts::<Test>::get(who)
		.map(|account| account.terms.iter().map(|entry| entry.0).collect())
		.unwrap_or_default()
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
		System::assert_last_event(
			Event::SpendingCapSet { who: 1, cap: Some(5), from_epoch: 1 }.into(),
		);
		assert_noop!(
			Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([0; 32])),
			Error::<Test>::InvalidReceiptKey
		);
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([7; 32])));
		System::assert_last_event(
			Event::ReceiptKeySet { who: 1, key: Some([7; 32]), from_epoch: 1 }.into(),
		);
		assert_eq!(Escrow::receipt_key(&1, 1), Some([7; 32]));
		assert_eq!(Escrow::receipt_key(&1, 0), None, "epoch 0 keeps the terms it started with");
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), None));
		assert_eq!(Escrow::receipt_key(&1, 1), None);
		let account = Accounts::<Test>::get(1).unwrap();
		assert_eq!(
			account.terms.into_inner(),
			vec![(0, Terms::default()), (1, Terms { spending_cap: Some(5), receipt_key: None })],
			"both changes of epoch 0 make one entry from epoch 1"
		);
	});
}

#[test]
fn a_cap_set_during_an_epoch_applies_from_the_next() {
	build_and_execute(|| {
		deposit(1, 1_000);
		go_to_epoch(3);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(100)));
		System::assert_last_event(
			Event::SpendingCapSet { who: 1, cap: Some(100), from_epoch: 4 }.into(),
		);
		assert_eq!(Escrow::chargeable(&1, 3), 1_000, "epoch 3 keeps the terms it started with");
		assert_eq!(Escrow::chargeable(&1, 4), 100);
		assert_eq!(Escrow::charge(&1, 3, &[(2, 500)]).paid, 500);
		assert_eq!(Escrow::charge(&1, 4, &[(2, 500)]).paid, 100);
		// Lifting the cap is no faster.
		go_to_epoch(4);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), None));
		assert_eq!(Escrow::chargeable(&1, 4), 0, "the cap of epoch 4 is spent");
		assert_eq!(Escrow::chargeable(&1, 5), 400);
	});
}

#[test]
fn a_cap_of_zero_cannot_void_the_current_epochs_bill() {
	build_and_execute(|| {
		deposit(1, 1_000);
		// The consumer uses relays during epoch 2, then sets its cap to zero before the epoch
		// is claimed and settled.
		go_to_epoch(2);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(0)));
		go_to_epoch(3);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(0)));
		// Epoch 2 is settled during epoch 3: its bill is paid in full.
		assert_eq!(Escrow::chargeable(&1, 2), 1_000);
		assert_eq!(Escrow::charge(&1, 2, &[(5, 700)]), ChargeOutcome { owed: 700, paid: 700 });
		assert_eq!(Balances::balance(&5), INITIAL + 700);
		// From epoch 3 on it pays nothing, which relays see before they carry its traffic.
		assert_eq!(Escrow::chargeable(&1, 3), 0);
		assert_eq!(Escrow::charge(&1, 3, &[(5, 10)]), ChargeOutcome { owed: 10, paid: 0 });
	});
}

#[test]
fn a_removed_receipt_key_still_verifies_the_epoch_it_was_in_force() {
	build_and_execute(|| {
		deposit(1, 1_000);
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([7; 32])));
		// Receipts of epoch 1 are signed with key 7; during epoch 2, while epoch 1 is being
		// claimed, the consumer removes the key.
		go_to_epoch(2);
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), None));
		System::assert_last_event(Event::ReceiptKeySet { who: 1, key: None, from_epoch: 3 }.into());
		assert_eq!(Escrow::receipt_key(&1, 1), Some([7; 32]), "epoch 1's receipts still verify");
		assert_eq!(Escrow::receipt_key(&1, 2), Some([7; 32]), "and so do the current epoch's");
		assert_eq!(Escrow::receipt_key(&1, 3), None);
		// Settled far ahead (or never tracked, as with `()`): the previous epoch's key stays.
		settle_through(100);
		go_to_epoch(3);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(9)));
		assert_eq!(Escrow::receipt_key(&1, 2), Some([7; 32]), "epoch 2 is claimed during 3");
		assert_eq!(starts(1), vec![1, 3, 4]);
	});
}

#[test]
fn an_emptied_escrow_stays_while_a_key_it_had_may_still_be_claimed() {
	build_and_execute(|| {
		deposit(1, 100);
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([7; 32])));
		go_to_epoch(1);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 100)); // unlocks at 30
		go_to_epoch(2);
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), None));
		go_to_epoch(3);
		settle_through(1);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(1)));
		assert_eq!(Balances::balance(&1), INITIAL);
		// Receipts of epoch 2 are claimed during epoch 3 and verify with key 7.
		assert!(Accounts::<Test>::get(1).is_some());
		assert_eq!(Escrow::receipt_key(&1, 2), Some([7; 32]));
		// Once a later withdrawal finds only default terms, the record goes.
		deposit(1, 10);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 10));
		go_to_epoch(6);
		settle_through(3);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(1)));
		assert!(Accounts::<Test>::get(1).is_none());
	});
}

#[test]
fn a_rotated_key_takes_effect_next_epoch() {
	build_and_execute(|| {
		deposit(1, 1_000);
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([1; 32])));
		go_to_epoch(4);
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([2; 32])));
		System::assert_last_event(
			Event::ReceiptKeySet { who: 1, key: Some([2; 32]), from_epoch: 5 }.into(),
		);
		assert_eq!(Escrow::receipt_key(&1, 4), Some([1; 32]));
		assert_eq!(Escrow::receipt_key(&1, 5), Some([2; 32]));
		assert_eq!(Escrow::receipt_key(&1, 9), Some([2; 32]));
		// A second rotation in the same epoch replaces the pending one.
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([3; 32])));
		assert_eq!(Escrow::receipt_key(&1, 5), Some([3; 32]));
		assert_eq!(starts(1), vec![0, 1, 5]);
		// Rotating back to the key in force leaves nothing pending.
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([1; 32])));
		assert_eq!(Escrow::receipt_key(&1, 5), Some([1; 32]));
		assert_eq!(starts(1), vec![0, 1]);
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
fn chargeable_is_what_the_escrow_backs_limited_by_what_the_cap_leaves() {
	build_and_execute(|| {
		assert_eq!(Escrow::chargeable(&1, 0), 0, "no escrow, nothing chargeable");
		deposit(1, 1_000);
		assert_eq!(Escrow::chargeable(&1, 0), 1_000);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(400)));
		assert_eq!(Escrow::chargeable(&1, 0), 1_000, "the cap applies from epoch 1");
		assert_eq!(Escrow::charge(&1, 1, &[(2, 300)]).paid, 300);
		assert_eq!(Escrow::chargeable(&1, 1), 100, "the cap leaves 100 in epoch 1");
		assert_eq!(Escrow::chargeable(&1, 2), 400, "a new epoch has a fresh cap");
		// A withdrawal requested in epoch 0 stays chargeable for epoch 0 only.
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 500));
		assert_eq!(Escrow::chargeable(&1, 0), 700);
		assert_eq!(Escrow::chargeable(&1, 2), 200);
	});
}

#[test]
fn a_pending_withdrawal_backs_nothing_after_its_epoch() {
	build_and_execute(|| {
		deposit(1, 1_000);
		go_to_epoch(2);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 300)); // unlocks at 40
		assert_eq!(Escrow::available(&1, 1), 1_000);
		assert_eq!(Escrow::available(&1, 2), 1_000, "it backs the epoch it was requested in");
		assert_eq!(Escrow::available(&1, 3), 700, "and no later one");
		assert_eq!(Escrow::available(&1, 9), 700);
		assert_eq!(Escrow::available(&9, 2), 0, "no escrow, nothing backed");
		// A charge for epoch 2 may take the requested amount too, and takes it first: what
		// stays keeps backing the later epochs relays admitted against it.
		assert_eq!(Escrow::charge(&1, 2, &[(5, 900)]).paid, 900);
		assert_eq!(Escrow::available(&1, 3), 100, "the 100 left stays");
		go_to_epoch(4);
		settle_through(2);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(1)));
		System::assert_last_event(Event::Withdrawn { who: 1, amount: 0 }.into());
		assert_eq!(Balances::balance(&1), INITIAL - 1_000);
		assert_eq!(Escrow::available(&1, 5), 100);
	});
}

#[test]
fn charges_for_later_epochs_leave_the_pending_amount_untouched() {
	build_and_execute(|| {
		deposit(1, 1_000);
		go_to_epoch(2);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 300)); // unlocks at 40

		// Epoch 3's usage is charged: only what stays pays for it.
		go_to_epoch(3);
		settle_through(2);
		assert_eq!(Escrow::charge(&1, 3, &[(5, 900)]), ChargeOutcome { owed: 900, paid: 700 });
		System::assert_has_event(
			Event::Shortfall { consumer: 1, epoch: 3, owed: 900, paid: 700 }.into(),
		);
		assert_eq!(held(1), 300);
		go_to_epoch(4);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(1)));
		assert_eq!(Balances::balance(&1), INITIAL - 700, "the whole requested amount came back");
		assert_eq!(Balances::balance(&5), INITIAL + 700);
	});
}

#[test]
fn withdraw_waits_for_the_requests_epoch_to_settle() {
	build_and_execute(|| {
		deposit(1, 500);
		go_to_epoch(2);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(1), 500)); // unlocks at 40
		go_to_epoch(5);
		settle_through(1);
		assert_noop!(Escrow::withdraw(RuntimeOrigin::signed(1)), Error::<Test>::UnsettledEpochs);
		settle_through(2);
		assert_ok!(Escrow::withdraw(RuntimeOrigin::signed(1)));
		assert_eq!(Balances::balance(&1), INITIAL);
	});
}

#[test]
fn term_history_is_pruned_once_epochs_settle() {
	build_and_execute(|| {
		deposit(1, 1_000);
		// A new cap every epoch while nothing settles: every entry is kept.
		for epoch in 1..=5u32 {
			go_to_epoch(epoch);
			assert_ok!(Escrow::set_spending_cap(
				RuntimeOrigin::signed(1),
				Some(u128::from(epoch) * 10)
			));
		}
		assert_eq!(starts(1), vec![0, 2, 3, 4, 5, 6]);
		// Epochs up to 3 settle: the entries that end by then go, epoch 4's stays (unsettled).
		go_to_epoch(6);
		settle_through(3);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(60)));
		assert_eq!(starts(1), vec![4, 5, 6, 7]);
		assert_eq!(Escrow::chargeable(&1, 4), 30);
		assert_eq!(Escrow::chargeable(&1, 7), 60);
		// Settlement ahead of the clock: entries go up to the one in force for the previous
		// epoch, whose receipts are still being claimed.
		settle_through(100);
		go_to_epoch(9);
		assert_ok!(Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([9; 32])));
		assert_eq!(starts(1), vec![7, 10]);
		go_to_epoch(10);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(70)));
		assert_eq!(starts(1), vec![7, 10, 11]);
		assert_eq!(Escrow::receipt_key(&1, 9), None);
		assert_eq!(Escrow::receipt_key(&1, 10), Some([9; 32]));
		assert_eq!(Escrow::chargeable(&1, 11), 70);
	});
}

#[test]
fn too_many_term_changes_while_settlement_lags_is_refused() {
	build_and_execute(|| {
		deposit(1, 1_000);
		// Nothing settles while the consumer changes its cap every epoch.
		for epoch in 1..=7u32 {
			go_to_epoch(epoch);
			assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), Some(epoch.into())));
		}
		assert_eq!(starts(1).len(), MAX_SCHEDULED_TERMS as usize);
		go_to_epoch(8);
		assert_noop!(
			Escrow::set_spending_cap(RuntimeOrigin::signed(1), None),
			Error::<Test>::TooManyTermChanges
		);
		assert_noop!(
			Escrow::set_receipt_key(RuntimeOrigin::signed(1), Some([1; 32])),
			Error::<Test>::TooManyTermChanges
		);
		// Once settlement catches up, the entries it no longer needs make room.
		settle_through(2);
		assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), None));
		assert_eq!(starts(1), vec![3, 4, 5, 6, 7, 8, 9]);
	});
}

#[test]
fn min_escrow_is_set_by_root_only() {
	build_and_execute(|| {
		assert_eq!(Escrow::min_escrow(), MIN_ESCROW, "set at genesis");
		assert_noop!(
			Escrow::set_min_escrow(RuntimeOrigin::signed(1), 5),
			sp_runtime::DispatchError::BadOrigin
		);
		assert_ok!(Escrow::set_min_escrow(RuntimeOrigin::root(), 5));
		System::assert_last_event(Event::MinEscrowSet { amount: 5 }.into());
		assert_eq!(Escrow::min_escrow(), 5);
		// Without a genesis value, the production default: 10 SRW.
		crate::MinEscrow::<Test>::kill();
		assert_eq!(Escrow::min_escrow(), 10 * srwan_primitives::currency::SRW);
	});
}

#[test]
fn version_1_escrows_migrate_to_a_terms_history_once() {
	use crate::migrations::{v1, v2::MigrateToV2};
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};
	build_and_execute(|| {
		deposit(1, 500);
		deposit(2, 300);
		go_to_epoch(1);
		assert_ok!(Escrow::request_withdraw(RuntimeOrigin::signed(2), 100));
		let pending = Accounts::<Test>::get(2).unwrap().pending;
		assert!(pending.is_some());
		// Rewrite both escrows in the old layout, as a chain at version 1 holds them.
		v1::Accounts::<Test>::insert(
			1,
			v1::EscrowAccount {
				held: 500,
				spending_cap: Some(50),
				receipt_key: Some([7; 32]),
				pending: None,
			},
		);
		v1::Accounts::<Test>::insert(
			2,
			v1::EscrowAccount { held: 300, spending_cap: None, receipt_key: None, pending },
		);
		StorageVersion::new(1).put::<Escrow>();

		#[cfg(feature = "try-runtime")]
		assert_ok!(MigrateToV2::<Test>::try_on_runtime_upgrade(true));
		#[cfg(not(feature = "try-runtime"))]
		MigrateToV2::<Test>::on_runtime_upgrade();

		assert_eq!(Escrow::on_chain_storage_version(), StorageVersion::new(2));
		let one = Accounts::<Test>::get(1).unwrap();
		assert_eq!(one.held, 500);
		assert_eq!(
			one.terms.into_inner(),
			vec![(0, Terms { spending_cap: Some(50), receipt_key: Some([7; 32]) })]
		);
		// The cap and key stay in force for every epoch, the current one included.
		assert_eq!(Escrow::receipt_key(&1, 1), Some([7; 32]));
		assert_eq!(Escrow::chargeable(&1, 1), 50);
		let two = Accounts::<Test>::get(2).unwrap();
		assert_eq!((two.held, two.pending), (300, pending));
		assert_eq!(two.terms.into_inner(), vec![(0, Terms::default())]);
		// At version 2 it does nothing.
		let before = Accounts::<Test>::get(1);
		MigrateToV2::<Test>::on_runtime_upgrade();
		assert_eq!(Accounts::<Test>::get(1), before);
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
			// Set during epoch 0, the cap is in force for epoch 1.
			assert_ok!(Escrow::set_spending_cap(RuntimeOrigin::signed(1), cap));
			let payees: Vec<(u64, u128)> = owed.iter().enumerate().map(|(i, a)| (2 + i as u64, *a)).collect();
			let before: u128 = payees.iter().map(|(p, _)| Balances::balance(p)).sum();
			let outcome = Escrow::charge(&1, 1, &payees);
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
