//! Tests of selection/mod.rs: processes, parents and descendants.
use super::*;

#[test]
fn this_process_exists_and_a_huge_pid_does_not() {
    assert!(pid_exists(std::process::id()));
    assert!(!pid_exists(u32::MAX - 1));
}

#[test]
fn ppid_from_stat_with_odd_comm() {
    assert_eq!(parse_stat_ppid("123 (a b) c) S 45 1 1"), Some(45));
    assert_eq!(parse_stat_ppid("garbage"), None);
}

#[test]
fn descendants_include_a_child() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let set = with_descendants(&[std::process::id()]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(set.contains(&child.id()), "{set:?}");
}
