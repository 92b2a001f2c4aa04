//! Storage migrations of the metering pallet.

use crate::{
	path_hash, Claimed, Config, NextToSettle, Pallet, Params, Receipts, RecordedReceipt,
	SettlementBegun, SettlementStage, Stage, TicketParams,
};
use codec::{Decode, Encode};
use frame_support::{
	migrations::VersionedMigration,
	pallet_prelude::NMapKey,
	storage_alias,
	traits::{Get, UncheckedOnRuntimeUpgrade},
	weights::Weight,
	Blake2_128Concat, BoundedVec, Twox64Concat,
};
use scale_info::TypeInfo;
use sp_runtime::Perbill;
use srwan_primitives::{
	ditex::EpochIndex,
	receipts::{FlowId, UsageReceipt, MAX_CLAIM_PEERS},
};

#[cfg(feature = "try-runtime")]
use alloc::vec::Vec;
#[cfg(feature = "try-runtime")]
use srwan_primitives::traits::RouterRegistry;

/// Layouts of storage version 1.
pub mod v1 {
	// `storage_alias` generates an undocumented prefix type.
	#![allow(missing_docs)]
	use super::*;
	use frame_support::traits::ConstU32;

	/// The parameters as version 1 stored them: without `restart_grace_epochs`.
	#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
	pub struct TicketParams {
		/// See [`crate::TicketParams::claim_window`].
		pub claim_window: u32,
		/// See [`crate::TicketParams::loss_tolerance_ppm`].
		pub loss_tolerance_ppm: u32,
		/// See [`crate::TicketParams::dispute_counterparties`].
		pub dispute_counterparties: u32,
		/// See [`crate::TicketParams::dispute_window`].
		pub dispute_window: u32,
		/// See [`crate::TicketParams::infra_share`].
		pub infra_share: Perbill,
	}

	/// One peer's cumulative counters in a version 1 claim.
	#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
	pub struct PeerOctets<AccountId> {
		/// The peer.
		pub peer: AccountId,
		/// Octets received since boot.
		pub in_octets: u64,
		/// Octets sent since boot.
		pub out_octets: u64,
	}

	/// A relay's last claim's counters (version 1 took differences between claims).
	#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
	pub struct RelayCounters<AccountId> {
		/// The epoch of the last accepted claim.
		pub epoch: EpochIndex,
		/// Its boot time.
		pub boot_time: u64,
		/// Its counters.
		pub peers: BoundedVec<PeerOctets<AccountId>, ConstU32<MAX_CLAIM_PEERS>>,
	}

	/// Version 1's `Counters`: each relay's last claim.
	#[storage_alias]
	pub type Counters<T: Config> = StorageMap<
		Pallet<T>,
		Blake2_128Concat,
		<T as frame_system::Config>::AccountId,
		RelayCounters<<T as frame_system::Config>::AccountId>,
	>;

	/// Version 1's `Receipts`: the latest receipt per (epoch, consumer, flow).
	#[storage_alias]
	pub type Receipts<T: Config> = StorageNMap<
		Pallet<T>,
		(
			NMapKey<Twox64Concat, EpochIndex>,
			NMapKey<Blake2_128Concat, <T as frame_system::Config>::AccountId>,
			NMapKey<Blake2_128Concat, FlowId>,
		),
		UsageReceipt<<T as frame_system::Config>::AccountId>,
	>;

	/// Version 1's `Rebooted`: relays whose claim for an epoch started a new boot.
	#[storage_alias]
	pub type Rebooted<T: Config> = StorageDoubleMap<
		Pallet<T>,
		Twox64Concat,
		EpochIndex,
		Blake2_128Concat,
		<T as frame_system::Config>::AccountId,
		(),
	>;
}

/// Layouts of storage version 2.
pub mod v2 {
	use super::*;

	/// The parameters as version 2 stored them: without `loss_slack_octets` (version 3 appends
	/// it, so a version 3 value starts with a version 2 one).
	#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
	pub struct TicketParams {
		/// See [`crate::TicketParams::claim_window`].
		pub claim_window: u32,
		/// See [`crate::TicketParams::loss_tolerance_ppm`].
		pub loss_tolerance_ppm: u32,
		/// See [`crate::TicketParams::dispute_counterparties`].
		pub dispute_counterparties: u32,
		/// See [`crate::TicketParams::dispute_window`].
		pub dispute_window: u32,
		/// See [`crate::TicketParams::infra_share`].
		pub infra_share: Perbill,
		/// See [`crate::TicketParams::restart_grace_epochs`].
		pub restart_grace_epochs: u32,
		/// See [`crate::TicketParams::min_age_epochs`].
		pub min_age_epochs: u32,
		/// See [`crate::TicketParams::credit_window_octets`].
		pub credit_window_octets: u64,
	}
}

