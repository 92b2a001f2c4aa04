//! POLYVAL on AVX-512 carry-less multiplication (VPCLMULQDQ): 64 blocks (1 KiB) per step, one
//! reduction per step. The `polyval` crate multiplies one 128-bit lane at a time and reduces
//! every four blocks, and its chain of reductions bounded a hop's throughput; here the 64
//! products of a step are independent, and only their reduced sum feeds the next step.
//!
//! Why 64: the chain from step to step (fold the lanes, reduce, feed the next step) is what a
//! packet waits on, so fewer, longer steps are faster while the powers stay cheap (1 KiB per
//! flow). Pinned loops of 5 M tags, alternating builds: a 1,232 B tag took ~10 % less time than
//! with 16-block steps, a 2,048 B one ~40 % less.
//!
//! POLYVAL is linear: with `•` its field product (a·b·x⁻¹²⁸) and `Hᵏ` the k-th power under
//! `•`, POLYVAL(H, X₁ … Xₙ) = Σᵢ Xᵢ • Hⁿ⁻ⁱ⁺¹. Products can therefore be summed unreduced
//! (256 bits each) and reduced once per step. The reduction is Gueron's Montgomery reduction
//! for POLYVAL (two multiplications by x⁶³ + x⁶² + x⁵⁷, as in AES-GCM-SIV's reference code).
//!
//! The tag's AES-128 runs here too, on AES-NI, right after the digest and in registers.
//!
//! Used only where the CPU has AVX-512F/BW/VL, VPCLMULQDQ and AES-NI (checked once per flow,
//! when [`WideKeys::new`] runs); elsewhere the MAC uses the `polyval` and `aes` crates, which the
//! tests also use as the reference for this one.
#![allow(unsafe_code)]

use super::{HeadRewrite, REWRITE_BYTE_AT, REWRITE_RUN_AT};
use core::arch::x86_64::*;
use polyval::{universal_hash::UniversalHash, Polyval};

/// Blocks per step (one reduction each).
const STEP_BLOCKS: usize = 64;
/// Bytes per step.
const STEP_BYTES: usize = 16 * STEP_BLOCKS;
/// Powers of the hash key kept: a step's, and one more for the end's length block.
const POWERS: usize = STEP_BLOCKS + 1;

/// A flow's keys in the form this backend uses: the hash key's powers and the cipher's round
/// keys.
#[derive(Clone)]
pub(super) struct WideKeys {
	/// `H⁶⁵, H⁶⁴, …, H¹` (`desc[j] = H⁶⁵⁻ʲ`): four consecutive entries are the multipliers of
	/// four consecutive blocks. A step uses `H⁶⁴ … H¹`; the end (at most 63 whole blocks, the
	/// padded partial block and the length block) uses the last `count` entries.
	desc: [[u8; 16]; POWERS],
	/// AES-128 round keys of the tag's cipher, for AES-NI: the tag is encrypted in registers
	/// right after the digest, without a call through the `aes` crate's dispatch.
	round_keys: [__m128i; 11],
}

impl WideKeys {
	/// The powers of the hash key `h` and the round keys of `cipher_key`, or `None` where the
	/// CPU lacks the instructions.
	pub(super) fn new(h: &[u8; 16], cipher_key: &[u8; 16]) -> Option<Self> {
		let supported = std::arch::is_x86_feature_detected!("aes")
			&& std::arch::is_x86_feature_detected!("avx512f")
			&& std::arch::is_x86_feature_detected!("avx512bw")
			&& std::arch::is_x86_feature_detected!("avx512vl")
			&& std::arch::is_x86_feature_detected!("vpclmulqdq")
			&& std::arch::is_x86_feature_detected!("pclmulqdq");
		if !supported {
			return None;
		}
		// Hᵏ⁺¹ = Hᵏ • H = POLYVAL(H, Hᵏ): the crate computes the powers (once per flow).
		let mut desc = [[0u8; 16]; POWERS];
		desc[POWERS - 1] = *h;
		for j in (0..POWERS - 1).rev() {
			let mut hash = Polyval::new(&(*h).into());
			hash.update(&[desc[j + 1].into()]);
			desc[j] = hash.finalize().into();
		}
		// SAFETY: AES-NI is present (checked above).
		let round_keys = unsafe { expand_key(cipher_key) };
		Some(Self { desc, round_keys })
	}

