//! Read-only views for the `DitexApi` runtime API: plain data the node turns into JSON.

use crate::{Config, GroupMembers, Listings, Pallet, Params, RouterStatus, Routers, Rows};
use alloc::{collections::BTreeMap, vec::Vec};
use codec::{Decode, Encode};
use scale_info::TypeInfo;
use srwan_primitives::{
	currency::Balance,
	ditex::{
		Endpoint, EpochIndex, Geo, GroupId, PeerMeasurement, PeriodIndex, PremiumWindow,
		PriceInForce,
	},
};

#[cfg(feature = "std")]
fn hex32<S: serde::Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
	let hex: alloc::string::String = bytes.iter().map(|b| format!("{b:02x}")).collect();
	serializer.serialize_str(&format!("0x{hex}"))
}

/// A price list as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct ListingView {
	/// First epoch it applies to.
	pub from_epoch: EpochIndex,
	/// Base price per GB; `None` = not for sale.
	#[cfg_attr(feature = "std", serde(with = "srwan_primitives::serde_balance::option"))]
	pub price_per_gb: Option<Balance>,
	/// Premium windows.
	pub windows: Vec<PremiumWindow>,
}

/// A router as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct RouterView {
	/// Where it receives pulses and data.
	pub endpoint: Endpoint,
	/// Where it is.
	pub geo: Geo,
	/// Its pulse key (ed25519) in force now, as `0x`-hex in JSON.
	#[cfg_attr(feature = "std", serde(serialize_with = "hex32"))]
	pub pulse_key: [u8; 32],
	/// A new pulse key scheduled for a later epoch.
	pub next_pulse_key: Option<NextPulseKeyView>,
	/// Its group.
	pub group: GroupId,
	/// Its index in the group's matrix (`None` while unbonding).
	pub member_index: Option<u16>,
	/// Its deposit.
	#[cfg_attr(feature = "std", serde(with = "srwan_primitives::serde_balance"))]
	pub deposit: Balance,
	/// Active, quarantined or unbonding.
	pub status: RouterStatus,
	/// The latest period it reported in.
	pub last_report: Option<PeriodIndex>,
	/// The price in force now (`None` if this epoch's start is not recorded yet).
	pub price_now: Option<PriceInForce>,
	/// The listing in force and any scheduled one.
	pub listings: Vec<ListingView>,
}

/// A pulse key scheduled to replace a router's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct NextPulseKeyView {
	/// The key, as `0x`-hex in JSON.
	#[cfg_attr(feature = "std", serde(serialize_with = "hex32"))]
	pub key: [u8; 32],
	/// The first epoch it signs pulses in.
	pub from_epoch: EpochIndex,
}

/// One measured segment `from → to` (what `to` reported).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct SegmentView {
	/// Median one-way delay, µs, offset-relative.
	pub owd_us: i32,
	/// RTT, µs.
	pub rtt_us: u32,
	/// Jitter, µs.
	pub jitter_us: u32,
	/// Loss, ppm.
	pub loss_ppm: u32,
	/// Samples.
	pub samples: u32,
	/// Period it was reported in.
	pub period: PeriodIndex,
}

impl SegmentView {
	/// The view of one row entry reported in `period`.
	fn new<AccountId>(entry: &PeerMeasurement<AccountId>, period: PeriodIndex) -> Self {
		Self {
			owd_us: entry.owd_us,
			rtt_us: entry.rtt_us,
			jitter_us: entry.jitter_us,
			loss_ppm: entry.loss_ppm,
			samples: entry.samples,
			period,
		}
	}
}

/// A member of a group's matrix.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct MatrixMember<AccountId> {
	/// The router.
	pub account: AccountId,
	/// Quarantined: skipped by paths.
	pub quarantined: bool,
	/// The price in force now (`None` = not for sale: never transit for others).
	#[cfg_attr(feature = "std", serde(with = "srwan_primitives::serde_balance::option"))]
	pub price_per_gb: Option<Balance>,
}

