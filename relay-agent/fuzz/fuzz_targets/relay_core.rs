//! A relay core fed datagrams built from arbitrary bytes, past the link MACs (body:
//! `srwan_relay::fuzzing::relay_core`, also run as a stable test over the corpus).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| srwan_relay::fuzzing::relay_core(data));
