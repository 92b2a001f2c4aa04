//! `srwan-relay`: the srwan relay agent's command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use srwan_relay::{chain, config::Config};
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
	/// Print this relay's chain account and pulse public key (each created in the data dir if
	/// there is none; the account comes from `chain.account` when that is set). Static peers
	/// list the pulse key as `pulse_key`.
	Key {
		#[command(flatten)]
		overrides: Overrides,
		/// Print only the pulse key, in hex (for scripts).
		#[arg(long)]
		pulse: bool,
	},
	/// Register this router in the exchange from `[chain.router]` (or update its listing),
	/// and wait until the registration is final.
	Register(Overrides),
	/// Set this router's price per GB, from the next epoch on.
	SetPrice {
		#[command(flatten)]
		overrides: Overrides,
		/// SRW per GB (`0.5`, up to 12 decimals), or `infinite`: not for sale.
		price: String,
	},
	/// Leave the exchange (the deposit comes back after the unbonding period).
	Unregister(Overrides),
}

/// How long a command waits for its extrinsic to be final (the signer keeps retrying while
/// the node is unreachable).
const SUBMIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

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
		Command::Key { overrides, pulse } => {
			let config = overrides.load()?;
			let (key, _) = srwan_relay::identity::load_or_create_key(&config.data_dir)?;
			let pulse_key =
				format!("0x{}", srwan_relay::hex::encode(key.verifying_key().as_bytes()));
			if pulse {
				return print_stdout(&format!("{pulse_key}\n"));
			}
			let uri = config.chain.as_ref().and_then(|chain| chain.account.as_deref());
			let (account, source) = chain::load_account(uri, &config.data_dir)?;
			let from = match source {
				chain::AccountSource::DevUri => "development URI".to_string(),
				chain::AccountSource::KeyFile | chain::AccountSource::NewKeyFile => {
					config.data_dir.join(chain::account::ACCOUNT_KEY_FILE).display().to_string()
				}
			};
			print_stdout(&format!(
				"account    {} ({from})\npulse key  {pulse_key}\n",
				chain::account::address(&account)
			))
		}
		Command::Register(overrides) => {
			let config = overrides.load()?;
			let listing = config.chain.as_ref().and_then(|chain| chain.router.as_ref()).context(
				"registering needs a [chain.router] section (endpoint, location, price)",
			)?;
			let (key, _) = srwan_relay::identity::load_or_create_key(&config.data_dir)?;
			let registration = chain::listing::Registration::new(
				listing,
				config.listen,
				key.verifying_key().to_bytes(),
			)?;
			submit(&config, chain::ChainCall::Register(registration))
		}
		Command::SetPrice { overrides, price } => {
			let config = overrides.load()?;
			let price = srwan_relay::config::parse_price(&price)
				.map_err(|reason| anyhow::anyhow!("price: {reason}"))?;
			submit(&config, chain::ChainCall::SetPrice(price))
		}
		Command::Unregister(overrides) => {
			let config = overrides.load()?;
			submit(&config, chain::ChainCall::Unregister)
		}
		Command::CheckConfig(overrides) => {
			let config = overrides.load()?;
			tracing::info!(file = %overrides.config.display(), "configuration is valid");
			print_stdout(&format!("{config:#?}\n"))
		}
	}
}

/// Submits `call` with the relay's account and prints where it was finalized; an error when
/// the chain refused it.
fn submit(config: &Config, call: chain::ChainCall) -> anyhow::Result<()> {
	let chain_config = config.chain.as_ref().context("this command needs a [chain] section")?;
	let (account, _) = chain::load_account(chain_config.account.as_deref(), &config.data_dir)?;
	let address = chain::account::address(&account);
	let name = call.name();
	let runtime = tokio::runtime::Runtime::new()?;
	let outcome = runtime.block_on(async {
		let submitter = chain::Submitter::spawn(chain_config.url.clone(), account);
		tokio::time::timeout(SUBMIT_TIMEOUT, submitter.submit(call)).await
	});
	let outcome = outcome
		.map_err(|_| {
			anyhow::anyhow!(
				"{name} has no outcome within {SUBMIT_TIMEOUT:?} ({}); if it went out it may still be \
				 included: look at the account's recent extrinsics before sending it again",
				chain_config.url
			)
		})?
		.with_context(|| format!("{name} from {address}"))?;
	match outcome.error {
		None => print_stdout(&format!("{name} from {address}: final in block {}\n", outcome.block)),
		Some(error) => {
			anyhow::bail!("{name} from {address} failed in block {}: {error}", outcome.block)
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
