//! The `DitexApi` runtime API: what the node's `ditex_*` RPC and wallets (`api.call.ditexApi`)
//! read from the exchange. It returns data only; path computation happens natively in the node
//! (`pallet_ditex::views::best_paths`), so better algorithms need no runtime upgrade.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
pub use pallet_ditex::views::{GroupMatrix, RouterView, SegmentView};
use srwan_primitives::ditex::GroupId;

sp_api::decl_runtime_apis! {
	/// Read access to the DITEX.
	pub trait DitexApi<AccountId> where AccountId: Codec {
		/// A router's registration, status, price now and listings.
		fn router(who: AccountId) -> Option<RouterView>;
		/// A group's members by matrix index.
		fn group_members(group: GroupId) -> Vec<AccountId>;
		/// Segment `from → to` as `to` measured it, if fresh.
		fn segment(from: AccountId, to: AccountId) -> Option<SegmentView>;
		/// A group's members (with role and price) and its fresh segments.
		fn matrix(group: GroupId) -> Option<GroupMatrix<AccountId>>;
	}
}
