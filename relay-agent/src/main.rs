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
	/// Load and validate a configuration, then print the effective settings.
	CheckConfig(Overrides),
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
