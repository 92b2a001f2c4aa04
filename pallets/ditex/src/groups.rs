//! Group assignment and rebalancing, as pure functions over group sizes and member lists so
//! that they are tested (and property-tested) without storage.
//!
//! Two goals, in order: sizes within one of each other, then geographic spread — no group
//! holds more than `⌈n_c / G⌉ + 1` routers of country `c` (`n_c` routers of that country in
//! all, `G` groups). Every step moves one router (or swaps two, to keep sizes), so the work per
//! report period is bounded by the caller's `max_steps`.

use alloc::{collections::BTreeMap, vec::Vec};

/// Picks the group a new router joins: the smallest one that is not full (lowest id on ties),
/// or `None` when every group is full (the caller opens a new one).
pub fn group_for_new_router(sizes: &[u32], max_group_size: u32) -> Option<usize> {
	sizes
		.iter()
		.enumerate()
		.filter(|(_, size)| **size < max_group_size)
		.min_by_key(|(index, size)| (**size, *index))
		.map(|(index, _)| index)
}

/// A router that changed group: index into the source group before the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
	/// Group it left.
	pub from: usize,
	/// Group it joined.
	pub to: usize,
}

/// Countries of each group's members; the caller keeps the accounts in the same order and
/// applies the same moves (see [`apply`]).
pub type Countries = Vec<Vec<[u8; 2]>>;

/// The most routers of `country` any group should hold.
fn country_cap(total: u32, groups: usize) -> u32 {
	let groups = groups.max(1) as u32;
	total.div_ceil(groups).saturating_add(1)
}

fn count(group: &[[u8; 2]], country: [u8; 2]) -> u32 {
	group.iter().filter(|c| **c == country).count() as u32
}

/// One step that brings sizes closer: a router from the largest group to the smallest,
/// choosing the country that is most over-represented there relative to the target.
fn size_step(groups: &[Vec<[u8; 2]>]) -> Option<(usize, usize, usize)> {
	let (largest, _) = groups.iter().enumerate().max_by_key(|(i, g)| (g.len(), usize::MAX - i))?;
	let (smallest, _) = groups.iter().enumerate().min_by_key(|(i, g)| (g.len(), *i))?;
	let (big, small) = (groups.get(largest)?, groups.get(smallest)?);
	if big.len() <= small.len().saturating_add(1) {
		return None;
	}
	let pick = big
		.iter()
		.enumerate()
		.max_by_key(|(i, c)| (count(big, **c) as i64 - count(small, **c) as i64, *i))
		.map(|(i, _)| i)?;
	Some((largest, pick, smallest))
}

/// One step that spreads a country: a router of an over-represented country moves to the group
/// with the fewest of that country, swapping with a router of another country when the target
/// is not smaller (so sizes stay within one).
fn spread_step(groups: &[Vec<[u8; 2]>]) -> Option<Vec<(usize, usize, usize)>> {
	let mut totals: BTreeMap<[u8; 2], u32> = BTreeMap::new();
	for country in groups.iter().flatten() {
		*totals.entry(*country).or_default() += 1;
	}
	let cap = |c: [u8; 2]| country_cap(totals.get(&c).copied().unwrap_or(0), groups.len());
	for (g, group) in groups.iter().enumerate() {
		let Some(over) = group.iter().copied().find(|c| count(group, *c) > cap(*c)) else {
			continue;
		};
		let (target, target_group) = groups
			.iter()
			.enumerate()
			.filter(|(h, _)| *h != g)
			.min_by_key(|(h, other)| (count(other, over), *h))?;
		let leaving = group.iter().rposition(|c| *c == over)?;
		if target_group.len() < group.len() {
			return Some(alloc::vec![(g, leaving, target)]);
		}
		// Swap back a router whose country still fits under its cap in `g`.
		let back = target_group
			.iter()
			.rposition(|c| *c != over && count(group, *c).saturating_add(1) <= cap(*c))?;
		return Some(alloc::vec![(g, leaving, target), (target, back, g)]);
	}
	None
}

