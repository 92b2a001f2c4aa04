//! UDP port-forward tunnels: the ingress side (a local listen socket whose datagrams enter the
//! overlay, replies going back to the client) and the egress side (a socket per flow towards
//! the destination, whose replies travel back along the reversed path).

use super::{
	flow_on, lock, matrix_view, stopped, FlowSockets, Sender, SharedCore, TunnelStatus,
	MAX_DATAGRAM,
};
use crate::proto::{
	hysteresis::{Hysteresis, Route},
	path_control::{ControllerConfig, PathController, Transmit},
	relay::{canonical_addr, DropReason, Flow},
};
use srwan_primitives::routing::{MemberIndex, PathQuery};
use std::{
	collections::HashMap,
	net::SocketAddr,
	sync::{Arc, Mutex},
	time::Duration,
};
use tokio::{
	net::UdpSocket,
	sync::{mpsc, watch},
};

/// A tunnel this relay is the ingress of.
pub struct Tunnel {
	/// Where local clients send datagrams.
	pub listen: UdpSocket,
	/// Flow id (unique per tunnel).
	pub flow_id: u64,
	/// The egress relay.
	pub egress: MemberIndex,
	/// Where the egress delivers.
	pub destination: SocketAddr,
	/// Who may send through the tunnel (empty: anyone who can reach `listen`, which the
	/// config allows only on loopback).
	pub allowed_clients: Vec<std::net::IpAddr>,
	/// Members the traffic must cross between this relay and the egress: a pinned path,
	/// never rerouted (empty: the path follows the matrix).
	pub through: Vec<MemberIndex>,
}

struct IngressEntry {
	socket: Arc<UdpSocket>,
	client: Option<SocketAddr>,
	/// Answers of the tunnel's fast probes: `(seq, rtt_ns)` to its path controller.
	probe_answers: mpsc::Sender<(u64, u64)>,
}

/// Probe answers queued for one tunnel's controller before more are dropped (they arrive at
/// most a few per probe interval; a flood of forged ones must not grow memory).
const PROBE_ANSWER_QUEUE: usize = 256;

/// Ingress side: flow → the tunnel's listen socket and its last client.
#[derive(Default)]
pub(super) struct IngressTable {
	entries: Mutex<HashMap<u64, IngressEntry>>,
}

impl IngressTable {
	fn register(&self, flow: u64, socket: Arc<UdpSocket>, probe_answers: mpsc::Sender<(u64, u64)>) {
		self.entries
			.lock()
			.unwrap_or_else(|p| p.into_inner())
			.insert(flow, IngressEntry { socket, client: None, probe_answers });
	}

	fn set_client(&self, flow: u64, client: SocketAddr) {
		if let Some(entry) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&flow) {
			entry.client = Some(client);
		}
	}

	/// A fast probe of `flow` came back: its controller judges it.
	pub(super) fn probe_answered(&self, flow: u64, seq: u64, rtt_ns: u64) {
		if let Some(entry) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&flow) {
			let _ = entry.probe_answers.try_send((seq, rtt_ns));
		}
	}

	/// A reply arrived at the ingress: hand it to the tunnel's client.
	pub(super) async fn deliver(&self, flow: u64, payload: &[u8]) {
		let target = {
			let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
			entries.get(&flow).and_then(|e| Some((e.socket.clone(), e.client?)))
		};
		if let Some((socket, client)) = target {
			let _ = socket.send_to(payload, client).await;
		}
	}
}

/// Egress side: flow → a socket connected to the destination.
#[derive(Default)]
pub(super) struct EgressTable {
	sockets: Arc<tokio::sync::Mutex<FlowSockets>>,
}

/// How often an egress socket with no replies checks that its flow still exists: once the
/// core expired the flow, the socket and its task are released.
const EGRESS_IDLE_CHECK: Duration = Duration::from_secs(5);

