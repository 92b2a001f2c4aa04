//! The agent's configuration: one TOML file, overridable by command-line flags and
//! environment variables (see `srwan-relay --help`).
//!
//! Every invalid value is reported as a [`ConfigError`] that names the offending key, so an
//! operator can fix the file without reading code.

use serde::Deserialize;
use std::{
	net::SocketAddr,
	path::{Path, PathBuf},
	time::Duration,
};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
	/// The file could not be read.
	#[error("cannot read config file {path}")]
	Read {
		/// The file.
		path: PathBuf,
		/// The I/O error.
		source: std::io::Error,
	},
	/// The file is not valid TOML or does not match the schema.
	#[error("invalid config file {path}: {message}")]
	Parse {
		/// The file.
		path: PathBuf,
		/// What the TOML parser said, with line and column.
		message: String,
	},
	/// A value is out of range or inconsistent with another.
	#[error("invalid value for `{key}`: {reason}")]
	Invalid {
		/// The key, in dotted TOML notation (`routing.min_gain_pct`).
		key: String,
		/// What is wrong with it.
		reason: String,
	},
}

fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
	ConfigError::Invalid { key: key.to_string(), reason: reason.into() }
}

/// The whole configuration of one relay.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
	/// Where counters, keys and state are kept; must survive restarts.
	pub data_dir: PathBuf,
	/// UDP address the relay listens on for pulses and data packets.
	#[serde(default = "default_listen")]
	pub listen: SocketAddr,
	/// Address of the dashboard (`/`, `/api/*`, `/metrics`, `/live`, `/ready`).
	#[serde(default = "default_dashboard")]
	pub dashboard: SocketAddr,
	/// Number of data-plane worker threads (SO_REUSEPORT sockets).
	#[serde(default = "default_workers")]
	pub workers: usize,
	/// Pulse and measurement settings.
	#[serde(default)]
	pub pulse: PulseConfig,
	/// Path selection settings.
	#[serde(default)]
	pub routing: RoutingConfig,
	/// Chain connection; absent = static group mode (no chain).
	#[serde(default)]
	pub chain: Option<ChainConfig>,
	/// This relay's id in the group (a name, or 64 hex digits of an account id).
	#[serde(default = "default_id")]
	pub id: String,
	/// Group id the member indices refer to (static mode).
	#[serde(default = "default_group")]
	pub group: u32,
	/// Static group members other than this relay, used when there is no chain.
	#[serde(default)]
	pub peers: Vec<PeerConfig>,
	/// Destinations this relay delivers to as an egress (no open relay): `ip:port`.
	#[serde(default)]
	pub allowed_destinations: Vec<SocketAddr>,
	/// UDP port-forward tunnels this relay is the ingress of.
	#[serde(default)]
	pub tunnels: Vec<TunnelConfig>,
	/// CSV prefix table (`prefix,country,asn`) to pick egresses for `egress = "auto"`.
	#[serde(default)]
	pub prefix_table: Option<PathBuf>,
	/// Static groups: file of the sr25519 key (64 hex digits, 0600; created on first use) of
	/// the consumer this relay's flows are set up for: it signs each flow version's consent,
	/// and its public key is the consumer named in the setups. Default: a key derived from
	/// the pulse key. With `[chain]` the account is the consumer, and this is refused.
	#[serde(default)]
	pub consumer_key_file: Option<PathBuf>,
}

/// Most relays a pinned path (`through`) lists between ingress and egress (the chain pays
/// paths of at most six routers).
pub const MAX_PINNED_INTERMEDIATES: u8 = 4;

