//! The settlement arithmetic, free of storage so that property tests can drive it: link
//! agreement, a flow's share of a link, a hop's charge, pro-rating and the infrastructure share.
//! Every function rounds down and none can overflow or panic.

use sp_runtime::{helpers_128bit::multiply_by_rational_with_rounding, Perbill, Rounding};
use srwan_primitives::currency::Balance;

/// Octets per GB: prices are per 10^9 octets.
pub const OCTETS_PER_GB: u128 = 1_000_000_000;

/// What both ends of a link A→B said about it in one epoch, and what the receipts of the flows
/// crossing it add up to.
#[derive(
	Clone,
	Copy,
	Debug,
	Default,
	PartialEq,
	Eq,
	codec::Encode,
	codec::Decode,
	codec::MaxEncodedLen,
	scale_info::TypeInfo,
)]
pub struct LinkFigures {
	/// Octets A says it sent to B (`A.out[B]`), once A has claimed.
	pub sent: Option<u64>,
	/// Octets B says it received from A (`B.in[A]`), once B has claimed.
	pub received: Option<u64>,
	/// Σ of the receipt octets of the flows that cross A→B (forward or reverse).
	pub demand: u64,
}

/// How far a link's two figures may differ and still agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tolerance {
	/// In parts per million of the larger figure: loss on the wire (a little is normal).
	pub ppm: u32,
	/// In octets, whatever the figures: what a path that fails mid-epoch loses in flight before
	/// its traffic moves (often more than `ppm` of a link that carried traffic for only part of
	/// the epoch).
	pub slack_octets: u64,
}

impl Tolerance {
	/// A relative tolerance alone.
	pub const fn relative(ppm: u32) -> Self {
		Self { ppm, slack_octets: 0 }
	}
}

/// Whether a sender's and a receiver's figures agree: they differ by at most the tolerance's
/// slack, or by at most its ppm of the larger figure (loss on the wire makes the receiver's
/// smaller).
pub fn figures_agree(sent: u64, received: u64, tolerance: Tolerance) -> bool {
	let larger = sent.max(received);
	let difference = sent.abs_diff(received);
	// difference / larger <= ppm / 10^6, in u128 so nothing overflows.
	difference <= tolerance.slack_octets
		|| u128::from(difference) * 1_000_000 <= u128::from(larger) * u128::from(tolerance.ppm)
}

impl LinkFigures {
	/// Whether both ends claimed and disagree beyond `tolerance`.
	pub fn disagree(&self, tolerance: Tolerance) -> bool {
		matches!((self.sent, self.received),
			(Some(sent), Some(received)) if !figures_agree(sent, received, tolerance))
	}

	/// The octets both ends vouch for: `min(sent, received)` when both claimed and agree, or
	/// when their disagreement was `forgiven` (one end's corroborated restart); `None` while one
	/// end is silent or when they disagree (the link is unpaid).
	pub fn confirmed(&self, tolerance: Tolerance, forgiven: bool) -> Option<u64> {
		match (self.sent, self.received) {
			(Some(sent), Some(received))
				if forgiven || figures_agree(sent, received, tolerance) =>
			{
				Some(sent.min(received))
			}
			_ => None,
		}
	}

	/// What a disputed link weighs against its ends: the receipted octets that both ends
	/// vouch for at least, `min(demand, sent, received)` (0 while one end is silent). A liar
	/// that inflates its own figure adds nothing; an honest end that saw little adds little.
	pub fn disputed_weight(&self) -> u64 {
		match (self.sent, self.received) {
			(Some(sent), Some(received)) => self.demand.min(sent).min(received),
			_ => 0,
		}
	}

	/// The octets of one flow that `octets` of receipts buy on this link: the link's payable
	/// octets, `min(Σ receipts, confirmed)`, shared pro rata among the flows that cross it.
	pub fn flow_share(&self, octets: u64, tolerance: Tolerance, forgiven: bool) -> u64 {
		let Some(confirmed) = self.confirmed(tolerance, forgiven) else { return 0 };
		let demand = self.demand.max(octets);
		if demand == 0 {
			return 0;
		}
		let payable = confirmed.min(demand);
		multiply_by_rational_with_rounding(
			u128::from(octets),
			u128::from(payable),
			u128::from(demand),
			Rounding::Down,
		)
		.and_then(|share| u64::try_from(share).ok())
		.unwrap_or(0)
	}
}

/// Which link of a path a router is paid on: the ingress (position 0) on its outbound link 0,
/// every other router on its inbound link `position - 1`.
pub fn paid_link(position: usize) -> usize {
	position.saturating_sub(1)
}

/// `⌊price_per_gb × octets / 10^9⌋`.
pub fn hop_charge(price_per_gb: Balance, octets: u64) -> Balance {
	multiply_by_rational_with_rounding(
		price_per_gb,
		u128::from(octets),
		OCTETS_PER_GB,
		Rounding::Down,
	)
	.unwrap_or(Balance::MAX)
}

/// A payee's share when only `payable` of `owed` can be charged: `⌊amount × payable / owed⌋`.
pub fn pro_rata(amount: Balance, payable: Balance, owed: Balance) -> Balance {
	if payable >= owed {
		return amount;
	}
	multiply_by_rational_with_rounding(amount, payable, owed, Rounding::Down).unwrap_or(0)
}

