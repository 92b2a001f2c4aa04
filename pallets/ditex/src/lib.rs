//! # pallet-ditex — the Distributed Internet Transit Exchange
//!
//! The market of srwan: who the segment routers are, how they are grouped, how well each
//! segment between them performs, what each charges, and who is quarantined. It also owns the
//! epoch clock that metering (pallet-tickets) counts octets in.
//!
//! ## Overview
//!
//! A router operator calls [`Pallet::register_router`] from the account that will be paid. The
//! account **is** the router id; a [`Config::RouterDeposit`] is put on hold
//! ([`HoldReason::RouterDeposit`]). The chain places the router in the smallest group that is
//! not full ([`GroupMembers`]); the router's agent reads its group from storage and starts
//! pulsing every member.
//!
//! Every report period each router submits its **inbound** row with [`Pallet::report`]: what it
//! measured of every peer's pulses (median one-way delay, RTT, jitter, loss). The segment A→B
//! is what B measured of A. The first report per period is free: it is also the heartbeat.
//!
//! Prices are per GB (10^9 octets). `None` is *infinite*: the router is not for sale, still
//! measured, and carries only its owner's traffic. A price list may add premium windows
//! (weekday mask, minutes, price, promised RTT). Every change takes effect at the **next
//! epoch**, so traffic already carried is never repriced; [`RouterRegistry`](srwan_primitives::traits::RouterRegistry) answers
//! "what did this router charge at the start of epoch e" for settlement.
//!
//! ## Quarantine
//!
//! At every report period boundary the pallet walks the groups, one group per block (bounded
//! work), and quarantines a router that has been silent for `missed_reports_limit` periods or
//! whose segments broke the RTT/loss thresholds on more than half of its fresh segments for
//! `poor_periods` periods. pallet-tickets quarantines through [`Quarantine`](srwan_primitives::traits::Quarantine). Automatic
//! quarantines end after `quarantine_cooldown` clean periods; root's only by root.
//!
//! ## Groups
//!
//! Groups are at most [`Config::MaxGroupSize`] routers. A group opens only when all are full;
//! at each epoch boundary up to [`Config::MaxRebalanceSteps`] moves bring sizes within one of
//! each other and spread countries (see [`groups`]).
//!
//! Metering checks every claim of an epoch against the groups as they stood when the epoch
//! started ([`Membership`], `RouterRegistry::group_at`): a new router measures at once but counts
//! in its group from the next epoch, a move counts from the epoch whose first block made it, and
//! an unregistered router counts through the epoch it left in. Relays therefore never have their
//! peers or paths judged against a membership that changed in the middle of the epoch.
//!
//! ## Invariants (`do_try_state`)
//!
//! - group sizes equal the member lists, members are registered, not unbonding, and in the
//!   group their record names; every non-unbonding router is in its group;
//! - every router's deposit equals its hold;
//! - listings are non-empty and ordered by epoch.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod groups;
pub mod migrations;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod views;
pub mod weights;