/// A UDP port-forward tunnel: datagrams to `listen` come out of `egress` towards `to`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelConfig {
	/// Local address clients send to.
	pub listen: SocketAddr,
	/// Id of the egress relay (one of `peers`), or `"auto"`: the peer closest to `to` by
	/// the prefix table (same AS, then same country).
	pub egress: String,
	/// Destination the egress delivers to (must be on the egress's allow-list).
	pub to: SocketAddr,
	/// Who may send through the tunnel, by IP address. Empty (the default): the tunnel must
	/// listen on a loopback address, so only this host can use it. A tunnel listening
	/// elsewhere without this list would be an open ingress for anyone, billed to you.
	#[serde(default)]
	pub allowed_clients: Vec<std::net::IpAddr>,
	/// Relays the tunnel's traffic must cross, in order, between this relay and the egress
	/// (named as `egress` is): a pinned path, never rerouted. Empty (the default): the path
	/// follows the live matrix.
	#[serde(default)]
	pub through: Vec<String>,
}

/// Pulse settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PulseConfig {
	/// Interval between pulses to every group member, in milliseconds (whitepaper: 10 s).
	pub interval_ms: u64,
	/// Interval between fast probes of active paths, in milliseconds.
	pub fast_probe_ms: u64,
	/// Number of pulses in the sliding window for loss and medians.
	pub window: u32,
}

impl Default for PulseConfig {
	fn default() -> Self {
		Self { interval_ms: 10_000, fast_probe_ms: 100, window: 30 }
	}
}

impl PulseConfig {
	/// The pulse interval as a duration.
	pub fn interval(&self) -> Duration {
		Duration::from_millis(self.interval_ms)
	}
}

/// Path selection settings (hysteresis against flapping).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
	/// Most intermediate relays on a path.
	pub max_hops: u8,
	/// An alternative must be better than direct by at least this percentage...
	pub min_gain_pct: u32,
	/// ...and by at least this many milliseconds...
	pub min_gain_ms: u32,
	/// ...for this many consecutive probes before traffic switches (and as many to revert).
	pub sustain_probes: u32,
	/// Consecutive lost fast probes on the active path that trigger an immediate failover.
	pub failover_lost_probes: u32,
	/// Seconds a tunnel's flow keeps its payload key before a new setup version brings a
	/// new one (every path switch brings one as well).
	pub rekey_after_s: u32,
}

impl Default for RoutingConfig {
	fn default() -> Self {
		Self {
			max_hops: 2,
			min_gain_pct: 10,
			min_gain_ms: 5,
			sustain_probes: 3,
			failover_lost_probes: 3,
			rekey_after_s: 120,
		}
	}
}

/// Where the chain is, who this relay is on it, and what it lists there.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
	/// WebSocket RPC endpoint of an srwan node, e.g. `ws://127.0.0.1:9944`.
	pub url: String,
	/// The relay's account: a development URI such as `//Charlie` (never for real money).
	/// Absent: an sr25519 key kept in the data dir (`account.key`, created on first use, mode
	/// 0600; refused when others can read it).
	#[serde(default)]
	pub account: Option<String>,
	/// What `register` (and `run`) lists on chain for this router.
	#[serde(default)]
	pub router: Option<RouterListing>,
	/// The most this relay's account, as a consumer, pays any hop per GB (SRW, up to 12
	/// decimals), written into its usage receipts. Absent: no limit.
	#[serde(default)]
	pub max_price_per_gb: Option<String>,
}

impl ChainConfig {
	/// The receipts' price limit in plancks per GB (`u128::MAX`: no limit).
	pub fn max_price(&self) -> Result<u128, ConfigError> {
		match &self.max_price_per_gb {
			None => Ok(u128::MAX),
			Some(text) => parse_price(text)
				.map(|price| price.unwrap_or(u128::MAX))
				.map_err(|reason| invalid("chain.max_price_per_gb", reason)),
		}
	}
}

/// A router's listing in the exchange.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterListing {
	/// The address other relays send pulses and data to. Default: `listen`, which must then
	/// be a specific address (not `0.0.0.0` or `[::]`).
	#[serde(default)]
	pub endpoint: Option<SocketAddr>,
	/// Country of the router (ISO 3166-1 alpha-2, e.g. `"DE"`).
	pub country: String,
	/// Autonomous system number of the router's uplink.
	pub asn: u32,
	/// Latitude in degrees (−90..=90).
	pub lat: f64,
	/// Longitude in degrees (−180..=180).
	pub lon: f64,
	/// Price per GB carried for others, in SRW (`"0.5"`, up to 12 decimals), or
	/// `"infinite"`: not for sale (the router measures and carries its owner's traffic only).
	pub price_per_gb: String,
}

