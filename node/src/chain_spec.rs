//! Chain specifications: `dev` (Alice alone), `local` (Alice and Bob), `staging` (Alice, Bob,
//! Charlie and Dave: a four-validator network that survives one fault) and `ci` (the dev chain
//! with the shortest clocks, for the test command: `srwan-node --dev --chain ci`).
//!
//! All take their genesis from the runtime's presets, so the runtime stays the single source
//! of truth for genesis state; the node adds only names and token properties.

use sc_service::{ChainType, Properties};
use srwan_primitives::currency::{DECIMALS, SS58_FORMAT, SYMBOL};
use srwan_runtime::{
	genesis_config_presets::{
		CI_RUNTIME_PRESET, DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET, STAGING_RUNTIME_PRESET,
	},
	WASM_BINARY,
};

/// A chain spec of the srwan runtime, with no extensions.
pub type ChainSpec = sc_service::GenericChainSpec;

fn wasm_binary() -> Result<&'static [u8], String> {
	WASM_BINARY.ok_or_else(|| {
		"the runtime's wasm binary is missing: this node was built with SKIP_WASM_BUILD; \
		 rebuild without it"
			.to_string()
	})
}

/// The token properties wallets read: SRW, 12 decimals, SS58 prefix 42.
pub fn token_properties() -> Properties {
	let mut properties = Properties::new();
	properties.insert("tokenSymbol".into(), SYMBOL.into());
	properties.insert("tokenDecimals".into(), DECIMALS.into());
	properties.insert("ss58Format".into(), SS58_FORMAT.into());
	properties
}

/// A spec of the srwan runtime whose genesis is the runtime's preset `preset`.
fn preset_spec(
	name: &str,
	id: &str,
	chain_type: ChainType,
	preset: &str,
) -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(wasm_binary()?, None)
		.with_name(name)
		.with_id(id)
		.with_chain_type(chain_type)
		.with_genesis_config_preset_name(preset)
		.with_properties(token_properties())
		.build())
}

/// `--dev`: a single validator (Alice) that authors and finalizes on its own.
pub fn development_chain_spec() -> Result<ChainSpec, String> {
	preset_spec("srwan development", "srwan_dev", ChainType::Development, DEV_RUNTIME_PRESET)
}

/// `--chain local`: two validators, Alice and Bob; both are needed for GRANDPA finality.
pub fn local_chain_spec() -> Result<ChainSpec, String> {
	preset_spec(
		"srwan local testnet",
		"srwan_local",
		ChainType::Local,
		LOCAL_TESTNET_RUNTIME_PRESET,
	)
}

/// `--chain staging`: four validators, Alice, Bob, Charlie and Dave; any three finalize. A
/// real deployment exports it (`build-spec --chain staging`) and puts its own keys in.
pub fn staging_chain_spec() -> Result<ChainSpec, String> {
	preset_spec("srwan staging", "srwan_staging", ChainType::Live, STAGING_RUNTIME_PRESET)
}

/// `--dev --chain ci`: the dev chain with 4-block epochs, a 2-block claim window and the
/// other short clocks of the runtime's `ci` preset, so that tests wait less for chain time.
pub fn ci_chain_spec() -> Result<ChainSpec, String> {
	preset_spec("srwan ci", "srwan_ci", ChainType::Development, CI_RUNTIME_PRESET)
}
