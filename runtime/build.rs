//! Builds the runtime's wasm blob (skipped with `SKIP_WASM_BUILD=1`, e.g. for clippy).
//!
//! With `SRWAN_NEXT_SPEC_WASM` set (the scripts set it), it also builds the `next-spec` twin:
//! the same runtime one `spec_version` later, as
//! `wbuild/srwan-runtime/srwan_runtime_next_spec.compact.compressed.wasm` in the target dir,
//! for the runtime-upgrade e2e. Both share the wasm target dir, so the twin recompiles only
//! this crate.

/// The twin's file name: the generated (unused) Rust file in `OUT_DIR` and the blob's stem.
#[cfg(feature = "std")]
const NEXT_SPEC_BLOB: &str = "srwan_runtime_next_spec";

fn main() {
	#[cfg(feature = "std")]
	{
		substrate_wasm_builder::WasmBuilder::build_using_defaults();
		println!("cargo:rerun-if-env-changed=SRWAN_NEXT_SPEC_WASM");
		if std::env::var_os("SRWAN_NEXT_SPEC_WASM").is_some_and(|v| !v.is_empty()) {
			substrate_wasm_builder::WasmBuilder::init_with_defaults()
				.enable_feature("next-spec")
				.set_file_name(NEXT_SPEC_BLOB)
				.build();
		}
	}
}
