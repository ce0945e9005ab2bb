//! Every registered protocol's session, fed a script: both sides, in any
//! order, with gaps, then close. `SWIT_FUZZ_PROTOCOL` names the protocol
//! (its registry label); `cargo xtask fuzz` runs this target once per
//! protocol, and learns them from `SWIT_FUZZ_LIST=1`.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use swit_agent::protocol::ProtocolKind;

static KIND: OnceLock<ProtocolKind> = OnceLock::new();

fuzz_target!(
    init: {
        KIND.get_or_init(swit_fuzz::chosen_protocol);
    },
    |data: &[u8]| swit_fuzz::session(*KIND.get().expect("set at init"), data)
);
