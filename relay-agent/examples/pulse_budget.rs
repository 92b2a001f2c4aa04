//! Measures the pulse and row traffic of one node in a group of N agents (default 100) on real
//! loopback sockets, and extrapolates it to a month at the production pulse interval (10 s).
//!
//!   pulse_budget [AGENTS] [CYCLES] [INTERVAL_MS]
//!
//! Traffic per pulse round does not depend on the interval, so the run uses a short one and
//! counts per round; every datagram is counted with 28 bytes of UDP/IPv4 headers. Rows follow
//! the production schedule in rounds (`RowSchedule` of a 10 s interval: the full row every 30
//! rounds, changes every 3); the run warms up for one full-row cycle (the medians fill their
//! windows, every entry goes out once) and then counts `CYCLES` whole cycles, each with exactly
//! one full row.

use ed25519_dalek::SigningKey;
use srwan_relay::{
	net::{self, Agent, AgentParams, Impairment, Verdict},
	proto::{
		counters::Counters,
		hysteresis::Hysteresis,
		relay::{CoreConfig, Member, RelayCore, RowSchedule},
		wire::{peek_type, PacketType},
	},
};
use std::{
	net::SocketAddr,
	sync::{
		atomic::{AtomicU64, Ordering},
		Arc, Mutex,
	},
	time::Duration,
};
use tokio::{net::UdpSocket, sync::oneshot};

const UDP_IP_OVERHEAD: u64 = 28;
const PRODUCTION_INTERVAL_S: u64 = 10;
const MONTH_S: u64 = 30 * 24 * 3600;

/// 32 distinct bytes per agent: `i` in the first eight, `tag` in the rest.
fn bytes32(i: usize, tag: u8) -> [u8; 32] {
	let mut bytes = [tag; 32];
	bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
	bytes
}

#[derive(Default)]
struct Tally {
	pulse_bytes: AtomicU64,
	row_bytes: AtomicU64,
	full_row_bytes: AtomicU64,
	other_bytes: AtomicU64,
	datagrams: AtomicU64,
}

impl Impairment for Tally {
	fn on_send(&self, _: SocketAddr, _: SocketAddr, datagram: &[u8]) -> Verdict {
		let bytes = datagram.len() as u64 + UDP_IP_OVERHEAD;
		let kind = peek_type(datagram);
		let slot = match kind {
			Ok(PacketType::Pulse) => &self.pulse_bytes,
			Ok(PacketType::Row) => &self.row_bytes,
			_ => &self.other_bytes,
		};
		slot.fetch_add(bytes, Ordering::Relaxed);
		// Byte 2 of a row holds its flags; bit 0 marks a full row.
		if kind == Ok(PacketType::Row) && datagram.get(2).is_some_and(|f| f & 1 == 1) {
			self.full_row_bytes.fetch_add(bytes, Ordering::Relaxed);
		}
		self.datagrams.fetch_add(1, Ordering::Relaxed);
		Verdict::Pass
	}
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
	let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
	let agents = args.first().copied().unwrap_or(100) as usize;
	let cycles = args.get(1).copied().unwrap_or(1).max(1);
	let interval = Duration::from_millis(args.get(2).copied().unwrap_or(2_000));
	let rows = RowSchedule::for_interval(Duration::from_secs(PRODUCTION_INTERVAL_S));
	let rounds = cycles * u64::from(rows.full_every);

