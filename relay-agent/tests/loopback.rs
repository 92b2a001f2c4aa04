//! Four relays in one process on real loopback UDP sockets. A tunnel carries echo traffic
//! from relay 0 (ingress) to relay 3 (egress). Cutting the direct link 0→3 with a shim moves
//! the traffic onto a detour; restoring it brings the traffic back. Afterwards the octet
//! counters of both ends agree on every link, except the cut one, where they differ by exactly
//! what the shim dropped.

use ed25519_dalek::SigningKey;
use srwan_relay::{
	net::{self, Agent, AgentParams, Impairment, Tunnel, Verdict},
	proto::{
		consent::Consumer,
		counters::{CounterKey, Counters},
		hysteresis::{Hysteresis, Route},
		relay::{CoreConfig, Member, RelayCore, RowSchedule},
		wire::{peek_type, PacketType},
	},
};
use std::{
	net::SocketAddr,
	sync::{
		atomic::{AtomicBool, AtomicU64, Ordering},
		Arc, Mutex,
	},
	time::{Duration, Instant},
};
use tokio::{net::UdpSocket, sync::oneshot};

const N: usize = 4;
const BOOT: u64 = 1_000;

/// Drops everything relay 0 sends to relay 3 while `cut` is set, counting the data octets;
/// delays everything between 0 and 3 (both ways) by `delay_ms`.
struct LinkCut {
	from: SocketAddr,
	to: SocketAddr,
	cut: AtomicBool,
	delay_ms: AtomicU64,
	dropped_data_octets: AtomicU64,
}

impl Impairment for LinkCut {
	fn on_send(&self, from: SocketAddr, to: SocketAddr, datagram: &[u8]) -> Verdict {
		let delay = self.delay_ms.load(Ordering::SeqCst);
		let on_link = (from, to) == (self.from, self.to) || (from, to) == (self.to, self.from);
		if delay > 0 && on_link {
			return Verdict::Delay(Duration::from_millis(delay));
		}
		if self.cut.load(Ordering::SeqCst) && from == self.from && to == self.to {
			// Data packets are what the counters see; fast probes (flag bit 1) are not billed.
			let probe = datagram.get(2).is_some_and(|flags| flags & 0b10 != 0);
			if peek_type(datagram) == Ok(PacketType::Data) && !probe {
				self.dropped_data_octets.fetch_add(datagram.len() as u64, Ordering::SeqCst);
			}
			return Verdict::Drop;
		}
		Verdict::Pass
	}
}

async fn echo_server() -> SocketAddr {
	let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
	let addr = socket.local_addr().unwrap();
	tokio::spawn(async move {
		let mut buf = [0u8; 2048];
		while let Ok((len, from)) = socket.recv_from(&mut buf).await {
			let _ = socket.send_to(&buf[..len], from).await;
		}
	});
	addr
}

