//! Unit tests of candidacy (deposits, replacement), voting (minimum balance, replacement), the
//! one-block tally with its evictions, payouts, root's period, genesis and the v1 → v2
//! migration. The attacker's view: dust and Sybil accounts gain nothing.

use crate::{
	migrations, mock::*, CandidateInfo, Candidates, Error, Event, HoldReason, Outstanding, Period,
	Votes, WeightInfo, Winners,
};
use frame_support::{
	assert_noop, assert_ok,
	traits::{
		fungible::{Inspect, InspectHold, Mutate, MutateHold},
		tokens::Preservation,
		GetStorageVersion, Hooks, OnRuntimeUpgrade, StorageVersion,
	},
	BoundedVec,
};
use sp_runtime::{BuildStorage, DispatchError, Perbill};

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

fn try_vote(who: u64, names: &[u64]) -> sp_runtime::DispatchResult {
	CoinVoting::vote(RuntimeOrigin::signed(who), BoundedVec::truncate_from(names.to_vec()))
}

fn try_register(who: u64) -> sp_runtime::DispatchResult {
	CoinVoting::register_candidate(RuntimeOrigin::signed(who), Perbill::zero())
}

/// What is on hold for `who` as a candidate deposit.
fn held(who: u64) -> u128 {
	Balances::balance_on_hold(&HoldReason::CandidateDeposit.into(), &who)
}

/// Gives the fresh account `who` exactly `amount`.
fn fund(who: u64, amount: u128) {
	Balances::set_balance(&who, amount);
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

fn candidates() -> Vec<u64> {
	let mut all: Vec<u64> = Candidates::<Test>::iter_keys().collect();
	all.sort();
	all
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
		fund(1001, DEPOSIT); // keeping the existential deposit, it can hold only DEPOSIT - 1
		assert_noop!(try_register(1001), Error::<Test>::InsufficientBalanceForDeposit);
		candidate(1, 10);
		candidate(1, 5); // update, not a second candidacy
		assert_eq!(Candidates::<Test>::count(), 1);
		for who in 2..=8 {
			candidate(who, 0);
		}
		fund(1002, 10); // as much as the poorest candidate (1): it cannot take its place
		assert_noop!(try_register(1002), Error::<Test>::TooManyCandidates);
		let v = |names: Vec<u64>| {
			CoinVoting::vote(RuntimeOrigin::signed(10), BoundedVec::truncate_from(names))
		};
		assert_noop!(v(vec![]), Error::<Test>::EmptyVote);
		assert_noop!(v(vec![1, 1]), Error::<Test>::DuplicateVote);
		assert_noop!(v(vec![9]), Error::<Test>::NotCandidate);
		fund(1003, MIN_VOTER - 1);
		assert_noop!(try_vote(1003, &[1]), Error::<Test>::VoterBalanceTooLow);
		assert_noop!(CoinVoting::unvote(RuntimeOrigin::signed(10)), Error::<Test>::NotVoter);
		assert_ok!(v(vec![1, 2]));
		assert_ok!(CoinVoting::unvote(RuntimeOrigin::signed(10)));
		assert!(!Votes::<Test>::contains_key(10));
		assert_noop!(CoinVoting::set_period(RuntimeOrigin::signed(1), 5), DispatchError::BadOrigin);
		assert_noop!(CoinVoting::set_period(RuntimeOrigin::root(), 0), Error::<Test>::ZeroPeriod);
	});
}

#[test]
fn registering_holds_the_deposit_and_unregistering_releases_it() {
	build_and_execute(0, || {
		candidate(3, 10);
		System::assert_last_event(
			Event::CandidateRegistered {
				who: 3,
				commission: Perbill::from_percent(10),
				deposit: DEPOSIT,
			}
			.into(),
		);
		assert_eq!((held(3), Balances::balance(&3), Balances::total_balance(&3)), (5, 25, 30));
		assert_eq!(
			Candidates::<Test>::get(3),
			Some(CandidateInfo { commission: Perbill::from_percent(10), deposit: DEPOSIT })
		);
		// Updating the commission holds nothing more.
		candidate(3, 20);
		assert_eq!(held(3), DEPOSIT);
		// The deposit cannot be spent while held.
		assert!(Balances::transfer(&3, &4, 30, Preservation::Expendable).is_err());
		assert_ok!(CoinVoting::unregister_candidate(RuntimeOrigin::signed(3)));
		System::assert_last_event(Event::CandidateUnregistered { who: 3, released: 5 }.into());
		assert_eq!((held(3), Balances::balance(&3)), (0, 30));
	});
}

