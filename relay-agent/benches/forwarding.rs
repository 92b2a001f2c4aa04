//! One relay hop and the two flow ends, in memory, each against a baseline measured in the same
//! run: a bare forwarder that only reads the packet type and copies the datagram. The ratios
//! are what `docs/PERFORMANCE.md` reports.
//!
//! Every measured packet is a new one (protocol v2 accepts a packet once per hop): the
//! ingresses encapsulate it in the untimed setup of each iteration, for several flows from two
//! previous hops, so the transit relay's lookups do not always hit the same entry.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use srwan_relay::proto::{
	data_path::Handled,
	e2e::FlowCipher,
	metering::MeteringConfig,
	relay::{new_flow_id, Action, CoreConfig, Flow, Member, RelayCore},
	wire::{peek_type, DataMac, HeadRewrite},
};
use std::{hint::black_box, net::SocketAddr};

fn addr(i: u8) -> SocketAddr {
	SocketAddr::from(([127, 0, 0, 1], 9000 + u16::from(i)))
}

/// Flows per ingress.
const FLOWS: u64 = 4;

/// Members 0 and 3 are ingresses, 1 the transit relay, 2 the egress; each ingress has
/// [`FLOWS`] flows through 1 to 2.
fn cores() -> Vec<RelayCore> {
	cores_with(None)
}

/// [`cores`], metering others' flows as on a chain (a credit window nothing reaches).
fn metered_cores() -> Vec<RelayCore> {
	cores_with(Some(MeteringConfig {
		genesis: [0; 32],
		credit_window: u64::MAX,
		price_per_gb: Some(1),
	}))
}

fn cores_with(metering: Option<MeteringConfig>) -> Vec<RelayCore> {
	let keys: Vec<SigningKey> = (1..=4).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
	let members: Vec<Member> = keys
		.iter()
		.enumerate()
		.map(|(i, k)| Member {
			id: [i as u8; 32],
			addr: addr(i as u8),
			pulse_key: k.verifying_key(),
		})
		.collect();
	(0..4)
		.map(|me| {
			let mut core = RelayCore::new(CoreConfig {
				allowed_destinations: vec![addr(9)],
				metering,
				..CoreConfig::new(keys[me].clone(), members.clone())
			})
			.expect("valid group");
			for (ingress, base) in [(0u16, 0u64), (3, 100)] {
				for flow in 0..FLOWS {
					let path = vec![ingress, 1, 2];
					let id = base + flow;
					core.install_flow(Flow {
						id,
						version: 1,
						key: [id as u8; 32],
						path,
						destination: addr(9),
					})
					.expect("valid flow");
				}
			}
			core
		})
		.collect()
}

/// The next packet of the round robin over both ingresses' flows, and where it came from.
fn next_packet(
	g: &mut [RelayCore],
	i: &mut u64,
	payload: &[u8],
) -> ([u8; 2048], usize, SocketAddr) {
	*i += 1;
	let (ingress, id) =
		if (*i).is_multiple_of(2) { (0, *i / 2 % FLOWS) } else { (3, 100 + *i / 2 % FLOWS) };
	let mut packet = [0u8; 2048];
	let (_, len) = g[ingress].encapsulate(id, false, payload, &mut packet).expect("encapsulates");
	(packet, len, addr(ingress as u8))
}

fn bench_size(c: &mut Criterion, size: usize) {
	let payload = vec![7u8; size];
	let mut g = cores();
	let mut i = 0u64;
	let (_, len, _) = next_packet(&mut g, &mut i, &payload);
	let mut group = c.benchmark_group(format!("{size}-byte payload"));
	group.throughput(Throughput::Bytes(len as u64));
	group.bench_function("bare forwarder (type check + copy)", |b| {
		let mut out = [0u8; 2048];
		b.iter_batched_ref(
			|| next_packet(&mut g, &mut i, &payload),
			|(packet, len, _)| {
				let ok = peek_type(&packet[..*len]).is_ok();
				out[..*len].copy_from_slice(&packet[..*len]);
				black_box((ok, &out));
			},
			BatchSize::SmallInput,
		)
	});
	for (name, relay) in [
		("transit hop (link MAC, replay window, counters, re-tag)", cores().swap_remove(1)),
		(
			"metered transit hop (as above, and the flow's credit window)",
			metered_cores().swap_remove(1),
		),
	] {
		// A worker's shard, in one pass, as a worker handles a receive buffer.
		let mut shard = relay.data_shard();
		let mut pass = shard.pass();
		group.bench_function(name, |b| {
			b.iter_batched_ref(
				|| next_packet(&mut g, &mut i, &payload),
				|(packet, len, from)| {
					let handled = pass.handle(*from, &mut packet[..*len], 0);
					debug_assert_eq!(handled, Handled::Done(Action::Forward { to: 2 }));
					black_box(handled)
				},
				BatchSize::SmallInput,
			)
		});
	}
	group.bench_function("ingress (seal, tag, counters)", |b| {
		let mut ingress = cores().swap_remove(0);
		let mut out = [0u8; 2048];
		b.iter(|| black_box(ingress.encapsulate(black_box(1), false, &payload, &mut out)))
	});
	group.finish();
}