/// Applies up to `max_steps` rebalancing steps to `groups` in place and returns, for each
/// router moved, `(from, index in from before the move, to)` so the caller can mirror them on
/// its account lists with [`apply`]. An empty result means the groups are balanced.
pub fn rebalance(groups: &mut Countries, max_steps: u32) -> Vec<(usize, usize, usize)> {
	let mut moves = Vec::new();
	for _ in 0..max_steps {
		let step = match size_step(groups) {
			Some(single) => alloc::vec![single],
			None => match spread_step(groups) {
				Some(steps) => steps,
				None => break,
			},
		};
		for (from, index, to) in step {
			apply(groups, from, index, to);
			moves.push((from, index, to));
		}
	}
	moves
}

/// Moves element `index` of group `from` to the end of group `to` (swap-remove: the last
/// element of `from` takes its place). Out-of-range moves are ignored.
pub fn apply<M>(groups: &mut [Vec<M>], from: usize, index: usize, to: usize) {
	if to >= groups.len() || from == to {
		return;
	}
	let Some(source) = groups.get_mut(from) else { return };
	if index >= source.len() {
		return;
	}
	let member = source.swap_remove(index);
	if let Some(target) = groups.get_mut(to) {
		target.push(member);
	}
}

/// Whether the groups meet both goals (for tests and `try_state`).
pub fn is_balanced(groups: &[Vec<[u8; 2]>]) -> bool {
	size_step(groups).is_none() && spread_step(groups).is_none()
}

#[cfg(test)]
mod tests {
	use super::*;
	use proptest::prelude::*;

	#[test]
	fn new_routers_fill_the_smallest_group_and_open_one_only_when_all_are_full() {
		assert_eq!(group_for_new_router(&[], 100), None);
		assert_eq!(group_for_new_router(&[100, 100], 100), None);
		assert_eq!(group_for_new_router(&[100, 3, 2], 100), Some(2));
		assert_eq!(group_for_new_router(&[2, 2], 100), Some(0), "lowest id on ties");
	}

	#[test]
	fn a_new_group_of_one_is_levelled_within_one() {
		let mut groups: Countries = alloc::vec![alloc::vec![*b"DE"; 100], alloc::vec![*b"FR"]];
		let mut steps = 0;
		while !rebalance(&mut groups, 8).is_empty() {
			steps += 1;
			assert!(steps < 100, "rebalancing must converge");
		}
		let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
		assert_eq!(sizes.iter().sum::<usize>(), 101);
		assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
		assert!(is_balanced(&groups));
	}

	#[test]
	fn one_country_is_spread_across_groups() {
		let mut groups: Countries = alloc::vec![alloc::vec![*b"DE"; 100], alloc::vec![*b"FR"; 100]];
		while !rebalance(&mut groups, 16).is_empty() {}
		for group in &groups {
			assert!(count(group, *b"DE") <= 51 && count(group, *b"FR") <= 51, "{group:?}");
			assert_eq!(group.len(), 100, "swaps keep sizes");
		}
	}

	proptest! {
		#[test]
		fn rebalancing_converges_keeps_everyone_and_balances(
			sizes in proptest::collection::vec(0usize..40, 1..6),
			seed in any::<u64>(),
		) {
			let countries = [*b"DE", *b"FR", *b"US", *b"JP"];
			let mut next = seed;
			let mut groups: Countries = sizes
				.iter()
				.map(|n| {
					(0..*n)
						.map(|_| {
							next = next.wrapping_mul(6364136223846793005).wrapping_add(1);
							countries[(next >> 33) as usize % countries.len()]
						})
						.collect()
				})
				.collect();
			let before: usize = groups.iter().map(Vec::len).sum();
			let mut rounds = 0;
			while !rebalance(&mut groups, 8).is_empty() {
				rounds += 1;
				prop_assert!(rounds < 500, "no convergence: {:?}", groups);
			}
			prop_assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), before);
			prop_assert!(is_balanced(&groups));
		}
	}
}