#[test]
fn dust_candidates_cannot_block_a_newcomer_with_more_balance() {
	build_and_execute(1_000, || {
		// An attacker fills every slot with accounts holding just the deposit and the ED.
		for who in 1001..=1008 {
			fund(who, DEPOSIT + ED);
			assert_ok!(try_register(who));
		}
		assert_eq!(Candidates::<Test>::count(), MAX_CANDIDATES);
		vote(20, &[1008]);
		// A newcomer with more balance takes the place of the lowest (ties: the higher id).
		candidate(11, 0);
		System::assert_has_event(
			Event::CandidateReplaced { who: 1008, by: 11, released: DEPOSIT }.into(),
		);
		assert!(!Candidates::<Test>::contains_key(1008));
		assert_eq!((held(1008), Balances::balance(&1008)), (0, DEPOSIT + ED), "deposit back");
		// The replaced squatter cannot come back: it has no more than the lowest.
		assert_noop!(try_register(1008), Error::<Test>::TooManyCandidates);
		// Votes for the replaced candidate stop counting.
		vote(19, &[11]);
		run_to_block(u64::from(PERIOD));
		assert_eq!(Winners::<Test>::get().into_inner(), vec![(11, 190)]);
		// Every squatter can be pushed out; each gets its deposit back.
		for who in 12..=18 {
			candidate(who, 0);
		}
		assert_eq!(candidates(), (11..=18).collect::<Vec<_>>());
		for who in 1001..=1008 {
			assert_eq!((held(who), Balances::balance(&who)), (0, DEPOSIT + ED));
		}
	});
}

#[test]
fn a_newcomer_with_no_more_balance_than_the_lowest_candidate_is_refused() {
	build_and_execute(0, || {
		for who in 1..=8 {
			candidate(who, 0); // balances 10 … 80
		}
		fund(1001, 10);
		assert_noop!(try_register(1001), Error::<Test>::TooManyCandidates);
		assert_eq!(held(1001), 0, "a refused newcomer holds nothing");
		// The comparison is on current balances: once candidate 1 spends, 1001 has more.
		assert_ok!(Balances::transfer(&1, &2, 1, Preservation::Preserve));
		assert_ok!(try_register(1001));
		System::assert_has_event(
			Event::CandidateReplaced { who: 1, by: 1001, released: DEPOSIT }.into(),
		);
		assert_eq!(held(1), 0);
	});
}

#[test]
fn fraud_a_rival_cannot_push_the_last_tallys_winner_out_by_own_balance_alone() {
	build_and_execute(1_000, || {
		for who in 1..=8 {
			candidate(who, 0); // own balances 10 … 80
		}
		// Voters back candidate 1, the one with the least balance of its own.
		vote(20, &[1]);
		run_to_block(u64::from(PERIOD));
		assert_eq!(Winners::<Test>::get().into_inner(), vec![(1, 200)]);
		// A rival richer than 1 but not than 2 cannot take 1's place before the next tally.
		fund(1001, 15);
		assert_noop!(try_register(1001), Error::<Test>::TooManyCandidates);
		// One richer than 2 replaces 2, the lowest of the candidates nobody backed into a win.
		fund(1002, 25);
		assert_ok!(try_register(1002));
		System::assert_has_event(
			Event::CandidateReplaced { who: 2, by: 1002, released: DEPOSIT }.into(),
		);
		assert!(Candidates::<Test>::contains_key(1));
	});
}

#[test]
fn a_vote_below_the_minimum_balance_is_refused() {
	build_and_execute(0, || {
		candidate(1, 0);
		fund(1001, MIN_VOTER - 1);
		assert_noop!(try_vote(1001, &[1]), Error::<Test>::VoterBalanceTooLow);
		fund(1002, MIN_VOTER);
		vote(1002, &[1]);
		// A voter whose balance fell below the minimum cannot renew its vote either.
		assert_ok!(Balances::transfer(&1002, &1001, 1, Preservation::Preserve));
		assert_noop!(try_vote(1002, &[1]), Error::<Test>::VoterBalanceTooLow);
	});
}

