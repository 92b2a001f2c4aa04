//! Socket-level load test of one relay hop against a bare batched UDP forwarder, both measured
//! in the same run on loopback (docs/PERFORMANCE.md reports the ratios):
//!
//! - throughput: two generators (two previous hops, two flows each) send GSO bursts of valid
//!   data packets, in turns, as fast as they can through the middle box to a sink, which counts
//!   what arrives (packets/s and Gbit/s);
//! - latency: one packet every ~200 µs, each carrying its send time; the sink records the
//!   one-way delay through the middle box (p50, p99), and without a middle box at all.
//!
//! The middle box is either the relay's own receive worker ([`Worker`]: link MAC check, replay
//! window, octet counters, re-tag for the next link, GSO forwarding) or a forwarder that passes every datagram on
//! unread, with the same batched I/O. Generator, middle box and sink each run on their own
//! thread; on a 2-core machine they share the cores, equally in both cases.
//!
//! Loopback throughput swings by ±20 % from one second to the next on a shared machine, so the
//! two middle boxes run in alternating trials (bare, relay, bare, relay, …) and the table
//! reports the medians, and the median and range of the per-trial ratios (each relay trial
//! against the bare trial just before it, so that slow drifts of the machine cancel).
//!
//! Each table also gives the middle box's CPU time per forwarded packet (its thread's run time,
//! from `/proc/thread-self/schedstat`, over the packets it forwarded): 10⁹ divided by it is
//! what one core can forward, a figure that depends less on how the scheduler shares the cores
//! than packets/s at the sink does.
//!
//! Throughput is measured twice: with the three threads left to the scheduler (on 2 cores the
//! middle box competes with generator and sink), and with the middle box alone on core 1,
//! generator and sink on core 0 — a relay host's situation, where the hop does not share its
//! core with the traffic's endpoints. The second table also gives the offered load: where a
//! middle box passes nearly all of it, the generator, not the box, was the limit.
//!
//! Last, with the middle box on its own core, relay trials without and with a flood of forged
//! pulses from a member's address (10× a full group's control traffic): what the flood costs
//! the data plane.
//!
//!   relay_load [SECONDS_PER_TRIAL] [PAYLOAD_BYTES] [TRIALS]

use ed25519_dalek::SigningKey;
use srwan_relay::{
	net::{BatchSocket, RecvBatch, SendBatch, Worker, MAX_SEND_BYTES},
	proto::{
		relay::{CoreConfig, Flow, Member, RelayCore},
		wire::decode_data,
	},
};
use std::{
	net::SocketAddr,
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc, Mutex,
	},
	time::{Duration, Instant},
};

/// The flows of each generator (two previous hops of the middle box, two flows each), by
/// generator: a hop's lookups do not always hit the same entry.
const FLOWS: [[u64; 2]; 2] = [[1, 2], [3, 4]];
/// The flow the latency run sends.
const FLOW: u64 = FLOWS[0][0];
const LATENCY_PACKETS: usize = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Middle {
	Bare,
	Relay,
	/// No middle box: the generator sends to the sink directly (latency floor).
	None,
}