/// Plancks per SRW (12 decimals).
pub const PLANCKS_PER_SRW: u128 = 1_000_000_000_000;

/// Parses a price per GB: SRW with up to 12 decimals, or `"infinite"` (`None`: not for sale).
pub fn parse_price(text: &str) -> Result<Option<u128>, String> {
	let text = text.trim();
	if text.eq_ignore_ascii_case("infinite") {
		return Ok(None);
	}
	let (whole, fraction) = match text.split_once('.') {
		Some((whole, fraction)) => (whole, Some(fraction)),
		None => (text, None),
	};
	let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
	if !digits(whole) || !fraction.is_none_or(|f| digits(f) && f.len() <= 12) {
		return Err(format!(
			"{text:?} is not a price in SRW (e.g. \"0.5\", at most 12 decimals) or \"infinite\""
		));
	}
	let too_large = || format!("{text:?} SRW is too large");
	let whole: u128 = whole.parse().map_err(|_| too_large())?;
	let fraction: u128 =
		format!("{:0<12}", fraction.unwrap_or("")).parse().map_err(|_| too_large())?;
	whole
		.checked_mul(PLANCKS_PER_SRW)
		.and_then(|w| w.checked_add(fraction))
		.map(Some)
		.ok_or_else(too_large)
}

/// Parses an amount of SRW (up to 12 decimals) into plancks.
pub fn parse_srw(text: &str) -> Result<u128, String> {
	if text.trim().eq_ignore_ascii_case("infinite") {
		return Err("an amount cannot be \"infinite\"".into());
	}
	parse_price(text)?.ok_or_else(|| format!("{text:?} is not an amount of SRW"))
}

/// Formats plancks as SRW (`1.5 SRW`), exactly.
pub fn format_srw(plancks: u128) -> String {
	let whole = plancks / PLANCKS_PER_SRW;
	let fraction = plancks % PLANCKS_PER_SRW;
	if fraction == 0 {
		return format!("{whole} SRW");
	}
	let fraction = format!("{fraction:012}");
	format!("{whole}.{} SRW", fraction.trim_end_matches('0'))
}

impl RouterListing {
	/// The endpoint peers send to: the configured one, or `listen` when that is specific.
	pub fn endpoint_or(&self, listen: SocketAddr) -> Result<SocketAddr, ConfigError> {
		let endpoint = self.endpoint.unwrap_or(listen);
		if endpoint.ip().is_unspecified() || endpoint.port() == 0 {
			return Err(invalid(
				"chain.router.endpoint",
				format!(
					"{endpoint} cannot be sent to: set the public address peers reach this relay at"
				),
			));
		}
		Ok(endpoint)
	}

	fn validate(&self, listen: SocketAddr) -> Result<(), ConfigError> {
		self.endpoint_or(listen)?;
		if self.country.len() != 2 || !self.country.bytes().all(|b| b.is_ascii_uppercase()) {
			return Err(invalid(
				"chain.router.country",
				format!("{:?} is not two upper-case letters (ISO 3166-1)", self.country),
			));
		}
		if !(-90.0..=90.0).contains(&self.lat) {
			return Err(invalid("chain.router.lat", format!("{} is not in -90..=90", self.lat)));
		}
		if !(-180.0..=180.0).contains(&self.lon) {
			return Err(invalid("chain.router.lon", format!("{} is not in -180..=180", self.lon)));
		}
		parse_price(&self.price_per_gb)
			.map_err(|reason| invalid("chain.router.price_per_gb", reason))?;
		Ok(())
	}
}

