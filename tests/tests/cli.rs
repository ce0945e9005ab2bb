//! An operator's mistakes: one clear line naming the fix, exit code 2, no
//! backtrace.
use std::process::{Command, Output};

use swit_tests::{agent_bin, require_root};

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
    assert_user_error(out, "100000 is more than 16384 (from --capture-bytes)");
}

#[test]
fn without_privileges_the_agent_says_to_use_root() {
    require_root();
    let out = swit_tests::unprivileged_agent(&["run", "--pid", "1"])
        .output()
        .unwrap();
    assert_user_error(out, "needs root");
}

#[test]
fn config_validate_accepts_a_good_file_and_names_every_problem_of_a_bad_one() {
    let good = swit_tests::write_config(
        "good",
        "tracing:\n  enabled: true\n  exporter: { type: otlp, endpoint: \"http://localhost:4317\" }\n",
    );
    let out = Command::new(agent_bin())
        .args(["config", "validate"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));

    let bad = swit_tests::write_config(
        "bad",
        "tracing:\n  sampling: { type: traceidratio, rate: 1.5 }\n  exporter: { type: zipkin, timeout: \"10x\", bogus: 1 }\n",
    );
    let out = Command::new(agent_bin())
        .args(["config", "validate"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "tracing.sampling.rate",
        "tracing.exporter.type",
        "tracing.exporter.timeout",
        "tracing.exporter.bogus",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(!text.contains("panicked"));
}

#[test]
fn a_disabled_configuration_exits_0_without_loading_probes() {
    let off = swit_tests::write_config("off", "tracing:\n  enabled: false\n");
    let out = Command::new(agent_bin())
        .arg("run")
        .arg("--config")
        .arg(&off)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("disabled"), "{stderr}");
}

#[test]
fn check_without_privileges_says_it_cannot_run() {
    require_root();
    let out = swit_tests::unprivileged_agent(&["check"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("privileges")),
        "{text}"
    );
}