/// A fresh cell of a group's matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct MatrixCell {
	/// Sender's member index.
	pub from: u16,
	/// Reporter's member index.
	pub to: u16,
	/// The measurement.
	pub segment: SegmentView,
}

/// A group's members and its fresh segments.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct GroupMatrix<AccountId> {
	/// The group.
	pub group: GroupId,
	/// The current period (freshness is relative to it).
	pub period: PeriodIndex,
	/// Members by index.
	pub members: Vec<MatrixMember<AccountId>>,
	/// Fresh segments.
	pub cells: Vec<MatrixCell>,
}

impl<T: Config> Pallet<T> {
	/// The API view of a router.
	pub fn router_view(who: &T::AccountId) -> Option<RouterView> {
		let info = Routers::<T>::get(who)?;
		let member_index = if info.status.is_unbonding() {
			None
		} else {
			GroupMembers::<T>::get(info.group)
				.iter()
				.position(|m| &m.account == who)
				.map(|i| i as u16)
		};
		let now = Self::current_epoch();
		let listings = Listings::<T>::get(who);
		let in_force = listings.iter().rposition(|l| l.from_epoch <= now).unwrap_or(0);
		Some(RouterView {
			endpoint: info.endpoint,
			geo: info.geo,
			pulse_key: Self::pulse_key_in(who, &info, now),
			next_pulse_key: crate::NextPulseKeys::<T>::get(who)
				.filter(|next| next.from_epoch > now)
				.map(|next| NextPulseKeyView { key: next.key, from_epoch: next.from_epoch }),
			group: info.group,
			member_index,
			deposit: info.deposit,
			status: info.status,
			last_report: info.last_report,
			price_now: Self::price_at_epoch_start(who, now),
			listings: listings
				.iter()
				.skip(in_force)
				.map(|l| ListingView {
					from_epoch: l.from_epoch,
					price_per_gb: l.price_per_gb,
					windows: l.windows.to_vec(),
				})
				.collect(),
		})
	}

	/// Accounts of a group's members, by matrix index.
	pub fn group_accounts(group: GroupId) -> Vec<T::AccountId> {
		GroupMembers::<T>::get(group).into_iter().map(|m| m.account).collect()
	}

	/// Segment `from → to` if `to` reported it and the row is fresh.
	pub fn segment(from: &T::AccountId, to: &T::AccountId) -> Option<SegmentView> {
		let row = Rows::<T>::get(to)?;
		if !row.is_fresh(Self::current_period(), Params::<T>::get().stale_after) {
			return None;
		}
		row.entries.iter().find(|e| &e.peer == from).map(|e| SegmentView::new(e, row.period))
	}

	/// A group's matrix: members with their role, and every fresh segment between members.
	pub fn matrix(group: GroupId) -> Option<GroupMatrix<T::AccountId>> {
		let members = GroupMembers::<T>::get(group);
		if members.is_empty() {
			return None;
		}
		let period = Self::current_period();
		let stale_after = Params::<T>::get().stale_after;
		let now = Self::current_epoch();
		// One lookup table rather than a scan of the members for every row entry.
		let index_of: BTreeMap<&T::AccountId, u16> =
			members.iter().enumerate().map(|(i, m)| (&m.account, i as u16)).collect();
		let mut cells = Vec::new();
		let mut view_members = Vec::with_capacity(members.len());
		for (to, member) in members.iter().enumerate() {
			let quarantined = Routers::<T>::get(&member.account)
				.is_none_or(|info| !matches!(info.status, RouterStatus::Active));
			let price = Self::price_at_epoch_start(&member.account, now)
				.map(|p| p.price_per_gb)
				.unwrap_or_else(|| {
					Self::listing_at(&member.account, now).and_then(|l| l.price_per_gb)
				});
			view_members.push(MatrixMember {
				account: member.account.clone(),
				quarantined,
				price_per_gb: price,
			});
			let Some(row) = Rows::<T>::get(&member.account) else { continue };
			if !row.is_fresh(period, stale_after) {
				continue;
			}
			for entry in row.entries.iter() {
				let Some(from) = index_of.get(&entry.peer).copied() else { continue };
				let segment = SegmentView::new(entry, row.period);
				cells.push(MatrixCell { from, to: to as u16, segment });
			}
		}
		Some(GroupMatrix { group, period, members: view_members, cells })
	}
}

