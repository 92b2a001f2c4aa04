//! # pallet-tickets — claim tickets, cross-checked metering and settlement
//!
//! Relays forward a consumer's packets along a path of routers; after each metering epoch every
//! relay submits one [`Claim`] ([`Pallet::claim`]): its octet counters per neighbouring relay and
//! the latest [`UsageReceipt`] it holds for each flow it carried. This pallet checks the claim,
//! cross-checks each link from both of its ends, and, once the epoch's claim window has closed,
//! charges every consumer's escrow (pallet-escrow) and pays the relays on its paths.
//!
//! ## Two independent limits on every bill
//!
//! 1. **Both ends of every link.** For each link A→B of an epoch the pallet keeps what A says it
//!    sent (`A.out[B]`) and what B says it received (`B.in[A]`). When the two agree within
//!    [`TicketParams::loss_tolerance_ppm`] (or by at most [`TicketParams::loss_slack_octets`]:
//!    what a path that fails mid-epoch loses in flight), the link carried `min(sent, received)`; when they do
//!    not, the link is *disputed*: unpaid this epoch, with an event naming both figures. A relay
//!    that inflates its own counters therefore earns nothing on the links it lies about.
//! 2. **What the consumer signed.** Receipts are signed by the consumer's account or by the
//!    delegate key in force for the receipt's epoch, over
//!    `b"srwan/receipt/v1" ‖ genesis_hash ‖ SCALE(receipt)`. A link pays at most the sum of the
//!    receipt octets of the flows that cross it, shared pro rata among them — so a colluding pair
//!    that inflates both ends of a link gains nothing beyond the receipts.
//!
//! ## Receipts bind the consumer to the most it signed
//!
//! A flow's receipts are recorded per path ([`Receipts`], keyed by the path's hash): a receipt
//! for another path, whatever its nonce, moves nothing off this one. For each router of the
//! path that claimed the flow the record keeps the largest receipt it held (a later receipt that
//! says less cannot lower a bill), and a link counts the larger of what its own two ends
//! claimed: a router elsewhere on the path — even one colluding with the consumer — cannot
//! inflate or dilute a link it did not carry.
//!
//! ## Counters: one epoch per claim
//!
//! A claim's per-peer counters are the octets of data packets **stamped with the claimed
//! epoch** by their sender (summed over the claiming relay's boots, so a restart loses at most
//! the counts not yet on disk). Nothing carries over between claims: a relay claims each epoch
//! at most once, and a missed claim window costs that epoch's pay and nothing else.
//!
//! ## A bad receipt costs that receipt, not the claim
//!
//! Only the claim's own faults reject it (late, a second claim for the epoch, a duplicate or
//! self peer, an unknown or quarantined claimant). A receipt that fails a check (its epoch, its
//! path, its signature by the key in force for its epoch, a consumer whose escrow backs less
//! than the minimum, a nonce older than the recorded one) is skipped with a
//! [`Event::ReceiptSkipped`] naming the reason; the claim's counters and its other receipts
//! count. A consumer or a neighbour who hands a relay one bad receipt cannot void its pay.
//!
//! ## Disputes, restarts and quarantine
//!
//! A link whose two ends disagree is recorded when its second end claims, and judged during
//! settlement, once every claim of the epoch is in (so the order of claims changes nothing).
//! A relay that **declares** it restarted during the epoch and whose restart a peer
//! **corroborates** (the peer saw two or more of its boot values in the epoch) is forgiven:
//! its disagreeing links are paid at `min(sent, received)` and count against no one — at most
//! once per [`TicketParams::restart_grace_epochs`]. An uncorroborated declaration is ignored,
//! and a crash-looping relay is judged like any other beyond its allowance.
//!
//! A judged dispute counts against both of its ends, by counterparty, but only a counterparty
//! registered for at least [`TicketParams::min_age_epochs`] counts (Sybils that just joined the
//! group aim at no one); peers and path routers outside the claimant's group when the epoch
//! started are skipped at claim time. Each counted dispute weighs what both ends and the
//! receipts vouch for, `min(receipted, sent, received)`, and one that weighs nothing names no
//! counterparty. A router is reported to the exchange's [`Quarantine`] only when
//!
//! - it disagrees with at least [`TicketParams::dispute_counterparties`] *distinct* aged peers
//!   within [`TicketParams::dispute_window`] epochs, **and**
//! - in the epoch judged, its disputed links weigh more than its confirmed ones (the octets
//!   someone was paid for on them): more than half of its receipted octets, and at least
//!   [`TicketParams::credit_window_octets`] (an idle router is no easy target).
//!
//! One lying neighbour, a consumer colluding with one hop, or a few Sybils with little real
//! traffic cannot get an honest relay quarantined; a liar cannot hide its disputes among
//! agreements with colluders on unreceipted dust. The limit: Sybils that are old enough and
//! push more real, receipted traffic through a router than all its honest peers together can
//! (documented in `fraud_three_aged_sybils_against_a_router_with_two_peers`). A relay that
//! under-reports loses its own pay and its peers' on those links; since its figure is the
//! lower one it weighs nothing, exactly as an honest router's figure does against inflating
//! Sybils. Quarantine counts from the next epoch: epochs already served are still paid.
//!
//! ## The bill
//!
//! A path of n routers has n−1 links; the ingress is paid on its outbound link, every other router
//! on its inbound link (a one-router path is not payable and is rejected). Forward octets are
//! paid on the forward links, reverse octets (`rev_octets`, the download direction) on the
//! reverse links. A hop's charge is `⌊price × octets / 10^9⌋` at the router's price in force
//! at the start of the epoch (a premium window's if one applied), never above the receipt's
//! `max_price_per_gb`. Nobody is paid for a router that is the consumer itself, quarantined, or
//! not for sale. From each payout [`TicketParams::infra_share`] (`mul_floor`) goes to the
//! shared-infrastructure account.
//!
//! ## Settlement
//!
//! Epochs settle strictly in order, after their claim window, in [`Hooks::on_initialize`] under
//! the fixed [`Config::SettlementBudget`] weight (not `on_idle`, which full blocks starve), in
//! four stages: each disputed link is judged; each flow's receipt becomes hop charges; each
//! (consumer, payee) is paid, pro rata when the consumer's escrow or spending cap cannot cover
//! its whole bill; the epoch's links, claim marks and bills are removed. Receipts and charges are *drained* as they are settled, so no
//! claim can be settled twice, and storage of an epoch is gone once it is settled. pallet-escrow
//! asks [`SettlementStatus`] before letting a consumer withdraw.
//!
//! ## Weights: a claim pays for the settlement it queues
//!
//! A claim is declared at its own work plus [`SETTLEMENT_MARKUP`] times the most settlement it
//! could queue ([`Pallet::claim_weight`]), and charged, once dispatched, for the settlement it
//! did queue ([`QueuedWork`]). Each piece of an epoch's settlement is charged to exactly one
//! claim: a disputed link (its judgement and the verdicts on both ends) to the claim that found
//! it, the second end of the link to claim; a flow record (its step, bill and payees) to the
//! claim that created it; each link record and restart mark to the claim that created it. An
//! epoch's claims together pay for all of its settlement, and since claims fill at most the
//! normal class of the window's blocks, the next epoch's budget settles them
//! ([`Pallet::settlement_keeps_up`]). An honest claim whose flows its path's other routers
//! recorded first pays for little, so far more honest claims fit a block than worst-case ones.
//!
//! ## Invariants (`do_try_state`)
//!
//! Charged = paid to relays + paid to the infrastructure; nothing of a settled epoch remains;
//! no bill charged more than it owed; dispute lists hold distinct counterparties.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod math;
pub mod migrations;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use types::{
	Bill, QueuedWork, RecordedReceipt, SkipReason, Stage, SuspectTally, TicketParams, Totals,
};
pub use weights::WeightInfo;

use srwan_primitives::{
	currency::Balance,
	ditex::EpochIndex,
	receipts::{Claim, SignedReceipt, UsageReceipt},
};