fn runtime() -> tokio::runtime::Runtime {
	tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// A loopback socket with large buffers, so that bursts are dropped for being too many rather
/// than for a small default buffer.
async fn bind() -> anyhow::Result<BatchSocket> {
	let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
	let raw = socket2::SockRef::from(&socket);
	raw.set_recv_buffer_size(8 << 20)?;
	raw.set_send_buffer_size(8 << 20)?;
	Ok(BatchSocket::new(socket)?)
}

/// The generators (members 0 and 3), relay (1) and sink (2) as group members: the generators'
/// cores, each the ingress of its flows, and the relay's.
fn cores(addrs: [SocketAddr; 4]) -> anyhow::Result<([RelayCore; 2], RelayCore)> {
	let keys: Vec<SigningKey> = (1..=4).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
	let members: Vec<Member> = keys
		.iter()
		.zip(addrs)
		.enumerate()
		.map(|(i, (k, addr))| Member { id: [i as u8; 32], addr, pulse_key: k.verifying_key() })
		.collect();
	let flows: Vec<Flow> = [0u16, 3]
		.into_iter()
		.zip(FLOWS)
		.flat_map(|(origin, ids)| {
			ids.map(|id| Flow {
				id,
				version: 1,
				key: [id as u8; 32],
				path: vec![origin, 1, 2],
				destination: addrs[2],
			})
		})
		.collect();
	let build = |me: usize| -> anyhow::Result<RelayCore> {
		let mut core = RelayCore::new(CoreConfig::new(keys[me].clone(), members.clone()))?;
		for flow in flows.iter().filter(|flow| usize::from(flow.path[0]) == me || me == 1) {
			core.install_flow(flow.clone())?;
		}
		Ok(core)
	};
	Ok(([build(0)?, build(3)?], build(1)?))
}

/// Generator, middle box and sink sockets, and the generators' and relay's cores.
struct Bench {
	generators: [BatchSocket; 2],
	middle: BatchSocket,
	sink: BatchSocket,
	/// Member addresses: generator, middle box, sink, second generator.
	addrs: [SocketAddr; 4],
	ingresses: [RelayCore; 2],
	relay: RelayCore,
}

impl Bench {
	async fn new() -> anyhow::Result<Self> {
		let generators = [bind().await?, bind().await?];
		let (middle, sink) = (bind().await?, bind().await?);
		let addrs = [
			generators[0].local_addr()?,
			middle.local_addr()?,
			sink.local_addr()?,
			generators[1].local_addr()?,
		];
		let (ingresses, relay) = cores(addrs)?;
		Ok(Self { generators, middle, sink, addrs, ingresses, relay })
	}
}

/// Where the throughput run's threads go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
	/// Wherever the scheduler puts them.
	Shared,
	/// The middle box alone on core 1; generator and sink (the calling thread) on core 0.
	MiddleAlone,
}

impl Placement {
	fn pin_middle(self) {
		if self == Placement::MiddleAlone {
			core_affinity::set_for_current(core_affinity::CoreId { id: 1 });
		}
	}

	fn pin_endpoints(self) {
		if self == Placement::MiddleAlone {
			core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
		}
	}
}

/// CPU time the calling thread has used so far, ns (user and kernel, including the
/// loopback delivery its sends do), from Linux's `/proc/thread-self/schedstat`.
fn thread_cpu_ns() -> Option<u64> {
	let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
	stat.split_whitespace().next()?.parse().ok()
}

/// Runs the middle box on `socket` until `stop`; returns its CPU time per datagram it
/// forwarded, ns (NaN where unknown).
fn spawn_middle(
	kind: Middle,
	socket: BatchSocket,
	relay: RelayCore,
	sink: SocketAddr,
	stop: Arc<AtomicBool>,
	placement: Placement,
	datagram_len: usize,
) -> std::io::Result<std::thread::JoinHandle<f64>> {
	// Named so that a profiler tells the two middle boxes apart (`perf report --sort comm`).
	std::thread::Builder::new().name(format!("middle-{kind:?}")).spawn(move || {
		placement.pin_middle();
		let cpu_before = thread_cpu_ns();
		let forwarded = runtime().block_on(async move {
			let poll = Duration::from_millis(50);
			match kind {
				Middle::Relay => {
					let core = Arc::new(Mutex::new(relay));
					let Ok(mut worker) = Worker::hop(socket, core.clone()) else {
						return 0;
					};
					while !stop.load(Ordering::Relaxed) {
						let _ = tokio::time::timeout(poll, worker.step()).await;
					}
					// Every forwarded datagram was counted out, with its size (in the worker's
					// shard, which the core takes in while the worker is still there).
					let out = core
						.lock()
						.map(|mut core| {
							core.sync();
							core.counters().totals().out_octets
						})
						.unwrap_or(0);
					out / datagram_len.max(1) as u64
				}
				Middle::Bare => {
					let mut batch = RecvBatch::default();
					let mut out = SendBatch::new(socket.max_send_segments());
					let mut forwarded = 0u64;
					while !stop.load(Ordering::Relaxed) {
						let Ok(Ok(())) = tokio::time::timeout(poll, socket.recv(&mut batch)).await
						else {
							continue;
						};
						// As the relay's worker does, one receive buffer at a time.
						for slot in 0..batch.slots() {
							for datagram in batch.datagrams_mut(slot).1 {
								out.stage(sink, datagram);
								forwarded += 1;
							}
							let _ = out.send(&socket).await;
						}
					}
					forwarded
				}
				Middle::None => 0,
			}
		});
		match (cpu_before, thread_cpu_ns()) {
			(Some(before), Some(after)) if forwarded > 0 => {
				after.saturating_sub(before) as f64 / forwarded as f64
			}
			_ => f64::NAN,
		}
	})
}

