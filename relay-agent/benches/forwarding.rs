//! One relay hop, in memory: the cost of `RelayCore::on_datagram` forwarding a data packet
//! (decode, MAC check, counters, segment rewrite) against a baseline measured in the same run:
//! a bare forwarder that only reads the packet type and copies the datagram. The ratio is what
//! `docs/PERFORMANCE.md` reports.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use srwan_relay::proto::{
	relay::{CoreConfig, Flow, Member, RelayCore},
	wire::peek_type,
};
use std::{hint::black_box, net::SocketAddr};

fn addr(i: u8) -> SocketAddr {
	SocketAddr::from(([127, 0, 0, 1], 9000 + u16::from(i)))
}

fn cores() -> (RelayCore, RelayCore) {
	let keys: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
	let members: Vec<Member> = keys
		.iter()
		.enumerate()
		.map(|(i, k)| Member {
			id: [i as u8; 32],
			addr: addr(i as u8),
			pulse_key: k.verifying_key(),
		})
		.collect();
	let make = |me: usize| {
		let mut core = RelayCore::new(CoreConfig::new(keys[me].clone(), members.clone()))
			.expect("valid group");
		core.install_flow(Flow { id: 1, key: [3; 32], path: vec![0, 1, 2], destination: addr(9) })
			.expect("valid flow");
		core
	};
	(make(0), make(1))
}

fn hop(c: &mut Criterion) {
	let (mut ingress, mut relay) = cores();
	let mut group = c.benchmark_group("one hop, 1200-byte payload");
	let mut template = [0u8; 2048];
	let (_, len) =
		ingress.encapsulate(1, false, &[7u8; 1200], &mut template).expect("encapsulates");
	group.throughput(Throughput::Bytes(len as u64));
	group.bench_function("bare forwarder (type check + copy)", |b| {
		let mut out = [0u8; 2048];
		b.iter_batched_ref(
			|| template,
			|packet| {
				let ok = peek_type(&packet[..len]).is_ok();
				out[..len].copy_from_slice(&packet[..len]);
				black_box((ok, &out));
			},
			BatchSize::SmallInput,
		)
	});
	group.bench_function("srwan relay hop (MAC, counters, rewrite)", |b| {
		b.iter_batched_ref(
			|| template,
			|packet| black_box(relay.on_datagram(addr(0), &mut packet[..len], 0)),
			BatchSize::SmallInput,
		)
	});
	group.finish();
}

criterion_group!(benches, hop);
criterion_main!(benches);
