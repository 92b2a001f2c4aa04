//! Every decoder on arbitrary bytes: never panics, and what decodes re-encodes consistently.
#![no_main]

use libfuzzer_sys::fuzz_target;
use srwan_relay::proto::wire::{
	decode_data, decode_row_header, peek_type, row_entry, verify_data_mac, DataMac, FlowSetup,
	Pulse,
};

fuzz_target!(|data: &[u8]| {
	let _ = peek_type(data);
	if let Ok(pulse) = Pulse::decode(data) {
		assert_eq!(pulse.echo.is_some(), data[2] & 1 == 1);
	}
	if let Ok((header, payload)) = decode_data(data) {
		assert!(payload.end <= data.len());
		assert!(header.segments_left <= header.segment_count);
		let _ = verify_data_mac(data, &DataMac::new(&[0; 32]));
	}
	if let Ok((_, count)) = decode_row_header(data) {
		for i in 0..count {
			assert!(row_entry(data, i).is_some());
		}
	}
	let _ = FlowSetup::decode(data);
});