/// Splits a payout into (relay, infrastructure): the infrastructure gets
/// `infra_share.mul_floor(payout)`, the relay the rest, so the two always sum to the payout.
pub fn split_infra(payout: Balance, infra_share: Perbill) -> (Balance, Balance) {
	let infra = infra_share.mul_floor(payout);
	(payout.saturating_sub(infra), infra)
}

#[cfg(test)]
mod tests {
	use super::*;
	use proptest::prelude::*;

	fn link(sent: u64, received: u64, demand: u64) -> LinkFigures {
		LinkFigures { sent: Some(sent), received: Some(received), demand }
	}

	#[test]
	fn agreement_is_relative_to_the_larger_figure() {
		assert!(
			figures_agree(1_000_000, 980_000, Tolerance::relative(20_000)),
			"2 % loss within 2 %"
		);
		assert!(!figures_agree(1_000_000, 979_999, Tolerance::relative(20_000)));
		assert!(!figures_agree(979_999, 1_000_000, Tolerance::relative(20_000)), "symmetric");
		assert!(figures_agree(0, 0, Tolerance::relative(0)));
		assert!(figures_agree(u64::MAX, u64::MAX - 1, Tolerance::relative(1)));
		let slack = Tolerance { ppm: 20_000, slack_octets: 16_384 };
		assert!(figures_agree(100_000, 83_616, slack), "16 KiB lost: within the slack");
		assert!(!figures_agree(100_000, 83_615, slack), "one more octet: beyond both");
		assert!(figures_agree(10_000_000, 9_800_000, slack), "2 % of a larger figure");
		assert!(figures_agree(u64::MAX, 0, Tolerance { ppm: 0, slack_octets: u64::MAX }));
	}

	#[test]
	fn a_link_pays_only_when_both_ends_claimed_and_agree() {
		assert_eq!(
			LinkFigures { sent: Some(10), received: None, demand: 10 }
				.confirmed(Tolerance::relative(0), true),
			None
		);
		assert_eq!(link(100, 99, 0).confirmed(Tolerance::relative(10_000), false), Some(99));
		assert_eq!(link(100, 50, 0).confirmed(Tolerance::relative(10_000), false), None);
		assert_eq!(
			link(100, 50, 0).confirmed(Tolerance::relative(10_000), true),
			Some(50),
			"forgiven: the lower"
		);
	}

	#[test]
	fn receipts_cap_what_a_link_pays_and_flows_share_it_pro_rata() {
		// Both ends inflate to 10^6 but the receipts only cover 3,000: 3,000 is payable.
		let inflated = link(1_000_000, 1_000_000, 3_000);
		assert_eq!(inflated.flow_share(1_000, Tolerance::relative(0), false), 1_000);
		assert_eq!(inflated.flow_share(2_000, Tolerance::relative(0), false), 2_000);
		// The link carried less than the receipts claim: flows share what it carried.
		let short = link(1_500, 1_500, 3_000);
		assert_eq!(short.flow_share(1_000, Tolerance::relative(0), false), 500);
		assert_eq!(short.flow_share(2_000, Tolerance::relative(0), false), 1_000);
		assert_eq!(link(0, 0, 0).flow_share(0, Tolerance::relative(0), false), 0);
	}

	#[test]
	fn the_ingress_is_paid_on_its_outbound_link_the_others_on_their_inbound_link() {
		assert_eq!([0, 1, 2, 3].map(paid_link), [0, 0, 1, 2]);
	}

	#[test]
	fn hop_charges_round_down_and_never_overflow() {
		assert_eq!(hop_charge(1_000, 999_999), 0);
		assert_eq!(hop_charge(1_000, 1_000_000), 1);
		assert_eq!(hop_charge(3, 1_000_000_000), 3);
		assert_eq!(hop_charge(u128::MAX, u64::MAX), Balance::MAX);
	}

	proptest! {
		#[test]
		fn payouts_plus_infra_equal_the_charge(
			amounts in proptest::collection::vec(0u128..=u128::MAX / 1024, 1..20),
			available in any::<u128>(),
			infra_ppb in 0u32..=1_000_000_000,
		) {
			let owed = amounts.iter().fold(0u128, |s, a| s.saturating_add(*a));
			let payable = owed.min(available);
			let infra_share = Perbill::from_parts(infra_ppb);
			let mut charged: u128 = 0;
			let mut to_relays: u128 = 0;
			let mut to_infra: u128 = 0;
			for amount in &amounts {
				let share = pro_rata(*amount, payable, owed);
				prop_assert!(share <= *amount);
				let (relay, infra) = split_infra(share, infra_share);
				prop_assert_eq!(relay + infra, share);
				charged += share;
				to_relays += relay;
				to_infra += infra;
			}
			prop_assert_eq!(to_relays + to_infra, charged);
			prop_assert!(charged <= payable, "never more than the escrow allows");
			// Rounding loses less than one unit per payee.
			prop_assert!(payable - charged < amounts.len() as u128 + 1);
		}

		#[test]
		fn flows_never_get_more_than_they_signed_or_the_link_carried(
			flows in proptest::collection::vec(0u64..=1u64 << 40, 1..10),
			carried in any::<u64>(),
		) {
			let demand = flows.iter().fold(0u64, |s, f| s.saturating_add(*f));
			let figures = link(carried, carried, demand);
			let total: u64 = flows.iter().map(|f| figures.flow_share(*f, Tolerance::relative(0), false)).sum();
			prop_assert!(total <= demand.min(carried));
			for flow in &flows {
				prop_assert!(figures.flow_share(*flow, Tolerance::relative(0), false) <= *flow);
			}
		}
	}
}
