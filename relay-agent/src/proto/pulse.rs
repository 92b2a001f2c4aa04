//! Per-peer measurement from pulses: median one-way delay, RTT, jitter and loss, plus the
//! replay rules. Pure state: the caller passes receive times and has already checked the
//! pulse's signature.
//!
//! RTT without synchronized clocks: A sends pulse `a` at `tA1`; B receives it at `tB1` and
//! later sends its own pulse at `tB2` echoing `(a, tB1)`; A receives that at `tA2`.
//! `RTT = (tA2 − tA1) − (tB2 − tB1)`: each difference is taken on one clock only.

use super::wire::{Echo, NodeId, Pulse};
use std::collections::{BTreeMap, VecDeque};

/// What one peer's link looks like from here (inbound: the peer → us).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LinkMetrics {
	/// Median one-way delay peer → us, µs, including the clock offset (may be negative).
	pub owd_us: i64,
	/// Median round-trip time, µs, if any echo has come back yet.
	pub rtt_us: Option<u32>,
	/// Interarrival jitter (RFC 3550 estimator), µs.
	pub jitter_us: u32,
	/// Loss over the window, parts per million.
	pub loss_ppm: u32,
	/// Pulses the figures are based on.
	pub samples: u32,
}

/// Why a (correctly signed) pulse was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PulseReject {
	/// The sender is not a member of our group.
	#[error("unknown sender")]
	UnknownSender,
	/// The pulse names another receiver.
	#[error("pulse addressed to another member")]
	NotForUs,
	/// Same boot and a sequence number already seen (or older).
	#[error("replayed pulse")]
	Replayed,
	/// A boot time older than the peer's current one.
	#[error("pulse from a previous boot")]
	StaleBoot,
}

#[derive(Clone, Copy, Debug)]
struct Sample {
	seq: u64,
	owd_ns: i64,
}

/// State of one peer.
#[derive(Debug)]
struct Peer {
	/// `(boot_time, seq)` of the newest accepted pulse.
	newest: Option<(u64, u64)>,
	/// Our receive time of its newest pulse: echoed in our next pulse to it.
	echo: Option<Echo>,
	samples: VecDeque<Sample>,
	rtts: VecDeque<u32>,
	/// Our pulses to it not yet echoed: `(seq, send_ns)`.
	sent: VecDeque<(u64, u64)>,
	/// Sequence number of our next pulse to it (per peer, so gaps mean loss).
	next_seq: u64,
	/// RFC 3550 jitter in ns, scaled by 16 to keep integer precision.
	jitter_ns_x16: u64,
	last_transit_ns: Option<i64>,
	/// Our clock when its newest pulse arrived.
	last_rx_ns: u64,
}

impl Peer {
	fn new(window: usize) -> Self {
		Self {
			newest: None,
			echo: None,
			samples: VecDeque::with_capacity(window),
			rtts: VecDeque::with_capacity(window),
			sent: VecDeque::with_capacity(window),
			next_seq: 1,
			jitter_ns_x16: 0,
			last_transit_ns: None,
			last_rx_ns: 0,
		}
	}
}

/// Pulse state of one agent towards its group.
#[derive(Debug)]
pub struct PulseEngine {
	me: NodeId,
	boot_time: u64,
	window: usize,
	peers: BTreeMap<NodeId, Peer>,
	/// A peer silent for longer than this has no current figures.
	silence_ns: u64,
}

fn push_bounded<T>(queue: &mut VecDeque<T>, value: T, cap: usize) {
	if queue.len() == cap {
		queue.pop_front();
	}
	queue.push_back(value);
}

impl PulseEngine {
	/// A new engine for `me`, started at `boot_time` (unix seconds), keeping `window` pulses
	/// per peer.
	pub fn new(me: NodeId, boot_time: u64, window: usize) -> Self {
		Self { me, boot_time, window: window.max(2), peers: BTreeMap::new(), silence_ns: u64::MAX }
	}

