//! Turns a validated [`Config`] into a running agent: loads the key and counters, binds the
//! sockets, builds the core, and serves the dashboard.
//!
//! Without a `[chain]` the group is the configured `[[peers]]`. With one, the group is the
//! chain's: the agent follows it and, whenever the group as of an epoch's start differs from
//! the one it relays for, runs a new *generation*: the running one stops (its counters are
//! saved), and the core is rebuilt with the new members, a new boot (sequence numbers never
//! repeat) and the saved counters, in the same shared slot the dashboard reads.

use crate::{
	chain::{self, follow::ChainState, GroupSnapshot},
	config::Config,
	dash::{self, DashState},
	identity::{self, node_id},
	net::{self, Agent, AgentParams, SharedCore, Tunnel},
	proto::{
		consent::Consumer,
		hysteresis::Hysteresis,
		metering::MeteringConfig,
		relay::{CoreConfig, Member, RelayCore, RowSchedule},
	},
	store,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::{
	future::Future,
	net::SocketAddr,
	sync::{Arc, Mutex},
	time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::{
	net::{TcpListener, UdpSocket},
	sync::watch,
};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
	/// The pulse key could not be loaded or created.
	#[error(transparent)]
	Key(#[from] identity::KeyError),
	/// The counters could not be loaded.
	#[error(transparent)]
	Store(#[from] store::StoreError),
	/// A peer's pulse key is not a valid ed25519 public key.
	#[error("peers[{0}].pulse_key is not a valid, full-order ed25519 public key")]
	PeerKey(usize),
	/// The prefix table could not be loaded.
	#[error(transparent)]
	PrefixTable(#[from] crate::geo::PrefixTableError),
	/// The group is inconsistent.
	#[error("cannot build the relay: {0}")]
	Core(#[from] crate::proto::relay::CoreError),
	/// The static group's consumer key could not be loaded or created.
	#[error("consumer_key_file: {0}")]
	ConsumerKey(#[source] chain::account::AccountError),
	/// A tunnel's egress is not a member of the group.
	#[error("tunnels[{0}].egress {1:?} is not a member of the group")]
	UnknownEgress(usize, String),
	/// A relay of a tunnel's pinned path is not a member of the group, or is on it twice.
	#[error("tunnels[{0}].through {1:?} is not a member of the group, or is on the path twice")]
	UnknownThrough(usize, String),
	/// A socket could not be bound.
	#[error("cannot bind {what} {addr}: {source}")]
	Bind {
		/// Which socket.
		what: &'static str,
		/// Its address.
		addr: std::net::SocketAddr,
		/// The error.
		source: std::io::Error,
	},
}

/// Members of the static group, sorted by id so that every relay derives the same indices.
fn members(config: &Config, own_key: VerifyingKey) -> Result<Vec<Member>, LaunchError> {
	let mut members =
		vec![Member { id: node_id(&config.id), addr: config.listen, pulse_key: own_key }];
	for (i, peer) in config.peers.iter().enumerate() {
		let raw = crate::hex::decode32(&peer.pulse_key).map_err(|_| LaunchError::PeerKey(i))?;
		let pulse_key =
			crate::config::check_pulse_key(&raw).map_err(|_| LaunchError::PeerKey(i))?;
		members.push(Member { id: node_id(&peer.id), addr: peer.addr, pulse_key });
	}
	members.sort_by_key(|m| m.id);
	Ok(members)
}

/// A member as the data plane needs it from the chain: account, endpoint, pulse key. Only
/// these decide whether the group changed (a member's country or quarantine does not restart
/// the data plane).
type Listed = ([u8; 32], SocketAddr, [u8; 32]);

/// The members of a chain group as the data plane takes them, in the chain's order, or `None`
/// when the chain does not list this relay (its account with its pulse key) among them.
/// Listings that would confuse the data plane are left out (and logged), so no listing can
/// stop the group or pass for another member: an unusable pulse key; this relay's own pulse
/// key or endpoint under another account; an endpoint or pulse key that two others share
/// (neither can be told from the other).
fn chain_members(listed: &[Listed], me: [u8; 32], my_key: VerifyingKey) -> Option<Vec<Member>> {
	let canonical = crate::proto::relay::canonical_addr;
	let (_, my_addr, my_listed_key) = listed.iter().find(|(account, ..)| *account == me)?;
	if *my_listed_key != my_key.to_bytes() {
		return None;
	}
	let my_addr = canonical(*my_addr);
	let shared = |pick: &dyn Fn(&Listed) -> Vec<u8>, entry: &Listed| {
		listed.iter().filter(|other| pick(other) == pick(entry)).count() > 1
	};
	let addr_of = |l: &Listed| canonical(l.1).to_string().into_bytes();
	let key_of = |l: &Listed| l.2.to_vec();
	let mut members = Vec::with_capacity(listed.len());
	for entry in listed {
		let (account, addr, key) = *entry;
		let id = crate::hex::encode(&account);
		if account == me {
			members.push(Member { id: account, addr, pulse_key: my_key });
			continue;
		}
		let Ok(pulse_key) = crate::config::check_pulse_key(&key) else {
			tracing::warn!(member = %id, "the chain lists an unusable pulse key; leaving the member out");
			continue;
		};
		if key == my_key.to_bytes() || canonical(addr) == my_addr {
			tracing::warn!(member = %id, "the chain lists this relay's own pulse key or endpoint for another account; leaving it out");
			continue;
		}
		if shared(&addr_of, entry) || shared(&key_of, entry) {
			tracing::warn!(member = %id, %addr, "another member lists the same endpoint or pulse key; leaving both out");
			continue;
		}
		members.push(Member { id: account, addr, pulse_key });
	}
	Some(members)
}

/// Datagrams queued for the relay's socket (receipts: at most 64 per hop and second).
const OUTBOX_DEPTH: usize = 1_024;

/// Who this relay is on chain, and its link to the chain.
struct ChainLink {
	account: [u8; 32],
	state: watch::Receiver<ChainState>,
	submitter: chain::Submitter,
	/// The keys that sign this account's receipts as a consumer.
	receipt_keys: Arc<chain::receipts::ReceiptKeys>,
	/// This account as the consumer of the relay's own flows; the account key signs their
	/// consent (the relays on a path check it without reading the chain).
	consumer: Consumer,
	max_price_per_gb: u128,
}

/// With a `[chain]`: loads the account, starts the signer and the chain follower and, with a
/// `[chain.router]`, keeps the router listed as configured. The account and the listing must
/// be usable, or the agent does not start.
fn join_the_exchange(
	config: &Config,
	chain_config: &crate::config::ChainConfig,
	pulse_key: [u8; 32],
) -> Result<ChainLink, anyhow::Error> {
	use crate::chain::listing;
	let (account, source) = chain::load_account(chain_config.account.as_deref(), &config.data_dir)?;
	let address = account.public_key().to_account_id();
	if source == chain::AccountSource::NewKeyFile {
		tracing::info!(%address, "created a new chain account; fund it from a wallet");
	}
	let wanted = match &chain_config.router {
		Some(wanted) => Some(listing::Registration::new(wanted, config.listen, pulse_key)?),
		None => {
			tracing::info!(%address, "no [chain.router]: following the group of this account as listed by hand");
			None
		}
	};
	let account_key = Arc::new(account.clone());
	let consumer = Consumer::new(account_key.clone());
	let submitter = chain::Submitter::spawn(chain_config.url.clone(), account);
	if let Some(wanted) = wanted {
		tokio::spawn(listing::keep_listed(
			chain_config.url.clone(),
			submitter.clone(),
			address,
			wanted,
		));
	}
	let state =
		chain::follow::spawn(chain_config.url.clone(), address.0, Some(config.data_dir.clone()))?;
	// The receipt key is created (and registered) by `srwan-relay escrow set-receipt-key`;
	// without it (or before it is in force) the account key signs the receipts.
	let receipt_key = if config.data_dir.join(chain::account::RECEIPT_KEY_FILE).exists() {
		Some(Arc::new(chain::account::load_receipt_key(&config.data_dir)?.0))
	} else {
		tracing::info!("no receipt key in the data dir: the account key signs this relay's receipts (`srwan-relay escrow set-receipt-key` creates and registers a delegate key)");
		None
	};
	let max_price_per_gb = chain_config.max_price()?;
	Ok(ChainLink {
		account: address.0,
		state,
		submitter,
		receipt_keys: Arc::new(chain::receipts::ReceiptKeys::new(
			address.0,
			receipt_key,
			account_key,
		)),
		consumer,
		max_price_per_gb,
	})
}

/// What a core carries over into the next generation: its counters and the link marks (the
/// newest packet accepted from each peer, so nothing recorded before can be replayed).
struct CarriedOver {
	counters: crate::proto::counters::Counters,
	link_marks: Vec<(crate::proto::wire::NodeId, u64, u64)>,
	/// The epoch stamped, and the epochs closed for claims.
	epoch: u32,
	closed_through: Option<u32>,
	/// The consumers the core knew.
	metering: Option<crate::proto::metering::Metering>,
}

impl CarriedOver {
	/// What the data dir holds (at start).
	fn load(config: &Config) -> Result<Self, LaunchError> {
		Ok(Self {
			counters: store::load_counters(&config.data_dir)?,
			link_marks: store::load_link_marks(&config.data_dir)?,
			epoch: 0,
			closed_through: None,
			metering: None,
		})
	}

	/// What a stopped core holds (at a regroup: nothing goes through the disk).
	fn from_core(core: &RelayCore) -> Self {
		Self {
			counters: core.counters().clone(),
			link_marks: core.link_marks(),
			epoch: core.epoch(),
			closed_through: core.closed_through(),
			metering: core.metering().cloned(),
		}
	}
}

/// Builds a core for `members` (this relay among them, or alone) with `carried` counters and
/// link marks.
#[allow(clippy::too_many_arguments)]
fn build_core(
	config: &Config,
	key: &SigningKey,
	group: u32,
	members: Vec<Member>,
	boot_time: u64,
	carried: CarriedOver,
	metering: Option<MeteringConfig>,
	consumer: Option<&Consumer>,
) -> Result<RelayCore, LaunchError> {
	let interval = config.pulse.interval();
	let rows = RowSchedule::for_interval(interval);
	let (epoch, closed_through) = (carried.epoch, carried.closed_through);
	let earlier_metering = carried.metering;
	let mut core = RelayCore::new(CoreConfig {
		key: key.clone(),
		group,
		members,
		boot_time,
		window: config.pulse.window as usize,
		// A peer is silent after three missed pulses (and withdrawn from our row at once);
		// entries others reported stay until three full-row periods pass without a refresh.
		silence_ns: 3 * interval.as_nanos() as u64,
		stale_after_ns: 3 * u64::from(rows.full_every) * interval.as_nanos() as u64,
		cross_check_tolerance_us: 5_000,
		counters: carried.counters,
		allowed_destinations: config.allowed_destinations.clone(),
		// Ingresses re-announce their setups every pulse interval.
		flow_idle_ns: (4 * interval.as_nanos() as u64).max(30_000_000_000),
		link_marks: carried.link_marks,
		metering,
		consumer: consumer.cloned().or_else(|| Consumer::derived_from(&key.to_bytes())),
	})?;
	core.set_epoch(epoch);
	if let Some(closed) = closed_through {
		core.close_epochs_through(closed);
	}
	if let Some(earlier) = earlier_metering {
		core.adopt_metering(earlier);
	}
	Ok(core)
}

/// A boot time strictly above every earlier boot's, whatever the clock says: sequence numbers
/// (AEAD nonces, link windows) start from it.
fn next_boot(config: &Config) -> Result<u64, LaunchError> {
	let now_s = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
	Ok(store::next_boot(&config.data_dir, now_s)?)
}

/// The group a generation relays for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Group {
	/// The configured peers.
	Static,
	/// This relay alone (not in a chain group yet).
	Alone,
	/// A chain group.
	Chain { group: u32, members: Vec<Listed> },
}

impl Group {
	fn of(snapshot: Option<&GroupSnapshot>) -> Self {
		match snapshot {
			Some(GroupSnapshot { group: Some(group), members, .. }) => Group::Chain {
				group: *group,
				members: members.iter().map(|m| (m.account, m.addr, m.pulse_key)).collect(),
			},
			_ => Group::Alone,
		}
	}
}

/// The key a generation signs with: when the chain's group lists this relay with the key it
/// rotates to (`srwan-relay key rotate`), that key is in force: it becomes the pulse key, on
/// disk too, from this generation on. Every member switches at the same epoch start.
fn key_in_force(
	config: &Config,
	key: SigningKey,
	account: Option<[u8; 32]>,
	group: &Group,
) -> Result<SigningKey, LaunchError> {
	let (Group::Chain { members, .. }, Some(me)) = (group, account) else { return Ok(key) };
	let Some((_, _, listed)) = members.iter().find(|(account, ..)| *account == me) else {
		return Ok(key);
	};
	if *listed == key.verifying_key().to_bytes() {
		return Ok(key);
	}
	// A key file this agent cannot read or rename must not stop it: it keeps its key (and
	// relays alone while the chain lists the other), and says why.
	let next = match identity::load_next_key(&config.data_dir) {
		Ok(next) => next,
		Err(error) => {
			tracing::error!(%error, "cannot read the next pulse key; keeping the current one");
			return Ok(key);
		}
	};
	match next {
		Some(next) if next.verifying_key().to_bytes() == *listed => {
			if let Err(error) = identity::promote_next_key(&config.data_dir) {
				tracing::error!(%error, "cannot make the next pulse key the current one; keeping the current one");
				return Ok(key);
			}
			tracing::info!(
				pulse_key = %crate::hex::encode(listed),
				"the chain put this relay's new pulse key in force: signing with it from now"
			);
			Ok(next)
		}
		_ => Ok(key),
	}
}

/// Builds the core of a generation; a chain group that does not list this relay as it is (its
/// account with its pulse key) leaves it alone, and says why.
///
/// In a chain group the core meters other ingresses' flows by their consumers' receipts,
/// for the chain's genesis and under its credit window (`metering`). Its own flows are set up
/// for `consumer` (see [`own_consumer`]; `None`: the one derived from the pulse key).
#[allow(clippy::too_many_arguments)]
fn core_for(
	config: &Config,
	key: &SigningKey,
	account: Option<[u8; 32]>,
	group: &Group,
	boot_time: u64,
	carried: CarriedOver,
	metering: Option<MeteringConfig>,
	consumer: Option<&Consumer>,
) -> Result<RelayCore, LaunchError> {
	let me = account.unwrap_or_default();
	let alone = || vec![Member { id: me, addr: config.listen, pulse_key: key.verifying_key() }];
	match group {
		Group::Static => {
			let members = members(config, key.verifying_key())?;
			build_core(config, key, config.group, members, boot_time, carried, None, consumer)
		}
		Group::Alone => build_core(config, key, 0, alone(), boot_time, carried, metering, consumer),
		Group::Chain { group, members } => match chain_members(members, me, key.verifying_key()) {
			Some(members) => {
				build_core(config, key, *group, members, boot_time, carried, metering, consumer)
			}
			None => {
				tracing::warn!(group, "the chain's group does not list this account with this relay's pulse key (re-register to update it); relaying alone");
				build_core(config, key, 0, alone(), boot_time, carried, metering, consumer)
			}
		},
	}
}

/// The consumer this relay's flows are set up for: its account on a chain, else the key of
/// `consumer_key_file` (created on first use), else `None` (one derived from the pulse key).
fn own_consumer(
	config: &Config,
	link: Option<&ChainLink>,
) -> Result<Option<Consumer>, LaunchError> {
	if let Some(link) = link {
		return Ok(Some(link.consumer.clone()));
	}
	let Some(path) = &config.consumer_key_file else { return Ok(None) };
	let (pair, created) =
		chain::account::load_or_create_key_file(path).map_err(LaunchError::ConsumerKey)?;
	let account = pair.public_key().0;
	if created {
		tracing::info!(path = %path.display(), consumer = %crate::hex::encode(&account), "created the consumer key of this relay's flows");
	}
	Ok(Some(Consumer::new(Arc::new(pair))))
}

/// The metering settings from the chain as followed, once its genesis is known, and this
/// relay's listed price (`None`: infinite, not for sale; 0 when the listing is not in the
/// config).
fn metering_of(config: &Config, state: &ChainState) -> Option<MeteringConfig> {
	let credit_window = match state.credit_window {
		0 => chain::follow::DEFAULT_CREDIT_WINDOW,
		window => window,
	};
	let listed = config.chain.as_ref().and_then(|chain| chain.router.as_ref());
	let price_per_gb = match listed {
		// The config was validated: the price parses.
		Some(router) => crate::config::parse_price(&router.price_per_gb).unwrap_or(Some(0)),
		None => Some(0),
	};
	state.genesis.map(|genesis| MeteringConfig { genesis, credit_window, price_per_gb })
}

/// Binds the tunnels of the config whose egress is a member; with a chain group, a tunnel
/// whose egress is not in it waits (logged) for a generation where it is.
async fn bind_tunnels(
	config: &Config,
	members: &[Member],
	me: crate::proto::wire::NodeId,
	strict: bool,
) -> Result<Vec<Tunnel>, LaunchError> {
	let prefix_table = match &config.prefix_table {
		Some(path) => Some(crate::geo::PrefixTable::load(path)?),
		None => None,
	};
	let mut tunnels = Vec::new();
	for (i, spec) in config.tunnels.iter().enumerate() {
		let egress_name = match (&prefix_table, spec.egress.as_str()) {
			(Some(table), "auto") => {
				let candidates: Vec<Option<crate::geo::Location>> = config
					.peers
					.iter()
					.map(|p| {
						Some(crate::geo::Location { country: p.country.clone()?, asn: p.asn? })
					})
					.collect();
				let chosen =
					crate::geo::closest_egress(table, spec.to.ip(), &candidates).unwrap_or(0);
				let name = config.peers.get(chosen).map(|p| p.id.clone()).unwrap_or_default();
				tracing::info!(tunnel = %spec.listen, to = %spec.to, egress = %name, "egress chosen by prefix table");
				name
			}
			_ => spec.egress.clone(),
		};
		let egress_id = node_id(&egress_name);
		let Some(egress) = members
			.iter()
			.position(|m| m.id == egress_id)
			.and_then(|index| u16::try_from(index).ok())
		else {
			if strict {
				return Err(LaunchError::UnknownEgress(i, egress_name));
			}
			tracing::warn!(tunnel = %spec.listen, egress = %egress_name, "the tunnel's egress is not in this relay's group yet");
			continue;
		};
		let index_of = |name: &str| {
			let id = node_id(name);
			members.iter().position(|m| m.id == id).and_then(|index| u16::try_from(index).ok())
		};
		let mut through = Vec::with_capacity(spec.through.len());
		for name in &spec.through {
			match index_of(name) {
				Some(index)
					if index != egress
						&& members.get(usize::from(index)).is_some_and(|m| m.id != me)
						&& !through.contains(&index) =>
				{
					through.push(index)
				}
				_ if strict => return Err(LaunchError::UnknownThrough(i, name.clone())),
				_ => {
					tracing::warn!(tunnel = %spec.listen, relay = %name, "a relay of the tunnel's pinned path is not in this relay's group yet");
					break;
				}
			}
		}
		if through.len() != spec.through.len() {
			continue;
		}
		let listen = UdpSocket::bind(spec.listen).await.map_err(|source| LaunchError::Bind {
			what: "tunnel",
			addr: spec.listen,
			source,
		})?;
		tunnels.push(Tunnel {
			listen,
			// Tagged with our id (no other member can set it up) and random below.
			flow_id: crate::proto::relay::new_flow_id(
				&me,
				rand::RngCore::next_u32(&mut rand::rngs::OsRng),
			),
			egress,
			destination: spec.to,
			allowed_clients: spec.allowed_clients.clone(),
			through,
		});
	}
	Ok(tunnels)
}

/// Resolves with the reason when the chain's runtime no longer matches this agent.
async fn incompatible(state: Option<watch::Receiver<ChainState>>) -> String {
	let Some(mut state) = state else { return std::future::pending().await };
	let reason = match state.wait_for(|s| s.incompatible.is_some()).await {
		Ok(s) => s.incompatible.clone(),
		Err(_) => None,
	};
	match reason {
		Some(reason) => reason,
		None => std::future::pending().await,
	}
}

/// Resolves when the chain's group as of an epoch start is not `current`.
async fn group_changes(state: Option<watch::Receiver<ChainState>>, current: &Group) -> Group {
	let Some(mut state) = state else { return std::future::pending().await };
	loop {
		let seen = state.borrow_and_update().snapshot.clone();
		if let Some(snapshot) = seen {
			let group = Group::of(Some(&snapshot));
			if group != *current {
				return group;
			}
		}
		if state.changed().await.is_err() {
			return std::future::pending().await;
		}
	}
}

/// Starts the agent and its dashboard; returns when `shutdown` resolves and the counters are
/// flushed.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), anyhow::Error> {
	let (mut key, created) = identity::load_or_create_key(&config.data_dir)?;
	if created {
		tracing::info!(
			pulse_key = %crate::hex::encode(key.verifying_key().as_bytes()),
			"created a new pulse key; give it to the group's other members"
		);
	}
	let link = match &config.chain {
		Some(chain) => {
			// A rotation under way is kept listed until the chain puts the new key in force.
			let listed = identity::wanted_key(&config.data_dir, &key)?;
			Some(join_the_exchange(&config, chain, listed.verifying_key().to_bytes())?)
		}
		None => None,
	};
	let account = link.as_ref().map(|link| link.account);
	let consumer = own_consumer(&config, link.as_ref())?;
	let boot_time = next_boot(&config)?;
	let crash_boots = store::start_run(&config.data_dir, boot_time)?;
	if crash_boots.last() == Some(&boot_time) {
		tracing::warn!("the previous run did not stop cleanly: its last second of counts may be lost; the epoch's claim declares the restart");
	}
	let mut group = if link.is_some() { Group::Alone } else { Group::Static };
	let first = core_for(
		&config,
		&key,
		account,
		&group,
		boot_time,
		CarriedOver::load(&config)?,
		link.as_ref().and_then(|link| metering_of(&config, &link.state.borrow())),
		consumer.as_ref(),
	)?;
	let core: SharedCore = Arc::new(Mutex::new(first));
	let tunnel_statuses = Arc::new(Mutex::new(Vec::new()));

	let journal = match &link {
		Some(_) => Arc::new(Mutex::new(chain::duties::Duties::load_journal(&config.data_dir)?)),
		None => Arc::default(),
	};
	let (views, view) = dash::view::channel(&core);
	let dash_state = DashState {
		view,
		tunnels: tunnel_statuses.clone(),
		name: config.id.clone(),
		started: Instant::now(),
		names: Arc::new(
			std::iter::once((node_id(&config.id), config.id.clone()))
				.chain(config.peers.iter().map(|p| (node_id(&p.id), p.id.clone())))
				.collect(),
		),
		chain: link.as_ref().map(|link| dash::ChainDash {
			account: subxt::utils::AccountId32(link.account).to_string(),
			state: link.state.clone(),
			journal: journal.clone(),
			submitter: link.submitter.clone(),
		}),
	};
	let listener = TcpListener::bind(config.dashboard).await.map_err(|source| {
		LaunchError::Bind { what: "dashboard", addr: config.dashboard, source }
	})?;
	let (stop_tx, stop_rx) = watch::channel(false);
	let (outbox_tx, outbox_rx) = tokio::sync::mpsc::channel(OUTBOX_DEPTH);
	let outbox: net::OutboxReceiver = Arc::new(tokio::sync::Mutex::new(outbox_rx));
	let view_publisher = tokio::spawn(dash::view::publish(
		core.clone(),
		views,
		dash::view::VIEW_INTERVAL,
		stop_rx.clone(),
	));
	let mut dash_stop = stop_rx.clone();
	let dashboard = tokio::spawn(async move {
		let serve =
			axum::serve(listener, dash::router(dash_state)).with_graceful_shutdown(async move {
				let _ = dash_stop.wait_for(|stop| *stop).await;
			});
		if let Err(error) = serve.await {
			tracing::error!(%error, "dashboard stopped");
		}
	});
	if let Some(link) = &link {
		let duties = chain::duties::Duties {
			core: core.clone(),
			submitter: link.submitter.clone(),
			account: link.account,
			data_dir: config.data_dir.clone(),
			crash_boots: Arc::new(crash_boots),
			journal,
			receipt_keys: link.receipt_keys.clone(),
			max_price_per_gb: link.max_price_per_gb,
			chain: link.state.clone(),
		};
		tokio::spawn(duties.run(link.state.clone(), stop_rx.clone()));
		let metering = chain::metering::Metering {
			core: core.clone(),
			chain: link.state.clone(),
			keys: link.receipt_keys.clone(),
			max_price_per_gb: link.max_price_per_gb,
			outbox: outbox_tx.clone(),
			has_tunnels: !config.tunnels.is_empty(),
			own_escrow_was_low: std::sync::Mutex::new(None),
		};
		tokio::spawn(metering.run(stop_rx.clone()));
	}
	let stopper = {
		let stop_tx = stop_tx.clone();
		async move {
			shutdown.await;
			let _ = stop_tx.send(true);
		}
	};
	let generations = async {
		let mut stop = stop_rx.clone();
		loop {
			let outcome = run_generation(
				&config,
				&core,
				&tunnel_statuses,
				&group,
				link.as_ref().map(|link| link.state.clone()),
				&outbox,
				&mut stop,
			)
			.await?;
			let Some(next) = outcome else { return Ok::<(), anyhow::Error>(()) };
			group = next;
			let boot_time = next_boot(&config)?;
			let carried = CarriedOver::from_core(&net::lock(&core));
			let metering =
				link.as_ref().and_then(|link| metering_of(&config, &link.state.borrow()));
			let consumer = consumer.as_ref();
			key = key_in_force(&config, key, account, &group)?;
			let mut rebuilt =
				core_for(&config, &key, account, &group, boot_time, carried, metering, consumer)?;
			// Paths avoid quarantined members and those not for sale from the core's first
			// packet on (the duties refresh the roles at each later epoch start).
			let snapshot = link.as_ref().and_then(|link| link.state.borrow().snapshot.clone());
			if let (Group::Chain { .. }, Some(snapshot)) = (&group, snapshot) {
				chain::duties::apply_roles(&mut rebuilt, &snapshot);
			}
			if let Some(epoch) = link.as_ref().and_then(|link| link.state.borrow().epoch()) {
				rebuilt.set_epoch(epoch.max(rebuilt.epoch()));
			}
			*net::lock(&core) = rebuilt;
		}
	};
	tokio::pin!(generations, stopper);
	let result = tokio::select! {
		result = &mut generations => result,
		// The generation sees the stop signal and flushes its counters: wait for it.
		() = &mut stopper => generations.await,
	};
	let _ = stop_tx.send(true);
	let _ = dashboard.await;
	let _ = view_publisher.await;
	if result.is_ok() {
		store::stop_run(&config.data_dir)?;
	}
	result
}

/// Runs one generation until `stop` (returns `None`) or until the chain's group changes
/// (returns the new group); the counters are flushed either way.
async fn run_generation(
	config: &Config,
	core: &SharedCore,
	statuses: &Arc<Mutex<Vec<net::TunnelStatus>>>,
	group: &Group,
	chain_state: Option<watch::Receiver<ChainState>>,
	outbox: &net::OutboxReceiver,
	stop: &mut watch::Receiver<bool>,
) -> Result<Option<Group>, anyhow::Error> {
	let (members, me) = {
		let core = net::lock(core);
		(
			core.members().to_vec(),
			core.members().get(usize::from(core.me())).map(|m| m.id).unwrap_or_default(),
		)
	};
	let sockets = net::bind_workers(config.listen, config.workers).map_err(|source| {
		LaunchError::Bind { what: "relay socket", addr: config.listen, source }
	})?;
	let tunnels = bind_tunnels(config, &members, me, *group == Group::Static).await?;
	statuses.lock().unwrap_or_else(|p| p.into_inner()).clear();
	let interval = config.pulse.interval();
	let params = AgentParams {
		core: core.clone(),
		sockets,
		pulse_interval: interval,
		rows: RowSchedule::for_interval(interval),
		route_interval: Duration::from_millis(config.pulse.fast_probe_ms),
		hysteresis: Hysteresis {
			min_gain_pct: config.routing.min_gain_pct,
			min_gain_us: u64::from(config.routing.min_gain_ms) * 1_000,
			sustain_probes: config.routing.sustain_probes,
			failover_lost_probes: config.routing.failover_lost_probes,
		},
		max_intermediates: config.routing.max_hops,
		rekey_after: Duration::from_secs(u64::from(config.routing.rekey_after_s)),
		data_dir: config.data_dir.clone(),
		// A kill -9 loses at most this much of every link's counts (the chain tolerates 2 %
		// of an epoch between the two ends of a link).
		persist_interval: Duration::from_secs(1),
		tunnels,
		impairment: None,
		outbox: Some(outbox.clone()),
	};
	tracing::info!(relay = %config.listen, dashboard = %config.dashboard, members = members.len(), "relay running");
	let agent = Agent { core: core.clone(), tunnels: statuses.clone() };
	let (generation_tx, mut generation_rx) = watch::channel(false);
	let running = net::run_with(agent, params, async move {
		let _ = generation_rx.wait_for(|stop| *stop).await;
	});
	tokio::pin!(running);
	let next = tokio::select! {
		result = &mut running => return result.map(|()| None),
		_ = stop.wait_for(|stop| *stop) => None,
		next = group_changes(chain_state.clone(), group) => Some(next),
		reason = incompatible(chain_state) => {
			let _ = generation_tx.send(true);
			running.await?;
			anyhow::bail!(reason);
		}
	};
	if let Some(Group::Chain { group, members }) = &next {
		tracing::info!(
			group,
			members = members.len(),
			"the chain's group changed: relaying for it from now"
		);
	}
	let _ = generation_tx.send(true);
	running.await?;
	Ok(next)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn key(byte: u8) -> SigningKey {
		SigningKey::from_bytes(&[byte; 32])
	}

	fn listed(account: u8, port: u16, key_byte: u8) -> Listed {
		let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
		(([account; 32]), addr, key(key_byte).verifying_key().to_bytes())
	}

	fn accounts(members: &[Member]) -> Vec<u8> {
		members.iter().map(|m| m.id[0]).collect()
	}

	#[test]
	fn a_static_relay_sets_its_flows_up_for_the_configured_consumer_key() {
		use std::os::unix::fs::PermissionsExt as _;
		let dir = tempfile::tempdir().unwrap();
		let file = dir.path().join("consumer.key");
		let text =
			format!("data_dir = {:?}\nconsumer_key_file = {:?}\n", dir.path().join("data"), file);
		let config = Config::parse(&text, std::path::Path::new("relay.toml")).unwrap();
		let created = own_consumer(&config, None).unwrap().expect("a consumer from the file");
		let mode = std::fs::metadata(&file).unwrap().permissions().mode();
		assert_eq!(mode & 0o777, 0o600, "created readable by its owner only");
		let again = own_consumer(&config, None).unwrap().unwrap();
		assert_eq!(again.account(), created.account(), "the same key on every start");
		let derived = Consumer::derived_from(&key(1).to_bytes()).unwrap();
		assert_ne!(created.account(), derived.account());
		// Without the setting: the core derives one from the pulse key.
		let plain =
			Config::parse(&format!("data_dir = {:?}\n", dir.path()), std::path::Path::new("r"))
				.unwrap();
		assert!(own_consumer(&plain, None).unwrap().is_none());
		// A key file others can read is refused, with the setting's name.
		std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
		let error = own_consumer(&config, None).unwrap_err().to_string();
		assert!(error.starts_with("consumer_key_file:"), "{error}");
	}

	#[test]
	fn a_group_lists_this_relay_by_account_and_pulse_key_or_it_is_alone() {
		let me = key(1).verifying_key();
		let group = [listed(2, 7402, 2), listed(1, 7401, 1), listed(3, 7403, 3)];
		let members = chain_members(&group, [1; 32], me).unwrap();
		assert_eq!(accounts(&members), vec![2, 1, 3], "the chain's order");
		// The chain still has an old pulse key for this account: not this relay's group yet.
		let stale = [listed(2, 7402, 2), listed(1, 7401, 9)];
		assert!(chain_members(&stale, [1; 32], me).is_none());
		assert!(chain_members(&[listed(2, 7402, 2)], [1; 32], me).is_none(), "not listed");
	}

	#[test]
	fn a_listing_that_copies_another_members_endpoint_or_key_cannot_take_its_place() {
		let me = key(1).verifying_key();
		// 4 lists this relay's pulse key; 5 this relay's endpoint; 6 and 7 share an
		// endpoint; 8 and 2 share a pulse key. Each is listed before the honest one.
		let group = [
			listed(4, 7404, 1),
			listed(5, 7401, 5),
			listed(1, 7401, 1),
			listed(6, 7406, 6),
			listed(7, 7406, 7),
			listed(8, 7408, 2),
			listed(2, 7402, 2),
			listed(3, 7403, 3),
		];
		let members = chain_members(&group, [1; 32], me).unwrap();
		assert_eq!(accounts(&members), vec![1, 3], "this relay and the one honest unique listing");
		let core = RelayCore::new(CoreConfig::new(key(1), members)).unwrap();
		assert_eq!(core.members()[usize::from(core.me())].id, [1; 32], "found by account");
	}

	#[test]
	fn the_next_pulse_key_signs_once_the_chains_group_lists_it() {
		let dir = tempfile::tempdir().unwrap();
		let text = format!(
			"id = \"a\"\nlisten = \"127.0.0.1:1\"\ndashboard = \"127.0.0.1:2\"\ndata_dir = {:?}\n",
			dir.path()
		);
		let config = Config::parse(&text, std::path::Path::new("test.toml")).unwrap();
		let (current, _) = identity::load_or_create_key(dir.path()).unwrap();
		let (next, _) = identity::load_or_create_next_key(dir.path()).unwrap();
		let group_listing = |key: &SigningKey| Group::Chain {
			group: 0,
			members: vec![(
				[1; 32],
				"127.0.0.1:1".parse().unwrap(),
				key.verifying_key().to_bytes(),
			)],
		};
		let me = Some([1; 32]);
		// Still the old key on chain: nothing changes.
		let kept = key_in_force(&config, current.clone(), me, &group_listing(&current)).unwrap();
		assert_eq!(kept.to_bytes(), current.to_bytes());
		assert!(identity::load_next_key(dir.path()).unwrap().is_some());
		// A key this relay does not hold is not adopted (the group leaves it alone instead).
		let stranger = key(9);
		let kept = key_in_force(&config, current.clone(), me, &group_listing(&stranger)).unwrap();
		assert_eq!(kept.to_bytes(), current.to_bytes());
		// The new key listed: it signs, and it is the pulse key on disk.
		let adopted = key_in_force(&config, current, me, &group_listing(&next)).unwrap();
		assert_eq!(adopted.to_bytes(), next.to_bytes());
		assert!(identity::load_next_key(dir.path()).unwrap().is_none());
		assert_eq!(identity::load_or_create_key(dir.path()).unwrap().0.to_bytes(), next.to_bytes());
	}

	#[test]
	fn an_unusable_pulse_key_leaves_only_its_member_out() {
		let me = key(1).verifying_key();
		let mut weak = listed(2, 7402, 2);
		// The identity point: a small-order key that would verify forged signatures.
		weak.2 = [0; 32];
		weak.2[0] = 1;
		let members = chain_members(&[listed(1, 7401, 1), weak, listed(3, 7403, 3)], [1; 32], me);
		assert_eq!(accounts(&members.unwrap()), vec![1, 3]);
	}
}
