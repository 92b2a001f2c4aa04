//! What the pallet stores about routers, their listings and the exchange's parameters.

use crate::Config;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	pallet_prelude::ConstU32, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use scale_info::TypeInfo;
use srwan_primitives::{
	currency::Balance,
	ditex::{Endpoint, EpochIndex, Geo, GroupId, PeerMeasurement, PeriodIndex, PremiumWindow},
};

/// An ed25519 public key that signs a router's pulses.
pub type PulseKey = [u8; 32];

/// Tunable parameters of the exchange, set at genesis and (except the clocks) by root.
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
)]
// Always serde: the genesis config (built in wasm too) carries it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct DitexParams {
	/// Blocks per metering epoch. Fixed at genesis: epochs number the metering history.
	pub epoch_length: u32,
	/// Blocks per report period. Fixed at genesis.
	pub report_period: u32,
	/// Rows older than this many periods are ignored.
	pub stale_after: u32,
	/// A router that misses this many periods in a row is quarantined.
	pub missed_reports_limit: u32,
	/// A router whose segments are poor for this many periods in a row is quarantined.
	pub poor_periods: u32,
	/// Clean periods after which an automatic quarantine ends.
	pub quarantine_cooldown: u32,
	/// A segment with a larger RTT (µs) is poor.
	pub max_rtt_us: u32,
	/// A segment with more loss (ppm) is poor.
	pub max_loss_ppm: u32,
	/// Blocks between `unregister` and the release of the deposit.
	pub unbond_delay: u32,
}

impl Default for DitexParams {
	/// The production values of DESIGN.md ("Parameters").
	fn default() -> Self {
		Self {
			epoch_length: 100,
			report_period: 100,
			stale_after: 3,
			missed_reports_limit: 3,
			poor_periods: 3,
			quarantine_cooldown: 3,
			max_rtt_us: 500_000,
			max_loss_ppm: 50_000,
			unbond_delay: 14_400,
		}
	}
}

/// The shortest report period: every group's health is evaluated within the period after the
/// one it judges, at most `MaxGroups / MIN_REPORT_PERIOD` groups per block (the pallet's
/// `integrity_test` checks that this fits in a block).
pub const MIN_REPORT_PERIOD: u32 = 4;

impl DitexParams {
	/// Whether every field is usable (clocks and limits non-zero, the report period at least
	/// [`MIN_REPORT_PERIOD`]).
	pub fn is_valid(&self) -> bool {
		self.report_period >= MIN_REPORT_PERIOD
			// A router that leaves waits for the epoch it left to end and for that epoch's
			// claims (a claim window is at most an epoch) before its record can go.
			&& self.unbond_delay >= self.epoch_length.saturating_mul(2)
			&& [
				self.epoch_length,
				self.report_period,
				self.stale_after,
				self.missed_reports_limit,
				self.poor_periods,
				self.quarantine_cooldown,
				// Zero would make every measured segment poor and quarantine everyone.
				self.max_rtt_us,
				self.max_loss_ppm,
			]
			.iter()
			.all(|v| *v > 0)
	}
}

/// Why a router is quarantined.
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
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub enum QuarantineReason {
	/// It stopped reporting for `missed_reports_limit` periods.
	Silent,
	/// Its segments broke the RTT/loss thresholds for `poor_periods` periods.
	Poor,
	/// Its octet counts disagreed with several distinct counterparties (pallet-tickets).
	Disputes,
	/// Root decided (released only by root).
	Root,
}

/// Where a router stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub enum RouterStatus {
	/// In its group, usable for paths and payouts.
	Active,
	/// In its group and measured, but skipped by paths and payouts.
	Quarantined {
		/// Why.
		reason: QuarantineReason,
		/// Period in which it began.
		since: PeriodIndex,
	},
	/// Left its group; the deposit is released from block `until`.
	Unbonding {
		/// First block at which `withdraw_deposit` succeeds.
		until: u32,
	},
}

impl RouterInfo {
	/// Whether it reported in `period` (its latest report or the one before).
	pub fn reported_in(&self, period: PeriodIndex) -> bool {
		self.last_report == Some(period) || self.previous_report == Some(period)
	}
}

impl RouterStatus {
	/// Whether the router left its group and waits for its deposit.
	pub fn is_unbonding(&self) -> bool {
		matches!(self, RouterStatus::Unbonding { .. })
	}
}

/// A pulse key that replaces a router's own from an epoch's first block on. Relays of a group
/// read its members' keys at each epoch's start, so both ends of every link switch to the new
/// key together; a key changed at once would cut the router off its group until then.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct NextPulseKey {
	/// The new key.
	pub key: PulseKey,
	/// The first epoch it signs pulses in.
	pub from_epoch: EpochIndex,
}

/// A registered router.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct RouterInfo {
	/// Where peers send pulses and data.
	pub endpoint: Endpoint,
	/// Where it is.
	pub geo: Geo,
	/// The ed25519 key that signs its pulses.
	pub pulse_key: PulseKey,
	/// Its group (meaningless while unbonding).
	pub group: GroupId,
	/// The deposit held for it.
	pub deposit: Balance,
	/// Period of its (latest) registration: the start of its silence count.
	pub registered_in: PeriodIndex,
	/// The latest period it reported in.
	pub last_report: Option<PeriodIndex>,
	/// The period of the report before that. A group's health for period p is evaluated in
	/// the blocks after p ends, when a prompt router may already have reported p + 1: this
	/// keeps its report for p in view.
	pub previous_report: Option<PeriodIndex>,
	/// Active, quarantined or unbonding.
	pub status: RouterStatus,
	/// Consecutive evaluated periods with poor segments.
	pub poor_streak: u32,
	/// Consecutive clean periods while automatically quarantined.
	pub clean_streak: u32,
	/// The epoch of its registration (never reset: a release from quarantine keeps it), from
	/// which its age counts when its disputes are weighed against others.
	pub registered_epoch: EpochIndex,
	/// Which group it counted in for each epoch that metering may still check.
	pub membership: Membership,
}