	/// POLYVAL_H of `covered` with byte 3 read as zero, zero-padded to whole blocks, followed by
	/// the length block (`LE64(8·len) ‖ 0⁶⁴`).
	/// (The tests compare it with the crate's; the MAC uses [`Self::tag`].)
	#[cfg(test)]
	pub(super) fn digest(&self, covered: &[u8], mutable_byte: usize) -> [u8; 16] {
		// SAFETY: a `WideKeys` exists only if `new` found AVX-512F/BW/VL, VPCLMULQDQ and
		// PCLMULQDQ.
		unsafe { store(digest(self, covered, mutable_byte)) }
	}

	/// The tag: AES-128 of [`Self::digest`].
	#[inline]
	pub(super) fn tag(&self, covered: &[u8], mutable_byte: usize) -> [u8; 16] {
		// SAFETY: a `WideKeys` exists only if `new` found AES-NI, AVX-512F/BW/VL, VPCLMULQDQ and
		// PCLMULQDQ.
		unsafe { tag(self, covered, mutable_byte) }
	}

	/// The tag of `bytes[..head_len] ‖ BE16(middle) ‖ bytes[tail_at..tail_at + 16]`, built in
	/// registers from the bytes where they lie; `None` unless `head_len < 80`,
	/// `head_len % 16 ≤ 14` and both parts lie inside `bytes` (the caller composes the input
	/// then).
	#[inline]
	pub(super) fn tag_split(
		&self,
		bytes: &[u8],
		head_len: usize,
		middle: u16,
		tail_at: usize,
	) -> Option<[u8; 16]> {
		let fits = head_len < SPLIT_HEAD_MAX
			&& head_len % 16 <= 14
			&& head_len <= bytes.len()
			&& tail_at.checked_add(16).is_some_and(|end| end <= bytes.len());
		// SAFETY: a `WideKeys` exists only if `new` found the instructions; the parts lie
		// inside `bytes` and the head is short enough (checked just above).
		fits.then(|| unsafe { tag_split(self, bytes, head_len, middle, tail_at) })
	}

	/// Checks that `bytes[tag_at..tag_at + 16]` is the split tag (as [`Self::tag_split`]) under
	/// these keys and returns the split tag under `next` of the same input with `rewrite`
	/// applied to its head, both computed side by side in registers; `Some(None)` if the tag
	/// does not hold, `None` where [`Self::tag_split`] would compose (or the head is shorter
	/// than the rewrite, or the tag lies outside `bytes`).
	#[inline]
	pub(super) fn verify_and_retag(
		&self,
		next: &Self,
		bytes: &[u8],
		(head_len, middle, tail_at, tag_at): (usize, u16, usize, usize),
		rewrite: &HeadRewrite,
	) -> Option<Option<[u8; 16]>> {
		let fits = (REWRITE_RUN_AT + 16..SPLIT_HEAD_MAX).contains(&head_len)
			&& head_len % 16 <= 14
			&& head_len <= bytes.len()
			&& tail_at.checked_add(16).is_some_and(|end| end <= bytes.len())
			&& tag_at.checked_add(16).is_some_and(|end| end <= bytes.len());
		let parts = (head_len, middle, tail_at, tag_at);
		// SAFETY: a `WideKeys` exists only if `new` found the instructions; the parts lie
		// inside `bytes`, the head is short enough and long enough (checked just above).
		let (holds, tag) =
			fits.then(|| unsafe { verify_and_retag(self, next, bytes, parts, rewrite) })?;
		Some(holds.then_some(tag))
	}