#[test]
fn dust_voters_cannot_block_a_newcomer_with_more_balance() {
	build_and_execute(0, || {
		candidate(1, 0);
		for who in 1001..=1016 {
			fund(who, MIN_VOTER);
			vote(who, &[1]);
		}
		assert_eq!(Votes::<Test>::count(), MAX_VOTERS);
		vote(11, &[1]); // 110: takes the place of the lowest (ties: the higher id)
		System::assert_has_event(Event::VoterReplaced { who: 1016, by: 11 }.into());
		assert!(!Votes::<Test>::contains_key(1016));
		// A newcomer with no more than the lowest is refused with a clear error …
		fund(1017, MIN_VOTER);
		assert_noop!(try_vote(1017, &[1]), Error::<Test>::TooManyVoters);
		// … an existing voter may change its vote …
		vote(1001, &[1]);
		// … and one with more replaces the next squatter.
		fund(1018, MIN_VOTER + 1);
		vote(1018, &[1]);
		System::assert_has_event(Event::VoterReplaced { who: 1015, by: 1018 }.into());
		assert_eq!(Votes::<Test>::count(), MAX_VOTERS);
	});
}

#[test]
fn a_voter_whose_balance_moved_away_is_replaced_at_once() {
	build_and_execute(0, || {
		candidate(1, 0);
		for who in 1..=16 {
			vote(who, &[1]); // 10 … 160
		}
		// 16 voted with 160 and moved it away: its stored vote is stale, its slot the lowest.
		assert_ok!(Balances::transfer(&16, &17, 159, Preservation::Preserve));
		fund(1001, MIN_VOTER); // no more than voter 1, more than voter 16 now holds
		vote(1001, &[1]);
		System::assert_has_event(Event::VoterReplaced { who: 16, by: 1001 }.into());
		assert!(Votes::<Test>::contains_key(1));
	});
}

#[test]
fn coins_passed_between_sybil_voters_hold_only_one_slot() {
	build_and_execute(0, || {
		candidate(1, 0);
		for who in 1..=16 {
			vote(who, &[1]); // honest voters with 10 … 160
		}
		vote(17, &[1]); // the attacker's 170 pushes out the poorest honest voter (1)
		System::assert_has_event(Event::VoterReplaced { who: 1, by: 17 }.into());
		// The same coins moved to a second account: the first is now the lowest and yields.
		assert_ok!(Balances::transfer(&17, &1001, 169, Preservation::Preserve));
		vote(1001, &[1]);
		System::assert_has_event(Event::VoterReplaced { who: 17, by: 1001 }.into());
		assert!((2..=16).all(Votes::<Test>::contains_key), "honest voters stay");
	});
}

#[test]
fn a_voter_whose_balance_moved_away_is_evicted_at_the_next_tally_and_its_slot_freed() {
	build_and_execute(1_000, || {
		candidate(1, 0);
		for who in 1..=16 {
			vote(who, &[1]);
		}
		assert_ok!(Balances::transfer(&5, &6, 50, Preservation::Expendable));
		run_to_block(u64::from(PERIOD));
		System::assert_has_event(Event::VoterEvicted { who: 5, balance: 0 }.into());
		assert!(!Votes::<Test>::contains_key(5));
		assert_eq!(Votes::<Test>::count(), MAX_VOTERS - 1);
		// The freed slot takes a newcomer with no more than the lowest voter (1, with 10).
		fund(1001, MIN_VOTER);
		vote(1001, &[1]);
		assert_eq!(Votes::<Test>::count(), MAX_VOTERS);
		assert_eq!(paid(5), 0, "an evicted voter is paid nothing");
	});
}

#[test]
fn a_candidate_below_the_deposit_is_evicted_at_the_tally_and_its_deposit_released() {
	build_and_execute(1_000, || {
		// A candidate from before the deposit was raised: it holds 2 and has 4 in all.
		fund(1001, 4);
		assert_ok!(Balances::hold(&HoldReason::CandidateDeposit.into(), &1001, 2));
		Candidates::<Test>::insert(1001, CandidateInfo { commission: Perbill::zero(), deposit: 2 });
		candidate(1, 0);
		vote(10, &[1001]);
		vote(20, &[1]);
		run_to_block(u64::from(PERIOD));
		System::assert_has_event(
			Event::CandidateEvicted { who: 1001, balance: 4, released: 2 }.into(),
		);
		assert_eq!((held(1001), Balances::balance(&1001)), (0, 4));
		assert_eq!(candidates(), vec![1]);
		// Its voters' weight did not count for it.
		assert_eq!(Winners::<Test>::get().into_inner(), vec![(1, 200)]);
		assert!(Votes::<Test>::contains_key(10), "a voter with enough balance stays");
	});
}

