//! # pallet-escrow — consumer deposits that pay for transit
//!
//! A consumer (a wallet that sends traffic through srwan relays) puts funds on hold here with
//! [`Pallet::deposit`]; pallet-tickets charges them per epoch through [`Escrow::charge`] and pays
//! the relays on the path. The consumer controls how much can go and who signs for it:
//!
//! - [`Pallet::set_spending_cap`]: at most this much per epoch, whatever the claims say;
//! - [`Pallet::set_receipt_key`]: a delegate sr25519 key its always-online agent signs usage
//!   receipts with, so the account key stays cold.
//!
//! Relays ask, before they carry a consumer's flows, how much its escrow backs for the epoch
//! ([`Escrow::available`], the runtime API `MeteringApi::escrow_available`) and compare it with
//! [`MinEscrow`], which root sets ([`Pallet::set_min_escrow`]).
//!
//! ## A bill is fixed by the terms in force when its epoch started
//!
//! Metering is paid after the fact: traffic of epoch `e` is claimed by the relays after `e`
//! ends and charged when `e` is settled, an epoch or more later. If the spending cap and the
//! receipt key were read at that time, a consumer could use relays during `e` and then, before
//! settlement, set its cap to zero or remove (or rotate) its receipt key: every receipt of `e`
//! would fail to verify or be charged nothing, and the relays would have carried the traffic
//! for free.
//!
//! So a consumer's cap and key are not one value but a short history of [`Terms`], each entry
//! saying from which epoch on it is in force ([`EscrowAccount::terms`]):
//!
//! - a change made during epoch `c` takes effect from epoch `c + 1` (the event says so in
//!   `from_epoch`); the epoch under way keeps the terms it started with;
//! - a second change during the same epoch replaces the first one (it is still pending), and a
//!   change back to the terms already in force leaves nothing pending;
//! - the terms of epoch `e` are those of the last entry that starts at `e` or before. A charge
//!   for `e` uses the cap in force for `e`; a receipt of `e` verifies against the key in force
//!   for `e` ([`Escrow::receipt_key`]), however the key changed since.
//!
//! ### How long an entry is kept
//!
//! An entry covers the epochs from its start to the start of the next entry. It is dropped
//! (when the consumer next changes its terms) once no epoch it covers can still need it:
//!
//! - every epoch it covers is settled for the consumer ([`SettlementStatus::settled_through`]),
//!   so no charge for them will come;
//! - and it ends before the previous epoch: claims of the previous epoch are verified during
//!   the current epoch's claim window, whatever settlement says.
//!
//! The history holds at most [`MAX_SCHEDULED_TERMS`] entries. Only a consumer that changes its
//! terms in many consecutive epochs while settlement lags that many epochs behind can fill it;
//! its next change is then refused ([`Error::TooManyTermChanges`]) until settlement catches up.
//!
//! ## Withdrawing cannot dodge a charge
//!
//! [`Pallet::request_withdraw`] during epoch `p` starts a delay of [`WithdrawDelay`] blocks
//! (longer than an epoch plus the claim window plus settlement). [`Pallet::withdraw`] releases
//! the funds only after the delay **and** when every epoch up to `p` is settled for this
//! consumer, and at most what is still held. Two rules make this safe:
//!
//! 1. **The requested amount keeps paying for the epochs up to `p`.** It stays on hold, and a
//!    charge for an epoch `e ≤ p` may take it like any other held funds. Traffic the consumer
//!    sent before (or while) asking for its money back is paid before the money leaves, because
//!    `withdraw` waits for `p` to be settled.
//! 2. **It backs nothing after `p`.** For an epoch `e > p`, what the escrow backs
//!    ([`Escrow::available`]) is what is held *minus* the pending amount, and a charge for `e`
//!    can take no more. Relays see the smaller figure before they admit the consumer's flows.
//!
//! Without rule 2, a consumer could request a withdrawal at the start of epoch `p`, keep using
//! relays during `p + 1` against the same funds, and withdraw them as soon as `p` is settled —
//! before `p + 1` is: the relays of `p + 1` would be left with whatever remained. Waiting for
//! `p + 1` instead would only move the problem one epoch on, since the consumer can keep
//! sending. With rule 2 the amount on its way out is never counted on by a later epoch, so
//! `withdraw` can release it as soon as the epochs it did back are settled, and a later epoch's
//! charges are limited to what stays.
//!
//! ### Example
//!
//! A consumer holds 1,000 and, during epoch 5, requests a withdrawal of 300. Charges for epochs
//! up to 5 may take from all 1,000; charges for epoch 6 and later from 700 at most. Once epoch 5
//! is settled and the delay has passed, `withdraw` releases the 300 (or what is left of it if
//! epoch 5's charges went beyond the other 700).
//!
//! ## Charges never overdraw
//!
//! A charge for epoch `e` takes at most what the escrow backs for `e` and at most what the cap
//! in force for `e` leaves after what `e` was already charged. A shortfall is shared pro rata
//! across that charge's payees (rounded down; the consumer is never charged the remainder),
//! recorded and evented — never a panic.
//!
//! ## Invariants (`do_try_state`)
//!
//! For every consumer the hold equals `held`, and its terms history is non-empty and sorted by
//! strictly increasing start epochs; in total, holds equal deposits minus charges minus
//! completed withdrawals.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod migrations;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

