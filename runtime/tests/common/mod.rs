//! Shared by the runtime's integration tests: genesis state built from a preset exactly as the
//! node builds it (the preset is a JSON patch over the default config).

/// Applies a JSON patch (as the node does with a preset) onto `base`.
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
	match (base, patch) {
		(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
			for (key, value) in patch {
				merge(base.entry(key).or_insert(serde_json::Value::Null), value);
			}
		}
		(base, patch) => *base = patch,
	}
}

/// Externalities holding the genesis state of `preset` (`development` or `local_testnet`).
pub fn externalities(preset: &str) -> sp_io::TestExternalities {
	use srwan_runtime::{genesis_config_presets::get_preset, RuntimeGenesisConfig};
	let patch = get_preset(&preset.into()).expect("the preset exists");
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).unwrap();
	merge(&mut config, serde_json::from_slice(&patch).unwrap());
	let mut ext = sp_io::TestExternalities::new_empty();
	ext.execute_with(|| {
		frame_support::genesis_builder_helper::build_state::<RuntimeGenesisConfig>(
			serde_json::to_vec(&config).unwrap(),
		)
		.expect("the preset builds a genesis state")
	});
	ext
}

/// Runs blocks up to `n` with the hooks that matter to metering: the exchange records each
/// epoch's start time when it finalizes its first block; tickets settle in `on_initialize`.
/// Returns what the tickets hook used in each block.
#[allow(dead_code)] // not every test binary runs blocks
pub fn run_to(n: u32) -> Vec<frame_support::weights::Weight> {
	use frame_support::traits::Hooks;
	use srwan_runtime::{Ditex, Runtime, System, Tickets};
	let mut settled = Vec::new();
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		// Straight into storage: `Timestamp::set` would also drive Aura's slot checks.
		pallet_timestamp::Now::<Runtime>::put(1_767_225_600_000 + u64::from(next) * 6_000);
		Ditex::on_initialize(next);
		settled.push(Tickets::on_initialize(next));
		Ditex::on_finalize(next);
	}
	settled
}

/// Registers `router` in the exchange at 1 SRW per GB, at the test address `198.51.100.{last}`
/// (its pulse key `[last; 32]`).
#[allow(dead_code)] // not every test binary registers routers
pub fn register(router: &sp_runtime::AccountId32, last: u8) {
	use srwan_primitives::ditex::{Endpoint, Geo};
	use srwan_runtime::{Ditex, RuntimeOrigin, SRW};
	Ditex::register_router(
		RuntimeOrigin::signed(router.clone()),
		Endpoint::V4 { ip: [198, 51, 100, last], port: 4500 },
		Geo { country: *b"DE", asn: 3320, lat: 52_5200, lon: 13_4050 },
		[last; 32],
		Some(SRW),
	)
	.expect("router registers");
}
