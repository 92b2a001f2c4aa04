//! The relay agent's chain client (`relay-agent/src/chain`) is generated at compile time from
//! `relay-agent/metadata/srwan.scale`, so its build needs no node. This test writes that file
//! from the runtime and fails when the checked-in copy differed: a runtime change that moves a
//! call, an event or a storage item the agent uses shows up here (and then in the agent's
//! build), never as a failed extrinsic on a live chain.

use std::path::Path;

#[test]
fn the_relay_agents_metadata_file_is_the_runtimes() {
	let metadata =
		srwan_runtime::Runtime::metadata_at_version(16).expect("the runtime serves metadata v16");
	let bytes: &[u8] = &metadata;
	let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../relay-agent/metadata/srwan.scale");
	if std::fs::read(&path).ok().as_deref() != Some(bytes) {
		std::fs::create_dir_all(path.parent().expect("a file has a parent"))
			.expect("metadata directory");
		std::fs::write(&path, bytes).expect("metadata written");
		panic!(
			"{} was stale and has been rewritten from the runtime: rebuild the relay agent and \
			 commit the file",
			path.display()
		);
	}
}
