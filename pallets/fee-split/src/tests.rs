//! Unit and property tests of the split, the subsidy, validator payouts and root's schedule.

use crate::{mock::*, split, AuthoredBlocks, Error, Event, Schedule, ScheduleOf, SplitFees};
use frame_support::{
	assert_noop, assert_ok,
	traits::{
		fungible::{Balanced, Inspect},
		OnUnbalanced,
	},
};
use proptest::prelude::*;
use sp_runtime::DispatchError;

fn pools() -> (u128, u128) {
	(Balances::balance(&FeeSplit::validator_pool()), Balances::balance(&FeeSplit::dividend_pool()))
}

proptest! {
	#[test]
	fn split_is_exactly_a_quarter_rounded_down_and_preserves_the_sum(
		total in prop_oneof![Just(0u128), Just(1), Just(3), Just(u128::MAX), Just(u128::MAX - 1), any::<u128>()],
	) {
		let (validators, dividends) = split(total);
		prop_assert_eq!(validators, total / 4);
		prop_assert_eq!(validators + dividends, total);
	}

	#[test]
	fn fee_and_tip_credits_land_in_the_pools_exactly(fee in 0u128..1u128 << 100, tip in 0u128..1u128 << 100) {
		build_and_execute(|| {
			let issuance = Balances::total_issuance();
			let before = pools();
			// Transaction payment withdraws the fee from a payer: a credit of that size.
			let fee_credit = Balances::issue(fee);
			let tip_credit = Balances::issue(tip);
			SplitFees::<Test>::on_unbalanceds([fee_credit, tip_credit].into_iter());
			let after = pools();
			let total = fee + tip;
			assert_eq!(after.0 - before.0, total / 4);
			assert_eq!(after.1 - before.1, total - total / 4);
			assert_eq!(Balances::total_issuance(), issuance + total, "only the issued credits");
		});
	}
}

#[test]
fn pools_exist_from_genesis() {
	build_and_execute(|| {
		assert_eq!(pools(), (ED, ED));
	});
}

#[test]
fn fees_split_event_names_both_parts() {
	build_and_execute(|| {
		System::set_block_number(1);
		SplitFees::<Test>::on_unbalanceds([Balances::issue(7), Balances::issue(2)].into_iter());
		System::assert_last_event(Event::FeesSplit { validators: 2, dividends: 7 }.into());
	});
}

#[test]
fn subsidy_is_minted_in_blocks_one_to_the_last_and_never_after() {
	build_and_execute(|| {
		let issuance = Balances::total_issuance();
		for n in 1..=SCHEDULE.subsidy_blocks as u64 {
			run_block(n, 1);
			assert_eq!(Balances::total_issuance(), issuance + 1_000 * u128::from(n as u32));
		}
		let at_end = Balances::total_issuance();
		System::reset_events();
		run_block(u64::from(SCHEDULE.subsidy_blocks) + 1, 1);
		assert_eq!(Balances::total_issuance(), at_end, "the boundary: block 11 mints nothing");
		assert!(System::events()
			.iter()
			.all(|r| !matches!(r.event, RuntimeEvent::FeeSplit(Event::SubsidyMinted { .. }))));
	});
}

#[test]
fn validators_are_paid_pro_rata_the_blocks_they_authored() {
	build_and_execute(|| {
		let (b1, b2) = (Balances::balance(&1), Balances::balance(&2));
		// Blocks 1..=5: author 1 writes 4, author 2 writes 1; payout at block 5.
		for (n, author) in [(1, 1), (2, 1), (3, 2), (4, 1), (5, 1)] {
			run_block(n, author);
		}
		// The validator pool got 250 per block = 1,250 (+ ED kept).
		let paid1 = Balances::balance(&1) - b1;
		let paid2 = Balances::balance(&2) - b2;
		assert_eq!((paid1, paid2), (1_000, 250));
		assert_eq!(pools().0, ED, "only the existential deposit stays");
		System::assert_has_event(Event::ValidatorPaid { who: 2, blocks: 1, amount: 250 }.into());
	});
}

