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

		pub(super) fn tag_split(&self, _: &[u8], _: usize, _: u16, _: usize) -> Option<[u8; 16]> {
			match *self {}
		}

		pub(super) fn verify_and_retag(
			&self,
			_: &Self,
			_: &[u8],
			_: (usize, u16, usize, usize),
			_: &super::HeadRewrite,
		) -> Option<Option<[u8; 16]>> {
			match *self {}
		}
	}
}

/// Length of a data packet's MAC.
pub const MAC_LEN: usize = 16;

/// Where [`HeadRewrite::byte`] goes in a head (a data header's `segments_left`).
pub const REWRITE_BYTE_AT: usize = 3;
/// Where [`HeadRewrite::words`] go in a head (a data header's link boot and link sequence).
pub const REWRITE_RUN_AT: usize = 34;

/// What a relay rewrites in a data packet's head before tagging it for the next link: one
/// byte at [`REWRITE_BYTE_AT`] and two big-endian words from [`REWRITE_RUN_AT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadRewrite {
	/// The byte at [`REWRITE_BYTE_AT`].
	pub byte: u8,
	/// The words from [`REWRITE_RUN_AT`], in order.
	pub words: [u64; 2],
}

impl HeadRewrite {
	/// Writes the rewrite into `head` (what of it lies inside).
	pub fn apply(&self, head: &mut [u8]) {
		if let Some(byte) = head.get_mut(REWRITE_BYTE_AT) {
			*byte = self.byte;
		}
		let [first, second] = self.words.map(u64::to_be_bytes);
		let run = first.into_iter().chain(second);
		for (slot, value) in head.iter_mut().skip(REWRITE_RUN_AT).zip(run) {
			*slot = value;
		}
	}
}

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

	/// What a relay does to each packet it forwards: checks that `bytes[tag_at..tag_at + 16]`
	/// is [`Self::tag_split`] of `bytes`' parts, and if it is, returns `next`'s split tag of
	/// the same parts with `rewrite` applied to the head (`None` if the tag does not hold).
	/// The tail is read as it lies: a link MAC's tail (the AEAD tag) comes after the whole
	/// header, so no rewritten byte is in it.
	/// Where the CPU allows, both tags are computed side by side in registers: the second
	/// does not wait for the first, and the rewritten head is never read back from memory.
	#[inline]
	pub fn verify_and_retag_split(
		&self,
		next: &DataMac,
		bytes: &[u8],
		(head_len, middle, tail_at): (usize, u16, usize),
		tag_at: usize,
		rewrite: &HeadRewrite,
	) -> Option<[u8; MAC_LEN]> {
		if let (Some(rx), Some(tx)) = (&self.wide, &next.wide) {
			let parts = (head_len, middle, tail_at, tag_at);
			if let Some(retagged) = rx.verify_and_retag(tx, bytes, parts, rewrite) {
				return retagged;
			}
		}
		let carried = tag_at.checked_add(MAC_LEN).and_then(|end| bytes.get(tag_at..end))?;
		if !self.verify_split(bytes, head_len, middle, tail_at, carried) {
			return None;
		}
		let mut covered = [0u8; SPLIT_COMPOSED_MAX];
		let head = bytes.get(..head_len.min(SPLIT_COMPOSED_MAX - 18)).unwrap_or_default();
		covered[..head.len()].copy_from_slice(head);
		rewrite.apply(&mut covered[..head.len()]);
		covered[head.len()..head.len() + 2].copy_from_slice(&middle.to_be_bytes());
		if let Some(tail) = tail_at.checked_add(16).and_then(|end| bytes.get(tail_at..end)) {
			covered[head.len() + 2..head.len() + 18].copy_from_slice(tail);
		}
		Some(next.tag(&covered[..head.len() + 18]))
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

	#[test]
	fn a_retag_checks_under_one_key_and_tags_the_rewritten_parts_under_the_other() {
		let (rx, tx) = (DataMac::new(&[0x11; 32]), DataMac::new(&[0x22; 32]));
		if rx.wide.is_none() {
			eprintln!("no AVX-512 VPCLMULQDQ here: the retag composes its input");
		}
		let rewrite = HeadRewrite { byte: 0xa5, words: [0x0102_0304_0506_0708, u64::MAX - 9] };
		let mut bytes: Vec<u8> =
			(0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect();
		// Heads the wide path takes (50..80) and heads it leaves to the composed one.
		for head_len in 0..=100 {
			for (tail_at, middle) in [(head_len, 0x0203), (bytes.len() - 32, 0xfffe)] {
				let tag_at = bytes.len() - 16;
				let parts = (head_len, middle, tail_at);
				let carried = rx.tag_split(&bytes, head_len, middle, tail_at);
				bytes[tag_at..].copy_from_slice(&carried);
				let mut rewritten = bytes.clone();
				rewrite.apply(&mut rewritten[..head_len]);
				let expected = tx.tag_split(&rewritten, head_len, middle, tail_at);
				let retag = rx.verify_and_retag_split(&tx, &bytes, parts, tag_at, &rewrite);
				assert_eq!(retag, Some(expected), "head {head_len}, tail at {tail_at}");
				// Any other carried tag, or the other key: nothing.
				for flipped in [0, 7, 15] {
					let mut forged = bytes.clone();
					forged[tag_at + flipped] ^= 0x40;
					let retag = rx.verify_and_retag_split(&tx, &forged, parts, tag_at, &rewrite);
					assert_eq!(retag, None, "head {head_len}, byte {flipped} of the tag");
				}
				assert_eq!(tx.verify_and_retag_split(&rx, &bytes, parts, tag_at, &rewrite), None);
				// A tag that lies outside the bytes holds nothing either.
				assert_eq!(rx.verify_and_retag_split(&tx, &bytes, parts, 190, &rewrite), None);
			}
		}
	}

	#[test]
	fn a_head_rewrite_writes_its_byte_and_words_where_they_belong() {
		let mut head = [0u8; 52];
		HeadRewrite { byte: 9, words: [0x1122_3344_5566_7788, 0x99aa_bbcc_ddee_ff00] }
			.apply(&mut head);
		assert_eq!(head[REWRITE_BYTE_AT], 9);
		assert_eq!(
			head[REWRITE_RUN_AT..REWRITE_RUN_AT + 8],
			0x1122_3344_5566_7788u64.to_be_bytes()
		);
		assert_eq!(
			head[REWRITE_RUN_AT + 8..REWRITE_RUN_AT + 16],
			0x99aa_bbcc_ddee_ff00u64.to_be_bytes()
		);
		assert_eq!(head.iter().filter(|b| **b != 0).count(), 1 + 15, "nothing else written");
		// A short head takes what lies inside it.
		let mut short = [0u8; 40];
		HeadRewrite { byte: 1, words: [u64::MAX; 2] }.apply(&mut short);
		assert_eq!(short[REWRITE_RUN_AT..], [0xff; 6]);
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
