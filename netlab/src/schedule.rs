//! Holding items until a deadline: what both wires do with a packet on a delayed link.

use rand::Rng;
use std::{
	cmp::Reverse,
	collections::BinaryHeap,
	time::{Duration, Instant},
};

/// An item held until its deadline (ordered by deadline, then arrival).
struct Held<T> {
	due: Instant,
	seq: u64,
	item: T,
}

impl<T> PartialEq for Held<T> {
	fn eq(&self, other: &Self) -> bool {
		(self.due, self.seq) == (other.due, other.seq)
	}
}
impl<T> Eq for Held<T> {}
impl<T> PartialOrd for Held<T> {
	fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
		Some(self.cmp(other))
	}
}
impl<T> Ord for Held<T> {
	fn cmp(&self, other: &Self) -> std::cmp::Ordering {
		(self.due, self.seq).cmp(&(other.due, other.seq))
	}
}

/// Items held until their deadlines, at most `capacity` at once; equal deadlines leave in
/// arrival order.
pub struct Schedule<T> {
	held: BinaryHeap<Reverse<Held<T>>>,
	next_seq: u64,
	capacity: usize,
}

impl<T> Schedule<T> {
	/// An empty schedule for at most `capacity` items.
	pub fn new(capacity: usize) -> Self {
		Self { held: BinaryHeap::new(), next_seq: 0, capacity }
	}

	/// Most items held at once.
	pub fn capacity(&self) -> usize {
		self.capacity
	}

	/// Items held now.
	pub fn len(&self) -> usize {
		self.held.len()
	}

	/// Whether nothing is held.
	pub fn is_empty(&self) -> bool {
		self.held.is_empty()
	}

	/// Whether another item would be refused.
	pub fn is_full(&self) -> bool {
		self.held.len() >= self.capacity
	}

	/// Holds `item` until `due`; gives it back when the schedule is full.
	pub fn hold(&mut self, due: Instant, item: T) -> Result<(), T> {
		if self.is_full() {
			return Err(item);
		}
		self.held.push(Reverse(Held { due, seq: self.next_seq, item }));
		self.next_seq = self.next_seq.wrapping_add(1);
		Ok(())
	}

	/// The next item due at `now`, earliest first.
	pub fn pop_due(&mut self, now: Instant) -> Option<T> {
		if self.held.peek()?.0.due > now {
			return None;
		}
		self.held.pop().map(|Reverse(held)| held.item)
	}

	/// When the next item is due.
	pub fn next_due(&self) -> Option<Instant> {
		self.held.peek().map(|Reverse(held)| held.due)
	}
}

/// When a packet that enters a link at `now` leaves it: `delay` ± a uniform `jitter` (never
/// below zero), and never before the link's previous packet (`last_due`): jitter without
/// reordering, as on a real path.
pub fn deadline(
	now: Instant,
	delay: Duration,
	jitter: Duration,
	last_due: Option<Instant>,
	rng: &mut impl Rng,
) -> Instant {
	let jitter_us = i64::try_from(jitter.as_micros()).unwrap_or(i64::MAX);
	let offset_us = if jitter_us > 0 { rng.gen_range(-jitter_us..=jitter_us) } else { 0 };
	let delay_us =
		i64::try_from(delay.as_micros()).unwrap_or(i64::MAX).saturating_add(offset_us).max(0);
	let due = now + Duration::from_micros(delay_us.unsigned_abs());
	last_due.map_or(due, |last| due.max(last))
}

#[cfg(test)]
mod tests {
	use super::*;
	use rand::{rngs::StdRng, SeedableRng};

	#[test]
	fn items_leave_by_deadline_then_arrival_and_a_full_schedule_refuses() {
		let mut schedule = Schedule::new(3);
		let t0 = Instant::now();
		let ms = Duration::from_millis;
		assert_eq!(schedule.hold(t0 + ms(20), "late"), Ok(()));
		assert_eq!(schedule.hold(t0 + ms(10), "first"), Ok(()));
		assert_eq!(schedule.hold(t0 + ms(10), "second"), Ok(()));
		assert_eq!(schedule.hold(t0, "refused"), Err("refused"));
		assert_eq!(schedule.next_due(), Some(t0 + ms(10)));
		assert_eq!(schedule.pop_due(t0 + ms(9)), None);
		assert_eq!(schedule.pop_due(t0 + ms(10)), Some("first"));
		assert_eq!(schedule.pop_due(t0 + ms(30)), Some("second"));
		assert_eq!(schedule.pop_due(t0 + ms(30)), Some("late"));
		assert!(schedule.is_empty());
	}

	#[test]
	fn a_deadline_stays_within_the_jitter_and_never_passes_the_previous_one() {
		let mut rng = StdRng::seed_from_u64(3);
		let t0 = Instant::now();
		let ms = Duration::from_millis;
		for _ in 0..200 {
			let due = deadline(t0, ms(40), ms(5), None, &mut rng) - t0;
			assert!((ms(35)..=ms(45)).contains(&due), "{due:?}");
		}
		assert_eq!(deadline(t0, ms(1), ms(50), Some(t0 + ms(90)), &mut rng), t0 + ms(90));
		assert!(deadline(t0, Duration::ZERO, ms(10), None, &mut rng) >= t0, "never below zero");
	}
}
