//! Unit tests of bonds, planning (eligibility, the third-at-a-time limit, the minimum), leaving
//! and missed slots. The attacker's view: votes moved at once cannot replace more than a third
//! of the set, keys set at the last moment or a bond without keys buy nothing, an outsider's
//! blocks count for no one.

use crate::{
	mock::*, Active, Authored, Bonded, DesiredValidators, Error, Event, HoldReason, KeysSince,
	MinValidators, Missed, Planned, SessionLength, MAX_SESSION_LENGTH,
};
use frame_support::{
	assert_noop, assert_ok,
	traits::fungible::{Inspect, InspectHold},
};
use pallet_authorship::EventHandler;

fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| match r.event {
			RuntimeEvent::Validators(event) => Some(event),
			_ => None,
		})
		.collect()
}

/// `who` stands in coin voting, bonds and sets session keys.
fn bonded_with_keys(who: u64) {
	Candidates::mutate(|c| c.push(who));
	assert_ok!(Validators::bond(RuntimeOrigin::signed(who)));
	WithKeys::mutate(|keys| keys.push(who));
}

fn counts(min: u32, desired: u32) {
	assert_ok!(Validators::set_validator_counts(RuntimeOrigin::root(), min, desired));
}

fn held(who: u64) -> u128 {
	Balances::balance_on_hold(&HoldReason::ValidatorBond.into(), &who)
}

fn active() -> Vec<u64> {
	Active::<Test>::get().to_vec()
}

/// `who` authors `blocks` blocks.
fn author(who: u64, blocks: u32) {
	for _ in 0..blocks {
		<Validators as EventHandler<u64, u64>>::note_author(who);
	}
}

#[test]
fn calls_reject_bad_input_each_with_its_own_error() {
	build_and_execute(&[1], || {
		assert_noop!(Validators::bond(RuntimeOrigin::signed(1)), Error::<Test>::AlreadyBonded);
		assert_noop!(Validators::unbond(RuntimeOrigin::signed(2)), Error::<Test>::NotBonded);
		assert_noop!(Validators::bond(RuntimeOrigin::signed(2)), Error::<Test>::NotACandidate);
		Candidates::mutate(|c| c.extend([2, 3, 4, 5, 6, 7, 8, 9, 30]));
		// Account 30 has nothing to hold.
		assert_noop!(Validators::bond(RuntimeOrigin::signed(30)), Error::<Test>::CannotHoldBond);
		for who in 2..=8 {
			assert_ok!(Validators::bond(RuntimeOrigin::signed(who)));
		}
		assert_noop!(Validators::bond(RuntimeOrigin::signed(9)), Error::<Test>::TooManyBonded);
		assert_ok!(Validators::unbond(RuntimeOrigin::signed(1)));
		assert_noop!(Validators::unbond(RuntimeOrigin::signed(1)), Error::<Test>::AlreadyLeaving);
	});
}

#[test]
fn genesis_validators_are_bonded_and_an_unchanged_ranking_plans_nothing() {
	build_and_execute(&[1, 2], || {
		assert_eq!(active(), vec![1, 2]);
		assert_eq!((held(1), held(2)), (BOND, BOND));
		Ranked::set(vec![2, 1]);
		assert_eq!(rotate(1), None);
		assert_eq!(Planned::<Test>::get(), None);
	});
}

#[test]
fn a_bonded_voted_candidate_joins_one_planning_after_its_keys_are_seen() {
	build_and_execute(&[1], || {
		counts(1, 2);
		Ranked::set(vec![1, 2]);
		bonded_with_keys(2);
		// First seen with keys at this planning: not yet.
		assert_eq!(rotate(1), None);
		assert_eq!(KeysSince::<Test>::get(2), Some(2));
		// The next planning takes it; it validates from the session planned for.
		assert_eq!(rotate(2), Some(vec![1, 2]));
		assert!(events().contains(&Event::SetPlanned {
			session: 3,
			validators: vec![1, 2],
			joined: 1,
			left: 0
		}));
		assert_eq!(active(), vec![1]);
		assert_eq!(rotate(3), None, "nothing more to change");
		assert_eq!(active(), vec![1, 2]);
	});
}

#[test]
fn a_bond_without_keys_or_votes_and_votes_without_a_bond_buy_nothing() {
	build_and_execute(&[1], || {
		// 2: bond and votes, no keys. 3: keys and votes, no bond. 4: bond and keys, no votes.
		Candidates::mutate(|c| c.extend([2, 3, 4]));
		assert_ok!(Validators::bond(RuntimeOrigin::signed(2)));
		WithKeys::mutate(|keys| keys.extend([3, 4]));
		assert_ok!(Validators::bond(RuntimeOrigin::signed(4)));
		Ranked::set(vec![2, 3, 1]);
		for session in 1..5 {
			assert_eq!(rotate(session), None);
		}
		assert_eq!(active(), vec![1]);
	});
}

