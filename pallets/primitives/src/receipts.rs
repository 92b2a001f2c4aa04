//! Metering formats that consumers, relays, wallets and the runtime must agree on byte for
//! byte: the consumer-signed [`UsageReceipt`], a relay's per-epoch [`Claim`], and the receipt's
//! signing payload. Golden vectors in `tests/vectors/receipt_v1.json` are checked by a Rust test
//! and by a polkadot.js test, so a change here that breaks either side fails CI.
//!
//! A receipt is **cumulative within its epoch**: the consumer's agent re-signs it with growing
//! `fwd_octets`/`rev_octets` (both counted at the ingress) and a growing `nonce`; relays keep the
//! latest one per flow and put it in their claim. The payload is
//! `b"srwan/receipt/v1" ‖ genesis_hash ‖ SCALE(receipt)`, signed raw with sr25519 (no `<Bytes>`
//! wrapper): the domain tag keeps it from being any other signed message, the genesis hash from
//! being replayed on another chain.

use crate::{currency::Balance, ditex::EpochIndex};
use alloc::vec::Vec;
use bounded_collections::{BoundedVec, ConstU32};
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// Identifies a flow (chosen by the consumer's ingress at flow setup).
pub type FlowId = [u8; 16];
/// An sr25519 signature, raw.
pub type Signature = [u8; 64];

/// Most routers on a path: ingress, at most four intermediates (`routing::MAX_INTERMEDIATES`),
/// egress.
pub const MAX_PATH_ROUTERS: u32 = 6;
/// Most peers in one claim: a relay's group.
pub const MAX_CLAIM_PEERS: u32 = 128;
/// Most receipts in one claim.
pub const MAX_CLAIM_RECEIPTS: u32 = 512;

/// The domain tag at the start of every receipt signing payload.
pub const RECEIPT_DOMAIN: &[u8; 16] = b"srwan/receipt/v1";

/// Routers of a path, ingress first.
pub type RouterPath<AccountId> = BoundedVec<AccountId, ConstU32<MAX_PATH_ROUTERS>>;

/// What a consumer signs for the traffic of one flow in one epoch.
#[derive(
	Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct UsageReceipt<AccountId> {
	/// The paying account (its escrow is charged).
	pub consumer: AccountId,
	/// The flow.
	pub flow: FlowId,
	/// Routers of the path, ingress first.
	pub path: RouterPath<AccountId>,
	/// The epoch the octets belong to (stamped in the data packets).
	pub epoch: EpochIndex,
	/// Octets consumer → destination so far this epoch, counted at the ingress.
	pub fwd_octets: u64,
	/// Octets destination → consumer so far this epoch, counted at the ingress.
	pub rev_octets: u64,
	/// The most the consumer pays any hop per GB.
	pub max_price_per_gb: Balance,
	/// Grows with every re-signed receipt of the flow: the latest one wins.
	pub nonce: u64,
}

impl<AccountId: Encode> UsageReceipt<AccountId> {
	/// The bytes the consumer's receipt key signs.
	pub fn signing_payload(&self, genesis_hash: &[u8; 32]) -> Vec<u8> {
		let mut payload = Vec::with_capacity(RECEIPT_DOMAIN.len() + 32 + self.encoded_size());
		payload.extend_from_slice(RECEIPT_DOMAIN);
		payload.extend_from_slice(genesis_hash);
		self.encode_to(&mut payload);
		payload
	}
}

/// A receipt with the consumer's (or its receipt key's) signature.
#[derive(
	Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct SignedReceipt<AccountId> {
	/// The receipt.
	pub receipt: UsageReceipt<AccountId>,
	/// sr25519 signature over [`UsageReceipt::signing_payload`].
	pub signature: Signature,
}

/// Most distinct boots of one peer that a claim reports for one epoch: one means the peer ran
/// through the epoch, two or more that it restarted (a few more only show a crash loop).
pub const MAX_PEER_BOOTS: u32 = 4;

/// A relay's octet counters for one peer in one epoch: the octets of data packets whose header
/// carries the claim's epoch, summed over every boot of the claiming relay.
#[derive(
	Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct PeerOctets<AccountId> {
	/// The neighbouring relay.
	pub peer: AccountId,
	/// Octets received from it in the epoch.
	pub in_octets: u64,
	/// Octets sent to it in the epoch.
	pub out_octets: u64,
	/// The distinct boot values the peer's packets carried in the epoch (two or more
	/// corroborate the peer's own declared restart).
	pub peer_boots: BoundedVec<u64, ConstU32<MAX_PEER_BOOTS>>,
}

/// What a relay claims for one epoch, after it ends. A claim stands alone: no counter carries
/// over from an earlier epoch, so a missed claim window costs that epoch's pay and nothing else.
#[derive(
	Clone, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo,
)]
pub struct Claim<AccountId> {
	/// The epoch.
	pub epoch: EpochIndex,
	/// Whether the relay restarted during the epoch (a crash loses up to ~1 s of counts, so
	/// its links may disagree with its peers'; a peer's claim must corroborate it).
	pub restarted: bool,
	/// Counters per peer, of this epoch only.
	pub peers: BoundedVec<PeerOctets<AccountId>, ConstU32<MAX_CLAIM_PEERS>>,
	/// The latest receipt the relay holds for each flow it carried.
	pub receipts: BoundedVec<SignedReceipt<AccountId>, ConstU32<MAX_CLAIM_RECEIPTS>>,
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_payload_is_domain_then_genesis_then_scale() {
		let receipt = UsageReceipt {
			consumer: [1u8; 32],
			flow: [2; 16],
			path: BoundedVec::truncate_from(alloc::vec![[3u8; 32]]),
			epoch: 1,
			fwd_octets: 2,
			rev_octets: 3,
			max_price_per_gb: 4,
			nonce: 5,
		};
		let payload = receipt.signing_payload(&[9; 32]);
		assert_eq!(&payload[..16], b"srwan/receipt/v1");
		assert_eq!(&payload[16..48], &[9; 32]);
		assert_eq!(&payload[48..], receipt.encode().as_slice());
		assert_eq!(UsageReceipt::<[u8; 32]>::decode(&mut &payload[48..]).unwrap(), receipt);
	}

	#[test]
	fn a_path_longer_than_the_bound_does_not_decode() {
		let long: Vec<[u8; 32]> = alloc::vec![[0; 32]; MAX_PATH_ROUTERS as usize + 1];
		let encoded = long.encode();
		assert!(RouterPath::<[u8; 32]>::decode(&mut &encoded[..]).is_err());
	}
}
