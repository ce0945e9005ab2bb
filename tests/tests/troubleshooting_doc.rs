//! docs/troubleshooting.md explains every message the agent can print.
//!
//! The agent's sources (swit-agent/src, without test modules and test
//! files) are read with a small Rust lexer; every message literal is
//! taken: `log::warn!`/`log::error!`, `eprintln!`, `#[error("...")]`,
//! `anyhow!`/`bail!`/`.context(...)` (they end up in those lines), and the
//! configuration problems of `c.add(KEY, ...)`, `Problem::at(KEY, ...)`
//! and `problems.push((KEY, ...))`,
//! and what `swit-agent check`'s FAIL lines say was seen.
//! Each literal's fixed text (before its first `{}` placeholder, or its
//! longest fixed run when that start is too short to name the message)
//! must appear in the doc, whitespace-insensitively. Literals with no fixed
//! text of two words or more (`"{w}"`, `"{err:#}"`) forward another message
//! and are not checked themselves.
//!
//! No root, no kernel. `SWIT_SOURCE_ROOT=/path/to/checkout` checks another
//! checkout (a branch about to be merged) with this build.
use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// Messages that exist but are never printed: the parsers' and the record
/// decoder's reasons are counted (`parse_errors`, malformed records), not
/// logged. (file, fixed text). Each must still be found in the sources.
const NOT_PRINTED: &[(&str, &str)] = &[
    ("protocol/http1/parse.rs", "not an HTTP/1 message start"),
    ("protocol/http1/parse.rs", "invalid head:"),
    ("protocol/http1/parse.rs", "head longer than"),
    ("protocol/http1/parse.rs", "header fields"),
    ("protocol/http1/parse.rs", "invalid Content-Length"),
    ("protocol/http1/parse.rs", "invalid Transfer-Encoding"),
    ("protocol/http1/parse.rs", "invalid chunked body"),
    ("protocol/postgres/parse.rs", "unknown message type"),
    ("protocol/postgres/parse.rs", "invalid message length"),
    ("protocol/postgres/parse.rs", "unknown startup code"),
    ("capture/event.rs", "bytes is shorter than its header"),
    ("capture/event.rs", "unknown record kind"),
    ("capture/event.rs", "unknown address family"),
];

const DOC: &str = "docs/troubleshooting.md";

#[test]
fn every_message_the_agent_prints_is_in_the_troubleshooting_doc() {
    let root = std::env::var_os("SWIT_SOURCE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(swit_tests::root);
    let src = root.join("swit-agent/src");
    let doc = fs::read_to_string(root.join(DOC)).expect("docs/troubleshooting.md");
    let doc = squash(&doc);
    let messages = scan_tree(&src);
    assert!(
        messages.len() > 60,
        "the scanner found only {} messages in {}: is it broken?",
        messages.len(),
        src.display()
    );
    let mut missing = Vec::new();
    let mut excused = BTreeSet::new();
    for m in &messages {
        let Some(needle) = needle(&m.text) else {
            continue;
        };
        if let Some(i) = NOT_PRINTED
            .iter()
            .position(|(f, n)| m.file.ends_with(f) && needle.contains(n))
        {
            excused.insert(i);
            continue;
        }
        if !doc.contains(&needle) {
            missing.push(format!(
                "  {}:{}: {:?}  (from {:?})",
                m.file, m.line, needle, m.text
            ));
        }
    }
    let stale: Vec<_> = (0..NOT_PRINTED.len())
        .filter(|i| !excused.contains(i))
        .map(|i| NOT_PRINTED[i])
        .collect();
    assert!(
        stale.is_empty(),
        "NOT_PRINTED entries that match no message any more (remove them): {stale:?}"
    );
    assert!(
        missing.is_empty(),
        "{} message(s) of swit-agent are not explained in {DOC} (add each, with what it means and what to do):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// One message literal found in the sources.
#[derive(Debug, Clone, PartialEq)]
struct Message {
    /// Relative to swit-agent/src.
    file: String,
    line: usize,
    /// The literal's value (escapes decoded), placeholders still in it.
    text: String,
}

/// Whitespace runs become one space.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn words(s: &str) -> usize {
    s.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count()
}

/// The fixed runs of a format string: the text between placeholders,
/// `{{` and `}}` read as braces.
fn fixed_runs(fmt: &str) -> Vec<String> {
    let mut runs = vec![String::new()];
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                runs.last_mut().unwrap().push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                runs.last_mut().unwrap().push('}');
            }
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                runs.push(String::new());
            }
            c => runs.last_mut().unwrap().push(c),
        }
    }
    runs
}

