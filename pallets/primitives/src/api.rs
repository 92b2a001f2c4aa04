//! Runtime APIs of the srwan runtime that are not one pallet's (feature `api`).
//!
//! ## `MeteringApi`: may a relay carry this consumer's traffic?
//!
//! A relay is paid from the escrow of the consumer whose receipts it holds, and only up to what
//! that escrow backs for the epoch the traffic belongs to. Before it admits a new flow (and
//! again at each epoch boundary) a relay asks [`MeteringApi::escrow_available`] for the
//! consumer and the epoch, and compares it with [`MeteringApi::min_escrow`]:
//!
//! - below the minimum, the relay refuses the flow: the chain would not count that consumer's
//!   receipts anyway, so the relay would carry the traffic for nothing;
//! - a pending withdrawal backs only the epoch it was requested in and earlier ones, so asking
//!   for the epoch the traffic will be stamped with (not the one of the chain head) tells the
//!   relay what it can still be paid from;
//! - every relay on a path decides for itself: any one of them may refuse a flow it does not
//!   find covered, whatever the ingress decided.
//!
//! The answers are read from the state of the block the call is made at; the escrow pallet
//! guarantees that what it reports as available for an epoch cannot be withdrawn before that
//! epoch is settled.
//!
//! Wallets reach it as `api.call.meteringApi.*` (polkadot.js); the node's runtime API client as
//! `MeteringApi<Block, AccountId>`.

pub use crate::traits::SettlementView;
use crate::{currency::Balance, ditex::EpochIndex};
use codec::Codec;

sp_api::decl_runtime_apis! {
	/// What relays ask before they carry a consumer's traffic: how much of its escrow pays for an
	/// epoch, the least it needs for its receipts to count, and how far settlement has come.
	pub trait MeteringApi<AccountId> where AccountId: Codec {
		/// What `consumer`'s escrow backs for `epoch`: what is on hold, minus a withdrawal
		/// requested in an earlier epoch (that amount pays only for epochs up to its request's).
		/// Zero for an account without an escrow. A relay that carries traffic of `epoch` for
		/// this consumer is paid from this amount at most, shared with the other relays the
		/// consumer uses and limited by the consumer's spending cap for the epoch.
		fn escrow_available(consumer: AccountId, epoch: EpochIndex) -> Balance;
		/// The least [`MeteringApi::escrow_available`] a consumer needs at an epoch's start for
		/// relays to admit its flows in that epoch and for the chain to count its receipts.
		fn min_escrow() -> Balance;
		/// How far settlement has come (lag and backlog).
		fn settlement() -> SettlementView;
	}
}
