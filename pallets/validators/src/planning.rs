//! The arithmetic of a planning, without storage: who joins and leaves, and whose slots a
//! session had.

use alloc::vec::Vec;

/// The outcome of a planning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan<A> {
	/// The set, in authority order: the members that stay in their order, then the newcomers
	/// best backed first.
	pub set: Vec<A>,
	/// How many joined.
	pub joined: u32,
	/// How many left.
	pub left: u32,
}

/// Plans the next set from the `active` one and the `eligible` candidates, best first: the
/// wanted set is the first `desired` of them (within `min..=max`). At most ⌊(n−1)/3⌋ (at least
/// one) of the `n` members leave, and as many newcomers join; members that are not eligible
/// leave before eligible ones that were outranked, the worst ranked first; the set keeps at
/// least `min` members (at least one) while it has them and never exceeds `max`.
pub fn plan<A: Clone + PartialEq>(
	active: &[A],
	eligible: &[A],
	desired: usize,
	min: usize,
	max: usize,
) -> Plan<A> {
	let min = min.max(1);
	let max = max.max(min);
	let wanted = &eligible[..eligible.len().min(desired.clamp(min, max))];
	let n = active.len();
	let limit = (n.saturating_sub(1) / 3).max(1);
	let rank = |who: &A| eligible.iter().position(|e| e == who).unwrap_or(usize::MAX);
	let mut leaving: Vec<&A> = active.iter().filter(|who| !wanted.contains(who)).collect();
	// Worst first: not eligible at all (no rank), then the lowest ranked.
	leaving.sort_by_key(|who| core::cmp::Reverse(rank(who)));
	let mut joins = wanted.iter().filter(|who| !active.contains(who)).count().min(limit);
	let mut leaves = leaving.len().min(limit);
	while n + joins - leaves < min && leaves > 0 {
		leaves -= 1;
	}
	while n + joins - leaves > max && joins > 0 {
		joins -= 1;
	}
	let gone = &leaving[..leaves];
	let set = active
		.iter()
		.filter(|who| !gone.contains(who))
		.chain(wanted.iter().filter(|who| !active.contains(who)).take(joins))
		.cloned()
		.collect();
	Plan { set, joined: joins as u32, left: leaves as u32 }
}

/// How many of the slots after `start` up to and including `end` belong to validator `index`
/// of `n` (Aura: slot `s` is `s mod n`'s).
pub fn own_slots(start: u64, end: u64, index: u64, n: u64) -> u64 {
	if n == 0 || index >= n {
		return 0;
	}
	// Slots s ≤ x with s ≡ index (mod n).
	let up_to = |x: u64| if x < index { 0 } else { (x - index) / n + 1 };
	up_to(end).saturating_sub(up_to(start))
}

#[cfg(test)]
mod tests {
	use super::*;

	fn planned(active: &[u8], eligible: &[u8], min: usize, max: usize) -> (Vec<u8>, u32, u32) {
		let p = plan(active, eligible, max, min, max);
		(p.set, p.joined, p.left)
	}

	#[test]
	fn an_unchanged_ranking_plans_the_same_set() {
		assert_eq!(planned(&[1, 2, 3, 4], &[4, 3, 2, 1], 1, 32), (vec![1, 2, 3, 4], 0, 0));
	}

	#[test]
	fn a_set_of_four_changes_one_member_a_session() {
		// Four newcomers outrank the whole set (with room for four in all): one swap a session.
		let eligible = [5, 6, 7, 8, 1, 2, 3, 4];
		assert_eq!(planned(&[1, 2, 3, 4], &eligible, 1, 4), (vec![1, 2, 3, 5], 1, 1));
		assert_eq!(planned(&[1, 2, 3, 5], &eligible, 1, 4), (vec![1, 2, 5, 6], 1, 1));
	}

