//! UDP port-forward tunnels: the ingress side (a local listen socket whose datagrams enter the
//! overlay, replies going back to the client) and the egress side (a socket per flow towards
//! the destination, whose replies travel back along the reversed path).

use super::{
	decide, flow_on, lock, stopped, FlowSockets, Sender, SharedCore, TunnelStatus, MAX_DATAGRAM,
};
use crate::proto::{
	hysteresis::{Hysteresis, PathSelector, Route},
	relay::Flow,
};
use srwan_primitives::routing::MemberIndex;
use std::{
	collections::HashMap,
	net::SocketAddr,
	sync::{Arc, Mutex},
	time::Duration,
};
use tokio::{net::UdpSocket, sync::watch};

/// A tunnel this relay is the ingress of.
pub struct Tunnel {
	/// Where local clients send datagrams.
	pub listen: UdpSocket,
	/// Flow id (unique per tunnel).
	pub flow_id: u64,
	/// Flow MAC key.
	pub key: [u8; 32],
	/// The egress relay.
	pub egress: MemberIndex,
	/// Where the egress delivers.
	pub destination: SocketAddr,
}

struct IngressEntry {
	socket: Arc<UdpSocket>,
	client: Option<SocketAddr>,
	/// Newest answered fast probe of the active path and its round trip (ns).
	answered: Option<(u64, u64)>,
	/// Newest answered direct probe (sent while traffic takes a detour).
	answered_direct: Option<(u64, u64)>,
}

/// Direct probes carry this bit in their sequence number, active-path probes do not.
const DIRECT_PROBE: u64 = 1 << 63;

/// Ingress side: flow → the tunnel's listen socket and its last client.
#[derive(Default)]
pub(super) struct IngressTable {
	entries: Mutex<HashMap<u64, IngressEntry>>,
}

impl IngressTable {
	fn register(&self, flow: u64, socket: Arc<UdpSocket>) {
		self.entries.lock().unwrap_or_else(|p| p.into_inner()).insert(
			flow,
			IngressEntry { socket, client: None, answered: None, answered_direct: None },
		);
	}

	fn set_client(&self, flow: u64, client: SocketAddr) {
		if let Some(entry) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&flow) {
			entry.client = Some(client);
		}
	}

	/// A fast probe of `flow` came back.
	pub(super) fn probe_answered(&self, flow: u64, seq: u64, rtt_ns: u64) {
		if let Some(entry) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&flow) {
			let slot = if seq & DIRECT_PROBE != 0 {
				&mut entry.answered_direct
			} else {
				&mut entry.answered
			};
			if slot.is_none_or(|(newest, _)| seq > newest) {
				*slot = Some((seq, rtt_ns));
			}
		}
	}

	/// Round trip (ns) of the newest answered probe of `flow`'s active path.
	fn measured_rtt_ns(&self, flow: u64) -> Option<u64> {
		let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
		entries.get(&flow).and_then(|e| e.answered).map(|(_, rtt)| rtt)
	}

	/// Whether probe `seq` (or a newer one of the same kind) of `flow` was answered.
	fn answered_since(&self, flow: u64, seq: u64) -> bool {
		let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
		let slot =
			|e: &IngressEntry| if seq & DIRECT_PROBE != 0 { e.answered_direct } else { e.answered };
		entries.get(&flow).and_then(slot).is_some_and(|(newest, _)| newest >= seq)
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
	sockets: tokio::sync::Mutex<FlowSockets>,
}

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
					tokio::spawn(carry_replies(flow, socket.clone(), core, sender));
					socket
				}
			}
		};
		let _ = socket.send(payload).await;
	}
}

