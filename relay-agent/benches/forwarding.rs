//! One relay hop, in memory: the cost of `RelayCore::on_datagram` forwarding a data packet
//! (decode, MAC check, counters, segment rewrite) against a baseline measured in the same run:
//! a bare forwarder that only reads the packet type and copies the datagram. The ratio is what
//! `docs/PERFORMANCE.md` reports.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use srwan_relay::proto::{
	relay::{CoreConfig, Flow, Member, RelayCore},
	wire::{peek_type, DataMac},
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

/// The data MAC alone over a full-size packet's covered bytes, against a copy of the same bytes
/// (the floor of anything that reads them) and keyed BLAKE3 (the MAC before POLYVAL-AES).
fn mac(c: &mut Criterion) {
	let covered: Vec<u8> = (0..1_232u32).map(|i| i as u8).collect();
	let mut group = c.benchmark_group("data MAC, 1,232 covered bytes");
	group.throughput(Throughput::Bytes(covered.len() as u64));
	group.bench_function("copy (baseline)", |b| {
		let mut out = vec![0u8; covered.len()];
		b.iter(|| {
			out.copy_from_slice(black_box(&covered));
			black_box(&out);
		})
	});
	group.bench_function("keyed BLAKE3, 128 bits (previous MAC)", |b| {
		b.iter(|| {
			let mut tag = [0u8; 16];
			blake3::Hasher::new_keyed(&[3; 32])
				.update(black_box(&covered))
				.finalize_xof()
				.fill(&mut tag);
			black_box(tag)
		})
	});
	let data_mac = DataMac::new(&[3; 32]);
	group.bench_function("POLYVAL-AES (DataMac::tag)", |b| {
		b.iter(|| black_box(data_mac.tag(black_box(&covered))))
	});
	group.finish();
}

criterion_group!(benches, hop, mac);
criterion_main!(benches);