	/// Sets how long a silent peer keeps its figures (typically a few pulse intervals).
	pub fn with_silence(mut self, silence_ns: u64) -> Self {
		self.silence_ns = silence_ns;
		self
	}

	/// Our id.
	pub fn id(&self) -> NodeId {
		self.me
	}

	/// Adds a group member (no-op if present).
	pub fn add_peer(&mut self, peer: NodeId) {
		if peer != self.me {
			let window = self.window;
			self.peers.entry(peer).or_insert_with(|| Peer::new(window));
		}
	}

	/// Removes a member that left the group.
	pub fn remove_peer(&mut self, peer: &NodeId) {
		self.peers.remove(peer);
	}

	/// The members we pulse.
	pub fn peers(&self) -> impl Iterator<Item = &NodeId> {
		self.peers.keys()
	}

	/// The next pulse to send to `peer` at `now_ns` (our wall clock), or `None` for a
	/// non-member. The caller signs and sends it.
	pub fn next_pulse(&mut self, peer: &NodeId, now_ns: u64) -> Option<Pulse> {
		let window = self.window;
		let state = self.peers.get_mut(peer)?;
		let seq = state.next_seq;
		state.next_seq = state.next_seq.saturating_add(1);
		push_bounded(&mut state.sent, (seq, now_ns), window);
		Some(Pulse {
			sender: self.me,
			receiver: *peer,
			seq,
			send_time_ns: now_ns,
			boot_time: self.boot_time,
			echo: state.echo,
		})
	}

	/// Takes a pulse whose signature the caller has verified, received at `rx_ns`.
	pub fn on_pulse(&mut self, pulse: &Pulse, rx_ns: u64) -> Result<(), PulseReject> {
		if pulse.receiver != self.me {
			return Err(PulseReject::NotForUs);
		}
		let window = self.window;
		let peer = self.peers.get_mut(&pulse.sender).ok_or(PulseReject::UnknownSender)?;
		match peer.newest {
			Some((boot, _)) if pulse.boot_time < boot => return Err(PulseReject::StaleBoot),
			Some((boot, seq)) if pulse.boot_time == boot && pulse.seq <= seq => {
				return Err(PulseReject::Replayed)
			}
			Some((boot, _)) if pulse.boot_time > boot => {
				// The peer restarted: its sequence starts over, old samples no longer compare.
				peer.samples.clear();
				peer.last_transit_ns = None;
			}
			_ => {}
		}
		peer.newest = Some((pulse.boot_time, pulse.seq));
		peer.last_rx_ns = rx_ns;
		peer.echo = Some(Echo { seq: pulse.seq, rx_time_ns: rx_ns });

		let transit = i128::from(rx_ns) - i128::from(pulse.send_time_ns);
		let transit = transit.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
		if let Some(last) = peer.last_transit_ns {
			// J += (|D| − J) / 16, kept ×16 in integers.
			let d = transit.saturating_sub(last).unsigned_abs();
			let j = peer.jitter_ns_x16 / 16;
			peer.jitter_ns_x16 = peer.jitter_ns_x16.saturating_add(d).saturating_sub(j);
		}
		peer.last_transit_ns = Some(transit);
		push_bounded(&mut peer.samples, Sample { seq: pulse.seq, owd_ns: transit }, window);

		if let Some(echo) = pulse.echo {
			if let Some(pos) = peer.sent.iter().position(|(seq, _)| *seq == echo.seq) {
				let (_, sent_ns) = peer.sent[pos];
				peer.sent.drain(..=pos);
				let outer = i128::from(rx_ns) - i128::from(sent_ns);
				let hold = i128::from(pulse.send_time_ns) - i128::from(echo.rx_time_ns);
				let rtt_ns = outer - hold;
				if rtt_ns >= 0 {
					let rtt_us = u32::try_from(rtt_ns / 1_000).unwrap_or(u32::MAX);
					push_bounded(&mut peer.rtts, rtt_us, window);
				}
			}
		}
		Ok(())
	}

