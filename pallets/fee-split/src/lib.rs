//! # pallet-fee-split — 25 % to validators, 75 % to dividends
//!
//! Where the chain's income goes. Every transaction fee and tip, and during the first three
//! years a per-block subsidy, is split between two pool accounts:
//!
//! - the **validator pool** gets `Percent::from_percent(25).mul_floor(total)`;
//! - the **dividend pool** gets the rest, so the two always add up to exactly what came in.
//!
//! ## Fees
//!
//! [`SplitFees`] is the `OnUnbalanced` handler of `FungibleAdapter<Balances, SplitFees<_>>`:
//! transaction payment hands it the fee credit and the tip credit of every extrinsic; it merges
//! them and resolves the two parts into the pools ([`Event::FeesSplit`]). The total equals the
//! `actual_fee` of `TransactionFeePaid` (tip included) whenever the refund reaches the payer.
//! `mul_floor` is used instead of `Imbalance::ration`, which saturates on large values.
//!
//! ## Subsidy
//!
//! In blocks `1..=subsidy_blocks` (3 years of 6 s blocks in production) the pallet mints
//! `subsidy_per_block` and splits it the same way; afterwards nothing. Total issuance grows by
//! exactly the subsidy.
//!
//! ## Payouts
//!
//! Block authors are learned only through pallet-authorship's `EventHandler` (so the mapping of
//! authority keys to accounts can change without touching this pallet). Every `payout_period`
//! blocks the validator pool pays each author `pool × authored / total` (rounded down; the
//! remainder stays in the pool). The list of a period's authors is bounded
//! ([`Config::MaxAuthors`]); once it is full the period ends early, in the `on_initialize`
//! that sees it full, so the authors of a period spanning any number of validator set changes
//! are all paid ([`Event::ValidatorPaid`]) and no block goes unpaid. The dividend pool is read
//! by pallet-coin-voting, which shares it among top-voted wallets. Pools are funded with the
//! existential deposit at genesis and pay out with `Preservation::Preserve`, so they never
//! disappear.
//!
//! ## Governance
//!
//! The schedule is set at genesis; root may replace it with [`Pallet::set_schedule`] (a payout
//! period of 0 is refused with [`Error::ZeroPayoutPeriod`]). It applies from the next block:
//! the subsidy is paid in the blocks `1..=subsidy_blocks` counted from genesis, and payouts
//! happen at the blocks that are multiples of the new period (authors counted since the last
//! payout are paid then).

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

use frame_support::traits::{
	fungible::{Balanced, Credit, Inspect},
	Imbalance, OnUnbalanced,
};
use sp_runtime::Percent;

/// The validator pool's share of every credit.
pub const VALIDATOR_SHARE: Percent = Percent::from_percent(25);

/// Splits `total` into (validators, dividends): `mul_floor` for validators, the rest to
/// dividends, so the parts always add up to `total`.
pub fn split(total: u128) -> (u128, u128) {
	let validators = VALIDATOR_SHARE.mul_floor(total);
	(validators, total.saturating_sub(validators))
}

/// Fee and tip handler for `FungibleAdapter<Currency, SplitFees<T>>`.
pub struct SplitFees<T>(core::marker::PhantomData<T>);