/// What one throughput trial measured (per second).
#[derive(Clone, Copy)]
struct Trial {
	/// Packets that reached the sink.
	packets: f64,
	/// Their UDP payload bits.
	bits: f64,
	/// Packets the generator handed to the kernel.
	offered: f64,
	/// The middle box's CPU time per datagram it forwarded, ns.
	cpu_ns: f64,
}

/// One throughput trial through `kind`; the calling thread is the sink.
fn throughput(
	kind: Middle,
	seconds: f64,
	payload: usize,
	placement: Placement,
	flood_per_second: u64,
) -> anyhow::Result<Trial> {
	let rt = runtime();
	let Bench { generators, middle, sink, addrs, mut ingresses, relay } =
		rt.block_on(Bench::new())?;
	// GSO bursts of valid packets, each encapsulated anew (a v2 hop accepts a packet once):
	// the generators pay for the sealing, the middle box sees a stream of fresh packets. A
	// burst comes from one generator (one previous hop) and alternates its two flows.
	let segments = generators[0].max_send_segments().min(MAX_SEND_BYTES / (payload + 96)).max(1);
	let data = vec![7u8; payload];
	let mut packet = vec![0u8; payload + 256];
	let mut fill = move |generator: usize,
	                     ingress: &mut RelayCore,
	                     burst: &mut Vec<u8>|
	      -> anyhow::Result<usize> {
		burst.clear();
		let mut size = 0;
		for segment in 0..segments {
			let flow = FLOWS[generator][segment % 2];
			let (_, len) = ingress
				.encapsulate(flow, false, &data, &mut packet)
				.map_err(|reason| anyhow::anyhow!("cannot encapsulate: {reason:?}"))?;
			burst.extend_from_slice(&packet[..len]);
			size = len;
		}
		Ok(size)
	};
	let mut bursts = [Vec::new(), Vec::new()];
	let mut size = 0;
	for (generator, (ingress, burst)) in ingresses.iter_mut().zip(&mut bursts).enumerate() {
		size = fill(generator, ingress, burst)?;
	}
	let stop = Arc::new(AtomicBool::new(false));
	let middle_thread = spawn_middle(kind, middle, relay, addrs[2], stop.clone(), placement, size)?;
	let generator_stop = stop.clone();
	let to = addrs[1];
	let forged = forged_pulse()?;
	let generator_thread = std::thread::spawn(move || {
		placement.pin_endpoints();
		runtime().block_on(async move {
			let started = Instant::now();
			let (mut sent, mut flooded) = (0u64, 0u64);
			'sending: while !generator_stop.load(Ordering::Relaxed) {
				// Forged pulses from a generator's (a member's) address, at their rate.
				let due = (started.elapsed().as_secs_f64() * flood_per_second as f64) as u64;
				while flooded < due {
					let _ = generators[0].send(to, &forged, None).await;
					flooded += 1;
				}
				for (generator, socket) in generators.iter().enumerate() {
					if socket.send(to, &bursts[generator], Some(size)).await.is_ok() {
						sent += segments as u64;
					}
					if fill(generator, &mut ingresses[generator], &mut bursts[generator]).is_err() {
						break 'sending;
					}
				}
				tokio::task::yield_now().await;
			}
			sent as f64 / started.elapsed().as_secs_f64()
		})
	});
	// The sink counts after a warm-up of a quarter second.
	let counted = rt.block_on(async move {
		let mut batch = RecvBatch::default();
		let warm_up = Instant::now() + Duration::from_millis(250);
		let end = warm_up + Duration::from_secs_f64(seconds);
		let (mut packets, mut bytes) = (0u64, 0u64);
		loop {
			let now = Instant::now();
			if now >= end {
				break;
			}
			if tokio::time::timeout(end - now, sink.recv(&mut batch)).await.is_err() {
				break;
			}
			if Instant::now() >= warm_up {
				for (_, span) in batch.spans() {
					packets += 1;
					bytes += span.len() as u64;
				}
			}
		}
		(packets, bytes)
	});
	stop.store(true, Ordering::Relaxed);
	let cpu_ns = middle_thread.join().unwrap_or(f64::NAN);
	let offered = generator_thread.join().unwrap_or(f64::NAN);
	Ok(Trial {
		packets: counted.0 as f64 / seconds,
		bits: counted.1 as f64 * 8.0 / seconds,
		offered,
		cpu_ns,
	})
}

