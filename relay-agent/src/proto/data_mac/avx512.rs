//! POLYVAL on AVX-512 carry-less multiplication (VPCLMULQDQ): sixteen blocks per step, one
//! reduction per step. The `polyval` crate multiplies one 128-bit lane at a time and reduces
//! every four blocks, and its chain of reductions bounded a hop's throughput; here the sixteen
//! products of a step are independent, and only their reduced sum feeds the next step.
//!
//! POLYVAL is linear: with `•` its field product (a·b·x⁻¹²⁸) and `Hᵏ` the k-th power under
//! `•`, POLYVAL(H, X₁ … Xₙ) = Σᵢ Xᵢ • Hⁿ⁻ⁱ⁺¹. Products can therefore be summed unreduced
//! (256 bits each) and reduced once per step. The reduction is Gueron's Montgomery reduction
//! for POLYVAL (two multiplications by x⁶³ + x⁶² + x⁵⁷, as in AES-GCM-SIV's reference code).
//!
//! Used only where the CPU has AVX-512F and VPCLMULQDQ (checked once per flow, when
//! [`Powers::new`] runs); elsewhere the MAC uses the `polyval` crate, which the tests also use
//! as the reference for this one.
#![allow(unsafe_code)]

use core::arch::x86_64::*;
use polyval::{universal_hash::UniversalHash, Polyval};

/// Powers of the hash key the steps need.
#[derive(Clone)]
pub(super) struct Powers {
	/// `H¹⁶, H¹⁵, …, H¹`: the multipliers of one step's sixteen blocks, in memory order.
	step: [[u8; 16]; 16],
	/// `pow[i] = Hⁱ⁺¹` for the last (fewer than sixteen) whole blocks and the padded tail.
	pow: [[u8; 16]; 17],
}

impl Powers {
	/// The powers of `h`, or `None` where the CPU lacks the instructions.
	pub(super) fn new(h: &[u8; 16]) -> Option<Self> {
		let supported = std::arch::is_x86_feature_detected!("avx512f")
			&& std::arch::is_x86_feature_detected!("vpclmulqdq")
			&& std::arch::is_x86_feature_detected!("pclmulqdq");
		if !supported {
			return None;
		}
		// Hᵏ⁺¹ = Hᵏ • H = POLYVAL(H, Hᵏ): the crate computes the powers (once per flow).
		let mut pow = [[0u8; 16]; 17];
		pow[0] = *h;
		for i in 1..pow.len() {
			let mut hash = Polyval::new(&(*h).into());
			hash.update(&[pow[i - 1].into()]);
			pow[i] = hash.finalize().into();
		}
		let mut step = [[0u8; 16]; 16];
		for (j, slot) in step.iter_mut().enumerate() {
			*slot = pow[15 - j];
		}
		Some(Self { step, pow })
	}

	/// POLYVAL_H of `covered` with byte 3 read as zero, zero-padded to whole blocks, followed by
	/// the length block (`LE64(8·len) ‖ 0⁶⁴`).
	pub(super) fn digest(&self, covered: &[u8], mutable_byte: usize) -> [u8; 16] {
		// SAFETY: a `Powers` exists only if `new` found AVX-512F, VPCLMULQDQ and PCLMULQDQ.
		unsafe { digest(self, covered, mutable_byte) }
	}
}

/// Sum of unreduced products: low, middle (both cross terms) and high 128 bits.
#[derive(Clone, Copy)]
struct Wide {
	lo: __m128i,
	mid: __m128i,
	hi: __m128i,
}

#[target_feature(enable = "avx512f,vpclmulqdq,pclmulqdq")]
unsafe fn digest(powers: &Powers, covered: &[u8], mutable_byte: usize) -> [u8; 16] {
	let len = covered.len();
	let whole = len / 16;
	// Reading the mutable byte as zero = XOR-ing its value out of the first block, which is
	// what the accumulator does to the first block processed.
	let mut first = [0u8; 16];
	if let (Some(slot), Some(byte)) = (first.get_mut(mutable_byte), covered.get(mutable_byte)) {
		*slot = *byte;
	}
	// SAFETY (all loads below): unaligned loads of 16 or 64 bytes from arrays or from
	// `covered` at offsets whose ends are checked against `len` by construction: steps cover
	// `16·whole` bytes at most, each 256 B.
	let mut acc = _mm_loadu_si128(first.as_ptr().cast());

	let steps = whole / 16;
	if steps > 0 {
		let p = powers.step.as_ptr().cast::<u8>();
		let multipliers = [
			_mm512_loadu_si512(p.cast()),
			_mm512_loadu_si512(p.add(64).cast()),
			_mm512_loadu_si512(p.add(128).cast()),
			_mm512_loadu_si512(p.add(192).cast()),
		];
		for step in covered[..steps * 256].chunks_exact(256) {
			let base = step.as_ptr();
			let mut lo = _mm512_setzero_si512();
			let mut mid = _mm512_setzero_si512();
			let mut hi = _mm512_setzero_si512();
			for (k, multiplier) in multipliers.iter().enumerate() {
				let mut blocks = _mm512_loadu_si512(base.add(64 * k).cast());
				if k == 0 {
					blocks = _mm512_xor_si512(blocks, _mm512_zextsi128_si512(acc));
				}
				lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128(blocks, *multiplier, 0x00));
				hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128(blocks, *multiplier, 0x11));
				mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128(blocks, *multiplier, 0x01));
				mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128(blocks, *multiplier, 0x10));
			}
			acc = reduce(Wide { lo: fold_lanes(lo), mid: fold_lanes(mid), hi: fold_lanes(hi) });
		}
	}

	// The rest: up to 15 whole blocks, the zero-padded partial block (if any) and the length
	// block, each times its power, summed and reduced once.
	let rest = &covered[steps * 256..whole * 16];
	let mut tail = [0u8; 32];
	let partial = &covered[whole * 16..];
	let bits = (len as u64).saturating_mul(8).to_le_bytes();
	let tail_len = if partial.is_empty() {
		tail[..8].copy_from_slice(&bits);
		16
	} else {
		tail[..partial.len()].copy_from_slice(partial);
		tail[16..24].copy_from_slice(&bits);
		32
	};
	let count = rest.len() / 16 + tail_len / 16;
	let mut sum =
		Wide { lo: _mm_setzero_si128(), mid: _mm_setzero_si128(), hi: _mm_setzero_si128() };
	for (i, block) in rest.chunks_exact(16).chain(tail[..tail_len].chunks_exact(16)).enumerate() {
		let mut x = _mm_loadu_si128(block.as_ptr().cast());
		if i == 0 {
			x = _mm_xor_si128(x, acc);
		}
		let h = _mm_loadu_si128(powers.pow[count - 1 - i].as_ptr().cast());
		sum.lo = _mm_xor_si128(sum.lo, _mm_clmulepi64_si128(x, h, 0x00));
		sum.hi = _mm_xor_si128(sum.hi, _mm_clmulepi64_si128(x, h, 0x11));
		sum.mid = _mm_xor_si128(sum.mid, _mm_clmulepi64_si128(x, h, 0x01));
		sum.mid = _mm_xor_si128(sum.mid, _mm_clmulepi64_si128(x, h, 0x10));
	}
	let digest = reduce(sum);
	let mut out = [0u8; 16];
	_mm_storeu_si128(out.as_mut_ptr().cast(), digest);
	out
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
