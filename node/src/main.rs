//! `srwan-node`: the srwan validator node (Aura + GRANDPA, ParityDB).

// `sc_cli::Error` and `sc_service::Error` are large by design; every node returns them.
#![allow(clippy::result_large_err)]

mod chain_spec;
mod cli;
mod command;
mod ditex_rpc;
mod rpc;
mod service;

fn main() -> sc_cli::Result<()> {
	command::run()
}
