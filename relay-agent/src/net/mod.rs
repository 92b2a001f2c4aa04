//! The tokio driver around the sans-IO [`RelayCore`]: one UDP socket for pulses, rows, flow
//! setups and data; timers for pulses and rows; UDP port-forward tunnels at the ingress and
//! per-flow sockets at the egress; periodic atomic persistence of the counters.
//!
//! Sockets and the shutdown signal are injected (as in tokio's mini-redis), so tests run
//! several agents in one process on real loopback sockets, with an [`Impairment`] shim on
//! chosen links.

mod tunnel;

pub use tunnel::Tunnel;

use crate::{
	proto::{
		hysteresis::{Hysteresis, PathSelector, Route},
		relay::{Action, Flow, RelayCore},
	},
	store,
};
use srwan_primitives::routing::{best_paths, LatencyMatrix, MemberIndex, PathQuery};
use std::{
	collections::HashMap,
	future::Future,
	net::SocketAddr,
	path::PathBuf,
	sync::{Arc, Mutex, MutexGuard},
	time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::{net::UdpSocket, sync::watch, task::JoinSet};

/// Largest datagram the agent handles.
pub const MAX_DATAGRAM: usize = 2048;

/// The core, shared by the driver's tasks and the dashboard.
pub type SharedCore = Arc<Mutex<RelayCore>>;

/// Locks the core; a panic in another task while holding it does not stop the relay.
pub fn lock(core: &SharedCore) -> MutexGuard<'_, RelayCore> {
	core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wall clock in ns since the unix epoch (what pulses carry).
pub fn now_ns() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// What an impairment shim does with one outgoing datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
	/// Send it.
	Pass,
	/// Lose it.
	Drop,
}

/// A test shim on the send path: sees every datagram before it leaves.
pub trait Impairment: Send + Sync {
	/// Decides the fate of `datagram` from `from` to `to`.
	fn on_send(&self, from: SocketAddr, to: SocketAddr, datagram: &[u8]) -> Verdict;
}

/// Everything the agent needs to run.
pub struct AgentParams {
	/// The relay logic.
	pub core: SharedCore,
	/// The bound data-plane socket.
	pub socket: UdpSocket,
	/// Interval between pulses to every member.
	pub pulse_interval: Duration,
	/// Every how many pulse rounds a full row (rather than a delta) goes out.
	pub full_row_every: u32,
	/// Interval of the path decision of each tunnel.
	pub route_interval: Duration,
	/// Path hysteresis of tunnels.
	pub hysteresis: Hysteresis,
	/// Most intermediates on a detour.
	pub max_intermediates: u8,
	/// Where counters are persisted.
	pub data_dir: PathBuf,
	/// Interval of counter persistence.
	pub persist_interval: Duration,
	/// Tunnels this relay is the ingress of.
	pub tunnels: Vec<Tunnel>,
	/// Test shim on the send path.
	pub impairment: Option<Arc<dyn Impairment>>,
}

/// Live view of a tunnel, for the dashboard and tests.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TunnelStatus {
	/// Flow id.
	pub flow: u64,
	/// Where traffic goes now.
	pub route: Route<Vec<MemberIndex>>,
	/// The path's expected one-way latency, µs (offset-relative).
	pub expected_owd_us: Option<i64>,
	/// Why the last switch happened.
	pub last_switch: Option<String>,
	/// How many switches so far.
	pub switches: u64,
}

/// Shared sending half: socket plus impairment shim.
#[derive(Clone)]
struct Sender {
	socket: Arc<UdpSocket>,
	local: SocketAddr,
	impairment: Option<Arc<dyn Impairment>>,
}

impl Sender {
	async fn send(&self, bytes: &[u8], to: SocketAddr) {
		if let Some(shim) = &self.impairment {
			if shim.on_send(self.local, to, bytes) == Verdict::Drop {
				return;
			}
		}
		if let Err(error) = self.socket.send_to(bytes, to).await {
			tracing::debug!(%to, %error, "send failed");
		}
	}
}

/// Handle to a running agent.
pub struct Agent {
	/// The core.
	pub core: SharedCore,
	/// Tunnel states.
	pub tunnels: Arc<Mutex<Vec<TunnelStatus>>>,
}

/// Runs the agent until `shutdown` resolves, then flushes the counters.
pub async fn run(params: AgentParams, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
	let agent = Agent { core: params.core.clone(), tunnels: Arc::new(Mutex::new(Vec::new())) };
	run_with(agent, params, shutdown).await
}

