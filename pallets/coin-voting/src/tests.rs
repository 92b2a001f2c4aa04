//! Unit tests of candidacy, voting, the one-block tally and payouts.

use crate::{mock::*, Error, Event, Outstanding, Votes, Winners};
use frame_support::{
	assert_noop, assert_ok,
	traits::fungible::{Inspect, Mutate},
	traits::tokens::Preservation,
	BoundedVec,
};
use sp_runtime::Perbill;

fn candidate(who: u64, commission: u32) {
	assert_ok!(CoinVoting::register_candidate(
		RuntimeOrigin::signed(who),
		Perbill::from_percent(commission)
	));
}

fn vote(who: u64, names: &[u64]) {
	assert_ok!(CoinVoting::vote(
		RuntimeOrigin::signed(who),
		BoundedVec::truncate_from(names.to_vec())
	));
}

fn paid(who: u64) -> u128 {
	System::events()
		.iter()
		.filter_map(|r| match &r.event {
			RuntimeEvent::CoinVoting(Event::DividendPaid { who: w, amount }) if *w == who => {
				Some(*amount)
			}
			_ => None,
		})
		.sum()
}

fn run_tally_and_payouts() {
	run_to_block(u64::from(PERIOD) + 5);
}

#[test]
fn calls_reject_bad_input_each_with_its_own_error() {
	build_and_execute(0, || {
		assert_noop!(
			CoinVoting::register_candidate(RuntimeOrigin::signed(1), Perbill::from_percent(21)),
			Error::<Test>::CommissionTooHigh
		);
		assert_noop!(
			CoinVoting::unregister_candidate(RuntimeOrigin::signed(1)),
			Error::<Test>::NotCandidate
		);
		candidate(1, 10);
		candidate(1, 5); // update, not a second candidacy
		assert_eq!(crate::Candidates::<Test>::count(), 1);
		for who in 2..=8 {
			candidate(who, 0);
		}
		assert_noop!(
			CoinVoting::register_candidate(RuntimeOrigin::signed(9), Perbill::zero()),
			Error::<Test>::TooManyCandidates
		);
		let v = |names: Vec<u64>| {
			CoinVoting::vote(RuntimeOrigin::signed(10), BoundedVec::truncate_from(names))
		};
		assert_noop!(v(vec![]), Error::<Test>::EmptyVote);
		assert_noop!(v(vec![1, 1]), Error::<Test>::DuplicateVote);
		assert_noop!(v(vec![9]), Error::<Test>::NotCandidate);
		assert_noop!(CoinVoting::unvote(RuntimeOrigin::signed(10)), Error::<Test>::NotVoter);
		assert_ok!(v(vec![1, 2]));
		assert_ok!(CoinVoting::unvote(RuntimeOrigin::signed(10)));
		assert!(!Votes::<Test>::contains_key(10));
	});
}

#[test]
fn max_voters_is_enforced() {
	build_and_execute(0, || {
		candidate(1, 0);
		for who in 1..=16 {
			vote(who, &[1]);
		}
		assert_noop!(
			CoinVoting::vote(RuntimeOrigin::signed(17), BoundedVec::truncate_from(vec![1])),
			Error::<Test>::TooManyVoters
		);
		vote(16, &[1]); // an existing voter may change its vote
	});
}

#[test]
fn voting_locks_nothing() {
	build_and_execute(0, || {
		candidate(1, 0);
		vote(5, &[1]);
		assert_ok!(Balances::transfer(&5, &6, 50, Preservation::Expendable));
		assert_eq!(Balances::balance(&5), 0);
	});
}

#[test]
fn winner_keeps_commission_and_voters_share_pro_rata() {
	build_and_execute(1_000, || {
		candidate(1, 10);
		vote(10, &[1]); // weight 100
		vote(20, &[1]); // weight 200
		run_tally_and_payouts();
		// One winner takes the whole pool: 100 commission, 900 to voters 1:2.
		assert_eq!((paid(1), paid(10), paid(20)), (100, 300, 600));
		assert_eq!(Balances::balance(&POOL), ED, "the pool is shared out");
		System::assert_has_event(
			Event::TallyCompleted { voters: 2, winners: 1, distributed: 1_000 }.into(),
		);
	});
}

