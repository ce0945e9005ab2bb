//! Tests of go_runtime.rs: the caller's register, and Go and non-Go files.
use super::*;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_callers_register_follows_the_signature() {
    let cases: [(&[&str], Option<CallerG>); 5] = [
        (&["fn", "callergp", "callerpc"], Some(CallerG::Rbx)),
        (
            &["fn", "callergp", "callerpc", "parked", "waitreason"],
            Some(CallerG::Rbx),
        ),
        (
            &["fn", "argp", "narg", "callergp", "callerpc"],
            Some(CallerG::Rdi),
        ),
        (&["fn", "argp", "narg", "callerpc"], None),
        (&[], None),
    ];
    for (params, want) in cases {
        assert_eq!(caller_g_register(&names(params)), want, "{params:?}");
    }
}

#[test]
fn files_that_are_not_go() {
    assert!(matches!(go_spawn_hook(Path::new("/bin/sh")), Ok(None)));
    assert!(matches!(go_spawn_hook(Path::new("/nonexistent")), Ok(None)));
}

/// The Go 1.19 binary the end-to-end tests build, when it is there.
#[test]
fn a_go_binary_built_by_the_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/go/bin");
    let Ok(dir) = fs::read_dir(&root) else {
        eprintln!("no Go binaries under {} yet: skipped", root.display());
        return;
    };
    for bin in dir.flatten() {
        let hook = go_spawn_hook(&bin.path())
            .unwrap_or_else(|e| panic!("{}: {e}", bin.path().display()))
            .expect("a Go binary");
        assert_eq!(hook.caller_g, CallerG::Rbx, "{}", bin.path().display());
        assert!(!hook.func.rets.is_empty());
    }
}