/// A static group member.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
	/// The peer's name (its account id once on chain).
	pub id: String,
	/// The peer's UDP address.
	pub addr: SocketAddr,
	/// The peer's ed25519 pulse key, hex (64 digits, optional `0x`).
	pub pulse_key: String,
	/// The peer's country (ISO 3166-1 alpha-2), for egress choice.
	#[serde(default)]
	pub country: Option<String>,
	/// The peer's autonomous system number, for egress choice.
	#[serde(default)]
	pub asn: Option<u32>,
}

fn default_listen() -> SocketAddr {
	SocketAddr::from(([0, 0, 0, 0], 7400))
}
fn default_dashboard() -> SocketAddr {
	SocketAddr::from(([127, 0, 0, 1], 7480))
}
fn default_workers() -> usize {
	1
}
fn default_id() -> String {
	"relay".to_string()
}
fn default_group() -> u32 {
	1
}

impl Config {
	/// Reads, parses and validates a configuration file.
	pub fn load(path: &Path) -> Result<Self, ConfigError> {
		let text = std::fs::read_to_string(path)
			.map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
		Self::parse(&text, path)
	}

	/// Parses and validates configuration text; `origin` names it in errors.
	pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
		let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
			path: origin.to_path_buf(),
			message: e.to_string().trim_end().to_string(),
		})?;
		config.validate()?;
		Ok(config)
	}

	/// Checks ranges and consistency; the error names the first bad key.
	pub fn validate(&self) -> Result<(), ConfigError> {
		if self.data_dir.as_os_str().is_empty() {
			return Err(invalid("data_dir", "must not be empty"));
		}
		if self.listen.port() == 0 {
			return Err(invalid("listen", "port 0 is not allowed: peers must know the port"));
		}
		if !(1..=64).contains(&self.workers) {
			return Err(invalid("workers", format!("{} is not in 1..=64", self.workers)));
		}
		if !(100..=600_000).contains(&self.pulse.interval_ms) {
			return Err(invalid(
				"pulse.interval_ms",
				format!("{} is not in 100..=600000", self.pulse.interval_ms),
			));
		}
		if !(10..=10_000).contains(&self.pulse.fast_probe_ms) {
			return Err(invalid(
				"pulse.fast_probe_ms",
				format!("{} is not in 10..=10000", self.pulse.fast_probe_ms),
			));
		}
		if !(4..=1_000).contains(&self.pulse.window) {
			return Err(invalid(
				"pulse.window",
				format!("{} is not in 4..=1000", self.pulse.window),
			));
		}
		if !(10..=86_400).contains(&self.routing.rekey_after_s) {
			return Err(invalid(
				"routing.rekey_after_s",
				format!("{} is not in 10..=86400", self.routing.rekey_after_s),
			));
		}
		if self.routing.max_hops > 4 {
			return Err(invalid(
				"routing.max_hops",
				format!("{} is more than 4 intermediates", self.routing.max_hops),
			));
		}
		if self.routing.min_gain_pct > 100 {
			return Err(invalid(
				"routing.min_gain_pct",
				format!("{} is more than 100", self.routing.min_gain_pct),
			));
		}
		if self.routing.sustain_probes == 0 {
			return Err(invalid("routing.sustain_probes", "must be at least 1"));
		}
		if self.routing.failover_lost_probes == 0 {
			return Err(invalid("routing.failover_lost_probes", "must be at least 1"));
		}
		if self.chain.is_some() && self.consumer_key_file.is_some() {
			return Err(invalid(
				"consumer_key_file",
				"with [chain] the relay's account is the consumer of its flows; leave it out",
			));
		}
		if let Some(chain) = &self.chain {
			if !(chain.url.starts_with("ws://") || chain.url.starts_with("wss://")) {
				return Err(invalid(
					"chain.url",
					format!("{:?} is not a ws:// or wss:// URL", chain.url),
				));
			}
			if let Some(uri) = &chain.account {
				if !uri.starts_with("//") {
					return Err(invalid(
						"chain.account",
						format!(
							"{uri:?} is not a development URI such as \"//Charlie\"; leave it out to \
							 use the key in the data dir"
						),
					));
				}
			}
			if let Some(router) = &chain.router {
				router.validate(self.listen)?;
			}
			chain.max_price()?;
		}
		if self.id.is_empty() {
			return Err(invalid("id", "must not be empty"));
		}
		let mut seen = std::collections::BTreeSet::new();
		seen.insert(self.id.as_str());
		for (i, peer) in self.peers.iter().enumerate() {
			let key = |field: &str| format!("peers[{i}].{field}");
			if peer.id.is_empty() {
				return Err(invalid(&key("id"), "must not be empty"));
			}
			if !seen.insert(peer.id.as_str()) {
				return Err(invalid(&key("id"), format!("{:?} appears twice", peer.id)));
			}
			if peer.addr.port() == 0 || peer.addr.ip().is_unspecified() {
				return Err(invalid(
					&key("addr"),
					format!("{} is not a reachable address", peer.addr),
				));
			}
			let raw = parse_hex32(&peer.pulse_key)
				.map_err(|reason| invalid(&key("pulse_key"), reason))?;
			check_pulse_key(&raw).map_err(|reason| invalid(&key("pulse_key"), reason))?;
		}
		for (i, tunnel) in self.tunnels.iter().enumerate() {
			if tunnel.egress == "auto" {
				if self.prefix_table.is_none() {
					return Err(invalid(
						&format!("tunnels[{i}].egress"),
						"\"auto\" needs `prefix_table` to locate the destination",
					));
				}
			} else if self.chain.is_some() {
				// The group comes from the chain: the egress is a member's account.
				if tunnel.egress.parse::<subxt::utils::AccountId32>().is_err()
					&& crate::hex::decode32(&tunnel.egress).is_err()
				{
					return Err(invalid(
						&format!("tunnels[{i}].egress"),
						format!(
							"{:?} is not an account (SS58 or 64 hex digits): with a [chain], \
							 the egress is a member of the chain's group",
							tunnel.egress
						),
					));
				}
			} else if !self.peers.iter().any(|p| p.id == tunnel.egress) {
				return Err(invalid(
					&format!("tunnels[{i}].egress"),
					format!("{:?} is not one of the peers", tunnel.egress),
				));
			}
			if tunnel.through.len() > usize::from(MAX_PINNED_INTERMEDIATES) {
				return Err(invalid(
					&format!("tunnels[{i}].through"),
					format!("at most {MAX_PINNED_INTERMEDIATES} relays between ingress and egress"),
				));
			}
			for (j, name) in tunnel.through.iter().enumerate() {
				let known = if self.chain.is_some() {
					name.parse::<subxt::utils::AccountId32>().is_ok()
						|| crate::hex::decode32(name).is_ok()
				} else {
					self.peers.iter().any(|p| p.id == *name)
				};
				if !known {
					return Err(invalid(
						&format!("tunnels[{i}].through[{j}]"),
						format!(
							"{name:?} is not {}",
							if self.chain.is_some() {
								"an account (SS58 or 64 hex digits)"
							} else {
								"one of the peers"
							}
						),
					));
				}
				if *name == tunnel.egress || tunnel.through[..j].contains(name) {
					return Err(invalid(
						&format!("tunnels[{i}].through[{j}]"),
						format!("{name:?} is on the path twice"),
					));
				}
			}
			if !tunnel.listen.ip().is_loopback() && tunnel.allowed_clients.is_empty() {
				return Err(invalid(
					&format!("tunnels[{i}].listen"),
					format!(
						"{} is not a loopback address: list who may send through it in \
						 `allowed_clients`, or listen on 127.0.0.1",
						tunnel.listen
					),
				));
			}
			if tunnel.to.port() == 0 || tunnel.to.ip().is_unspecified() {
				return Err(invalid(
					&format!("tunnels[{i}].to"),
					format!("{} is not a destination", tunnel.to),
				));
			}
		}
		Ok(())
	}
}

