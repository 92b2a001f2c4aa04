//! `srwan-node`: the srwan validator node (Aura + GRANDPA, ParityDB).

mod chain_spec;
mod cli;
mod command;
mod rpc;
mod service;

fn main() -> sc_cli::Result<()> {
	command::run()
}
