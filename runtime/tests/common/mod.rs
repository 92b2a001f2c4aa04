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
