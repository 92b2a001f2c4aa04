//! Per-link authentication of data packets between neighbours, and the replay window of each
//! (link, flow, direction).
//!
//! Two members share a secret without any exchange: X25519 of their pulse keys (the ed25519
//! keys in Montgomery form). From it each direction of the link gets its own MAC key, so a
//! relay counts `in[A]` only for packets A really sent: an outsider who spoofs A's address,
//! or a member who is not A, cannot make a tag that verifies. The MAC covers the header, the
//! datagram's length and the payload's AEAD tag (at most 96 bytes), not the payload: a hop
//! costs one verify and one re-tag of a few blocks, whatever the packet's size, and a payload
//! changed on the way dies at the egress's AEAD check.

use super::{data_mac::DataMac, wire::NodeId};
use ed25519_dalek::{SigningKey, VerifyingKey};

/// Context of the key derivation (BLAKE3 `derive_key`).
const KDF_CONTEXT: &str = "srwan link-mac v2";

/// The MAC keys of this relay's link with one member: `tx` tags what this relay sends it,
/// `rx` checks what it receives from it.
#[derive(Clone, Debug)]
pub struct LinkKeys {
	/// Tags packets to the member.
	pub tx: DataMac,
	/// Verifies packets from the member.
	pub rx: DataMac,
}

fn direction_key(shared: &[u8; 32], from: &NodeId, to: &NodeId) -> [u8; 32] {
	let mut kdf = blake3::Hasher::new_derive_key(KDF_CONTEXT);
	kdf.update(shared);
	kdf.update(from);
	kdf.update(to);
	*kdf.finalize().as_bytes()
}

impl LinkKeys {
	/// The keys of the link between this relay (`me`, id `my_id`) and `peer` (id `peer_id`).
	pub fn new(me: &SigningKey, my_id: &NodeId, peer: &VerifyingKey, peer_id: &NodeId) -> Self {
		let shared = peer.to_montgomery().mul_clamped(me.to_scalar_bytes());
		let shared = shared.to_bytes();
		Self {
			tx: DataMac::new(&direction_key(&shared, my_id, peer_id)),
			rx: DataMac::new(&direction_key(&shared, peer_id, my_id)),
		}
	}
}

/// A sliding window of accepted sequence numbers (RFC 6479: a ring of 64-bit words, whole words
/// cleared as the window moves), with the sender's boot: a restarted sender starts a new
/// window, an earlier boot is refused. `WORDS · 64 − 64` numbers behind the newest are
/// remembered; older ones are refused.
#[derive(Clone, Debug)]
pub struct ReplayWindow<const WORDS: usize> {
	boot: u64,
	top: u64,
	started: bool,
	bits: [u64; WORDS],
}

impl<const WORDS: usize> Default for ReplayWindow<WORDS> {
	fn default() -> Self {
		Self { boot: 0, top: 0, started: false, bits: [0; WORDS] }
	}
}

impl<const WORDS: usize> ReplayWindow<WORDS> {
	const BITS: u64 = WORDS as u64 * 64;

	/// A window that refuses everything up to `(boot, top)`: what a restarted relay restores
	/// from its data dir, so that packets recorded before the restart cannot be replayed to it.
	pub fn resumed(boot: u64, top: u64) -> Self {
		Self { boot, top, started: true, bits: [u64::MAX; WORDS] }
	}

	/// The newest `(boot, seq)` accepted, if any (what [`Self::resumed`] takes back).
	pub fn mark(&self) -> Option<(u64, u64)> {
		self.started.then_some((self.boot, self.top))
	}

	/// Whether `(boot, seq)` is new; if so it is remembered. Call only for authenticated
	/// packets (a forged one must not move the window).
	#[inline]
	pub fn accept(&mut self, boot: u64, seq: u64) -> bool {
		if WORDS == 0 {
			return false;
		}
		if !self.started || boot > self.boot {
			*self = Self { boot, top: seq, started: true, bits: [0; WORDS] };
			self.mark_seen(seq);
			return true;
		}
		if boot < self.boot {
			return false;
		}
		if seq > self.top {
			let (from, to) = (self.top / 64, seq / 64);
			// Clear the words the window moves over (all of them at most once).
			let moved = (to - from).min(WORDS as u64);
			for word in 1..=moved {
				self.bits[((from + word) % WORDS as u64) as usize] = 0;
			}
			self.top = seq;
			self.mark_seen(seq);
			return true;
		}
		if self.top - seq >= Self::BITS - 64 {
			return false;
		}
		let (word, bit) = Self::position(seq);
		if self.bits[word] & bit != 0 {
			return false;
		}
		self.bits[word] |= bit;
		true
	}