	/// AES-128 of one block under the cipher key (the tests check it against the `aes` crate).
	#[cfg(test)]
	pub(super) fn encrypt_block(&self, block: [u8; 16]) -> [u8; 16] {
		// SAFETY: AES-NI is present (`new` checked); the load reads the 16-byte array.
		unsafe { store(encrypt(&self.round_keys, _mm_loadu_si128(block.as_ptr().cast()))) }
	}
}

/// Sum of unreduced products: low, middle (both cross terms) and high 128 bits.
#[derive(Clone, Copy)]
struct Wide {
	lo: __m128i,
	mid: __m128i,
	hi: __m128i,
}

impl Wide {
	/// Adds the product `block · multiplier`, unreduced (one lane of [`WideLanes::add`]).
	#[target_feature(enable = "pclmulqdq")]
	fn add(&mut self, block: __m128i, multiplier: __m128i) {
		let (b, m) = (block, multiplier);
		self.lo = _mm_xor_si128(self.lo, _mm_clmulepi64_si128(b, m, 0x00));
		self.hi = _mm_xor_si128(self.hi, _mm_clmulepi64_si128(b, m, 0x11));
		self.mid = _mm_xor_si128(self.mid, _mm_clmulepi64_si128(b, m, 0x01));
		self.mid = _mm_xor_si128(self.mid, _mm_clmulepi64_si128(b, m, 0x10));
	}
}

/// The bytes of `bytes` selected by `mask` (bit i: byte i), the others zero.
///
/// # Safety
/// Every selected byte must lie inside `bytes`; the CPU must have AVX-512BW and VL.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn load_masked(bytes: &[u8], mask: u16) -> __m128i {
	debug_assert!(16 - mask.leading_zeros() as usize <= bytes.len());
	// SAFETY: masked-off bytes are neither read nor can they fault (AVX-512 fault
	// suppression); the selected ones are inside `bytes` (the caller's promise).
	unsafe { _mm_maskz_loadu_epi8(mask, bytes.as_ptr().cast()) }
}

/// The 16 bytes of `block`.
#[target_feature(enable = "sse2")]
fn store(block: __m128i) -> [u8; 16] {
	let mut out = [0u8; 16];
	// SAFETY: a 16-byte store into a 16-byte array.
	unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), block) };
	out
}

/// AES-128's key schedule (FIPS-197 §5.2) on AES-NI.
///
/// # Safety
/// The CPU must have AES-NI.
#[target_feature(enable = "aes")]
unsafe fn expand_key(key: &[u8; 16]) -> [__m128i; 11] {
	/// One round key from the previous one and `assist` (`aeskeygenassist` of it).
	#[target_feature(enable = "sse2")]
	fn next(previous: __m128i, assist: __m128i) -> __m128i {
		let mut key = previous;
		key = _mm_xor_si128(key, _mm_slli_si128::<4>(key));
		key = _mm_xor_si128(key, _mm_slli_si128::<4>(key));
		key = _mm_xor_si128(key, _mm_slli_si128::<4>(key));
		_mm_xor_si128(key, _mm_shuffle_epi32::<0xff>(assist))
	}
	let mut keys = [_mm_setzero_si128(); 11];
	// SAFETY: a 16-byte load from a 16-byte array.
	keys[0] = unsafe { _mm_loadu_si128(key.as_ptr().cast()) };
	keys[1] = next(keys[0], _mm_aeskeygenassist_si128::<0x01>(keys[0]));
	keys[2] = next(keys[1], _mm_aeskeygenassist_si128::<0x02>(keys[1]));
	keys[3] = next(keys[2], _mm_aeskeygenassist_si128::<0x04>(keys[2]));
	keys[4] = next(keys[3], _mm_aeskeygenassist_si128::<0x08>(keys[3]));
	keys[5] = next(keys[4], _mm_aeskeygenassist_si128::<0x10>(keys[4]));
	keys[6] = next(keys[5], _mm_aeskeygenassist_si128::<0x20>(keys[5]));
	keys[7] = next(keys[6], _mm_aeskeygenassist_si128::<0x40>(keys[6]));
	keys[8] = next(keys[7], _mm_aeskeygenassist_si128::<0x80>(keys[7]));
	keys[9] = next(keys[8], _mm_aeskeygenassist_si128::<0x1b>(keys[8]));
	keys[10] = next(keys[9], _mm_aeskeygenassist_si128::<0x36>(keys[9]));
	keys
}