#[test]
fn rounding_sum_paid_equals_pool_distributed() {
	build_and_execute(1_001, || {
		candidate(1, 7);
		candidate(2, 3);
		vote(3, &[1]);
		vote(7, &[1, 2]);
		vote(11, &[2]);
		let before: u128 = [1, 2, 3, 7, 11].iter().map(Balances::balance).sum();
		run_tally_and_payouts();
		let after: u128 = [1, 2, 3, 7, 11].iter().map(Balances::balance).sum();
		let distributed = System::events()
			.iter()
			.find_map(|r| match r.event {
				RuntimeEvent::CoinVoting(Event::TallyCompleted { distributed, .. }) => {
					Some(distributed)
				}
				_ => None,
			})
			.unwrap();
		assert_eq!(after - before, distributed, "every distributed unit reaches a wallet");
		assert_eq!(
			Balances::balance(&POOL) - ED,
			1_001 - distributed,
			"the rest stays in the pool"
		);
		assert_eq!(Outstanding::<Test>::get(), 0);
	});
}

#[test]
fn ties_break_towards_the_lower_account_deterministically() {
	build_and_execute(900, || {
		for who in [4, 2, 3] {
			candidate(who, 0);
		}
		// 10 has weight 100, 20 has 200: backings 2 → 100, 3 → 100, 4 → 100 (20 splits 200
		// between 3 and 4); two winners wanted.
		vote(10, &[2]);
		vote(20, &[3, 4]);
		run_to_block(u64::from(PERIOD));
		let winners: Vec<u64> = Winners::<Test>::get().iter().map(|(w, _)| *w).collect();
		assert_eq!(winners, vec![2, 3]);
	});
}

#[test]
fn a_voter_with_no_coins_counts_nothing() {
	build_and_execute(1_000, || {
		candidate(1, 0);
		candidate(2, 0);
		vote(5, &[1]);
		vote(21, &[2]); // account 21 never existed: weight 0
		run_tally_and_payouts();
		assert_eq!(Winners::<Test>::get().into_inner(), vec![(1, 50)]);
		assert_eq!(paid(21), 0);
	});
}

#[test]
fn coins_moved_between_vote_and_tally_count_once_where_they_are() {
	build_and_execute(1_000, || {
		candidate(1, 0);
		candidate(2, 0);
		vote(10, &[1]); // 100
		vote(20, &[2]); // 200
				  // 10 gives all its coins to 20 before the tally: they count once, for 2.
		assert_ok!(Balances::transfer(&10, &20, 100, Preservation::Expendable));
		run_tally_and_payouts();
		assert_eq!(Winners::<Test>::get().into_inner(), vec![(2, 300)]);
		assert_eq!((paid(10), paid(20)), (0, 1_000));
		assert_eq!(Balances::balance(&20), 300 + 1_000);
	});
}

#[test]
fn a_candidate_that_unregisters_mid_period_wins_nothing() {
	build_and_execute(1_000, || {
		candidate(1, 0);
		candidate(2, 0);
		vote(10, &[1, 2]);
		run_to_block(5);
		assert_ok!(CoinVoting::unregister_candidate(RuntimeOrigin::signed(1)));
		run_tally_and_payouts();
		// 10's whole weight (100) now backs 2 alone? No: it is split among the candidates it
		// named that still exist, so 2 gets all 100.
		assert_eq!(Winners::<Test>::get().into_inner(), vec![(2, 100)]);
		assert_eq!(paid(1), 0);
	});
}

#[test]
fn payouts_span_blocks_and_the_next_tally_does_not_reshare_queued_funds() {
	build_and_execute(1_000, || {
		candidate(1, 0);
		for who in 2..=9 {
			vote(who, &[1]);
		}
		run_to_block(u64::from(PERIOD));
		// 9 payees (8 voters + the winner's remainder) at 4 per block.
		assert!(Outstanding::<Test>::get() > 0, "not all paid in the tally block");
		run_to_block(u64::from(PERIOD) + 2);
		assert_eq!(Outstanding::<Test>::get(), 0);
		assert_eq!(Balances::balance(&POOL), ED);
	});
}
