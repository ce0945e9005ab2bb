//! SQL text for spans: literals replaced by `?`, and the operation and
//! table named by a statement (`SELECT users`).
//!
//! A small lexer, no parser: it knows enough of PostgreSQL and MySQL/MariaDB
//! lexical rules to find every literal, and reads the operation and the
//! table from the first statement's tokens. It never panics and looks at no
//! more than [`MAX_QUERY_BYTES`] of a statement.
//!
//! Sanitising, per the OpenTelemetry guidance for `db.query.text` (every
//! literal replaced by `?`):
//! - replaced: single-quoted strings (`''` and backslash escapes, with the
//!   `E`, `N`, `X`, `B` and `U&` prefixes), dollar-quoted strings (`$$..$$`,
//!   `$tag$..$tag$`), numbers (integer, decimal, exponent, `0x..` hex), a
//!   sign glued to a number where it cannot be a binary operator
//!   (`= -1` → `= ?`), and `TRUE`/`FALSE`;
//! - kept: keywords and identifiers as written, double-quoted and
//!   backquoted identifiers, placeholders (`$1`, `?`, `:name`, `%s`,
//!   `%(name)s`), operators and `NULL` (not user data, and `IS NULL` is
//!   syntax);
//! - dropped: comments (`-- ..`, `/* .. */` nested, MySQL `# ..`), which may
//!   hold literals;
//! - whitespace runs (and dropped comments) become one space; the text is
//!   trimmed; `IN (?, ?, ?)` collapses to `IN (?)` so that statements that
//!   differ only in list length read the same.
//!
//! Dialect ambiguities are resolved toward hiding more: a backslash escapes
//! the next character in every single-quoted string (MySQL's default, and
//! what pymysql sends for `'`; PostgreSQL only does so in `E'..'`), and `#`
//! starts a comment unless `>` or `-` follows (PostgreSQL's JSON operators).
//! MySQL without `ANSI_QUOTES` (its default) reads `"..."` as a string, so
//! [`summarize_mysql`] replaces it too (`IDENTIFIED BY "secret"`); an
//! identifier quoted that way under `ANSI_QUOTES` becomes `?`, which hides
//! more rather than less. PostgreSQL's `"..."` is always an identifier.
//! A statement cut short (by [`MAX_QUERY_BYTES`] or by the capture) ends in
//! an unterminated literal at worst, which becomes `?` to the end.

/// Longest statement prefix sanitised; the rest is replaced by
/// [`TRUNCATED`].
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Appended (after a space) to a sanitised statement that was cut.
pub const TRUNCATED: &str = "...";

/// What a statement says about itself, safe to export.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SqlSummary {
    /// The statement with every literal (strings, numbers, hex, booleans in
    /// value position) replaced by `?`.
    pub sanitized: String,
    /// The leading keyword, upper-cased: `SELECT`, `INSERT`, `BEGIN`, ...
    pub operation: Option<String>,
    /// The single table the statement reads or writes, when it names one
    /// simply (`FROM t`, `INTO t`, `UPDATE t`); `None` when unsure.
    pub collection: Option<String>,
}

/// Summarises one SQL statement (or the first of several), PostgreSQL's
/// lexical rules: `"..."` is an identifier.
pub fn summarize(query: &str) -> SqlSummary {
    summarize_as(query, false)
}

/// [`summarize`] for MySQL and MariaDB: `"..."` is a string.
pub fn summarize_mysql(query: &str) -> SqlSummary {
    summarize_as(query, true)
}

fn summarize_as(query: &str, double_quoted_strings: bool) -> SqlSummary {
    let mut end = query.len().min(MAX_QUERY_BYTES);
    while !query.is_char_boundary(end) {
        end -= 1;
    }
    let toks = lex(&query[..end], double_quoted_strings);
    let mut sanitized = render(&toks);
    if end < query.len() {
        if !sanitized.is_empty() {
            sanitized.push(' ');
        }
        sanitized.push_str(TRUNCATED);
    }
    let stmt = first_statement(&toks);
    let (operation, collection) = describe(stmt);
    SqlSummary {
        sanitized,
        operation,
        collection,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Keyword or bare identifier.
    Word,
    /// `"..."` or `` `...` `` identifier, text with its quotes.
    Quoted,
    /// Replaced by `?`.
    Literal,
    /// Bind parameter, kept as written.
    Placeholder,
    /// One punctuation or operator character.
    Punct,
}

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    kind: Kind,
    text: &'a str,
    /// Whitespace or a comment separated it from the previous token.
    space: bool,
}

