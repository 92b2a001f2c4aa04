//! Storage migrations of coin voting.
//!
//! - [`v2::MigrateToV2`] (storage version 1 → 2): candidates, which recorded only their
//!   commission, now hold [`Config::CandidateDeposit`] and record it
//!   ([`crate::CandidateInfo`]). Each v1 candidate has the deposit put on hold; one that cannot
//!   pay it stops being a candidate ([`Event::CandidateEvicted`], nothing released), as it would
//!   be evicted at the next tally anyway. At most `MaxCandidates` entries: one block. An
//!   entry already in the v2 shape (a partial state: written by v2 code before the migration
//!   ran) is kept as it is, its deposit already held: a lenient decode would read its first
//!   four bytes as a v1 commission and hold the deposit a second time.
//!
//! Add it to the runtime's `Migrations` for a chain whose coin-voting storage version is 1; a
//! chain started from genesis at version 2 needs nothing.

use crate::{CandidateInfo, Candidates, Config, Event, HoldReason, Pallet};
use core::marker::PhantomData;
use frame_support::{
	migrations::VersionedMigration,
	pallet_prelude::*,
	traits::{
		fungible::{Inspect, MutateHold},
		UncheckedOnRuntimeUpgrade,
	},
};
use sp_runtime::Perbill;

#[cfg(feature = "try-runtime")]
use alloc::vec::Vec;

/// The layout of storage version 1.
pub mod v1 {
	// `storage_alias` generates an undocumented prefix type.
	#![allow(missing_docs)]
	use super::*;

	/// Candidates and their commission (no deposit).
	#[frame_support::storage_alias]
	pub type Candidates<T: Config> = CountedStorageMap<
		Pallet<T>,
		Blake2_128Concat,
		<T as frame_system::Config>::AccountId,
		Perbill,
	>;
}

/// Version 1 → 2: candidates hold and record a deposit.
pub mod v2 {
	use super::*;
	use codec::{Decode, Input};

	/// A candidate entry as found during the migration: told apart by its length (a v1
	/// commission is 4 bytes; anything else must decode exactly as a v2 record).
	pub enum Stored {
		/// The v1 shape: a commission, nothing held.
		V1(Perbill),
		/// Already the v2 shape.
		V2(CandidateInfo),
	}

	impl Decode for Stored {
		fn decode<I: Input>(input: &mut I) -> Result<Self, codec::Error> {
			if input.remaining_len()? == Some(Perbill::max_encoded_len()) {
				Perbill::decode(input).map(Stored::V1)
			} else {
				CandidateInfo::decode(input).map(Stored::V2)
			}
		}
	}

	/// The migration without the version check; use [`MigrateToV2`].
	pub struct UncheckedMigrateToV2<T>(PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for UncheckedMigrateToV2<T> {
		fn on_runtime_upgrade() -> Weight {
			let deposit = T::CandidateDeposit::get();
			let mut seen = 0u64;
			Candidates::<T>::translate::<Stored, _>(|who, stored| {
				seen = seen.saturating_add(1);
				let commission = match stored {
					Stored::V1(commission) => commission,
					Stored::V2(info) => return Some(info),
				};
				match T::Currency::hold(&HoldReason::CandidateDeposit.into(), &who, deposit) {
					Ok(()) => Some(CandidateInfo { commission, deposit }),
					Err(_) => {
						let balance = T::Currency::total_balance(&who);
						Pallet::<T>::deposit_event(Event::CandidateEvicted {
							who,
							balance,
							released: 0,
						});
						None
					}
				}
			});
			// Per candidate: the entry, and the hold's `Balances::Holds` and `System::Account`
			// (read and written); the counter once.
			T::DbWeight::get().reads_writes(
				seen.saturating_mul(3).saturating_add(1),
				seen.saturating_mul(3).saturating_add(1),
			)
		}

		#[cfg(feature = "try-runtime")]
		fn pre_upgrade() -> Result<Vec<u8>, sp_runtime::TryRuntimeError> {
			use codec::DecodeAll;
			let count = Candidates::<T>::count();
			let readable = Candidates::<T>::iter_keys()
				.filter(|who| {
					frame_support::storage::unhashed::get_raw(&Candidates::<T>::hashed_key_for(who))
						.is_some_and(|raw| Stored::decode_all(&mut &raw[..]).is_ok())
				})
				.count() as u32;
			ensure!(readable == count, "a candidate is neither a v1 commission nor a v2 record");
			Ok(count.encode())
		}

		#[cfg(feature = "try-runtime")]
		fn post_upgrade(state: Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
			let before = u32::decode(&mut &state[..])
				.map_err(|_| sp_runtime::TryRuntimeError::Other("pre_upgrade state"))?;
			ensure!(Candidates::<T>::count() <= before, "candidates appeared");
			let deposit = T::CandidateDeposit::get();
			ensure!(
				Candidates::<T>::iter().all(|(_, info)| info.deposit == deposit),
				"a migrated candidate records another deposit"
			);
			Pallet::<T>::do_try_state()
		}
	}

	/// Storage version 1 → 2, only when the chain is at version 1.
	pub type MigrateToV2<T> = VersionedMigration<
		1,
		2,
		UncheckedMigrateToV2<T>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;
}