/// Replies from the destination enter the overlay on the reversed path.
async fn carry_replies(flow: u64, socket: Arc<UdpSocket>, core: SharedCore, sender: Sender) {
	let mut payload = vec![0u8; MAX_DATAGRAM];
	let mut packet = vec![0u8; MAX_DATAGRAM];
	loop {
		let Ok(len) = socket.recv(&mut payload).await else { return };
		let encapsulated = lock(&core).encapsulate(flow, true, &payload[..len], &mut packet);
		match encapsulated {
			Ok((to, n)) => sender.send(&packet[..n], to).await,
			// The flow was torn down: stop carrying replies.
			Err(_) => return,
		}
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
	pub stop: watch::Receiver<bool>,
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
		match (core.originate_flow(flow, ephemeral, &mut buf), first_hop) {
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

/// Runs one tunnel: client datagrams in, path decisions, periodic setup refresh.
pub(super) async fn run_tunnel(spec: Tunnel, mut ctx: TunnelContext) {
	let listen = Arc::new(spec.listen);
	ctx.ingress.register(spec.flow_id, listen.clone());
	let me = lock(&ctx.core).me();
	let template = Flow {
		id: spec.flow_id,
		key: spec.key,
		path: vec![me, spec.egress],
		destination: spec.destination,
	};
	let mut selector: PathSelector<Vec<MemberIndex>> = PathSelector::new(ctx.hysteresis);
	let mut flow = flow_on(selector.active(), &template, me, spec.egress);
	announce(&ctx, flow.clone()).await;

	let mut route_tick = tokio::time::interval(ctx.route_interval);
	let mut setup_tick = tokio::time::interval(ctx.setup_interval);
	let mut payload = vec![0u8; MAX_DATAGRAM];
	let mut packet = vec![0u8; MAX_DATAGRAM];
	let mut probe_seq: u64 = 0;
	let mut direct_seq: u64 = DIRECT_PROBE;
	loop {
		tokio::select! {
			received = listen.recv_from(&mut payload) => {
				let Ok((len, client)) = received else { continue };
				ctx.ingress.set_client(spec.flow_id, client);
				let encapsulated = lock(&ctx.core).encapsulate(spec.flow_id, false, &payload[..len], &mut packet);
				if let Ok((to, n)) = encapsulated {
					ctx.sender.send(&packet[..n], to).await;
				}
			},
			_ = route_tick.tick() => {
				// The previous probes had one route interval to come back.
				let alive = probe_seq == 0 || ctx.ingress.answered_since(spec.flow_id, probe_seq);
				if !alive {
					// The setup may be what was lost (or the egress was not up yet when it
					// came): repeat it now rather than at the next refresh, so that a missed
					// setup costs one probe, not a failover and a switch back.
					announce(&ctx, flow.clone()).await;
				}
				let direct_alive = match selector.active() {
					Route::Direct => alive,
					Route::Detour(_) => {
						direct_seq == DIRECT_PROBE || ctx.ingress.answered_since(spec.flow_id, direct_seq)
					},
				};
				let decision = {
					let core = lock(&ctx.core);
					decide(&core, &mut selector, spec.egress, ctx.max_intermediates, alive, direct_alive)
				};
				if let Some(switch) = decision {
					tracing::info!(flow = spec.flow_id, to = ?switch.to, reason = ?switch.reason, "path switch");
					flow = flow_on(&switch.to, &template, me, spec.egress);
					announce(&ctx, flow.clone()).await;
					let mut statuses = ctx.statuses.lock().unwrap_or_else(|p| p.into_inner());
					if let Some(status) = statuses.get_mut(ctx.status_index) {
						status.route = switch.to.clone();
						status.last_switch = Some(format!("{:?}", switch.reason));
						status.switches = selector.switches();
					}
				}
				let (expected_owd, expected_rtt) = {
					let core = lock(&ctx.core);
					(super::path_owd(core.matrix(), &flow.path), super::path_rtt(core.matrix(), &flow.path))
				};
				let measured_rtt = ctx.ingress.measured_rtt_ns(spec.flow_id).map(|ns| ns / 1_000);
				{
					let mut statuses = ctx.statuses.lock().unwrap_or_else(|p| p.into_inner());
					if let Some(status) = statuses.get_mut(ctx.status_index) {
						status.expected_owd_us = expected_owd;
						status.expected_rtt_us = expected_rtt;
						status.measured_rtt_us = measured_rtt;
					}
				}
				probe_seq += 1;
				let probe =
					lock(&ctx.core).probe(spec.flow_id, probe_seq, super::now_ns(), false, &mut packet);
				if let Ok((to, n)) = probe {
					ctx.sender.send(&packet[..n], to).await;
				}
				if matches!(selector.active(), Route::Detour(_)) {
					direct_seq += 1;
					let probe =
						lock(&ctx.core).probe(spec.flow_id, direct_seq, super::now_ns(), true, &mut packet);
					if let Ok((to, n)) = probe {
						ctx.sender.send(&packet[..n], to).await;
					}
				} else {
					// Back on direct: the next detour starts with a clean slate.
					direct_seq = DIRECT_PROBE;
				}
			},
			_ = setup_tick.tick() => announce(&ctx, flow.clone()).await,
			_ = stopped(&mut ctx.stop) => return,
		}
	}
}
