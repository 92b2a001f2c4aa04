//! Stored types of the metering pallet.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_runtime::Perbill;
use srwan_primitives::{
	currency::Balance,
	receipts::{UsageReceipt, MAX_CLAIM_PEERS, MAX_PATH_ROUTERS},
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
	/// How far a link's two figures may differ in octets, whatever their size: what a path
	/// that fails mid-epoch loses in flight before its traffic moves to another (the sender
	/// counted it, the receiver never saw it). A link pays `min(sent, received)`, so a relay
	/// inflating its own figure gains nothing; one under-reporting what it received lowers
	/// the link's payment by at most this much (beside the relative tolerance) an epoch. At
	/// most `credit_window_octets`.
	pub loss_slack_octets: u64,
}

impl Default for TicketParams {
	/// Production values (DESIGN.md "Parameters"): a 50-block window, 2 % tolerance or 1 MiB
	/// (about 80 ms of a 100 Mbit/s flow), three
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
			loss_slack_octets: 1 << 20,
		}
	}
}

impl TicketParams {
	/// How far a link's two figures may differ and still agree.
	pub fn tolerance(&self) -> crate::math::Tolerance {
		crate::math::Tolerance {
			ppm: self.loss_tolerance_ppm,
			slack_octets: self.loss_slack_octets,
		}
	}

	/// Whether the parameters make sense together for an epoch of `epoch_length` blocks.
	pub fn is_valid(&self, epoch_length: u32) -> bool {
		self.claim_window > 0
			&& self.claim_window <= epoch_length
			&& self.loss_tolerance_ppm <= 1_000_000
			&& self.dispute_counterparties >= 2
			&& self.dispute_counterparties <= MAX_CLAIM_PEERS
			&& self.dispute_window > 0
			&& self.restart_grace_epochs > 0
			&& self.loss_slack_octets <= self.credit_window_octets
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

/// What one router's receipt of a flow says: the figures its consumer signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct Signed {
	/// Octets consumer → destination.
	pub fwd_octets: u64,
	/// Octets destination → consumer.
	pub rev_octets: u64,
	/// The most the consumer pays any hop per GB.
	pub max_price_per_gb: Balance,
}

impl Signed {
	/// The figures of `receipt`.
	pub fn of<AccountId>(receipt: &UsageReceipt<AccountId>) -> Self {
		Self {
			fwd_octets: receipt.fwd_octets,
			rev_octets: receipt.rev_octets,
			max_price_per_gb: receipt.max_price_per_gb,
		}
	}

	/// The larger of two receipts the consumer signed for the same router (octets first).
	fn larger(self, other: Self) -> Self {
		let octets = |s: &Self| s.fwd_octets.saturating_add(s.rev_octets);
		if octets(&other) > octets(&self) {
			other
		} else {
			self
		}
	}
}

/// A flow's receipts for one path as recorded: what each router of the path that claimed the
/// flow holds (its largest receipt: a consumer bound by every receipt it signed cannot lower its
/// bill with a later one). A link counts the figures of its own ends only, so a router elsewhere
/// on the path — even one colluding with the consumer — moves nothing on links it did not carry.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct RecordedReceipt<AccountId> {
	/// The flow (consumer, id, path, epoch), with the largest figures of any of its receipts
	/// (shown to people; pay follows `figures`).
	pub receipt: UsageReceipt<AccountId>,
	/// Bit `k` set: the router at position `k` of the path claimed the flow.
	pub vouched: u8,
	/// Per path position, the figures of the receipt its router claimed.
	pub figures: [Signed; MAX_PATH_ROUTERS as usize],
}

impl<AccountId: Clone + PartialEq> RecordedReceipt<AccountId> {
	/// The first record of `receipt`, vouched for by the router at `position`.
	pub fn new(receipt: UsageReceipt<AccountId>, position: usize) -> Self {
		let mut figures = [Signed::default(); MAX_PATH_ROUTERS as usize];
		if let Some(slot) = figures.get_mut(position) {
			*slot = Signed::of(&receipt);
		}
		Self { receipt, vouched: bit(position), figures }
	}

	/// A record that every router of its path vouched for with `receipt`'s figures.
	pub fn vouched_by_all(receipt: UsageReceipt<AccountId>) -> Self {
		let signed = Signed::of(&receipt);
		let vouched = (0..receipt.path.len()).fold(0u8, |bits, position| bits | bit(position));
		Self { receipt, vouched, figures: [signed; MAX_PATH_ROUTERS as usize] }
	}

	/// The figures that count on link `link` of the path (between positions `link` and
	/// `link + 1`): the larger of what its two ends claimed; `None` when neither did.
	pub fn on_link(&self, link: usize) -> Option<Signed> {
		let end = |position: usize| {
			(self.vouched & bit(position) != 0)
				.then(|| self.figures.get(position).copied())
				.flatten()
		};
		match (end(link), end(link.saturating_add(1))) {
			(Some(a), Some(b)) => Some(a.larger(b)),
			(a, b) => a.or(b),
		}
	}

	/// This record with `other` (the same flow and path, also signed by the consumer) claimed
	/// by the router at `position`.
	pub fn merged(&self, other: &UsageReceipt<AccountId>, position: usize) -> Self {
		let mut record = self.clone();
		let shown = &mut record.receipt;
		shown.fwd_octets = shown.fwd_octets.max(other.fwd_octets);
		shown.rev_octets = shown.rev_octets.max(other.rev_octets);
		shown.max_price_per_gb = shown.max_price_per_gb.max(other.max_price_per_gb);
		shown.nonce = shown.nonce.max(other.nonce);
		if let Some(slot) = record.figures.get_mut(position) {
			*slot = if record.vouched & bit(position) != 0 {
				slot.larger(Signed::of(other))
			} else {
				Signed::of(other)
			};
		}
		record.vouched |= bit(position);
		record
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

/// The settlement work one claim added to its epoch, entry by entry: what its weight pays for
/// (see [`crate::Pallet::settlement_weight`]). Each piece of an epoch's settlement is
/// attributed to exactly one claim — a dispute to the claim that found it (the second end of
/// the link), a flow record and its payees to the claim that created it, a link record or a
/// restart mark to the claim that created it — so the claims of an epoch together pay for all
/// of its settlement, and an honest claim that merges into records its path's other routers
/// created pays for little.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueuedWork {
	/// Disputed links recorded.
	pub disputes: u32,
	/// Link records created.
	pub links: u32,
	/// Restart marks created.
	pub restart_marks: u32,
	/// Flow records created.
	pub flows: u32,
	/// Routers on the created flow records' paths (each a payout at most).
	pub payees: u32,
	/// Link records whose demand the recorded receipts may have moved (the claim's own work,
	/// not settlement).
	pub links_touched: u32,
}