impl EgressTable {
	/// Forward traffic reached the egress: send it to the destination from the flow's own
	/// socket (created on first use, with a task that carries replies back).
	pub(super) async fn deliver(
		&self,
		flow: u64,
		destination: SocketAddr,
		payload: &[u8],
		core: SharedCore,
		sender: Sender,
	) {
		let socket = {
			let mut sockets = self.sockets.lock().await;
			match sockets.get(&flow) {
				Some(socket) => socket.clone(),
				None => {
					let bind: SocketAddr = if destination.is_ipv4() {
						"0.0.0.0:0".parse().unwrap_or(destination)
					} else {
						"[::]:0".parse().unwrap_or(destination)
					};
					let socket = match UdpSocket::bind(bind).await {
						Ok(s) => Arc::new(s),
						Err(error) => {
							tracing::warn!(%error, "cannot open egress socket");
							return;
						}
					};
					if let Err(error) = socket.connect(destination).await {
						tracing::warn!(%error, %destination, "cannot reach destination");
						return;
					}
					sockets.insert(flow, socket.clone());
					let table = self.sockets.clone();
					tokio::spawn(carry_replies(flow, socket.clone(), core, sender, table));
					socket
				}
			}
		};
		let _ = socket.send(payload).await;
	}
}

/// Replies from the destination enter the overlay on the reversed path. Ends, releasing the
/// socket, when the flow is gone from the core (expired or torn down).
async fn carry_replies(
	flow: u64,
	socket: Arc<UdpSocket>,
	core: SharedCore,
	sender: Sender,
	table: Arc<tokio::sync::Mutex<FlowSockets>>,
) {
	let mut payload = vec![0u8; MAX_DATAGRAM];
	let mut packet = vec![0u8; MAX_DATAGRAM];
	loop {
		let received = tokio::time::timeout(EGRESS_IDLE_CHECK, socket.recv(&mut payload)).await;
		let encapsulated = match received {
			Ok(Ok(len)) => lock(&core).encapsulate(flow, true, &payload[..len], &mut packet),
			Ok(Err(_)) => break,
			Err(_idle) if lock(&core).flow(flow).is_some() => continue,
			Err(_idle) => break,
		};
		match encapsulated {
			Ok((to, n)) => sender.send(&packet[..n], to).await,
			// Not carried for the consumer now (unreceipted, or its escrow is too low): this
			// reply is dropped, the flow stays.
			Err(DropReason::Unreceipted | DropReason::ConsumerRefused) => continue,
			Err(_) => break,
		}
	}
	let mut sockets = table.lock().await;
	// A new setup may have opened a new socket for the same id meanwhile: keep that one.
	if sockets.get(&flow).is_some_and(|current| Arc::ptr_eq(current, &socket)) {
		sockets.remove(&flow);
	}
}

/// What a tunnel task shares with the agent.
pub(super) struct TunnelContext {
	pub core: SharedCore,
	pub sender: Sender,
	pub ingress: Arc<IngressTable>,
	pub statuses: Arc<Mutex<Vec<TunnelStatus>>>,
	pub status_index: usize,
	pub hysteresis: Hysteresis,
	pub max_intermediates: u8,
	pub route_interval: Duration,
	pub setup_interval: Duration,
	/// A flow's key is replaced (a new setup version) at least this often.
	pub rekey_after: Duration,
	pub stop: watch::Receiver<bool>,
}

fn fresh_key() -> [u8; 32] {
	let mut key = [0u8; 32];
	rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
	key
}

/// `flow` under its next setup version, with a new key.
fn rekeyed(flow: Flow) -> Flow {
	Flow { version: flow.version.wrapping_add(1).max(1), key: fresh_key(), ..flow }
}

