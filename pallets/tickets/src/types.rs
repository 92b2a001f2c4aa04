//! Stored types of the metering pallet.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_runtime::Perbill;
use srwan_primitives::{
	currency::Balance,
	receipts::{UsageReceipt, MAX_CLAIM_PEERS},
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
	/// A relay's declared, corroborated restart forgives its disputes at most once per this
	/// many epochs (a crash-looping relay is judged like any other beyond that).
	pub restart_grace_epochs: u32,
	/// How long a router must be registered before its disputes count against others (Sybils
	/// that join a group cannot aim a quarantine at once).
	pub min_age_epochs: u32,
	/// Unreceipted octets a relay carries for a flow before it drops the flow (read by the
	/// relays: what a consumer can take without signing for it).
	pub credit_window_octets: u64,
}

impl Default for TicketParams {
	/// Production values (DESIGN.md "Parameters"): a 50-block window, 2 % tolerance, three
	/// counterparties within six epochs (an hour), 5 % for the infrastructure, one forgiven
	/// restart per six epochs, disputes counted from routers six epochs old, a 64 MiB credit.
	fn default() -> Self {
		Self {
			claim_window: 50,
			loss_tolerance_ppm: 20_000,
			dispute_counterparties: 3,
			dispute_window: 6,
			infra_share: Perbill::from_percent(5),
			restart_grace_epochs: 6,
			min_age_epochs: 6,
			credit_window_octets: 64 << 20,
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
			&& self.restart_grace_epochs > 0
	}
}

/// Why a receipt in a claim was skipped (the rest of the claim still counts).
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
)]
pub enum SkipReason {
	/// The receipt belongs to another epoch than the claim.
	WrongEpoch,
	/// Its path has fewer than two routers (nothing is payable).
	PathTooShort,
	/// Its path does not contain the claiming relay.
	NotOnPath,
	/// Its path visits a router twice.
	LoopingPath,
	/// The flow's receipt appears twice in the claim.
	Duplicate,
	/// The consumer's escrow backs less than the minimum for the epoch.
	BelowMinEscrow,
	/// Signed neither by the consumer nor by the receipt key in force for the epoch.
	BadSignature,
	/// A router of its path was not in the claiming relay's group when the epoch started.
	OutsideGroup,
}

/// A flow's receipt for one path as recorded: the largest figures its consumer signed (a
/// consumer bound by every receipt it signed cannot lower its bill with a later one), and which
/// routers of the path vouched for the flow by putting it in their claims.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct RecordedReceipt<AccountId> {
	/// The receipt, each figure the largest signed for the flow and path.
	pub receipt: UsageReceipt<AccountId>,
	/// Bit `k` set: the router at position `k` of the path claimed the flow.
	pub vouched: u8,
}

impl<AccountId: Clone + PartialEq> RecordedReceipt<AccountId> {
	/// The first record of `receipt`, vouched for by the router at `position`.
	pub fn new(receipt: UsageReceipt<AccountId>, position: usize) -> Self {
		Self { receipt, vouched: bit(position) }
	}

	/// Whether the flow's octets count on link `link` of the path (between positions `link`
	/// and `link + 1`): one of its ends carried the flow and said so. Receipts a router
	/// elsewhere on the path claims add no demand to links neither of whose ends vouched.
	pub fn counts_on(&self, link: usize) -> bool {
		self.vouched & (bit(link) | bit(link.saturating_add(1))) != 0
	}

	/// This record with `other` (the same flow and path, also signed by the consumer) and the
	/// vouch of the router at `position`: every figure the larger of the two.
	pub fn merged(&self, other: &UsageReceipt<AccountId>, position: usize) -> Self {
		let mut receipt = self.receipt.clone();
		receipt.fwd_octets = receipt.fwd_octets.max(other.fwd_octets);
		receipt.rev_octets = receipt.rev_octets.max(other.rev_octets);
		receipt.max_price_per_gb = receipt.max_price_per_gb.max(other.max_price_per_gb);
		receipt.nonce = receipt.nonce.max(other.nonce);
		Self { receipt, vouched: self.vouched | bit(position) }
	}
}

/// The vouch bit of path position `position` (paths are at most 6 routers long).
fn bit(position: usize) -> u8 {
	1u8.checked_shl(position as u32).unwrap_or(0)
}

/// What settlement learns about a router that some aged peer disputed in an epoch: the
/// receipted octets of its disputed links and of its confirmed ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct SuspectTally {
	/// Σ over its counted disputed links of `min(receipted, sent, received)`: what both ends
	/// and the consumers agree crossed links that its counterparties dispute.
	pub disputed: u64,
	/// Σ of the octets paid on its confirmed links (receipted and confirmed by both ends).
	pub confirmed: u64,
}

impl SuspectTally {
	/// Whether the disputed links carried more than half of its receipted octets.
	pub fn mostly_disputed(&self) -> bool {
		self.disputed > self.confirmed
	}
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
	/// Judging each disputed link: forgiven for a corroborated restart, else counted against
	/// both ends (all claims are in by now, so the order of claims changes nothing).
	#[default]
	#[codec(index = 3)]
	Disputes,
	/// Turning each flow's receipt into hop charges (`Owed`, `Bills`).
	#[codec(index = 0)]
	Flows,
	/// Charging escrows and paying relays and the infrastructure, one payee per step.
	#[codec(index = 1)]
	Payouts,
	/// Removing the epoch's links, claim marks and bills.
	#[codec(index = 2)]
	Cleanup,
	/// Deciding, for each router disputed this epoch, whether it is reported for quarantine.
	#[codec(index = 4)]
	Verdicts,
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
