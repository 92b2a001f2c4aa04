//! The `srwan-node` binary as an operator meets it: `--help`, chain specs, key tools and the
//! hardware benchmark.

use std::process::Command;

fn node() -> Command {
	Command::new(env!("CARGO_BIN_EXE_srwan-node"))
}

fn run_ok(args: &[&str]) -> String {
	let out = node().args(args).output().expect("srwan-node runs");
	assert!(
		out.status.success(),
		"srwan-node {args:?} failed: {}\n{}",
		out.status,
		String::from_utf8_lossy(&out.stderr)
	);
	String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_lists_the_standard_subcommands() {
	let help = run_ok(&["--help"]);
	for sub in [
		"key",
		"build-spec",
		"export-chain-spec",
		"check-block",
		"export-blocks",
		"import-blocks",
		"purge-chain",
		"revert",
		"benchmark",
	] {
		assert!(help.contains(&format!("  {sub} ")), "--help lacks `{sub}`:\n{help}");
	}
	let bench = run_ok(&["benchmark", "--help"]);
	for sub in ["pallet", "machine", "overhead", "storage", "block"] {
		assert!(bench.contains(&format!("  {sub} ")), "benchmark --help lacks `{sub}`:\n{bench}");
	}
}

#[test]
fn the_version_names_the_runtime_it_embeds() {
	let version = run_ok(&["--version"]);
	let spec = format!("-spec{}", srwan_runtime::VERSION.spec_version);
	assert!(version.starts_with("srwan-node "), "{version}");
	assert!(version.contains(&spec), "`--version` lacks {spec}: {version}");
}

fn chain_spec(chain: &str) -> serde_json::Value {
	let json = run_ok(&["export-chain-spec", "--chain", chain]);
	serde_json::from_str(&json).expect("chain spec is JSON")
}

#[test]
fn chain_specs_carry_token_properties_and_authorities() {
	let dev = chain_spec("dev");
	assert_eq!(dev["properties"]["tokenSymbol"], "SRW");
	assert_eq!(dev["properties"]["tokenDecimals"], 12);
	assert_eq!(dev["properties"]["ss58Format"], 42);
	assert_eq!(dev["chainType"], "Development");
	// The first validators' Aura keys, as pallet-session's genesis keys hold them (Aura's own
	// genesis list stays empty: the session hands it the set).
	let authorities = |spec: &serde_json::Value| {
		let patch = &spec["genesis"]["runtimeGenesis"]["patch"];
		assert!(patch["aura"]["authorities"].is_null(), "{patch}");
		patch["session"]["keys"]
			.as_array()
			.map(|keys| {
				keys.iter()
					.map(|k| k[2]["aura"].as_str().unwrap_or_default().to_string())
					.collect::<Vec<_>>()
			})
			.unwrap_or_default()
	};
	// Alice's and Bob's well-known sr25519 dev keys.
	const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
	const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
	assert_eq!(authorities(&dev), vec![ALICE]);

	let local = chain_spec("local");
	assert_eq!(local["chainType"], "Local");
	assert_eq!(authorities(&local), vec![ALICE, BOB]);

	// Four validators: any three finalize.
	let staging = chain_spec("staging");
	assert_eq!(staging["chainType"], "Live");
	assert_eq!(authorities(&staging).len(), 4);
	assert_eq!(authorities(&staging)[..2], [ALICE, BOB]);

	// The test command's chain: dev with short clocks, its own id so nodes never mix them up.
	let ci = chain_spec("ci");
	assert_eq!(ci["chainType"], "Development");
	assert_eq!(ci["id"], "srwan_ci");
	assert_eq!(authorities(&ci), vec![ALICE]);
	let patch = &ci["genesis"]["runtimeGenesis"]["patch"];
	assert_eq!(patch["ditex"]["params"]["epoch_length"], 4, "{patch}");
	assert_eq!(patch["tickets"]["params"]["claimWindow"], 2, "{patch}");
	assert_eq!(dev["genesis"]["runtimeGenesis"]["patch"]["ditex"]["params"]["epoch_length"], 10);
}

#[test]
fn unknown_chain_is_a_clear_error() {
	let out =
		node().args(["export-chain-spec", "--chain", "/nonexistent/spec.json"]).output().unwrap();
	assert!(!out.status.success());
	let err = String::from_utf8_lossy(&out.stderr);
	assert!(err.contains("/nonexistent/spec.json"), "error names the file: {err}");
}

#[test]
fn node_key_peer_id_is_stable() {
	let dir = tempfile::tempdir().unwrap();
	let key = dir.path().join("node.key");
	std::fs::write(&key, "0000000000000000000000000000000000000000000000000000000000000001")
		.unwrap();
	let peer = run_ok(&["key", "inspect-node-key", "--file", key.to_str().unwrap()]);
	// docker/compose.yml and the README's bootnode rely on this peer id.
	assert_eq!(peer.trim(), "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp");
}

#[test]
fn benchmark_machine_completes_with_allow_fail() {
	let dir = tempfile::tempdir().unwrap();
	let out = node()
		.args(["benchmark", "machine", "--allow-fail", "--chain", "dev", "--base-path"])
		.arg(dir.path())
		.output()
		.expect("srwan-node runs");
	let all =
		format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
	assert!(out.status.success(), "benchmark machine failed:\n{all}");
	for row in ["BLAKE2-256", "SR25519-Verify", "| Copy", "Seq Write", "Rnd Write"] {
		assert!(all.contains(row), "the table lacks {row}:\n{all}");
	}
}