pub use types::*;
pub use weights::WeightInfo;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::{collections::BTreeMap, vec::Vec};
	use frame_support::{
		dispatch::{DispatchResultWithPostInfo, Pays},
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, InspectHold, Mutate, MutateHold},
			tokens::Precision,
			UnixTime,
		},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::traits::UniqueSaturatedInto;
	use srwan_primitives::traits::OnRouterRemoved;
	use srwan_primitives::{
		currency::Balance,
		ditex::{
			self as prim, Endpoint, EndpointError, EpochIndex, Geo, GeoError, GroupId,
			PeerMeasurement, PeriodIndex, PremiumWindow, PriceInForce, WindowError,
		},
	};

	/// The storage layout version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(4);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// A router's inbound row as a call argument.
	pub type RowOf<T> = BoundedVec<
		PeerMeasurement<<T as frame_system::Config>::AccountId>,
		<T as Config>::MaxGroupSize,
	>;
	/// Premium windows as a call argument.
	pub type WindowsOf<T> = BoundedVec<PremiumWindow, <T as Config>::MaxPremiumWindows>;

	/// Configuration of the exchange.
	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency deposits are held in.
		type Currency: Inspect<Self::AccountId, Balance = Balance>
			+ Mutate<Self::AccountId>
			+ InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Wall-clock time, to place epochs in premium windows.
		type UnixTime: UnixTime;
		/// Deposit held for each registered router.
		#[pallet::constant]
		type RouterDeposit: Get<Balance>;
		/// Most routers in a group.
		#[pallet::constant]
		type MaxGroupSize: Get<u32>;
		/// Most groups.
		#[pallet::constant]
		type MaxGroups: Get<u32>;
		/// Most premium windows per router.
		#[pallet::constant]
		type MaxPremiumWindows: Get<u32>;
		/// Most rebalancing steps per report period.
		#[pallet::constant]
		type MaxRebalanceSteps: Get<u32>;
		/// Told when a router's record is removed, so that other pallets drop what they keep
		/// about it (pallet-tickets: its counters and disputes).
		type OnRemoved: OnRouterRemoved<Self::AccountId>;
		/// Weights of calls and hooks.
		type WeightInfo: WeightInfo;
	}

	/// Why the pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The deposit of a registered router.
		RouterDeposit,
	}

	/// The exchange's parameters (clocks fixed at genesis, thresholds tunable by root).
	#[pallet::storage]
	pub type Params<T> = StorageValue<_, DitexParams, ValueQuery>;

	/// Registered routers by account.
	#[pallet::storage]
	pub type Routers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, RouterInfo>;

	/// Which router lists each endpoint: one router per endpoint, so no listing can copy
	/// another's address and pass for it (or have relays drop it as ambiguous). Released when
	/// the router's deposit is withdrawn.
	#[pallet::storage]
	pub type EndpointOwners<T: Config> = StorageMap<_, Blake2_128Concat, Endpoint, T::AccountId>;

	/// Which router signs its pulses with each key: one router per pulse key (a copied key
	/// would let one router take credit for another's pulses). Released with the deposit.
	#[pallet::storage]
	pub type PulseKeyOwners<T: Config> = StorageMap<_, Blake2_128Concat, PulseKey, T::AccountId>;

	/// Pulse keys that routers switch to at an epoch's start (see [`NextPulseKey`]). Both the
	/// current and the next key are the router's in [`PulseKeyOwners`]; the current one is
	/// released when the router next registers, or with its deposit.
	#[pallet::storage]
	pub type NextPulseKeys<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, NextPulseKey>;

	/// Number of routers in groups (registered, not unbonding).
	#[pallet::storage]
	pub type RouterCount<T> = StorageValue<_, u32, ValueQuery>;

	/// Price lists per router, oldest first: superseded (kept for settlement), in force, and at
	/// most one scheduled for the next epoch.
	#[pallet::storage]
	pub type Listings<T: Config> = StorageMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		BoundedVec<Listing<T>, MaxListings>,
		ValueQuery,
	>;

	/// The latest inbound row of each router.
	#[pallet::storage]
	pub type Rows<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, Row<T>>;

	/// Members of each group; a member's position is its index in the group's matrix.
	#[pallet::storage]
	pub type GroupMembers<T: Config> = StorageMap<
		_,
		Twox64Concat,
		GroupId,
		BoundedVec<GroupMember<T::AccountId>, T::MaxGroupSize>,
		ValueQuery,
	>;

	/// Size of every group, by group id: one read finds where a new router goes.
	#[pallet::storage]
	pub type GroupSizes<T: Config> = StorageValue<_, BoundedVec<u32, T::MaxGroups>, ValueQuery>;

	/// Set when membership changed; cleared when rebalancing has nothing left to do.
	#[pallet::storage]
	pub type RebalancePending<T> = StorageValue<_, bool, ValueQuery>;

	/// The next group whose health is evaluated for the period that just ended.
	#[pallet::storage]
	pub type HealthCursor<T> = StorageValue<_, GroupId>;

	/// Unix time (ms) of the first block of each recent epoch: what premium windows apply to.
	#[pallet::storage]
	pub type EpochStarts<T> = StorageMap<_, Twox64Concat, EpochIndex, u64>;

	/// The latest report period whose health sweep finished (every group judged). An epoch's
	/// premium verdicts are final once its last period is judged.
	#[pallet::storage]
	pub type JudgedThrough<T> = StorageValue<_, PeriodIndex>;

	/// For each router that sold recent epochs under a premium window, per epoch: judged
	/// periods whose median segment RTT broke the window's promised `max_rtt_us`, and judged
	/// periods. When the breaches are more than half, the epoch is charged at the base price
	/// (or the window's, if lower). Each list keeps the retained epochs only, trimmed as it is
	/// written, so no hook ever has to sweep it; it goes with the router's record.
	#[pallet::storage]
	pub type PremiumRtt<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, PremiumVerdicts, ValueQuery>;

	/// Events of the exchange.
	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A router registered and joined a group.
		RouterRegistered {
			/// The router.
			router: T::AccountId,
			/// Its group.
			group: GroupId,
		},
		/// A registered router changed its endpoint or location (a new pulse key is
		/// [`Event::PulseKeyScheduled`]).
		RouterUpdated {
			/// The router.
			router: T::AccountId,
		},
		/// A router's new pulse key was scheduled: it signs pulses from `from_epoch` on, the
		/// old key until then.
		PulseKeyScheduled {
			/// The router.
			router: T::AccountId,
			/// The first epoch of the new key.
			from_epoch: EpochIndex,
		},
		/// A new price list was scheduled.
		ListingScheduled {
			/// The router.
			router: T::AccountId,
			/// First epoch it applies to.
			from_epoch: EpochIndex,
			/// Base price per GB (`None` = not for sale).
			price_per_gb: Option<Balance>,
			/// Number of premium windows.
			windows: u32,
		},
		/// A router reported its inbound row.
		Reported {
			/// The router.
			router: T::AccountId,
			/// The period.
			period: PeriodIndex,
			/// Peers in the row.
			entries: u32,
		},
		/// A router was quarantined.
		Quarantined {
			/// The router.
			router: T::AccountId,
			/// Why.
			reason: QuarantineReason,
		},
		/// A router left quarantine.
		Released {
			/// The router.
			router: T::AccountId,
		},
		/// A router moved to another group (effective this period).
		Moved {
			/// The router.
			router: T::AccountId,
			/// Old group.
			from: GroupId,
			/// New group.
			to: GroupId,
		},
		/// A router left its group; its deposit is released from block `until`.
		Unregistered {
			/// The router.
			router: T::AccountId,
			/// First block of `withdraw_deposit`.
			until: u32,
		},
		/// An unbonded router's deposit was released and its record removed.
		DepositReleased {
			/// The router.
			router: T::AccountId,
			/// Amount released.
			amount: Balance,
		},
		/// Root changed the thresholds.
		ParamsChanged {
			/// The new parameters.
			params: DitexParams,
		},
	}

	/// Errors of the exchange; each distinct bad input has its own.
	#[pallet::error]
	pub enum Error<T> {
		/// The endpoint is `0.0.0.0` or `::`.
		EndpointUnspecified,
		/// The endpoint is a multicast or broadcast address.
		EndpointMulticast,
		/// The endpoint's port is 0.
		EndpointZeroPort,
		/// The country code is not two upper-case letters.
		InvalidCountry,
		/// ASN 0 or 4294967295 (reserved).
		InvalidAsn,
		/// Latitude outside ±90°.
		InvalidLatitude,
		/// Longitude outside ±180°.
		InvalidLongitude,
		/// The pulse key is all zeros.
		InvalidPulseKey,
		/// A premium window has no weekday or an unknown bit.
		InvalidWeekdays,
		/// A premium window minute is outside `0..1440`.
		InvalidMinute,
		/// A premium window starts where it ends.
		EmptyWindow,
		/// Two premium windows overlap.
		OverlappingWindows,
		/// The account is not a registered router.
		NotRegistered,
		/// The router is unbonding; it cannot act until it withdraws.
		Unbonding,
		/// The router is not unbonding.
		NotUnbonding,
		/// The unbond delay has not passed.
		StillBonding,
		/// Every group is full and no group can be opened.
		NoRoomInGroups,
		/// The report is not for the current period.
		WrongPeriod,
		/// The router already reported this period.
		AlreadyReported,
		/// A peer in the row is not in the router's group.
		PeerNotInGroup,
		/// The row measures the reporter itself.
		SelfMeasurement,
		/// A peer appears twice in the row.
		DuplicatePeer,
		/// The router is already quarantined.
		AlreadyQuarantined,
		/// The router is not quarantined.
		NotQuarantined,
		/// Too many listing changes kept for settlement: try again next epoch.
		TooManyListingChanges,
		/// A quarantined router cannot unregister until it is released (its claims for the
		/// epochs it served would no longer be refused).
		QuarantinedCannotLeave,
		/// Premium windows need a base price: a router not for sale (`None`) sells no window,
		/// so set a price before the windows, or remove the windows before the price.
		WindowsNeedAPrice,
		/// A parameter is zero or a clock was changed.
		InvalidParams,
		/// Another router lists this endpoint.
		EndpointTaken,
		/// Another router signs its pulses with this key.
		PulseKeyTaken,
	}

	/// Genesis: the exchange's parameters.
	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Parameters (DESIGN.md "Parameters").
		pub params: DitexParams,
		#[serde(skip)]
		/// Type marker.
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			assert!(self.params.is_valid(), "ditex genesis parameters must be non-zero");
			Params::<T>::put(self.params);
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(n: BlockNumberFor<T>) -> Weight {
			let block: u32 = n.unique_saturated_into();
			let params = Params::<T>::get();
			// Params, the epoch start read/write in `on_finalize`.
			let mut weight = T::DbWeight::get().reads_writes(2, 2);
			if block > 0 && block.is_multiple_of(params.report_period) {
				HealthCursor::<T>::put(0);
				weight.saturating_accrue(T::DbWeight::get().writes(1));
			}
			// Moves take effect at an epoch's first block only, so that every epoch's claims
			// are checked against one membership (see `Membership`).
			if block > 0 && block.is_multiple_of(params.epoch_length) {
				if RebalancePending::<T>::get() {
					let routers = RouterCount::<T>::get();
					Self::rebalance_step();
					weight.saturating_accrue(T::WeightInfo::rebalance(routers));
				}
				weight.saturating_accrue(T::DbWeight::get().reads(1));
			}
			if let Some(first) = HealthCursor::<T>::get() {
				// Every group is judged within the first `MIN_REPORT_PERIOD` blocks of the next
				// period, so that premium verdicts are final soon after an epoch ends.
				let groups = GroupSizes::<T>::decode_len().unwrap_or(0) as u32;
				let end = first.saturating_add(Self::groups_judged_per_block()).min(groups);
				let period = Self::period_of(block).saturating_sub(1);
				for group in first..end {
					let members = GroupMembers::<T>::decode_len(group).unwrap_or(0) as u32;
					Self::evaluate_group(group, period);
					weight.saturating_accrue(T::WeightInfo::evaluate_group(members));
				}
				if end < groups {
					HealthCursor::<T>::put(end);
				} else {
					HealthCursor::<T>::kill();
					JudgedThrough::<T>::put(period);
				}
				weight.saturating_accrue(T::DbWeight::get().reads_writes(1, 2));
			}
			weight.saturating_add(T::DbWeight::get().reads(1))
		}

		fn integrity_test() {
			// The busiest health block judges this many groups.
			let per_block = Self::groups_judged_per_block();
			let sweep = T::WeightInfo::evaluate_group(T::MaxGroupSize::get())
				.saturating_mul(per_block.into());
			let max_block = <T as frame_system::Config>::BlockWeights::get().max_block;
			// A third: the rest of the block's hooks (tallies, payouts, settlement) must fit
			// beside it; runtime/tests/hook_budget.rs checks the busiest block as a whole.
			assert!(
				sweep.all_lte(max_block.saturating_div(3)),
				"{per_block} group evaluations per block take more than a third of a block"
			);
		}

		fn on_finalize(n: BlockNumberFor<T>) {
			let epoch = Self::epoch_of(n.unique_saturated_into());
			if !EpochStarts::<T>::contains_key(epoch) {
				let now_ms: u64 = T::UnixTime::now().as_millis().unique_saturated_into();
				EpochStarts::<T>::insert(epoch, now_ms);
				if let Some(expired) = epoch.checked_sub(LISTING_RETENTION_EPOCHS + 1) {
					EpochStarts::<T>::remove(expired);
				}
			}
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(_n: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Registers the signer as a router, or updates its endpoint, location, pulse key and
		/// price. A first registration holds [`Config::RouterDeposit`], joins the smallest
		/// group that is not full, and its price applies at once; a re-registration's price
		/// and pulse key apply from the next epoch (its endpoint and location at once). Naming
		/// the current key again cancels a scheduled one.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register_router().max(T::WeightInfo::update_router()))]
		pub fn register_router(
			origin: OriginFor<T>,
			endpoint: Endpoint,
			geo: Geo,
			pulse_key: PulseKey,
			price_per_gb: Option<Balance>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			endpoint.validate().map_err(Error::<T>::from)?;
			geo.validate().map_err(Error::<T>::from)?;
			ensure!(pulse_key != [0; 32], Error::<T>::InvalidPulseKey);
			ensure!(
				EndpointOwners::<T>::get(endpoint).is_none_or(|owner| owner == who),
				Error::<T>::EndpointTaken
			);
			ensure!(
				PulseKeyOwners::<T>::get(pulse_key).is_none_or(|owner| owner == who),
				Error::<T>::PulseKeyTaken
			);

			if let Some(mut info) = Routers::<T>::get(&who) {
				ensure!(!info.status.is_unbonding(), Error::<T>::Unbonding);
				if info.geo.country != geo.country {
					GroupMembers::<T>::mutate(info.group, |members| {
						if let Some(member) = members.iter_mut().find(|m| m.account == who) {
							member.country = geo.country;
						}
					});
					RebalancePending::<T>::put(true);
				}
				if info.endpoint != endpoint {
					EndpointOwners::<T>::remove(info.endpoint);
					EndpointOwners::<T>::insert(endpoint, &who);
				}
				Self::settle_pulse_key(&who, &mut info);
				Self::schedule_pulse_key(&who, &info, pulse_key);
				info.endpoint = endpoint;
				info.geo = geo;
				Routers::<T>::insert(&who, info);
				Self::schedule_listing(&who, Self::current_epoch().saturating_add(1), |l| {
					l.price_per_gb = price_per_gb
				})?;
				Self::deposit_event(Event::RouterUpdated { router: who });
				return Ok(());
			}

			let deposit = T::RouterDeposit::get();
			T::Currency::hold(&HoldReason::RouterDeposit.into(), &who, deposit)?;
			let group = Self::join_group(&who, geo.country)?;
			EndpointOwners::<T>::insert(endpoint, &who);
			PulseKeyOwners::<T>::insert(pulse_key, &who);
			Routers::<T>::insert(
				&who,
				RouterInfo {
					endpoint,
					geo,
					pulse_key,
					group,
					deposit,
					registered_in: Self::current_period(),
					last_report: None,
					previous_report: None,
					status: RouterStatus::Active,
					poor_streak: 0,
					clean_streak: 0,
					registered_epoch: Self::current_epoch(),
					// It measures from now on; it counts in its group (carries metered
					// traffic, vouches for peers) from the next epoch's start.
					membership: Membership {
						since: Self::current_epoch().saturating_add(1),
						previous: None,
						until: None,
					},
				},
			);
			Listings::<T>::remove(&who);
			Self::schedule_listing(&who, Self::current_epoch(), |l| l.price_per_gb = price_per_gb)?;
			Self::deposit_event(Event::RouterRegistered { router: who, group });
			Ok(())
		}

		/// Sets the base price per GB (`None` = not for sale) from the next epoch on.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::set_price())]
		pub fn set_price(origin: OriginFor<T>, price_per_gb: Option<Balance>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::ensure_bonded(&who)?;
			Self::schedule_listing(&who, Self::current_epoch().saturating_add(1), |l| {
				l.price_per_gb = price_per_gb
			})
		}

		/// Replaces the premium windows from the next epoch on; windows may not overlap.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::set_premium_windows(windows.len() as u32))]
		pub fn set_premium_windows(origin: OriginFor<T>, windows: WindowsOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::ensure_bonded(&who)?;
			prim::validate_windows(&windows).map_err(Error::<T>::from)?;
			Self::schedule_listing(&who, Self::current_epoch().saturating_add(1), |l| {
				l.windows = windows
			})
		}

		/// Submits the router's inbound row for the current period: one entry per group peer
		/// it measured. The first valid report per period is free; it is also the heartbeat.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::report(row.len() as u32))]
		pub fn report(
			origin: OriginFor<T>,
			period: PeriodIndex,
			row: RowOf<T>,
		) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let mut info = Routers::<T>::get(&who).ok_or(Error::<T>::NotRegistered)?;
			ensure!(!info.status.is_unbonding(), Error::<T>::Unbonding);
			ensure!(period == Self::current_period(), Error::<T>::WrongPeriod);
			ensure!(info.last_report != Some(period), Error::<T>::AlreadyReported);
			let members = GroupMembers::<T>::get(info.group);
			let mut seen = alloc::collections::BTreeSet::new();
			for entry in row.iter() {
				ensure!(entry.peer != who, Error::<T>::SelfMeasurement);
				ensure!(seen.insert(&entry.peer), Error::<T>::DuplicatePeer);
				ensure!(
					members.iter().any(|m| m.account == entry.peer),
					Error::<T>::PeerNotInGroup
				);
			}
			let entries = row.len() as u32;
			info.previous_report = info.last_report;
			info.last_report = Some(period);
			Routers::<T>::insert(&who, info);
			Rows::<T>::insert(&who, Row { period, entries: row });
			Self::deposit_event(Event::Reported { router: who, period, entries });
			Ok(Pays::No.into())
		}

		/// Root quarantines a router; only root releases it.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::quarantine())]
		pub fn quarantine(origin: OriginFor<T>, router: T::AccountId) -> DispatchResult {
			ensure_root(origin)?;
			Self::do_quarantine(&router, QuarantineReason::Root)
		}

		/// Root releases a quarantined router.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::release())]
		pub fn release(origin: OriginFor<T>, router: T::AccountId) -> DispatchResult {
			ensure_root(origin)?;
			let mut info = Routers::<T>::get(&router).ok_or(Error::<T>::NotRegistered)?;
			ensure!(
				matches!(info.status, RouterStatus::Quarantined { .. }),
				Error::<T>::NotQuarantined
			);
			Self::set_released(&router, &mut info);
			Routers::<T>::insert(&router, info);
			Ok(())
		}

		/// Leaves the group at once; the deposit can be withdrawn after `unbond_delay` blocks
		/// (claims for traffic already carried can still be settled meanwhile).
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::unregister())]
		pub fn unregister(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut info = Routers::<T>::get(&who).ok_or(Error::<T>::NotRegistered)?;
			ensure!(!info.status.is_unbonding(), Error::<T>::Unbonding);
			// Unbonding routers may still claim what they served: a quarantined one would
			// leave its quarantine behind by leaving.
			ensure!(
				!matches!(info.status, RouterStatus::Quarantined { .. }),
				Error::<T>::QuarantinedCannotLeave
			);
			Self::leave_group(&who, info.group);
			Rows::<T>::remove(&who);
			let until = Self::block_number().saturating_add(Params::<T>::get().unbond_delay);
			info.status = RouterStatus::Unbonding { until };
			// It served part of this epoch: its claim for it still counts.
			info.membership.until = Some(Self::current_epoch());
			Routers::<T>::insert(&who, info);
			Self::deposit_event(Event::Unregistered { router: who, until });
			Ok(())
		}

		/// Releases the deposit of an unregistered router once `unbond_delay` has passed and
		/// removes its record.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::withdraw_deposit().saturating_add(T::OnRemoved::weight()))]
		pub fn withdraw_deposit(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let info = Routers::<T>::get(&who).ok_or(Error::<T>::NotRegistered)?;
			let RouterStatus::Unbonding { until } = info.status else {
				return Err(Error::<T>::NotUnbonding.into());
			};
			ensure!(Self::block_number() >= until, Error::<T>::StillBonding);
			let amount = T::Currency::release(
				&HoldReason::RouterDeposit.into(),
				&who,
				info.deposit,
				Precision::BestEffort,
			)?;
			Routers::<T>::remove(&who);
			EndpointOwners::<T>::remove(info.endpoint);
			PulseKeyOwners::<T>::remove(info.pulse_key);
			if let Some(next) = NextPulseKeys::<T>::take(&who) {
				PulseKeyOwners::<T>::remove(next.key);
			}
			Listings::<T>::remove(&who);
			PremiumRtt::<T>::remove(&who);
			T::OnRemoved::on_router_removed(&who);
			Self::deposit_event(Event::DepositReleased { router: who, amount });
			Ok(())
		}

		/// Root tunes the thresholds; the clocks (`epoch_length`, `report_period`) are fixed.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::set_params())]
		pub fn set_params(origin: OriginFor<T>, params: DitexParams) -> DispatchResult {
			ensure_root(origin)?;
			let old = Params::<T>::get();
			ensure!(
				params.is_valid()
					&& params.epoch_length == old.epoch_length
					&& params.report_period == old.report_period,
				Error::<T>::InvalidParams
			);
			Params::<T>::put(params);
			Self::deposit_event(Event::ParamsChanged { params });
			Ok(())
		}
	}

	impl<T: Config> From<EndpointError> for Error<T> {
		fn from(error: EndpointError) -> Self {
			match error {
				EndpointError::Unspecified => Error::EndpointUnspecified,
				EndpointError::Multicast => Error::EndpointMulticast,
				EndpointError::ZeroPort => Error::EndpointZeroPort,
			}
		}
	}

	impl<T: Config> From<GeoError> for Error<T> {
		fn from(error: GeoError) -> Self {
			match error {
				GeoError::Country => Error::InvalidCountry,
				GeoError::Asn => Error::InvalidAsn,
				GeoError::Latitude => Error::InvalidLatitude,
				GeoError::Longitude => Error::InvalidLongitude,
			}
		}
	}

	impl<T: Config> From<WindowError> for Error<T> {
		fn from(error: WindowError) -> Self {
			match error {
				WindowError::Weekdays => Error::InvalidWeekdays,
				WindowError::Minute => Error::InvalidMinute,
				WindowError::Empty => Error::EmptyWindow,
				WindowError::Overlap => Error::OverlappingWindows,
			}
		}
	}

	impl<T: Config> Pallet<T> {
		/// The current block number as `u32`.
		pub fn block_number() -> u32 {
			frame_system::Pallet::<T>::block_number().unique_saturated_into()
		}

		/// The epoch a block belongs to.
		pub fn epoch_of(block: u32) -> EpochIndex {
			block / Params::<T>::get().epoch_length.max(1)
		}

		/// The epoch a report period starts in.
		pub fn epoch_of_period(period: PeriodIndex) -> EpochIndex {
			Self::epoch_of(period.saturating_mul(Params::<T>::get().report_period))
		}

		/// The report period a block belongs to.
		pub fn period_of(block: u32) -> PeriodIndex {
			block / Params::<T>::get().report_period.max(1)
		}

		/// How many groups a block of the health sweep judges: every group within
		/// `MIN_REPORT_PERIOD` blocks.
		pub fn groups_judged_per_block() -> u32 {
			T::MaxGroups::get().div_ceil(MIN_REPORT_PERIOD).max(1)
		}

		/// Whether every report period of `epoch` has been judged, so its premium verdicts
		/// are final.
		pub fn epoch_judged(epoch: EpochIndex) -> bool {
			let params = Params::<T>::get();
			let last_block =
				epoch.saturating_add(1).saturating_mul(params.epoch_length).saturating_sub(1);
			JudgedThrough::<T>::get().is_some_and(|judged| judged >= Self::period_of(last_block))
		}

		/// The current metering epoch.
		pub fn current_epoch() -> EpochIndex {
			Self::epoch_of(Self::block_number())
		}

		/// The current report period.
		pub fn current_period() -> PeriodIndex {
			Self::period_of(Self::block_number())
		}

		fn ensure_bonded(who: &T::AccountId) -> DispatchResult {
			let info = Routers::<T>::get(who).ok_or(Error::<T>::NotRegistered)?;
			ensure!(!info.status.is_unbonding(), Error::<T>::Unbonding);
			Ok(())
		}

		/// The pulse key `who` signs with in `epoch`: its scheduled key once that epoch has come.
		pub fn pulse_key_in(who: &T::AccountId, info: &RouterInfo, epoch: EpochIndex) -> PulseKey {
			match NextPulseKeys::<T>::get(who) {
				Some(next) if next.from_epoch <= epoch => next.key,
				_ => info.pulse_key,
			}
		}

		/// Makes a scheduled pulse key that is in force the router's own (the old key is
		/// released): the router record stays the one place that names the current key.
		fn settle_pulse_key(who: &T::AccountId, info: &mut RouterInfo) {
			let Some(next) = NextPulseKeys::<T>::get(who) else { return };
			if next.from_epoch <= Self::current_epoch() {
				PulseKeyOwners::<T>::remove(info.pulse_key);
				info.pulse_key = next.key;
				NextPulseKeys::<T>::remove(who);
			}
		}

		/// Schedules `key` as the (settled) router's pulse key from the next epoch on: the
		/// current key again cancels a scheduled one, the scheduled one again changes nothing,
		/// and another replaces it (releasing it).
		fn schedule_pulse_key(who: &T::AccountId, info: &RouterInfo, key: PulseKey) {
			let scheduled = NextPulseKeys::<T>::get(who);
			if scheduled.is_some_and(|next| next.key == key) {
				return;
			}
			if let Some(next) = scheduled {
				PulseKeyOwners::<T>::remove(next.key);
				NextPulseKeys::<T>::remove(who);
			}
			if key == info.pulse_key {
				return;
			}
			let from_epoch = Self::current_epoch().saturating_add(1);
			PulseKeyOwners::<T>::insert(key, who);
			NextPulseKeys::<T>::insert(who, NextPulseKey { key, from_epoch });
			Self::deposit_event(Event::PulseKeyScheduled { router: who.clone(), from_epoch });
		}

		/// Schedules a listing derived from the latest one (with `change` applied) from
		/// `from_epoch` on, pruning listings superseded more than the retention ago.
		fn schedule_listing(
			who: &T::AccountId,
			from_epoch: EpochIndex,
			change: impl FnOnce(&mut Listing<T>),
		) -> DispatchResult {
			let now = Self::current_epoch();
			let mut listings = Listings::<T>::get(who);
			let keep_from = now.saturating_sub(LISTING_RETENTION_EPOCHS);
			// Drop a listing once its successor took effect before the retained epochs.
			while listings.len() > 1
				&& listings.get(1).is_some_and(|next| next.from_epoch <= keep_from)
			{
				listings.remove(0);
			}
			let mut listing = listings.last().cloned().unwrap_or(Listing {
				from_epoch,
				price_per_gb: None,
				windows: BoundedVec::new(),
			});
			change(&mut listing);
			ensure!(
				listing.price_per_gb.is_some() || listing.windows.is_empty(),
				Error::<T>::WindowsNeedAPrice
			);
			listing.from_epoch = from_epoch;
			match listings.last_mut() {
				Some(last) if last.from_epoch >= from_epoch => *last = listing.clone(),
				_ => listings
					.try_push(listing.clone())
					.map_err(|_| Error::<T>::TooManyListingChanges)?,
			}
			Listings::<T>::insert(who, listings);
			Self::deposit_event(Event::ListingScheduled {
				router: who.clone(),
				from_epoch,
				price_per_gb: listing.price_per_gb,
				windows: listing.windows.len() as u32,
			});
			Ok(())
		}

		/// The listing in force during `epoch`.
		pub fn listing_at(who: &T::AccountId, epoch: EpochIndex) -> Option<Listing<T>> {
			Listings::<T>::get(who).into_iter().rev().find(|l| l.from_epoch <= epoch)
		}

		/// The price listed for the start of `epoch` (a premium window's if one applied then),
		/// if the epoch's start time is known.
		pub fn listed_price_at_epoch_start(
			who: &T::AccountId,
			epoch: EpochIndex,
		) -> Option<PriceInForce> {
			Self::listing_and_price_at_epoch_start(who, epoch).map(|(_, listed)| listed)
		}

		/// The listing in force during `epoch` and the price it lists for the epoch's start.
		fn listing_and_price_at_epoch_start(
			who: &T::AccountId,
			epoch: EpochIndex,
		) -> Option<(Listing<T>, PriceInForce)> {
			let listing = Self::listing_at(who, epoch)?;
			let start_ms = EpochStarts::<T>::get(epoch)?;
			let listed = prim::price_at(
				listing.price_per_gb,
				&listing.windows,
				prim::minute_of_week(start_ms),
			);
			Some((listing, listed))
		}

		/// The price `epoch` is charged at: the listed one, except that a premium window whose
		/// promised RTT was broken in more than half of the epoch's judged periods falls back
		/// to the lower of the base price and the window's.
		pub fn price_at_epoch_start(who: &T::AccountId, epoch: EpochIndex) -> Option<PriceInForce> {
			let (listing, listed) = Self::listing_and_price_at_epoch_start(who, epoch)?;
			if listed.premium.is_none() {
				return Some(listed);
			}
			let verdicts = PremiumRtt::<T>::get(who);
			let broken = verdicts.iter().find(|v| v.epoch == epoch).is_some_and(|v| v.broken());
			if broken {
				// Never more than the window asked for: a window priced below the base must not
				// turn a broken promise into a dearer hop.
				let price = match (listing.price_per_gb, listed.price_per_gb) {
					(Some(base), Some(window)) => Some(base.min(window)),
					(base, window) => base.or(window),
				};
				return Some(PriceInForce { price_per_gb: price, premium: None });
			}
			Some(listed)
		}

		fn join_group(who: &T::AccountId, country: [u8; 2]) -> Result<GroupId, DispatchError> {
			let mut sizes = GroupSizes::<T>::get();
			let group = match groups::group_for_new_router(&sizes, T::MaxGroupSize::get()) {
				Some(group) => group,
				None => {
					sizes.try_push(0).map_err(|_| Error::<T>::NoRoomInGroups)?;
					sizes.len().saturating_sub(1)
				}
			};
			GroupMembers::<T>::try_mutate(group as GroupId, |members| {
				members.try_push(GroupMember { account: who.clone(), country })
			})
			.map_err(|_| Error::<T>::NoRoomInGroups)?;
			if let Some(size) = sizes.get_mut(group) {
				*size = size.saturating_add(1);
			}
			GroupSizes::<T>::put(sizes);
			RouterCount::<T>::mutate(|n| *n = n.saturating_add(1));
			RebalancePending::<T>::put(true);
			Ok(group as GroupId)
		}

		fn leave_group(who: &T::AccountId, group: GroupId) {
			let mut removed = false;
			GroupMembers::<T>::mutate(group, |members| {
				if let Some(index) = members.iter().position(|m| &m.account == who) {
					members.swap_remove(index);
					removed = true;
				}
			});
			if removed {
				GroupSizes::<T>::mutate(|sizes| {
					if let Some(size) = sizes.get_mut(group as usize) {
						*size = size.saturating_sub(1);
					}
				});
				RouterCount::<T>::mutate(|n| *n = n.saturating_sub(1));
				RebalancePending::<T>::put(true);
			}
		}

		/// One bounded round of rebalancing (see [`groups`]); moves take effect at once, at the
		/// epoch boundary that runs it, and count for metering from that epoch on.
		pub(crate) fn rebalance_step() {
			let count = GroupSizes::<T>::decode_len().unwrap_or(0) as GroupId;
			let mut members: Vec<Vec<GroupMember<T::AccountId>>> =
				(0..count).map(|g| GroupMembers::<T>::get(g).into_inner()).collect();
			let mut countries: groups::Countries =
				members.iter().map(|g| g.iter().map(|m| m.country).collect()).collect();
			let moves = groups::rebalance(&mut countries, T::MaxRebalanceSteps::get());
			if moves.is_empty() {
				RebalancePending::<T>::put(false);
				return;
			}
			let mut touched = alloc::collections::BTreeSet::new();
			let epoch = Self::current_epoch();
			for (from, index, to) in moves {
				let account =
					members.get(from).and_then(|g| g.get(index)).map(|m| m.account.clone());
				groups::apply(&mut members, from, index, to);
				touched.insert(from);
				touched.insert(to);
				if let Some(account) = account {
					Routers::<T>::mutate(&account, |info| {
						if let Some(info) = info {
							info.membership.moved(info.group, epoch);
							info.group = to as GroupId;
						}
					});
					Self::deposit_event(Event::Moved {
						router: account,
						from: from as GroupId,
						to: to as GroupId,
					});
				}
			}
			let mut sizes = GroupSizes::<T>::get();
			for group in touched {
				let list = members.get(group).cloned().unwrap_or_default();
				if let Some(size) = sizes.get_mut(group) {
					*size = list.len() as u32;
				}
				// Rebalancing keeps sizes within the old maximum, so the bound holds.
				let list = BoundedVec::try_from(list).unwrap_or_else(|list| {
					frame_support::defensive!("rebalancing grew a group beyond MaxGroupSize");
					BoundedVec::truncate_from(list)
				});
				GroupMembers::<T>::insert(group as GroupId, list);
			}
			GroupSizes::<T>::put(sizes);
		}

		/// Health of every member of `group` for `period`: silence, poor segments, recovery.
		pub(crate) fn evaluate_group(group: GroupId, period: PeriodIndex) {
			let params = Params::<T>::get();
			let members = GroupMembers::<T>::get(group);
			// (fresh segments, poor segments) about each member, from its peers' rows.
			let mut tally: BTreeMap<T::AccountId, (u32, u32)> = BTreeMap::new();
			// The RTTs of those segments, for members that sold the period under a premium.
			let epoch = Self::epoch_of(period.saturating_mul(params.report_period));
			let mut promised: BTreeMap<T::AccountId, (u32, Vec<u32>)> = members
				.iter()
				.filter_map(|m| {
					let premium = Self::listed_price_at_epoch_start(&m.account, epoch)?.premium;
					premium.map(|(_, max_rtt_us)| (m.account.clone(), (max_rtt_us, Vec::new())))
				})
				.collect();
			for member in members.iter() {
				let Some(row) = Rows::<T>::get(&member.account) else { continue };
				if !row.is_fresh(period, params.stale_after) {
					continue;
				}
				for entry in row.entries.iter() {
					let slot = tally.entry(entry.peer.clone()).or_default();
					slot.0 = slot.0.saturating_add(1);
					if entry.rtt_us > params.max_rtt_us || entry.loss_ppm > params.max_loss_ppm {
						slot.1 = slot.1.saturating_add(1);
					}
					if let Some((_, rtts)) = promised.get_mut(&entry.peer) {
						rtts.push(entry.rtt_us);
					}
				}
			}
			for (router, (max_rtt_us, mut rtts)) in promised {
				if rtts.is_empty() {
					continue;
				}
				rtts.sort_unstable();
				// The lower median: a breach needs a strict majority of its peers' figures.
				let median =
					rtts.get(rtts.len().saturating_sub(1) / 2).copied().unwrap_or_default();
				PremiumRtt::<T>::mutate(&router, |verdicts| {
					verdicts.record(epoch, median > max_rtt_us)
				});
			}
			for member in members.iter() {
				let Some(mut info) = Routers::<T>::get(&member.account) else { continue };
				let (fresh, poor) = tally.get(&member.account).copied().unwrap_or_default();
				let is_poor = fresh > 0 && poor.saturating_mul(2) > fresh;
				info.poor_streak = if is_poor { info.poor_streak.saturating_add(1) } else { 0 };
				let last_seen = info.last_report.unwrap_or(info.registered_in);
				let silent_for = period.saturating_sub(last_seen);
				let reported = info.reported_in(period);
				match info.status {
					RouterStatus::Active => {
						let reason = if silent_for >= params.missed_reports_limit {
							Some(QuarantineReason::Silent)
						} else if info.poor_streak >= params.poor_periods {
							Some(QuarantineReason::Poor)
						} else {
							None
						};
						if let Some(reason) = reason {
							Self::set_quarantined(&member.account, &mut info, reason, period);
						}
					}
					RouterStatus::Quarantined { reason, .. }
						if reason != QuarantineReason::Root =>
					{
						if reported && !is_poor {
							info.clean_streak = info.clean_streak.saturating_add(1);
							if info.clean_streak >= params.quarantine_cooldown {
								Self::set_released(&member.account, &mut info);
							}
						} else {
							info.clean_streak = 0;
						}
					}
					_ => {}
				}
				Routers::<T>::insert(&member.account, info);
			}
		}

		fn set_quarantined(
			who: &T::AccountId,
			info: &mut RouterInfo,
			reason: QuarantineReason,
			since: PeriodIndex,
		) {
			info.status = RouterStatus::Quarantined { reason, since };
			info.clean_streak = 0;
			Self::deposit_event(Event::Quarantined { router: who.clone(), reason });
		}

		fn set_released(who: &T::AccountId, info: &mut RouterInfo) {
			info.status = RouterStatus::Active;
			info.clean_streak = 0;
			info.poor_streak = 0;
			// The silence count restarts: a released router gets a fresh start.
			info.registered_in = Self::current_period();
			info.last_report = None;
			info.previous_report = None;
			Self::deposit_event(Event::Released { router: who.clone() });
		}

		fn do_quarantine(who: &T::AccountId, reason: QuarantineReason) -> DispatchResult {
			let mut info = Routers::<T>::get(who).ok_or(Error::<T>::NotRegistered)?;
			match info.status {
				RouterStatus::Unbonding { .. } => return Err(Error::<T>::Unbonding.into()),
				RouterStatus::Quarantined { .. } => {
					return Err(Error::<T>::AlreadyQuarantined.into())
				}
				RouterStatus::Active => {}
			}
			Self::set_quarantined(who, &mut info, reason, Self::current_period());
			Routers::<T>::insert(who, info);
			Ok(())
		}

		/// Checks the pallet's invariants (see the module docs).
		#[cfg(any(test, feature = "try-runtime"))]
		pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
			let sizes = GroupSizes::<T>::get();
			let mut in_groups = 0u32;
			for (group, size) in sizes.iter().enumerate() {
				let members = GroupMembers::<T>::get(group as GroupId);
				ensure!(members.len() as u32 == *size, "group size differs from its member list");
				for member in members.iter() {
					let info = Routers::<T>::get(&member.account).ok_or("member not registered")?;
					ensure!(info.group == group as GroupId, "member's record names another group");
					ensure!(info.geo.country == member.country, "member's country differs");
					ensure!(!info.status.is_unbonding(), "unbonding router still in a group");
				}
				in_groups = in_groups.saturating_add(*size);
			}
			ensure!(in_groups == RouterCount::<T>::get(), "router count differs from the groups");
			let mut bonded = 0u32;
			for (who, info) in Routers::<T>::iter() {
				let held = T::Currency::balance_on_hold(&HoldReason::RouterDeposit.into(), &who);
				ensure!(held == info.deposit, "deposit differs from the hold");
				let listings = Listings::<T>::get(&who);
				ensure!(!listings.is_empty(), "router without a listing");
				ensure!(
					listings.windows(2).all(|w| w[0].from_epoch < w[1].from_epoch),
					"listings out of order"
				);
				if !info.status.is_unbonding() {
					bonded = bonded.saturating_add(1);
				}
			}
			ensure!(bonded == in_groups, "a bonded router is missing from the groups");
			let mut listed = 0u32;
			for (who, info) in Routers::<T>::iter() {
				ensure!(
					EndpointOwners::<T>::get(info.endpoint).as_ref() == Some(&who),
					"a router's endpoint is not recorded as its own"
				);
				ensure!(
					PulseKeyOwners::<T>::get(info.pulse_key).as_ref() == Some(&who),
					"a router's pulse key is not recorded as its own"
				);
				listed = listed.saturating_add(1);
			}
			let mut next_keys = 0u32;
			for (who, next) in NextPulseKeys::<T>::iter() {
				let info = Routers::<T>::get(&who).ok_or("a next pulse key of no router")?;
				ensure!(next.key != info.pulse_key, "a next pulse key that is the current one");
				ensure!(
					PulseKeyOwners::<T>::get(next.key).as_ref() == Some(&who),
					"a router's next pulse key is not recorded as its own"
				);
				next_keys = next_keys.saturating_add(1);
			}
			ensure!(
				EndpointOwners::<T>::iter_keys().count() as u32 == listed
					&& PulseKeyOwners::<T>::iter_keys().count() as u32
						== listed.saturating_add(next_keys),
				"an endpoint or pulse key is recorded for no router"
			);
			for (router, verdicts) in PremiumRtt::<T>::iter() {
				ensure!(Routers::<T>::contains_key(&router), "premium verdicts of a gone router");
				ensure!(
					verdicts.iter().all(|v| v.breaches <= v.judged),
					"more premium breaches than judged periods"
				);
				ensure!(
					verdicts.windows(2).all(|w| w[0].epoch < w[1].epoch),
					"premium verdicts out of order"
				);
			}
			Ok(())
		}
	}

	impl<T: Config> srwan_primitives::traits::RouterRegistry<T::AccountId> for Pallet<T> {
		fn current_epoch() -> EpochIndex {
			Self::current_epoch()
		}
		fn epoch_length() -> u32 {
			Params::<T>::get().epoch_length
		}
		fn is_registered(router: &T::AccountId) -> bool {
			// Unbonding routers too: they may still claim the epochs they served.
			Routers::<T>::contains_key(router)
		}
		fn is_quarantined(router: &T::AccountId) -> bool {
			Routers::<T>::get(router)
				.is_some_and(|info| matches!(info.status, RouterStatus::Quarantined { .. }))
		}
		fn price_at_epoch_start(router: &T::AccountId, epoch: EpochIndex) -> Option<PriceInForce> {
			Self::price_at_epoch_start(router, epoch)
		}
		fn epoch_judged(epoch: EpochIndex) -> bool {
			Self::epoch_judged(epoch)
		}
		fn group_at(router: &T::AccountId, epoch: EpochIndex) -> Option<GroupId> {
			Routers::<T>::get(router).and_then(|info| info.membership.group_at(info.group, epoch))
		}
		fn registered_epoch(router: &T::AccountId) -> Option<EpochIndex> {
			Routers::<T>::get(router).map(|info| info.registered_epoch)
		}
		fn quarantined_for(router: &T::AccountId, epoch: EpochIndex) -> bool {
			Routers::<T>::get(router).is_some_and(|info| match info.status {
				RouterStatus::Quarantined { since, .. } => Self::epoch_of_period(since) < epoch,
				_ => false,
			})
		}
	}

	impl<T: Config> srwan_primitives::traits::Quarantine<T::AccountId> for Pallet<T> {
		fn quarantine_for_disputes(router: &T::AccountId) -> DispatchResult {
			Self::do_quarantine(router, QuarantineReason::Disputes)
		}
	}
}