/// The tag of `covered`: one function with every feature it needs, so that the digest and
/// the encryption inline into it.
///
/// # Safety
/// The CPU must have AES-NI, AVX-512F/BW/VL, VPCLMULQDQ and PCLMULQDQ.
#[target_feature(enable = "aes,avx512f,avx512bw,avx512vl,vpclmulqdq,pclmulqdq")]
unsafe fn tag(keys: &WideKeys, covered: &[u8], mutable_byte: usize) -> [u8; 16] {
	// SAFETY: the caller's promise covers `digest`'s.
	let digest = unsafe { digest(keys, covered, mutable_byte) };
	store(encrypt(&keys.round_keys, digest))
}

/// Heads [`WideKeys::tag_split`] takes: up to four whole blocks and a partial one.
const SPLIT_HEAD_MAX: usize = 80;

/// [`WideKeys::tag_split`]. Composing the input in memory first (a copy of the head, then the
/// two middle bytes and the 16 tail bytes at odd offsets) and reading it back by whole blocks
/// stalls each of those loads on the narrower stores before it (a store-forwarding failure),
/// which cost more than the MAC itself; here nothing is stored.
///
/// # Safety
/// The CPU must have AES-NI, AVX-512F/BW/VL, VPCLMULQDQ and PCLMULQDQ; `head_len < 80`,
/// `head_len % 16 ≤ 14`, `head_len ≤ bytes.len()` and `tail_at + 16 ≤ bytes.len()`.
#[target_feature(enable = "aes,avx512f,avx512bw,avx512vl,vpclmulqdq,pclmulqdq")]
unsafe fn tag_split(
	keys: &WideKeys,
	bytes: &[u8],
	head_len: usize,
	middle: u16,
	tail_at: usize,
) -> [u8; 16] {
	// SAFETY: the caller's promise is `split_input`'s.
	let input = unsafe { split_input(bytes, head_len, middle, tail_at) };
	store(encrypt(&keys.round_keys, split_digest(keys, &input)))
}

/// The split input in registers: the head's whole blocks, then the two blocks of the head's
/// last bytes, the middle and the tail (zero-padded).
#[derive(Clone, Copy)]
struct SplitInput {
	/// The head's whole blocks (up to four), the rest zero.
	head: __m512i,
	/// The bytes `head` holds (bit i: byte i).
	head_mask: u64,
	/// The head's last `head_len % 16` bytes, the middle and the tail.
	after: __m256i,
	/// Whole blocks in the head.
	whole: usize,
	/// Length of the input the blocks hold.
	len: usize,
}

/// Loads [`tag_split`]'s input from where its parts lie.
///
/// # Safety
/// As for [`tag_split`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn split_input(bytes: &[u8], head_len: usize, middle: u16, tail_at: usize) -> SplitInput {
	let (whole, partial) = (head_len / 16, head_len % 16);
	let base = bytes.as_ptr();
	// SAFETY (the masked loads): masked-off bytes are neither read nor can they fault; the
	// selected ones are inside `bytes` (the caller's promise): the head's `head_len` bytes, and
	// the tail's 16, which the last load reaches from `partial + 2` bytes before it (that
	// address is only computed, with wrapping arithmetic, never read).
	let head_mask = if whole == 4 { u64::MAX } else { (1u64 << (16 * whole)) - 1 };
	let head = unsafe { _mm512_maskz_loadu_epi8(head_mask, base.cast()) };
	// The two blocks after the whole ones: the head's last bytes, the middle (big-endian) and
	// the tail, zero-padded (`partial + 18 ≤ 32` bytes).
	let rest =
		unsafe { _mm256_maskz_loadu_epi8((1u32 << partial) - 1, base.add(16 * whole).cast()) };
	let [high, low] = middle.to_be_bytes();
	let middle = _mm256_or_si256(
		_mm256_maskz_set1_epi8(1 << partial, high as i8),
		_mm256_maskz_set1_epi8(1 << (partial + 1), low as i8),
	);
	let tail_from = base.wrapping_add(tail_at).wrapping_sub(partial + 2);
	let tail = unsafe { _mm256_maskz_loadu_epi8(0xffff << (partial + 2), tail_from.cast()) };
	let after = _mm256_or_si256(_mm256_or_si256(rest, middle), tail);
	SplitInput { head, head_mask, after, whole, len: head_len + 18 }
}