impl Tok<'_> {
    fn is_word(&self, w: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(w)
    }

    fn is_punct(&self, c: u8) -> bool {
        self.kind == Kind::Punct && self.text.as_bytes() == [c]
    }

    /// Can end an operand, so a following `-` or `+` is binary.
    fn ends_value(&self) -> bool {
        match self.kind {
            Kind::Word | Kind::Quoted | Kind::Literal | Kind::Placeholder => true,
            Kind::Punct => self.text == ")" || self.text == "]",
        }
    }
}

/// Non-ASCII bytes count as identifier bytes, so every token boundary falls
/// on an ASCII byte (a `char` boundary) and slicing never panics.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn lex(q: &str, double_quoted_strings: bool) -> Vec<Tok<'_>> {
    let b = q.as_bytes();
    // Sized once: growing token by token was a fifth of a summary's cost.
    let mut toks: Vec<Tok<'_>> = Vec::with_capacity(b.len() / 2 + 1);
    let mut i = 0;
    let mut space = false;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let start = i;
        let kind = match c {
            _ if c.is_ascii_whitespace() => {
                space = true;
                i += 1;
                continue;
            }
            b'-' if next == Some(b'-') => {
                i = skip_line(b, i);
                space = true;
                continue;
            }
            b'#' if !matches!(next, Some(b'>' | b'-')) => {
                i = skip_line(b, i);
                space = true;
                continue;
            }
            b'/' if next == Some(b'*') => {
                i = skip_block_comment(b, i);
                space = true;
                continue;
            }
            b'\'' => {
                i = skip_string(b, i + 1, b'\'');
                Kind::Literal
            }
            b'"' if double_quoted_strings => {
                i = skip_string(b, i + 1, b'"');
                Kind::Literal
            }
            b'"' | b'`' => {
                i = skip_quoted_ident(b, i + 1, c);
                Kind::Quoted
            }
            b'$' => match dollar(b, i) {
                Dollar::Placeholder(end) => {
                    i = end;
                    Kind::Placeholder
                }
                Dollar::String(end) => {
                    i = end;
                    Kind::Literal
                }
                Dollar::Punct => {
                    i += 1;
                    Kind::Punct
                }
            },
            b'0'..=b'9' => {
                i = skip_number(b, i);
                Kind::Literal
            }
            b'.' if next.is_some_and(|n| n.is_ascii_digit()) => {
                i = skip_number(b, i);
                Kind::Literal
            }
            b'-' | b'+'
                if next.is_some_and(|n| n.is_ascii_digit() || n == b'.')
                    && !toks.last().is_some_and(|t| t.ends_value())
                    && (next != Some(b'.') || b.get(i + 2).is_some_and(u8::is_ascii_digit)) =>
            {
                i = skip_number(b, i + 1);
                Kind::Literal
            }
            b':' if next.is_some_and(is_word_start) && (i == 0 || b[i - 1] != b':') => {
                i = skip_word(b, i + 1);
                Kind::Placeholder
            }
            b'%' if next == Some(b'(') => match b[i..].iter().position(|&x| x == b')') {
                Some(p) if b.get(i + p + 1).is_some_and(|x| x.is_ascii_alphabetic()) => {
                    i += p + 2;
                    Kind::Placeholder
                }
                _ => {
                    i += 1;
                    Kind::Punct
                }
            },
            b'%' if matches!(next, Some(b's' | b'd' | b'b' | b'f'))
                && !b.get(i + 2).is_some_and(|&x| is_word_byte(x)) =>
            {
                i += 2;
                Kind::Placeholder
            }
            _ if is_word_start(c) => {
                let end = skip_word(b, i);
                let word = &b[i..end];
                match b.get(end) {
                    // Prefixed strings: E'..', N'..', X'..', B'..'.
                    Some(b'\'') if word.len() == 1 && b"eEnNxXbB".contains(&word[0]) => {
                        i = skip_string(b, end + 1, b'\'');
                        Kind::Literal
                    }
                    // Unicode escapes: U&'..'.
                    Some(b'&')
                        if word.eq_ignore_ascii_case(b"u") && b.get(end + 1) == Some(&b'\'') =>
                    {
                        i = skip_string(b, end + 2, b'\'');
                        Kind::Literal
                    }
                    _ => {
                        i = end;
                        if word.eq_ignore_ascii_case(b"true") || word.eq_ignore_ascii_case(b"false")
                        {
                            Kind::Literal
                        } else {
                            Kind::Word
                        }
                    }
                }
            }
            _ => {
                i += 1;
                Kind::Punct
            }
        };
        let text = if kind == Kind::Literal {
            "?"
        } else {
            &q[start..i]
        };
        toks.push(Tok { kind, text, space });
        space = false;
    }
    collapse_in_lists(toks)
}

