//! The network lab's wires, without I/O. [`Wire`] is the namespaced lab's delay wire: which link a forwarded IPv4 packet is on (by its
//! source and destination prefixes), and when it may leave (the link's one-way delay plus
//! jitter, never before a packet that entered the same link earlier: jitter without reordering,
//! as on a real path). `srwan-wire` feeds it packets from an NFQUEUE and accepts each one when
//! it is due.
//!
//! The lab's kernel has no netem, so delay is added in userspace (see DESIGN.md, "Testing").
//! [`loopback`] is the wire of the lab without root: a UDP proxy between relays on one host.

pub mod loopback;
mod schedule;
mod table_file;

use rand::Rng;
pub use schedule::{deadline, Schedule};
use std::{
	net::Ipv4Addr,
	time::{Duration, Instant},
};
pub use table_file::WatchedText;

/// Why a link table could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
	/// A line is not `SRC/LEN DST/LEN DELAY_MS [JITTER_MS]`.
	#[error("line {line}: {reason} (expected `SRC/LEN DST/LEN DELAY_MS [JITTER_MS]`)")]
	Malformed {
		/// 1-based line number.
		line: usize,
		/// What is wrong.
		reason: String,
	},
}

/// An IPv4 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
	network: u32,
	mask: u32,
}

impl Prefix {
	/// Parses `a.b.c.d/len`.
	pub fn parse(text: &str) -> Result<Self, String> {
		let (addr, len) = text.split_once('/').ok_or_else(|| format!("{text:?} has no /LEN"))?;
		let addr: Ipv4Addr =
			addr.parse().map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
		let len: u32 =
			len.parse().ok().filter(|l| *l <= 32).ok_or_else(|| format!("/{len} is not 0..=32"))?;
		let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
		Ok(Self { network: u32::from(addr) & mask, mask })
	}

	/// Whether `addr` is in it.
	pub fn contains(&self, addr: u32) -> bool {
		addr & self.mask == self.network
	}
}

/// One direction of a lab link: packets from `src` to `dst` are held `delay` ± `jitter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
	/// Source prefix.
	pub src: Prefix,
	/// Destination prefix.
	pub dst: Prefix,
	/// One-way delay added.
	pub delay: Duration,
	/// Uniform jitter around it (never below zero, never reordering).
	pub jitter: Duration,
}

/// Parses a link table: one link per line, `#` comments and blank lines ignored; the first
/// matching line wins.
pub fn parse_table(text: &str) -> Result<Vec<Link>, TableError> {
	let mut links = Vec::new();
	for (i, raw) in text.lines().enumerate() {
		let line = raw.split('#').next().unwrap_or("").trim();
		if line.is_empty() {
			continue;
		}
		let bad = |reason: String| TableError::Malformed { line: i + 1, reason };
		let fields: Vec<&str> = line.split_whitespace().collect();
		if !(3..=4).contains(&fields.len()) {
			return Err(bad(format!("{} fields", fields.len())));
		}
		let ms = |text: &str| parse_delay_ms(text).map_err(bad);
		links.push(Link {
			src: Prefix::parse(fields[0]).map_err(bad)?,
			dst: Prefix::parse(fields[1]).map_err(bad)?,
			delay: ms(fields[2])?,
			jitter: fields.get(3).map(|j| ms(j)).transpose()?.unwrap_or_default(),
		});
	}
	Ok(links)
}

/// A link table's delay or jitter: whole milliseconds, at most 10 s.
pub(crate) fn parse_delay_ms(text: &str) -> Result<Duration, String> {
	text.parse::<u64>()
		.ok()
		.filter(|ms| *ms <= 10_000)
		.map(Duration::from_millis)
		.ok_or_else(|| format!("{text:?} is not a delay in ms (0..=10000)"))
}

