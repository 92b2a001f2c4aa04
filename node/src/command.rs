//! Dispatches `srwan-node`'s subcommands.

use crate::{
	chain_spec,
	cli::{Cli, Subcommand},
	service,
};
use frame_benchmarking_cli::{BenchmarkCmd, SUBSTRATE_REFERENCE_HARDWARE};
use sc_cli::SubstrateCli;
use sc_service::PartialComponents;
use srwan_runtime::{opaque::Block, Block as RuntimeBlock};

impl SubstrateCli for Cli {
	fn impl_name() -> String {
		"srwan node".into()
	}

	/// The package version and the runtime it embeds, plus the commit when the build was given
	/// one (`SRWAN_BUILD_COMMIT=$(git rev-parse --short HEAD) cargo build ...`). Asking git at
	/// every build would rebuild the node (minutes) at each commit, also when nothing in it
	/// changed, and a fresh clone could not reuse the shared build.
	fn impl_version() -> String {
		let version =
			format!("{}-spec{}", env!("CARGO_PKG_VERSION"), srwan_runtime::VERSION.spec_version);
		match option_env!("SRWAN_BUILD_COMMIT") {
			Some(commit) if !commit.is_empty() => format!("{version}-{commit}"),
			_ => version,
		}
	}

	fn description() -> String {
		env!("CARGO_PKG_DESCRIPTION").into()
	}

	fn author() -> String {
		env!("CARGO_PKG_AUTHORS").into()
	}

	fn support_url() -> String {
		"the srwan issue tracker".into()
	}

	fn copyright_start_year() -> i32 {
		2026
	}

	fn load_spec(&self, id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
		Ok(match id {
			"dev" => Box::new(chain_spec::development_chain_spec()?),
			"ci" => Box::new(chain_spec::ci_chain_spec()?),
			"staging" => Box::new(chain_spec::staging_chain_spec()?),
			"" | "local" => Box::new(chain_spec::local_chain_spec()?),
			path => {
				Box::new(chain_spec::ChainSpec::from_json_file(std::path::PathBuf::from(path))?)
			}
		})
	}
}

/// Parses the command line and runs the chosen subcommand (or the node).
pub fn run() -> sc_cli::Result<()> {
	let cli = Cli::from_args();

	match &cli.subcommand {
		Some(Subcommand::Key(cmd)) => cmd.run(&cli),
		Some(Subcommand::BuildSpec(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.chain_spec, config.network))
		}
		Some(Subcommand::ExportChainSpec(cmd)) => {
			let chain_spec = cli.load_spec(&cmd.chain)?;
			cmd.run(chain_spec)
		}
		Some(Subcommand::CheckBlock(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		}
		Some(Subcommand::ExportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.database), task_manager))
			})
		}
		Some(Subcommand::ExportState(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, .. } = service::new_partial(&config)?;
				Ok((cmd.run(client, config.chain_spec), task_manager))
			})
		}
		Some(Subcommand::ImportBlocks(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, import_queue, .. } =
					service::new_partial(&config)?;
				Ok((cmd.run(client, import_queue), task_manager))
			})
		}
		Some(Subcommand::PurgeChain(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run(config.database))
		}
		Some(Subcommand::Revert(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.async_run(|config| {
				let PartialComponents { client, task_manager, backend, .. } =
					service::new_partial(&config)?;
				let aux_revert = Box::new(|client, _, blocks| {
					sc_consensus_grandpa::revert(client, blocks)?;
					Ok(())
				});
				Ok((cmd.run(client, backend, Some(aux_revert)), task_manager))
			})
		}
		Some(Subcommand::Benchmark(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| match cmd {
				BenchmarkCmd::Pallet(cmd) => {
					if !cfg!(feature = "runtime-benchmarks") {
						return Err("pallet benchmarks need a node built with \
							`--features runtime-benchmarks` (scripts/bench.sh does that)"
							.into());
					}
					cmd.run_with_spec::<sp_runtime::traits::HashingFor<RuntimeBlock>, ()>(Some(
						config.chain_spec,
					))
				}
				BenchmarkCmd::Block(cmd) => {
					let PartialComponents { client, .. } = service::new_partial(&config)?;
					cmd.run(client)
				}
				#[cfg(not(feature = "runtime-benchmarks"))]
				BenchmarkCmd::Storage(_) => Err("storage benchmarks need a node built with \
					`--features runtime-benchmarks`"
					.into()),
				#[cfg(feature = "runtime-benchmarks")]
				BenchmarkCmd::Storage(cmd) if cmd.params.is_validate_block_mode() => {
					// That mode replays storage proofs in a parachain's validate_block; our builds
					// skip the test runtime it needs (scripts/lib.sh), so say so instead of panicking.
					Err("`benchmark storage --mode validate-block` measures parachain proof \
						validation; srwan is a solochain: use the default `--mode import-block`"
						.into())
				}
				#[cfg(feature = "runtime-benchmarks")]
				BenchmarkCmd::Storage(cmd) => {
					let PartialComponents { client, backend, .. } = service::new_partial(&config)?;
					let db = backend.expose_db();
					let storage = backend.expose_storage();
					let shared_cache = backend.expose_shared_trie_cache();
					cmd.run(config, client, db, storage, shared_cache)
				}
				BenchmarkCmd::Overhead(cmd) => cmd
					.run_with_default_builder_and_spec::<Block, service::OverheadExtraHostFunctions>(
						Some(config.chain_spec),
					),
				BenchmarkCmd::Extrinsic(_) => Err("`benchmark extrinsic` is not offered by \
					srwan-node; use `benchmark overhead` for per-extrinsic base weights"
					.into()),
				BenchmarkCmd::Machine(cmd) => {
					cmd.run(&config, SUBSTRATE_REFERENCE_HARDWARE.clone())
				}
			})
		}
		Some(Subcommand::ChainInfo(cmd)) => {
			let runner = cli.create_runner(cmd)?;
			runner.sync_run(|config| cmd.run::<Block>(&config))
		}
		None => {
			let runner = cli.create_runner(&cli.run)?;
			runner.run_node_until_exit(|config| async move {
				match config.network.network_backend {
					sc_network::config::NetworkBackendType::Libp2p => service::new_full::<
						sc_network::NetworkWorker<
							Block,
							<Block as sp_runtime::traits::Block>::Hash,
						>,
					>(config)
					.map_err(sc_cli::Error::Service),
					sc_network::config::NetworkBackendType::Litep2p => {
						service::new_full::<sc_network::Litep2pNetworkBackend>(config)
							.map_err(sc_cli::Error::Service)
					}
				}
			})
		}
	}
}
