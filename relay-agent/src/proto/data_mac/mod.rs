//! The MAC of data packets on each link: POLYVAL (a universal hash over GF(2¹²⁸)) of the covered
//! bytes, then AES-128 of that hash, both keyed from a 32-byte key (a link direction's, see
//! [`super::link`]). This is AES-GCM-SIV's tag construction without the nonce.
//!
//! Why this one: every relay checks and re-tags every data packet, so the MAC bounds a hop's
//! throughput. Protocol v2 tags only the header, the length and the payload's AEAD tag (≤ 96 B),
//! a few blocks that POLYVAL takes on carry-less multiply instructions (CLMUL) and AES on
//! AES-NI. Hash-then-encrypt needs no nonce: a forgery needs a POLYVAL collision, probability
//! ≤ q²·ℓ/2¹²⁸ for q packets of ℓ blocks under one key; the link's sequence numbers (inside
//! the covered header) make each tagged input distinct, and the replay window refuses repeats.
//!
//! The two keys are derived from the 32-byte key with BLAKE3's key derivation. Deriving and
//! expanding them costs more than one MAC, which is why a [`DataMac`] is built once per link,
//! not per packet.
//!
//! POLYVAL runs on AVX-512 (`avx512`, 64 blocks per step) where the CPU has it, and on
//! the `polyval` crate elsewhere; both give the same digest (tested).

use aes::{
	cipher::{BlockEncrypt, KeyInit as _},
	Aes128Enc,
};
use polyval::{universal_hash::UniversalHash, Polyval};

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Elsewhere there is no wide backend: [`DataMac`] always takes the crate's.
#[cfg(not(target_arch = "x86_64"))]
mod avx512 {
	#[derive(Clone)]
	pub(super) enum WideKeys {}

	impl WideKeys {
		pub(super) fn new(_: &[u8; 16], _: &[u8; 16]) -> Option<Self> {
			None
		}

		#[cfg(test)]
		pub(super) fn digest(&self, _: &[u8], _: usize) -> [u8; 16] {
			match *self {}
		}

		pub(super) fn tag(&self, _: &[u8], _: usize) -> [u8; 16] {
			match *self {}
		}
	}
}

/// Length of a data packet's MAC.
pub const MAC_LEN: usize = 16;

/// Context of the key derivation (BLAKE3 `derive_key`): changing the construction changes it.
const KDF_CONTEXT: &str = "srwan data-mac v3 polyval-aes128";

/// Tells the AVX-512 backend that no byte is read as zero (v1 skipped `segments_left`, which
/// each hop rewrote; v2 re-tags at every hop and covers every byte).
const NO_MUTABLE_BYTE: usize = usize::MAX;

/// The block after the padded input: `LE64(8·len) ‖ 0⁶⁴`. It keeps inputs that differ only
/// in trailing zeros (which padding would otherwise merge) apart.
fn length_block(len: usize) -> [u8; 16] {
	let mut block = [0u8; 16];
	block[..8].copy_from_slice(&(len as u64).saturating_mul(8).to_le_bytes());
	block
}

/// A flow's MAC keys, expanded once (POLYVAL key powers, AES round keys).
#[derive(Clone)]
pub struct DataMac {
	hash: Polyval,
	/// The AVX-512 backend's keys (POLYVAL key powers, AES-NI round keys), where the CPU has
	/// the instructions.
	wide: Option<avx512::WideKeys>,
	cipher: Aes128Enc,
}

impl core::fmt::Debug for DataMac {
	fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
		// Key material stays out of logs.
		f.write_str("DataMac(..)")
	}
}

impl DataMac {
	/// Derives the POLYVAL and AES keys from a 32-byte key.
	pub fn new(key: &[u8; 32]) -> Self {
		let derived = blake3::derive_key(KDF_CONTEXT, key);
		let (hash_key, cipher_key) = derived.split_at(16);
		let hash_key: [u8; 16] = hash_key.try_into().unwrap_or_default();
		let cipher_key: [u8; 16] = cipher_key.try_into().unwrap_or_default();
		Self {
			hash: Polyval::new(&hash_key.into()),
			wide: avx512::WideKeys::new(&hash_key, &cipher_key),
			cipher: Aes128Enc::new(&cipher_key.into()),
		}
	}

	/// The tag of `covered`.
	#[inline]
	pub fn tag(&self, covered: &[u8]) -> [u8; MAC_LEN] {
		if let Some(wide) = &self.wide {
			return wide.tag(covered, NO_MUTABLE_BYTE);
		}
		let mut block = aes::Block::from(self.portable_digest(covered));
		self.cipher.encrypt_block(&mut block);
		block.into()
	}