/// Source and destination of an IPv4 packet; `None` for anything else.
pub fn addresses(packet: &[u8]) -> Option<(u32, u32)> {
	if packet.len() < 20 || packet[0] >> 4 != 4 {
		return None;
	}
	let word = |at: usize| {
		u32::from_be_bytes([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
	};
	Some((word(12), word(16)))
}

/// What happens to a packet that enters the wire.
#[derive(Debug, PartialEq, Eq)]
pub enum Admitted<T> {
	/// On no delayed link: it passes now.
	Pass(T),
	/// Held until its deadline ([`Wire::pop_due`] gives it back).
	Held,
	/// The wire holds [`Wire::capacity`] packets already: dropped, as a full queue drops.
	Overflow(T),
}

/// The delay wire: holds packets of delayed links until they are due.
pub struct Wire<T> {
	links: Vec<Link>,
	/// The latest deadline given on each link (by index in `links`).
	last_due: Vec<Option<Instant>>,
	held: Schedule<T>,
}

impl<T> Wire<T> {
	/// A wire for `links`, holding at most `capacity` packets at once.
	pub fn new(links: Vec<Link>, capacity: usize) -> Self {
		let last_due = vec![None; links.len()];
		Self { links, last_due, held: Schedule::new(capacity) }
	}

	/// Replaces the link table (a timeline step); packets already held keep their deadlines.
	pub fn set_links(&mut self, links: Vec<Link>) {
		self.last_due = vec![None; links.len()];
		self.links = links;
	}

	/// Most packets held at once.
	pub fn capacity(&self) -> usize {
		self.held.capacity()
	}

	/// Packets held now.
	pub fn held(&self) -> usize {
		self.held.len()
	}

	/// Takes a packet (`packet` is its bytes, `item` what to give back) that arrived `now`.
	pub fn admit(
		&mut self,
		now: Instant,
		packet: &[u8],
		item: T,
		rng: &mut impl Rng,
	) -> Admitted<T> {
		let Some((src, dst)) = addresses(packet) else { return Admitted::Pass(item) };
		let Some(index) =
			self.links.iter().position(|l| l.src.contains(src) && l.dst.contains(dst))
		else {
			return Admitted::Pass(item);
		};
		let link = self.links[index];
		if link.delay.is_zero() && link.jitter.is_zero() {
			return Admitted::Pass(item);
		}
		if self.held.is_full() {
			return Admitted::Overflow(item);
		}
		let due = deadline(now, link.delay, link.jitter, self.last_due[index], rng);
		self.last_due[index] = Some(due);
		match self.held.hold(due, item) {
			Ok(()) => Admitted::Held,
			Err(item) => Admitted::Overflow(item),
		}
	}

	/// The next held packet that is due at `now`, earliest first.
	pub fn pop_due(&mut self, now: Instant) -> Option<T> {
		self.held.pop_due(now)
	}

	/// When the next held packet is due.
	pub fn next_due(&self) -> Option<Instant> {
		self.held.next_due()
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use rand::{rngs::StdRng, SeedableRng};

	fn packet(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
		let mut p = vec![0u8; 28];
		p[0] = 0x45;
		p[12..16].copy_from_slice(&src);
		p[16..20].copy_from_slice(&dst);
		p
	}

	#[test]
	fn a_table_names_links_by_prefix_and_rejects_what_it_cannot_read() {
		let table =
			parse_table("# a to c\n10.1.0.0/16 10.3.0.0/16 40 5\n\n10.3.0.0/16 10.1.0.0/16 40\n")
				.unwrap();
		assert_eq!(table.len(), 2);
		assert_eq!(
			(table[0].delay, table[0].jitter),
			(Duration::from_millis(40), Duration::from_millis(5))
		);
		assert_eq!(table[1].jitter, Duration::ZERO);
		assert!(table[0].src.contains(u32::from(Ipv4Addr::new(10, 1, 9, 9))));
		assert!(!table[0].src.contains(u32::from(Ipv4Addr::new(10, 2, 0, 1))));
		for bad in [
			"10.1.0.0 10.3.0.0/16 40",
			"10.1.0.0/33 10.3.0.0/16 40",
			"10.1.0.0/16 x/16 40",
			"10.1.0.0/16 10.3.0.0/16 forty",
			"10.1.0.0/16 10.3.0.0/16 99999",
			"10.1.0.0/16",
		] {
			assert!(
				matches!(parse_table(bad), Err(TableError::Malformed { line: 1, .. })),
				"{bad}"
			);
		}
	}

	#[test]
	fn packets_leave_after_their_links_delay_in_order_and_others_pass_at_once() {
		let links =
			parse_table("10.1.0.0/16 10.3.0.0/16 40 10\n10.3.0.0/16 10.1.0.0/16 0\n").unwrap();
		let mut wire = Wire::new(links, 100);
		let mut rng = StdRng::seed_from_u64(7);
		let t0 = Instant::now();
		let ac = packet([10, 1, 0, 2], [10, 3, 0, 2]);
		for i in 0..50u32 {
			let at = t0 + Duration::from_millis(u64::from(i));
			assert_eq!(wire.admit(at, &ac, i, &mut rng), Admitted::Held);
		}
		// Not delayed: the reverse direction (0 ms), other prefixes, non-IPv4.
		assert_eq!(
			wire.admit(t0, &packet([10, 3, 0, 2], [10, 1, 0, 2]), 100, &mut rng),
			Admitted::Pass(100)
		);
		assert_eq!(
			wire.admit(t0, &packet([10, 2, 0, 2], [10, 3, 0, 2]), 101, &mut rng),
			Admitted::Pass(101)
		);
		assert_eq!(wire.admit(t0, &[0x60; 40], 102, &mut rng), Admitted::Pass(102));
		assert_eq!(wire.admit(t0, &[0x45; 10], 103, &mut rng), Admitted::Pass(103));

		assert_eq!(
			wire.pop_due(t0 + Duration::from_millis(29)),
			None,
			"nothing leaves before delay − jitter"
		);
		let first_due = wire.next_due().unwrap() - t0;
		assert!(
			(Duration::from_millis(30)..=Duration::from_millis(50)).contains(&first_due),
			"{first_due:?}"
		);
		let mut left = Vec::new();
		let mut now = t0;
		while left.len() < 50 {
			now += Duration::from_millis(1);
			while let Some(i) = wire.pop_due(now) {
				left.push((i, now - t0));
			}
			assert!(now - t0 < Duration::from_millis(200), "held too long");
		}
		assert_eq!(
			left.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
			(0..50).collect::<Vec<_>>(),
			"no reordering"
		);
		for (i, at) in &left {
			let sent = Duration::from_millis(u64::from(*i));
			assert!(*at >= sent + Duration::from_millis(30), "packet {i} left at {at:?}");
		}
		let mean =
			left.iter().map(|(i, at)| at.as_micros() as i64 - i64::from(*i) * 1000).sum::<i64>()
				/ 50;
		assert!((35_000..=52_000).contains(&mean), "mean delay {mean} µs");
	}

	#[test]
	fn a_full_wire_drops_and_a_new_table_applies_to_new_packets() {
		let links = parse_table("10.1.0.0/16 10.3.0.0/16 40\n").unwrap();
		let mut wire = Wire::new(links, 2);
		let mut rng = StdRng::seed_from_u64(1);
		let t0 = Instant::now();
		let ac = packet([10, 1, 0, 2], [10, 3, 0, 2]);
		assert_eq!(wire.admit(t0, &ac, 1, &mut rng), Admitted::Held);
		assert_eq!(wire.admit(t0, &ac, 2, &mut rng), Admitted::Held);
		assert_eq!(wire.admit(t0, &ac, 3, &mut rng), Admitted::Overflow(3));
		wire.set_links(Vec::new());
		assert_eq!(wire.admit(t0, &ac, 4, &mut rng), Admitted::Pass(4));
		assert_eq!(wire.held(), 2, "held packets keep their deadlines");
		assert_eq!(wire.pop_due(t0 + Duration::from_millis(40)), Some(1));
	}
}