/// A pulse "from" member 0 to member 1 with a signature by another key: it passes the
/// address check and costs the relay a signature check while the sender's budget lasts.
fn forged_pulse() -> anyhow::Result<Vec<u8>> {
	let pulse = srwan_relay::proto::wire::Pulse {
		sender: [0; 32],
		receiver: [1; 32],
		seq: 1,
		send_time_ns: 1,
		boot_time: 1,
		echo: None,
	};
	let mut out = vec![0u8; 256];
	let len = pulse
		.encode(&SigningKey::from_bytes(&[99; 32]), &mut out)
		.map_err(|e| anyhow::anyhow!("cannot encode a pulse: {e}"))?;
	out.truncate(len);
	Ok(out)
}

/// One-way delays (ns) of paced packets from generator to sink through `kind`.
fn latency(kind: Middle) -> anyhow::Result<Vec<u64>> {
	let rt = runtime();
	let Bench {
		generators: [generator, _],
		middle,
		sink,
		addrs,
		ingresses: [mut ingress, _],
		relay,
	} = rt.block_on(Bench::new())?;
	let stop = Arc::new(AtomicBool::new(false));
	let middle_thread =
		spawn_middle(kind, middle, relay, addrs[2], stop.clone(), Placement::Shared, 0)?;
	let base = Instant::now();
	let to = if kind == Middle::None { addrs[2] } else { addrs[1] };
	// Payloads are sealed end to end: the sink finds each packet's send time by its
	// (cleartext) end-to-end sequence number.
	let sent_at = Arc::new(Mutex::new(std::collections::HashMap::new()));
	let sent_by_seq = sent_at.clone();
	let generator_thread = std::thread::spawn(move || {
		runtime().block_on(async move {
			let mut packet = [0u8; 512];
			for _ in 0..LATENCY_PACKETS {
				let Ok((_, len)) = ingress.encapsulate(FLOW, false, &[0u8; 8], &mut packet) else {
					return;
				};
				let Ok((header, _)) = decode_data(&packet[..len]) else { return };
				let sent = base.elapsed().as_nanos() as u64;
				if let Ok(mut times) = sent_by_seq.lock() {
					times.insert(header.seq, sent);
				}
				let _ = generator.send(to, &packet[..len], None).await;
				std::thread::sleep(Duration::from_micros(200));
			}
		})
	});
	let delays = rt.block_on(async move {
		let mut batch = RecvBatch::default();
		let mut delays = Vec::with_capacity(LATENCY_PACKETS);
		while delays.len() < LATENCY_PACKETS {
			match tokio::time::timeout(Duration::from_secs(2), sink.recv(&mut batch)).await {
				Ok(Ok(())) => {}
				_ => break,
			}
			let now = base.elapsed().as_nanos() as u64;
			let spans: Vec<_> = batch.spans().map(|(_, span)| span).collect();
			for span in spans {
				let datagram = &batch.bytes_mut()[span];
				let Ok((header, _)) = decode_data(datagram) else { continue };
				let sent = sent_at.lock().ok().and_then(|times| times.get(&header.seq).copied());
				let Some(sent) = sent else { continue };
				delays.push(now.saturating_sub(sent));
			}
		}
		delays
	});
	stop.store(true, Ordering::Relaxed);
	let _ = middle_thread.join();
	let _ = generator_thread.join();
	Ok(delays)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
	if sorted.is_empty() {
		return f64::NAN;
	}
	let at = ((sorted.len() - 1) as f64 * p).round() as usize;
	sorted[at] as f64 / 1_000.0
}