#[test]
fn votes_moved_at_once_replace_one_of_four_validators_a_session() {
	build_and_execute(&[1, 2, 3, 4], || {
		Ranked::set(vec![1, 2, 3, 4]);
		for attacker in [5, 6, 7, 8] {
			bonded_with_keys(attacker);
		}
		assert_eq!(rotate(1), None, "their keys are first seen");
		// A tally ranks all four newcomers above the set.
		Ranked::set(vec![5, 6, 7, 8, 1, 2, 3, 4]);
		let mut previous = active();
		for session in 2..8 {
			if let Some(next) = rotate(session) {
				let kept = next.iter().filter(|who| previous.contains(who)).count();
				assert!(kept + 1 >= previous.len(), "one member replaced at most: {next:?}");
				previous = next;
			}
		}
		// Four wanted: after four sessions the set is the four newcomers.
		assert_eq!(
			{
				let mut set = previous.clone();
				set.sort();
				set
			},
			vec![5, 6, 7, 8]
		);
	});
}

#[test]
fn a_leaving_validator_is_planned_out_and_its_bond_released_once_out() {
	build_and_execute(&[1, 2], || {
		counts(1, 1);
		Ranked::set(vec![1, 2]);
		let free_before = Balances::balance(&2);
		assert_ok!(Validators::unbond(RuntimeOrigin::signed(2)));
		assert!(events().contains(&Event::Leaving { who: 2 }));
		assert_eq!(held(2), BOND, "held while it validates");
		assert_eq!(rotate(1), Some(vec![1]));
		assert_eq!(held(2), BOND, "still validating this session");
		assert_eq!(rotate(2), None);
		assert_eq!(active(), vec![1]);
		assert_eq!(held(2), 0);
		assert_eq!(Balances::balance(&2), free_before + BOND);
		assert!(!Bonded::<Test>::contains_key(2));
		assert!(events().contains(&Event::Unbonded { who: 2, amount: BOND }));
	});
}

#[test]
fn an_account_outside_every_set_unbonds_at_once() {
	build_and_execute(&[1], || {
		Candidates::mutate(|c| c.push(2));
		assert_ok!(Validators::bond(RuntimeOrigin::signed(2)));
		assert_ok!(Validators::unbond(RuntimeOrigin::signed(2)));
		assert_eq!(held(2), 0);
		assert!(!Bonded::<Test>::contains_key(2));
	});
}

#[test]
fn the_last_validator_stays_though_it_leaves_until_someone_replaces_it() {
	build_and_execute(&[1], || {
		Ranked::set(vec![1]);
		assert_ok!(Validators::unbond(RuntimeOrigin::signed(1)));
		assert_eq!(rotate(1), None, "never an empty set");
		assert_eq!(held(1), BOND);
		bonded_with_keys(2);
		Ranked::set(vec![1, 2]);
		assert_eq!(rotate(2), None);
		assert_eq!(rotate(3), Some(vec![2]));
		assert_eq!(rotate(4), None);
		assert_eq!((active(), held(1)), (vec![2], 0));
	});
}

#[test]
fn the_set_keeps_its_minimum() {
	build_and_execute(&[1, 2], || {
		assert_eq!(MinValidators::<Test>::get(), 2, "the genesis validators' number");
		Ranked::set(vec![1, 2]);
		assert_ok!(Validators::unbond(RuntimeOrigin::signed(2)));
		assert_eq!(rotate(1), None, "two at least: 2 stays");
	});
}

#[test]
fn a_validator_that_missed_half_its_slots_leaves_at_the_next_planning() {
	build_and_execute(&[1, 2, 3, 4], || {
		counts(3, 4);
		Ranked::set(vec![1, 2, 3, 4]);
		Slot::set(100);
		assert_eq!(rotate(1), None);
		// Session 1 runs slots 101..=120: five each. 3 authors two of its five, 4 three.
		Slot::set(120);
		author(1, 5);
		author(2, 5);
		author(3, 2);
		author(4, 3);
		assert_eq!(rotate(2), Some(vec![1, 2, 4]));
		assert!(events().contains(&Event::MissedSlots {
			who: 3,
			session: 1,
			authored: 2,
			slots: 5
		}));
		assert!(!events().iter().any(|e| matches!(e, Event::MissedSlots { who: 4, .. })));
		assert_eq!(Authored::<Test>::get(1), 0, "counts start again each session");
		// Left out of one planning; at the next the mark has lapsed: planned back in.
		assert_eq!(Missed::<Test>::get(3), Some(1));
		assert_eq!(rotate(3), Some(vec![1, 2, 4, 3]));
		assert_eq!(Missed::<Test>::get(3), None);
		assert_eq!(active(), vec![1, 2, 4]);
	});
}

