//! Tests of check.rs: a missing requirement means the agent cannot run.
use super::*;

#[test]
fn a_missing_requirement_means_cannot_run() {
    let ok = line("x", Status::Yes, "", "");
    let no = line("y", Status::No, "", "");
    let fail = line("z", Status::Missing, "", "");
    assert!(can_run(&[ok.clone(), no.clone()]));
    assert!(!can_run(&[ok, no, fail]));
}