/// The text the doc must contain for this message, if it has any.
fn needle(fmt: &str) -> Option<String> {
    let runs = fixed_runs(fmt);
    let lead = squash(&runs[0]);
    if words(&lead) >= 3 {
        return Some(lead);
    }
    let best = runs
        .iter()
        .map(|r| squash(r))
        .max_by_key(|r| (words(r), r.len()))?;
    (words(&best) >= 2).then_some(best)
}

/// Every message of every source file under `src` that is not test code.
fn scan_tree(src: &Path) -> Vec<Message> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut test_files = BTreeSet::new();
    let mut scanned = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        let scan = scan_source(&text);
        for m in &scan.test_modules {
            test_files.extend(module_files(f, m));
        }
        scanned.push((f, scan.messages));
    }
    let mut out = Vec::new();
    for (f, messages) in scanned {
        let name = f.file_name().unwrap().to_string_lossy();
        if test_files.contains(f) || name.ends_with("_tests.rs") {
            continue;
        }
        let rel = f.strip_prefix(src).unwrap().to_string_lossy().into_owned();
        out.extend(messages.into_iter().map(|(line, text)| Message {
            file: rel.clone(),
            line,
            text,
        }));
    }
    out
}

/// A `#[cfg(test)] mod NAME;` declaration, with its `#[path]` if any.
#[derive(Debug, Clone, PartialEq)]
struct TestModule {
    name: String,
    path: Option<String>,
}

/// Where the file of module `m`, declared in `file`, can be.
fn module_files(file: &Path, m: &TestModule) -> Vec<PathBuf> {
    let dir = file.parent().unwrap();
    if let Some(p) = &m.path {
        return vec![dir.join(p)];
    }
    let stem = file.file_stem().unwrap().to_string_lossy();
    let base = if matches!(stem.as_ref(), "mod" | "lib" | "main") {
        dir.to_path_buf()
    } else {
        dir.join(stem.as_ref())
    };
    vec![
        base.join(format!("{}.rs", m.name)),
        base.join(&m.name).join("mod.rs"),
    ]
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A string literal's value.
    Str(String),
    Punct(char),
}

/// A token and its 1-based line.
type Token = (Tok, usize);

/// Rust source to tokens: comments dropped, string literals decoded
/// (escapes, `\` line continuations, raw strings), char literals and
/// lifetimes told apart. Numbers become identifiers; nothing here needs
/// them.
fn lex(src: &str) -> Vec<Token> {
    let s: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0usize, 1usize);
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    while i < s.len() {
        let c = s[i];
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if s[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some((value, next)) = string_at(&s, i) {
            line += s[i..next].iter().filter(|&&c| c == '\n').count();
            out.push((Tok::Str(value), start_line));
            i = next;
        } else if c == '\'' {
            // 'x', '\n', '\u{..}' are chars; 'a (no closing quote right
            // after one char) is a lifetime or label.
            if at(i + 1) == '\\' {
                // The quote, the backslash and the escaped character.
                i += 3;
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            let b = i;
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(s[b..i].iter().collect()), start_line));
        } else {
            out.push((Tok::Punct(c), start_line));
            i += 1;
        }
    }
    out
}

