//! Stored types of the metering pallet.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{traits::ConstU32, BoundedVec};
use scale_info::TypeInfo;
use sp_runtime::Perbill;
use srwan_primitives::{
	currency::Balance,
	ditex::EpochIndex,
	receipts::{PeerOctets, MAX_CLAIM_PEERS},
};

/// Tunable metering parameters (genesis, then root through `set_params`).
#[derive(
	Clone,
	Copy,
	Debug,
	PartialEq,
	Eq,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct TicketParams {
	/// Blocks after an epoch ends during which its claims are accepted (≤ the epoch length,
	/// so a relay's claims arrive in epoch order).
	pub claim_window: u32,
	/// How far a link's two figures may differ, in parts per million of the larger one.
	pub loss_tolerance_ppm: u32,
	/// Distinct disagreeing counterparties within `dispute_window` that get a router reported
	/// to the exchange's quarantine.
	pub dispute_counterparties: u32,
	/// Epochs a dispute counts against a router.
	pub dispute_window: u32,
	/// The shared-infrastructure account's piece of every payout.
	pub infra_share: Perbill,
}

impl Default for TicketParams {
	/// Production values (DESIGN.md "Parameters"): a 50-block window, 2 % tolerance, three
	/// counterparties within six epochs (an hour), 5 % for the infrastructure.
	fn default() -> Self {
		Self {
			claim_window: 50,
			loss_tolerance_ppm: 20_000,
			dispute_counterparties: 3,
			dispute_window: 6,
			infra_share: Perbill::from_percent(5),
		}
	}
}

impl TicketParams {
	/// Whether the parameters make sense together for an epoch of `epoch_length` blocks.
	pub fn is_valid(&self, epoch_length: u32) -> bool {
		self.claim_window > 0
			&& self.claim_window <= epoch_length
			&& self.loss_tolerance_ppm <= 1_000_000
			&& self.dispute_counterparties >= 2
			&& self.dispute_counterparties <= MAX_CLAIM_PEERS
			&& self.dispute_window > 0
	}
}

/// A relay's counters as of its last accepted claim: counters are cumulative since
/// `boot_time`, so the next claim of the same boot must not go below them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct RelayCounters<AccountId> {
	/// The epoch of the last accepted claim.
	pub epoch: EpochIndex,
	/// Its boot time.
	pub boot_time: u64,
	/// Its counters.
	pub peers: BoundedVec<PeerOctets<AccountId>, ConstU32<MAX_CLAIM_PEERS>>,
}

/// What one consumer owes for one epoch while it is being settled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct Bill {
	/// Σ of the hop charges of its flows.
	pub owed: Balance,
	/// What its escrow could pay when its first payee was settled (`None` before).
	pub payable: Option<Balance>,
	/// Charged so far.
	pub charged: Balance,
}

/// Where the settlement of the oldest unsettled epoch stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub enum Stage {
	/// Turning each flow's receipt into hop charges (`Owed`, `Bills`).
	#[default]
	Flows,
	/// Charging escrows and paying relays and the infrastructure, one payee per step.
	Payouts,
	/// Removing the epoch's links and bills.
	Cleanup,
}

/// Lifetime money totals (what `try_state` balances).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct Totals {
	/// Charged to consumers' escrows.
	pub charged: Balance,
	/// Paid to relays.
	pub to_relays: Balance,
	/// Paid to the shared-infrastructure account.
	pub to_infra: Balance,
}
