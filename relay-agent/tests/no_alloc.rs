//! Steady-state forwarding allocates nothing: a counting global allocator watches a relay
//! forward and deliver thousands of data packets and verify pulses after warm-up, first in the
//! sans-IO core, then through the batched socket driver on real UDP sockets.
//!
//! Allocations are counted per thread, so the tests may run in parallel; the driver test runs
//! its tokio runtime on the test's own thread.

// A global allocator is necessarily `unsafe impl`; it only counts and delegates to System.
#![allow(unsafe_code)]

use ed25519_dalek::SigningKey;
use srwan_relay::{
	net::{BatchSocket, Worker},
	proto::relay::{Action, CoreConfig, Flow, Member, RelayCore},
};
use std::{
	alloc::{GlobalAlloc, Layout, System},
	cell::Cell,
	net::{SocketAddr, UdpSocket},
	sync::{Arc, Mutex},
};

struct Counting;

thread_local! {
	// `const` initialisation: reading it never allocates (the allocator calls it).
	static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
	let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> u64 {
	ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
	unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
		count();
		unsafe { System.alloc(layout) }
	}
	unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
		unsafe { System.dealloc(ptr, layout) }
	}
	unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
		count();
		unsafe { System.realloc(ptr, layout, new_size) }
	}
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn addr(i: u8) -> SocketAddr {
	SocketAddr::from(([127, 0, 0, 1], 9000 + u16::from(i)))
}

fn core(me: u8, keys: &[SigningKey]) -> RelayCore {
	let addrs: Vec<SocketAddr> = (0..keys.len() as u8).map(addr).collect();
	core_at(me, keys, &addrs, addr(99))
}

fn core_at(
	me: u8,
	keys: &[SigningKey],
	addrs: &[SocketAddr],
	destination: SocketAddr,
) -> RelayCore {
	let members = keys
		.iter()
		.zip(addrs)
		.enumerate()
		.map(|(i, (k, addr))| Member {
			id: [i as u8; 32],
			addr: *addr,
			pulse_key: k.verifying_key(),
		})
		.collect();
	let mut core = RelayCore::new(CoreConfig {
		window: 32,
		allowed_destinations: vec![destination],
		flow_idle_ns: u64::MAX,
		..CoreConfig::new(keys[usize::from(me)].clone(), members)
	})
	.unwrap();
	core.install_flow(Flow { id: 1, version: 1, key: [3; 32], path: vec![0, 1, 2], destination })
		.unwrap();
	core
}

#[test]
fn forwarding_and_pulses_allocate_nothing_in_steady_state() {
	let keys: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
	let (mut ingress, mut relay, mut egress) = (core(0, &keys), core(1, &keys), core(2, &keys));
	let payload = [0xabu8; 1_200];
	let mut packet = [0u8; 2_048];
	let mut pulse = [0u8; 256];

	let mut run = |rounds: u64, t0: u64| {
		for i in 0..rounds {
			let (_, len) = ingress.encapsulate(1, false, &payload, &mut packet).unwrap();
			assert_eq!(
				relay.on_datagram(addr(0), &mut packet[..len], 0),
				Action::Forward { to: 2 }
			);
			assert!(matches!(
				egress.on_datagram(addr(1), &mut packet[..len], 0),
				Action::Deliver { .. }
			));
			// 100 pulses a second: within a member's control budget.
			let t = t0 + i * 10_000_000;
			let (_, n) = ingress.pulse_for(1, t, &mut pulse).unwrap();
			assert_eq!(relay.on_datagram(addr(0), &mut pulse[..n], t + 5), Action::Consumed);
		}
	};
	// Warm-up: counters, drop tables and pulse windows reach their steady size.
	run(100, 1_000);
	let before = allocations();
	run(5_000, 10_000_000_000);
	let allocations = allocations() - before;
	assert_eq!(allocations, 0, "{allocations} allocations for 5,000 packets and pulses");
}

#[test]
fn the_batched_driver_forwards_without_allocating() {
	let keys: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
	let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
	runtime.block_on(async {
		let generator = UdpSocket::bind("127.0.0.1:0").unwrap();
		let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
		let hop =
			BatchSocket::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap()).unwrap();
		let addrs = [
			generator.local_addr().unwrap(),
			hop.local_addr().unwrap(),
			sink.local_addr().unwrap(),
		];
		let mut ingress = core_at(0, &keys, &addrs, addr(99));
		let relay = Arc::new(Mutex::new(core_at(1, &keys, &addrs, addr(99))));
		let mut worker = Worker::hop(hop, relay.clone()).unwrap();
		let payload = [0xabu8; 1_200];
		let mut packet = [0u8; 2_048];
		let mut received = [0u8; 2_048];

		let mut forwarded = 0u64;
		let mut size = 0;
		sink.set_nonblocking(true).unwrap();
		let mut run = async |bursts: u64| {
			for _ in 0..bursts {
				for _ in 0..16 {
					let (_, len) = ingress.encapsulate(1, false, &payload, &mut packet).unwrap();
					generator.send_to(&packet[..len], addrs[1]).unwrap();
					size = len;
				}
				let mut arrived = 0;
				while arrived < 16 {
					worker.step().await.unwrap();
					// The hop forwards everything it takes in; drain what reached the sink.
					while let Ok(n) = sink.recv(&mut received) {
						assert_eq!(n, size, "the datagram, rewritten in place");
						arrived += 1;
					}
				}
				forwarded += arrived;
			}
		};
		// Warm-up: the hop's counters, the runtime's registrations and the buffers settle.
		run(200).await;
		let before = allocations();
		run(300).await;
		let allocations = allocations() - before;
		assert_eq!(allocations, 0, "{allocations} allocations for 4,800 forwarded datagrams");
		assert_eq!(forwarded, 500 * 16);
		let totals = {
			let mut relay = relay.lock().unwrap();
			relay.sync();
			relay.counters().totals()
		};
		assert_eq!(totals.in_octets, forwarded * size as u64, "every datagram counted in");
		assert_eq!(totals.out_octets, totals.in_octets, "and out");
	});
}