/// POLYVAL of a [`SplitInput`]: `whole + 3` blocks in all with the length block, block i
/// times H^(count − i).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vpclmulqdq,pclmulqdq")]
#[inline]
fn split_digest(keys: &WideKeys, input: &SplitInput) -> __m128i {
	let length = _mm_set_epi64x(0, (input.len as u64).saturating_mul(8) as i64);
	let count = input.whole + 3;
	let first = POWERS - count;
	let desc = keys.desc.as_ptr().cast::<u8>();
	let mut lanes = WideLanes::zero();
	// SAFETY (the power loads): entries `first .. first + whole` and `first + whole ..
	// POWERS` of `desc`, selected by the masks (`whole ≤ 4`, so `first ≥ 58`).
	let powers = unsafe { _mm512_maskz_loadu_epi8(input.head_mask, desc.add(16 * first).cast()) };
	lanes.add(input.head, powers);
	let blocks = _mm512_inserti32x4::<2>(_mm512_zextsi256_si512(input.after), length);
	let powers = unsafe {
		_mm512_maskz_loadu_epi8((1u64 << 48) - 1, desc.add(16 * (first + input.whole)).cast())
	};
	lanes.add(blocks, powers);
	reduce(lanes.fold())
}

/// [`WideKeys::verify_and_retag`].
///
/// # Safety
/// As for [`tag_split`], and `REWRITE_RUN_AT + 16 ≤ head_len` and `tag_at + 16 ≤ bytes.len()`.
#[target_feature(enable = "aes,avx512f,avx512bw,avx512vl,vpclmulqdq,pclmulqdq")]
unsafe fn verify_and_retag(
	rx: &WideKeys,
	tx: &WideKeys,
	bytes: &[u8],
	(head_len, middle, tail_at, tag_at): (usize, u16, usize, usize),
	rewrite: &HeadRewrite,
) -> (bool, [u8; 16]) {
	// SAFETY: the caller's promise is `split_input`'s.
	let input = unsafe { split_input(bytes, head_len, middle, tail_at) };
	// The rewritten run in memory order: two big-endian words.
	let [first, second] = rewrite.words;
	let run = _mm_set_epi64x(second.swap_bytes() as i64, first.swap_bytes() as i64);
	// Bytes 34..48 lie in the head's third block, 48 and 49 in the fourth (or, with three
	// whole blocks, at the start of `after`).
	const { assert!(REWRITE_RUN_AT == 34 && REWRITE_BYTE_AT < 48) };
	let shifted = _mm512_inserti32x4::<2>(_mm512_setzero_si512(), _mm_bslli_si128::<2>(run));
	let shifted = _mm512_inserti32x4::<3>(shifted, _mm_bsrli_si128::<14>(run));
	let run_mask = 0xffffu64 << REWRITE_RUN_AT;
	let head = _mm512_mask_set1_epi8(input.head, 1 << REWRITE_BYTE_AT, rewrite.byte as i8);
	let head = _mm512_mask_blend_epi8(run_mask & input.head_mask, head, shifted);
	let spill = (REWRITE_RUN_AT + 16).saturating_sub(16 * input.whole);
	let after = _mm256_mask_blend_epi8(
		(1u32 << spill) - 1,
		input.after,
		_mm256_zextsi128_si256(_mm_bsrli_si128::<14>(run)),
	);
	let rewritten = SplitInput { head, after, ..input };
	// Two independent chains: the CPU runs them side by side.
	let rx_tag = encrypt(&rx.round_keys, split_digest(rx, &input));
	let tx_tag = encrypt(&tx.round_keys, split_digest(tx, &rewritten));
	// SAFETY: `tag_at + 16 ≤ bytes.len()` (the caller's promise).
	let carried = unsafe { _mm_loadu_si128(bytes.as_ptr().add(tag_at).cast()) };
	// All 16 bytes compared at once: no early exit.
	let holds = _mm_movemask_epi8(_mm_cmpeq_epi8(rx_tag, carried)) == 0xffff;
	// Both returned, whether the check held or not: a tag needed only if it held would be
	// computed only after the check (the compiler sinks it into the branch), and the two
	// chains would not overlap.
	(holds, store(tx_tag))
}

