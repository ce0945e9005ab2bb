//! A Postgres session fed a script: both sides, in any order, with gaps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use swit_agent::protocol::ProtocolKind;

fuzz_target!(|data: &[u8]| swit_fuzz::session(ProtocolKind::Postgres, data));