/// A path as `ditex_bestPaths` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct PathView<AccountId> {
	/// Routers from ingress to egress.
	pub hops: Vec<AccountId>,
	/// Sum of one-way delays, µs (offset-relative: compare only between the same endpoints).
	pub latency_us: i64,
	/// Sum of segment RTTs, µs.
	pub rtt_us: u64,
	/// End-to-end loss, ppm.
	pub loss_ppm: u32,
	/// Sum of the priced routers' prices per GB (unpriced endpoints carry their owner's
	/// traffic free).
	#[cfg_attr(feature = "std", serde(with = "srwan_primitives::serde_balance"))]
	pub price_per_gb: Balance,
}

/// Why `best_paths` has no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
	/// `src` or `dst` is not in the matrix's group.
	NotInGroup,
	/// `src == dst`.
	SameEndpoints,
	/// `src` or `dst` is quarantined.
	Quarantined,
}

/// Most paths a query returns.
pub const MAX_PATHS: u8 = srwan_primitives::routing::MAX_PATHS;

/// The `k` best loop-free paths `src → dst` inside one group's matrix (at most
/// `max_intermediates` transit routers), fastest first (one-way delay plus a loss penalty),
/// among those whose price per GB is at most `max_price` (the search leaves dearer paths out,
/// so cheap paths are found however many dear ones rank above them). Quarantined routers never
/// appear; unpriced ones only as endpoints.
pub fn best_paths<AccountId: Clone + PartialEq>(
	matrix: &GroupMatrix<AccountId>,
	src: &AccountId,
	dst: &AccountId,
	k: u8,
	max_intermediates: u8,
	max_price: Option<Balance>,
) -> Result<Vec<PathView<AccountId>>, PathError> {
	use srwan_primitives::routing::{self, DenseMatrix, MemberRole, PathQuery, SegmentMetrics};
	let index = |who: &AccountId| matrix.members.iter().position(|m| &m.account == who);
	let (Some(s), Some(d)) = (index(src), index(dst)) else { return Err(PathError::NotInGroup) };
	let mut dense = DenseMatrix::new(matrix.members.len());
	for (i, member) in matrix.members.iter().enumerate() {
		dense.set_role(
			i as u16,
			MemberRole {
				quarantined: member.quarantined,
				sells_transit: member.price_per_gb.is_some(),
			},
		);
		dense.set_price(i as u16, member.price_per_gb.unwrap_or(0));
	}
	for cell in &matrix.cells {
		let metrics = SegmentMetrics {
			owd_us: i64::from(cell.segment.owd_us),
			rtt_us: cell.segment.rtt_us,
			loss_ppm: cell.segment.loss_ppm,
		};
		dense.set(cell.from, cell.to, Some(metrics));
	}
	let query = PathQuery { k, max_intermediates, max_price, ..PathQuery::new(s as u16, d as u16) };
	let paths = routing::best_paths(&dense, query).map_err(|e| match e {
		routing::RoutingError::UnknownMember => PathError::NotInGroup,
		routing::RoutingError::SameEndpoints => PathError::SameEndpoints,
		routing::RoutingError::Quarantined => PathError::Quarantined,
	})?;
	let member = |i: &u16| matrix.members.get(usize::from(*i));
	Ok(paths
		.into_iter()
		.map(|path| PathView {
			price_per_gb: path
				.hops
				.iter()
				.filter_map(|i| member(i).and_then(|m| m.price_per_gb))
				.fold(0, Balance::saturating_add),
			hops: path.hops.iter().filter_map(|i| member(i).map(|m| m.account.clone())).collect(),
			latency_us: path.owd_us,
			rtt_us: path.rtt_us,
			loss_ppm: path.loss_ppm,
		})
		.collect())
}
