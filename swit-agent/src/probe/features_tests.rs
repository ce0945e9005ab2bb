//! Tests of features.rs: refusals, lockdown, and which missing feature stops the agent.
use super::*;

#[derive(Debug, thiserror::Error)]
#[error("`bpf_prog_load` failed")]
struct Wrapper(#[source] std::io::Error);

#[test]
fn a_refusal_names_the_errno_not_the_wrapping() {
    let e: Result<bool, _> = Err(Wrapper(std::io::Error::from_raw_os_error(1)));
    assert_eq!(
        answer(e, "x"),
        Avail::No("refused: Operation not permitted".into())
    );
    assert_eq!(
        answer(Ok::<_, Wrapper>(false), "absent"),
        Avail::No("absent".into())
    );
    assert_eq!(answer(Ok::<_, Wrapper>(true), "absent"), Avail::Yes);
}

#[test]
fn the_bracketed_lockdown_mode_is_active() {
    assert_eq!(
        active_lockdown(b"none [integrity] confidentiality\n"),
        Some("integrity")
    );
    assert_eq!(
        active_lockdown(b"[none] integrity confidentiality\n"),
        Some("none")
    );
    assert_eq!(active_lockdown(b""), None);
    assert_eq!(active_lockdown(&[0xff, 0xfe]), None);
}

#[test]
fn the_summary_names_the_portable_path_and_what_is_missing() {
    let f = KernelFeatures {
        ring_buffer: Avail::Yes,
        task_regs: Avail::No("no bpf_task_pt_regs (5.15+)".into()),
        bpf_loop: Avail::Yes,
        attach_cookie: Avail::Yes,
    };
    let s = f.summary();
    assert!(s.starts_with("syscall tracepoints and uprobes"), "{s}");
    assert!(
        s.contains("Go goroutines not read at syscalls: no bpf_task_pt_regs"),
        "{s}"
    );
    assert!(s.contains("iovecs walked by bpf_loop"), "{s}");
}

#[test]
fn a_feature_turned_off_is_said_so_and_a_missing_one_keeps_its_reason() {
    let mut f = KernelFeatures {
        ring_buffer: Avail::Yes,
        task_regs: Avail::No("no bpf_task_pt_regs (5.15+)".into()),
        bpf_loop: Avail::Yes,
        attach_cookie: Avail::Yes,
    };
    f.turn_off(&[KernelFeature::BpfLoop]);
    let s = f.summary();
    assert!(
        s.contains("iovecs unrolled (8 per syscall): bpf_loop turned off by agent.capture.disable_kernel_features"),
        "{s}"
    );
    assert!(
        s.contains("not read at syscalls: no bpf_task_pt_regs (5.15+)"),
        "{s}"
    );
}

#[test]
fn only_a_feature_without_a_portable_path_stops_the_agent() {
    let mut f = KernelFeatures {
        ring_buffer: Avail::Yes,
        task_regs: Avail::No("no bpf_task_pt_regs (5.15+)".into()),
        bpf_loop: Avail::No("no bpf_loop (5.17+)".into()),
        attach_cookie: Avail::Yes,
    };
    assert_eq!(f.missing_required(), None);
    f.attach_cookie = Avail::No("no bpf_get_attach_cookie in uprobes (5.15+)".into());
    assert_eq!(
        f.missing_required(),
        Some("no bpf_get_attach_cookie in uprobes (5.15+)")
    );
}