#[test]
fn a_session_shorter_than_two_slots_a_validator_judges_no_one() {
	build_and_execute(&[1, 2, 3, 4], || {
		Ranked::set(vec![1, 2, 3, 4]);
		Slot::set(100);
		assert_eq!(rotate(1), None);
		Slot::set(107);
		assert_eq!(rotate(2), None, "nobody authored, but seven slots are not eight");
		assert!(Missed::<Test>::iter().next().is_none());
	});
}

#[test]
fn blocks_of_an_account_outside_the_set_count_for_no_one() {
	build_and_execute(&[1], || {
		author(9, 10);
		assert_eq!(Authored::<Test>::get(9), 0);
		author(1, 1);
		assert_eq!(Authored::<Test>::get(1), 1);
	});
}

#[test]
fn keys_removed_take_a_validator_out_and_must_be_seen_again() {
	build_and_execute(&[1, 2], || {
		Ranked::set(vec![1, 2]);
		WithKeys::set(vec![1]);
		assert_eq!(rotate(1), Some(vec![1]));
		assert_eq!(KeysSince::<Test>::get(2), None);
		WithKeys::set(vec![1, 2]);
		assert_eq!(rotate(2), None, "seen again, not yet eligible");
		assert_eq!(rotate(3), Some(vec![1, 2]));
	});
}

#[test]
fn root_sets_the_counts_within_bounds() {
	build_and_execute(&[1, 2], || {
		assert_eq!(DesiredValidators::<Test>::get(), 2, "the genesis validators' number");
		assert_noop!(
			Validators::set_validator_counts(RuntimeOrigin::signed(1), 1, 3),
			sp_runtime::DispatchError::BadOrigin
		);
		for (min, desired) in [(0, 3), (3, 2), (1, MAX_VALIDATORS + 1)] {
			assert_noop!(
				Validators::set_validator_counts(RuntimeOrigin::root(), min, desired),
				Error::<Test>::CountsOutOfBounds
			);
		}
		// Sessions of 8 blocks give at most four validators two slots each.
		assert_ok!(Validators::set_session_length(RuntimeOrigin::root(), 8));
		assert_noop!(
			Validators::set_validator_counts(RuntimeOrigin::root(), 1, 5),
			Error::<Test>::SessionTooShortForSet
		);
		counts(2, 4);
		counts(2, 3);
		assert!(events().contains(&Event::ValidatorCountsSet { min: 2, desired: 3 }));
		// Room for a third: an eligible account nobody voted for joins.
		bonded_with_keys(3);
		assert_eq!(rotate(1), None);
		assert_eq!(rotate(2), Some(vec![1, 2, 3]));
	});
}

#[test]
fn root_sets_a_session_length_that_leaves_every_validator_two_slots() {
	build_and_execute(&[1, 2], || {
		assert_noop!(
			Validators::set_session_length(RuntimeOrigin::signed(1), 40),
			sp_runtime::DispatchError::BadOrigin
		);
		// Twice the set it aims at (two), up to a week of blocks.
		for bad in [0, 3, MAX_SESSION_LENGTH + 1] {
			assert_noop!(
				Validators::set_session_length(RuntimeOrigin::root(), bad),
				Error::<Test>::SessionLengthOutOfBounds
			);
		}
		for good in [4, MAX_SESSION_LENGTH] {
			assert_ok!(Validators::set_session_length(RuntimeOrigin::root(), good));
			assert_eq!(SessionLength::<Test>::get(), good);
			assert!(events().contains(&Event::SessionLengthSet { length: good }));
		}
		// The bound follows the set aimed at: with room for three, six blocks at least.
		counts(2, 3);
		assert_noop!(
			Validators::set_session_length(RuntimeOrigin::root(), 5),
			Error::<Test>::SessionLengthOutOfBounds
		);
		assert_ok!(Validators::set_session_length(RuntimeOrigin::root(), 6));
	});
}