/// A string literal starting at `i` (`"..."`, `r"..."`, `r#"..."#`, with
/// a `b` or `c` prefix): its value and the index after it.
fn string_at(s: &[char], i: usize) -> Option<(String, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    // A prefix only counts at the start of a token.
    if i > 0 && (s[i - 1].is_alphanumeric() || s[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if matches!(at(j), 'b' | 'c') {
        j += 1;
    }
    if at(j) == 'r' && matches!(at(j + 1), '"' | '#') {
        j += 1;
        let hashes = s[j..].iter().take_while(|&&c| c == '#').count();
        j += hashes;
        if at(j) != '"' {
            return None;
        }
        j += 1;
        let start = j;
        loop {
            if j >= s.len() {
                return None;
            }
            if s[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                return Some((s[start..j].iter().collect(), j + 1 + hashes));
            }
            j += 1;
        }
    }
    if at(j) != '"' {
        return None;
    }
    j += 1;
    let mut v = String::new();
    while j < s.len() {
        match s[j] {
            '"' => return Some((v, j + 1)),
            '\\' => {
                let e = at(j + 1);
                j += 2;
                match e {
                    'n' => v.push('\n'),
                    'r' => v.push('\r'),
                    't' => v.push('\t'),
                    '0' => v.push('\0'),
                    'x' => {
                        let hex: String = s[j..(j + 2).min(s.len())].iter().collect();
                        v.push(u8::from_str_radix(&hex, 16).map_or('?', char::from));
                        j += 2;
                    }
                    'u' => {
                        let end = j + s[j..].iter().position(|&c| c == '}').unwrap_or(0);
                        let hex: String =
                            s[j..end].iter().filter(|c| c.is_ascii_hexdigit()).collect();
                        v.push(
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .unwrap_or('?'),
                        );
                        j = end + 1;
                    }
                    // A line continuation: the newline and the next line's
                    // leading whitespace are not part of the string.
                    '\n' | '\r' => {
                        while j < s.len() && s[j].is_whitespace() {
                            j += 1;
                        }
                    }
                    other => v.push(other),
                }
            }
            c => {
                v.push(c);
                j += 1;
            }
        }
    }
    None
}

/// What one file holds.
#[derive(Debug, Default)]
struct Scan {
    /// (line, literal) of every message outside test code.
    messages: Vec<(usize, String)>,
    /// `#[cfg(test)] mod NAME;` declarations: files that are test code.
    test_modules: Vec<TestModule>,
}

const MESSAGE_MACROS: &[&str] = &["warn", "error", "eprintln", "anyhow", "bail"];

fn scan_source(src: &str) -> Scan {
    let toks = lex(src);
    let t = |i: usize| toks.get(i).map(|(t, _)| t);
    let ident = |i: usize, name: &str| matches!(t(i), Some(Tok::Ident(n)) if n == name);
    let punct = |i: usize, c: char| t(i) == Some(&Tok::Punct(c));
    let str_at = |i: usize| match t(i) {
        Some(Tok::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let mut scan = Scan::default();
    let mut i = 0;
    while i < toks.len() {
        // #[cfg(test)]: skip the item (a module, function or impl).
        if punct(i, '#')
            && punct(i + 1, '[')
            && ident(i + 2, "cfg")
            && punct(i + 3, '(')
            && ident(i + 4, "test")
            && punct(i + 5, ')')
            && punct(i + 6, ']')
        {
            i = skip_test_item(&toks, i + 7, &mut scan.test_modules);
            continue;
        }
        let line = toks[i].1;
        let mut found = None;
        // #[error("...")]
        if punct(i, '#') && punct(i + 1, '[') && ident(i + 2, "error") && punct(i + 3, '(') {
            found = str_at(i + 4);
        }
        // warn!("..."), log::error!("..."), eprintln!("..."), bail!("...")
        if let Some(Tok::Ident(name)) = t(i)
            && MESSAGE_MACROS.contains(&name.as_str())
            && punct(i + 1, '!')
            && matches!(t(i + 2), Some(Tok::Punct('(' | '[' | '{')))
        {
            found = first_str_in_group(&toks, i + 2, false);
        }
        // .context("...")
        if punct(i, '.') && ident(i + 1, "context") && punct(i + 2, '(') {
            found = str_at(i + 3);
        }
        // c.add(KEY, "..." / format!("...")) and Problem::at(KEY, ...)
        let problem = (ident(i, "c") && punct(i + 1, '.') && ident(i + 2, "add"))
            .then_some(i + 3)
            .or_else(|| {
                (ident(i, "Problem")
                    && punct(i + 1, ':')
                    && punct(i + 2, ':')
                    && ident(i + 3, "at"))
                .then_some(i + 4)
            });
        if let Some(open) = problem
            && punct(open, '(')
        {
            found = first_str_in_group(&toks, open, true);
        }
        // problems.push((KEY, "..." / format!("...")))
        if ident(i, "problems")
            && punct(i + 1, '.')
            && ident(i + 2, "push")
            && punct(i + 3, '(')
            && punct(i + 4, '(')
        {
            found = first_str_in_group(&toks, i + 4, true);
        }
        // `swit-agent check`'s FAIL lines: line(FEATURE, Status::Missing, "seen", ...)
        if ident(i, "line")
            && punct(i + 1, '(')
            && str_at(i + 2).is_some()
            && punct(i + 3, ',')
            && ident(i + 4, "Status")
            && punct(i + 5, ':')
            && punct(i + 6, ':')
            && ident(i + 7, "Missing")
            && punct(i + 8, ',')
        {
            found = str_at(i + 9);
        }
        if let Some(text) = found {
            scan.messages.push((line, text));
        }
        i += 1;
    }
    scan
}

/// The first string literal inside the group opening at `open`; with
/// `second_arg`, only after its first top-level comma.
fn first_str_in_group(toks: &[Token], open: usize, second_arg: bool) -> Option<String> {
    let mut depth = 0i32;
    let mut args_seen = 0;
    for (tok, _) in &toks[open..] {
        match tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return None;
                }
            }
            Tok::Punct(',') if depth == 1 => args_seen += 1,
            Tok::Str(s) if !second_arg || args_seen >= 1 => return Some(s.clone()),
            _ => {}
        }
    }
    None
}

/// Skips the item after `#[cfg(test)]` starting at `i`; a `mod NAME;` is
/// recorded. Returns the index after the item (or `i` for items it does
/// not know, which are then read as usual).
fn skip_test_item(toks: &[Token], mut i: usize, modules: &mut Vec<TestModule>) -> usize {
    let t = |i: usize| toks.get(i).map(|(t, _)| t);
    let mut path = None;
    // Further attributes: #[path = "x.rs"], #[allow(...)], ...
    while t(i) == Some(&Tok::Punct('#')) && t(i + 1) == Some(&Tok::Punct('[')) {
        if t(i + 2) == Some(&Tok::Ident("path".into()))
            && t(i + 3) == Some(&Tok::Punct('='))
            && let Some(Tok::Str(p)) = t(i + 4)
        {
            path = Some(p.clone());
        }
        i = group_end(toks, i + 1);
    }
    if t(i) == Some(&Tok::Ident("pub".into())) {
        i += 1;
        if t(i) == Some(&Tok::Punct('(')) {
            i = group_end(toks, i);
        }
    }
    let start = i;
    match t(i) {
        Some(Tok::Ident(kw)) if kw == "mod" => {
            if let (Some(Tok::Ident(name)), Some(Tok::Punct(';'))) = (t(i + 1), t(i + 2)) {
                modules.push(TestModule {
                    name: name.clone(),
                    path,
                });
                return i + 3;
            }
        }
        Some(Tok::Ident(kw)) if matches!(kw.as_str(), "fn" | "impl" | "use" | "const") => {}
        _ => return start,
    }
    // To the end of the item: a `;` before any body, or the body's `}`.
    while i < toks.len() {
        match t(i) {
            Some(Tok::Punct(';')) => return i + 1,
            Some(Tok::Punct('{')) => return group_end(toks, i),
            Some(Tok::Punct('(' | '[')) => i = group_end(toks, i),
            _ => i += 1,
        }
    }
    i
}

/// The index after the group (`(..)`, `[..]` or `{..}`) opening at `open`.
fn group_end(toks: &[Token], open: usize) -> usize {
    let mut depth = 0i32;
    for (k, (tok, _)) in toks.iter().enumerate().skip(open) {
        match tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

#[test]
fn the_lexer_reads_escapes_continuations_and_raw_strings() {
    let src = r###"
        // log::warn!("in a comment");
        /* log::warn!("in /* a nested */ block comment"); */
        fn f<'a>(x: &'a str) {
            let q = '"';
            let e = '\'';
            let u = '\u{e9}';
            log::warn!("say \"hi\" to {x}: \
                        it is {} o'clock", 3);
            eprintln!(r#"raw "quoted" {x}"#);
            log::error!("tab\there \u{e9}");
        }
    "###;
    let found: Vec<String> = scan_source(src).messages.into_iter().map(|m| m.1).collect();
    assert_eq!(
        found,
        [
            "say \"hi\" to {x}: it is {} o'clock",
            "raw \"quoted\" {x}",
            "tab\there \u{e9}",
        ]
    );
}

#[test]
fn test_code_is_left_out_and_test_files_are_named() {
    let src = r#"
        #[derive(Debug, thiserror::Error)]
        enum E {
            #[error("a real one: {0}")]
            A(String),
            #[error(transparent)]
            B(Other),
            #[error(
                "long enough to wrap: \
                 {x} and more"
            )]
            C { x: u32 },
        }
        fn g() { log::info!("info lines are not required"); }
        #[cfg(test)]
        mod tests { fn t() { log::warn!("test only"); } }
        #[cfg(test)]
        #[path = "x_tests.rs"]
        mod xt;
        #[cfg(test)]
        mod more;
        #[cfg(test)]
        fn helper() { eprintln!("test helper"); }
        fn h(c: &mut Check) {
            c.add("agent.x", format!("{v} is not a thing"));
            c.add(&format!("a[{i}]"), "must not be empty".into());
            let _ = Problem::at(var, format!("{item:?} is not key=value"));
            let _ = foo.context("flushing span sink");
            problems.push((format!("{key}[{i}]"), format!("{n:?} is not a header name")));
            anyhow::bail!("gone: {e}");
            line("BTF", Status::Missing, "no /sys/kernel/btf/vmlinux", "needs BTF");
            line("uprobes", Status::No, "not needed here", "fine");
        }
    "#;
    let scan = scan_source(src);
    let found: Vec<&str> = scan.messages.iter().map(|m| m.1.as_str()).collect();
    assert_eq!(
        found,
        [
            "a real one: {0}",
            "long enough to wrap: {x} and more",
            "{v} is not a thing",
            "must not be empty",
            "{item:?} is not key=value",
            "flushing span sink",
            "{n:?} is not a header name",
            "gone: {e}",
            "no /sys/kernel/btf/vmlinux",
        ]
    );
    assert_eq!(
        scan.test_modules,
        [
            TestModule {
                name: "xt".into(),
                path: Some("x_tests.rs".into())
            },
            TestModule {
                name: "more".into(),
                path: None
            },
        ]
    );
    let f = Path::new("/s/config/mod.rs");
    assert_eq!(
        module_files(f, &scan.test_modules[1]),
        [
            PathBuf::from("/s/config/more.rs"),
            PathBuf::from("/s/config/more/mod.rs")
        ]
    );
    assert_eq!(
        module_files(Path::new("/s/a/b.rs"), &scan.test_modules[0]),
        [PathBuf::from("/s/a/x_tests.rs")]
    );
}

#[test]
fn needles_are_the_fixed_text_that_names_a_message() {
    assert_eq!(
        needle("no process with PID {0}: check the PID (`ps -p {0}`)").as_deref(),
        Some("no process with PID")
    );
    assert_eq!(
        needle("{rate} is not between 0 and 1").as_deref(),
        Some("is not between 0 and 1")
    );
    assert_eq!(
        needle("OTLP collector {} rejected {} of {n} spans: {} (counted in rejected spans; warning once)")
            .as_deref(),
        Some("(counted in rejected spans; warning once)")
    );
    assert_eq!(
        needle("{{literal}} braces {x}").as_deref(),
        Some("{literal} braces")
    );
    assert_eq!(needle("{w}"), None);
    assert_eq!(needle("{err:#}"), None);
    assert_eq!(needle("map {name}: {source}"), None);
    assert_eq!(
        needle("a\n   wrapped   message {x}").as_deref(),
        Some("a wrapped message")
    );
}
