//! `srwan-relay`: the srwan relay agent's command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use srwan_relay::config::Config;
use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

/// srwan relay agent: measures one-way latency to its group, reroutes traffic around degraded
/// Internet paths through other relays, forwards packets in a UDP segment-routing data plane
/// and claims payment for the octets it carried.
#[derive(Debug, Parser)]
#[command(name = "srwan-relay", version, about, long_about = None)]
struct Cli {
	#[command(subcommand)]
	command: Command,
}

/// Values that override the configuration file (flags win over environment over file).
#[derive(Debug, clap::Args)]
struct Overrides {
	/// Path of the TOML configuration file (example: relay-agent/examples/relay.toml).
	#[arg(short, long, env = "SRWAN_RELAY_CONFIG")]
	config: PathBuf,
	/// Override `data_dir`.
	#[arg(long, env = "SRWAN_RELAY_DATA_DIR")]
	data_dir: Option<PathBuf>,
	/// Override `listen` (UDP address for pulses and data).
	#[arg(long, env = "SRWAN_RELAY_LISTEN")]
	listen: Option<SocketAddr>,
	/// Override `dashboard` (HTTP address of the dashboard).
	#[arg(long, env = "SRWAN_RELAY_DASHBOARD")]
	dashboard: Option<SocketAddr>,
}

impl Overrides {
	/// Loads the file, applies the overrides and validates the result.
	fn load(&self) -> anyhow::Result<Config> {
		let mut config = Config::load(&self.config)?;
		if let Some(dir) = &self.data_dir {
			config.data_dir = dir.clone();
		}
		if let Some(listen) = self.listen {
			config.listen = listen;
		}
		if let Some(dashboard) = self.dashboard {
			config.dashboard = dashboard;
		}
		config.validate().context("after applying command-line overrides")?;
		Ok(config)
	}
}

#[derive(Debug, Subcommand)]
enum Command {
	/// Run the relay: pulses, matrix, forwarding, tunnels and the dashboard, until SIGINT or
	/// SIGTERM (counters are flushed on the way out).
	Run(Overrides),
	/// Load and validate a configuration, then print the effective settings.
	CheckConfig(Overrides),
	/// Print this relay's pulse public key (created in the data dir if there is none); the
	/// other members list it as `pulse_key`.
	Key(Overrides),
}

fn main() -> ExitCode {
	match run(Cli::parse()) {
		Ok(()) => ExitCode::SUCCESS,
		Err(error) => {
			// One readable line with the whole cause chain, not a backtrace.
			eprintln!("error: {error:#}");
			ExitCode::FAILURE
		}
	}
}

fn run(cli: Cli) -> anyhow::Result<()> {
	tracing_subscriber::fmt()
		.with_env_filter(
			tracing_subscriber::EnvFilter::try_from_default_env()
				.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
		)
		.with_writer(std::io::stderr)
		.init();

	match cli.command {
		Command::Run(overrides) => {
			let config = overrides.load()?;
			let runtime = tokio::runtime::Runtime::new()?;
			runtime.block_on(srwan_relay::launch::run(config, shutdown_signal()))
		}
		Command::Key(overrides) => {
			let config = overrides.load()?;
			let (key, _) = srwan_relay::identity::load_or_create_key(&config.data_dir)?;
			print_stdout(&format!(
				"0x{}\n",
				srwan_relay::hex::encode(key.verifying_key().as_bytes())
			))
		}
		Command::CheckConfig(overrides) => {
			let config = overrides.load()?;
			tracing::info!(file = %overrides.config.display(), "configuration is valid");
			print_stdout(&format!("{config:#?}\n"))
		}
	}
}

/// Writes to stdout; a closed pipe (`| head`) ends output quietly instead of panicking.
fn print_stdout(text: &str) -> anyhow::Result<()> {
	use std::io::Write;
	match std::io::stdout().lock().write_all(text.as_bytes()) {
		Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
		_ => Ok(()),
	}
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
	let interrupt = tokio::signal::ctrl_c();
	#[cfg(unix)]
	{
		use tokio::signal::unix::{signal, SignalKind};
		match signal(SignalKind::terminate()) {
			Ok(mut term) => {
				tokio::select! {
					_ = interrupt => {},
					_ = term.recv() => {},
				}
			}
			Err(_) => {
				let _ = interrupt.await;
			}
		}
	}
	#[cfg(not(unix))]
	{
		let _ = interrupt.await;
	}
	tracing::info!("shutting down");
}