#[test]
fn splitting_coins_among_sybil_voters_gains_nothing() {
	build_and_execute(1_000, || {
		candidate(1, 0);
		candidate(2, 0);
		// An honest holder of 150 backs 1; an attacker splits 150 into 15 voters of 10 for 2,
		// and 90 more into 10 dust accounts of 9 that cannot vote at all.
		vote(15, &[1]);
		for who in 1001..=1015 {
			fund(who, MIN_VOTER);
			vote(who, &[2]);
		}
		for who in 2001..=2010 {
			fund(who, MIN_VOTER - 1);
			assert_noop!(try_vote(who, &[2]), Error::<Test>::VoterBalanceTooLow);
		}
		run_to_block(u64::from(PERIOD));
		// 15 votes with 10 weigh exactly one vote with 150.
		assert_eq!(Winners::<Test>::get().into_inner(), vec![(1, 150), (2, 150)]);
	});
}

#[test]
fn a_period_shorter_than_the_payouts_defers_tallies_and_the_queue_stays_bounded() {
	build_and_execute(1_000, || {
		candidate(1, 0);
		candidate(2, 0);
		for who in 1001..1001 + u64::from(MAX_VOTERS) {
			fund(who, 10 * MIN_VOTER);
			vote(who, &[1, 2]);
		}
		// Each tally queues 16 voters + 2 winners, paid 4 a block: five blocks of payouts.
		assert_ok!(CoinVoting::set_period(RuntimeOrigin::root(), 1));
		let start = System::block_number();
		for block in start + 1..=start + 30 {
			run_to_block(block);
			let queued = crate::QueueTail::<Test>::get() - crate::QueueHead::<Test>::get();
			assert!(queued <= MAX_VOTERS + 2, "block {block}: {queued} payouts queued");
		}
		let deferred = System::events()
			.iter()
			.filter(|r| matches!(r.event, RuntimeEvent::CoinVoting(Event::TallyDeferred { .. })))
			.count();
		assert!(deferred > 0, "some tallies waited for the payouts");
		assert!(paid(1001) > 0, "and the voters were paid");
	});
}

#[test]
fn set_period_moves_the_tallies() {
	build_and_execute(1_000, || {
		assert_ok!(CoinVoting::set_period(RuntimeOrigin::root(), 3));
		System::assert_last_event(Event::PeriodSet { period: 3 }.into());
		assert_eq!(Period::<Test>::get(), 3);
		candidate(1, 0);
		vote(10, &[1]);
		run_to_block(3);
		assert_eq!(Winners::<Test>::get().into_inner(), vec![(1, 100)]);
	});
}

#[test]
#[should_panic(expected = "coin-voting genesis period must be at least one block")]
fn genesis_rejects_a_zero_period() {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	let _ = crate::GenesisConfig::<Test> { period: 0, ..Default::default() }
		.assimilate_storage(&mut storage);
}