/// AES-128 encryption of one block.
#[target_feature(enable = "aes")]
fn encrypt(keys: &[__m128i; 11], block: __m128i) -> __m128i {
	let mut state = _mm_xor_si128(block, keys[0]);
	for key in &keys[1..10] {
		state = _mm_aesenc_si128(state, *key);
	}
	_mm_aesenclast_si128(state, keys[10])
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,vpclmulqdq,pclmulqdq")]
unsafe fn digest(keys: &WideKeys, covered: &[u8], mutable_byte: usize) -> __m128i {
	let len = covered.len();
	let whole = len / 16;
	// Reading the mutable byte as zero = XOR-ing its value out of the first block, which is
	// what the accumulator does to the first block processed. Everything below stays in
	// registers: bytes assembled in memory and read back as a block stall the load (a
	// store-forwarding failure), which cost more than the whole of a short message.
	let mutable_mask = if mutable_byte < len.min(16) { 1u16 << mutable_byte } else { 0 };
	// SAFETY: the selected byte is inside `covered` (checked just above).
	let mut acc = unsafe { load_masked(covered, mutable_mask) };

	// SAFETY (all loads below): unaligned loads of 16 or 64 bytes from `keys` or from
	// `covered` at offsets whose ends are checked against `len` by construction: steps cover
	// `16·whole` bytes at most.
	let desc = keys.desc.as_ptr().cast::<u8>();
	let steps = whole / STEP_BLOCKS;
	if steps > 0 {
		let multipliers: [__m512i; STEP_BLOCKS / 4] =
			core::array::from_fn(|k| _mm512_loadu_si512(desc.add(16 * (1 + 4 * k)).cast()));
		for step in covered[..steps * STEP_BYTES].chunks_exact(STEP_BYTES) {
			let mut sum = WideLanes::zero();
			for (k, multiplier) in multipliers.iter().enumerate() {
				let mut blocks = _mm512_loadu_si512(step.as_ptr().add(64 * k).cast());
				if k == 0 {
					blocks = _mm512_xor_si512(blocks, _mm512_zextsi128_si512(acc));
				}
				sum.add(blocks, *multiplier);
			}
			acc = reduce(sum.fold());
		}
	}

	// The end: up to 63 whole blocks (four at a time where it can), the zero-padded partial
	// block (if any) and the length block, each times its power, summed and reduced once.
	let rest = &covered[steps * STEP_BYTES..whole * 16];
	let partial = &covered[whole * 16..];
	let count = rest.len() / 16 + usize::from(!partial.is_empty()) + 1;
	// Block i of the end is multiplied by H^(count − i) = desc[first + i].
	let first = POWERS - count;
	let power = |i: usize| _mm_loadu_si128(desc.add(16 * (first + i)).cast());
	// What came before is XOR-ed into the first block of the end (`carry`, zero afterwards),
	// as into the first block of each step.
	let mut carry = acc;
	let groups = rest.len() / 64;
	let mut lanes = WideLanes::zero();
	for (g, group) in rest[..groups * 64].chunks_exact(64).enumerate() {
		let blocks = _mm512_loadu_si512(group.as_ptr().cast());
		let blocks = _mm512_xor_si512(blocks, _mm512_zextsi128_si512(carry));
		carry = _mm_setzero_si128();
		lanes.add(blocks, _mm512_loadu_si512(desc.add(16 * (first + 4 * g)).cast()));
	}
	let mut sum = lanes.fold();
	let mut i = groups * 4;
	for block in rest[groups * 64..].chunks_exact(16) {
		sum.add(_mm_xor_si128(_mm_loadu_si128(block.as_ptr().cast()), carry), power(i));
		carry = _mm_setzero_si128();
		i += 1;
	}
	if !partial.is_empty() {
		// SAFETY: the mask selects the partial block's `1..=15` bytes, all inside it.
		let block = unsafe { load_masked(partial, (1u16 << partial.len()) - 1) };
		sum.add(_mm_xor_si128(block, carry), power(i));
		carry = _mm_setzero_si128();
		i += 1;
	}
	// The length block, `length_block(len)`, built in a register.
	let length = _mm_set_epi64x(0, (len as u64).saturating_mul(8) as i64);
	sum.add(_mm_xor_si128(length, carry), power(i));
	reduce(sum)
}

/// Sums of unreduced products, four blocks (one per 128-bit lane) at a time.
#[derive(Clone, Copy)]
struct WideLanes {
	lo: __m512i,
	mid: __m512i,
	hi: __m512i,
}

impl WideLanes {
	#[target_feature(enable = "avx512f")]
	fn zero() -> Self {
		let zero = _mm512_setzero_si512();
		Self { lo: zero, mid: zero, hi: zero }
	}

	/// Adds the four products `blocks[k] · multipliers[k]`, unreduced.
	#[target_feature(enable = "avx512f,vpclmulqdq")]
	fn add(&mut self, blocks: __m512i, multipliers: __m512i) {
		let (b, m) = (blocks, multipliers);
		self.lo = _mm512_xor_si512(self.lo, _mm512_clmulepi64_epi128(b, m, 0x00));
		self.hi = _mm512_xor_si512(self.hi, _mm512_clmulepi64_epi128(b, m, 0x11));
		self.mid = _mm512_xor_si512(self.mid, _mm512_clmulepi64_epi128(b, m, 0x01));
		self.mid = _mm512_xor_si512(self.mid, _mm512_clmulepi64_epi128(b, m, 0x10));
	}

	/// The four lanes summed into one 128-bit-lane sum.
	#[target_feature(enable = "avx512f")]
	fn fold(self) -> Wide {
		Wide { lo: fold_lanes(self.lo), mid: fold_lanes(self.mid), hi: fold_lanes(self.hi) }
	}
}

/// XOR of the four 128-bit lanes.
#[target_feature(enable = "avx512f")]
fn fold_lanes(v: __m512i) -> __m128i {
	let low = _mm_xor_si128(_mm512_extracti32x4_epi32::<0>(v), _mm512_extracti32x4_epi32::<1>(v));
	let high = _mm_xor_si128(_mm512_extracti32x4_epi32::<2>(v), _mm512_extracti32x4_epi32::<3>(v));
	_mm_xor_si128(low, high)
}

/// The 256-bit sum times x⁻¹²⁸, modulo POLYVAL's polynomial.
#[target_feature(enable = "pclmulqdq")]
fn reduce(sum: Wide) -> __m128i {
	let low = _mm_xor_si128(sum.lo, _mm_slli_si128::<8>(sum.mid));
	let high = _mm_xor_si128(sum.hi, _mm_srli_si128::<8>(sum.mid));
	// High quadword: x⁶³ + x⁶² + x⁵⁷ (0xc2 << 56); the low one is not read.
	let poly = _mm_set_epi64x(0xc200_0000_0000_0000_u64 as i64, 1);
	let mut t = low;
	for _ in 0..2 {
		t = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(t), _mm_clmulepi64_si128::<0x10>(t, poly));
	}
	_mm_xor_si128(high, t)
}
