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
	/// Run the relay with one more tunnel than the configuration lists: datagrams sent to
	/// `--listen` come out of relay `--via` towards `--to` (which must be on that relay's
	/// `allowed_destinations`), and replies come back. Ends like `run`.
	Tunnel {
		/// Path of the TOML configuration file.
		#[arg(short, long, env = "SRWAN_RELAY_CONFIG")]
		config: PathBuf,
		/// Override `data_dir`.
		#[arg(long, env = "SRWAN_RELAY_DATA_DIR")]
		data_dir: Option<PathBuf>,
		/// Local address clients send to (a loopback address unless `--allow` lists them).
		#[arg(long)]
		listen: SocketAddr,
		/// The egress relay: its account (SS58 or hex) with a chain, a peer's id without.
		#[arg(long)]
		via: String,
		/// Where the egress delivers.
		#[arg(long)]
		to: SocketAddr,
		/// Who may send through the tunnel, by IP address (repeat the flag).
		#[arg(long = "allow")]
		allowed_clients: Vec<std::net::IpAddr>,
		/// Pins the path: a relay the traffic must cross before the egress, named as `--via`
		/// is (repeat the flag, in order). Without it the path follows the live matrix.
		#[arg(long = "through")]
		through: Vec<String>,
	},
	/// Load and validate a configuration, then print the effective settings.
	CheckConfig(Overrides),
	/// Print this relay's chain account and pulse public key (each created in the data dir if
	/// there is none; the account comes from `chain.account` when that is set). Static peers
	/// list the pulse key as `pulse_key`. `key rotate` replaces the pulse key through the chain.
	Key {
		/// `rotate`: create a new pulse key (`pulse.next.key` in the data dir) and register it
		/// with `[chain.router]`'s listing; the chain puts it in force at the next epoch's
		/// start, when the running agent and its group switch to it. Run it again to retry a
		/// rotation that did not reach the chain (the same new key is sent).
		#[arg(value_enum)]
		action: Option<KeyAction>,
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
	/// Show this router and its account as the chain has them (registration, group,
	/// quarantine, escrow), with the latest claim and the coins earned and applied that the
	/// running agent recorded in the data dir.
	Status {
		#[command(flatten)]
		overrides: Overrides,
		/// Print JSON with stable field names (docs/OPERATIONS.md) instead of text.
		#[arg(long)]
		json: bool,
	},
	/// Manage this account's consumer escrow: what pays relays for the traffic this relay
	/// originates (its tunnels).
	#[command(subcommand)]
	Escrow(EscrowCommand),
}

/// What `key` does besides printing.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum KeyAction {
	/// Replace the pulse key at the next epoch, through the chain.
	Rotate,
}