/// Version 1 → 2, per-epoch claims:
///
/// - the parameters gain `restart_grace_epochs`, `min_age_epochs` and `credit_window_octets`
///   (their production values);
/// - each unsettled receipt is keyed by its path too, vouched for by every router of its path
///   (version 1 counted its octets on every link);
/// - a relay's last claim becomes its claim mark for that epoch while the epoch is unsettled
///   (so it cannot claim the epoch again), and the cumulative counters go;
/// - version 1's reboot marks go (version 1 also marked a relay's first claim as a reboot):
///   disputes of those epochs are judged by the version 2 rules;
/// - an epoch whose settlement has not begun starts with the new dispute stage.
pub struct PerEpochClaims<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for PerEpochClaims<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut reads = 3u64;
		let mut writes = 1u64;
		let _ = Params::<T>::translate::<v1::TicketParams, _>(|old| {
			old.map(|old| TicketParams {
				claim_window: old.claim_window,
				loss_tolerance_ppm: old.loss_tolerance_ppm,
				dispute_counterparties: old.dispute_counterparties,
				dispute_window: old.dispute_window,
				infra_share: old.infra_share,
				restart_grace_epochs: TicketParams::default().restart_grace_epochs,
				min_age_epochs: TicketParams::default().min_age_epochs,
				credit_window_octets: TicketParams::default().credit_window_octets,
				loss_slack_octets: TicketParams::default().loss_slack_octets,
			})
		});
		// Collected first: the new keys share the map's prefix with the old ones.
		let receipts: alloc::vec::Vec<_> = v1::Receipts::<T>::drain().collect();
		for ((epoch, consumer, flow), receipt) in receipts {
			reads = reads.saturating_add(1);
			writes = writes.saturating_add(2);
			let key = (epoch, consumer, flow, path_hash(&receipt.path));
			Receipts::<T>::insert(key, RecordedReceipt::vouched_by_all(receipt));
		}
		let unsettled = NextToSettle::<T>::get();
		for (relay, counters) in v1::Counters::<T>::drain() {
			reads = reads.saturating_add(1);
			writes = writes.saturating_add(1);
			if counters.epoch >= unsettled {
				Claimed::<T>::insert(counters.epoch, &relay, false);
				writes = writes.saturating_add(1);
			}
		}
		let rebooted = v1::Rebooted::<T>::drain().count() as u64;
		reads = reads.saturating_add(rebooted);
		writes = writes.saturating_add(rebooted);
		if !SettlementBegun::<T>::get() {
			SettlementStage::<T>::put(Stage::Disputes);
		}
		T::DbWeight::get().reads_writes(reads, writes)
	}

	#[cfg(feature = "try-runtime")]
	fn pre_upgrade() -> Result<Vec<u8>, sp_runtime::TryRuntimeError> {
		let receipts = v1::Receipts::<T>::iter_keys().count() as u32;
		Ok(receipts.encode())
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(state: Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
		let before = u32::decode(&mut &state[..])
			.map_err(|_| sp_runtime::TryRuntimeError::Other("pre_upgrade state"))?;
		// `iter` decodes every entry in the new layout: a receipt left behind would not decode.
		let after = Receipts::<T>::iter().count();
		frame_support::ensure!(after as u32 == before, "a receipt was lost or mistranslated");
		frame_support::ensure!(
			v1::Counters::<T>::iter_keys().next().is_none(),
			"cumulative counters remain"
		);
		frame_support::ensure!(
			v1::Rebooted::<T>::iter_keys().next().is_none(),
			"reboot marks remain"
		);
		frame_support::ensure!(Params::<T>::exists(), "the parameters were lost");
		let params = Params::<T>::get();
		frame_support::ensure!(
			params.is_valid(T::Registry::epoch_length()),
			"the parameters do not decode as valid"
		);
		Ok(())
	}
}

/// [`PerEpochClaims`], run only when the pallet's storage version is 1 (then set to 2).
pub type V1ToV2<T> =
	VersionedMigration<1, 2, PerEpochClaims<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;

/// Version 2 → 3: the parameters gain `loss_slack_octets`, at its production value (1 MiB), so
/// that what a path failing mid-epoch loses in flight no longer disputes its honest ends.
pub struct LossSlack<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for LossSlack<T> {
	fn on_runtime_upgrade() -> Weight {
		let translated = Params::<T>::translate::<v2::TicketParams, _>(|old| old.map(with_slack));
		if translated.is_err() {
			// Neither version 2 nor 3 bytes: the chain read its defaults already; write them
			// down rather than keep bytes every read would complain about.
			frame_support::defensive!(
				"the ticket parameters did not decode in version 2's layout: reset to the defaults"
			);
			Params::<T>::put(TicketParams::default());
		}
		T::DbWeight::get().reads_writes(1, 1)
	}

	#[cfg(feature = "try-runtime")]
	fn pre_upgrade() -> Result<Vec<u8>, sp_runtime::TryRuntimeError> {
		let key = Params::<T>::hashed_key();
		let old = frame_support::storage::unhashed::get::<v2::TicketParams>(&key);
		Ok(old.encode())
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(state: Vec<u8>) -> Result<(), sp_runtime::TryRuntimeError> {
		let old = Option::<v2::TicketParams>::decode(&mut &state[..])
			.map_err(|_| sp_runtime::TryRuntimeError::Other("pre_upgrade state"))?;
		let Some(old) = old else { return Ok(()) };
		frame_support::ensure!(Params::<T>::get() == with_slack(old), "a parameter changed");
		Ok(())
	}
}

/// Version 2's parameters with the production slack.
fn with_slack(old: v2::TicketParams) -> TicketParams {
	TicketParams {
		claim_window: old.claim_window,
		loss_tolerance_ppm: old.loss_tolerance_ppm,
		dispute_counterparties: old.dispute_counterparties,
		dispute_window: old.dispute_window,
		infra_share: old.infra_share,
		restart_grace_epochs: old.restart_grace_epochs,
		min_age_epochs: old.min_age_epochs,
		credit_window_octets: old.credit_window_octets,
		loss_slack_octets: TicketParams::default().loss_slack_octets,
	}
}

/// [`LossSlack`], run only when the pallet's storage version is 2 (then set to 3).
pub type V2ToV3<T> =
	VersionedMigration<2, 3, LossSlack<T>, Pallet<T>, <T as frame_system::Config>::DbWeight>;
