//! Seeds for the fuzz targets, written by the tests themselves (test
//! builds only).
//!
//! With `SWIT_FUZZ_SEEDS=DIR` set, every protocol session a unit test feeds
//! records its inputs as a script (`script.rs`), and when the test's thread
//! ends each script is written to `DIR/<target>/<hash>`. So the table
//! tests, the captures they replay and every later test become seeds with
//! no list to keep: `cargo xtask fuzz` runs the protocol tests this way
//! first. Without the variable nothing is recorded.
use std::{cell::RefCell, collections::BTreeMap, hash::Hasher, path::PathBuf, sync::OnceLock};

use super::{Input, Side, script};

/// A longer test's script is cut here: seeds should stay small.
const MAX_SCRIPT: usize = 16 * 1024;

fn dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| std::env::var_os("SWIT_FUZZ_SEEDS").map(PathBuf::from))
        .as_ref()
}

/// This thread's (this test's) scripts, by fuzz target.
#[derive(Default)]
struct Recorder(BTreeMap<&'static str, Vec<u8>>);

impl Drop for Recorder {
    fn drop(&mut self) {
        let Some(dir) = dir() else { return };
        for (target, script) in &self.0 {
            let mut h = std::hash::DefaultHasher::new();
            h.write(script);
            let d = dir.join(target);
            // Best effort: a seed that cannot be written is no test failure.
            let _ = std::fs::create_dir_all(&d);
            let _ = std::fs::write(d.join(format!("{:016x}", h.finish())), script);
        }
    }
}

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::default();
}

fn with_script(target: &'static str, f: impl FnOnce(&mut Vec<u8>)) {
    if dir().is_none() {
        return;
    }
    // Ignored if the thread is already tearing its locals down.
    let _ = RECORDER.try_with(|r| {
        let mut r = r.borrow_mut();
        let s = r.0.entry(target).or_default();
        if s.len() < MAX_SCRIPT {
            f(s);
        }
    });
}

/// A session of `target`'s protocol was fed `input` on `side`.
pub fn input(target: &'static str, side: Side, input: Input<'_>) {
    with_script(target, |s| match input {
        Input::Data { bytes, .. } => script::push_data(s, side, bytes),
        Input::Gap { len, .. } => script::push_gap(s, side, len),
    });
}

/// An HPACK decoder was given a header block.
pub fn header_block(block: &[u8]) {
    with_script("hpack", |s| script::push_data(s, Side::Request, block));
}