/// Parses 32 bytes of hex (an ed25519 public key), with or without `0x`.
pub fn parse_hex32(text: &str) -> Result<[u8; 32], String> {
	crate::hex::decode32(text)
}

/// Checks that `raw` is an ed25519 public key of full order: a small-order ("weak") point
/// verifies signatures its holder never made, and makes any key agreement with it worthless.
pub fn check_pulse_key(raw: &[u8; 32]) -> Result<ed25519_dalek::VerifyingKey, String> {
	let key = ed25519_dalek::VerifyingKey::from_bytes(raw)
		.map_err(|_| "is not a valid ed25519 public key".to_string())?;
	if key.is_weak() {
		return Err("is a weak (small-order) ed25519 key".into());
	}
	Ok(key)
}

#[cfg(test)]
mod tests {
	use super::*;

	const KEY: &str = "0x0101010101010101010101010101010101010101010101010101010101010101";

	fn parse(text: &str) -> Result<Config, ConfigError> {
		Config::parse(text, Path::new("test.toml"))
	}

	#[test]
	fn minimal_config_takes_defaults() {
		let config = parse("data_dir = \"/tmp/x\"").expect("minimal config is valid");
		assert_eq!(config.listen.port(), 7400);
		assert_eq!(config.pulse.interval(), Duration::from_secs(10));
		assert_eq!(config.routing, RoutingConfig::default());
		assert!(config.chain.is_none());
	}