#[test]
fn a_chain_nobody_votes_on_keeps_its_validators_and_votes_decide_between_them() {
	build_and_execute(&[1, 2], || {
		// 3 is eligible too, unvoted: the members come first among the unvoted.
		bonded_with_keys(3);
		for session in 1..4 {
			assert_eq!(rotate(session), None);
		}
		// Votes for 3 put it ahead of the unvoted member with the worst place.
		Ranked::set(vec![3]);
		assert_eq!(rotate(4), Some(vec![1, 3]));
		assert_eq!(rotate(5), None);
		// Votes for 2 then vote 3 out again (it is unvoted now: 2 is backed, 1 a member).
		Ranked::set(vec![2]);
		assert_eq!(rotate(6), Some(vec![1, 2]));
	});
}

#[test]
fn dust_votes_displace_nobody_and_real_ones_one_validator_a_session() {
	build_and_execute(&[1, 2, 3, 4], || {
		for sybil in [5, 6, 7] {
			bonded_with_keys(sybil);
		}
		// One voter's dust spread over three Sybils: below the minimum backing.
		Ranked::set(vec![5, 6, 7]);
		Backing::set(vec![(5, MIN_BACKING - 1), (6, 1), (7, 1)]);
		for session in 1..6 {
			assert_eq!(rotate(session), None, "session {session}");
		}
		// Backing that counts: one swap a session, never more.
		Backing::set(vec![]);
		let mut previous = active();
		for session in 6..12 {
			if let Some(next) = rotate(session) {
				let kept = next.iter().filter(|who| previous.contains(who)).count();
				assert_eq!(kept, previous.len() - 1, "{next:?}");
				previous = next;
			}
		}
	});
}

#[test]
fn a_bond_whose_owner_stopped_standing_is_released_once_it_is_out_of_every_set() {
	build_and_execute(&[1, 2], || {
		counts(1, 2);
		bonded_with_keys(3);
		// 3 gives up candidacy while outside every set: released at the next session start.
		Candidates::mutate(|c| c.retain(|who| *who != 3));
		assert_eq!(rotate(1), None);
		assert!(!Bonded::<Test>::contains_key(3));
		assert_eq!(held(3), 0);
		// A validator that is no candidate (as genesis validators are not) keeps its bond while
		// it validates.
		Candidates::mutate(|c| c.retain(|who| *who != 2));
		assert_eq!(rotate(2), None);
		assert_eq!(held(2), BOND);
	});
}

#[test]
fn the_genesis_session_is_not_judged() {
	build_and_execute(&[1, 2, 3, 4], || {
		// pallet-session starts session 0 before Aura has a slot (0 here): the first judged
		// session is 1, nobody is marked for the thousand slots "since" slot 0.
		Slot::set(1_000);
		assert_eq!(rotate(1), None);
		assert!(Missed::<Test>::iter().next().is_none());
		assert!(!events().iter().any(|e| matches!(e, Event::MissedSlots { .. })));
	});
}

#[test]
fn a_mark_for_missed_slots_lapses_so_an_absent_validator_can_come_back() {
	build_and_execute(&[1, 2, 3, 4], || {
		counts(3, 4);
		Ranked::set(vec![1, 2, 3, 4]);
		Slot::set(100);
		assert_eq!(rotate(1), None);
		// 4 is offline for sessions 1 and 2: marked at both ends, planned out once nobody
		// keeps it in.
		Slot::set(120);
		for who in [1, 2, 3] {
			author(who, 5);
		}
		assert_eq!(rotate(2), Some(vec![1, 2, 3]));
		Slot::set(140);
		for who in [1, 2, 3] {
			author(who, 5);
		}
		assert_eq!(rotate(3), None, "marked again, still out");
		assert_eq!(Missed::<Test>::get(4), Some(2));
		// Its node is back: the mark lapses, and it is planned back in.
		Slot::set(160);
		for who in [1, 2, 3] {
			author(who, 7);
		}
		assert_eq!(rotate(4), Some(vec![1, 2, 3, 4]));
		assert_eq!(Missed::<Test>::get(4), None);
	});
}

#[test]
fn a_member_without_keys_leaves_whatever_the_limits() {
	build_and_execute(&[1, 2, 3, 4], || {
		assert_eq!(MinValidators::<Test>::get(), 4);
		// 4 purged its keys: pallet-session would skip it, so the plan drops it too.
		WithKeys::set(vec![1, 2, 3]);
		assert_eq!(rotate(1), Some(vec![1, 2, 3]));
		assert!(events().contains(&Event::SetPlanned {
			session: 2,
			validators: vec![1, 2, 3],
			joined: 0,
			left: 1
		}));
		// Nobody with keys at all: the set stays (never empty).
		WithKeys::set(vec![]);
		assert_eq!(rotate(2), None);
		assert_eq!(rotate(3), None);
		assert_eq!(active(), vec![1, 2, 3]);
	});
}