	#[inline]
	fn position(seq: u64) -> (usize, u64) {
		(((seq / 64) % WORDS as u64) as usize, 1u64 << (seq % 64))
	}

	#[inline]
	fn mark_seen(&mut self, seq: u64) {
		let (word, bit) = Self::position(seq);
		self.bits[word] |= bit;
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use proptest::prelude::*;

	#[test]
	fn both_ends_derive_each_direction_alike_and_the_directions_differ() {
		let (a, b) = (SigningKey::from_bytes(&[1; 32]), SigningKey::from_bytes(&[2; 32]));
		let (id_a, id_b) = ([10u8; 32], [20u8; 32]);
		let at_a = LinkKeys::new(&a, &id_a, &b.verifying_key(), &id_b);
		let at_b = LinkKeys::new(&b, &id_b, &a.verifying_key(), &id_a);
		let packet = [5u8; 80];
		assert!(at_b.rx.verify(&packet, &at_a.tx.tag(&packet)));
		assert!(at_a.rx.verify(&packet, &at_b.tx.tag(&packet)));
		assert!(!at_a.rx.verify(&packet, &at_a.tx.tag(&packet)), "a tag does not come back");
		let c = SigningKey::from_bytes(&[3; 32]);
		let at_c = LinkKeys::new(&c, &id_a, &b.verifying_key(), &id_b);
		assert!(!at_b.rx.verify(&packet, &at_c.tx.tag(&packet)), "C cannot pose as A");
	}

	#[test]
	fn replays_old_boots_and_far_stragglers_are_refused() {
		let mut window = ReplayWindow::<4>::default();
		assert!(window.accept(5, 100));
		assert!(!window.accept(5, 100));
		assert!(window.accept(5, 99), "reordered, within the window");
		assert!(!window.accept(5, 99));
		assert!(window.accept(5, 300));
		assert!(!window.accept(5, 100), "more than 192 behind");
		assert!(window.accept(5, 200));
		assert!(!window.accept(4, 1_000), "an earlier boot");
		assert!(window.accept(6, 0), "a restart starts over");
		assert!(!window.accept(6, 0));
		assert!(!window.accept(5, 301));
	}

	#[test]
	fn a_resumed_window_refuses_everything_up_to_its_mark() {
		let mut window = ReplayWindow::<4>::resumed(5, 300);
		assert_eq!(window.mark(), Some((5, 300)));
		for seq in [0, 150, 299, 300] {
			assert!(!window.accept(5, seq), "{seq}");
		}
		assert!(!window.accept(4, 1_000));
		assert!(window.accept(5, 301));
		assert!(window.accept(6, 0));
		assert_eq!(ReplayWindow::<4>::default().mark(), None);
	}

	proptest! {
		/// Against a set of everything accepted: nothing is accepted twice, and anything new
		/// within the window is accepted.
		#[test]
		fn the_window_accepts_each_number_at_most_once(
			seqs in proptest::collection::vec(0u64..2_000, 1..600),
		) {
			let mut window = ReplayWindow::<4>::default();
			let mut accepted = std::collections::HashSet::new();
			let mut top = 0u64;
			for seq in seqs {
				let fresh = !accepted.contains(&seq);
				let within = accepted.is_empty() || seq > top || top - seq < 192;
				let ok = window.accept(1, seq);
				prop_assert!(!ok || fresh, "{} accepted twice", seq);
				prop_assert_eq!(ok, fresh && within, "seq {} top {}", seq, top);
				if ok {
					accepted.insert(seq);
					top = top.max(seq);
				}
			}
		}
	}
}
