//! Every decoder on arbitrary bytes (body: `srwan_relay::fuzzing::parse`, also run as a stable
//! test over the corpus).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| srwan_relay::fuzzing::parse(data));
