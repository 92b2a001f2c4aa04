//! Storage migrations of the exchange.

use crate::{Config, Membership, Pallet, RouterInfo, RouterStatus, Routers};
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

/// Layouts of storage version 2.
pub mod v2 {
	// `storage_alias` generates an undocumented prefix type.
	#![allow(missing_docs)]
	use super::*;
	use crate::types::PulseKey;
	use srwan_primitives::currency::Balance;

	/// A router as version 2 stored it: without `registered_epoch` and `membership`.
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
		/// See [`crate::RouterInfo::previous_report`].
		pub previous_report: Option<PeriodIndex>,
		/// See [`crate::RouterInfo::status`].
		pub status: RouterStatus,
		/// See [`crate::RouterInfo::poor_streak`].
		pub poor_streak: u32,
		/// See [`crate::RouterInfo::clean_streak`].
		pub clean_streak: u32,
	}

	/// Routers in the version 2 layout.
	#[frame_support::storage_alias]
	pub type Routers<T: Config> = StorageMap<
		Pallet<T>,
		frame_support::Blake2_128Concat,
		<T as frame_system::Config>::AccountId,
		RouterInfo,
	>;
}

/// Version 1 → 2: every router gains `previous_report` (unknown, so `None`: at worst one
/// quarantined router's clean streak restarts once).
pub struct AddPreviousReport<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for AddPreviousReport<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut routers = 0u64;
		v2::Routers::<T>::translate::<v1::RouterInfo, _>(|_, old| {
			routers = routers.saturating_add(1);
			Some(v2::RouterInfo {
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
		let routers = v2::Routers::<T>::iter_keys().count() as u32;
		Ok(routers.encode())
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(state: Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
		let before = u32::decode(&mut &state[..])
			.map_err(|_| sp_runtime::TryRuntimeError::Other("pre_upgrade state"))?;
		// `iter` decodes every entry in the new layout: a router left behind would not decode.
		let after =
			v2::Routers::<T>::iter().filter(|(_, info)| info.previous_report.is_none()).count();
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

/// Version 2 → 3: every router gains `registered_epoch` (the epoch of its latest registration
/// period: older registrations are not known) and a `membership` that counts it in its group for
/// every epoch (an unbonding one through the current epoch), as version 2 did.
pub struct AddMembership<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for AddMembership<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut routers = 0u64;
		let current = Pallet::<T>::current_epoch();
		Routers::<T>::translate::<v2::RouterInfo, _>(|_, old| {
			routers = routers.saturating_add(1);
			let until = old.status.is_unbonding().then_some(current);
			Some(RouterInfo {
				endpoint: old.endpoint,
				geo: old.geo,
				pulse_key: old.pulse_key,
				group: old.group,
				deposit: old.deposit,
				registered_in: old.registered_in,
				last_report: old.last_report,
				previous_report: old.previous_report,
				status: old.status,
				poor_streak: old.poor_streak,
				clean_streak: old.clean_streak,
				registered_epoch: Pallet::<T>::epoch_of_period(old.registered_in),
				membership: Membership { since: 0, previous: None, until },
			})
		});
		// The params (twice: the current epoch, then each router's registration epoch).
		T::DbWeight::get().reads_writes(routers.saturating_add(2), routers)
	}

	#[cfg(feature = "try-runtime")]
	fn pre_upgrade() -> Result<Vec<u8>, sp_runtime::TryRuntimeError> {
		let routers = v2::Routers::<T>::iter_keys().count() as u32;
		Ok(routers.encode())
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(state: Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
		let before = u32::decode(&mut &state[..])
			.map_err(|_| sp_runtime::TryRuntimeError::Other("pre_upgrade state"))?;
		// `iter` decodes every entry in the new layout: a router left behind would not decode.
		let after = Routers::<T>::iter().filter(|(_, info)| info.membership.since == 0).count();
		frame_support::ensure!(after as u32 == before, "a router was lost or mistranslated");
		Ok(())
	}
}

/// [`AddMembership`], run only when the pallet's storage version is 2 (then set to 3).
pub type V2ToV3<T> =
	VersionedMigration<2, 3, AddMembership<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;

/// Version 3 → 4: every router's endpoint and pulse key are recorded as its own
/// ([`crate::EndpointOwners`], [`crate::PulseKeyOwners`]), so that no later registration can
/// list them again. Should two routers already share one (registered before the rule), the
/// earlier in storage order keeps it and the conflict is logged; the other's next
/// re-registration must list its own.
pub struct RecordOwners<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for RecordOwners<T> {
	fn on_runtime_upgrade() -> Weight {
		let (mut routers, mut conflicts) = (0u64, 0u32);
		for (who, info) in Routers::<T>::iter() {
			routers = routers.saturating_add(1);
			if crate::EndpointOwners::<T>::contains_key(info.endpoint)
				|| crate::PulseKeyOwners::<T>::contains_key(info.pulse_key)
			{
				conflicts = conflicts.saturating_add(1);
				continue;
			}
			crate::EndpointOwners::<T>::insert(info.endpoint, &who);
			crate::PulseKeyOwners::<T>::insert(info.pulse_key, &who);
		}
		if conflicts > 0 {
			frame_support::defensive!("routers share an endpoint or pulse key with an earlier one");
		}
		T::DbWeight::get().reads_writes(routers.saturating_mul(3), routers.saturating_mul(2))
	}

	#[cfg(feature = "try-runtime")]
	fn pre_upgrade() -> Result<Vec<u8>, sp_runtime::TryRuntimeError> {
		Ok((Routers::<T>::iter_keys().count() as u32).encode())
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(state: Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
		let routers = u32::decode(&mut &state[..])
			.map_err(|_| sp_runtime::TryRuntimeError::Other("pre_upgrade state"))?;
		let recorded = crate::EndpointOwners::<T>::iter_keys().count() as u32;
		frame_support::ensure!(recorded == routers, "a router's endpoint was not recorded");
		Ok(())
	}
}

/// [`RecordOwners`], run only when the pallet's storage version is 3 (then set to 4).
pub type V3ToV4<T> =
	VersionedMigration<3, 4, RecordOwners<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;
