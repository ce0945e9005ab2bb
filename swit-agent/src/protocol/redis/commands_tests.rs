//! Tests of commands.rs: the command tables are sorted, bounded and consistent.
use super::*;

#[test]
fn known_is_sorted_and_bounded() {
    assert!(
        KNOWN.windows(2).all(|w| w[0] < w[1]),
        "KNOWN must be sorted"
    );
    assert!(KNOWN.iter().all(|k| k.len() <= MAX_NAME));
    assert!(
        CONTAINERS
            .iter()
            .chain(PUSH_MODE)
            .all(|c| is_known(c.as_bytes()))
    );
    assert!(is_known(b"get") && is_known(b"zremrangebyscore"));
    assert!(!is_known(b"") && !is_known(b"GETX") && !is_known(b"POST"));
    assert!(is_prefix(b"hs") && !is_prefix(b"qq") && !is_prefix(b""));
}