/// The median trial by packets/s (its other figures come with it: same trial).
fn median(trials: &mut [Trial]) -> Trial {
	trials.sort_by(|a, b| a.packets.total_cmp(&b.packets));
	let none = Trial { packets: f64::NAN, bits: f64::NAN, offered: f64::NAN, cpu_ns: f64::NAN };
	trials.get(trials.len() / 2).copied().unwrap_or(none)
}

/// Median, smallest and largest of some values (NaN if there are none); shown as
/// `median; min … max`.
struct Spread {
	median: f64,
	min: f64,
	max: f64,
}

impl Spread {
	fn of(mut values: Vec<f64>) -> Self {
		values.sort_by(f64::total_cmp);
		let at = |i: usize| values.get(i).copied().unwrap_or(f64::NAN);
		Self { median: at(values.len() / 2), min: at(0), max: at(values.len().wrapping_sub(1)) }
	}
}

impl std::fmt::Display for Spread {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "{:.2}; {:.2} … {:.2}", self.median, self.min, self.max)
	}
}

/// Alternating bare and relay trials; prints the table of medians.
fn compare(
	title: &str,
	seconds: f64,
	payload: usize,
	trials: usize,
	placement: Placement,
) -> anyhow::Result<()> {
	let (mut bare, mut relay, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
	let mut cpu_ratios = Vec::new();
	for _ in 0..trials {
		let bare_trial = throughput(Middle::Bare, seconds, payload, placement, 0)?;
		let relay_trial = throughput(Middle::Relay, seconds, payload, placement, 0)?;
		ratios.push(relay_trial.packets / bare_trial.packets);
		cpu_ratios.push(bare_trial.cpu_ns / relay_trial.cpu_ns);
		bare.push(bare_trial);
		relay.push(relay_trial);
	}
	let cpu = |trials: &[Trial]| Spread::of(trials.iter().map(|t| t.cpu_ns).collect()).median;
	let (bare_cpu, relay_cpu) = (cpu(&bare), cpu(&relay));
	let (bare, relay) = (median(&mut bare), median(&mut relay));
	let (ratios, cpu_ratios) = (Spread::of(ratios), Spread::of(cpu_ratios));
	println!(
		"| throughput, {title}, {payload} B payload, median of {trials} × {seconds} s | bare forwarder | relay hop | ratio |"
	);
	println!("|---|---|---|---|");
	println!(
		"| packets/s | {:.0} | {:.0} | **{:.2}** |",
		bare.packets,
		relay.packets,
		relay.packets / bare.packets
	);
	println!(
		"| Gbit/s | {:.2} | {:.2} | **{:.2}** |",
		bare.bits / 1e9,
		relay.bits / 1e9,
		relay.bits / bare.bits
	);
	println!(
		"| per-trial ratio (each relay trial against the bare one just before it): median; min … max | | | {ratios} |"
	);
	println!(
		"| offered by the generator, packets/s | {:.0} | {:.0} | |",
		bare.offered, relay.offered
	);
	println!(
		"| middle box CPU per forwarded packet, ns (median) | {bare_cpu:.0} | {relay_cpu:.0} | |"
	);
	println!(
		"| packets/s one core forwards (10⁹ / CPU per packet) | {:.0} | {:.0} | **{:.2}** |",
		1e9 / bare_cpu,
		1e9 / relay_cpu,
		bare_cpu / relay_cpu
	);
	println!("| per-trial CPU ratio: median; min … max | | | {cpu_ratios} |");
	println!();
	Ok(())
}

/// Forged pulses per second in the flood comparison: ten times what a full group of 100
/// members sends one relay at a 1 s pulse interval (a pulse and about a row a second each).
const FLOOD_PER_SECOND: u64 = 2_000;

/// Alternating relay trials without and with a forged-pulse flood; prints the table.
fn flood(seconds: f64, payload: usize, trials: usize, placement: Placement) -> anyhow::Result<()> {
	let (mut calm, mut flooded, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
	for _ in 0..trials {
		let without = throughput(Middle::Relay, seconds, payload, placement, 0)?;
		let with = throughput(Middle::Relay, seconds, payload, placement, FLOOD_PER_SECOND)?;
		ratios.push(with.packets / without.packets);
		calm.push(without);
		flooded.push(with);
	}
	let (calm, flooded, ratios) = (median(&mut calm), median(&mut flooded), Spread::of(ratios));
	println!(
		"| relay hop, {payload} B payload, median of {trials} × {seconds} s | no flood | {FLOOD_PER_SECOND} forged pulses/s | ratio |"
	);
	println!("|---|---|---|---|");
	println!(
		"| packets/s delivered | {:.0} | {:.0} | **{:.2}** |",
		calm.packets,
		flooded.packets,
		flooded.packets / calm.packets
	);
	println!("| per-trial ratio: median; min … max | | | {ratios} |");
	println!(
		"| middle box CPU per forwarded packet, ns | {:.0} | {:.0} | |",
		calm.cpu_ns, flooded.cpu_ns
	);
	println!();
	Ok(())
}

fn main() -> anyhow::Result<()> {
	let args: Vec<f64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
	let seconds = args.first().copied().unwrap_or(1.0);
	let payload = args.get(1).copied().unwrap_or(1_200.0) as usize;
	let trials = (args.get(2).copied().unwrap_or(5.0) as usize).max(1);

	compare("cores shared", seconds, payload, trials, Placement::Shared)?;

	let mut rows = Vec::new();
	for kind in [Middle::None, Middle::Bare, Middle::Relay] {
		let mut delays = latency(kind)?;
		delays.sort_unstable();
		rows.push((delays.len(), percentile(&delays, 0.5), percentile(&delays, 0.99)));
	}
	let [(n0, none50, none99), (n1, bare50, bare99), (n2, relay50, relay99)] = rows[..] else {
		anyhow::bail!("three latency runs");
	};
	println!("| one-way latency, µs ({LATENCY_PACKETS} packets) | no hop | bare forwarder | relay hop | ratio relay / bare |");
	println!("|---|---|---|---|---|");
	println!("| p50 | {none50:.1} | {bare50:.1} | {relay50:.1} | **{:.2}** |", relay50 / bare50);
	println!("| p99 | {none99:.1} | {bare99:.1} | {relay99:.1} | **{:.2}** |", relay99 / bare99);
	println!(
		"| added by the hop, p50 | | {:.1} | {:.1} | {:.2} |",
		bare50 - none50,
		relay50 - none50,
		(relay50 - none50) / (bare50 - none50)
	);
	println!("| packets received | {n0} | {n1} | {n2} | |");
	println!();

	// Last: this thread is the sink, and stays on core 0 from here on.
	if core_affinity::get_core_ids().is_some_and(|cores| cores.len() >= 2) {
		Placement::MiddleAlone.pin_endpoints();
		compare("middle box on its own core", seconds, payload, trials, Placement::MiddleAlone)?;
		flood(seconds, payload, trials, Placement::MiddleAlone)?;
	}
	Ok(())
}
