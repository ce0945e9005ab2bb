//! Tests of lib.rs: the top-level folders depend on each other one way,
//! as docs/architecture.md draws them.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a file names through `crate::`, grouped imports
/// (`use crate::{a::b, c}`) included.
fn named(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut start) = (0, 0);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

/// Folder -> the other folders its code (not its tests) names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap();
        let name = rel.to_string_lossy();
        if name.ends_with("tests.rs") || name.contains("testkit") {
            continue;
        }
        let top = rel.iter().next().unwrap().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let deps = g.entry(top.clone()).or_default();
        deps.extend(named(&text).into_iter().filter(|d| *d != top));
    }
    g
}

#[test]
fn no_import_circle_between_folders() {
    let g = graph();
    assert!(g.len() >= 10 && g["agent"].contains("capture"), "{g:?}");
    // Depth-first search; a folder met again while on the path closes a circle.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == n) {
            panic!("import circle: {} -> {n}", path[i..].join(" -> "));
        }
        if done.contains(n) {
            return;
        }
        path.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            visit(d, g, path, done);
        }
        path.pop();
        done.insert(n.to_string());
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        visit(n, &g, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_architecture_doc_draws_the_folders_as_they_are() {
    let doc = std::fs::read_to_string(src().join("../../docs/architecture.md")).unwrap();
    for (folder, deps) in graph() {
        let drawn = if deps.is_empty() {
            None
        } else {
            let list: Vec<&str> = deps.iter().map(String::as_str).collect();
            Some(format!("{folder:<9} -> {}", list.join(", ")))
        };
        if let Some(line) = drawn {
            assert!(
                doc.lines().any(|l| l == line),
                "docs/architecture.md should draw `{line}`"
            );
        }
    }
}

#[test]
fn grouped_imports_are_read() {
    let text = "use crate::{\n    capture::event::{A, B},\n    config::Settings,\n};\nuse crate::trace::x;";
    let want: BTreeSet<String> = ["capture", "config", "trace"].map(String::from).into();
    assert_eq!(named(text), want);
}