/// How the benchmarks get routers, prices and escrows in a runtime (the exchange and the escrow
/// have their own rules for those).
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId> {
	/// Makes `who` a registered router with `price_per_gb` in force from the current epoch on.
	fn register_router(who: &AccountId, price_per_gb: Balance);
	/// Records the start of `epoch` (the exchange prices epochs by their start time) and makes
	/// its prices final.
	fn start_epoch(epoch: EpochIndex);
	/// Gives `consumer` an escrow of `amount`.
	fn fund_escrow(consumer: &AccountId, amount: Balance);
	/// Registers `key` as `consumer`'s delegate receipt key.
	fn set_receipt_key(consumer: &AccountId, key: [u8; 32]);
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use crate::math::{self, LinkFigures};
	use alloc::{collections::BTreeSet, vec::Vec};
	use codec::Encode;
	use frame_support::{
		pallet_prelude::*,
		traits::fungible::{Inspect, Mutate},
		weights::WeightMeter,
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::traits::{UniqueSaturatedInto, Zero};
	use srwan_primitives::traits::{Escrow, Quarantine, RouterRegistry, SettlementStatus};
	use srwan_primitives::{
		ditex::GroupId,
		receipts::{FlowId, MAX_CLAIM_PEERS, MAX_CLAIM_RECEIPTS},
	};

	/// A path's identity in storage: `blake2_256(SCALE(path))`.
	pub type PathHash = [u8; 32];

	/// The storage layout version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(3);

	/// Links or bills removed per cleanup step.
	pub const CLEANUP_BATCH: u32 = 32;

	/// How many times the settlement work it queues a claim is charged. Claims may fill the
	/// normal class (75 % of a block) of every block of the claim window, while settlement gets
	/// a fixed [`Config::SettlementBudget`] of every block of the epoch: charging each claim
	/// twice its settlement work keeps the worst flood of claims within what the following
	/// epoch settles (`settlement_keeps_up`, checked at genesis, by `set_params` and by the
	/// integrity test).
	pub const SETTLEMENT_MARKUP: u64 = 2;

	/// Link records a receipt can create: the claimant vouches for the links on either side of
	/// it on the path, each both ways.
	pub const LINKS_PER_RECEIPT: u32 = 4;

	/// Link records a receipt can move demand on: every link of the longest path, both ways
	/// (merging into a record its path's other routers vouched for moves them all).
	pub const MAX_LINKS_TOUCHED_PER_RECEIPT: u32 =
		2 * (srwan_primitives::receipts::MAX_PATH_ROUTERS - 1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of metering and settlement.
	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency (only to give the infrastructure account its existential deposit at
		/// genesis; payouts move through the escrow).
		type Currency: Mutate<Self::AccountId, Balance = Balance>;
		/// Routers, their prices and the epoch clock (pallet-ditex).
		type Registry: RouterRegistry<Self::AccountId>;
		/// Where routers that keep disagreeing with their neighbours are reported (pallet-ditex).
		type Quarantine: Quarantine<Self::AccountId>;
		/// Consumers' escrows (pallet-escrow).
		type Escrow: Escrow<Self::AccountId>;
		/// The shared-infrastructure account (given its existential deposit at genesis, so
		/// that payouts below it still arrive).
		type InfraAccount: Get<Self::AccountId>;
		/// The weight settlement may use in every block, whatever else the block holds.
		#[pallet::constant]
		type SettlementBudget: Get<Weight>;
		/// Weights of the calls and of the settlement steps.
		type WeightInfo: WeightInfo;
		/// Sets up routers, prices and escrows for the benchmarks.
		#[cfg(feature = "runtime-benchmarks")]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
	}

	/// The metering parameters.
	#[pallet::storage]
	pub type Params<T> = StorageValue<_, TicketParams, ValueQuery>;

	/// Relays that claimed an epoch, with whether they declared a restart during it (one
	/// claim per relay and epoch), until the epoch is settled.
	#[pallet::storage]
	pub type Claimed<T: Config> =
		StorageDoubleMap<_, Twox64Concat, EpochIndex, Blake2_128Concat, T::AccountId, bool>;

	/// Receipts each relay submitted for an epoch, over its claim and the parts added to it
	/// (at most `MAX_CLAIM_RECEIPTS`), until the epoch is settled.
	#[pallet::storage]
	pub type ClaimedReceipts<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		EpochIndex,
		Blake2_128Concat,
		T::AccountId,
		u32,
		ValueQuery,
	>;

	/// Routers that a peer saw restart during an epoch (two or more boot values in its
	/// packets): what corroborates a declared restart. Until the epoch is settled.
	#[pallet::storage]
	pub type SawRestart<T: Config> =
		StorageDoubleMap<_, Twox64Concat, EpochIndex, Blake2_128Concat, T::AccountId, ()>;

	/// The last epoch each router's restart was forgiven in (one per `restart_grace_epochs`).
	#[pallet::storage]
	pub type LastRestartGrace<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, EpochIndex>;

	/// Routers that an aged peer disputed in an epoch, with the receipted octets of their
	/// disputed and confirmed links, until their verdict in that epoch's settlement.
	#[pallet::storage]
	pub type Suspects<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		EpochIndex,
		Blake2_128Concat,
		T::AccountId,
		SuspectTally,
		ValueQuery,
	>;

	/// Links whose two ends disagree, per (epoch, from, to), waiting to be judged in settlement.
	#[pallet::storage]
	pub type Disputed<T: Config> = StorageNMap<
		_,
		(
			NMapKey<Twox64Concat, EpochIndex>,
			NMapKey<Blake2_128Concat, T::AccountId>,
			NMapKey<Blake2_128Concat, T::AccountId>,
		),
		(),
	>;

	/// Per (epoch, from, to): both ends' figures and the receipts' demand on the link.
	#[pallet::storage]
	pub type Links<T: Config> = StorageNMap<
		_,
		(
			NMapKey<Twox64Concat, EpochIndex>,
			NMapKey<Blake2_128Concat, T::AccountId>,
			NMapKey<Blake2_128Concat, T::AccountId>,
		),
		LinkFigures,
		ValueQuery,
	>;

	/// Each flow's receipt per (epoch, consumer, flow, path hash), until it is settled: one
	/// record per path, so a receipt the consumer signs for another path moves nothing off
	/// this one.
	#[pallet::storage]
	pub type Receipts<T: Config> = StorageNMap<
		_,
		(
			NMapKey<Twox64Concat, EpochIndex>,
			NMapKey<Blake2_128Concat, T::AccountId>,
			NMapKey<Blake2_128Concat, FlowId>,
			NMapKey<Identity, PathHash>,
		),
		RecordedReceipt<T::AccountId>,
	>;

	/// Disputed links forgiven for a corroborated restart, per (epoch, from, to): paid at
	/// `min(sent, received)`; until the epoch is settled.
	#[pallet::storage]
	pub type Forgiven<T: Config> = StorageNMap<
		_,
		(
			NMapKey<Twox64Concat, EpochIndex>,
			NMapKey<Blake2_128Concat, T::AccountId>,
			NMapKey<Blake2_128Concat, T::AccountId>,
		),
		(),
	>;

	/// Disagreeing counterparties of each router with the epoch of the latest dispute, pruned
	/// after `dispute_window` epochs.
	#[pallet::storage]
	pub type Disputes<T: Config> = StorageMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		BoundedVec<(T::AccountId, EpochIndex), ConstU32<MAX_CLAIM_PEERS>>,
		ValueQuery,
	>;

	/// Hop charges per (epoch, consumer, payee) waiting to be paid.
	#[pallet::storage]
	pub type Owed<T: Config> = StorageNMap<
		_,
		(
			NMapKey<Twox64Concat, EpochIndex>,
			NMapKey<Blake2_128Concat, T::AccountId>,
			NMapKey<Blake2_128Concat, T::AccountId>,
		),
		Balance,
		ValueQuery,
	>;

	/// Each consumer's bill per epoch while the epoch settles.
	#[pallet::storage]
	pub type Bills<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		EpochIndex,
		Blake2_128Concat,
		T::AccountId,
		Bill,
		ValueQuery,
	>;

	/// The oldest epoch not yet settled.
	#[pallet::storage]
	pub type NextToSettle<T> = StorageValue<_, EpochIndex, ValueQuery>;

	/// Where that epoch's settlement stands.
	#[pallet::storage]
	pub type SettlementStage<T> = StorageValue<_, Stage, ValueQuery>;

	/// Whether settlement of [`NextToSettle`] has begun. From its first step on that epoch's
	/// claims stay closed, whatever the claim window is set to later: a reopened epoch would
	/// take claims for flows already charged.
	#[pallet::storage]
	pub type SettlementBegun<T> = StorageValue<_, bool, ValueQuery>;

	/// Lifetime money totals.
	#[pallet::storage]
	pub type MoneyTotals<T> = StorageValue<_, Totals, ValueQuery>;

	/// Genesis: the metering parameters.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// `None`: the production defaults.
		pub params: Option<TicketParams>,
		#[serde(skip)]
		/// Type marker.
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			let epoch_length = T::Registry::epoch_length();
			// The production defaults fit production epochs; shorter test epochs get a window
			// that fits them.
			let params = self.params.unwrap_or_else(|| {
				let defaults = TicketParams::default();
				TicketParams {
					claim_window: defaults.claim_window.min(epoch_length).max(1),
					..defaults
				}
			});
			assert!(
				params.is_valid(epoch_length),
				"tickets genesis: invalid parameters {params:?}"
			);
			assert!(
				Pallet::<T>::settlement_keeps_up(params.claim_window, epoch_length),
				"tickets genesis: settlement cannot keep up with a {}-block window of a {epoch_length}-block epoch",
				params.claim_window
			);
			Params::<T>::put(params);
			let infra = T::InfraAccount::get();
			let ed = T::Currency::minimum_balance();
			if T::Currency::balance(&infra) < ed {
				let funded = T::Currency::mint_into(&infra, ed);
				assert!(funded.is_ok(), "tickets genesis funds the infrastructure account");
			}
		}
	}

	/// Events of metering and settlement.
	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A relay's claim was accepted.
		ClaimAccepted {
			/// The relay.
			relay: T::AccountId,
			/// The epoch.
			epoch: EpochIndex,
			/// Whether it declared a restart during the epoch.
			restarted: bool,
			/// Peers in the claim.
			peers: u32,
			/// Receipts recorded (new or newer than the recorded ones).
			receipts: u32,
			/// Receipts skipped (each has its [`Event::ReceiptSkipped`]).
			skipped: u32,
		},
		/// More receipts were added to a relay's claim.
		ReceiptsAdded {
			/// The relay.
			relay: T::AccountId,
			/// The epoch.
			epoch: EpochIndex,
			/// Receipts recorded (new or newer than the recorded ones).
			receipts: u32,
			/// Receipts skipped (each has its [`Event::ReceiptSkipped`]).
			skipped: u32,
		},
		/// A receipt in a claim failed a check and was skipped; the rest of the claim counts.
		ReceiptSkipped {
			/// The claiming relay.
			relay: T::AccountId,
			/// The receipt's consumer.
			consumer: T::AccountId,
			/// The receipt's flow.
			flow: FlowId,
			/// Why.
			reason: SkipReason,
		},
		/// The two ends of a link disagree; the dispute is judged when the epoch settles.
		LinkDisputed {
			/// The epoch.
			epoch: EpochIndex,
			/// The sending end.
			from: T::AccountId,
			/// The receiving end.
			to: T::AccountId,
			/// What the sender says it sent.
			sent: u64,
			/// What the receiver says it received.
			received: u64,
		},
		/// A disputed link was judged: unpaid and counted against both ends, or forgiven
		/// (paid at the minimum, counted against no one) for a corroborated restart.
		DisputeJudged {
			/// The epoch.
			epoch: EpochIndex,
			/// The sending end.
			from: T::AccountId,
			/// The receiving end.
			to: T::AccountId,
			/// Whether a corroborated restart forgave it.
			forgiven: bool,
		},
		/// A router's declared restart was corroborated by a peer and forgiven for the epoch.
		RestartForgiven {
			/// The epoch.
			epoch: EpochIndex,
			/// The router.
			router: T::AccountId,
		},
		/// A peer of the claim was not in the relay's group when the epoch started: its figures
		/// were left out (the rest of the claim counts).
		PeerSkipped {
			/// The claiming relay.
			relay: T::AccountId,
			/// The peer.
			peer: T::AccountId,
		},
		/// A router disagreed with too many distinct peers and was reported for quarantine.
		ReportedForDisputes {
			/// The router.
			router: T::AccountId,
			/// Distinct counterparties within the dispute window.
			counterparties: u32,
		},
		/// A flow's receipt became hop charges.
		FlowSettled {
			/// The epoch.
			epoch: EpochIndex,
			/// The consumer.
			consumer: T::AccountId,
			/// The flow.
			flow: FlowId,
			/// Σ of its hop charges.
			owed: Balance,
		},
		/// A consumer's escrow or cap could not cover its bill: payees are paid pro rata.
		ChargeShortfall {
			/// The epoch.
			epoch: EpochIndex,
			/// The consumer.
			consumer: T::AccountId,
			/// What its flows owed.
			owed: Balance,
			/// What will be charged.
			payable: Balance,
		},
		/// A relay was paid for a consumer's traffic.
		Paid {
			/// The epoch.
			epoch: EpochIndex,
			/// The consumer.
			consumer: T::AccountId,
			/// The relay.
			relay: T::AccountId,
			/// To the relay.
			amount: Balance,
			/// To the shared infrastructure.
			infra: Balance,
		},
		/// Every claim of an epoch is settled and its storage removed.
		EpochSettled {
			/// The epoch.
			epoch: EpochIndex,
		},
		/// Root changed the parameters.
		ParamsSet {
			/// The new parameters.
			params: TicketParams,
		},
		/// A link disputed when both ends had claimed agrees under the parameters in force at
		/// settlement (they changed in between): it is paid like any agreeing link and counted
		/// against no one.
		DisputeWithdrawn {
			/// The epoch.
			epoch: EpochIndex,
			/// The sending end.
			from: T::AccountId,
			/// The receiving end.
			to: T::AccountId,
		},
	}

	/// Errors of metering; each distinct bad input has its own.
	#[pallet::error]
	pub enum Error<T> {
		/// The claimant is not a registered router.
		UnknownRouter,
		/// The claimant was quarantined when the epoch started.
		Quarantined,
		/// The claimant was in no group when the epoch started (it registered during it, or
		/// left before it).
		NotInGroup,
		/// The epoch has not ended yet.
		EpochNotEnded,
		/// The epoch's claim window has closed.
		LateClaim,
		/// The relay already claimed this epoch.
		AlreadyClaimed,
		/// A peer appears twice.
		DuplicatePeer,
		/// The relay lists itself as a peer.
		SelfAsPeer,
		/// The parameters are inconsistent (see `TicketParams::is_valid`).
		InvalidParams,
		/// Receipts can be added only to a claim the relay made for the epoch.
		NotClaimed,
		/// The claim and its parts would hold more than `MAX_CLAIM_RECEIPTS` receipts.
		TooManyReceipts,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(_n: BlockNumberFor<T>) -> Weight {
			Self::settle(T::SettlementBudget::get())
		}

		fn integrity_test() {
			// The production clocks (DESIGN.md "Parameters"): a 50-block window of a 100-block
			// epoch. Genesis and `set_params` check the clocks actually set.
			let window = TicketParams::default().claim_window;
			assert!(
				Self::settlement_keeps_up(window, window.saturating_mul(2)),
				"claims of a full window queue more settlement than an epoch's budget settles"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Submits the relay's claim for an ended epoch: its counters per peer for that epoch
		/// only, whether it restarted during it, and the latest receipt it holds for each flow
		/// it carried. The claim's own faults reject it; a receipt that fails a check is skipped
		/// (with an event) and the rest counts.
		///
		/// Declared at the most settlement it could queue; charged, once dispatched, for the
		/// settlement it did queue (a rejected claim is charged in full).
		#[pallet::call_index(0)]
		#[pallet::weight(Pallet::<T>::claim_weight(
			claim.peers.len() as u32,
			claim.receipts.len() as u32,
			claim.receipts.iter().map(|r| r.receipt.path.len() as u32).sum(),
		))]
		pub fn claim(
			origin: OriginFor<T>,
			claim: Claim<T::AccountId>,
		) -> DispatchResultWithPostInfo {
			let relay = ensure_signed(origin)?;
			ensure!(T::Registry::is_registered(&relay), Error::<T>::UnknownRouter);
			let epoch = claim.epoch;
			ensure!(epoch < T::Registry::current_epoch(), Error::<T>::EpochNotEnded);
			ensure!(Self::claims_open(epoch), Error::<T>::LateClaim);
			ensure!(!T::Registry::quarantined_for(&relay, epoch), Error::<T>::Quarantined);
			let group = T::Registry::group_at(&relay, epoch).ok_or(Error::<T>::NotInGroup)?;
			ensure!(!Claimed::<T>::contains_key(epoch, &relay), Error::<T>::AlreadyClaimed);
			let mut seen = BTreeSet::new();
			for entry in &claim.peers {
				ensure!(entry.peer != relay, Error::<T>::SelfAsPeer);
				ensure!(seen.insert(&entry.peer), Error::<T>::DuplicatePeer);
			}
			let (updates, skipped) = Self::checked_receipts(&relay, group, epoch, &claim.receipts);

			Claimed::<T>::insert(epoch, &relay, claim.restarted);
			let params = Params::<T>::get();
			let mut queued = QueuedWork::default();
			let count = |n: &mut u32, happened: bool| *n = n.saturating_add(u32::from(happened));
			for entry in &claim.peers {
				if T::Registry::group_at(&entry.peer, epoch) != Some(group) {
					Self::deposit_event(Event::PeerSkipped {
						relay: relay.clone(),
						peer: entry.peer.clone(),
					});
					continue;
				}
				let boots: BTreeSet<_> = entry.peer_boots.iter().collect();
				if boots.len() >= 2 && !SawRestart::<T>::contains_key(epoch, &entry.peer) {
					SawRestart::<T>::insert(epoch, &entry.peer, ());
					count(&mut queued.restart_marks, true);
				}
				let sent = (epoch, &relay, &entry.peer);
				count(
					&mut queued.links,
					Self::update_link(sent, |f| f.sent = Some(entry.out_octets)),
				);
				count(&mut queued.disputes, Self::cross_check(epoch, &relay, &entry.peer, &params));
				let received = (epoch, &entry.peer, &relay);
				count(
					&mut queued.links,
					Self::update_link(received, |f| f.received = Some(entry.in_octets)),
				);
				count(&mut queued.disputes, Self::cross_check(epoch, &entry.peer, &relay, &params));
			}
			let (recorded, skipped_count) =
				Self::record_receipts(&relay, epoch, updates, skipped, &mut queued);
			ClaimedReceipts::<T>::insert(epoch, &relay, claim.receipts.len() as u32);
			Self::deposit_event(Event::ClaimAccepted {
				relay,
				epoch,
				restarted: claim.restarted,
				peers: claim.peers.len() as u32,
				receipts: recorded,
				skipped: skipped_count,
			});
			let (peers, receipts) = (claim.peers.len() as u32, claim.receipts.len() as u32);
			let routers = claim.receipts.iter().map(|r| r.receipt.path.len() as u32).sum();
			let declared = Self::claim_weight(peers, receipts, routers);
			let actual = Self::claim_actual_weight(peers, receipts, queued);
			debug_assert!(
				actual.all_lte(declared),
				"a claim did more than its declared worst case"
			);
			Ok(Some(actual.min(declared)).into())
		}

		/// Adds receipts to the relay's claim for `epoch` when they do not all fit in the
		/// claim's extrinsic (a claim at the receipt bound weighs more than a block): at most
		/// `MAX_CLAIM_RECEIPTS` over the claim and its parts, within the claim window, each
		/// checked, recorded and charged as the claim's own receipts are.
		#[pallet::call_index(2)]
		#[pallet::weight(Pallet::<T>::claim_weight(
			0,
			receipts.len() as u32,
			receipts.iter().map(|r| r.receipt.path.len() as u32).sum(),
		))]
		pub fn claim_more_receipts(
			origin: OriginFor<T>,
			epoch: EpochIndex,
			receipts: BoundedVec<SignedReceipt<T::AccountId>, ConstU32<MAX_CLAIM_RECEIPTS>>,
		) -> DispatchResultWithPostInfo {
			let relay = ensure_signed(origin)?;
			ensure!(T::Registry::is_registered(&relay), Error::<T>::UnknownRouter);
			ensure!(Self::claims_open(epoch), Error::<T>::LateClaim);
			ensure!(Claimed::<T>::contains_key(epoch, &relay), Error::<T>::NotClaimed);
			ensure!(!T::Registry::quarantined_for(&relay, epoch), Error::<T>::Quarantined);
			let group = T::Registry::group_at(&relay, epoch).ok_or(Error::<T>::NotInGroup)?;
			// A claim made before parts existed has no count: it may not grow.
			let so_far = ClaimedReceipts::<T>::try_get(epoch, &relay).unwrap_or(MAX_CLAIM_RECEIPTS);
			let total = so_far.saturating_add(receipts.len() as u32);
			ensure!(total <= MAX_CLAIM_RECEIPTS, Error::<T>::TooManyReceipts);
			ClaimedReceipts::<T>::insert(epoch, &relay, total);
			let (updates, skipped) = Self::checked_receipts(&relay, group, epoch, &receipts);
			let mut queued = QueuedWork::default();
			let (recorded, skipped) =
				Self::record_receipts(&relay, epoch, updates, skipped, &mut queued);
			Self::deposit_event(Event::ReceiptsAdded { relay, epoch, receipts: recorded, skipped });
			let count = receipts.len() as u32;
			let routers = receipts.iter().map(|r| r.receipt.path.len() as u32).sum();
			let declared = Self::claim_weight(0, count, routers);
			let actual = Self::claim_actual_weight(0, count, queued);
			debug_assert!(actual.all_lte(declared), "a part did more than its declared worst case");
			Ok(Some(actual.min(declared)).into())
		}

		/// Root: replaces the metering parameters.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::set_params())]
		pub fn set_params(origin: OriginFor<T>, params: TicketParams) -> DispatchResult {
			ensure_root(origin)?;
			let epoch_length = T::Registry::epoch_length();
			ensure!(
				params.is_valid(epoch_length)
					&& Self::settlement_keeps_up(params.claim_window, epoch_length),
				Error::<T>::InvalidParams
			);
			Params::<T>::put(params);
			Self::deposit_event(Event::ParamsSet { params });
			Ok(())
		}
	}

	/// A path's storage key: `blake2_256(SCALE(path))`.
	pub fn path_hash<AccountId: Encode>(path: &[AccountId]) -> PathHash {
		sp_io::hashing::blake2_256(&path.encode())
	}

	/// The outcome of one settlement step.
	pub(crate) enum Step {
		/// Work was done.
		Worked,
		/// Nothing to do before a later block.
		Idle,
	}

	impl<T: Config> Pallet<T> {
		fn block_number() -> u32 {
			frame_system::Pallet::<T>::block_number().unique_saturated_into()
		}

		/// What a claim of `peers` peers and `receipts` receipts whose paths hold `routers`
		/// routers in all may weigh: its own work and the most settlement it can queue (the
		/// weight declared before dispatch; [`Pallet::claim`] refunds what it did not do).
		pub fn claim_weight(peers: u32, receipts: u32, routers: u32) -> Weight {
			let links = receipts.saturating_mul(MAX_LINKS_TOUCHED_PER_RECEIPT);
			Self::claim_own_weight(peers, receipts, links).saturating_add(
				Self::settlement_queued(peers, receipts, routers).saturating_mul(SETTLEMENT_MARKUP),
			)
		}

		/// A claim's own work: the benchmarks, plus what a real claim reads and writes beyond
		/// them. The benchmark's receipts share one path, so it sees each path router's membership,
		/// the escrow and the path's links once; a real claim's receipts may each have their
		/// own: per receipt the escrow and its routers' memberships, and the `links_touched`
		/// link records its recorded receipts moved demand on.
		pub fn claim_own_weight(peers: u32, receipts: u32, links_touched: u32) -> Weight {
			let r = u64::from(receipts);
			let path = u64::from(srwan_primitives::receipts::MAX_PATH_ROUTERS);
			let links = u64::from(links_touched);
			// Two benchmarks, each with its own base: their sum counts the base twice.
			T::WeightInfo::claim_peers(peers)
				.saturating_add(T::WeightInfo::claim_receipts(receipts))
				// The receipt count (`ClaimedReceipts`), read and written.
				.saturating_add(T::DbWeight::get().reads_writes(1, 1))
				.saturating_add(
					T::DbWeight::get()
						.reads_writes(r.saturating_mul(1 + path).saturating_add(links), links),
				)
		}

		/// What a claim weighs once dispatched: its own work and, marked up, the settlement it
		/// queued.
		pub fn claim_actual_weight(peers: u32, receipts: u32, queued: QueuedWork) -> Weight {
			Self::claim_done_weight(peers, receipts, queued)
				.saturating_add(Self::settlement_weight(queued).saturating_mul(SETTLEMENT_MARKUP))
		}

		/// A claim's own work once done: the benchmark writes two dispute records and a
		/// restart mark for every peer, and a claim that wrote fewer (an honest one writes
		/// none) is refunded those writes.
		pub fn claim_done_weight(peers: u32, receipts: u32, queued: QueuedWork) -> Weight {
			let written = queued.disputes.saturating_add(queued.restart_marks);
			let unwritten = peers.saturating_mul(3).saturating_sub(written);
			Self::claim_own_weight(peers, receipts, queued.links_touched)
				.saturating_sub(T::DbWeight::get().writes(u64::from(unwritten)))
		}

		/// The most settlement work one claim can queue: it may be the second end to claim
		/// both links with every peer (each a dispute), create both links' records and a
		/// restart mark per peer, and per receipt a new flow record with its two links each way
		/// and a payout for every router of its path (`routers` in all).
		pub fn settlement_queued(peers: u32, receipts: u32, routers: u32) -> Weight {
			let links = peers.saturating_mul(2);
			Self::settlement_weight(QueuedWork {
				disputes: links,
				links: links.saturating_add(receipts.saturating_mul(LINKS_PER_RECEIPT)),
				restart_marks: peers,
				flows: receipts,
				payees: routers,
				// Not settlement: the claim's own work (`claim_own_weight`).
				links_touched: 0,
			})
		}

		/// The settlement steps that `work` adds to its epoch: per dispute its judgement, the
		/// verdicts on both ends and a forgiven mark's cleanup; per flow record its step and its
		/// bill's cleanup; a payout per payee; the cleanup of every link record, restart mark
		/// and the claim mark.
		pub fn settlement_weight(work: QueuedWork) -> Weight {
			let cleanup = T::WeightInfo::settle_cleanup();
			let cleaned = |entries: u32| {
				cleanup.saturating_mul(u64::from(entries)).saturating_div(u64::from(CLEANUP_BATCH))
			};
			let per_dispute = T::WeightInfo::settle_dispute()
				.saturating_add(T::WeightInfo::settle_verdict().saturating_mul(2));
			let entries = work
				.links
				.saturating_add(work.restart_marks)
				.saturating_add(work.disputes)
				.saturating_add(work.flows)
				// The claim's marks (`Claimed`, `ClaimedReceipts`).
				.saturating_add(2);
			per_dispute
				.saturating_mul(u64::from(work.disputes))
				.saturating_add(Self::settle_flow_weight().saturating_mul(u64::from(work.flows)))
				.saturating_add(
					T::WeightInfo::settle_payout().saturating_mul(u64::from(work.payees)),
				)
				.saturating_add(cleaned(entries))
		}

		/// One flow step: the benchmark, plus what its worst case does beyond it (every router of
		/// the path a suspect, every link disagreeing and forgiven).
		pub fn settle_flow_weight() -> Weight {
			let links = u64::from(srwan_primitives::receipts::MAX_PATH_ROUTERS.saturating_sub(1));
			T::WeightInfo::settle_flow()
				.saturating_add(T::DbWeight::get().reads_writes(links * 4, links * 2))
		}

		/// Whether settlement keeps up with claims, whatever their shapes: claims that fill the
		/// normal class of every block of a `claim_window` are charged at least
		/// [`SETTLEMENT_MARKUP`] times the settlement they queue, and that must fit in what
		/// `epoch_length` blocks of [`Config::SettlementBudget`] settle — each block's budget
		/// less its fixed overhead and its largest step (which may not fit the rest), less the
		/// steps every epoch takes to move through its stages.
		pub fn settlement_keeps_up(claim_window: u32, epoch_length: u32) -> bool {
			let weights = <T as frame_system::Config>::BlockWeights::get();
			let normal = weights
				.get(frame_support::dispatch::DispatchClass::Normal)
				.max_total
				.unwrap_or(weights.max_block)
				.ref_time();
			let per_block = T::SettlementBudget::get()
				.saturating_sub(Self::settle_overhead())
				.saturating_sub(Self::largest_settle_step())
				.ref_time();
			let per_epoch = T::WeightInfo::settle_dispute()
				.saturating_add(Self::settle_flow_weight())
				.saturating_add(T::WeightInfo::settle_verdict())
				.saturating_add(T::WeightInfo::settle_payout())
				.saturating_add(T::WeightInfo::settle_cleanup())
				.ref_time();
			let settles = u128::from(epoch_length)
				.saturating_mul(u128::from(per_block))
				.saturating_sub(u128::from(per_epoch));
			u128::from(claim_window).saturating_mul(u128::from(normal))
				<= u128::from(SETTLEMENT_MARKUP).saturating_mul(settles)
		}

		/// What [`Pallet::settle`] spends every block before its first step.
		pub fn settle_overhead() -> Weight {
			// NextToSettle, SettlementStage, SettlementBegun, the params and the exchange's
			// verdict (its params and JudgedThrough); the flag's write once per epoch.
			T::DbWeight::get().reads_writes(6, 1)
		}

		/// The heaviest settlement step.
		pub fn largest_settle_step() -> Weight {
			T::WeightInfo::settle_dispute()
				.max(Self::settle_flow_weight())
				.max(T::WeightInfo::settle_verdict())
				.max(T::WeightInfo::settle_payout())
				.max(T::WeightInfo::settle_cleanup())
		}

		/// How far settlement has come (the `MeteringApi`'s answer).
		pub fn settlement_view() -> srwan_primitives::traits::SettlementView {
			let next = NextToSettle::<T>::get();
			let block = Self::block_number();
			let current = T::Registry::current_epoch();
			// Epochs whose window has closed: those before the first still open.
			let open = (0..=current)
				.rev()
				.take(2)
				.filter(|epoch| Self::claim_deadline(*epoch) > block)
				.min()
				.unwrap_or(current.saturating_add(1));
			let backlog = Disputed::<T>::iter_prefix((next,))
				.count()
				.saturating_add(Receipts::<T>::iter_prefix((next,)).count())
				.saturating_add(Suspects::<T>::iter_prefix(next).count())
				.saturating_add(Owed::<T>::iter_prefix((next,)).count());
			srwan_primitives::traits::SettlementView {
				current_epoch: current,
				next_to_settle: next,
				lag_epochs: open.saturating_sub(next),
				backlog: backlog as u32,
			}
		}

		/// Whether claims for the ended `epoch` are still accepted: its window is open and its
		/// settlement has not begun (a claim window raised later reopens nothing).
		pub fn claims_open(epoch: EpochIndex) -> bool {
			let next = NextToSettle::<T>::get();
			Self::block_number() < Self::claim_deadline(epoch)
				&& (epoch > next || (epoch == next && !SettlementBegun::<T>::get()))
		}

		/// The first block at which claims for `epoch` are no longer accepted (and its
		/// settlement may begin).
		pub fn claim_deadline(epoch: EpochIndex) -> u32 {
			epoch
				.saturating_add(1)
				.saturating_mul(T::Registry::epoch_length())
				.saturating_add(Params::<T>::get().claim_window)
		}

		/// The chain's genesis hash, which every receipt's signing payload contains.
		pub fn genesis_hash() -> [u8; 32] {
			frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero())
				.using_encoded(|bytes| <[u8; 32]>::try_from(bytes).unwrap_or_default())
		}

		/// Records the receipts that passed their checks (new records, or merged into their
		/// flow's record), counting in `queued` what that adds to settlement, and reports each
		/// skipped one; returns how many were recorded and how many skipped.
		fn record_receipts(
			relay: &T::AccountId,
			epoch: EpochIndex,
			updates: Vec<(UsageReceipt<T::AccountId>, usize, PathHash)>,
			skipped: Vec<(T::AccountId, FlowId, SkipReason)>,
			queued: &mut QueuedWork,
		) -> (u32, u32) {
			let mut recorded = 0u32;
			for (receipt, position, path) in updates {
				let key = (epoch, receipt.consumer.clone(), receipt.flow, path);
				let old = Receipts::<T>::get(&key);
				let new = match &old {
					None => RecordedReceipt::new(receipt, position),
					Some(old) => old.merged(&receipt, position),
				};
				if old.as_ref() == Some(&new) {
					continue;
				}
				// Every link of the path may be moved: the old record's and the new one's.
				let links = new.receipt.path.len().saturating_sub(1).saturating_mul(2) as u32;
				queued.links_touched = queued.links_touched.saturating_add(links);
				match &old {
					Some(old) => {
						queued.links = queued.links.saturating_add(Self::adjust_demand(old, false))
					}
					None => {
						queued.flows = queued.flows.saturating_add(1);
						queued.payees = queued.payees.saturating_add(new.receipt.path.len() as u32);
					}
				}
				queued.links = queued.links.saturating_add(Self::adjust_demand(&new, true));
				Receipts::<T>::insert(key, new);
				recorded = recorded.saturating_add(1);
			}
			let skipped_count = skipped.len() as u32;
			for (consumer, flow, reason) in skipped {
				Self::deposit_event(Event::ReceiptSkipped {
					relay: relay.clone(),
					consumer,
					flow,
					reason,
				});
			}
			(recorded, skipped_count)
		}

		/// Sorts the claim's receipts: those new or newer than the recorded one (with the one
		/// each replaces), and those skipped with their reason. Cheap checks come first; the
		/// signature is verified last.
		#[allow(clippy::type_complexity)]
		fn checked_receipts(
			relay: &T::AccountId,
			group: GroupId,
			epoch: EpochIndex,
			receipts: &[SignedReceipt<T::AccountId>],
		) -> (
			Vec<(UsageReceipt<T::AccountId>, usize, PathHash)>,
			Vec<(T::AccountId, FlowId, SkipReason)>,
		) {
			let genesis = Self::genesis_hash();
			let min_escrow = T::Escrow::min_escrow();
			let mut flows: BTreeSet<(T::AccountId, FlowId, PathHash)> = BTreeSet::new();
			let mut updates = Vec::new();
			let mut skipped = Vec::new();
			for signed in receipts {
				let receipt = &signed.receipt;
				match Self::check_receipt(
					relay, group, epoch, signed, &genesis, min_escrow, &mut flows,
				) {
					Ok((position, path)) => updates.push((receipt.clone(), position, path)),
					Err(reason) => skipped.push((receipt.consumer.clone(), receipt.flow, reason)),
				}
			}
			(updates, skipped)
		}

		/// One receipt's verdict: the claimant's position on its path and the path's hash (its
		/// storage key) to record it, or why it is skipped. Checks that say nothing about the
		/// consumer come first; the signature comes before anything that would (so nobody can
		/// put words in a consumer's mouth with an unsigned receipt); the escrow last.
		fn check_receipt(
			relay: &T::AccountId,
			group: GroupId,
			epoch: EpochIndex,
			signed: &SignedReceipt<T::AccountId>,
			genesis: &[u8; 32],
			min_escrow: Balance,
			flows: &mut BTreeSet<(T::AccountId, FlowId, PathHash)>,
		) -> Result<(usize, PathHash), SkipReason> {
			let receipt = &signed.receipt;
			ensure!(receipt.epoch == epoch, SkipReason::WrongEpoch);
			ensure!(receipt.path.len() >= 2, SkipReason::PathTooShort);
			let position =
				receipt.path.iter().position(|r| r == relay).ok_or(SkipReason::NotOnPath)?;
			let distinct: BTreeSet<_> = receipt.path.iter().collect();
			ensure!(distinct.len() == receipt.path.len(), SkipReason::LoopingPath);
			// A flow and path count once per claim; only a receipt that passes takes its place
			// (a bad one listed first must not push the good one out).
			let flow = (receipt.consumer.clone(), receipt.flow, path_hash(&receipt.path));
			ensure!(!flows.contains(&flow), SkipReason::Duplicate);
			ensure!(
				receipt
					.path
					.iter()
					.all(|router| T::Registry::group_at(router, epoch) == Some(group)),
				SkipReason::OutsideGroup
			);
			ensure!(Self::signed_by_consumer(signed, genesis), SkipReason::BadSignature);
			ensure!(
				T::Escrow::backed_at_start(&receipt.consumer, epoch) >= min_escrow,
				SkipReason::BelowMinEscrow
			);
			let path = flow.2;
			flows.insert(flow);
			Ok((position, path))
		}

		/// Whether the receipt is signed by its consumer's account key or by the receipt key in
		/// force for the receipt's epoch.
		pub fn signed_by_consumer(
			signed: &SignedReceipt<T::AccountId>,
			genesis: &[u8; 32],
		) -> bool {
			let payload = signed.receipt.signing_payload(genesis);
			let signature = sp_core::sr25519::Signature::from_raw(signed.signature);
			let account_key =
				signed.receipt.consumer.using_encoded(|b| <[u8; 32]>::try_from(b).ok());
			let delegate = T::Escrow::receipt_key(&signed.receipt.consumer, signed.receipt.epoch);
			[account_key, delegate].into_iter().flatten().any(|key| {
				sp_io::crypto::sr25519_verify(
					&signature,
					&payload,
					&sp_core::sr25519::Public::from_raw(key),
				)
			})
		}

		/// Sets a link's figures through `update`; whether that created its record.
		fn update_link(
			key: (EpochIndex, &T::AccountId, &T::AccountId),
			update: impl FnOnce(&mut LinkFigures),
		) -> bool {
			Links::<T>::mutate_exists(key, |slot| {
				let created = slot.is_none();
				update(slot.get_or_insert_with(Default::default));
				created
			})
		}

		/// Adds (or removes) a recorded receipt's octets to the demand of every link of its path
		/// that one of its ends vouched for; how many link records that created.
		fn adjust_demand(record: &RecordedReceipt<T::AccountId>, add: bool) -> u32 {
			let apply = |demand: &mut u64, octets: u64| {
				*demand =
					if add { demand.saturating_add(octets) } else { demand.saturating_sub(octets) }
			};
			let receipt = &record.receipt;
			let mut created = 0u32;
			for (link, pair) in receipt.path.windows(2).enumerate() {
				let Some(figures) = record.on_link(link) else { continue };
				let (a, b) = (&pair[0], &pair[1]);
				for (key, octets) in [
					((receipt.epoch, a, b), figures.fwd_octets),
					((receipt.epoch, b, a), figures.rev_octets),
				] {
					let new = Self::update_link(key, |f| apply(&mut f.demand, octets));
					created = created.saturating_add(u32::from(new));
				}
			}
			created
		}

		/// Once both ends of `from → to` have claimed, records a dispute if they disagree (judged
		/// in settlement); whether it did.
		fn cross_check(
			epoch: EpochIndex,
			from: &T::AccountId,
			to: &T::AccountId,
			params: &TicketParams,
		) -> bool {
			let figures = Links::<T>::get((epoch, from, to));
			let (Some(sent), Some(received)) = (figures.sent, figures.received) else {
				return false;
			};
			if math::figures_agree(sent, received, params.tolerance()) {
				return false;
			}
			Disputed::<T>::insert((epoch, from, to), ());
			Self::deposit_event(Event::LinkDisputed {
				epoch,
				from: from.clone(),
				to: to.clone(),
				sent,
				received,
			});
			true
		}

		/// Judges one disputed link of a settling epoch: withdrawn when its figures agree under
		/// the current parameters, forgiven when either end's declared restart is corroborated
		/// and within its allowance, otherwise counted against both.
		fn judge_dispute(epoch: EpochIndex, from: T::AccountId, to: T::AccountId) {
			let params = Params::<T>::get();
			// Settlement pays by the parameters in force now: a link they make agree must
			// not also count against its ends.
			if !Links::<T>::get((epoch, &from, &to)).disagree(params.tolerance()) {
				Self::deposit_event(Event::DisputeWithdrawn { epoch, from, to });
				return;
			}
			let forgiven = Self::restart_forgiven(epoch, &from, &params)
				|| Self::restart_forgiven(epoch, &to, &params);
			if forgiven {
				Forgiven::<T>::insert((epoch, &from, &to), ());
			} else {
				// What both ends and the receipts vouch for: nothing one side alone controls (a
				// Sybil inflates its own figure and the receipts it claims, never the other's).
				let weight = Links::<T>::get((epoch, &from, &to)).disputed_weight();
				Self::count_dispute(epoch, &from, &to, weight, &params);
				Self::count_dispute(epoch, &to, &from, weight, &params);
			}
			Self::deposit_event(Event::DisputeJudged { epoch, from, to, forgiven });
		}

		/// Whether `router`'s restart during `epoch` forgives its disputes: it declared one, a
		/// peer saw it, and its last forgiven restart is at least `restart_grace_epochs` old (or
		/// was this very epoch). Granting it uses up the allowance.
		fn restart_forgiven(
			epoch: EpochIndex,
			router: &T::AccountId,
			params: &TicketParams,
		) -> bool {
			if Claimed::<T>::get(epoch, router) != Some(true)
				|| !SawRestart::<T>::contains_key(epoch, router)
				|| !T::Registry::is_registered(router)
			{
				return false;
			}
			match LastRestartGrace::<T>::get(router) {
				Some(last) if last == epoch => true,
				Some(last) if last.saturating_add(params.restart_grace_epochs) > epoch => false,
				_ => {
					LastRestartGrace::<T>::insert(router, epoch);
					Self::deposit_event(Event::RestartForgiven { epoch, router: router.clone() });
					true
				}
			}
		}

		/// Counts a dispute of `router` with `counterparty` and its weight (the receipted octets
		/// both ends vouch for on the link), unless the counterparty is younger than
		/// `min_age_epochs`: fresh registrations (Sybils) aim at no one.
		fn count_dispute(
			epoch: EpochIndex,
			router: &T::AccountId,
			counterparty: &T::AccountId,
			weight: u64,
			params: &TicketParams,
		) {
			let aged = T::Registry::registered_epoch(counterparty)
				.is_some_and(|since| since.saturating_add(params.min_age_epochs) <= epoch);
			// A router gone for good keeps no record (it would stay forever); a dispute over
			// nothing both ends vouch for names no counterparty (dust costs Sybils nothing).
			if !aged || weight == 0 || !T::Registry::is_registered(router) {
				return;
			}
			let mut disputes = Disputes::<T>::get(router);
			disputes.retain(|(peer, at)| {
				peer != counterparty && at.saturating_add(params.dispute_window) > epoch
			});
			// A full list drops its oldest entry: the bound is a group's size, so only stale
			// entries can be lost.
			if disputes.is_full() {
				disputes.remove(0);
			}
			let _ = disputes.try_push((counterparty.clone(), epoch));
			Disputes::<T>::insert(router, disputes);
			Suspects::<T>::mutate(epoch, router, |tally| {
				tally.disputed = tally.disputed.saturating_add(weight)
			});
		}

		/// Decides whether a router disputed this epoch is reported for quarantine: it must
		/// disagree with at least `dispute_counterparties` distinct aged peers within the
		/// window **and** its disputed links must have carried more than half of its receipted
		/// octets this epoch (so a few Sybils with little traffic cannot aim at an honest router,
		/// and a liar cannot hide its disputes among agreements on unreceipted dust).
		fn verdict(epoch: EpochIndex, router: T::AccountId, tally: SuspectTally) {
			let params = Params::<T>::get();
			let counterparties = Disputes::<T>::get(&router)
				.iter()
				.filter(|(_, at)| at.saturating_add(params.dispute_window) > epoch)
				.count() as u32;
			// At least a credit window of disputed octets: what a relay carries unreceipted
			// anyway is too little to quarantine anyone over (an idle router is no easy target).
			if counterparties >= params.dispute_counterparties
				&& tally.mostly_disputed()
				&& tally.disputed >= params.credit_window_octets
			{
				let reported = T::Quarantine::quarantine_for_disputes(&router).is_ok()
					|| T::Registry::is_quarantined(&router);
				// A router that cannot be quarantined now (it is leaving) keeps its record:
				// unregistering before a verdict wipes nothing.
				if reported {
					Disputes::<T>::remove(&router);
					Self::deposit_event(Event::ReportedForDisputes { router, counterparties });
				}
			}
		}

		/// Runs settlement steps while `budget` has room for the next one (each stage's step
		/// is charged its own benchmarked weight).
		pub fn settle(budget: Weight) -> Weight {
			let mut meter = WeightMeter::with_limit(budget);
			meter.consume(Self::settle_overhead());
			loop {
				let step = match SettlementStage::<T>::get() {
					Stage::Disputes => T::WeightInfo::settle_dispute(),
					Stage::Flows => Self::settle_flow_weight(),
					Stage::Verdicts => T::WeightInfo::settle_verdict(),
					Stage::Payouts => T::WeightInfo::settle_payout(),
					Stage::Cleanup => T::WeightInfo::settle_cleanup(),
				};
				if !meter.can_consume(step) {
					break;
				}
				match Self::settle_step() {
					Step::Worked => meter.consume(step),
					Step::Idle => break,
				}
			}
			meter.consumed()
		}

		/// One step of the oldest unsettled epoch's settlement, if its claim window has closed.
		pub(crate) fn settle_step() -> Step {
			let epoch = NextToSettle::<T>::get();
			if !SettlementBegun::<T>::get() {
				// Prices are final only once the exchange judged the epoch's RTT promises.
				if Self::block_number() < Self::claim_deadline(epoch)
					|| !T::Registry::epoch_judged(epoch)
				{
					return Step::Idle;
				}
				SettlementBegun::<T>::put(true);
			}
			match SettlementStage::<T>::get() {
				Stage::Disputes => match Disputed::<T>::drain_prefix((epoch,)).next() {
					Some(((from, to), ())) => Self::judge_dispute(epoch, from, to),
					None => SettlementStage::<T>::put(Stage::Flows),
				},
				Stage::Flows => match Receipts::<T>::drain_prefix((epoch,)).next() {
					Some(((consumer, flow, _), record)) => {
						Self::settle_flow(epoch, consumer, flow, record)
					}
					None => SettlementStage::<T>::put(Stage::Verdicts),
				},
				Stage::Verdicts => match Suspects::<T>::drain_prefix(epoch).next() {
					Some((router, tally)) => Self::verdict(epoch, router, tally),
					None => SettlementStage::<T>::put(Stage::Payouts),
				},
				Stage::Payouts => match Owed::<T>::drain_prefix((epoch,)).next() {
					Some(((consumer, payee), amount)) => {
						Self::settle_payout(epoch, consumer, payee, amount)
					}
					None => SettlementStage::<T>::put(Stage::Cleanup),
				},
				Stage::Cleanup => Self::cleanup(epoch),
			}
			Step::Worked
		}

		/// Turns one flow's receipt into hop charges.
		fn settle_flow(
			epoch: EpochIndex,
			consumer: T::AccountId,
			flow: FlowId,
			record: RecordedReceipt<T::AccountId>,
		) {
			let tolerance = Params::<T>::get().tolerance();
			let receipt = &record.receipt;
			let share = |from: &T::AccountId, to: &T::AccountId, octets: u64| {
				let figures = Links::<T>::get((epoch, from, to));
				// Only a disagreeing link can have been forgiven: one read more for those.
				let forgiven =
					figures.disagree(tolerance) && Forgiven::<T>::contains_key((epoch, from, to));
				figures.flow_share(octets, tolerance, forgiven)
			};
			// Octets of this flow that each link of the path pays for, both directions, by what
			// the link's own ends claimed (nothing on a link neither of them vouched for), and
			// the most the consumer pays a hop on it.
			let paid: Vec<(u64, Balance)> = receipt
				.path
				.windows(2)
				.enumerate()
				.map(|(link, pair)| {
					let Some(figures) = record.on_link(link) else { return (0, 0) };
					let forward = share(&pair[0], &pair[1], figures.fwd_octets);
					let reverse = share(&pair[1], &pair[0], figures.rev_octets);
					(forward.saturating_add(reverse), figures.max_price_per_gb)
				})
				.collect();
			let mut owed: Balance = 0;
			let mut charged_links = BTreeSet::new();
			for (position, router) in receipt.path.iter().enumerate() {
				let link = math::paid_link(position);
				let Some((octets, max_price)) = paid.get(link).copied() else { continue };
				if octets == 0 || router == &consumer || T::Registry::quarantined_for(router, epoch)
				{
					continue;
				}
				let Some(price) =
					T::Registry::price_at_epoch_start(router, epoch).and_then(|p| p.price_per_gb)
				else {
					continue;
				};
				let charge = math::hop_charge(price.min(max_price), octets);
				if charge > 0 {
					Owed::<T>::mutate((epoch, &consumer, router), |o| {
						*o = o.saturating_add(charge)
					});
					owed = owed.saturating_add(charge);
					charged_links.insert(link);
				}
			}
			// What the suspects of the epoch carried on confirmed links that someone is paid
			// for weighs against their disputes (traffic receipted at no price proves nothing).
			for link in charged_links {
				let Some((octets, _)) = paid.get(link).copied() else { continue };
				for end in receipt.path.iter().skip(link).take(2) {
					if Suspects::<T>::contains_key(epoch, end) {
						Suspects::<T>::mutate(epoch, end, |tally| {
							tally.confirmed = tally.confirmed.saturating_add(octets)
						});
					}
				}
			}
			if owed > 0 {
				Bills::<T>::mutate(epoch, &consumer, |bill| {
					bill.owed = bill.owed.saturating_add(owed)
				});
			}
			Self::deposit_event(Event::FlowSettled { epoch, consumer, flow, owed });
		}

		/// Charges a consumer's escrow for one payee (pro rata if the bill cannot be covered)
		/// and splits the payout with the infrastructure.
		fn settle_payout(
			epoch: EpochIndex,
			consumer: T::AccountId,
			payee: T::AccountId,
			amount: Balance,
		) {
			let mut bill = Bills::<T>::get(epoch, &consumer);
			let payable = *bill.payable.get_or_insert_with(|| {
				let payable = bill.owed.min(T::Escrow::chargeable(&consumer, epoch));
				if payable < bill.owed {
					Self::deposit_event(Event::ChargeShortfall {
						epoch,
						consumer: consumer.clone(),
						owed: bill.owed,
						payable,
					});
				}
				payable
			});
			let share = math::pro_rata(amount, payable, bill.owed);
			let (to_relay, to_infra) = math::split_infra(share, Params::<T>::get().infra_share);
			let pay = |to: T::AccountId, amount: Balance| {
				if amount == 0 {
					return 0;
				}
				T::Escrow::charge(&consumer, epoch, &[(to, amount)]).paid
			};
			let relay_paid = pay(payee.clone(), to_relay);
			let infra_paid = pay(T::InfraAccount::get(), to_infra);
			let charged = relay_paid.saturating_add(infra_paid);
			bill.charged = bill.charged.saturating_add(charged);
			Bills::<T>::insert(epoch, &consumer, bill);
			MoneyTotals::<T>::mutate(|t| {
				t.charged = t.charged.saturating_add(charged);
				t.to_relays = t.to_relays.saturating_add(relay_paid);
				t.to_infra = t.to_infra.saturating_add(infra_paid);
			});
			Self::deposit_event(Event::Paid {
				epoch,
				consumer,
				relay: payee,
				amount: relay_paid,
				infra: infra_paid,
			});
		}

		/// Removes a batch of the epoch's links, claim and restart marks and bills; when none are
		/// left the epoch is settled.
		fn cleanup(epoch: EpochIndex) {
			let mut left = CLEANUP_BATCH as usize;
			left = left.saturating_sub(Links::<T>::drain_prefix((epoch,)).take(left).count());
			left = left.saturating_sub(Claimed::<T>::drain_prefix(epoch).take(left).count());
			left =
				left.saturating_sub(ClaimedReceipts::<T>::drain_prefix(epoch).take(left).count());
			left = left.saturating_sub(SawRestart::<T>::drain_prefix(epoch).take(left).count());
			left = left.saturating_sub(Forgiven::<T>::drain_prefix((epoch,)).take(left).count());
			left = left.saturating_sub(Bills::<T>::drain_prefix(epoch).take(left).count());
			if left > 0 {
				NextToSettle::<T>::put(epoch.saturating_add(1));
				SettlementStage::<T>::put(Stage::Disputes);
				SettlementBegun::<T>::kill();
				Self::deposit_event(Event::EpochSettled { epoch });
			}
		}

		/// Checks the invariants (see the module docs).
		#[cfg(any(test, feature = "try-runtime"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			let totals = MoneyTotals::<T>::get();
			ensure!(
				totals.charged == totals.to_relays.saturating_add(totals.to_infra),
				"charged differs from relays + infrastructure"
			);
			let settled = NextToSettle::<T>::get();
			ensure!(
				Receipts::<T>::iter_keys().all(|(epoch, _, _, _)| epoch >= settled),
				"a receipt of a settled epoch remains"
			);
			ensure!(
				Links::<T>::iter_keys().all(|(epoch, _, _)| epoch >= settled),
				"a link of a settled epoch remains"
			);
			ensure!(
				Owed::<T>::iter_keys().all(|(epoch, _, _)| epoch >= settled),
				"a charge of a settled epoch remains"
			);
			ensure!(
				Disputed::<T>::iter_keys().all(|(epoch, _, _)| epoch >= settled),
				"a dispute of a settled epoch remains unjudged"
			);
			ensure!(
				Forgiven::<T>::iter_keys().all(|(epoch, _, _)| epoch >= settled),
				"a forgiven link of a settled epoch remains"
			);
			ensure!(
				Receipts::<T>::iter_values().all(|r| r.vouched != 0),
				"a receipt that no router vouched for"
			);
			ensure!(
				Claimed::<T>::iter_keys().all(|(epoch, _)| epoch >= settled),
				"a claim mark of a settled epoch remains"
			);
			ensure!(
				ClaimedReceipts::<T>::iter()
					.all(|(epoch, _, count)| { epoch >= settled && count <= MAX_CLAIM_RECEIPTS }),
				"a receipt count of a settled epoch remains, or one above the bound"
			);
			ensure!(
				SawRestart::<T>::iter_keys().all(|(epoch, _)| epoch >= settled),
				"a restart mark of a settled epoch remains"
			);
			ensure!(
				Suspects::<T>::iter_keys().all(|(epoch, _)| epoch >= settled),
				"a suspect of a settled epoch has no verdict"
			);
			ensure!(
				Bills::<T>::iter_values().all(|bill| bill.charged <= bill.owed),
				"a bill charged more than it owed"
			);
			for (_, disputes) in Disputes::<T>::iter() {
				let distinct: BTreeSet<_> = disputes.iter().map(|(peer, _)| peer).collect();
				ensure!(distinct.len() == disputes.len(), "a dispute list repeats a counterparty");
			}
			Ok(())
		}
	}

	impl<T: Config> SettlementStatus<T::AccountId> for Pallet<T> {
		fn settled_through(_consumer: &T::AccountId, epoch: EpochIndex) -> bool {
			NextToSettle::<T>::get() > epoch
		}
	}

	/// A router whose deposit is withdrawn can never claim again: its restart allowance and its
	/// dispute record go with it (they would stay forever otherwise).
	impl<T: Config> srwan_primitives::traits::OnRouterRemoved<T::AccountId> for Pallet<T> {
		fn on_router_removed(router: &T::AccountId) {
			LastRestartGrace::<T>::remove(router);
			Disputes::<T>::remove(router);
		}
		fn weight() -> Weight {
			T::DbWeight::get().writes(2)
		}
	}
}