	/// Current figures of the link `peer → us` at `now_ns`: `None` before the first pulse and
	/// once the peer has been silent for longer than the silence limit.
	pub fn metrics(&self, peer: &NodeId, now_ns: u64) -> Option<LinkMetrics> {
		let state = self.peers.get(peer)?;
		if state.samples.is_empty() || now_ns.saturating_sub(state.last_rx_ns) > self.silence_ns {
			return None;
		}
		let mut owds: Vec<i64> = state.samples.iter().map(|s| s.owd_ns).collect();
		let owd_ns = median(&mut owds);
		let mut rtts: Vec<u32> = state.rtts.iter().copied().collect();
		let rtt_us = (!rtts.is_empty()).then(|| median(&mut rtts));
		let first = state.samples.front().map(|s| s.seq).unwrap_or(0);
		let last = state.samples.back().map(|s| s.seq).unwrap_or(0);
		let expected = last.saturating_sub(first).saturating_add(1);
		let received = state.samples.len() as u64;
		let lost = expected.saturating_sub(received);
		let loss_ppm =
			u32::try_from(lost.saturating_mul(1_000_000) / expected.max(1)).unwrap_or(1_000_000);
		Some(LinkMetrics {
			owd_us: owd_ns / 1_000,
			rtt_us,
			jitter_us: u32::try_from(state.jitter_ns_x16 / 16 / 1_000).unwrap_or(u32::MAX),
			loss_ppm,
			samples: u32::try_from(received).unwrap_or(u32::MAX),
		})
	}
}

