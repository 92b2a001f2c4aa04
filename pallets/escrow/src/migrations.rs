//! Storage migrations of the escrow.
//!
//! - [`v2::MigrateToV2`] (storage version 1 → 2): a consumer's spending cap and receipt key,
//!   one value each, become a history of [`Terms`] by the epoch they take effect in, so that a
//!   change applies from the next epoch on (see the crate docs). Each v1 escrow gets one entry,
//!   in force since epoch 0, with its cap and key: every epoch, settled or not, keeps the terms
//!   it was metered under. One read and one write per escrow.
//!
//! Add it to the runtime's `Migrations` for a chain whose escrow storage version is 1; a chain
//! started from genesis at version 2 needs nothing.

use crate::{Accounts, Config, EscrowAccount, Pallet, PendingWithdrawal, Terms, TermsHistory};
use core::marker::PhantomData;
use frame_support::{
	migrations::VersionedMigration, pallet_prelude::*, traits::UncheckedOnRuntimeUpgrade,
};
use srwan_primitives::currency::Balance;

#[cfg(feature = "try-runtime")]
use alloc::vec::Vec;

/// The layout of storage version 1.
pub mod v1 {
	// `storage_alias` generates an undocumented prefix type.
	#![allow(missing_docs)]
	use super::*;

	/// A consumer's escrow as version 1 stored it: one cap and one key, read at settlement.
	#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
	pub struct EscrowAccount {
		/// See [`crate::EscrowAccount::held`].
		pub held: Balance,
		/// The most charged per epoch (`None`: no cap).
		pub spending_cap: Option<Balance>,
		/// Delegate sr25519 key for receipts.
		pub receipt_key: Option<[u8; 32]>,
		/// See [`crate::EscrowAccount::pending`].
		pub pending: Option<PendingWithdrawal>,
	}

	/// Escrows by consumer, in the version 1 layout.
	#[frame_support::storage_alias]
	pub type Accounts<T: Config> = StorageMap<
		Pallet<T>,
		Blake2_128Concat,
		<T as frame_system::Config>::AccountId,
		EscrowAccount,
	>;
}

/// Version 1 → 2: cap and receipt key become a terms history.
pub mod v2 {
	use super::*;

	/// The migration without the version check; use [`MigrateToV2`].
	pub struct UncheckedMigrateToV2<T>(PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for UncheckedMigrateToV2<T> {
		fn on_runtime_upgrade() -> Weight {
			let mut seen = 0u64;
			Accounts::<T>::translate::<v1::EscrowAccount, _>(|_, old| {
				seen = seen.saturating_add(1);
				let terms = Terms { spending_cap: old.spending_cap, receipt_key: old.receipt_key };
				Some(EscrowAccount {
					held: old.held,
					terms: TermsHistory::truncate_from(alloc::vec![(0, terms)]),
					pending: old.pending,
					starts: Default::default(),
				})
			});
			T::DbWeight::get().reads_writes(seen, seen)
		}

		#[cfg(feature = "try-runtime")]
		fn pre_upgrade() -> Result<Vec<u8>, sp_runtime::TryRuntimeError> {
			let mut count = 0u32;
			let mut held: Balance = 0;
			let mut capped = 0u32;
			let mut keyed = 0u32;
			for (_, old) in v1::Accounts::<T>::iter() {
				count = count.saturating_add(1);
				held = held.saturating_add(old.held);
				capped = capped.saturating_add(u32::from(old.spending_cap.is_some()));
				keyed = keyed.saturating_add(u32::from(old.receipt_key.is_some()));
			}
			ensure!(
				v1::Accounts::<T>::iter_keys().count() as u32 == count,
				"a v1 escrow does not decode"
			);
			Ok((count, held, capped, keyed).encode())
		}

		#[cfg(feature = "try-runtime")]
		fn post_upgrade(state: Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
			let (count, held, capped, keyed) = <(u32, Balance, u32, u32)>::decode(&mut &state[..])
				.map_err(|_| sp_runtime::TryRuntimeError::Other("pre_upgrade state"))?;
			let mut after: (u32, Balance, u32, u32) = (0, 0, 0, 0);
			// `iter` decodes every entry in the new layout: an escrow left behind would not.
			for (_, account) in Accounts::<T>::iter() {
				ensure!(
					account.terms.len() == 1 && account.terms.first().is_some_and(|e| e.0 == 0),
					"a migrated escrow has other terms than one entry since epoch 0"
				);
				let terms = account.latest_terms();
				after.0 = after.0.saturating_add(1);
				after.1 = after.1.saturating_add(account.held);
				after.2 = after.2.saturating_add(u32::from(terms.spending_cap.is_some()));
				after.3 = after.3.saturating_add(u32::from(terms.receipt_key.is_some()));
			}
			ensure!(after == (count, held, capped, keyed), "an escrow was lost or mistranslated");
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