impl<T: Config> OnUnbalanced<Credit<T::AccountId, T::Currency>> for SplitFees<T> {
	fn on_unbalanceds(mut credits: impl Iterator<Item = Credit<T::AccountId, T::Currency>>) {
		let Some(mut total) = credits.next() else { return };
		for credit in credits {
			total.subsume(credit);
		}
		Pallet::<T>::split_into_pools(total, |validators, dividends| Event::FeesSplit {
			validators,
			dividends,
		});
	}
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::Mutate,
			tokens::{Fortitude, Preservation},
		},
		PalletId,
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::traits::{AccountIdConversion, UniqueSaturatedInto};

	/// The storage layout version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Configuration of the split.
	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency fees are paid in.
		type Currency: Balanced<Self::AccountId>
			+ Mutate<Self::AccountId>
			+ Inspect<Self::AccountId, Balance = u128>;
		/// Derives the validator pool's account.
		#[pallet::constant]
		type ValidatorPoolId: Get<PalletId>;
		/// Derives the dividend pool's account.
		#[pallet::constant]
		type DividendPoolId: Get<PalletId>;
		/// Most distinct block authors counted in one payout period.
		#[pallet::constant]
		type MaxAuthors: Get<u32>;
		/// Weights of the hooks and the call.
		type WeightInfo: WeightInfo;
	}

	/// Subsidy and payout schedule, set at genesis.
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
		Default,
		serde::Serialize,
		serde::Deserialize,
	)]
	pub struct Schedule {
		/// Minted into the pools in each of the first `subsidy_blocks` blocks.
		pub subsidy_per_block: u128,
		/// Blocks that receive the subsidy (`1..=subsidy_blocks`).
		pub subsidy_blocks: u32,
		/// Blocks between validator payouts (root cannot set 0; a genesis 0 is read as 1).
		pub payout_period: u32,
	}

	/// The subsidy and payout schedule (set at genesis; root may replace it).
	#[pallet::storage]
	pub type ScheduleOf<T> = StorageValue<_, Schedule, ValueQuery>;

	/// Blocks authored per account in the current payout period.
	#[pallet::storage]
	pub type AuthoredBlocks<T: Config> =
		StorageValue<_, BoundedVec<(T::AccountId, u32), T::MaxAuthors>, ValueQuery>;

	/// Events of the split.
	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An extrinsic's fee and tip went into the pools.
		FeesSplit {
			/// To the validator pool.
			validators: u128,
			/// To the dividend pool.
			dividends: u128,
		},
		/// The block's subsidy was minted into the pools.
		SubsidyMinted {
			/// To the validator pool.
			validators: u128,
			/// To the dividend pool.
			dividends: u128,
		},
		/// A block author was paid from the validator pool.
		ValidatorPaid {
			/// The author.
			who: T::AccountId,
			/// Blocks it authored in the period.
			blocks: u32,
			/// Amount paid.
			amount: u128,
		},
		/// A payout to an author failed (e.g. below the existential deposit); it stays in the pool.
		ValidatorPayoutFailed {
			/// The author.
			who: T::AccountId,
			/// Amount kept in the pool.
			amount: u128,
		},
		/// Root replaced the subsidy and payout schedule.
		ScheduleSet {
			/// The schedule from the next block on.
			schedule: Schedule,
		},
	}

	/// Errors of the split; each distinct bad input has its own.
	#[pallet::error]
	pub enum Error<T> {
		/// A payout period must be at least one block.
		ZeroPayoutPeriod,
	}

	/// Genesis: the schedule; the pools are funded with the existential deposit.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Subsidy and payout schedule.
		pub schedule: Schedule,
		#[serde(skip)]
		/// Type marker.
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			ScheduleOf::<T>::put(self.schedule);
			let ed = T::Currency::minimum_balance();
			for pool in [Pallet::<T>::validator_pool(), Pallet::<T>::dividend_pool()] {
				if T::Currency::balance(&pool) < ed {
					let funded = T::Currency::mint_into(&pool, ed);
					assert!(funded.is_ok(), "fee-split pools are funded at genesis");
				}
			}
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(n: BlockNumberFor<T>) -> Weight {
			let block: u32 = n.unique_saturated_into();
			let schedule = ScheduleOf::<T>::get();
			// The schedule; and `AuthoredBlocks` read and written when pallet-authorship notes
			// this block's author through `note_author` (its own hook weighs none of our work).
			let mut weight = T::DbWeight::get().reads_writes(2, 1);
			if block >= 1 && block <= schedule.subsidy_blocks && schedule.subsidy_per_block > 0 {
				let minted = T::Currency::issue(schedule.subsidy_per_block);
				Self::split_into_pools(minted, |validators, dividends| Event::SubsidyMinted {
					validators,
					dividends,
				});
				weight.saturating_accrue(T::WeightInfo::mint_subsidy());
			}
			let authors = AuthoredBlocks::<T>::decode_len().unwrap_or(0) as u32;
			// A full list ends the period now: the next author must fit (see "Payouts").
			let full = authors >= T::MaxAuthors::get();
			if block > 0 && (full || block.is_multiple_of(schedule.payout_period.max(1))) {
				Self::pay_validators();
				weight.saturating_accrue(T::WeightInfo::pay_validators(authors));
			}
			weight
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Root replaces the subsidy and payout schedule (see "Governance" in the module
		/// docs); `payout_period` must be at least 1.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::set_schedule())]
		pub fn set_schedule(origin: OriginFor<T>, schedule: Schedule) -> DispatchResult {
			ensure_root(origin)?;
			ensure!(schedule.payout_period > 0, Error::<T>::ZeroPayoutPeriod);
			ScheduleOf::<T>::put(schedule);
			Self::deposit_event(Event::ScheduleSet { schedule });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// The validator pool's account.
		pub fn validator_pool() -> T::AccountId {
			T::ValidatorPoolId::get().into_account_truncating()
		}

		/// The dividend pool's account.
		pub fn dividend_pool() -> T::AccountId {
			T::DividendPoolId::get().into_account_truncating()
		}

		/// Resolves `credit` into the pools 25/75 and deposits the event `event` builds. A part
		/// that cannot be resolved (impossible while the pools exist) is merged into the other
		/// pool rather than dropped, so issuance stays consistent.
		pub(crate) fn split_into_pools(
			credit: Credit<T::AccountId, T::Currency>,
			event: impl FnOnce(u128, u128) -> Event<T>,
		) {
			let (validators, _) = split(credit.peek());
			let (to_validators, to_dividends) = credit.split(validators);
			let (v, d) = (to_validators.peek(), to_dividends.peek());
			if let Err(unresolved) = T::Currency::resolve(&Self::validator_pool(), to_validators) {
				let _ = T::Currency::resolve(&Self::dividend_pool(), unresolved);
			}
			if let Err(unresolved) = T::Currency::resolve(&Self::dividend_pool(), to_dividends) {
				let _ = T::Currency::resolve(&Self::validator_pool(), unresolved);
			}
			if v > 0 || d > 0 {
				Self::deposit_event(event(v, d));
			}
		}

		/// Pays the validator pool to this period's authors pro rata blocks authored.
		pub(crate) fn pay_validators() {
			let authors = AuthoredBlocks::<T>::take();
			let total_blocks: u64 = authors.iter().map(|(_, n)| u64::from(*n)).sum();
			if total_blocks == 0 {
				return;
			}
			let pool = Self::validator_pool();
			let available =
				T::Currency::reducible_balance(&pool, Preservation::Preserve, Fortitude::Polite);
			let payouts: Vec<(T::AccountId, u32, u128)> = authors
				.into_iter()
				.map(|(who, blocks)| {
					let amount = sp_runtime::helpers_128bit::multiply_by_rational_with_rounding(
						available,
						u128::from(blocks),
						u128::from(total_blocks),
						sp_runtime::Rounding::Down,
					)
					.unwrap_or(0);
					(who, blocks, amount)
				})
				.collect();
			for (who, blocks, amount) in payouts {
				if amount == 0 {
					continue;
				}
				match T::Currency::transfer(&pool, &who, amount, Preservation::Preserve) {
					Ok(_) => Self::deposit_event(Event::ValidatorPaid { who, blocks, amount }),
					Err(_) => Self::deposit_event(Event::ValidatorPayoutFailed { who, amount }),
				}
			}
		}

		/// Counts a block for `author` (pallet-authorship's `EventHandler`).
		pub(crate) fn note_block(author: T::AccountId) {
			AuthoredBlocks::<T>::mutate(|authors| {
				if let Some((_, blocks)) = authors.iter_mut().find(|(who, _)| *who == author) {
					*blocks = blocks.saturating_add(1);
				} else if authors.try_push((author, 1)).is_err() {
					// Unreachable: `on_initialize` pays out as soon as the list is full, and
					// one author is noted per block. If it ever happens, the block goes
					// unpaid and says so.
					frame_support::defensive!("more authors in a payout period than MaxAuthors");
				}
			});
		}

		/// Checks the pallet's invariants: both pools exist (hold at least the existential
		/// deposit) and the author list has no duplicates.
		#[cfg(any(test, feature = "try-runtime"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			let ed = T::Currency::minimum_balance();
			ensure!(T::Currency::balance(&Self::validator_pool()) >= ed, "validator pool below ED");
			ensure!(T::Currency::balance(&Self::dividend_pool()) >= ed, "dividend pool below ED");
			let authors = AuthoredBlocks::<T>::get();
			for (i, (who, _)) in authors.iter().enumerate() {
				ensure!(
					!authors.iter().skip(i + 1).any(|(other, _)| other == who),
					"author counted twice"
				);
			}
			Ok(())
		}
	}

	impl<T: Config> pallet_authorship::EventHandler<T::AccountId, BlockNumberFor<T>> for Pallet<T> {
		fn note_author(author: T::AccountId) {
			Self::note_block(author)
		}
	}

	/// The dividend pool account, for pallet-coin-voting's `DividendPool`.
	pub struct DividendPoolAccount<T>(core::marker::PhantomData<T>);
	impl<T: Config> Get<T::AccountId> for DividendPoolAccount<T> {
		fn get() -> T::AccountId {
			Pallet::<T>::dividend_pool()
		}
	}
}