#[derive(Debug, Subcommand)]
enum EscrowCommand {
	/// Put SRW on hold in the escrow.
	Deposit {
		#[command(flatten)]
		overrides: Overrides,
		/// SRW, up to 12 decimals (`12.5`).
		amount: String,
	},
	/// Ask for SRW back; it can be withdrawn after the withdraw delay, once every epoch it
	/// may still pay for is settled.
	RequestWithdraw {
		#[command(flatten)]
		overrides: Overrides,
		/// SRW, up to 12 decimals.
		amount: String,
	},
	/// Take back the requested withdrawal (after its delay).
	Withdraw(Overrides),
	/// Cap what the escrow pays per epoch, from the next epoch on.
	SetCap {
		#[command(flatten)]
		overrides: Overrides,
		/// SRW per epoch, or `none` to remove the cap.
		cap: String,
	},
	/// Register the delegate receipt key (created in the data dir as `receipt.key` on first
	/// use) that signs this consumer's usage receipts, from the next epoch on.
	SetReceiptKey {
		#[command(flatten)]
		overrides: Overrides,
		/// Remove the receipt key instead.
		#[arg(long)]
		remove: bool,
	},
	/// Show the escrow: held, being withdrawn, available, and what relays need.
	Status(Overrides),
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
		Command::Key { action: Some(KeyAction::Rotate), overrides, .. } => {
			rotate_pulse_key(&overrides.load()?)
		}
		Command::Key { action: None, overrides, pulse } => {
			let config = overrides.load()?;
			let (key, _) = srwan_relay::identity::load_or_create_key(&config.data_dir)?;
			let hex = |key: &ed25519_dalek::SigningKey| {
				format!("0x{}", srwan_relay::hex::encode(key.verifying_key().as_bytes()))
			};
			let pulse_key = hex(&key);
			if pulse {
				return print_stdout(&format!("{pulse_key}\n"));
			}
			let next = match srwan_relay::identity::load_next_key(&config.data_dir)? {
				Some(next) => format!(
					"next key   {} (in force from the epoch the chain scheduled it for)\n",
					hex(&next)
				),
				None => String::new(),
			};
			let uri = config.chain.as_ref().and_then(|chain| chain.account.as_deref());
			let (account, source) = chain::load_account(uri, &config.data_dir)?;
			let from = match source {
				chain::AccountSource::DevUri => "development URI".to_string(),
				chain::AccountSource::KeyFile | chain::AccountSource::NewKeyFile => {
					config.data_dir.join(chain::account::ACCOUNT_KEY_FILE).display().to_string()
				}
			};
			print_stdout(&format!(
				"account    {} ({from})\npulse key  {pulse_key}\n{next}",
				chain::account::address(&account)
			))
		}
		Command::Register(overrides) => {
			let config = overrides.load()?;
			let listing = config.chain.as_ref().and_then(|chain| chain.router.as_ref()).context(
				"registering needs a [chain.router] section (endpoint, location, price)",
			)?;
			let (key, _) = srwan_relay::identity::load_or_create_key(&config.data_dir)?;
			// A rotation under way stays under way (registering the current key would cancel it).
			let key = srwan_relay::identity::wanted_key(&config.data_dir, &key)?;
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
		Command::Tunnel { config, data_dir, listen, via, to, allowed_clients, through } => {
			let overrides = Overrides { config, data_dir, listen: None, dashboard: None };
			let mut config = overrides.load()?;
			config.tunnels.push(srwan_relay::config::TunnelConfig {
				listen,
				egress: via,
				to,
				allowed_clients,
				through,
			});
			config.validate().context("the tunnel from the command line")?;
			let runtime = tokio::runtime::Runtime::new()?;
			runtime.block_on(srwan_relay::launch::run(config, shutdown_signal()))
		}
		Command::Status { overrides, json } => {
			let config = overrides.load()?;
			let status = read_status(&config)?;
			if json {
				return print_stdout(&format!("{}\n", serde_json::to_string_pretty(&status)?));
			}
			print_stdout(&chain::status::human(&status))
		}
		Command::Escrow(command) => escrow(command),
		Command::CheckConfig(overrides) => {
			let config = overrides.load()?;
			tracing::info!(file = %overrides.config.display(), "configuration is valid");
			print_stdout(&format!("{config:#?}\n"))
		}
	}
}

/// Runs an `escrow` subcommand.
fn escrow(command: EscrowCommand) -> anyhow::Result<()> {
	let srw = |text: &str| {
		srwan_relay::config::parse_srw(text).map_err(|reason| anyhow::anyhow!("amount: {reason}"))
	};
	let (config, call) = match command {
		EscrowCommand::Deposit { overrides, amount } => {
			(overrides.load()?, chain::ChainCall::Deposit(srw(&amount)?))
		}
		EscrowCommand::RequestWithdraw { overrides, amount } => {
			(overrides.load()?, chain::ChainCall::RequestWithdraw(srw(&amount)?))
		}
		EscrowCommand::Withdraw(overrides) => (overrides.load()?, chain::ChainCall::Withdraw),
		EscrowCommand::SetCap { overrides, cap } => {
			let cap = if cap.eq_ignore_ascii_case("none") { None } else { Some(srw(&cap)?) };
			(overrides.load()?, chain::ChainCall::SetSpendingCap(cap))
		}
		EscrowCommand::SetReceiptKey { overrides, remove } => {
			let config = overrides.load()?;
			let key = if remove {
				None
			} else {
				let (key, created) = chain::account::load_receipt_key(&config.data_dir)?;
				let public = key.public_key().0;
				if created {
					tracing::info!(key = %srwan_relay::hex::encode(&public), "created a new receipt key");
				}
				Some(public)
			};
			(config, chain::ChainCall::SetReceiptKey(key))
		}
		EscrowCommand::Status(overrides) => {
			let status = read_status(&overrides.load()?)?;
			let text = chain::status::human(&status);
			let escrow = text.lines().filter(|line| line.starts_with("escrow")).collect::<Vec<_>>();
			return print_stdout(&format!("{}\n", escrow.join("\n")));
		}
	};
	submit(&config, call)
}