	/// The tag of `bytes[..head_len] ‖ BE16(middle) ‖ bytes[tail_at..tail_at + 16]` (a tail
	/// outside `bytes` reads as zeros; a head longer than `bytes` is left out): the same as
	/// [`Self::tag`] of those bytes composed, without composing them where the CPU allows (see
	/// `avx512::tag_split`).
	#[inline]
	pub fn tag_split(
		&self,
		bytes: &[u8],
		head_len: usize,
		middle: u16,
		tail_at: usize,
	) -> [u8; 16] {
		if let Some(tag) =
			self.wide.as_ref().and_then(|wide| wide.tag_split(bytes, head_len, middle, tail_at))
		{
			return tag;
		}
		let mut covered = [0u8; SPLIT_COMPOSED_MAX];
		let head = bytes.get(..head_len.min(SPLIT_COMPOSED_MAX - 18)).unwrap_or_default();
		covered[..head.len()].copy_from_slice(head);
		covered[head.len()..head.len() + 2].copy_from_slice(&middle.to_be_bytes());
		if let Some(tail) = tail_at.checked_add(16).and_then(|end| bytes.get(tail_at..end)) {
			covered[head.len() + 2..head.len() + 18].copy_from_slice(tail);
		}
		self.tag(&covered[..head.len() + 18])
	}

	/// Whether `tag` is [`Self::tag_split`] of those parts, compared in constant time.
	#[inline]
	pub fn verify_split(
		&self,
		bytes: &[u8],
		head_len: usize,
		middle: u16,
		tail_at: usize,
		tag: &[u8],
	) -> bool {
		tag.len() == MAC_LEN
			&& constant_time_eq(&self.tag_split(bytes, head_len, middle, tail_at), tag)
	}

	/// POLYVAL of the covered bytes, the padding and the length block, on the `polyval` crate.
	fn portable_digest(&self, covered: &[u8]) -> [u8; 16] {
		let mut hash = self.hash.clone();
		hash.update_padded(covered);
		hash.update(&[length_block(covered.len()).into()]);
		hash.finalize().into()
	}

	/// Whether `tag` is the tag of `covered`, compared in constant time (no early exit on the
	/// first differing byte, which would leak how much of a guess was right).
	#[inline]
	pub fn verify(&self, covered: &[u8], tag: &[u8]) -> bool {
		if tag.len() != MAC_LEN {
			return false;
		}
		constant_time_eq(&self.tag(covered), tag)
	}
}

/// Heads longer than this are cut in [`DataMac::tag_split`]'s composed input (it serves link
/// MACs, whose heads are at most 66 bytes).
const SPLIT_COMPOSED_MAX: usize = 128;

