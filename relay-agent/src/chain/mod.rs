//! The relay's side of the chain: a client generated at compile time from the runtime's
//! metadata (checked in at `metadata/srwan.scale`, kept current by the runtime's
//! `metadata` test, so building the agent needs no node), the relay's account, its listing
//! in the exchange, one task that follows the chain (epochs, the group), one that signs and
//! submits every extrinsic, the duties of a listed router (reports, claims), and its metering
//! (receipts sent along its flows' paths, the consumers whose receipts it checks).
//!
//! The agent never depends on the runtime crate: everything it knows of the chain is in that
//! metadata file.

pub mod account;
pub mod compat;
pub mod duties;
mod encode;
pub mod follow;
pub mod ledger;
pub mod listing;
pub mod metering;
pub mod receipts;
pub mod status;
pub mod submitter;

pub use account::{load_account, AccountError, AccountSource};
pub use follow::{ChainMember, ChainState, GroupSnapshot};
pub use submitter::{
	ChainCall, EpochClaim, Measurement, Outcome, PeerClaim, SubmitError, Submitter,
};

/// The generated interface of the srwan runtime (calls, storage, events, errors).
#[allow(missing_docs, clippy::all, clippy::pedantic, unreachable_pub)]
#[subxt::subxt(runtime_metadata_path = "metadata/srwan.scale")]
pub mod srwan {}

/// The chain's configuration as subxt sees it: a standard Substrate chain (sr25519 accounts,
/// `MultiAddress`, the usual transaction extensions).
pub type ChainConfig = subxt::SubstrateConfig;

/// A connected client.
pub type Client = subxt::OnlineClient<ChainConfig>;