	#[test]
	fn example_file_in_repo_is_valid() {
		let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/relay.toml");
		let config = Config::load(&path).expect("the documented example must load");
		assert_eq!(config.peers.len(), 2);
	}

	#[test]
	fn errors_name_the_key() {
		let cases = [
			("data_dir = \"/x\"\nworkers = 0", "workers"),
			("data_dir = \"/x\"\n[pulse]\ninterval_ms = 5", "pulse.interval_ms"),
			("data_dir = \"/x\"\n[routing]\nrekey_after_s = 1", "routing.rekey_after_s"),
			("data_dir = \"/x\"\n[routing]\nmin_gain_pct = 101", "routing.min_gain_pct"),
			("data_dir = \"/x\"\n[routing]\nsustain_probes = 0", "routing.sustain_probes"),
			("data_dir = \"/x\"\n[chain]\nurl = \"http://a\"", "chain.url"),
			("data_dir = \"/x\"\n[chain]\nurl = \"ws://a\"\naccount = \"Charlie\"", "chain.account"),
			(
				"data_dir = \"/x\"\nconsumer_key_file = \"/x/c.key\"\n[chain]\nurl = \"ws://a\"",
				"consumer_key_file",
			),
			(
				"listen = \"0.0.0.0:7400\"\ndata_dir = \"/x\"\n[chain]\nurl = \"ws://a\"\n[chain.router]\ncountry = \"DE\"\nasn = 3320\nlat = 52.5\nlon = 13.4\nprice_per_gb = \"1\"",
				"chain.router.endpoint",
			),
			(
				"listen = \"10.0.0.1:7400\"\ndata_dir = \"/x\"\n[chain]\nurl = \"ws://a\"\n[chain.router]\ncountry = \"DE\"\nasn = 3320\nlat = 52.5\nlon = 13.4\nprice_per_gb = \"1.5 SRW\"",
				"chain.router.price_per_gb",
			),
			(
				"listen = \"10.0.0.1:7400\"\ndata_dir = \"/x\"\n[chain]\nurl = \"ws://a\"\n[chain.router]\ncountry = \"DE\"\nasn = 3320\nlat = 52.5\nlon = 13.4\nprice_per_gb = \"1\"\nendpoint = \"10.0.0.1:0\"\n",
				"chain.router.endpoint",
			),
			(
				&format!("data_dir = \"/x\"\n[[peers]]\nid = \"a\"\naddr = \"0.0.0.0:1\"\npulse_key = \"{KEY}\""),
				"peers[0].addr",
			),
			(
				"data_dir = \"/x\"\n[[peers]]\nid = \"a\"\naddr = \"10.0.0.1:1\"\npulse_key = \"zz\"",
				"peers[0].pulse_key",
			),
			// The identity point: a weak key under which forged signatures verify.
			(
				&format!(
					"data_dir = \"/x\"\n[[peers]]\nid = \"a\"\naddr = \"10.0.0.1:1\"\npulse_key = \"01{}\"",
					"00".repeat(31)
				),
				"peers[0].pulse_key",
			),
			// A tunnel on a public address without a client list would be an open ingress.
			(
				&format!(
					"data_dir = \"/x\"\n[[peers]]\nid = \"a\"\naddr = \"10.0.0.1:1\"\npulse_key = \"{KEY}\"\n\
					 [[tunnels]]\nlisten = \"0.0.0.0:5300\"\negress = \"a\"\nto = \"10.0.0.9:53\""
				),
				"tunnels[0].listen",
			),
		];
		for (text, key) in cases {
			match parse(text) {
				Err(ConfigError::Invalid { key: got, .. }) => assert_eq!(got, key, "for {text}"),
				other => panic!("expected an error naming {key}, got {other:?}"),
			}
		}
	}