/// `key rotate`: registers a new pulse key (kept as `pulse.next.key` until the chain puts it
/// in force) and reports the epoch it signs from.
fn rotate_pulse_key(config: &Config) -> anyhow::Result<()> {
	let chain_config = config.chain.as_ref().context(
		"rotating the pulse key goes through the chain and needs a [chain] section; without one, \
		 give the group's members the new key by hand",
	)?;
	let listing = chain_config
		.router
		.as_ref()
		.context("rotating the pulse key re-registers the router: it needs [chain.router]")?;
	let (next, created) = srwan_relay::identity::load_or_create_next_key(&config.data_dir)?;
	let next_public = next.verifying_key().to_bytes();
	if created {
		tracing::info!(pulse_key = %srwan_relay::hex::encode(&next_public), "created the next pulse key");
	}
	let registration = chain::listing::Registration::new(listing, config.listen, next_public)?;
	if let Err(error) = submit(config, chain::ChainCall::Register(registration)) {
		// Another router listed this key first (it was seen in the pool, or given up before):
		// a fresh key is made for the next attempt.
		if format!("{error:#}").contains("PulseKeyTaken") {
			srwan_relay::identity::discard_next_key(&config.data_dir)?;
			anyhow::bail!(
				"{error:#}: another router holds that key; it was dropped, and running `key rotate` \
				 again makes a new one"
			);
		}
		return Err(error);
	}
	let (account, _) = chain::load_account(chain_config.account.as_deref(), &config.data_dir)?;
	let address = subxt::utils::AccountId32(account.public_key().0);
	let runtime = tokio::runtime::Runtime::new()?;
	let scheduled = runtime
		.block_on(async {
			let client = chain::Client::from_insecure_url(&chain_config.url).await?;
			chain::listing::scheduled_pulse_key(&client, &address).await
		})
		.with_context(|| format!("reading the scheduled pulse key from {}", chain_config.url))?;
	let hex = srwan_relay::hex::encode(&next_public);
	match scheduled {
		Some((key, from_epoch)) if key == next_public => print_stdout(&format!(
			"pulse key 0x{hex} signs from epoch {from_epoch}: the running agent and its group \
			 switch to it then\n"
		)),
		// Already in force (the epoch turned while this ran).
		_ => print_stdout(&format!("pulse key 0x{hex} is in force\n")),
	}
}

/// Reads `status` for the configured account.
fn read_status(config: &Config) -> anyhow::Result<chain::status::Status> {
	let chain_config = config.chain.as_ref().context("this command needs a [chain] section")?;
	let (account, _) = chain::load_account(chain_config.account.as_deref(), &config.data_dir)?;
	let account = account.public_key().0;
	let runtime = tokio::runtime::Runtime::new()?;
	runtime
		.block_on(async {
			tokio::time::timeout(
				SUBMIT_TIMEOUT,
				chain::status::read(&chain_config.url, account, &config.data_dir),
			)
			.await
		})
		.map_err(|_| {
			anyhow::anyhow!("{} did not answer within {SUBMIT_TIMEOUT:?}", chain_config.url)
		})?
		.with_context(|| format!("reading the status from {}", chain_config.url))
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
