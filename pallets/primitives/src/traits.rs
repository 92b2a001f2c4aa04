//! The contracts between the pallets, the way `sp-staking` serves the staking pallets: each
//! pallet depends on these traits, never on another pallet's crate, and the runtime wires them.
//!
//! - the exchange (pallet-ditex) answers [`RouterRegistry`], punishes through [`Quarantine`]
//!   and tells [`OnRouterRemoved`] when a router is gone for good;
//! - the escrow (pallet-escrow) charges through [`Escrow`] and asks [`SettlementStatus`] of the
//!   charging pallet (pallet-tickets) before it lets a consumer withdraw;
//! - coin voting (pallet-coin-voting) ranks candidates by their votes ([`CandidateRanking`]),
//!   which the validator set (pallet-validators) is chosen from.

use crate::{
	currency::Balance,
	ditex::{EpochIndex, GroupId, PriceInForce},
};
use sp_runtime::{DispatchResult, Weight};

/// Read access to the registry and the epoch clock.
pub trait RouterRegistry<AccountId> {
	/// The metering epoch of the current block.
	fn current_epoch() -> EpochIndex;
	/// Blocks per epoch.
	fn epoch_length() -> u32;
	/// Whether `router` holds a registration: active, quarantined, or unbonding until its deposit
	/// is withdrawn (a router that leaves may still claim the epochs it served).
	fn is_registered(router: &AccountId) -> bool;
	/// Whether `router` is quarantined (skipped by paths and payouts).
	fn is_quarantined(router: &AccountId) -> bool;
	/// The price of `router` in force at the start of `epoch` (a premium window's if one
	/// applied then); `None` if the router or the epoch's start is unknown.
	fn price_at_epoch_start(router: &AccountId, epoch: EpochIndex) -> Option<PriceInForce>;
	/// Whether the prices of `epoch` are final: every report period of it has been judged
	/// (a premium window whose RTT promise was broken falls back to the base price).
	fn epoch_judged(epoch: EpochIndex) -> bool;
	/// The group `router` counted in for `epoch`: membership as of the epoch's start (a new
	/// registration counts from the next epoch, a move from the epoch whose first block made
	/// it, and an unregistered router through the epoch it left in); `None` outside any group.
	fn group_at(router: &AccountId, epoch: EpochIndex) -> Option<GroupId>;
	/// The epoch `router` registered in (a release from quarantine does not reset it).
	fn registered_epoch(router: &AccountId) -> Option<EpochIndex>;
	/// Whether `router` was quarantined when `epoch` started: a quarantine imposed during an
	/// epoch starts with the next one and never unpays the epochs already served.
	fn quarantined_for(router: &AccountId, epoch: EpochIndex) -> bool;
}

/// What other pallets keep about a router and must forget once it is gone for good.
pub trait OnRouterRemoved<AccountId> {
	/// `router`'s record was removed (its deposit withdrawn): drop what is kept about it.
	fn on_router_removed(router: &AccountId);
	/// The most [`Self::on_router_removed`] costs, charged to the call that removes a router.
	fn weight() -> Weight;
}

/// Nothing is kept elsewhere.
impl<AccountId> OnRouterRemoved<AccountId> for () {
	fn on_router_removed(_: &AccountId) {}
	fn weight() -> Weight {
		Weight::zero()
	}
}

/// How pallet-tickets punishes a router.
pub trait Quarantine<AccountId> {
	/// Quarantines `router` because it disagreed with several distinct counterparties; released
	/// automatically after `quarantine_cooldown` clean periods.
	fn quarantine_for_disputes(router: &AccountId) -> DispatchResult;
}

/// How far settlement has come: what relays (waiting to be paid) and consumers (waiting to
/// withdraw) watch, and what an operator alerts on when it falls behind.
#[derive(
	Clone, Copy, Debug, Default, PartialEq, Eq, codec::Encode, codec::Decode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct SettlementView {
	/// The epoch of the current block.
	pub current_epoch: EpochIndex,
	/// The oldest epoch not yet settled.
	pub next_to_settle: EpochIndex,
	/// Epochs whose claim window has closed but that are not settled yet (0 when settlement
	/// keeps up: an epoch settles in the blocks right after its window).
	pub lag_epochs: u32,
	/// Work left in the oldest unsettled epoch: disputed links to judge, receipts to turn into
	/// charges, routers awaiting a verdict and payouts to make.
	pub backlog: u32,
}

/// What the charging pallet (tickets) knows about settlement.
pub trait SettlementStatus<AccountId> {
	/// Whether every epoch up to and including `epoch` is settled for `consumer`.
	fn settled_through(consumer: &AccountId, epoch: EpochIndex) -> bool;
}

/// Without a charging pallet nothing is ever owed, so everything is settled.
impl<AccountId> SettlementStatus<AccountId> for () {
	fn settled_through(_: &AccountId, _: EpochIndex) -> bool {
		true
	}
}

/// The outcome of one charge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChargeOutcome {
	/// What the payees were owed in total.
	pub owed: Balance,
	/// What was actually paid out (at most `owed`).
	pub paid: Balance,
}

/// How pallet-tickets charges consumers.
pub trait Escrow<AccountId> {
	/// Charges `consumer` for `epoch` and pays each `(payee, amount)`; never more than held or
	/// than the epoch's cap allows. A shortfall is pro-rated across the payees.
	fn charge(
		consumer: &AccountId,
		epoch: EpochIndex,
		payees: &[(AccountId, Balance)],
	) -> ChargeOutcome;
	/// The most a charge for `epoch` could take from `consumer` now: [`Self::available`] for the
	/// epoch, limited by what the cap in force for the epoch leaves. The charging pallet
	/// pro-rates a shortfall with it before charging, so that each payee's share is decided once.
	fn chargeable(consumer: &AccountId, epoch: EpochIndex) -> Balance;
	/// What `consumer`'s escrow backs for `epoch` now (what relays admit its flows by): what is
	/// held, minus a pending withdrawal from the epoch after the one it was requested in (that
	/// amount backs nothing new), limited by what the epoch's cap leaves.
	fn available(consumer: &AccountId, epoch: EpochIndex) -> Balance;
	/// What `consumer`'s escrow backed for `epoch` when the epoch started (held minus pending as
	/// they stood then, limited by the epoch's cap): what its receipts of the epoch are judged
	/// by against the minimum, whatever was charged or deposited since.
	fn backed_at_start(consumer: &AccountId, epoch: EpochIndex) -> Balance;
	/// The least [`Self::available`] a consumer needs for relays to carry its flows (and for its
	/// receipts to count).
	fn min_escrow() -> Balance;
	/// The delegate key the consumer's receipts for `epoch` may be signed with: the one in force
	/// when the epoch started (a later rotation or removal does not void a bill).
	fn receipt_key(consumer: &AccountId, epoch: EpochIndex) -> Option<[u8; 32]>;
}

/// Candidates ranked by the coins voted for them.
pub trait CandidateRanking<AccountId> {
	/// Every candidate the latest tally found backed and that still stands, highest backing
	/// first (ties: the lower account id first), with its backing.
	fn ranked() -> alloc::vec::Vec<(AccountId, Balance)>;
	/// Whether `who` stands as a candidate now.
	fn is_candidate(who: &AccountId) -> bool;
	/// Makes the funded account `who` a candidate (for benchmarks).
	#[cfg(feature = "runtime-benchmarks")]
	fn make_candidate(who: &AccountId);
}
