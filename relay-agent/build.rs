//! Rebuilds the agent when the runtime metadata it is generated from changes: the `subxt`
//! macro reads `metadata/srwan.scale` but cannot tell cargo that it did.

fn main() {
	println!("cargo:rerun-if-changed=metadata/srwan.scale");
}