#[test]
fn rounding_remainders_stay_in_the_pool() {
	build_and_execute(|| {
		// 3 authors, 1 block each; pool 750 + 1 odd unit.
		let _ = Balances::resolve(&FeeSplit::validator_pool(), Balances::issue(1));
		for (n, author) in [(1, 1), (2, 2), (3, 3)] {
			run_block(n, author);
		}
		let before: u128 = (1..=3).map(|a| Balances::balance(&a)).sum();
		run_block(4, 3);
		run_block(5, 3);
		let paid: u128 = (1..=3).map(|a| Balances::balance(&a)).sum::<u128>() - before;
		// 5 blocks × 250 + 1 = 1,251 for blocks 1, 1 and 3: 250, 250 and 750; 1 stays.
		assert_eq!(paid, 1_250);
		assert_eq!(pools().0, ED + 1);
	});
}

#[test]
fn a_full_author_list_ends_the_period_early_and_every_block_is_paid() {
	build_and_execute(|| {
		// A long period over many set changes: more distinct authors than `MaxAuthors` (4).
		ScheduleOf::<Test>::mutate(|schedule| schedule.payout_period = 1_000);
		let before: Vec<u128> = (1..=4).map(|a| Balances::balance(&a)).collect();
		for n in 1..=4 {
			run_block(n, n);
		}
		// Block 4 filled the list, so its hook paid the four: 250 each (a quarter of each
		// block's subsidy), nothing left over.
		for (author, balance) in (1..=4).zip(before) {
			assert_eq!(Balances::balance(&author) - balance, 250);
			System::assert_has_event(
				Event::ValidatorPaid { who: author, blocks: 1, amount: 250 }.into(),
			);
		}
		assert_eq!(pools().0, ED);
		// The next authors are counted (a block left uncounted would be a defensive failure,
		// which panics in tests) and paid at the period's end.
		run_block(5, 5);
		run_block(6, 1);
		assert_eq!(AuthoredBlocks::<Test>::get().into_inner(), vec![(5, 1), (1, 1)]);
	});
}

#[test]
fn a_period_without_authors_pays_nobody() {
	build_and_execute(|| {
		System::set_block_number(5);
		<FeeSplit as frame_support::traits::Hooks<u64>>::on_initialize(5);
		assert_eq!(pools().0, ED + 250, "the subsidy arrived and stays");
		assert!(System::events()
			.iter()
			.all(|r| !matches!(r.event, RuntimeEvent::FeeSplit(Event::ValidatorPaid { .. }))));
	});
}

#[test]
fn root_sets_the_schedule_and_payouts_follow_the_new_period() {
	build_and_execute(|| {
		System::set_block_number(1);
		let new = Schedule { subsidy_per_block: 400, subsidy_blocks: 2, payout_period: 3 };
		assert_noop!(
			FeeSplit::set_schedule(RuntimeOrigin::signed(1), new),
			DispatchError::BadOrigin
		);
		assert_noop!(
			FeeSplit::set_schedule(RuntimeOrigin::root(), Schedule { payout_period: 0, ..new }),
			Error::<Test>::ZeroPayoutPeriod
		);
		assert_ok!(FeeSplit::set_schedule(RuntimeOrigin::root(), new));
		System::assert_last_event(Event::ScheduleSet { schedule: new }.into());
		assert_eq!(ScheduleOf::<Test>::get(), new);
		// From the next block: 400 a block up to block 2, payouts every 3 blocks.
		let issuance = Balances::total_issuance();
		let before = Balances::balance(&1);
		for n in 2..=3 {
			run_block(n, 1);
		}
		assert_eq!(Balances::total_issuance(), issuance + 400, "block 3 is past subsidy_blocks");
		assert_eq!(Balances::balance(&1) - before, 100, "block 3 paid the validator pool's 100");
		assert_eq!(pools().0, ED);
	});
}

#[test]
fn every_blocks_hook_weight_covers_noting_its_author() {
	build_and_execute(|| {
		// Past the subsidy and off the payout period: what is left is the schedule read and
		// the author noted through pallet-authorship.
		ScheduleOf::<Test>::put(Schedule {
			subsidy_per_block: 0,
			subsidy_blocks: 0,
			payout_period: 1_000,
		});
		System::set_block_number(7);
		let weight = <FeeSplit as frame_support::traits::Hooks<u64>>::on_initialize(7);
		let db = <Test as frame_system::Config>::DbWeight::get();
		assert_eq!(weight, db.reads_writes(2, 1));
	});
}