/// Whether `expected` and `tag` are equal, without an early exit on the first differing byte
/// (which would leak how much of a guess was right).
fn constant_time_eq(expected: &[u8; MAC_LEN], tag: &[u8]) -> bool {
	expected.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
	use super::*;
	use proptest::prelude::*;

	/// The construction spelled out with whole-message padding, as PROTOCOL.md describes it.
	fn reference(key: &[u8; 32], covered: &[u8]) -> [u8; 16] {
		let derived = blake3::derive_key(KDF_CONTEXT, key);
		let mut message = covered.to_vec();
		let bits = (covered.len() as u64) * 8;
		while !message.len().is_multiple_of(16) {
			message.push(0);
		}
		message.extend_from_slice(&bits.to_le_bytes());
		message.extend_from_slice(&[0; 8]);
		let mut hash = Polyval::new(&<[u8; 16]>::try_from(&derived[..16]).unwrap().into());
		hash.update_padded(&message);
		let digest: [u8; 16] = hash.finalize().into();
		let mut block = aes::Block::from(digest);
		Aes128Enc::new(&<[u8; 16]>::try_from(&derived[16..]).unwrap().into())
			.encrypt_block(&mut block);
		block.into()
	}

	#[test]
	fn polyval_matches_the_rfc_8452_test_vector() {
		// RFC 8452, appendix A: POLYVAL(H, X_1, X_2).
		let h: [u8; 16] = hex("25629347589242761d31f826ba4b757b");
		let x1: [u8; 16] = hex("4f4f95668c83dfb6401762bb2d01a262");
		let x2: [u8; 16] = hex("d1a24ddd2721d006bbe45f20d3c9f362");
		let mut polyval = Polyval::new(&h.into());
		polyval.update(&[x1.into(), x2.into()]);
		let result: [u8; 16] = polyval.finalize().into();
		assert_eq!(result, hex("f7a3b47b846119fae5b7866cf5e5b77e"));
	}

	fn hex(s: &str) -> [u8; 16] {
		let mut out = [0u8; 16];
		for (i, byte) in out.iter_mut().enumerate() {
			*byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
		}
		out
	}

	#[test]
	fn keys_and_messages_change_the_tag() {
		let mac = DataMac::new(&[1; 32]);
		let packet = [7u8; 100];
		let tag = mac.tag(&packet);
		let mut rewritten = packet;
		rewritten[3] = 42;
		assert_ne!(mac.tag(&rewritten), tag);
		assert_ne!(DataMac::new(&[2; 32]).tag(&packet), tag);
		// Trailing zeros are not padding: the length block tells them apart.
		let mut zeros = [0u8; 32];
		let short = mac.tag(&zeros[..17]);
		assert_ne!(mac.tag(&zeros[..18]), short);
		zeros[20] = 1;
		assert_ne!(mac.tag(&zeros), mac.tag(&[0u8; 32]));
		assert!(mac.verify(&packet, &tag));
		assert!(!mac.verify(&packet, &tag[..15]));
	}

	#[test]
	fn the_wide_backend_equals_the_crate_at_every_length() {
		let mac = DataMac::new(&[0x5a; 32]);
		let Some(wide) = &mac.wide else {
			eprintln!("no AVX-512 VPCLMULQDQ here: only the crate's POLYVAL is in use");
			return;
		};
		// Zero to four whole steps (64 blocks each) and every end (up to 63 whole blocks, the
		// partial and the length block), on random-looking bytes.
		let message: Vec<u8> =
			(0..4_200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
		for len in 0..=message.len() {
			let covered = &message[..len];
			assert_eq!(
				wide.digest(covered, NO_MUTABLE_BYTE),
				mac.portable_digest(covered),
				"length {len}"
			);
		}
	}

	#[test]
	fn the_split_tag_equals_the_tag_of_the_parts_composed() {
		let mac = DataMac::new(&[0x3c; 32]);
		if mac.wide.is_none() {
			eprintln!("no AVX-512 VPCLMULQDQ here: the split tag composes its input");
		}
		let bytes: Vec<u8> =
			(0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
		for head_len in 0..=100 {
			for tail_at in [0, 1, head_len, head_len + 7, 200, bytes.len() - 16, bytes.len() - 15] {
				for middle in [0u16, 0x01ff, 0xabcd] {
					let mut composed = bytes[..head_len].to_vec();
					composed.extend_from_slice(&middle.to_be_bytes());
					match bytes.get(tail_at..tail_at + 16) {
						Some(tail) => composed.extend_from_slice(tail),
						None => composed.extend_from_slice(&[0; 16]),
					}
					let expected = mac.tag(&composed);
					let split = mac.tag_split(&bytes, head_len, middle, tail_at);
					assert_eq!(
						split, expected,
						"head {head_len}, tail at {tail_at}, middle {middle}"
					);
					assert!(mac.verify_split(&bytes, head_len, middle, tail_at, &expected));
				}
			}
		}
	}

	#[cfg(target_arch = "x86_64")]
	#[test]
	fn the_wide_backend_encrypts_as_aes_128() {
		// FIPS-197, appendix C.1.
		let key: [u8; 16] = core::array::from_fn(|i| i as u8);
		let plain: [u8; 16] = core::array::from_fn(|i| (i as u8) * 0x11);
		let Some(wide) = avx512::WideKeys::new(&[1; 16], &key) else {
			eprintln!("no AVX-512 VPCLMULQDQ and AES-NI here: only the crates are in use");
			return;
		};
		let expected = [
			0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4,
			0xc5, 0x5a,
		];
		assert_eq!(wide.encrypt_block(plain), expected);
		// And as the `aes` crate does, under other keys and blocks.
		for seed in 1..50u8 {
			let key = [seed.wrapping_mul(37); 16].map(|b| b ^ seed);
			let block: [u8; 16] = core::array::from_fn(|i| seed.wrapping_mul(i as u8 + 3));
			let wide = avx512::WideKeys::new(&[seed; 16], &key).expect("detected above");
			let mut by_crate = aes::Block::from(block);
			Aes128Enc::new(&key.into()).encrypt_block(&mut by_crate);
			assert_eq!(wide.encrypt_block(block), <[u8; 16]>::from(by_crate), "seed {seed}");
		}
	}

	proptest! {
		#[test]
		fn the_streamed_tag_equals_the_spelled_out_construction(
			key in any::<[u8; 32]>(),
			covered in proptest::collection::vec(any::<u8>(), 0..1_500),
		) {
			prop_assert_eq!(DataMac::new(&key).tag(&covered), reference(&key, &covered));
		}

		#[test]
		fn every_single_bit_flip_is_caught(
			covered in proptest::collection::vec(any::<u8>(), 4..200),
			bit in any::<prop::sample::Index>(),
		) {
			let mac = DataMac::new(&[5; 32]);
			let tag = mac.tag(&covered);
			let at = bit.index(covered.len() * 8);
			let mut flipped = covered.clone();
			flipped[at / 8] ^= 1 << (at % 8);
			prop_assert!(!mac.verify(&flipped, &tag));
		}
	}
}
