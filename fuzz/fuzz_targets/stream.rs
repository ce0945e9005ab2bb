//! The reassembler, with an oracle: whatever order chunks come in, what it
//! hands on is the stream's own bytes at their own positions.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| swit_fuzz::stream(data));
