//! The tokio driver around the sans-IO [`RelayCore`]: UDP sockets for pulses, rows, flow
//! setups and data (one per worker, sharing the port through `SO_REUSEPORT`, each receiving
//! and forwarding in batches); timers for pulses and rows; UDP port-forward tunnels at the
//! ingress and per-flow sockets at the egress; periodic atomic persistence of the counters.
//!
//! Sockets and the shutdown signal are injected (as in tokio's mini-redis), so tests run
//! several agents in one process on real loopback sockets, with an [`Impairment`] shim on
//! chosen links.

mod batch;
mod tunnel;

pub use batch::{BatchSocket, RecvBatch, SendBatch, MAX_SEND_BYTES};
pub use tunnel::Tunnel;

use crate::{
	proto::{
		data_path::{DataShard, DataView, Handled},
		gate::Gate,
		hysteresis::{Hysteresis, Route},
		path_control::{Candidate, LaneStatus, MatrixView},
		relay::{Action, Flow, RelayCore, RowSchedule},
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
	/// Send it this much later (a longer or congested path).
	Delay(Duration),
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
	/// The bound data-plane sockets, one per worker (see [`bind_workers`]); the first one
	/// also sends pulses, rows and flow setups.
	pub sockets: Vec<BatchSocket>,
	/// Interval between pulses to every member.
	pub pulse_interval: Duration,
	/// Which rows each pulse round sends.
	pub rows: RowSchedule,
	/// Interval of the path decision of each tunnel.
	pub route_interval: Duration,
	/// Path hysteresis of tunnels.
	pub hysteresis: Hysteresis,
	/// Most intermediates on a detour.
	pub max_intermediates: u8,
	/// How long a tunnel's flow keeps its key.
	pub rekey_after: Duration,
	/// Where counters are persisted.
	pub data_dir: PathBuf,
	/// Interval of counter persistence.
	pub persist_interval: Duration,
	/// Tunnels this relay is the ingress of.
	pub tunnels: Vec<Tunnel>,
	/// Test shim on the send path.
	pub impairment: Option<Arc<dyn Impairment>>,
	/// Datagrams other tasks want sent from the relay's address (the ingress's receipts),
	/// drained by whichever generation runs.
	pub outbox: Option<OutboxReceiver>,
}

/// The receiving end of the datagrams other tasks queue for the relay's socket.
pub type OutboxReceiver =
	Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<(Vec<u8>, SocketAddr)>>>;

/// Live view of a tunnel, for the dashboard and tests.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TunnelStatus {
	/// Flow id.
	pub flow: u64,
	/// Where traffic goes now.
	pub route: Route<Vec<MemberIndex>>,
	/// The path's expected one-way latency, µs (offset-relative).
	pub expected_owd_us: Option<i64>,
	/// The path's expected round trip from the matrix (sum of its segments' RTTs), µs: what
	/// a fast probe along it and back should take.
	pub expected_rtt_us: Option<u64>,
	/// The active path's smoothed round trip from its fast probes, µs.
	pub measured_rtt_us: Option<u64>,
	/// The active path's fast probes: round trip, loss, probes lost in a row.
	pub probes: LaneStatus,
	/// The direct path's fast probes while traffic takes a detour.
	pub direct_probes: Option<LaneStatus>,
	/// Why the last switch happened.
	pub last_switch: Option<String>,
	/// How many switches so far.
	pub switches: u64,
	/// Why the client's traffic is refused, while it is.
	pub refused: Option<String>,
}

/// Shared sending half: socket plus impairment shim.
#[derive(Clone)]
struct Sender {
	socket: Arc<BatchSocket>,
	local: SocketAddr,
	impairment: Option<Arc<dyn Impairment>>,
}

impl Sender {
	/// Whether `bytes` to `to` go now: true unless the impairment shim (if any) drops them, or
	/// delays them (then they are sent later from a task of their own).
	fn passes(&self, to: SocketAddr, bytes: &[u8]) -> bool {
		let Some(shim) = self.impairment.as_ref() else { return true };
		match shim.on_send(self.local, to, bytes) {
			Verdict::Pass => true,
			Verdict::Drop => false,
			Verdict::Delay(delay) => {
				let (socket, bytes) = (self.socket.clone(), bytes.to_vec());
				tokio::spawn(async move {
					tokio::time::sleep(delay).await;
					let _ = socket.socket().send_to(&bytes, to).await;
				});
				false
			}
		}
	}