	#[test]
	fn a_pinned_path_names_known_relays_once_each() {
		let peers = format!(
			"data_dir = \"/x\"\n[[peers]]\nid = \"a\"\naddr = \"10.0.0.1:1\"\npulse_key = \"{KEY}\"\n\
			 [[peers]]\nid = \"b\"\naddr = \"10.0.0.2:1\"\npulse_key = \"{KEY}\"\n"
		);
		let tunnel = |through: &str| {
			format!(
				"{peers}[[tunnels]]\nlisten = \"127.0.0.1:5300\"\negress = \"a\"\n\
				 to = \"10.0.0.9:53\"\nthrough = [{through}]"
			)
		};
		assert_eq!(parse(&tunnel("\"b\"")).unwrap().tunnels[0].through, vec!["b".to_string()]);
		for bad in ["\"c\"", "\"a\"", "\"b\", \"b\""] {
			match parse(&tunnel(bad)) {
				Err(ConfigError::Invalid { key, .. }) => {
					assert!(key.starts_with("tunnels[0].through"), "{bad}: {key}")
				}
				other => panic!("{bad} accepted: {other:?}"),
			}
		}
	}

	#[test]
	fn a_tunnel_on_a_public_address_needs_its_clients_listed() {
		let text = format!(
			"data_dir = \"/x\"\n[[peers]]\nid = \"a\"\naddr = \"10.0.0.1:1\"\npulse_key = \"{KEY}\"\n\
			 [[tunnels]]\nlisten = \"0.0.0.0:5300\"\negress = \"a\"\nto = \"10.0.0.9:53\"\n\
			 allowed_clients = [\"192.0.2.7\"]"
		);
		let config = parse(&text).unwrap();
		assert_eq!(
			config.tunnels[0].allowed_clients,
			vec!["192.0.2.7".parse::<std::net::IpAddr>().unwrap()]
		);
	}

	#[test]
	fn prices_are_srw_with_up_to_twelve_decimals_or_infinite() {
		assert_eq!(parse_price("1"), Ok(Some(PLANCKS_PER_SRW)));
		assert_eq!(parse_price("0.5"), Ok(Some(PLANCKS_PER_SRW / 2)));
		assert_eq!(parse_price("0.000000000001"), Ok(Some(1)));
		assert_eq!(parse_price(" Infinite "), Ok(None));
		for bad in
			["", ".5", "1.", "-1", "1e3", "0.0000000000001", "1,5", "400000000000000000000000000"]
		{
			assert!(parse_price(bad).is_err(), "{bad:?} accepted");
		}
	}

