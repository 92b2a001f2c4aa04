//! # pallet-escrow — consumer deposits that pay for transit
//!
//! A consumer (a wallet that sends traffic through srwan relays) puts funds on hold here with
//! [`Pallet::deposit`]; pallet-tickets charges them per epoch through [`Escrow::charge`] and pays
//! the relays on the path. The consumer controls how much can go:
//!
//! - [`Pallet::set_spending_cap`]: at most this much per epoch, whatever the claims say;
//! - [`Pallet::set_receipt_key`]: a delegate sr25519 key its always-online agent signs usage
//!   receipts with, so the account key stays cold.
//!
//! ## Withdrawing cannot dodge a charge
//!
//! [`Pallet::request_withdraw`] starts a delay of [`WithdrawDelay`] blocks (longer than an
//! epoch plus the claim window plus settlement). The requested funds stay on hold and chargeable
//! meanwhile; [`Pallet::withdraw`] releases them only after the delay **and** when every epoch up
//! to the request's epoch is settled for this consumer ([`SettlementStatus`]), releasing at most
//! what is still held.
//!
//! ## Charges never overdraw
//!
//! A charge takes at most what is held and at most what the cap leaves for the epoch. A shortfall
//! is shared pro rata across that charge's payees (rounded down; the consumer is never charged
//! the remainder), recorded and evented — never a panic.
//!
//! ## Invariants (`do_try_state`)
//!
//! For every consumer the hold equals `held`; in total, holds equal deposits minus charges minus
//! completed withdrawals.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

pub use weights::WeightInfo;

use srwan_primitives::traits::{ChargeOutcome, Escrow, SettlementStatus};
use srwan_primitives::{currency::Balance, ditex::EpochIndex};

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
	use srwan_primitives::traits::RouterRegistry;

	/// The storage layout version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

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
		/// Amount requested.
		pub amount: Balance,
		/// The epoch it was requested in: every epoch up to it must be settled.
		pub epoch: EpochIndex,
		/// First block `withdraw` may succeed.
		pub unlock_at: u32,
	}

	/// A consumer's escrow.
	#[derive(
		Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo,
	)]
	pub struct EscrowAccount {
		/// Funds on hold.
		pub held: Balance,
		/// The most charged per epoch (`None`: no cap).
		pub spending_cap: Option<Balance>,
		/// Delegate sr25519 key for receipts.
		pub receipt_key: Option<[u8; 32]>,
		/// A withdrawal in progress.
		pub pending: Option<PendingWithdrawal>,
	}

	impl EscrowAccount {
		/// What a charge may take now when `spent` was already charged this epoch: the hold,
		/// limited by what the cap leaves.
		pub fn available(&self, spent: Balance) -> Balance {
			let cap_left = self.spending_cap.map_or(Balance::MAX, |cap| cap.saturating_sub(spent));
			self.held.min(cap_left)
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

	/// Genesis: the withdraw delay.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Blocks between `request_withdraw` and `withdraw` (0 = the production default).
		pub withdraw_delay: u32,
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
		/// The per-epoch cap changed.
		SpendingCapSet {
			/// The consumer.
			who: T::AccountId,
			/// New cap.
			cap: Option<Balance>,
		},
		/// The receipt key changed.
		ReceiptKeySet {
			/// The consumer.
			who: T::AccountId,
			/// New key.
			key: Option<[u8; 32]>,
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
			Accounts::<T>::mutate(&who, |account| {
				let account = account.get_or_insert_with(Default::default);
				account.held = account.held.saturating_add(amount);
			});
			Totals::<T>::mutate(|t| t.0 = t.0.saturating_add(amount));
			Self::deposit_event(Event::Deposited { who, amount });
			Ok(())
		}

		/// Starts withdrawing `amount`: it stays chargeable until `withdraw` succeeds.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::request_withdraw())]
		pub fn request_withdraw(origin: OriginFor<T>, amount: Balance) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(amount > 0, Error::<T>::ZeroAmount);
			let mut account = Accounts::<T>::get(&who).ok_or(Error::<T>::NoEscrow)?;
			ensure!(account.pending.is_none(), Error::<T>::WithdrawalPending);
			ensure!(amount <= account.held, Error::<T>::InsufficientEscrow);
			let unlock_at = now::<T>().saturating_add(WithdrawDelay::<T>::get());
			account.pending =
				Some(PendingWithdrawal { amount, epoch: T::Epochs::current_epoch(), unlock_at });
			Accounts::<T>::insert(&who, account);
			Self::deposit_event(Event::WithdrawRequested { who, amount, unlock_at });
			Ok(())
		}

		/// Releases a requested withdrawal after the delay, once every epoch up to the
		/// request's is settled; at most what is still held (charges may have taken some).
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
			let released = T::Currency::release(
				&HoldReason::ConsumerEscrow.into(),
				&who,
				amount,
				Precision::Exact,
			)?;
			account.held = account.held.saturating_sub(released);
			account.pending = None;
			Totals::<T>::mutate(|t| t.2 = t.2.saturating_add(released));
			if account.held == 0 && account.spending_cap.is_none() && account.receipt_key.is_none()
			{
				Accounts::<T>::remove(&who);
			} else {
				Accounts::<T>::insert(&who, account);
			}
			Self::deposit_event(Event::Withdrawn { who, amount: released });
			Ok(())
		}

		/// Caps what can be charged per epoch (`None` removes the cap).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::set_spending_cap())]
		pub fn set_spending_cap(origin: OriginFor<T>, cap: Option<Balance>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut account = Accounts::<T>::get(&who).ok_or(Error::<T>::NoEscrow)?;
			account.spending_cap = cap;
			Accounts::<T>::insert(&who, account);
			Self::deposit_event(Event::SpendingCapSet { who, cap });
			Ok(())
		}

		/// Sets (or clears) the delegate sr25519 key receipts may be signed with.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::set_receipt_key())]
		pub fn set_receipt_key(origin: OriginFor<T>, key: Option<[u8; 32]>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(key != Some([0; 32]), Error::<T>::InvalidReceiptKey);
			let mut account = Accounts::<T>::get(&who).ok_or(Error::<T>::NoEscrow)?;
			account.receipt_key = key;
			Accounts::<T>::insert(&who, account);
			Self::deposit_event(Event::ReceiptKeySet { who, key });
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
	}

	impl<T: Config> Pallet<T> {
		/// Checks the invariants (see the module docs).
		#[cfg(any(test, feature = "try-runtime"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			let mut held_total: Balance = 0;
			for (who, account) in Accounts::<T>::iter() {
				let on_hold =
					T::Currency::balance_on_hold(&HoldReason::ConsumerEscrow.into(), &who);
				ensure!(on_hold == account.held, "escrow hold differs from its record");
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
			let payable = owed.min(account.available(spent));
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
			account.held = account.held.saturating_sub(paid);
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
				.map_or(0, |account| account.available(Spent::<T>::get(consumer, epoch)))
		}

		fn receipt_key(consumer: &T::AccountId) -> Option<[u8; 32]> {
			Accounts::<T>::get(consumer).and_then(|a| a.receipt_key)
		}
	}
}