/// Sends the flow's signed setup to the first hop of its path; each member passes it on.
async fn announce(ctx: &TunnelContext, flow: Flow) {
	let mut buf = vec![0u8; MAX_DATAGRAM];
	let (len, first_hop) = {
		let mut core = lock(&ctx.core);
		let first_hop =
			flow.path.get(1).and_then(|m| core.members().get(usize::from(*m))).map(|m| m.addr);
		let mut ephemeral = [0u8; 32];
		rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut ephemeral);
		match (core.originate_flow(flow, ephemeral, super::now_ns(), &mut buf), first_hop) {
			(Ok(len), Some(first_hop)) => (len, first_hop),
			(Err(error), _) => {
				tracing::warn!(%error, "cannot set up flow");
				return;
			}
			(Ok(_), None) => return,
		}
	};
	ctx.sender.send(&buf[..len], first_hop).await;
}

/// Runs one tunnel: client datagrams in, and the tunnel's [`PathController`] driven by its
/// timeouts and probe answers (probes, setups, path switches out).
pub(super) async fn run_tunnel(spec: Tunnel, mut ctx: TunnelContext) {
	let listen = Arc::new(spec.listen);
	let (answers_tx, mut answers) = mpsc::channel(PROBE_ANSWER_QUEUE);
	ctx.ingress.register(spec.flow_id, listen.clone(), answers_tx);
	let (me, stale_after_ns) = {
		let core = lock(&ctx.core);
		(core.me(), core.matrix().stale_after_ns())
	};
	let pinned = !spec.through.is_empty();
	let template = Flow {
		id: spec.flow_id,
		version: 1,
		key: fresh_key(),
		path: std::iter::once(me)
			.chain(spec.through.iter().copied())
			.chain(std::iter::once(spec.egress))
			.collect(),
		destination: spec.destination,
	};
	let start = tokio::time::Instant::now();
	let elapsed_ns = || u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
	let config = ControllerConfig {
		probe_interval_ns: duration_ns(ctx.route_interval),
		setup_interval_ns: duration_ns(ctx.setup_interval),
		hysteresis: ctx.hysteresis,
		loss_penalty_us_per_pct: PathQuery::new(me, spec.egress).loss_penalty_us_per_pct,
		// A failed detour is out for 10 s (or a hundred probes), doubling with each repeat, up
		// to the time the matrix takes to forget a dead detour's segments.
		holddown_ns: HOLDDOWN.max(duration_ns(ctx.route_interval).saturating_mul(100)),
		max_holddown_ns: stale_after_ns,
	};
	let mut controller = PathController::new(config, me, spec.egress, elapsed_ns());
	let mut flow = template.clone();
	let mut keyed_at = tokio::time::Instant::now();
	let mut payload = vec![0u8; MAX_DATAGRAM];
	let mut packet = vec![0u8; MAX_DATAGRAM];
	// Whether the client's traffic is being refused (this account's escrow is too low).
	let mut refusing = false;
	loop {
		let mut moved = false;
		while let Some(switch) = controller.poll_switch() {
			if pinned {
				tracing::debug!(flow = spec.flow_id, to = ?switch.to, "the path is pinned: no switch");
				continue;
			}
			tracing::info!(flow = spec.flow_id, to = ?switch.to, reason = ?switch.reason, "path switch");
			flow = rekeyed(Flow {
				version: flow.version,
				..flow_on(&switch.to, &template, me, spec.egress)
			});
			keyed_at = tokio::time::Instant::now();
			moved = true;
		}
		while let Some(transmit) = controller.poll_transmit() {
			match transmit {
				Transmit::Setup => {
					if keyed_at.elapsed() >= ctx.rekey_after {
						flow = rekeyed(flow);
						keyed_at = tokio::time::Instant::now();
					}
					announce(&ctx, flow.clone()).await
				}
				Transmit::Probe { seq, direct } => {
					let probe = lock(&ctx.core).probe(
						spec.flow_id,
						seq,
						super::now_ns(),
						direct,
						&mut packet,
					);
					if let Ok((to, n)) = probe {
						ctx.sender.send(&packet[..n], to).await;
					}
				}
			}
		}
		if moved {
			publish(&ctx, &controller, &flow);
		}
		let deadline = start + Duration::from_nanos(controller.poll_timeout());
		tokio::select! {
			received = listen.recv_from(&mut payload) => {
				let Ok((len, client)) = received else { continue };
				let client = canonical_addr(client);
				if !spec.allowed_clients.is_empty() && !spec.allowed_clients.contains(&client.ip()) {
					tracing::debug!(%client, "tunnel datagram from a client not allowed: dropped");
					continue;
				}
				ctx.ingress.set_client(spec.flow_id, client);
				let encapsulated = lock(&ctx.core).encapsulate(spec.flow_id, false, &payload[..len], &mut packet);
				let refused = matches!(encapsulated, Err(DropReason::ConsumerRefused));
				if refused != refusing {
					refusing = refused;
					note_refusal(&ctx, spec.flow_id, refused);
				}
				if let Ok((to, n)) = encapsulated {
					ctx.sender.send(&packet[..n], to).await;
				}
			},
			Some((seq, rtt_ns)) = answers.recv() => controller.handle_probe_reply(seq, rtt_ns),
			_ = tokio::time::sleep_until(deadline) => {
				// Answers already here count before any probe is declared lost: a busy host
				// (this task scheduled late) is not a lossy path.
				while let Ok((seq, rtt_ns)) = answers.try_recv() {
					controller.handle_probe_reply(seq, rtt_ns);
				}
				let view = {
					let core = lock(&ctx.core);
					matrix_view(core.matrix(), me, spec.egress, ctx.max_intermediates)
				};
				controller.update_view(view);
				controller.handle_timeout(elapsed_ns());
				publish(&ctx, &controller, &flow);
			},
			_ = stopped(&mut ctx.stop) => return,
		}
	}
}

