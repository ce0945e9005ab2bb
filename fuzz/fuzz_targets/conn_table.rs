//! The connection table: chunks of up to four sockets, both directions,
//! out of order, resent, cut short or missing, with opens, closes and
//! ticks between them; detection and every protocol behind it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| swit_fuzz::conn_table(data));