	#[test]
	fn a_listing_on_a_specific_listen_address_takes_it_as_its_endpoint() {
		let text = "listen = \"198.51.100.7:7400\"\ndata_dir = \"/x\"\n[chain]\nurl = \"ws://a\"\n\
		            account = \"//Charlie\"\n[chain.router]\ncountry = \"DE\"\nasn = 3320\n\
		            lat = 52.5\nlon = 13.4\nprice_per_gb = \"infinite\"";
		let config = parse(text).unwrap();
		let chain = config.chain.unwrap();
		assert_eq!(chain.account.as_deref(), Some("//Charlie"));
		let router = chain.router.unwrap();
		assert_eq!(router.endpoint_or(config.listen).unwrap(), config.listen);
	}

	#[test]
	fn duplicate_peer_is_rejected() {
		let peer = format!("[[peers]]\nid = \"a\"\naddr = \"10.0.0.1:1\"\npulse_key = \"{KEY}\"\n");
		let err = parse(&format!("data_dir = \"/x\"\n{peer}{peer}")).unwrap_err();
		assert!(err.to_string().contains("peers[1].id"), "{err}");
	}

	#[test]
	fn unknown_key_and_bad_syntax_are_parse_errors_with_location() {
		let err = parse("data_dir = \"/x\"\nlisten_port = 3").unwrap_err();
		assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
		assert!(err.to_string().contains("listen_port"), "{err}");
		let err = parse("data_dir = ").unwrap_err();
		assert!(err.to_string().contains("line 1"), "{err}");
	}

	#[test]
	fn missing_file_is_a_read_error() {
		let err = Config::load(Path::new("/nonexistent/srwan.toml")).unwrap_err();
		assert!(matches!(err, ConfigError::Read { .. }));
		assert!(err.to_string().contains("/nonexistent/srwan.toml"));
	}

	#[test]
	fn tunnels_must_name_a_peer() {
		let text = format!(
			"data_dir = \"/x\"\n[[peers]]\nid = \"b\"\naddr = \"10.0.0.2:7400\"\npulse_key = \"{KEY}\"\n\
			 [[tunnels]]\nlisten = \"127.0.0.1:5000\"\negress = \"c\"\nto = \"10.0.0.9:53\"\n"
		);
		let err = parse(&text).unwrap_err();
		assert!(err.to_string().contains("tunnels[0].egress"), "{err}");
		assert!(parse(&text.replace("egress = \"c\"", "egress = \"b\"")).is_ok());
		let auto = text.replace("egress = \"c\"", "egress = \"auto\"");
		let err = parse(&auto).unwrap_err();
		assert!(err.to_string().contains("prefix_table"), "{err}");
		assert!(parse(&format!("prefix_table = \"/p.csv\"\n{auto}")).is_ok());
	}

	#[test]
	fn amounts_are_srw_with_twelve_decimals_both_ways() {
		assert_eq!(parse_srw("1.5"), Ok(1_500_000_000_000));
		assert!(parse_srw("infinite").is_err());
		assert!(parse_srw("-1").is_err());
		assert_eq!(format_srw(1_500_000_000_000), "1.5 SRW");
		assert_eq!(format_srw(10 * PLANCKS_PER_SRW), "10 SRW");
		assert_eq!(format_srw(1), "0.000000000001 SRW");
	}

	#[test]
	fn with_a_chain_a_tunnel_names_its_egress_by_account() {
		let tunnel = |egress: &str| {
			format!(
				"data_dir = \"/x\"\n[[tunnels]]\nlisten = \"127.0.0.1:5000\"\negress = \"{egress}\"\n\
				 to = \"10.0.0.9:53\"\n[chain]\nurl = \"ws://a\"\n"
			)
		};
		let eve = "5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw";
		assert!(parse(&tunnel(eve)).is_ok());
		assert!(parse(&tunnel(&"ab".repeat(32))).is_ok());
		let err = parse(&tunnel("relay-c")).unwrap_err();
		assert!(err.to_string().contains("tunnels[0].egress"), "{err}");
	}

	#[test]
	fn hex_keys() {
		assert_eq!(parse_hex32(KEY).map(|k| k[0]), Ok(1));
		assert!(parse_hex32(&KEY[2..]).is_ok());
		assert!(parse_hex32("0x01").is_err());
	}
}
