//! Whether the interface this agent was generated with (`metadata/srwan.scale`) still matches
//! the chain's runtime for everything the agent uses: its calls, the storage it reads and the
//! runtime APIs it calls. Checked when the agent connects and after every runtime upgrade, so
//! an outdated agent stops with one clear message instead of failing every extrinsic (pallets
//! give a changed call a new call index, so an upgrade that only adds calls keeps it working).

use super::{
	srwan::{
		self,
		runtime_types::{
			bounded_collections::bounded_vec::BoundedVec,
			srwan_primitives::{
				ditex::{Endpoint, Geo},
				receipts::Claim,
			},
		},
	},
	ChainConfig,
};
use subxt::{
	client::{ClientAtBlock, OnlineClientAtBlockImpl},
	utils::AccountId32,
};

/// A block's view of the chain.
pub type AtBlock = ClientAtBlock<ChainConfig, OnlineClientAtBlockImpl<ChainConfig>>;

/// `Ok` when every call, storage entry and runtime API the agent uses has the shape it was
/// generated with at `at`; otherwise which one differs.
pub fn check(at: &AtBlock) -> Result<(), String> {
	let tx = at.transactions();
	let ditex = srwan::transactions().ditex();
	let escrow = srwan::transactions().escrow();
	let geo = || Geo { country: *b"DE", asn: 0, lat: 0, lon: 0 };
	let endpoint = || Endpoint::V4 { ip: [0; 4], port: 0 };
	let claim = Claim {
		epoch: 0,
		restarted: false,
		peers: BoundedVec(Vec::new()),
		receipts: BoundedVec(Vec::new()),
	};
	let calls: [(&str, Result<(), subxt::error::ExtrinsicError>); 10] = [
		(
			"ditex.register_router",
			tx.validate(&ditex.register_router(endpoint(), geo(), [0; 32], None)),
		),
		("ditex.set_price", tx.validate(&ditex.set_price(None))),
		("ditex.unregister", tx.validate(&ditex.unregister())),
		("ditex.report", tx.validate(&ditex.report(0, BoundedVec(Vec::new())))),
		("tickets.claim", tx.validate(&srwan::transactions().tickets().claim(claim))),
		("escrow.deposit", tx.validate(&escrow.deposit(0))),
		("escrow.request_withdraw", tx.validate(&escrow.request_withdraw(0))),
		("escrow.withdraw", tx.validate(&escrow.withdraw())),
		("escrow.set_spending_cap", tx.validate(&escrow.set_spending_cap(None))),
		("escrow.set_receipt_key", tx.validate(&escrow.set_receipt_key(None))),
	];
	for (name, result) in calls {
		result.map_err(|error| format!("call {name}: {error}"))?;
	}
	let storage = at.storage();
	let entries: [(&str, Result<(), subxt::error::StorageError>); 6] = [
		("Ditex.Params", storage.validate(srwan::storage().ditex().params())),
		("Ditex.Routers", storage.validate(srwan::storage().ditex().routers())),
		("Ditex.NextPulseKeys", storage.validate(srwan::storage().ditex().next_pulse_keys())),
		("Ditex.Listings", storage.validate(srwan::storage().ditex().listings())),
		("Tickets.Claimed", storage.validate(srwan::storage().tickets().claimed())),
		("Escrow.Accounts", storage.validate(srwan::storage().escrow().accounts())),
	];
	for (name, result) in entries {
		result.map_err(|error| format!("storage {name}: {error}"))?;
	}
	let apis = at.runtime_apis();
	let ditex_api = srwan::runtime_apis().ditex_api();
	let metering = srwan::runtime_apis().metering_api();
	let nobody = AccountId32([0; 32]);
	let methods: [(&str, Result<(), subxt::error::RuntimeApiError>); 4] = [
		("DitexApi.router", apis.validate(ditex_api.router(nobody))),
		("DitexApi.group_members", apis.validate(ditex_api.group_members(0))),
		("MeteringApi.escrow_available", apis.validate(metering.escrow_available(nobody, 0))),
		("MeteringApi.min_escrow", apis.validate(metering.min_escrow())),
	];
	for (name, result) in methods {
		result.map_err(|error| format!("runtime API {name}: {error}"))?;
	}
	Ok(())
}

/// The message an outdated agent stops with.
pub fn too_old(spec_version: u32, what: &str) -> String {
	format!(
		"this srwan-relay is too old for the chain's runtime (spec {spec_version}): {what} changed; \
		 install the srwan-relay built for spec {spec_version} or later"
	)
}