	async fn send(&self, bytes: &[u8], to: SocketAddr) {
		if !self.passes(to, bytes) {
			return;
		}
		if let Err(error) = self.socket.socket().send_to(bytes, to).await {
			tracing::debug!(%to, %error, "send failed");
		}
	}
}

/// Binds `workers` sockets to `addr`, sharing the port (`SO_REUSEPORT`): the kernel spreads
/// senders across them by address, and each worker receives and forwards on its own.
pub fn bind_workers(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<BatchSocket>> {
	let first = BatchSocket::bind_reuse_port(addr)?;
	let addr = first.local_addr()?;
	let mut sockets = vec![first];
	for _ in 1..workers.max(1) {
		sockets.push(BatchSocket::bind_reuse_port(addr)?);
	}
	Ok(sockets)
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
	let mut sockets = params.sockets.into_iter().map(Arc::new);
	let socket = sockets.next().ok_or_else(|| anyhow::anyhow!("the agent needs a socket"))?;
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

	for socket in std::iter::once(socket).chain(sockets) {
		let worker =
			Worker::new(socket, core.clone(), sender.clone(), ingress.clone(), egress.clone());
		tasks.spawn(worker.run(stop_rx.clone()));
	}
	tasks.spawn(pulse_loop(
		core.clone(),
		sender.clone(),
		params.pulse_interval,
		params.rows,
		stop_rx.clone(),
	));
	tasks.spawn(sync_loop(core.clone(), stop_rx.clone()));
	tasks.spawn(persist_loop(
		core.clone(),
		params.data_dir.clone(),
		params.persist_interval,
		stop_rx.clone(),
	));
	if let Some(outbox) = params.outbox {
		tasks.spawn(outbox_loop(outbox, sender.clone(), stop_rx.clone()));
	}
	for spec in params.tunnels {
		let index = {
			let mut statuses = agent.tunnels.lock().unwrap_or_else(|p| p.into_inner());
			statuses.push(TunnelStatus {
				flow: spec.flow_id,
				route: Route::Direct,
				expected_owd_us: None,
				expected_rtt_us: None,
				measured_rtt_us: None,
				probes: LaneStatus::default(),
				direct_probes: None,
				last_switch: None,
				switches: 0,
				refused: None,
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
				rekey_after: params.rekey_after,
				stop: stop_rx.clone(),
			},
		));
	}

	shutdown.await;
	let _ = stop_tx.send(true);
	while tasks.join_next().await.is_some() {}
	let counters = {
		let mut core = lock(&core);
		core.sync();
		core.counters().clone()
	};
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

/// The receive side of one socket: takes datagrams in batches and handles each receive
/// buffer (the datagrams of one sender) in one pass of the worker's own [`DataShard`]: data is
/// checked, counted and rewritten there without the core's lock, and what it forwards is copied
/// at once into GSO sends, while the datagram is still in the cache. A control datagram is
/// checked by the worker's own [`Gate`] (sender, budget, signature) and only then handed to
/// the core under its lock, so neither a signature check nor another worker's control traffic
/// holds up data. Allocates nothing per datagram.
pub struct Worker {
	socket: Arc<BatchSocket>,
	core: SharedCore,
	shard: DataShard,
	gate: Gate,
	sender: Sender,
	ingress: Arc<tunnel::IngressTable>,
	egress: Arc<tunnel::EgressTable>,
	batch: RecvBatch,
	out: SendBatch,
	/// Datagrams of the current receive buffer that leave the overlay or answer a probe:
	/// handled after the sends, outside the lock.
	deferred: Vec<Deferred>,
}

/// Acts on what became of `datagram` (at `start` in its receive buffer): stages it for its
/// next hop, or defers what leaves the overlay or answers a probe.
#[inline(always)]
fn act(
	action: &Action,
	view: &DataView,
	sender: &Sender,
	out: &mut SendBatch,
	deferred: &mut Vec<Deferred>,
	datagram: &[u8],
	start: usize,
) {
	let shift = |payload: &std::ops::Range<usize>| start + payload.start..start + payload.end;
	match action {
		Action::Forward { to } => {
			if let Some(addr) = view.member_addr(*to) {
				if sender.passes(addr, datagram) {
					out.stage(addr, datagram);
				}
			}
		}
		Action::Deliver { flow, reverse: true, payload } => {
			deferred.push(Deferred::ToClient { flow: *flow, payload: shift(payload) });
		}
		Action::Deliver { flow, reverse: false, payload } => {
			if let Some(destination) = view.destination(*flow) {
				deferred.push(Deferred::ToDestination {
					flow: *flow,
					destination,
					payload: shift(payload),
				});
			}
		}
		Action::ProbeReply { flow, seq, rtt_ns } => {
			deferred.push(Deferred::ProbeReply { flow: *flow, seq: *seq, rtt_ns: *rtt_ns });
		}
		Action::Consumed | Action::Dropped(_) => {}
	}
}

/// What a [`Worker`] does with a datagram once the core is unlocked.
enum Deferred {
	/// Hand the payload (at `payload` in the receive buffer) to the tunnel's client.
	ToClient { flow: u64, payload: std::ops::Range<usize> },
	/// Hand the payload to the flow's destination.
	ToDestination { flow: u64, destination: SocketAddr, payload: std::ops::Range<usize> },
	/// A fast probe came back.
	ProbeReply { flow: u64, seq: u64, rtt_ns: u64 },
}

impl Worker {
	fn new(
		socket: Arc<BatchSocket>,
		core: SharedCore,
		sender: Sender,
		ingress: Arc<tunnel::IngressTable>,
		egress: Arc<tunnel::EgressTable>,
	) -> Self {
		let out = SendBatch::new(socket.max_send_segments());
		let (gate, shard) = {
			let core = lock(&core);
			(core.gate(), core.data_shard())
		};
		Self {
			socket,
			gate,
			shard,
			core,
			sender,
			ingress,
			egress,
			batch: RecvBatch::default(),
			out,
			deferred: Vec::with_capacity(batch::MAX_SEND_SEGMENTS),
		}
	}

	/// A worker that forwards and consumes but delivers nowhere (benchmarks and the
	/// allocation test: one relay hop on `socket`).
	pub fn hop(socket: BatchSocket, core: SharedCore) -> std::io::Result<Self> {
		let socket = Arc::new(socket);
		let sender =
			Sender { local: socket.local_addr()?, socket: socket.clone(), impairment: None };
		Ok(Self::new(socket, core, sender, Default::default(), Default::default()))
	}

	async fn run(mut self, mut stop: watch::Receiver<bool>) {
		loop {
			tokio::select! {
				result = self.step() => if let Err(error) = result {
					tracing::debug!(%error, "receive failed");
				},
				_ = stopped(&mut stop) => break,
			}
		}
		// The core takes in what this worker counted while its shard is still there to sync.
		lock(&self.core).sync();
	}

	/// Waits for one batch of datagrams and handles all of them. Fails only if receiving
	/// does; a failed send is logged and the batch goes on.
	pub async fn step(&mut self) -> std::io::Result<()> {
		self.socket.recv(&mut self.batch).await?;
		// One receive time for the whole batch: every datagram in it had arrived by now, and
		// reading the clock per datagram would add the processing of those before it.
		let received_ns = now_ns();
		for slot in 0..self.batch.slots() {
			self.handle_slot(slot, received_ns);
			if let Err(error) = self.out.send(&self.socket).await {
				tracing::debug!(%error, "forward failed");
			}
			self.finish_deferred(slot).await;
		}
		Ok(())
	}

	/// Handles every datagram of receive buffer `slot` and stages what it forwards: data in
	/// the worker's shard, control datagrams through its gate and then the core (the shard is
	/// let go meanwhile: the core's sync takes it).
	fn handle_slot(&mut self, slot: usize, received_ns: u64) {
		let (from, datagrams) = self.batch.datagrams_mut(slot);
		let mut pass = self.shard.pass();
		let mut offset = 0;
		for datagram in datagrams {
			let start = offset;
			offset += datagram.len();
			// Each action is acted on where it was made: merging the arms into one action
			// first copied it whole, a store-forwarding stall on every packet (its fields
			// are written one at a time).
			match pass.handle(from, datagram, received_ns) {
				Handled::Done(action) => act(
					&action,
					pass.view(),
					&self.sender,
					&mut self.out,
					&mut self.deferred,
					datagram,
					start,
				),
				Handled::ForeignVersion { member, version } => {
					drop(pass);
					lock(&self.core).foreign_version(member, version);
					pass = self.shard.pass();
				}
				Handled::Control => {
					drop(pass);
					let admission = self.gate.admit(from, datagram, received_ns);
					let action = lock(&self.core).on_gated(from, datagram, received_ns, admission);
					pass = self.shard.pass();
					act(
						&action,
						pass.view(),
						&self.sender,
						&mut self.out,
						&mut self.deferred,
						datagram,
						start,
					)
				}
			}
		}
	}

	/// Delivers what [`Self::handle_slot`] deferred from receive buffer `slot`.
	async fn finish_deferred(&mut self, slot: usize) {
		let bytes = self.batch.slot_bytes(slot);
		for deferred in self.deferred.drain(..) {
			match deferred {
				Deferred::ToClient { flow, payload } => {
					self.ingress.deliver(flow, &bytes[payload]).await;
				}
				Deferred::ToDestination { flow, destination, payload } => {
					self.egress
						.deliver(
							flow,
							destination,
							&bytes[payload],
							self.core.clone(),
							self.sender.clone(),
						)
						.await;
				}
				Deferred::ProbeReply { flow, seq, rtt_ns } => {
					self.ingress.probe_answered(flow, seq, rtt_ns)
				}
			}
		}
	}
}

/// Pulses every member once per `interval`, paced evenly across it rather than in a burst (a
/// burst queues behind itself on both ends, and the queueing shows up as delay), then sends
/// the round's row.
async fn pulse_loop(
	core: SharedCore,
	sender: Sender,
	interval: Duration,
	rows: RowSchedule,
	mut stop: watch::Receiver<bool>,
) {
	let (me, addrs) = {
		let core = lock(&core);
		(core.me(), core.members().iter().map(|m| m.addr).collect::<Vec<_>>())
	};
	let peers: Vec<(MemberIndex, SocketAddr)> = addrs
		.into_iter()
		.enumerate()
		.filter_map(|(i, addr)| MemberIndex::try_from(i).ok().map(|index| (index, addr)))
		.filter(|(index, _)| *index != me)
		.collect();
	let slot = interval / u32::try_from(peers.len().max(1)).unwrap_or(u32::MAX);
	let mut ticker = tokio::time::interval(slot.max(Duration::from_micros(100)));
	ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	let mut buf = vec![0u8; MAX_DATAGRAM];
	let mut round: u32 = 0;
	let mut next_peer = 0;
	loop {
		tokio::select! {
			_ = ticker.tick() => {},
			_ = stopped(&mut stop) => return,
		}
		if let Some((index, _)) = peers.get(next_peer) {
			let pulse = lock(&core).pulse_for(*index, now_ns(), &mut buf);
			if let Some((to, len)) = pulse {
				sender.send(&buf[..len], to).await;
			}
			next_peer += 1;
		}
		if next_peer < peers.len() {
			continue;
		}
		next_peer = 0;
		let expired = lock(&core).expire_flows(now_ns());
		if !expired.is_empty() {
			tracing::debug!(flows = expired.len(), "idle flows expired");
		}
		let mode = rows.mode(round);
		round = round.wrapping_add(1);
		let mut cursor = 0;
		loop {
			let row = {
				let mut core = lock(&core);
				let now = now_ns();
				if cursor == 0 {
					core.refresh_own_row(now);
				}
				core.next_row(mode, now, &mut cursor, &mut buf)
			};
			let Some(len) = row else { break };
			for (_, to) in &peers {
				sender.send(&buf[..len], *to).await;
			}
		}
	}
}

/// How often the core takes in what the workers' shards counted and renews their leases of
/// others' flows' credit: what the dashboard, receipts and claims read is this fresh at worst.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// Syncs the core with the workers' shards every [`SYNC_INTERVAL`].
async fn sync_loop(core: SharedCore, mut stop: watch::Receiver<bool>) {
	let mut ticker = tokio::time::interval(SYNC_INTERVAL);
	ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
	loop {
		tokio::select! {
			_ = ticker.tick() => lock(&core).sync(),
			_ = stopped(&mut stop) => return,
		}
	}
}

/// Sends what other tasks queued, until `stop` (the queue stays for the next generation).
async fn outbox_loop(outbox: OutboxReceiver, sender: Sender, mut stop: watch::Receiver<bool>) {
	let mut queue = outbox.lock().await;
	loop {
		tokio::select! {
			queued = queue.recv() => match queued {
				Some((datagram, to)) => sender.send(&datagram, to).await,
				None => return,
			},
			_ = stopped(&mut stop) => return,
		}
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
		if let Err(error) = persist_once(&core, &data_dir).await {
			tracing::error!(%error, "cannot persist counters; retrying at the next tick");
		}
	}
}

/// Saves the counters if they changed; on failure they stay marked as changed, so the next
/// call retries even when no packet comes in between.
pub async fn persist_once(core: &SharedCore, data_dir: &std::path::Path) -> anyhow::Result<()> {
	let snapshot = {
		let mut core = lock(core);
		core.sync();
		core.counters_mut().take_dirty().then(|| (core.counters().clone(), core.link_marks()))
	};
	let Some((counters, marks)) = snapshot else { return Ok(()) };
	let dir = data_dir.to_path_buf();
	// The marks first, then the counters: after a crash between the two, packets counted but
	// not saved are refused if replayed, rather than counted twice.
	let saved = tokio::task::spawn_blocking(move || {
		store::save_link_marks(&dir, &marks).and_then(|()| store::save_counters(&dir, &counters))
	})
	.await
	.map_err(anyhow::Error::from)
	.and_then(|saved| saved.map_err(anyhow::Error::from));
	if saved.is_err() {
		lock(core).counters_mut().mark_dirty();
	}
	saved
}

/// What the live matrix says about the paths from this relay to `egress`: the direct segment
/// and up to eight detours, with the round trips and losses pulses measured (a tunnel's
/// [`PathController`](crate::proto::path_control::PathController) judges them by round trip;
/// one-way delays carry clock offsets and never enter its decisions).
fn matrix_view<M: LatencyMatrix>(
	matrix: &M,
	me: MemberIndex,
	egress: MemberIndex,
	max_intermediates: u8,
) -> MatrixView {
	let direct = matrix.segment(me, egress).map(|segment| Candidate {
		hops: vec![me, egress],
		rtt_us: u64::from(segment.rtt_us),
		loss_ppm: segment.loss_ppm,
	});
	let query = PathQuery { k: 8, max_intermediates, ..PathQuery::new(me, egress) };
	let detours = best_paths(matrix, query)
		.unwrap_or_default()
		.into_iter()
		.filter(|path| path.hops.len() > 2)
		.map(|path| Candidate { hops: path.hops, rtt_us: path.rtt_us, loss_ppm: path.loss_ppm })
		.collect();
	let barred = (0..matrix.len())
		.filter_map(|member| MemberIndex::try_from(member).ok())
		.filter(|&member| member != me && member != egress)
		.filter(|&member| {
			let role = matrix.role(member);
			role.quarantined || !role.sells_transit
		})
		.collect();
	MatrixView { direct, detours, barred }
}

/// Sum of `value` over the segments along `hops`, if every segment is measured.
fn path_sum<M: LatencyMatrix, T: core::ops::Add<Output = T> + Default>(
	matrix: &M,
	hops: &[MemberIndex],
	value: impl Fn(srwan_primitives::routing::SegmentMetrics) -> T,
) -> Option<T> {
	hops.windows(2)
		.try_fold(T::default(), |acc, pair| Some(acc + value(matrix.segment(pair[0], pair[1])?)))
}

/// Sum of the round trips of the segments along `hops`: a probe that travels `hops` and
/// retraces them back crosses each segment once each way.
fn path_rtt<M: LatencyMatrix>(matrix: &M, hops: &[MemberIndex]) -> Option<u64> {
	path_sum(matrix, hops, |segment| u64::from(segment.rtt_us))
}

/// Sum of one-way delays along `hops`.
fn path_owd<M: LatencyMatrix>(matrix: &M, hops: &[MemberIndex]) -> Option<i64> {
	path_sum(matrix, hops, |segment| segment.owd_us)
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

#[cfg(test)]
mod tests {
	use super::*;
	use crate::proto::relay::{CoreConfig, Member};
	use srwan_primitives::routing::{DenseMatrix, SegmentMetrics};

	#[tokio::test]
	async fn a_failed_save_is_retried_without_new_traffic() {
		let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
		let me = Member {
			id: [1; 32],
			addr: "127.0.0.1:1".parse().unwrap(),
			pulse_key: key.verifying_key(),
		};
		let core: SharedCore =
			Arc::new(Mutex::new(RelayCore::new(CoreConfig::new(key, vec![me])).unwrap()));
		lock(&core).counters_mut().record_in(1, 3, [2; 32], 1_200);
		let dir = tempfile::tempdir().unwrap();
		let data_dir = dir.path().join("data");
		std::fs::write(&data_dir, b"a file where the data dir should be").unwrap();
		assert!(persist_once(&core, &data_dir).await.is_err());
		// No packet since: the next tick still has something to save, and saves it.
		std::fs::remove_file(&data_dir).unwrap();
		persist_once(&core, &data_dir).await.unwrap();
		let saved = store::load_counters(&data_dir).unwrap();
		assert_eq!(saved.totals(), lock(&core).counters().totals());
		assert!(!lock(&core).counters_mut().take_dirty(), "saved: nothing left to retry");
	}

	#[tokio::test]
	async fn a_worker_that_stops_leaves_its_counts_with_the_core() {
		use crate::proto::relay::Flow;
		let bind = || async {
			BatchSocket::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap()).unwrap()
		};
		let (sender, middle, sink) = (bind().await, bind().await, bind().await);
		let addrs = [
			sender.local_addr().unwrap(),
			middle.local_addr().unwrap(),
			sink.local_addr().unwrap(),
		];
		let keys: Vec<_> =
			(1..=3).map(|i| ed25519_dalek::SigningKey::from_bytes(&[i; 32])).collect();
		let members: Vec<Member> = (0..3)
			.map(|i| Member {
				id: [i as u8; 32],
				addr: addrs[i],
				pulse_key: keys[i].verifying_key(),
			})
			.collect();
		let flow =
			Flow { id: 1, version: 1, key: [9; 32], path: vec![0, 1, 2], destination: addrs[2] };
		let core_of = |me: usize| {
			let mut core =
				RelayCore::new(CoreConfig::new(keys[me].clone(), members.clone())).unwrap();
			core.install_flow(flow.clone()).unwrap();
			core
		};
		let (mut ingress, core) = (core_of(0), Arc::new(Mutex::new(core_of(1))));
		let worker = Worker::hop(middle, core.clone()).unwrap();
		let (stop, stopping) = watch::channel(false);
		let running = tokio::spawn(worker.run(stopping));

		let mut packet = [0u8; 512];
		let (_, len) = ingress.encapsulate(1, false, &[7; 100], &mut packet).unwrap();
		sender.send(addrs[1], &packet[..len], None).await.unwrap();
		let mut batch = RecvBatch::default();
		tokio::time::timeout(std::time::Duration::from_secs(5), sink.recv(&mut batch))
			.await
			.expect("forwarded to the sink")
			.unwrap();
		// Counted in the worker's shard only: nothing syncs it but the worker's stop.
		assert_eq!(lock(&core).counters().totals().in_octets, 0);

		stop.send(true).unwrap();
		running.await.unwrap();
		let totals = lock(&core).counters().totals();
		assert_eq!((totals.in_octets, totals.out_octets), (len as u64, len as u64));
	}

	#[test]
	fn clock_offsets_of_a_second_do_not_reorder_the_paths_a_tunnel_sees() {
		// 0 → 3 directly (150 ms round trip), via 1 (120 ms) or via 2 (200 ms). Relay 1's
		// clock is a second ahead and relay 2's a second behind: the one-way delays measured
		// into and out of them are off by ±1 s, the round trips are not.
		let offset_us = [0i64, 1_000_000, -1_000_000, 0];
		let mut matrix = DenseMatrix::new(4);
		let mut link = |a: MemberIndex, b: MemberIndex, rtt_ms: u32| {
			for (from, to) in [(a, b), (b, a)] {
				let owd_us = i64::from(rtt_ms) * 500 + offset_us[usize::from(to)]
					- offset_us[usize::from(from)];
				let metrics = SegmentMetrics { owd_us, rtt_us: rtt_ms * 1_000, loss_ppm: 0 };
				matrix.set(from, to, Some(metrics));
			}
		};
		link(0, 3, 150);
		link(0, 1, 60);
		link(1, 3, 60);
		link(0, 2, 100);
		link(2, 3, 100);
		let view = matrix_view(&matrix, 0, 3, 2);
		assert_eq!(view.direct.as_ref().map(|d| d.rtt_us), Some(150_000));
		let mut detours: Vec<_> = view.detours.iter().map(|c| (c.hops.clone(), c.rtt_us)).collect();
		detours.sort_by_key(|(_, rtt)| *rtt);
		assert_eq!(detours, vec![(vec![0, 1, 3], 120_000), (vec![0, 2, 3], 200_000)]);
	}
}
