//! `srwan-relay` as an operator runs it: help, a good config, bad configs with clear errors.

use std::process::Command;

fn relay(args: &[&str]) -> (bool, String, String) {
	let out = Command::new(env!("CARGO_BIN_EXE_srwan-relay"))
		.args(args)
		.env_remove("SRWAN_RELAY_CONFIG")
		.output()
		.expect("srwan-relay runs");
	(
		out.status.success(),
		String::from_utf8_lossy(&out.stdout).into_owned(),
		String::from_utf8_lossy(&out.stderr).into_owned(),
	)
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/relay.toml");

#[test]
fn help_explains_the_subcommands() {
	let (ok, out, _) = relay(&["--help"]);
	assert!(ok);
	assert!(out.contains("check-config"), "{out}");
	let (ok, out, _) = relay(&["check-config", "--help"]);
	assert!(ok);
	assert!(out.contains("SRWAN_RELAY_LISTEN"), "flags name their env variables: {out}");
}

#[test]
fn flags_override_the_file() {
	let (ok, out, err) = relay(&["check-config", "-c", EXAMPLE, "--listen", "127.0.0.1:9000"]);
	assert!(ok, "{err}");
	assert!(out.contains("listen: 127.0.0.1:9000"), "{out}");
}

#[test]
fn bad_override_is_one_clear_line() {
	let (ok, _, err) = relay(&["check-config", "-c", EXAMPLE, "--listen", "0.0.0.0:0"]);
	assert!(!ok);
	assert!(err.contains("invalid value for `listen`"), "{err}");
	assert!(!err.contains("backtrace"), "{err}");
}

#[test]
fn bad_file_names_the_key() {
	let dir = tempfile::tempdir().unwrap();
	let path = dir.path().join("bad.toml");
	std::fs::write(&path, "data_dir = \"/x\"\n[pulse]\nwindow = 1\n").unwrap();
	let (ok, _, err) = relay(&["check-config", "-c", path.to_str().unwrap()]);
	assert!(!ok);
	assert!(err.contains("`pulse.window`"), "{err}");
}