	#[test]
	fn larger_sets_replace_a_third_less_one() {
		let active: Vec<u8> = (1..=10).collect();
		let newcomers: Vec<u8> = (11..=20).collect();
		let (set, joined, left) = planned(&active, &newcomers, 1, 10);
		assert_eq!((joined, left), (3, 3), "⌊(10 − 1) / 3⌋");
		assert_eq!(set, vec![4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
	}

	#[test]
	fn growth_is_limited_like_replacement() {
		// Room for 32: a set of four grows by one a session.
		let eligible: Vec<u8> = (1..=20).collect();
		assert_eq!(planned(&[1, 2, 3, 4], &eligible, 1, 32), (vec![1, 2, 3, 4, 5], 1, 0));
	}

	#[test]
	fn the_ineligible_leave_before_the_outranked_and_the_worst_ranked_first() {
		// 7 members (two may go): 3 is not eligible; 6 and 7 are outranked by 8 and 9, 7 worst.
		let eligible = [1, 2, 8, 9, 4, 5, 6, 7];
		let (set, joined, left) = planned(&[1, 2, 3, 4, 5, 6, 7], &eligible, 1, 6);
		assert_eq!((joined, left), (1, 2));
		assert_eq!(set, vec![1, 2, 4, 5, 6, 8], "3 and 7 left; 8 joined, 9 had no room");
	}

	#[test]
	fn the_set_keeps_its_minimum_and_never_empties() {
		// Nobody eligible: the set stays as it is at its minimum...
		assert_eq!(planned(&[1, 2], &[], 2, 32), (vec![1, 2], 0, 0));
		// ...and above it shrinks one at a time down to it.
		assert_eq!(planned(&[1, 2, 3], &[], 2, 32), (vec![2, 3], 0, 1));
		// A single validator is never planned away without a successor.
		assert_eq!(planned(&[1], &[], 1, 32), (vec![1], 0, 0));
		assert_eq!(planned(&[1], &[2], 1, 32), (vec![2], 1, 1), "handed over in one session");
		assert_eq!(planned(&[1, 2], &[2], 1, 32), (vec![2], 0, 1));
	}

	#[test]
	fn a_chain_without_a_set_gains_one_validator_at_a_time() {
		assert_eq!(planned(&[], &[5, 6], 1, 32), (vec![5], 1, 0));
		assert_eq!(planned(&[], &[], 1, 32), (vec![], 0, 0));
	}

	#[test]
	fn plans_stay_within_bounds_whatever_the_inputs() {
		for n in 0..8u8 {
			for m in 0..10u8 {
				for max in 1..6usize {
					for min in 1..=max {
						let active: Vec<u8> = (0..n).collect();
						let eligible: Vec<u8> = (n / 2..n / 2 + m).rev().collect();
						let p = plan(&active, &eligible, max, min, max);
						let changes = ((n as usize).saturating_sub(1) / 3).max(1) as u32;
						assert!(p.joined <= changes && p.left <= changes);
						assert_eq!(p.set.len(), n as usize + p.joined as usize - p.left as usize);
						if n as usize <= max {
							assert!(p.set.len() <= max, "{n} {m} {min} {max}: {:?}", p.set);
						}
						if n > 0 {
							assert!(!p.set.is_empty());
							assert!(p.set.len() >= min.min(n as usize));
						}
						let mut unique = p.set.clone();
						unique.sort();
						unique.dedup();
						assert_eq!(unique.len(), p.set.len());
					}
				}
			}
		}
	}

	#[test]
	fn the_wanted_set_is_the_desired_count_of_the_best() {
		// Room for 32, but four wanted: the fifth, outranked, goes; a sixth does not join.
		let p = plan(&[1, 2, 3, 4, 5], &[6, 1, 2, 3, 4, 5], 4, 1, 32);
		assert_eq!((p.set, p.joined, p.left), (vec![1, 2, 3, 4, 6], 1, 1));
		let p = plan(&[1, 2, 3, 4, 6], &[6, 1, 2, 3, 4, 5], 4, 1, 32);
		assert_eq!((p.set, p.joined, p.left), (vec![1, 2, 3, 6], 0, 1));
		// Desired counts are kept within the bounds.
		assert_eq!(plan(&[1], &[1, 2, 3], 0, 2, 32).set, vec![1, 2]);
		assert_eq!(plan(&[1, 2], &[1, 2, 3], 9, 1, 2).set, vec![1, 2]);
	}

	#[test]
	fn own_slots_follow_aura_round_robin() {
		// Slots 11..=20 of a set of 3: validator 0 has 12, 15, 18; 1 has 13, 16, 19; 2 has
		// 11, 14, 17, 20.
		assert_eq!(own_slots(10, 20, 0, 3), 3);
		assert_eq!(own_slots(10, 20, 1, 3), 3);
		assert_eq!(own_slots(10, 20, 2, 3), 4);
		for (start, end, n) in [(0, 0, 1), (5, 6, 4), (0, 100, 7), (99, 1000, 5)] {
			let total: u64 = (0..n).map(|i| own_slots(start, end, i, n)).sum();
			assert_eq!(total, end - start, "every slot has one owner");
		}
		assert_eq!(own_slots(0, 10, 3, 3), 0, "no such validator");
		assert_eq!(own_slots(0, 10, 0, 0), 0);
	}
}