/// A router's group membership by epoch, as metering needs it: claims of an epoch are checked
/// against the groups as they stood when the epoch started, and moves between groups happen
/// only at an epoch's first block, so one earlier group is all an open claim window can ask
/// about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct Membership {
	/// The first epoch it counts in its current group for: the epoch after its registration,
	/// or the epoch whose first block moved it.
	pub since: EpochIndex,
	/// The group before its last move, and the first epoch it counted there.
	pub previous: Option<(GroupId, EpochIndex)>,
	/// Once unregistered: the last epoch it counts for (the one it left in).
	pub until: Option<EpochIndex>,
}

impl Membership {
	/// The group it counted in for `epoch`, given its current `group`.
	pub fn group_at(&self, group: GroupId, epoch: EpochIndex) -> Option<GroupId> {
		if self.until.is_some_and(|until| epoch > until) {
			return None;
		}
		if epoch >= self.since {
			return Some(group);
		}
		self.previous.filter(|(_, since)| epoch >= *since).map(|(previous, _)| previous)
	}

	/// Records a move out of `group` (its current one) that counts from `epoch`. A second move
	/// in the same epoch keeps the group it counted in before the first.
	pub fn moved(&mut self, group: GroupId, epoch: EpochIndex) {
		if self.since < epoch {
			self.previous = Some((group, self.since));
		}
		self.since = self.since.max(epoch);
	}
}

/// A price list that takes effect from an epoch on.
#[derive(
	CloneNoBound, DebugNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(T))]
pub struct Listing<T: Config> {
	/// First epoch the listing applies to.
	pub from_epoch: EpochIndex,
	/// Base price per GB; `None` = infinite (not for sale).
	pub price_per_gb: Option<Balance>,
	/// Premium windows, non-overlapping.
	pub windows: BoundedVec<PremiumWindow, T::MaxPremiumWindows>,
}

/// One epoch's premium-RTT verdict for a router.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct PremiumVerdict {
	/// The epoch sold under a premium window.
	pub epoch: EpochIndex,
	/// Judged periods whose median RTT broke the window's promise.
	pub breaches: u32,
	/// Judged periods.
	pub judged: u32,
}

impl PremiumVerdict {
	/// Whether the promise was broken in more than half of the judged periods.
	pub fn broken(&self) -> bool {
		self.judged > 0 && self.breaches.saturating_mul(2) > self.judged
	}
}

/// A router's verdicts for the epochs whose prices settlement may still need.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct PremiumVerdicts(
	pub BoundedVec<PremiumVerdict, ConstU32<{ LISTING_RETENTION_EPOCHS + 1 }>>,
);

impl core::ops::Deref for PremiumVerdicts {
	type Target = [PremiumVerdict];
	fn deref(&self) -> &Self::Target {
		&self.0
	}
}

impl PremiumVerdicts {
	/// Records one judged period of `epoch`, dropping epochs older than the retention.
	pub fn record(&mut self, epoch: EpochIndex, breached: bool) {
		let oldest = epoch.saturating_sub(LISTING_RETENTION_EPOCHS);
		self.0.retain(|v| v.epoch >= oldest);
		let index = match self.0.iter().position(|v| v.epoch == epoch) {
			Some(index) => index,
			None => {
				if self.0.is_full() {
					self.0.remove(0);
				}
				// Periods are judged in order, so a new epoch is the latest.
				if self.0.try_push(PremiumVerdict { epoch, ..Default::default() }).is_err() {
					return;
				}
				self.0.len().saturating_sub(1)
			}
		};
		if let Some(verdict) = self.0.get_mut(index) {
			verdict.breaches = verdict.breaches.saturating_add(u32::from(breached));
			verdict.judged = verdict.judged.saturating_add(1);
		}
	}
}

/// Listings kept per router: the one in force, one scheduled, and those superseded within
/// [`LISTING_RETENTION_EPOCHS`] (settlement of past epochs still needs their prices).
pub type MaxListings = ConstU32<{ LISTING_RETENTION_EPOCHS + 2 }>;
/// Epochs for which a superseded listing still answers price queries.
pub const LISTING_RETENTION_EPOCHS: u32 = 6;

/// A group member as the group stores it: its account and its country, so that rebalancing
/// reads one value per group rather than one per router.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, TypeInfo)]
pub struct GroupMember<AccountId> {
	/// The router.
	pub account: AccountId,
	/// Its country code.
	pub country: [u8; 2],
}

/// A router's latest inbound row.
#[derive(
	CloneNoBound, DebugNoBound, PartialEqNoBound, EqNoBound, Encode, Decode, MaxEncodedLen, TypeInfo,
)]
#[scale_info(skip_type_params(T))]
pub struct Row<T: Config> {
	/// The period it was reported in.
	pub period: PeriodIndex,
	/// One entry per measured peer.
	pub entries: BoundedVec<PeerMeasurement<T::AccountId>, T::MaxGroupSize>,
}

impl<T: Config> Row<T> {
	/// Whether the row still counts in `period`: rows older than `stale_after` periods do not.
	pub fn is_fresh(&self, period: PeriodIndex, stale_after: u32) -> bool {
		self.period.saturating_add(stale_after) >= period
	}
}
