//! An operator's mistakes: one clear line naming the fix, exit code 2, no
//! backtrace.
use std::process::{Command, Output};

use swit_tests::{agent_bin, require_root, require_tool};

fn assert_user_error(out: Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, got {lines:?}");
    assert!(
        lines[0].contains(needle),
        "{:?} should mention {needle:?}",
        lines[0]
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn an_unknown_pid_is_named() {
    require_root();
    let out = Command::new(agent_bin())
        .args(["run", "--pid", "4000000"])
        .output()
        .unwrap();
    assert_user_error(out, "no process with PID 4000000");
}

#[test]
fn nothing_to_trace_says_how() {
    let out = Command::new(agent_bin()).arg("run").output().unwrap();
    assert_user_error(out, "--pid");
}

#[test]
fn a_capture_limit_out_of_range_is_refused() {
    let out = Command::new(agent_bin())
        .args(["run", "--pid", "1", "--capture-bytes", "100000"])
        .output()
        .unwrap();
    assert_user_error(out, "--capture-bytes 100000");
}

#[test]
fn without_privileges_the_agent_says_to_use_root() {
    require_root();
    require_tool("setpriv");
    // Drop to nobody with no capabilities: what an unprivileged operator has.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(agent_bin())
        .args(["run", "--pid", "1"])
        .output()
        .unwrap();
    assert_user_error(out, "needs root");
}