fn skip_line(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&x| x == b'\n')
        .map_or(b.len(), |p| i + p + 1)
}

/// `/* .. */`, nested as PostgreSQL allows; unterminated runs to the end.
fn skip_block_comment(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0u32;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if b[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// From just after an opening quote `q`: a doubled quote and `\x` escape;
/// returns the index after the closing quote, or the end.
fn skip_string(b: &[u8], mut i: usize, q: u8) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == q && b.get(i + 1) == Some(&q) => i += 2,
            c if c == q => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// From just after an opening `"` or `` ` ``; a doubled quote escapes.
fn skip_quoted_ident(b: &[u8], mut i: usize, q: u8) -> usize {
    while i < b.len() {
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

fn skip_word(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_word_byte(b[i]) {
        i += 1;
    }
    i
}

/// A number from `i` (a digit or `.`): hex, or digits, fraction, exponent.
/// Trailing identifier bytes (`123abc`) are swallowed: better a `?` too
/// many than a digit left behind.
fn skip_number(b: &[u8], mut i: usize) -> usize {
    if b[i..].len() > 2 && b[i] == b'0' && matches!(b[i + 1], b'x' | b'X') {
        return skip_word(b, i + 2);
    }
    let digits = |b: &[u8], mut i: usize| {
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
        i
    };
    i = digits(b, i);
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            i = digits(b, j);
        }
    }
    skip_word(b, i)
}

enum Dollar {
    /// `$1`: up to this index.
    Placeholder(usize),
    /// `$tag$ .. $tag$` (or unterminated): up to this index.
    String(usize),
    Punct,
}

fn dollar(b: &[u8], i: usize) -> Dollar {
    let after = &b[i + 1..];
    let digits = after.iter().take_while(|x| x.is_ascii_digit()).count();
    if digits > 0 {
        return Dollar::Placeholder(i + 1 + digits);
    }
    let tag_len = if after.first().is_some_and(|&x| is_word_start(x)) {
        after
            .iter()
            .take_while(|&&x| is_word_byte(x) && x != b'$')
            .count()
    } else {
        0
    };
    if after.get(tag_len) != Some(&b'$') {
        return Dollar::Punct;
    }
    let delim = &b[i..i + tag_len + 2];
    let body = i + delim.len();
    let end = b[body..]
        .windows(delim.len())
        .position(|w| w == delim)
        .map_or(b.len(), |p| body + p + delim.len());
    Dollar::String(end)
}

/// `IN ( ? , ? , ? )` → `IN ( ? )`.
fn collapse_in_lists(toks: Vec<Tok<'_>>) -> Vec<Tok<'_>> {
    // Most statements have no list to collapse: no copy for them.
    let has_list = toks
        .windows(2)
        .any(|w| w[0].is_word("in") && w[1].is_punct(b'('));
    if !has_list {
        return toks;
    }
    let mut out: Vec<Tok<'_>> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        out.push(toks[i]);
        if toks[i].is_word("in") && toks.get(i + 1).is_some_and(|t| t.is_punct(b'(')) {
            let mut j = i + 2;
            let mut n = 0;
            while toks.get(j).is_some_and(|t| t.kind == Kind::Literal)
                && toks.get(j + 1).is_some_and(|t| t.is_punct(b','))
            {
                j += 2;
                n += 1;
            }
            if n > 0
                && toks.get(j).is_some_and(|t| t.kind == Kind::Literal)
                && toks.get(j + 1).is_some_and(|t| t.is_punct(b')'))
            {
                out.push(toks[i + 1]);
                out.push(toks[i + 2]);
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn render(toks: &[Tok<'_>]) -> String {
    let mut s = String::with_capacity(toks.iter().map(|t| t.text.len() + 1).sum());
    for t in toks {
        if t.space && !s.is_empty() {
            s.push(' ');
        }
        s.push_str(t.text);
    }
    s
}

fn first_statement<'a, 'b>(toks: &'b [Tok<'a>]) -> &'b [Tok<'a>] {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        if t.is_punct(b'(') {
            depth += 1;
        } else if t.is_punct(b')') {
            depth -= 1;
        } else if t.is_punct(b';') && depth <= 0 {
            return &toks[..i];
        }
    }
    toks
}

/// Verbs whose statement names a table right after them (or after `FROM`).
const MAIN_VERBS: [&str; 5] = ["SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"];

fn describe(stmt: &[Tok<'_>]) -> (Option<String>, Option<String>) {
    // `(SELECT ..)` reads as SELECT.
    let lead = stmt.iter().take_while(|t| t.is_punct(b'(')).count();
    let stmt = &stmt[lead..];
    let Some(first) = stmt.first().filter(|t| t.kind == Kind::Word) else {
        return (None, None);
    };
    let op = first.text.to_ascii_uppercase();
    if op == "WITH" {
        // The main statement's verb is the first one outside parentheses.
        let mut depth = 0i32;
        for t in &stmt[1..] {
            if t.is_punct(b'(') {
                depth += 1;
            } else if t.is_punct(b')') {
                depth -= 1;
            } else if depth == 0 && MAIN_VERBS.iter().any(|v| t.is_word(v)) {
                return (Some(t.text.to_ascii_uppercase()), None);
            }
        }
        return (Some(op), None);
    }
    let rest = &stmt[1..];
    let table = match op.as_str() {
        "SELECT" => select_table(rest),
        "INSERT" | "REPLACE" => {
            let r = skip_words(
                rest,
                &["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE"],
            );
            let r = skip_words(r, &["INTO"]);
            name(r).map(|(n, _)| n)
        }
        "UPDATE" => {
            let r = skip_words(rest, &["LOW_PRIORITY", "IGNORE", "ONLY"]);
            single_table(r, &["SET"])
        }
        "DELETE" => {
            let r = skip_words(rest, &["LOW_PRIORITY", "QUICK", "IGNORE"]);
            match r.first() {
                Some(t) if t.is_word("FROM") => single_table(
                    skip_words(&r[1..], &["ONLY"]),
                    &["WHERE", "USING", "RETURNING"],
                ),
                _ => None,
            }
        }
        "COPY" => name(rest).map(|(n, _)| n),
        "TRUNCATE" => single_table(
            skip_words(rest, &["TABLE", "ONLY"]),
            &["RESTART", "CONTINUE", "CASCADE", "RESTRICT"],
        ),
        "CREATE" | "DROP" | "ALTER" => ddl_table(rest),
        _ => None,
    };
    (Some(op), table)
}

fn skip_words<'a, 'b>(mut toks: &'b [Tok<'a>], words: &[&str]) -> &'b [Tok<'a>] {
    while let Some(t) = toks.first() {
        if !words.iter().any(|w| t.is_word(w)) {
            break;
        }
        toks = &toks[1..];
    }
    toks
}

/// Words that cannot be a table name (or an alias) where one is expected.
const NOT_NAMES: [&str; 14] = [
    "SELECT", "LATERAL", "ONLY", "WHERE", "SET", "VALUES", "JOIN", "ON", "USING", "AS", "GROUP",
    "ORDER", "LIMIT", "UNION",
];

/// A possibly qualified name (`t`, `s.t`, `"S"."t"`) at the start; returns
/// it unquoted and the tokens after it.
fn name<'a, 'b>(toks: &'b [Tok<'a>]) -> Option<(String, &'b [Tok<'a>])> {
    let mut out = String::new();
    let mut i = 0;
    loop {
        let t = toks.get(i)?;
        match t.kind {
            Kind::Word if !NOT_NAMES.iter().any(|w| t.is_word(w)) => out.push_str(t.text),
            Kind::Quoted => {
                let q = &t.text[..1];
                let inner = t.text[1..].strip_suffix(q).unwrap_or(&t.text[1..]);
                out.push_str(&inner.replace(&format!("{q}{q}"), q));
            }
            _ => return None,
        }
        i += 1;
        match toks.get(i) {
            Some(t) if t.is_punct(b'.') && !t.space => {
                out.push('.');
                i += 1;
            }
            _ => return Some((out, &toks[i..])),
        }
    }
}

/// A name followed by nothing, an optional alias, or one of `then`.
fn single_table(toks: &[Tok<'_>], then: &[&str]) -> Option<String> {
    let (n, mut rest) = name(toks)?;
    if rest.first().is_some_and(|t| t.is_word("AS")) {
        rest = &rest[1..];
    }
    match rest.first() {
        None => return Some(n),
        Some(t) if then.iter().any(|w| t.is_word(w)) => return Some(n),
        _ => {}
    }
    // An alias, then nothing or `then`.
    let (_, rest) = name(rest)?;
    match rest.first() {
        None => Some(n),
        Some(t) if then.iter().any(|w| t.is_word(w)) => Some(n),
        _ => None,
    }
}

/// Keywords that may follow the single table of a `SELECT .. FROM t`.
const AFTER_FROM: [&str; 11] = [
    "WHERE",
    "GROUP",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "FETCH",
    "FOR",
    "HAVING",
    "WINDOW",
    "RETURNING",
    "LOCK",
];

fn select_table(toks: &[Tok<'_>]) -> Option<String> {
    // One table only: a second SELECT (subquery, UNION) or any JOIN means
    // several.
    if toks
        .iter()
        .any(|t| t.is_word("SELECT") || t.is_word("JOIN"))
    {
        return None;
    }
    let mut depth = 0i32;
    let from = toks.iter().position(|t| {
        if t.is_punct(b'(') {
            depth += 1;
        } else if t.is_punct(b')') {
            depth -= 1;
        }
        depth == 0 && t.is_word("FROM")
    })?;
    let rest = &toks[from + 1..];
    let (n, rest) = name(rest)?;
    let mut rest = rest;
    if rest.first().is_some_and(|t| t.is_word("AS")) {
        rest = &rest[1..];
    }
    if let Some(t) = rest.first()
        && t.kind != Kind::Punct
        && !AFTER_FROM.iter().any(|w| t.is_word(w))
    {
        rest = name(rest)?.1;
    }
    match rest.first() {
        None => Some(n),
        Some(t) if AFTER_FROM.iter().any(|w| t.is_word(w)) => Some(n),
        _ => None,
    }
}

/// `CREATE [..] TABLE [IF [NOT] EXISTS] t`, `DROP TABLE ..`, `ALTER TABLE ..`.
fn ddl_table(toks: &[Tok<'_>]) -> Option<String> {
    let r = skip_words(
        toks,
        &[
            "OR",
            "REPLACE",
            "GLOBAL",
            "LOCAL",
            "TEMP",
            "TEMPORARY",
            "UNLOGGED",
        ],
    );
    let r = match r.first() {
        Some(t) if t.is_word("TABLE") => &r[1..],
        _ => return None,
    };
    let r = skip_words(r, &["IF", "NOT", "EXISTS", "ONLY"]);
    let (n, rest) = name(r)?;
    match rest.first() {
        Some(t) if t.is_punct(b',') => None,
        _ => Some(n),
    }
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;
