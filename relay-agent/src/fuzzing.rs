//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*`), here so that they also run as stable
//! tests (`tests/fuzz_bodies.rs`: the checked-in `fuzz/seeds` and 10,000 generated inputs), since
//! cargo-fuzz needs a nightly toolchain. Each body panics only where an invariant breaks.

use crate::proto::{
	counters::Counters,
	e2e::FlowCipher,
	link::LinkKeys,
	relay::{Action, CoreConfig, Flow, Member, RelayCore},
	wire::{
		decode_data, decode_row_header, encode_data, open_data, peek_type, row_entry, verify_link,
		DataHeader, DataMac, FlowSetup, Pulse, MAX_SEGMENTS,
	},
};
use ed25519_dalek::SigningKey;
use std::net::SocketAddr;

/// Every decoder on arbitrary bytes: never panics, and what decodes is consistent.
pub fn parse(data: &[u8]) {
	let _ = peek_type(data);
	if let Ok(pulse) = Pulse::decode(data) {
		assert_eq!(pulse.echo.is_some(), data[2] & 1 == 1);
	}
	if let Ok((header, payload)) = decode_data(data) {
		assert!(payload.end <= data.len());
		assert!(header.segments_left <= header.segment_count);
		let _ = verify_link(data, &header, &DataMac::new(&[0; 32]));
		let _ = open_data(&mut data.to_vec(), &header, &FlowCipher::new(&[0; 32]));
	}
	if let Ok((_, count)) = decode_row_header(data) {
		for i in 0..count {
			assert!(row_entry(data, i).is_some());
		}
	}
	let _ = FlowSetup::decode(data);
}

const MEMBERS: u8 = 4;

fn member_addr(i: u8) -> SocketAddr {
	SocketAddr::from(([127, 0, 0, 1], 9000 + u16::from(i)))
}

fn member_key(i: u8) -> SigningKey {
	SigningKey::from_bytes(&[i + 1; 32])
}

fn byte(data: &[u8], at: usize) -> u8 {
	data.get(at).copied().unwrap_or(0)
}

fn u64_from(data: &[u8], at: usize) -> u64 {
	(0..8).fold(0u64, |acc, i| (acc << 8) | u64::from(byte(data, at + i)))
}

/// Relay 1 of a four-member group (flows 1: 0 → 1 → 2 and 2: 3 → 1 → 0 installed) fed one
/// datagram built from `data` by a member who knows its own link keys (so the fuzzer gets past
/// the link MAC and reaches the flow logic), or raw bytes: it must drop or handle every one
/// without panicking, and what it returns must make sense.
pub fn relay_core(data: &[u8]) {
	let members: Vec<Member> = (0..MEMBERS)
		.map(|i| Member {
			id: [i; 32],
			addr: member_addr(i),
			pulse_key: member_key(i).verifying_key(),
		})
		.collect();
	let Ok(mut core) = RelayCore::new(CoreConfig {
		window: 8,
		cross_check_tolerance_us: 1_000,
		counters: Counters::default(),
		allowed_destinations: vec![member_addr(9)],
		..CoreConfig::new(member_key(1), members.clone())
	}) else {
		panic!("a valid group");
	};
	for (id, path, key) in [(1u64, vec![0u16, 1, 2], [7u8; 32]), (2, vec![3, 1, 0], [8; 32])] {
		let installed =
			core.install_flow(Flow { id, version: 1, key, path, destination: member_addr(9) });
		assert!(installed.is_ok(), "{installed:?}");
	}
	let sender = byte(data, 0) % (MEMBERS + 1);
	let from =
		if sender == MEMBERS { SocketAddr::from(([10, 0, 0, 1], 1)) } else { member_addr(sender) };
	let mut datagram = match byte(data, 1) % 3 {
		// Raw bytes.
		0 => data.get(2..).unwrap_or_default().to_vec(),
		// A data packet with fuzzed header fields, sealed under a fuzzed or a real flow key and
		// tagged with the sender's own link key to relay 1.
		_ => {
			let count = (byte(data, 3) % (MAX_SEGMENTS as u8)) + 1;
			let mut segments = [0u16; MAX_SEGMENTS];
			for (i, slot) in segments.iter_mut().enumerate().take(usize::from(count)) {
				*slot = u16::from(byte(data, 20 + i) % (MEMBERS + 1));
			}
			let header = DataHeader {
				reverse: byte(data, 2) & 1 != 0,
				probe: byte(data, 2) & 2 != 0,
				segments_left: byte(data, 4) % (count + 1),
				segment_count: count,
				group: u32::from(byte(data, 5) % 2),
				flow: u64::from(byte(data, 6) % 3),
				epoch: u32::from(byte(data, 7) % 3),
				setup_version: u32::from(byte(data, 8) % 3),
				seq: u64_from(data, 9),
				link_boot: u64::from(byte(data, 17) % 3),
				link_seq: u64::from(byte(data, 18)),
				segments,
			};
			let flow_key = if byte(data, 19) & 1 == 0 { [7u8; 32] } else { [byte(data, 19); 32] };
			let sender_key = member_key(sender % MEMBERS);
			let link = LinkKeys::new(
				&sender_key,
				&[sender % MEMBERS; 32],
				&member_key(1).verifying_key(),
				&[1; 32],
			);
			let payload = data.get(28..).unwrap_or_default();
			let mut out = vec![0u8; payload.len() + 128];
			match encode_data(&header, payload, &FlowCipher::new(&flow_key), &link.tx, &mut out) {
				Ok(len) => out[..len].to_vec(),
				Err(_) => data.to_vec(),
			}
		}
	};
	let len = datagram.len();
	match core.on_datagram(from, &mut datagram, u64_from(data, 0)) {
		Action::Forward { to } => assert!(usize::from(to) < usize::from(MEMBERS) && to != 1),
		Action::Deliver { payload, .. } => {
			assert!(payload.end <= len && payload.start <= payload.end)
		}
		Action::ProbeReply { .. } | Action::Consumed | Action::Dropped(_) => {}
	}
}
