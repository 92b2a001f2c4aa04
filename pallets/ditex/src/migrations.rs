//! Storage migrations of the exchange.

use crate::{Config, Pallet, RouterInfo, RouterStatus, Routers};
use codec::{Decode, Encode};
use frame_support::{
	migrations::VersionedMigration,
	traits::{Get, UncheckedOnRuntimeUpgrade},
	weights::Weight,
};
use scale_info::TypeInfo;
use srwan_primitives::ditex::{Endpoint, Geo, GroupId, PeriodIndex};

#[cfg(feature = "try-runtime")]
use alloc::vec::Vec;

/// Layouts of storage version 1.
pub mod v1 {
	use super::*;
	use crate::types::PulseKey;
	use srwan_primitives::currency::Balance;

	/// A router as version 1 stored it: without `previous_report`.
	#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
	pub struct RouterInfo {
		/// See [`crate::RouterInfo::endpoint`].
		pub endpoint: Endpoint,
		/// See [`crate::RouterInfo::geo`].
		pub geo: Geo,
		/// See [`crate::RouterInfo::pulse_key`].
		pub pulse_key: PulseKey,
		/// See [`crate::RouterInfo::group`].
		pub group: GroupId,
		/// See [`crate::RouterInfo::deposit`].
		pub deposit: Balance,
		/// See [`crate::RouterInfo::registered_in`].
		pub registered_in: PeriodIndex,
		/// See [`crate::RouterInfo::last_report`].
		pub last_report: Option<PeriodIndex>,
		/// See [`crate::RouterInfo::status`].
		pub status: RouterStatus,
		/// See [`crate::RouterInfo::poor_streak`].
		pub poor_streak: u32,
		/// See [`crate::RouterInfo::clean_streak`].
		pub clean_streak: u32,
	}
}

/// Version 1 → 2: every router gains `previous_report` (unknown, so `None`: at worst one
/// quarantined router's clean streak restarts once).
pub struct AddPreviousReport<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for AddPreviousReport<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut routers = 0u64;
		Routers::<T>::translate::<v1::RouterInfo, _>(|_, old| {
			routers = routers.saturating_add(1);
			Some(RouterInfo {
				endpoint: old.endpoint,
				geo: old.geo,
				pulse_key: old.pulse_key,
				group: old.group,
				deposit: old.deposit,
				registered_in: old.registered_in,
				last_report: old.last_report,
				previous_report: None,
				status: old.status,
				poor_streak: old.poor_streak,
				clean_streak: old.clean_streak,
			})
		});
		T::DbWeight::get().reads_writes(routers, routers)
	}

	#[cfg(feature = "try-runtime")]
	fn pre_upgrade() -> Result<Vec<u8>, sp_runtime::TryRuntimeError> {
		let routers = Routers::<T>::iter_keys().count() as u32;
		Ok(routers.encode())
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(state: Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
		let before = u32::decode(&mut &state[..])
			.map_err(|_| sp_runtime::TryRuntimeError::Other("pre_upgrade state"))?;
		// `iter` decodes every entry in the new layout: a router left behind would not decode.
		let after = Routers::<T>::iter().filter(|(_, info)| info.previous_report.is_none()).count();
		frame_support::ensure!(after as u32 == before, "a router was lost or mistranslated");
		Ok(())
	}
}

/// [`AddPreviousReport`], run only when the pallet's storage version is 1 (then set to 2).
pub type V1ToV2<T> = VersionedMigration<
	1,
	2,
	AddPreviousReport<T>,
	Pallet<T>,
	<T as frame_system::Config>::DbWeight,
>;