fn hop(c: &mut Criterion) {
	bench_size(c, 1_200);
	bench_size(c, 64);
}

/// The crypto of one packet: the link MAC over the most it covers (84 B) against the payload
/// AEAD (ring AES-256-GCM) over 1,200 B and a copy of the same bytes.
fn crypto(c: &mut Criterion) {
	let mut group = c.benchmark_group("per-packet crypto");
	let header: Vec<u8> = (0..84u32).map(|i| i as u8).collect();
	let link = DataMac::new(&[3; 32]);
	group.bench_function("link MAC, 84 B (DataMac::tag)", |b| {
		b.iter(|| black_box(link.tag(black_box(&header))))
	});
	// What a transit hop does with a 64 B packet's link MACs (a 52-byte header, the length and
	// the AEAD tag covered): the check and the next link's tag one after the other, or side by
	// side with the rewrite applied in registers.
	let next = DataMac::new(&[4; 32]);
	let mut packet: Vec<u8> = (0..148u32).map(|i| i as u8).collect();
	let (parts, tag_at) = ((52, 148, 100), 132);
	let carried = link.tag_split(&packet, parts.0, parts.1, parts.2);
	packet[tag_at..].copy_from_slice(&carried);
	let rewrite = HeadRewrite { byte: 1, words: [7, 8] };
	group.bench_function("link MAC check, then the next tag (64 B packet)", |b| {
		let mut relinked = packet.clone();
		b.iter(|| {
			let packet = black_box(&packet[..]);
			let holds = link.verify_split(packet, parts.0, parts.1, parts.2, &packet[tag_at..]);
			// As `wire::relink` did: the fields written in place, then the header tagged.
			let relinked = black_box(&mut relinked[..]);
			relinked[3] = rewrite.byte;
			relinked[34..42].copy_from_slice(&rewrite.words[0].to_be_bytes());
			relinked[42..50].copy_from_slice(&rewrite.words[1].to_be_bytes());
			black_box((holds, next.tag_split(relinked, parts.0, parts.1, parts.2)))
		})
	});
	group.bench_function("link MAC check and next tag side by side (64 B packet)", |b| {
		b.iter(|| {
			let packet = black_box(&packet[..]);
			black_box(link.verify_and_retag_split(&next, packet, parts, tag_at, &rewrite))
		})
	});
	let mut payload = vec![9u8; 1_200];
	group.bench_function("copy of 1,200 B (baseline)", |b| {
		let mut out = vec![0u8; payload.len()];
		b.iter(|| {
			out.copy_from_slice(black_box(&payload));
			black_box(&out);
		})
	});
	let cipher = FlowCipher::new(&[4; 32]);
	let mut seq = 0u64;
	group.bench_function("AES-256-GCM seal, 1,200 B (FlowCipher)", |b| {
		b.iter(|| {
			seq += 1;
			black_box(cipher.seal(false, seq, &header[..66], &mut payload))
		})
	});
	group.finish();
}

/// A flow setup at the transit relay: a re-announcement of the version it holds (the origin's
/// ed25519 signature; the consumer's consent was checked when the version came) against a new
/// version (the signature and the consent's sr25519 verification). The ingress signs in the
/// untimed part; the clock moves 10 ms per setup, inside the origin's control budget.
fn setups(c: &mut Criterion) {
	let mut group = c.benchmark_group("flow setup at a transit relay");
	let mut g = cores();
	let mut transit = g.swap_remove(1);
	let mut ingress = g.swap_remove(0);
	let mut now_ns = 0u64;
	let mut version = 1u32;
	// A flow id of member 0's own (setups of another member's ids are refused).
	let id = new_flow_id(&[0; 32], 50);
	let flow =
		|version| Flow { id, version, key: [1; 32], path: vec![0, 1, 2], destination: addr(9) };
	let originate = |ingress: &mut RelayCore, version: u32, now_ns: &mut u64| {
		*now_ns += 10_000_000;
		let mut setup = [0u8; 512];
		let len = ingress
			.originate_flow(flow(version), [5; 32], *now_ns, &mut setup)
			.expect("originates");
		(setup, len, *now_ns)
	};
	let (mut first, len, at) = originate(&mut ingress, version, &mut now_ns);
	assert_eq!(transit.on_datagram(addr(0), &mut first[..len], at), Action::Forward { to: 2 });
	group.bench_function("re-announcement (origin signature)", |b| {
		b.iter_batched_ref(
			|| originate(&mut ingress, version, &mut now_ns),
			|(setup, len, at)| {
				let action = transit.on_datagram(addr(0), &mut setup[..*len], *at);
				debug_assert_eq!(action, Action::Forward { to: 2 });
				black_box(action)
			},
			BatchSize::SmallInput,
		)
	});
	group.bench_function("new version (origin signature, consumer's consent)", |b| {
		b.iter_batched_ref(
			|| {
				version += 1;
				originate(&mut ingress, version, &mut now_ns)
			},
			|(setup, len, at)| {
				let action = transit.on_datagram(addr(0), &mut setup[..*len], *at);
				debug_assert_eq!(action, Action::Forward { to: 2 });
				black_box(action)
			},
			BatchSize::SmallInput,
		)
	});
	group.finish();
}

criterion_group!(benches, hop, crypto, setups);
criterion_main!(benches);