pub use weights::WeightInfo;

use srwan_primitives::traits::{ChargeOutcome, Escrow, SettlementStatus};
use srwan_primitives::{currency::Balance, ditex::EpochIndex};

/// The most entries a consumer's terms history holds: the terms of the previous epoch, of every
/// unsettled epoch and a pending change. Only a settlement lagging about this many epochs behind
/// a consumer that changes its terms every epoch fills it.
pub const MAX_SCHEDULED_TERMS: u32 = 8;

// A change needs room for the terms in force and a pending entry.
const _: () = assert!(MAX_SCHEDULED_TERMS >= 2);

/// How the benchmarks settle epochs in a runtime: settlement belongs to the charging pallet,
/// which this pallet does not depend on.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkSettlement {
	/// Makes every epoch up to and including `epoch` settled for every consumer.
	fn settle_through(epoch: EpochIndex);
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Restriction},
		},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::{
		helpers_128bit::multiply_by_rational_with_rounding, traits::UniqueSaturatedInto, Rounding,
	};
	use srwan_primitives::{currency::SRW, traits::RouterRegistry};

	/// The storage layout version: 2 since a consumer's cap and key became a terms history
	/// ([`crate::migrations::v2`]).
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(2);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the escrow.
	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency deposits are held in.
		type Currency: Inspect<Self::AccountId, Balance = Balance>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// The epoch clock (pallet-ditex).
		type Epochs: RouterRegistry<Self::AccountId>;
		/// Whether a consumer's epochs are settled (pallet-tickets).
		type Settlement: SettlementStatus<Self::AccountId>;
		/// Epochs of per-epoch spending kept for the cap.
		#[pallet::constant]
		type SpendingRetention: Get<u32>;
		/// Weights of the calls.
		type WeightInfo: WeightInfo;
	}

	/// Why the pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A consumer's escrow.
		ConsumerEscrow,
	}

	/// A withdrawal waiting for its delay and for settlement.
	#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
	pub struct PendingWithdrawal {
		/// Amount requested: it backs the epochs up to [`Self::epoch`] and none after.
		pub amount: Balance,
		/// The epoch it was requested in: every epoch up to it must be settled.
		pub epoch: EpochIndex,
		/// First block `withdraw` may succeed.
		pub unlock_at: u32,
	}

	/// What a consumer allows for an epoch: how much may be charged and which delegate key
	/// signs its receipts.
	#[derive(
		Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo,
	)]
	pub struct Terms {
		/// The most charged per epoch (`None`: no cap).
		pub spending_cap: Option<Balance>,
		/// Delegate sr25519 key for receipts (`None`: only the account key signs them).
		pub receipt_key: Option<[u8; 32]>,
	}

	/// A consumer's terms by the epoch they are in force from, sorted by strictly increasing
	/// epoch: an entry covers the epochs up to the next entry's start.
	pub type TermsHistory = BoundedVec<(EpochIndex, Terms), ConstU32<MAX_SCHEDULED_TERMS>>;

	/// What an escrow held, and was withdrawing, when an epoch started: what its receipts of
	/// that epoch are judged by (`MinEscrow`), whatever was charged or deposited since.
	#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
	pub struct EpochStart {
		/// The epoch.
		pub epoch: EpochIndex,
		/// Funds on hold when it started.
		pub held: Balance,
		/// The withdrawal pending when it started.
		pub pending: Option<PendingWithdrawal>,
	}

	/// A consumer's escrow.
	#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
	pub struct EscrowAccount {
		/// Funds on hold.
		pub held: Balance,
		/// Cap and receipt key by the epoch they take effect in (never empty; see the module
		/// docs): the entries still needed and at most one pending change.
		pub terms: TermsHistory,
		/// A withdrawal in progress.
		pub pending: Option<PendingWithdrawal>,
		/// How the escrow stood when the previous and the current epoch started, recorded at
		/// the first change within each (an epoch without an entry started as the next entry,
		/// or as the escrow stands now, says).
		pub starts: BoundedVec<EpochStart, ConstU32<2>>,
	}

	impl Default for EscrowAccount {
		/// Nothing held, the default terms (no cap, no delegate key) for every epoch, nothing
		/// being withdrawn: what an account without an escrow reads as.
		fn default() -> Self {
			Self {
				held: 0,
				terms: TermsHistory::truncate_from(alloc::vec![(0, Terms::default())]),
				pending: None,
				starts: BoundedVec::new(),
			}
		}
	}

	/// What `held` backs for `epoch` while `pending` is being withdrawn.
	fn backing(held: Balance, pending: Option<PendingWithdrawal>, epoch: EpochIndex) -> Balance {
		match pending {
			Some(pending) if epoch > pending.epoch => held.saturating_sub(pending.amount),
			_ => held,
		}
	}

	impl EscrowAccount {
		/// The terms in force for `epoch`: the last entry that starts at `epoch` or before. An
		/// epoch older than every entry (its own entry was pruned: it is settled and its claims
		/// are closed) reads the oldest one.
		pub fn terms_at(&self, epoch: EpochIndex) -> Terms {
			self.terms
				.iter()
				.rev()
				.find(|entry| entry.0 <= epoch)
				.or_else(|| self.terms.first())
				.map(|entry| entry.1)
				.unwrap_or_default()
		}

		/// The latest terms: in force from the last change on (a pending change included).
		pub fn latest_terms(&self) -> Terms {
			self.terms.last().map(|entry| entry.1).unwrap_or_default()
		}

		/// What the escrow backs for `epoch`: what is held, minus a pending withdrawal when
		/// `epoch` comes after the one it was requested in (that amount pays only for epochs up
		/// to its request's).
		pub fn available(&self, epoch: EpochIndex) -> Balance {
			backing(self.held, self.pending, epoch)
		}

		/// What the escrow backed for `epoch` when the epoch started: held minus a pending
		/// withdrawal as they stood then, limited by the cap in force for the epoch.
		pub fn backed_at_start(&self, epoch: EpochIndex) -> Balance {
			let (held, pending) = self
				.starts
				.iter()
				.find(|start| start.epoch >= epoch)
				.map_or((self.held, self.pending), |start| (start.held, start.pending));
			let cap = self.terms_at(epoch).spending_cap.unwrap_or(Balance::MAX);
			backing(held, pending, epoch).min(cap)
		}

		/// Records how the escrow stands as `current` starts, before the first change within
		/// it; keeps the previous epoch's record (its claims are still being checked).
		pub fn note_epoch_start(&mut self, current: EpochIndex) {
			self.starts.retain(|start| start.epoch.saturating_add(1) >= current);
			if self.starts.last().is_some_and(|start| start.epoch == current) {
				return;
			}
			if self.starts.is_full() {
				self.starts.remove(0);
			}
			let start = EpochStart { epoch: current, held: self.held, pending: self.pending };
			let _ = self.starts.try_push(start);
		}

		/// What a charge for `epoch` may take now when `spent` was already charged for it:
		/// [`Self::available`] for the epoch, limited by what the cap in force for the epoch
		/// leaves.
		pub fn chargeable(&self, epoch: EpochIndex, spent: Balance) -> Balance {
			let cap_left = self
				.terms_at(epoch)
				.spending_cap
				.map_or(Balance::MAX, |cap| cap.saturating_sub(spent));
			self.available(epoch).min(cap_left)
		}

		/// Whether the terms in force for `epoch` and every later epoch are the default ones
		/// (then forgetting the account changes no answer from `epoch` on).
		pub fn default_terms_from(&self, epoch: EpochIndex) -> bool {
			let ends =
				self.terms.iter().skip(1).map(|next| Some(next.0)).chain(core::iter::once(None));
			self.terms.iter().zip(ends).all(|(entry, next)| {
				next.is_some_and(|next| next <= epoch) || entry.1 == Terms::default()
			})
		}
	}

	/// The production withdraw delay: a 100-block epoch, a 50-block claim window and 50 blocks
	/// of settlement lag (DESIGN.md "Parameters").
	#[pallet::type_value]
	pub fn DefaultWithdrawDelay() -> u32 {
		200
	}

	/// Blocks between `request_withdraw` and `withdraw`: at least an epoch plus the claim window
	/// plus the settlement lag (set at genesis).
	#[pallet::storage]
	pub type WithdrawDelay<T> = StorageValue<_, u32, ValueQuery, DefaultWithdrawDelay>;

	/// The production minimum escrow: 10 SRW (DESIGN.md "Parameters").
	#[pallet::type_value]
	pub fn DefaultMinEscrow() -> Balance {
		10 * SRW
	}

	/// The least escrow ([`Escrow::available`] for an epoch) a consumer needs for relays to
	/// admit its flows and for its receipts to count (set at genesis and by root).
	#[pallet::storage]
	pub type MinEscrow<T> = StorageValue<_, Balance, ValueQuery, DefaultMinEscrow>;

	/// Genesis: the withdraw delay and the minimum escrow.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Blocks between `request_withdraw` and `withdraw` (0 = the production default).
		pub withdraw_delay: u32,
		/// The least escrow relays admit (0 = the production default, 10 SRW).
		pub min_escrow: Balance,
		#[serde(skip)]
		/// Type marker.
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			if self.withdraw_delay > 0 {
				WithdrawDelay::<T>::put(self.withdraw_delay);
			}
			if self.min_escrow > 0 {
				MinEscrow::<T>::put(self.min_escrow);
			}
		}
	}

	/// Escrows by consumer.
	#[pallet::storage]
	pub type Accounts<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, EscrowAccount>;

	/// Charged per consumer per epoch (for the cap), pruned after `SpendingRetention` epochs.
	#[pallet::storage]
	pub type Spent<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		EpochIndex,
		Balance,
		ValueQuery,
	>;

	/// Lifetime totals: deposited, charged, withdrawn (what `try_state` balances).
	#[pallet::storage]
	pub type Totals<T> = StorageValue<_, (Balance, Balance, Balance), ValueQuery>;

	/// Events of the escrow.
	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// Funds went on hold.
		Deposited {
			/// The consumer.
			who: T::AccountId,
			/// Amount.
			amount: Balance,
		},
		/// A withdrawal was requested.
		WithdrawRequested {
			/// The consumer.
			who: T::AccountId,
			/// Amount.
			amount: Balance,
			/// First block it can be withdrawn.
			unlock_at: u32,
		},
		/// Funds were released.
		Withdrawn {
			/// The consumer.
			who: T::AccountId,
			/// Amount released.
			amount: Balance,
		},
		/// The per-epoch cap changes from `from_epoch` on.
		SpendingCapSet {
			/// The consumer.
			who: T::AccountId,
			/// New cap.
			cap: Option<Balance>,
			/// The first epoch it applies to (the one after the call's).
			from_epoch: EpochIndex,
		},
		/// The receipt key changes from `from_epoch` on.
		ReceiptKeySet {
			/// The consumer.
			who: T::AccountId,
			/// New key.
			key: Option<[u8; 32]>,
			/// The first epoch whose receipts it signs (the one after the call's); receipts of
			/// earlier epochs still verify against the key that was in force for them.
			from_epoch: EpochIndex,
		},
		/// A payee was paid from an escrow.
		Charged {
			/// The consumer.
			consumer: T::AccountId,
			/// The epoch.
			epoch: EpochIndex,
			/// The payee.
			payee: T::AccountId,
			/// Amount.
			amount: Balance,
		},
		/// A charge could not be paid in full (escrow or cap); payees were paid pro rata.
		Shortfall {
			/// The consumer.
			consumer: T::AccountId,
			/// The epoch.
			epoch: EpochIndex,
			/// What was owed.
			owed: Balance,
			/// What was paid.
			paid: Balance,
		},
		/// Root changed the withdraw delay; pending withdrawals keep the block they unlock at.
		WithdrawDelaySet {
			/// Blocks between `request_withdraw` and `withdraw` from now on.
			blocks: u32,
		},
		/// Root changed the minimum escrow relays admit.
		MinEscrowSet {
			/// The new minimum.
			amount: Balance,
		},
	}

	/// Errors of the escrow; each distinct bad input has its own.
	#[pallet::error]
	pub enum Error<T> {
		/// The amount is zero.
		ZeroAmount,
		/// The account has no escrow.
		NoEscrow,
		/// More than is held (and not already being withdrawn) was requested.
		InsufficientEscrow,
		/// A withdrawal is already pending.
		WithdrawalPending,
		/// No withdrawal was requested.
		NoWithdrawal,
		/// The withdraw delay has not passed.
		TooEarly,
		/// An epoch up to the request's epoch is not settled yet.
		UnsettledEpochs,
		/// The receipt key is all zeros.
		InvalidReceiptKey,
		/// A withdraw delay must be at least one block.
		ZeroWithdrawDelay,
		/// The terms history is full: the terms of every unsettled epoch must be kept, and the
		/// consumer changed them in too many of them. Happens only when settlement lags many
		/// epochs behind repeated changes; retry once it has caught up.
		TooManyTermChanges,
	}

	fn now<T: Config>() -> u32 {
		frame_system::Pallet::<T>::block_number().unique_saturated_into()
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Puts `amount` on hold as escrow.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::deposit())]
		pub fn deposit(origin: OriginFor<T>, amount: Balance) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(amount > 0, Error::<T>::ZeroAmount);
			T::Currency::hold(&HoldReason::ConsumerEscrow.into(), &who, amount)?;
			let current = T::Epochs::current_epoch();
			Accounts::<T>::mutate(&who, |account| {
				let account = account.get_or_insert_with(Default::default);
				account.note_epoch_start(current);
				account.held = account.held.saturating_add(amount);
			});
			Totals::<T>::mutate(|t| t.0 = t.0.saturating_add(amount));
			Self::deposit_event(Event::Deposited { who, amount });
			Ok(())
		}

		/// Starts withdrawing `amount`. It stays chargeable for the epochs up to the current one
		/// until `withdraw` succeeds, and backs no later epoch (see the module docs).
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::request_withdraw())]
		pub fn request_withdraw(origin: OriginFor<T>, amount: Balance) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(amount > 0, Error::<T>::ZeroAmount);
			let mut account = Accounts::<T>::get(&who).ok_or(Error::<T>::NoEscrow)?;
			ensure!(account.pending.is_none(), Error::<T>::WithdrawalPending);
			ensure!(amount <= account.held, Error::<T>::InsufficientEscrow);
			let unlock_at = now::<T>().saturating_add(WithdrawDelay::<T>::get());
			let current = T::Epochs::current_epoch();
			account.note_epoch_start(current);
			account.pending = Some(PendingWithdrawal { amount, epoch: current, unlock_at });
			Accounts::<T>::insert(&who, account);
			Self::deposit_event(Event::WithdrawRequested { who, amount, unlock_at });
			Ok(())
		}

		/// Releases a requested withdrawal after the delay, once every epoch up to the
		/// request's is settled; at most what is still held (charges may have taken some). An
		/// escrow left empty, with the default terms for the previous epoch on, is removed.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::withdraw())]
		pub fn withdraw(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut account = Accounts::<T>::get(&who).ok_or(Error::<T>::NoEscrow)?;
			let pending = account.pending.ok_or(Error::<T>::NoWithdrawal)?;
			ensure!(now::<T>() >= pending.unlock_at, Error::<T>::TooEarly);
			ensure!(
				T::Settlement::settled_through(&who, pending.epoch),
				Error::<T>::UnsettledEpochs
			);
			let amount = pending.amount.min(account.held);
			account.note_epoch_start(T::Epochs::current_epoch());
			let released = T::Currency::release(
				&HoldReason::ConsumerEscrow.into(),
				&who,
				amount,
				Precision::Exact,
			)?;
			account.held = account.held.saturating_sub(released);
			account.pending = None;
			Totals::<T>::mutate(|t| t.2 = t.2.saturating_add(released));
			// Receipts of the previous epoch may still be claimed: an account whose terms for
			// it (or later) are not the defaults an absent account reads as must stay.
			if account.held == 0
				&& account.default_terms_from(T::Epochs::current_epoch().saturating_sub(1))
			{
				Accounts::<T>::remove(&who);
			} else {
				Accounts::<T>::insert(&who, account);
			}
			Self::deposit_event(Event::Withdrawn { who, amount: released });
			Ok(())
		}

		/// Caps what can be charged per epoch (`None` removes the cap), from the next epoch on:
		/// the current epoch keeps the cap it started with.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::set_spending_cap())]
		pub fn set_spending_cap(origin: OriginFor<T>, cap: Option<Balance>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let from_epoch = Self::schedule_terms(&who, |terms| terms.spending_cap = cap)?;
			Self::deposit_event(Event::SpendingCapSet { who, cap, from_epoch });
			Ok(())
		}

		/// Sets (or clears) the delegate sr25519 key receipts may be signed with, from the next
		/// epoch on: receipts of the current and earlier epochs keep verifying against the key
		/// in force for them.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::set_receipt_key())]
		pub fn set_receipt_key(origin: OriginFor<T>, key: Option<[u8; 32]>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(key != Some([0; 32]), Error::<T>::InvalidReceiptKey);
			let from_epoch = Self::schedule_terms(&who, |terms| terms.receipt_key = key)?;
			Self::deposit_event(Event::ReceiptKeySet { who, key, from_epoch });
			Ok(())
		}

		/// Root sets the withdraw delay (blocks, at least 1; keep it at least an epoch plus the
		/// claim window plus the settlement lag). Requests made from now on use it; pending
		/// withdrawals keep the block they unlock at. Whatever the delay, `withdraw` still
		/// waits for settlement.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::set_withdraw_delay())]
		pub fn set_withdraw_delay(origin: OriginFor<T>, blocks: u32) -> DispatchResult {
			ensure_root(origin)?;
			ensure!(blocks > 0, Error::<T>::ZeroWithdrawDelay);
			WithdrawDelay::<T>::put(blocks);
			Self::deposit_event(Event::WithdrawDelaySet { blocks });
			Ok(())
		}

		/// Root sets the least escrow a consumer needs for relays to admit its flows and for its
		/// receipts to count ([`MinEscrow`]; zero admits every consumer).
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::set_min_escrow())]
		pub fn set_min_escrow(origin: OriginFor<T>, amount: Balance) -> DispatchResult {
			ensure_root(origin)?;
			MinEscrow::<T>::put(amount);
			Self::deposit_event(Event::MinEscrowSet { amount });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// Applies `change` to `who`'s latest terms from the next epoch on, after pruning the
		/// history; returns that epoch. A change already pending for it is replaced.
		fn schedule_terms(
			who: &T::AccountId,
			change: impl FnOnce(&mut Terms),
		) -> Result<EpochIndex, DispatchError> {
			let mut account = Accounts::<T>::get(who).ok_or(Error::<T>::NoEscrow)?;
			let current = T::Epochs::current_epoch();
			let from_epoch = current.saturating_add(1);
			Self::prune_terms(who, &mut account.terms, current);
			let mut terms = account.latest_terms();
			change(&mut terms);
			let history = &mut account.terms;
			// A change made earlier in this epoch is still pending: this one replaces it.
			if history.last().is_some_and(|entry| entry.0 == from_epoch) {
				history.pop();
			}
			// Terms equal to those in force before need no entry (a change undone within the
			// epoch it was made in leaves nothing pending).
			if history.last().map(|entry| entry.1) != Some(terms) {
				history
					.try_push((from_epoch, terms))
					.map_err(|_| Error::<T>::TooManyTermChanges)?;
			}
			Accounts::<T>::insert(who, account);
			Ok(from_epoch)
		}

		/// Drops the oldest entries of `who`'s terms `history` that no epoch needs any more: an
		/// entry stays while an epoch it covers is unsettled, or is the previous epoch or a later
		/// one (whose receipts may still be claimed). The last entry always stays.
		fn prune_terms(who: &T::AccountId, history: &mut TermsHistory, current: EpochIndex) {
			let previous = current.saturating_sub(1);
			// Entry `i` ends with the epoch before entry `i + 1` starts. Settlement runs in
			// epoch order, so the entries to drop are a prefix: stop at the first one needed.
			let stale = history
				.iter()
				.skip(1)
				.take_while(|next| {
					let last = next.0.saturating_sub(1);
					last < previous && T::Settlement::settled_through(who, last)
				})
				.count();
			if stale > 0 {
				let mut seen = 0usize;
				history.retain(|_| {
					seen = seen.saturating_add(1);
					seen > stale
				});
			}
		}

		/// Checks the invariants (see the module docs).
		#[cfg(any(test, feature = "try-runtime"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			let mut held_total: Balance = 0;
			for (who, account) in Accounts::<T>::iter() {
				let on_hold =
					T::Currency::balance_on_hold(&HoldReason::ConsumerEscrow.into(), &who);
				ensure!(on_hold == account.held, "escrow hold differs from its record");
				ensure!(!account.terms.is_empty(), "a terms history is empty");
				ensure!(
					account.terms.iter().zip(account.terms.iter().skip(1)).all(|(a, b)| a.0 < b.0),
					"a terms history is not sorted by strictly increasing epochs"
				);
				held_total = held_total.saturating_add(account.held);
			}
			let (deposited, charged, withdrawn) = Totals::<T>::get();
			ensure!(
				held_total == deposited.saturating_sub(charged).saturating_sub(withdrawn),
				"holds differ from deposits - charges - withdrawals"
			);
			Ok(())
		}
	}

	impl<T: Config> Escrow<T::AccountId> for Pallet<T> {
		fn charge(
			consumer: &T::AccountId,
			epoch: EpochIndex,
			payees: &[(T::AccountId, Balance)],
		) -> ChargeOutcome {
			let owed = payees.iter().fold(0u128, |sum, (_, a)| sum.saturating_add(*a));
			let Some(mut account) = Accounts::<T>::get(consumer) else {
				if owed > 0 {
					Self::deposit_event(Event::Shortfall {
						consumer: consumer.clone(),
						epoch,
						owed,
						paid: 0,
					});
				}
				return ChargeOutcome { owed, paid: 0 };
			};
			let spent = Spent::<T>::get(consumer, epoch);
			let payable = owed.min(account.chargeable(epoch, spent));
			let shares: Vec<(T::AccountId, Balance)> = payees
				.iter()
				.map(|(payee, amount)| {
					let share = if payable == owed {
						*amount
					} else {
						multiply_by_rational_with_rounding(*amount, payable, owed, Rounding::Down)
							.unwrap_or(0)
					};
					(payee.clone(), share)
				})
				.collect();
			let mut paid: Balance = 0;
			for (payee, share) in shares.into_iter().filter(|(_, s)| *s > 0) {
				let moved = T::Currency::transfer_on_hold(
					&HoldReason::ConsumerEscrow.into(),
					consumer,
					&payee,
					share,
					Precision::Exact,
					Restriction::Free,
					Fortitude::Polite,
				);
				if let Ok(moved) = moved {
					paid = paid.saturating_add(moved);
					Self::deposit_event(Event::Charged {
						consumer: consumer.clone(),
						epoch,
						payee,
						amount: moved,
					});
				}
			}
			account.note_epoch_start(T::Epochs::current_epoch());
			account.held = account.held.saturating_sub(paid);
			// A charge for an epoch the pending withdrawal still backs takes from the amount on
			// its way out first: what stays keeps backing the later epochs relays admitted
			// against it.
			if let Some(pending) = account.pending.as_mut().filter(|p| epoch <= p.epoch) {
				pending.amount = pending.amount.saturating_sub(paid);
			}
			Accounts::<T>::insert(consumer, account);
			Spent::<T>::insert(consumer, epoch, spent.saturating_add(paid));
			if let Some(old) = epoch.checked_sub(T::SpendingRetention::get()) {
				Spent::<T>::remove(consumer, old);
			}
			Totals::<T>::mutate(|t| t.1 = t.1.saturating_add(paid));
			if paid < owed {
				Self::deposit_event(Event::Shortfall {
					consumer: consumer.clone(),
					epoch,
					owed,
					paid,
				});
			}
			ChargeOutcome { owed, paid }
		}

		fn chargeable(consumer: &T::AccountId, epoch: EpochIndex) -> Balance {
			Accounts::<T>::get(consumer)
				.map_or(0, |account| account.chargeable(epoch, Spent::<T>::get(consumer, epoch)))
		}

		fn available(consumer: &T::AccountId, epoch: EpochIndex) -> Balance {
			// Never more than the epoch started with: that is what its receipts are judged by
			// (a deposit made during an epoch backs the next one).
			<Self as Escrow<T::AccountId>>::chargeable(consumer, epoch).min(<Self as Escrow<
				T::AccountId,
			>>::backed_at_start(
				consumer, epoch
			))
		}

		fn backed_at_start(consumer: &T::AccountId, epoch: EpochIndex) -> Balance {
			Accounts::<T>::get(consumer).map_or(0, |account| account.backed_at_start(epoch))
		}

		fn min_escrow() -> Balance {
			MinEscrow::<T>::get()
		}

		fn receipt_key(consumer: &T::AccountId, epoch: EpochIndex) -> Option<[u8; 32]> {
			Accounts::<T>::get(consumer).and_then(|account| account.terms_at(epoch).receipt_key)
		}
	}
}
