//! Turns a validated [`Config`] into a running agent: loads the key and counters, binds the
//! sockets, builds the core, and serves the dashboard.

use crate::{
	config::Config,
	dash::{self, DashState},
	identity::{self, node_id},
	net::{self, Agent, AgentParams, Tunnel},
	proto::{
		hysteresis::Hysteresis,
		relay::{CoreConfig, Member, RelayCore, RowSchedule},
	},
	store,
};
use ed25519_dalek::VerifyingKey;
use std::{
	future::Future,
	sync::{Arc, Mutex},
	time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::net::{TcpListener, UdpSocket};

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
	/// A tunnel's egress is not a member of the group.
	#[error("tunnels[{0}].egress {1:?} is not a member of the group")]
	UnknownEgress(usize, String),
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

/// With a `[chain.router]`, keeps the router listed as configured (registers it, or updates
/// its listing) in a task of its own; the account and the listing must be usable, or the agent
/// does not start.
fn join_the_exchange(
	config: &Config,
	chain: &crate::config::ChainConfig,
	pulse_key: [u8; 32],
) -> Result<(), anyhow::Error> {
	use crate::chain::{self, listing};
	let (account, source) = chain::load_account(chain.account.as_deref(), &config.data_dir)?;
	let address = account.public_key().to_account_id();
	if source == chain::AccountSource::NewKeyFile {
		tracing::info!(%address, "created a new chain account; fund it from a wallet");
	}
	let Some(wanted) = &chain.router else {
		tracing::info!(%address, "no [chain.router]: not listing this router in the exchange");
		return Ok(());
	};
	let wanted = listing::Registration::new(wanted, config.listen, pulse_key)?;
	let submitter = chain::Submitter::spawn(chain.url.clone(), account);
	tokio::spawn(listing::keep_listed(chain.url.clone(), submitter, address, wanted));
	Ok(())
}

/// Starts the agent and its dashboard; returns when `shutdown` resolves and the counters are
/// flushed.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), anyhow::Error> {
	let (key, created) = identity::load_or_create_key(&config.data_dir)?;
	if created {
		tracing::info!(
			pulse_key = %crate::hex::encode(key.verifying_key().as_bytes()),
			"created a new pulse key; give it to the group's other members"
		);
	}
	if let Some(chain) = &config.chain {
		join_the_exchange(&config, chain, key.verifying_key().to_bytes())?;
	}
	let counters = store::load_counters(&config.data_dir)?;
	let members = members(&config, key.verifying_key())?;
	let interval = config.pulse.interval();
	let rows = RowSchedule::for_interval(interval);
	// Strictly above every earlier boot's, whatever the clock says: sequence numbers (AEAD
	// nonces, link windows) start from it.
	let now_s = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
	let boot_time = store::next_boot(&config.data_dir, now_s)?;
	let link_marks = store::load_link_marks(&config.data_dir)?;
	let core = RelayCore::new(CoreConfig {
		key,
		group: config.group,
		members: members.clone(),
		boot_time,
		window: config.pulse.window as usize,
		// A peer is silent after three missed pulses (and withdrawn from our row at once);
		// entries others reported stay until three full-row periods pass without a refresh.
		silence_ns: 3 * interval.as_nanos() as u64,
		stale_after_ns: 3 * u64::from(rows.full_every) * interval.as_nanos() as u64,
		cross_check_tolerance_us: 5_000,
		counters,
		allowed_destinations: config.allowed_destinations.clone(),
		// Ingresses re-announce their setups every pulse interval.
		flow_idle_ns: (4 * interval.as_nanos() as u64).max(30_000_000_000),
		link_marks,
	})?;
	let core = Arc::new(Mutex::new(core));

	let sockets = net::bind_workers(config.listen, config.workers).map_err(|source| {
		LaunchError::Bind { what: "relay socket", addr: config.listen, source }
	})?;
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
		let listen = UdpSocket::bind(spec.listen).await.map_err(|source| LaunchError::Bind {
			what: "tunnel",
			addr: spec.listen,
			source,
		})?;
		let egress_id = node_id(&egress_name);
		let egress = members
			.iter()
			.position(|m| m.id == egress_id)
			.and_then(|index| u16::try_from(index).ok())
			.ok_or_else(|| LaunchError::UnknownEgress(i, egress_name.clone()))?;
		tunnels.push(Tunnel {
			listen,
			// Tagged with our id (no other member can set it up) and random below.
			flow_id: crate::proto::relay::new_flow_id(
				&node_id(&config.id),
				rand::RngCore::next_u32(&mut rand::rngs::OsRng),
			),
			egress,
			destination: spec.to,
			allowed_clients: spec.allowed_clients.clone(),
		});
	}

	let agent = Agent { core: core.clone(), tunnels: Arc::new(Mutex::new(Vec::new())) };
	let dash_state = DashState {
		core: core.clone(),
		tunnels: agent.tunnels.clone(),
		name: config.id.clone(),
		started: Instant::now(),
	};
	let listener = TcpListener::bind(config.dashboard).await.map_err(|source| {
		LaunchError::Bind { what: "dashboard", addr: config.dashboard, source }
	})?;
	tracing::info!(relay = %config.listen, dashboard = %config.dashboard, members = members.len(), "relay running");

	let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
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
	let params = AgentParams {
		core,
		sockets,
		pulse_interval: interval,
		rows,
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
	};
	let mut agent_stop = stop_rx;
	let result = net::run_with(agent, params, async move {
		let _ = agent_stop.wait_for(|stop| *stop).await;
	});
	let stopper = async move {
		shutdown.await;
		let _ = stop_tx.send(true);
	};
	let (result, ()) = tokio::join!(result, stopper);
	let _ = dashboard.await;
	result
}
