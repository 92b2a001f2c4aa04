//! A relay core fed arbitrary datagrams from arbitrary members: it must drop or handle every
//! one without panicking.
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use srwan_relay::proto::{
	counters::Counters,
	relay::{CoreConfig, Flow, Member, RelayCore},
};
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
	let keys: Vec<SigningKey> = (1..=3).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
	let members = keys
		.iter()
		.enumerate()
		.map(|(i, k)| Member {
			id: [i as u8; 32],
			addr: SocketAddr::from(([127, 0, 0, 1], 9000 + i as u16)),
			pulse_key: k.verifying_key(),
		})
		.collect();
	let Ok(mut core) = RelayCore::new(CoreConfig {
		key: keys[1].clone(),
		group: 1,
		members,
		boot_time: 1,
		window: 8,
		stale_after_ns: u64::MAX,
		cross_check_tolerance_us: 1_000,
		silence_ns: u64::MAX,
		counters: Counters::default(),
		allowed_destinations: vec![],
		flow_idle_ns: u64::MAX,
	}) else {
		return;
	};
	let _ = core.install_flow(Flow {
		id: 1,
		version: 1,
		key: [0; 32],
		path: vec![0, 1, 2],
		destination: SocketAddr::from(([127, 0, 0, 1], 1)),
	});
	let from = SocketAddr::from((
		[127, 0, 0, 1],
		9000 + u16::from(data.first().copied().unwrap_or(0) % 4),
	));
	let mut datagram = data.get(1..).unwrap_or_default().to_vec();
	let _ = core.on_datagram(from, &mut datagram, 0);
});