async fn wait_for(
	what: &str,
	timeout: Duration,
	mut check: impl FnMut() -> bool,
	diagnose: impl Fn() -> String,
) -> Duration {
	let start = Instant::now();
	while !check() {
		assert!(start.elapsed() < timeout, "timed out waiting for {what}\n{}", diagnose());
		tokio::time::sleep(Duration::from_millis(20)).await;
	}
	start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_detours_around_a_cut_and_a_slow_link_and_returns() {
	let sockets: Vec<UdpSocket> = {
		let mut v = Vec::new();
		for _ in 0..N {
			v.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
		}
		v
	};
	let keys: Vec<SigningKey> =
		(0..N).map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32])).collect();
	let members: Vec<Member> = (0..N)
		.map(|i| Member {
			id: [i as u8; 32],
			addr: sockets[i].local_addr().unwrap(),
			pulse_key: keys[i].verifying_key(),
		})
		.collect();
	let echo = echo_server().await;
	let shim = Arc::new(LinkCut {
		from: members[0].addr,
		to: members[3].addr,
		cut: AtomicBool::new(false),
		delay_ms: AtomicU64::new(0),
		dropped_data_octets: AtomicU64::new(0),
	});
	let dirs: Vec<tempfile::TempDir> = (0..N).map(|_| tempfile::tempdir().unwrap()).collect();
	let tunnel_listen = UdpSocket::bind("127.0.0.1:0").await.unwrap();
	let tunnel_addr = tunnel_listen.local_addr().unwrap();
	// Tagged with relay 0's id, as every flow id of its must be.
	let flow_id = srwan_relay::proto::relay::new_flow_id(&[0; 32], 7);
	let mut tunnel = Some(Tunnel {
		listen: tunnel_listen,
		flow_id,
		egress: 3,
		destination: echo,
		allowed_clients: Vec::new(),
		through: Vec::new(),
	});

	let hysteresis = Hysteresis {
		min_gain_pct: 10,
		min_gain_us: 5_000,
		sustain_probes: 3,
		failover_lost_probes: 3,
	};
	let mut cores = Vec::new();
	let mut statuses = Vec::new();
	let mut stops = Vec::new();
	let mut handles = Vec::new();
	for (i, (socket, key)) in sockets.into_iter().zip(keys).enumerate() {
		let core = Arc::new(Mutex::new(
			RelayCore::new(CoreConfig {
				consumer: Consumer::derived_from(&key.to_bytes()),
				key,
				group: 1,
				members: members.clone(),
				boot_time: BOOT,
				window: 16,
				stale_after_ns: 1_500_000_000,
				// Scheduler noise on a loaded machine must not look like lying timestamps.
				cross_check_tolerance_us: 1_000_000,
				silence_ns: 1_000_000_000,
				counters: Counters::default(),
				allowed_destinations: vec![echo],
				flow_idle_ns: u64::MAX,
				link_marks: Vec::new(),
				metering: None,
			})
			.unwrap(),
		));
		let agent = Agent { core: core.clone(), tunnels: Arc::new(Mutex::new(Vec::new())) };
		statuses.push(agent.tunnels.clone());
		cores.push(core.clone());
		let params = AgentParams {
			core,
			sockets: vec![net::BatchSocket::new(socket).unwrap()],
			pulse_interval: Duration::from_millis(100),
			rows: RowSchedule { full_every: 3, changes_every: 1, full_at_start: 3 },
			route_interval: Duration::from_millis(100),
			hysteresis,
			max_intermediates: 2,
			// Rekeys (a new setup version on the same path) while traffic flows.
			rekey_after: Duration::from_millis(700),
			data_dir: dirs[i].path().to_path_buf(),
			persist_interval: Duration::from_millis(500),
			tunnels: if i == 0 { tunnel.take().into_iter().collect() } else { Vec::new() },
			impairment: Some(shim.clone()),
			outbox: None,
		};
		let (stop_tx, stop_rx) = oneshot::channel::<()>();
		stops.push(stop_tx);
		handles.push(tokio::spawn(net::run_with(agent, params, async move {
			let _ = stop_rx.await;
		})));
	}

	// A client sends a datagram every 10 ms through the tunnel and counts echoes.
	let client = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
	let echoes = Arc::new(AtomicU64::new(0));
	let sending = Arc::new(AtomicBool::new(true));
	{
		let (client, echoes) = (client.clone(), echoes.clone());
		tokio::spawn(async move {
			let mut buf = [0u8; 2048];
			while let Ok(len) = client.recv(&mut buf).await {
				if &buf[..len] == b"ping through srwan" {
					echoes.fetch_add(1, Ordering::SeqCst);
				}
			}
		});
	}
	{
		let (client, sending) = (client.clone(), sending.clone());
		tokio::spawn(async move {
			while sending.load(Ordering::SeqCst) {
				let _ = client.send_to(b"ping through srwan", tunnel_addr).await;
				tokio::time::sleep(Duration::from_millis(10)).await;
			}
		});
	}
	let route =
		|statuses: &Arc<Mutex<Vec<net::TunnelStatus>>>| statuses.lock().unwrap()[0].route.clone();
	let diagnose = || {
		let mut out = format!(
			"tunnel: {:?}\necho count: {}\n",
			statuses[0].lock().unwrap()[0],
			echoes.load(Ordering::SeqCst)
		);
		for (i, core) in cores.iter().enumerate() {
			let core = core.lock().unwrap();
			let drops: Vec<_> = core.drops().iter().collect();
			out += &format!(
				"relay {i}: drops {drops:?}, flow {:?}\n",
				core.flow(flow_id).map(|f| f.path.clone())
			);
		}
		out
	};

	// Phase 1: the direct path carries the echoes. (A loaded machine can make the first
	// probes noisy enough to try a detour; the network is healthy, so it must settle on direct.)
	wait_for(
		"echoes on the direct path",
		Duration::from_secs(10),
		|| echoes.load(Ordering::SeqCst) > 20 && route(&statuses[0]) == Route::Direct,
		&diagnose,
	)
	.await;
	// The active path shows what the matrix expects of it and what its fast probes measure.
	wait_for(
		"expected and measured round trips of the active path",
		Duration::from_secs(5),
		|| {
			let status = statuses[0].lock().unwrap()[0].clone();
			status.expected_rtt_us.is_some_and(|us| us > 0)
				&& status.measured_rtt_us.is_some_and(|us| us > 0)
		},
		&diagnose,
	)
	.await;

	// Phase 2: cut 0→3; traffic moves to a detour and echoes flow again.
	shim.cut.store(true, Ordering::SeqCst);
	let switch_time = wait_for(
		"a detour",
		Duration::from_secs(10),
		|| matches!(route(&statuses[0]), Route::Detour(_)),
		&diagnose,
	)
	.await;
	let Route::Detour(hops) = route(&statuses[0]) else { unreachable!() };
	assert_eq!((hops.first(), hops.last()), (Some(&0), Some(&3)));
	assert!(hops.len() >= 3, "a detour goes through another relay: {hops:?}");
	let before = echoes.load(Ordering::SeqCst);
	wait_for(
		"echoes on the detour",
		Duration::from_secs(5),
		|| echoes.load(Ordering::SeqCst) > before + 20,
		&diagnose,
	)
	.await;
	eprintln!("detour {hops:?} taken {switch_time:?} after the cut");

	// Phase 3: restore; traffic returns to the direct path.
	shim.cut.store(false, Ordering::SeqCst);
	let revert_time = wait_for(
		"the direct path again",
		Duration::from_secs(10),
		|| route(&statuses[0]) == Route::Direct,
		&diagnose,
	)
	.await;
	eprintln!("back on the direct path {revert_time:?} after the repair");
	let switches = statuses[0].lock().unwrap()[0].switches;
	assert_eq!(switches, 2, "{}", diagnose());

	// Phase 4: the direct link degrades (40 ms each way, nothing lost): a detour through
	// relays a few hundred µs apart is faster by far, for long enough, so traffic moves; and
	// returns when the link is fast again.
	shim.delay_ms.store(40, Ordering::SeqCst);
	let degraded_time = wait_for(
		"a detour around the slow link",
		Duration::from_secs(10),
		|| matches!(route(&statuses[0]), Route::Detour(_)),
		&diagnose,
	)
	.await;
	let reason = statuses[0].lock().unwrap()[0].last_switch.clone();
	assert!(reason.as_deref().is_some_and(|r| r.starts_with("Faster")), "{reason:?}");
	eprintln!("detour around the slow link after {degraded_time:?}");
	let before = echoes.load(Ordering::SeqCst);
	wait_for(
		"echoes around the slow link",
		Duration::from_secs(5),
		|| echoes.load(Ordering::SeqCst) > before + 20,
		&diagnose,
	)
	.await;
	shim.delay_ms.store(0, Ordering::SeqCst);
	wait_for(
		"the direct path once it is fast again",
		Duration::from_secs(10),
		|| route(&statuses[0]) == Route::Direct,
		&diagnose,
	)
	.await;
	assert_eq!(statuses[0].lock().unwrap()[0].switches, 4, "{}", diagnose());

	// Let in-flight packets land, then stop everyone (counters are flushed on shutdown).
	sending.store(false, Ordering::SeqCst);
	tokio::time::sleep(Duration::from_millis(300)).await;
	for stop in stops {
		let _ = stop.send(());
	}
	for handle in handles {
		handle.await.unwrap().unwrap();
	}

	// Every switch and every rekey was a new setup version (4 switches, ~5 rekeys in ~4 s),
	// and the traffic went on through them.
	let version = cores[0].lock().unwrap().flow(flow_id).map_or(0, |f| f.version);
	assert!(version >= 7, "setup version {version}\n{}", diagnose());

	let octets = |at: usize, peer: usize| {
		cores[at].lock().unwrap().counters().get(&CounterKey {
			boot_time: BOOT,
			epoch: 0,
			peer: [peer as u8; 32],
		})
	};
	let mut links_with_traffic = 0;
	for a in 0..N {
		for b in 0..N {
			if a == b {
				continue;
			}
			let sent = octets(a, b).out_octets;
			let received = octets(b, a).in_octets;
			if (a, b) == (0, 3) {
				assert_eq!(
					sent - received,
					shim.dropped_data_octets.load(Ordering::SeqCst),
					"cut link\n{}",
					diagnose()
				);
				assert!(shim.dropped_data_octets.load(Ordering::SeqCst) > 0);
			} else {
				assert_eq!(sent, received, "link {a}→{b}\n{}", diagnose());
			}
			links_with_traffic += usize::from(sent > 0);
		}
	}
	assert!(links_with_traffic >= 4, "direct and detour links both carried traffic");

	// What was counted is on disk.
	for (i, dir) in dirs.iter().enumerate() {
		let stored = srwan_relay::store::load_counters(dir.path()).unwrap();
		assert_eq!(stored.totals(), cores[i].lock().unwrap().counters().totals());
	}
}