/// Median of a non-empty slice (lower middle for even lengths); sorts in place.
fn median<T: Ord + Copy + Default>(values: &mut [T]) -> T {
	values.sort_unstable();
	values.get(values.len().saturating_sub(1) / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
	use super::*;

	const A: NodeId = [0xa; 32];
	const B: NodeId = [0xb; 32];
	const MS: u64 = 1_000_000;

	/// A and B exchange pulses; B's clock runs `offset_ns` ahead of A's; one-way delay `owd`.
	fn exchange(
		rounds: u64,
		owd_ns: u64,
		offset_ns: u64,
		drop_every: Option<u64>,
	) -> (PulseEngine, PulseEngine) {
		let mut a = PulseEngine::new(A, 100, 16);
		let mut b = PulseEngine::new(B, 200, 16);
		a.add_peer(B);
		b.add_peer(A);
		let mut t = 1_000_000_000_000u64; // A's clock
		for round in 0..rounds {
			let p = a.next_pulse(&B, t).unwrap();
			if drop_every.is_none_or(|k| round % k != k - 1) {
				b.on_pulse(&p, t + owd_ns + offset_ns).unwrap();
			}
			t += 5 * MS;
			let q = b.next_pulse(&A, t + offset_ns).unwrap();
			a.on_pulse(&q, t + owd_ns).unwrap();
			t += 995 * MS;
		}
		(a, b)
	}

	#[test]
	fn owd_carries_the_offset_and_rtt_cancels_it() {
		let (a, b) = exchange(10, 20 * MS, 7 * MS, None);
		let at_b = b.metrics(&A, u64::MAX).unwrap();
		let at_a = a.metrics(&B, u64::MAX).unwrap();
		assert_eq!(at_b.owd_us, 27_000, "A→B one-way includes B's +7 ms offset");
		assert_eq!(at_a.owd_us, 13_000, "B→A one-way includes −7 ms");
		assert_eq!(at_a.rtt_us, Some(40_000));
		assert_eq!(at_b.rtt_us, Some(40_000));
		// The cross-check: OWD(A→B) + OWD(B→A) = RTT when nobody lies.
		assert_eq!(at_b.owd_us + at_a.owd_us, 40_000);
		assert_eq!(at_a.loss_ppm, 0);
		assert_eq!(at_a.jitter_us, 0);
	}

	#[test]
	fn loss_is_counted_from_sequence_gaps() {
		let (_, b) = exchange(16, 10 * MS, 0, Some(4));
		let m = b.metrics(&A, u64::MAX).unwrap();
		assert_eq!(m.samples, 12);
		// 12 of the 15 pulses from the first kept to the last arrived (the 16th was dropped).
		assert_eq!(m.loss_ppm, 3 * 1_000_000 / 15);
	}

	#[test]
	fn replays_old_boots_and_strangers_are_rejected() {
		let mut a = PulseEngine::new(A, 100, 8);
		let mut b = PulseEngine::new(B, 200, 8);
		a.add_peer(B);
		b.add_peer(A);
		let p1 = a.next_pulse(&B, 1).unwrap();
		let p2 = a.next_pulse(&B, 2).unwrap();
		b.on_pulse(&p2, 10).unwrap();
		assert_eq!(b.on_pulse(&p1, 11), Err(PulseReject::Replayed));
		assert_eq!(b.on_pulse(&p2, 12), Err(PulseReject::Replayed));

		let mut restarted = PulseEngine::new(A, 101, 8);
		restarted.add_peer(B);
		let fresh = restarted.next_pulse(&B, 3).unwrap();
		assert_eq!(fresh.seq, 1, "a restart starts the sequence over");
		b.on_pulse(&fresh, 13).unwrap();
		assert_eq!(b.on_pulse(&p2, 14), Err(PulseReject::StaleBoot));

		let stranger = Pulse { sender: [0xc; 32], ..fresh };
		assert_eq!(b.on_pulse(&stranger, 15), Err(PulseReject::UnknownSender));
		let elsewhere = Pulse { receiver: [0xc; 32], seq: 9, ..fresh };
		assert_eq!(b.on_pulse(&elsewhere, 16), Err(PulseReject::NotForUs));
		assert!(a.next_pulse(&[0xc; 32], 4).is_none());
	}

	#[test]
	fn sequences_are_per_peer_so_other_peers_do_not_look_like_loss() {
		let c: NodeId = [0xc; 32];
		let mut a = PulseEngine::new(A, 1, 8);
		let mut b = PulseEngine::new(B, 1, 8);
		a.add_peer(B);
		a.add_peer(c);
		b.add_peer(A);
		for t in 0..6 {
			let _ = a.next_pulse(&c, t);
			let p = a.next_pulse(&B, t).unwrap();
			b.on_pulse(&p, t + 1).unwrap();
		}
		assert_eq!(b.metrics(&A, 10).unwrap().loss_ppm, 0);
	}

	#[test]
	fn jitter_follows_delay_variation() {
		let mut a = PulseEngine::new(A, 1, 64);
		let mut b = PulseEngine::new(B, 1, 64);
		a.add_peer(B);
		b.add_peer(A);
		for i in 0..200u64 {
			let t = i * 1_000 * MS;
			let p = a.next_pulse(&B, t).unwrap();
			// Delay alternates 10 ms / 14 ms: |D| = 4 ms every time, so J converges to 4 ms.
			let delay = if i % 2 == 0 { 10 * MS } else { 14 * MS };
			b.on_pulse(&p, t + delay).unwrap();
		}
		let jitter = b.metrics(&A, u64::MAX).unwrap().jitter_us;
		assert!((3_900..=4_000).contains(&jitter), "jitter {jitter} µs");
	}

	#[test]
	fn silent_peers_lose_their_figures() {
		let mut a = PulseEngine::new(A, 1, 8);
		let mut b = PulseEngine::new(B, 1, 8).with_silence(3 * 1_000 * MS);
		a.add_peer(B);
		b.add_peer(A);
		let p = a.next_pulse(&B, 0).unwrap();
		b.on_pulse(&p, 10 * MS).unwrap();
		assert!(b.metrics(&A, 3_000 * MS).is_some());
		assert!(b.metrics(&A, 3_011 * MS).is_none());
	}

	#[test]
	fn median_resists_outliers() {
		let mut v = [5, 1, 1000, 3, 4];
		assert_eq!(median(&mut v), 4);
		let mut even = [1, 2, 3, 4];
		assert_eq!(median(&mut even), 2);
	}
}