/// Like [`run`], with the status handle created by the caller (for the dashboard).
pub async fn run_with(
	agent: Agent,
	params: AgentParams,
	shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
	let socket = Arc::new(params.socket);
	let sender = Sender {
		local: socket.local_addr()?,
		socket: socket.clone(),
		impairment: params.impairment,
	};
	let core = params.core;
	let (stop_tx, stop_rx) = watch::channel(false);
	let mut tasks = JoinSet::new();

	let ingress = Arc::new(tunnel::IngressTable::default());
	let egress = Arc::new(tunnel::EgressTable::default());

	tasks.spawn(receive_loop(
		core.clone(),
		socket.clone(),
		sender.clone(),
		ingress.clone(),
		egress.clone(),
		stop_rx.clone(),
	));
	tasks.spawn(pulse_loop(
		core.clone(),
		sender.clone(),
		params.pulse_interval,
		params.full_row_every.max(1),
		stop_rx.clone(),
	));
	tasks.spawn(persist_loop(
		core.clone(),
		params.data_dir.clone(),
		params.persist_interval,
		stop_rx.clone(),
	));
	for spec in params.tunnels {
		let index = {
			let mut statuses = agent.tunnels.lock().unwrap_or_else(|p| p.into_inner());
			statuses.push(TunnelStatus {
				flow: spec.flow_id,
				route: Route::Direct,
				expected_owd_us: None,
				last_switch: None,
				switches: 0,
			});
			statuses.len() - 1
		};
		tasks.spawn(tunnel::run_tunnel(
			spec,
			tunnel::TunnelContext {
				core: core.clone(),
				sender: sender.clone(),
				ingress: ingress.clone(),
				statuses: agent.tunnels.clone(),
				status_index: index,
				hysteresis: params.hysteresis,
				max_intermediates: params.max_intermediates,
				route_interval: params.route_interval,
				setup_interval: params.pulse_interval,
				stop: stop_rx.clone(),
			},
		));
	}

	shutdown.await;
	let _ = stop_tx.send(true);
	while tasks.join_next().await.is_some() {}
	let counters = lock(&core).counters().clone();
	store::save_counters(&params.data_dir, &counters)?;
	tracing::info!("relay stopped; counters flushed");
	Ok(())
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
	while !*stop.borrow() {
		if stop.changed().await.is_err() {
			return;
		}
	}
}

async fn receive_loop(
	core: SharedCore,
	socket: Arc<UdpSocket>,
	sender: Sender,
	ingress: Arc<tunnel::IngressTable>,
	egress: Arc<tunnel::EgressTable>,
	mut stop: watch::Receiver<bool>,
) {
	let mut buf = vec![0u8; MAX_DATAGRAM];
	loop {
		let (len, from) = tokio::select! {
			received = socket.recv_from(&mut buf) => match received {
				Ok(x) => x,
				Err(error) => { tracing::debug!(%error, "recv failed"); continue }
			},
			_ = stopped(&mut stop) => return,
		};
		let action = lock(&core).on_datagram(from, &mut buf[..len], now_ns());
		match action {
			Action::Forward { to } => sender.send(&buf[..len], to).await,
			Action::Deliver { flow, reverse: true, payload } => {
				ingress.deliver(flow, &buf[payload]).await;
			}
			Action::Deliver { flow, reverse: false, payload } => {
				let destination = lock(&core).flow(flow).map(|f| f.destination);
				if let Some(destination) = destination {
					egress
						.deliver(flow, destination, &buf[payload], core.clone(), sender.clone())
						.await;
				}
			}
			Action::ProbeReply { flow, seq, rtt_ns } => ingress.probe_answered(flow, seq, rtt_ns),
			Action::Consumed | Action::Dropped(_) => {}
		}
	}
}

