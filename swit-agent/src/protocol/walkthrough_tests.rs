//! Tests of mod.rs: every registered protocol is built the way
//! docs/architecture.md's "How to add a protocol" says, and the walk names
//! what it checks.
use std::path::{Path, PathBuf};

use super::ProtocolKind;

fn folder(kind: ProtocolKind) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/protocol")
        .join(kind.module())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `*_tests.rs` of the protocol's folder, concatenated.
fn tests_of(kind: ProtocolKind) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(folder(kind)).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with("_tests.rs") {
            text.push_str(&read(&e.path()));
        }
    }
    text
}

/// What the walk asks of a protocol: (file, what it must hold).
fn pieces(kind: ProtocolKind) -> Vec<(&'static str, String)> {
    let state = kind.state();
    vec![
        ("mod.rs", format!("impl super::Detector for {state}")),
        ("session.rs", format!("impl framing::Protocol for {state}")),
        ("session.rs", format!("pub type Session = Driver<{state}>;")),
    ]
}

#[test]
fn every_protocol_has_the_walks_files_and_pieces() {
    for kind in ProtocolKind::ALL {
        for (file, piece) in pieces(kind) {
            let text = read(&folder(kind).join(file));
            assert!(
                text.contains(&piece),
                "protocol/{}/{file} should hold `{piece}`",
                kind.module()
            );
        }
        assert!(folder(kind).join("session_tests.rs").exists());
        let tests = tests_of(kind);
        for check in [
            "testkit::split_anywhere",
            "testkit::truncated_prefixes",
            "testkit::garbage",
        ] {
            assert!(
                tests.contains(check),
                "protocol/{}'s tests should run {check}",
                kind.module()
            );
        }
    }
}

#[test]
fn the_walk_names_what_is_checked() {
    let doc = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md"));
    let walk = &doc[doc.find("### How to add a protocol").expect("the walk")..];
    for needle in [
        "`mod.rs`",
        "impl Detector for State",
        "`session.rs`",
        "impl framing::Protocol for State",
        "pub type Session = Driver<State>",
        "`session_tests.rs`",
        "testkit::split_anywhere",
        "testkit::truncated_prefixes",
        "testkit::garbage",
        "registry!",
        "walkthrough_tests.rs",
    ] {
        assert!(walk.contains(needle), "the walk should name {needle}");
    }
}

#[test]
fn labels_are_unique_and_name_their_kind() {
    for kind in ProtocolKind::ALL {
        assert_eq!(ProtocolKind::from_name(kind.as_str()), Some(kind));
    }
    assert_eq!(ProtocolKind::from_name("postgres"), None);
}