#[test]
fn the_tally_block_is_weighed_with_its_evictions() {
	build_and_execute(0, || {
		candidate(1, 0);
		vote(10, &[1]);
		let quiet = CoinVoting::on_initialize(2);
		let tally = CoinVoting::on_initialize(u64::from(PERIOD));
		// Counted and evicted entries both at their worst case: whatever the mix, covered.
		assert!(tally.all_gte(quiet.saturating_add(CoinVoting::tally_weight(1, 1))));
		assert!(CoinVoting::tally_weight(1, 1).all_gte(<() as WeightInfo>::tally_evicting(1, 1)));
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
fn coins_moved_between_vote_and_tally_count_once_where_they_are() {
	build_and_execute(1_000, || {
		candidate(1, 0);
		candidate(2, 0);
		vote(10, &[1]); // 100
		vote(20, &[2]); // 200
				  // 10 gives all its coins to 20 before the tally: they count once, for 2, and 10 is
				  // evicted as a voter.
		assert_ok!(Balances::transfer(&10, &20, 100, Preservation::Expendable));
		run_tally_and_payouts();
		assert_eq!(Winners::<Test>::get().into_inner(), vec![(2, 300)]);
		System::assert_has_event(Event::VoterEvicted { who: 10, balance: 0 }.into());
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
		// 10's weight (100) is split among the candidates it named that still exist, so 2
		// gets all of it.
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

/// Version-1 state: candidates 1 (can pay the deposit), 2 (can pay) and 1001 (cannot), written
/// in the old layout (commission only), with the on-chain version at 1.
fn v1_state() {
	StorageVersion::new(1).put::<CoinVoting>();
	fund(1001, DEPOSIT);
	migrations::v1::Candidates::<Test>::insert(1, Perbill::from_percent(5));
	migrations::v1::Candidates::<Test>::insert(2, Perbill::from_percent(7));
	migrations::v1::Candidates::<Test>::insert(1001, Perbill::zero());
	assert_eq!(migrations::v1::Candidates::<Test>::count(), 3);
}

#[test]
fn migration_to_v2_holds_deposits_and_drops_candidates_that_cannot_pay() {
	build_and_execute(0, || {
		v1_state();
		migrations::v2::MigrateToV2::<Test>::on_runtime_upgrade();
		assert_eq!(CoinVoting::on_chain_storage_version(), StorageVersion::new(2));
		assert_eq!(
			Candidates::<Test>::get(1),
			Some(CandidateInfo { commission: Perbill::from_percent(5), deposit: DEPOSIT })
		);
		assert_eq!(
			Candidates::<Test>::get(2),
			Some(CandidateInfo { commission: Perbill::from_percent(7), deposit: DEPOSIT })
		);
		assert_eq!((held(1), held(2)), (DEPOSIT, DEPOSIT));
		assert_eq!(candidates(), vec![1, 2]);
		assert_eq!(Candidates::<Test>::count(), 2);
		System::assert_has_event(
			Event::CandidateEvicted { who: 1001, balance: DEPOSIT, released: 0 }.into(),
		);
		// Running it again changes nothing: the version is 2.
		migrations::v2::MigrateToV2::<Test>::on_runtime_upgrade();
		assert_eq!((held(1), held(2)), (DEPOSIT, DEPOSIT));
	});
}

#[test]
fn migration_to_v2_keeps_an_entry_already_in_the_v2_shape() {
	build_and_execute(0, || {
		// Candidate 3 stands under v2 code (deposit held, v2 record) before the migration ran.
		v1_state();
		candidate(3, 4);
		migrations::v2::MigrateToV2::<Test>::on_runtime_upgrade();
		assert_eq!(
			Candidates::<Test>::get(3),
			Some(CandidateInfo { commission: Perbill::from_percent(4), deposit: DEPOSIT })
		);
		assert_eq!(held(3), DEPOSIT, "held once, not again");
		assert_eq!(candidates(), vec![1, 2, 3]);
	});
}

#[cfg(feature = "try-runtime")]
#[test]
fn migration_to_v2_passes_its_try_runtime_checks() {
	build_and_execute(0, || {
		v1_state();
		assert_ok!(migrations::v2::MigrateToV2::<Test>::try_on_runtime_upgrade(true));
		assert_eq!(CoinVoting::on_chain_storage_version(), StorageVersion::new(2));
		assert_eq!(candidates(), vec![1, 2]);
	});
}

#[test]
fn the_ranking_names_every_backed_candidate_and_forgets_those_that_left() {
	build_and_execute(0, || {
		// Three candidates, two winners: the third is ranked all the same (the validator set
		// is chosen from the ranking).
		for who in [1, 2, 3] {
			candidate(who, 0);
		}
		vote(10, &[3]);
		vote(11, &[1]);
		vote(12, &[2]);
		// Candidate 4 has no votes: not ranked.
		candidate(4, 0);
		run_tally_and_payouts();
		assert_eq!(Winners::<Test>::get().len(), 2);
		assert_eq!(CoinVoting::ranked(), vec![(2, 120), (1, 110), (3, 100)]);
		assert_ok!(CoinVoting::unregister_candidate(RuntimeOrigin::signed(1)));
		assert_eq!(CoinVoting::ranked(), vec![(2, 120), (3, 100)], "gone until the next tally");
	});
}
