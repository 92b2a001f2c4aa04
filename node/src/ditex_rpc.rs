//! `ditex_*` JSON-RPC methods: the exchange's data from the `DitexApi` runtime API, and
//! `ditex_bestPaths`, computed here in the node with `srwan_primitives::routing` so that a
//! better algorithm needs no runtime upgrade. Balances are decimal strings.

use jsonrpsee::{core::RpcResult, proc_macros::rpc, types::ErrorObjectOwned};
use pallet_ditex::views::{self, GroupMatrix, PathError, PathView, RouterView, SegmentView};
use pallet_ditex_runtime_api::DitexApi as DitexRuntimeApi;
use sp_api::ProvideRuntimeApi;
use sp_blockchain::HeaderBackend;
use sp_runtime::traits::Block as BlockT;
use srwan_primitives::{currency::Balance, ditex::GroupId, routing::MAX_INTERMEDIATES};
use srwan_runtime::{opaque::Block, AccountId};
use std::{marker::PhantomData, sync::Arc};

/// Error codes of the `ditex_*` methods.
pub mod codes {
	/// The runtime API call failed.
	pub const RUNTIME: i32 = 9000;
	/// An account is not a registered router.
	pub const UNKNOWN_ROUTER: i32 = 9001;
	/// Source and destination are in different groups (v1 paths stay inside one group).
	pub const DIFFERENT_GROUPS: i32 = 9002;
	/// Source equals destination.
	pub const SAME_ENDPOINTS: i32 = 9003;
	/// Source or destination is quarantined.
	pub const QUARANTINED: i32 = 9004;
	/// A parameter is malformed or out of range.
	pub const INVALID_PARAM: i32 = 9005;
}

fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
	ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

/// The `ditex` RPC namespace.
#[rpc(server, namespace = "ditex")]
pub trait DitexRpc<BlockHash> {
	/// A router's registration, status, price in force and listings; `null` if unknown.
	#[method(name = "router", blocking)]
	fn router(&self, who: AccountId, at: Option<BlockHash>) -> RpcResult<Option<RouterView>>;

	/// A group's members, by matrix index.
	#[method(name = "groupMembers", blocking)]
	fn group_members(&self, group: GroupId, at: Option<BlockHash>) -> RpcResult<Vec<AccountId>>;

	/// Segment `from → to` as `to` measured it; `null` if not measured or stale.
	#[method(name = "segment", blocking)]
	fn segment(
		&self,
		from: AccountId,
		to: AccountId,
		at: Option<BlockHash>,
	) -> RpcResult<Option<SegmentView>>;

	/// A group's members (role, price) and fresh segments; `null` for an empty group.
	#[method(name = "matrix", blocking)]
	fn matrix(
		&self,
		group: GroupId,
		at: Option<BlockHash>,
	) -> RpcResult<Option<GroupMatrix<AccountId>>>;

	/// The `k` (default 1, at most 16) best loop-free paths `src → dst` with at most
	/// `maxHops` (default 2, at most 4) intermediates, fastest first (one-way delay plus a
	/// loss penalty), among the paths priced at most `maxPrice` per GB (a decimal string) if
	/// given.
	#[method(name = "bestPaths", blocking)]
	fn best_paths(
		&self,
		src: AccountId,
		dst: AccountId,
		k: Option<u8>,
		max_price: Option<String>,
		max_hops: Option<u8>,
		at: Option<BlockHash>,
	) -> RpcResult<Vec<PathView<AccountId>>>;
}

/// Serves `ditex_*` from a client's runtime API.
pub struct Ditex<C, B> {
	client: Arc<C>,
	_block: PhantomData<B>,
}

impl<C, B> Ditex<C, B> {
	/// Methods over `client`.
	pub fn new(client: Arc<C>) -> Self {
		Self { client, _block: PhantomData }
	}
}

