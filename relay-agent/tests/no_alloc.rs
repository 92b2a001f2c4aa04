//! Steady-state forwarding allocates nothing: a counting global allocator watches a relay
//! forward and deliver thousands of data packets and verify pulses after warm-up.

// A global allocator is necessarily `unsafe impl`; it only counts and delegates to System.
#![allow(unsafe_code)]

use ed25519_dalek::SigningKey;
use srwan_relay::proto::relay::{Action, CoreConfig, Flow, Member, RelayCore};
use std::{
	alloc::{GlobalAlloc, Layout, System},
	net::SocketAddr,
	sync::atomic::{AtomicU64, Ordering},
};

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
	unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
		ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
		unsafe { System.alloc(layout) }
	}
	unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
		unsafe { System.dealloc(ptr, layout) }
	}
	unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
		ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
		unsafe { System.realloc(ptr, layout, new_size) }
	}
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn addr(i: u8) -> SocketAddr {
	SocketAddr::from(([127, 0, 0, 1], 9000 + u16::from(i)))
}

fn core(me: u8, keys: &[SigningKey]) -> RelayCore {
	let members = keys
		.iter()
		.enumerate()
		.map(|(i, k)| Member {
			id: [i as u8; 32],
			addr: addr(i as u8),
			pulse_key: k.verifying_key(),
		})
		.collect();
	let mut core = RelayCore::new(CoreConfig {
		window: 32,
		allowed_destinations: vec![addr(99)],
		..CoreConfig::new(keys[usize::from(me)].clone(), members)
	})
	.unwrap();
	core.install_flow(Flow { id: 1, key: [3; 32], path: vec![0, 1, 2], destination: addr(99) })
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
				Action::Forward { to: addr(2) }
			);
			assert!(matches!(
				egress.on_datagram(addr(1), &mut packet[..len], 0),
				Action::Deliver { .. }
			));
			let (_, n) = ingress.pulse_for(1, t0 + i, &mut pulse).unwrap();
			assert_eq!(relay.on_datagram(addr(0), &mut pulse[..n], t0 + i + 5), Action::Consumed);
		}
	};
	// Warm-up: counters, drop tables and pulse windows reach their steady size.
	run(100, 1_000);
	let before = ALLOCATIONS.load(Ordering::SeqCst);
	run(5_000, 1_000_000);
	let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;
	assert_eq!(allocations, 0, "{allocations} allocations for 5,000 packets and pulses");
}