	let mut sockets = Vec::new();
	for _ in 0..agents {
		sockets.push(UdpSocket::bind("127.0.0.1:0").await?);
	}
	let keys: Vec<SigningKey> =
		(0..agents).map(|i| SigningKey::from_bytes(&bytes32(i, 7))).collect();
	let members: Vec<Member> = (0..agents)
		.map(|i| Member {
			id: bytes32(i, 1),
			addr: sockets[i].local_addr().expect("bound"),
			pulse_key: keys[i].verifying_key(),
		})
		.collect();
	let tally = Arc::new(Tally::default());
	let dirs: Vec<tempfile::TempDir> =
		(0..agents).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
	let mut stops = Vec::new();
	let mut handles = Vec::new();
	for (i, (socket, key)) in sockets.into_iter().zip(keys).enumerate() {
		let core = Arc::new(Mutex::new(RelayCore::new(CoreConfig {
			key,
			group: 1,
			members: members.clone(),
			boot_time: 1,
			window: 30,
			stale_after_ns: 3 * u64::from(rows.full_every) * interval.as_nanos() as u64,
			cross_check_tolerance_us: 5_000,
			silence_ns: 3 * interval.as_nanos() as u64,
			counters: Counters::default(),
			allowed_destinations: vec![],
			flow_idle_ns: u64::MAX,
			link_marks: Vec::new(),
			metering: None,
			consumer: None,
		})?));
		let params = AgentParams {
			core: core.clone(),
			sockets: vec![net::BatchSocket::new(socket)?],
			pulse_interval: interval,
			rows,
			route_interval: Duration::from_secs(3600),
			hysteresis: Hysteresis {
				min_gain_pct: 10,
				min_gain_us: 5_000,
				sustain_probes: 3,
				failover_lost_probes: 3,
			},
			max_intermediates: 2,
			rekey_after: Duration::from_secs(120),
			data_dir: dirs[i].path().to_path_buf(),
			persist_interval: Duration::from_secs(3600),
			tunnels: Vec::new(),
			impairment: Some(tally.clone()),
			outbox: None,
		};
		let (tx, rx) = oneshot::channel::<()>();
		stops.push(tx);
		let agent = Agent { core, tunnels: Arc::new(Mutex::new(Vec::new())) };
		handles.push(tokio::spawn(net::run_with(agent, params, async move {
			let _ = rx.await;
		})));
	}
	// Round r's row leaves at the end of round r, ≈ (r + 1) intervals after the start; full
	// rows are rounds 0, 30, 60...: counting from 30.5 intervals on covers rows 30.. of the
	// second cycle onwards, one full row per cycle.
	tokio::time::sleep(interval * rows.full_every + interval / 2).await;
	let start = (
		tally.pulse_bytes.load(Ordering::SeqCst),
		tally.row_bytes.load(Ordering::SeqCst),
		tally.datagrams.load(Ordering::SeqCst),
		tally.full_row_bytes.load(Ordering::SeqCst),
	);
	tokio::time::sleep(interval * rounds as u32).await;
	let pulse = tally.pulse_bytes.load(Ordering::SeqCst) - start.0;
	let rows = tally.row_bytes.load(Ordering::SeqCst) - start.1;
	let datagrams = tally.datagrams.load(Ordering::SeqCst) - start.2;
	let full_rows = tally.full_row_bytes.load(Ordering::SeqCst) - start.3;
	for stop in stops {
		let _ = stop.send(());
	}
	for handle in handles {
		handle.await??;
	}

	// Every byte sent by one node is received by another: per node, in + out = 2 × sent.
	let per_node_round = |bytes: u64| bytes as f64 / agents as f64 / rounds as f64;
	let monthly_gb =
		|bytes: u64| per_node_round(bytes) * 2.0 * (MONTH_S / PRODUCTION_INTERVAL_S) as f64 / 1e9;
	println!("agents {agents}, rounds {rounds}, {datagrams} datagrams counted");
	println!(
		"per node per round: pulses {:.0} B, rows {:.0} B (sent)",
		per_node_round(pulse),
		per_node_round(rows)
	);
	println!(
		"per node per month at a 10 s interval, in + out: pulses {:.2} GB, rows {:.2} GB \
		 (full {:.2} GB, changes {:.2} GB), total {:.2} GB",
		monthly_gb(pulse),
		monthly_gb(rows),
		monthly_gb(full_rows),
		monthly_gb(rows - full_rows),
		monthly_gb(pulse + rows)
	);
	Ok(())
}