impl<C> Ditex<C, Block>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: DitexRuntimeApi<Block, AccountId>,
{
	fn call<R>(
		&self,
		at: Option<<Block as BlockT>::Hash>,
		f: impl FnOnce(
			&<C as ProvideRuntimeApi<Block>>::Api,
			<Block as BlockT>::Hash,
		) -> Result<R, sp_api::ApiError>,
	) -> RpcResult<R> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		let api = self.client.runtime_api();
		f(&api, at).map_err(|e| error(codes::RUNTIME, format!("DitexApi call failed: {e}")))
	}
}

impl<C> DitexRpcServer<<Block as BlockT>::Hash> for Ditex<C, Block>
where
	C: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	C::Api: DitexRuntimeApi<Block, AccountId>,
{
	fn router(
		&self,
		who: AccountId,
		at: Option<<Block as BlockT>::Hash>,
	) -> RpcResult<Option<RouterView>> {
		self.call(at, |api, at| api.router(at, who))
	}

	fn group_members(
		&self,
		group: GroupId,
		at: Option<<Block as BlockT>::Hash>,
	) -> RpcResult<Vec<AccountId>> {
		self.call(at, |api, at| api.group_members(at, group))
	}

	fn segment(
		&self,
		from: AccountId,
		to: AccountId,
		at: Option<<Block as BlockT>::Hash>,
	) -> RpcResult<Option<SegmentView>> {
		self.call(at, |api, at| api.segment(at, from, to))
	}

	fn matrix(
		&self,
		group: GroupId,
		at: Option<<Block as BlockT>::Hash>,
	) -> RpcResult<Option<GroupMatrix<AccountId>>> {
		self.call(at, |api, at| api.matrix(at, group))
	}

	fn best_paths(
		&self,
		src: AccountId,
		dst: AccountId,
		k: Option<u8>,
		max_price: Option<String>,
		max_hops: Option<u8>,
		at: Option<<Block as BlockT>::Hash>,
	) -> RpcResult<Vec<PathView<AccountId>>> {
		let k = k.unwrap_or(1);
		if !(1..=views::MAX_PATHS).contains(&k) {
			return Err(error(codes::INVALID_PARAM, format!("k must be 1..={}", views::MAX_PATHS)));
		}
		let max_hops = max_hops.unwrap_or(2);
		if max_hops > MAX_INTERMEDIATES {
			return Err(error(
				codes::INVALID_PARAM,
				format!("maxHops must be 0..={MAX_INTERMEDIATES}"),
			));
		}
		let max_price = max_price.map(|p| p.parse::<Balance>()).transpose().map_err(|_| {
			error(codes::INVALID_PARAM, "maxPrice must be a decimal string of a u128")
		})?;
		let at = Some(at.unwrap_or_else(|| self.client.info().best_hash));
		let group_of = |who: &AccountId| -> RpcResult<GroupId> {
			let view = self.call(at, |api, at| api.router(at, who.clone()))?;
			match view {
				Some(view) if view.member_index.is_some() => Ok(view.group),
				_ => Err(error(
					codes::UNKNOWN_ROUTER,
					format!("UnknownRouter: {who} is not a router in a group"),
				)),
			}
		};
		let (src_group, dst_group) = (group_of(&src)?, group_of(&dst)?);
		if src_group != dst_group {
			return Err(error(
				codes::DIFFERENT_GROUPS,
				format!("DifferentGroups: source is in group {src_group}, destination in group {dst_group}; paths between groups are not supported yet"),
			));
		}
		let matrix = self
			.call(at, |api, at| api.matrix(at, src_group))?
			.ok_or_else(|| error(codes::UNKNOWN_ROUTER, "UnknownRouter: the group is empty"))?;
		views::best_paths(&matrix, &src, &dst, k, max_hops, max_price).map_err(|e| match e {
			PathError::NotInGroup => {
				error(codes::UNKNOWN_ROUTER, "UnknownRouter: not in the group's matrix")
			}
			PathError::SameEndpoints => {
				error(codes::SAME_ENDPOINTS, "SameEndpoints: src equals dst")
			}
			PathError::Quarantined => {
				error(codes::QUARANTINED, "Quarantined: src or dst is quarantined")
			}
		})
	}
}
