//! HPACK header blocks, into a decoder that saw the connection's start and
//! into one that did not.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| swit_fuzz::hpack(data));