/// First holddown of a failed detour, ns.
const HOLDDOWN: u64 = 10_000_000_000;

fn duration_ns(duration: Duration) -> u64 {
	u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Shows the tunnel's path and probe figures on the dashboard.
/// Says (in the log and the tunnel's status) that the tunnel refuses its client's traffic
/// because this account's escrow backs less than the chain's minimum, or that it stopped.
fn note_refusal(ctx: &TunnelContext, flow: u64, refused: bool) {
	const REASON: &str = "this account's escrow backs less than the chain's minimum: relays would not carry the traffic (deposit with `srwan-relay escrow deposit`)";
	if refused {
		tracing::warn!(flow, "tunnel traffic refused: {REASON}");
	} else {
		tracing::info!(flow, "tunnel traffic flows again");
	}
	let mut statuses = ctx.statuses.lock().unwrap_or_else(|p| p.into_inner());
	if let Some(status) = statuses.get_mut(ctx.status_index) {
		status.refused = refused.then(|| REASON.to_string());
	}
}

fn publish(ctx: &TunnelContext, controller: &PathController, flow: &Flow) {
	let (expected_owd, expected_rtt) = {
		let core = lock(&ctx.core);
		(super::path_owd(core.matrix(), &flow.path), super::path_rtt(core.matrix(), &flow.path))
	};
	let mut statuses = ctx.statuses.lock().unwrap_or_else(|p| p.into_inner());
	if let Some(status) = statuses.get_mut(ctx.status_index) {
		status.route = if flow.path.len() > 2 && *controller.active() == Route::Direct {
			// A pinned path (the controller never moved the flow there).
			Route::Detour(flow.path.clone())
		} else {
			controller.active().clone()
		};
		status.last_switch = controller.last_switch().map(|reason| format!("{reason:?}"));
		status.switches = controller.switches();
		status.expected_owd_us = expected_owd;
		status.expected_rtt_us = expected_rtt;
		status.measured_rtt_us = controller.active_status().srtt_us;
		status.probes = controller.active_status();
		status.direct_probes = controller.direct_status();
	}
}
