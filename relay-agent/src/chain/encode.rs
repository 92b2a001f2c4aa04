//! The agent's own types in the chain's generated shapes (the generated types derive no
//! constructors of their own and wrap bounded vectors).

use super::{
	srwan::runtime_types::{
		bounded_collections::bounded_vec::BoundedVec,
		srwan_primitives::{
			ditex::PeerMeasurement,
			receipts::{Claim, PeerOctets, SignedReceipt, UsageReceipt},
		},
	},
	submitter::{EpochClaim, Measurement},
};
use subxt::utils::AccountId32;

/// An inbound row as `ditex.report` takes it.
pub fn row(row: &[Measurement]) -> BoundedVec<PeerMeasurement<AccountId32>> {
	BoundedVec(
		row.iter()
			.map(|m| PeerMeasurement {
				peer: AccountId32(m.peer),
				owd_us: m.owd_us,
				rtt_us: m.rtt_us,
				jitter_us: m.jitter_us,
				loss_ppm: m.loss_ppm,
				samples: m.samples,
			})
			.collect(),
	)
}

/// An epoch's claim as `tickets.claim` takes it.
pub fn claim(claim: &EpochClaim) -> Claim<AccountId32> {
	Claim {
		epoch: claim.epoch,
		restarted: claim.restarted,
		peers: BoundedVec(
			claim
				.peers
				.iter()
				.map(|p| PeerOctets {
					peer: AccountId32(p.peer),
					in_octets: p.in_octets,
					out_octets: p.out_octets,
					peer_boots: BoundedVec(p.boots.clone()),
				})
				.collect(),
		),
		receipts: receipts(&claim.receipts),
	}
}

/// Signed receipts as claims carry them.
pub fn receipts(
	receipts: &[srwan_primitives::receipts::SignedReceipt<[u8; 32]>],
) -> BoundedVec<SignedReceipt<AccountId32>> {
	BoundedVec(receipts.iter().map(signed_receipt).collect())
}

/// A signed receipt as claims carry it.
fn signed_receipt(
	signed: &srwan_primitives::receipts::SignedReceipt<[u8; 32]>,
) -> SignedReceipt<AccountId32> {
	let r = &signed.receipt;
	SignedReceipt {
		receipt: UsageReceipt {
			consumer: AccountId32(r.consumer),
			flow: r.flow,
			path: BoundedVec(r.path.iter().map(|id| AccountId32(*id)).collect()),
			epoch: r.epoch,
			fwd_octets: r.fwd_octets,
			rev_octets: r.rev_octets,
			max_price_per_gb: r.max_price_per_gb,
			nonce: r.nonce,
		},
		signature: signed.signature,
	}
}
