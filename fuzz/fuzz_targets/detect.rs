//! Protocol detection on a connection's first bytes, either side.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| swit_fuzz::detect(data));