async fn pulse_loop(
	core: SharedCore,
	sender: Sender,
	interval: Duration,
	full_row_every: u32,
	mut stop: watch::Receiver<bool>,
) {
	let mut ticker = tokio::time::interval(interval);
	ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	let mut buf = vec![0u8; MAX_DATAGRAM];
	let mut round: u32 = 0;
	loop {
		tokio::select! {
			_ = ticker.tick() => {},
			_ = stopped(&mut stop) => return,
		}
		let (me, peers) = {
			let core = lock(&core);
			(core.me(), core.members().iter().map(|m| m.addr).collect::<Vec<_>>())
		};
		for peer in 0..peers.len() {
			let Ok(index) = MemberIndex::try_from(peer) else { break };
			if index == me {
				continue;
			}
			let pulse = lock(&core).pulse_for(index, now_ns(), &mut buf);
			if let Some((to, len)) = pulse {
				sender.send(&buf[..len], to).await;
			}
		}
		let row = {
			let mut core = lock(&core);
			let now = now_ns();
			core.refresh_own_row(now);
			core.next_row(round.is_multiple_of(full_row_every), now, &mut buf)
		};
		if let Some(len) = row {
			for (i, to) in peers.iter().enumerate() {
				if i != usize::from(me) {
					sender.send(&buf[..len], *to).await;
				}
			}
		}
		round = round.wrapping_add(1);
	}
}

async fn persist_loop(
	core: SharedCore,
	data_dir: PathBuf,
	interval: Duration,
	mut stop: watch::Receiver<bool>,
) {
	let mut ticker = tokio::time::interval(interval);
	loop {
		tokio::select! {
			_ = ticker.tick() => {},
			_ = stopped(&mut stop) => return,
		}
		let snapshot = {
			let mut core = lock(&core);
			core.counters_mut().take_dirty().then(|| core.counters().clone())
		};
		if let Some(counters) = snapshot {
			let dir = data_dir.clone();
			match tokio::task::spawn_blocking(move || store::save_counters(&dir, &counters)).await {
				Ok(Ok(())) => {}
				Ok(Err(error)) => tracing::error!(%error, "cannot persist counters"),
				Err(error) => tracing::error!(%error, "persistence task failed"),
			}
		}
	}
}

/// The path decision of one tunnel, from the live matrix: the direct segment versus the best
/// detour, through the hysteresis.
///
/// `active_alive` is false when the active path's last fast probe got no answer, and
/// `direct_alive` when the direct path's did: such a path counts as lost for this round,
/// whatever the (slower) matrix still says, so traffic neither stays on nor returns to it.
fn decide(
	core: &RelayCore,
	selector: &mut PathSelector<Vec<MemberIndex>>,
	egress: MemberIndex,
	max_intermediates: u8,
	active_alive: bool,
	direct_alive: bool,
) -> Option<crate::proto::hysteresis::Switch<Vec<MemberIndex>>> {
	let matrix = core.matrix();
	let me = core.me();
	let direct = matrix.segment(me, egress).map(|s| s.owd_us).filter(|_| direct_alive);
	let query = PathQuery { k: 4, max_intermediates, ..PathQuery::new(me, egress) };
	let paths = best_paths(matrix, query).unwrap_or_default();
	let best_detour = paths.iter().find(|p| p.hops.len() > 2).map(|p| (p.hops.clone(), p.cost));
	let active_detour = match selector.active() {
		Route::Detour(hops) => path_owd(matrix, hops).filter(|_| active_alive),
		Route::Direct => None,
	};
	// Offset-relative latencies compare between paths of the same endpoints; shift them to
	// be non-negative for the hysteresis (the shift cancels in every difference).
	let floor = [direct, active_detour, best_detour.as_ref().map(|(_, c)| *c)]
		.into_iter()
		.flatten()
		.min()
		.unwrap_or(0)
		.min(0);
	let shift = |v: i64| (v - floor) as u64;
	selector.on_probe(crate::proto::hysteresis::Probe {
		direct: direct.map(shift),
		active_detour: active_detour.map(shift),
		best_detour: best_detour.map(|(hops, cost)| (hops, shift(cost))),
	})
}

/// Sum of one-way delays along `hops`, if every segment is measured.
fn path_owd<M: LatencyMatrix>(matrix: &M, hops: &[MemberIndex]) -> Option<i64> {
	hops.windows(2).try_fold(0i64, |acc, pair| Some(acc + matrix.segment(pair[0], pair[1])?.owd_us))
}

/// The flow for a tunnel on `route`.
fn flow_on(
	route: &Route<Vec<MemberIndex>>,
	template: &Flow,
	me: MemberIndex,
	egress: MemberIndex,
) -> Flow {
	let path = match route {
		Route::Direct => vec![me, egress],
		Route::Detour(hops) => hops.clone(),
	};
	Flow { path, ..template.clone() }
}

/// The egress's sockets towards destinations, by flow.
type FlowSockets = HashMap<u64, Arc<UdpSocket>>;
