//! Tests of sql.rs: sanitizing and describing statements, truncation, and no
//! literal or password ever leaking.
use super::*;

/// (input, sanitized)
const SANITIZE: &[(&str, &str)] = &[
    ("SELECT 1", "SELECT ?"),
    ("select  a,\n\tb  from t ", "select a, b from t"),
    (
        "SELECT * FROM t WHERE name = 'bob'",
        "SELECT * FROM t WHERE name = ?",
    ),
    ("SELECT 'it''s'", "SELECT ?"),
    ("SELECT 'a\\'b' , 2", "SELECT ? , ?"),
    ("SELECT E'x\\'y\\\\', 1", "SELECT ?, ?"),
    ("SELECT e'\\n'", "SELECT ?"),
    (
        "SELECT N'abc', X'0F', b'101', U&'d\\0061t'",
        "SELECT ?, ?, ?, ?",
    ),
    ("SELECT $$a 'b' 1$$", "SELECT ?"),
    ("SELECT $fn$ body $$ 'x' $fn$ FROM t", "SELECT ? FROM t"),
    ("SELECT $1, $2::int", "SELECT $1, $2::int"),
    (
        "SELECT * FROM t WHERE a = ? AND b = :name",
        "SELECT * FROM t WHERE a = ? AND b = :name",
    ),
    ("SELECT %s, %(user_id)s", "SELECT %s, %(user_id)s"),
    ("SELECT a % 3", "SELECT a % ?"),
    (
        "SELECT 3.14, .5, 1e10, 2.5E-3, 0x1F, 1_000",
        "SELECT ?, ?, ?, ?, ?, ?",
    ),
    ("SELECT a-1, a - 1, -1, (-2)", "SELECT a-?, a - ?, ?, (?)"),
    (
        "SELECT \"Col 1\", `c2` FROM \"T\"",
        "SELECT \"Col 1\", `c2` FROM \"T\"",
    ),
    ("SELECT t1.c2 FROM s1.t1", "SELECT t1.c2 FROM s1.t1"),
    ("SELECT 1 -- secret 42\n, 2", "SELECT ? , ?"),
    ("SELECT /* 'x' 42 /* nested */ still */ 1", "SELECT ?"),
    ("SELECT 1 # mysql 'comment'\nFROM t", "SELECT ? FROM t"),
    ("SELECT j #> '{a}', j #- '{b}'", "SELECT j #> ?, j #- ?"),
    (
        "UPDATE t SET a = TRUE, b = false, c = NULL",
        "UPDATE t SET a = ?, b = ?, c = NULL",
    ),
    (
        "SELECT * FROM t WHERE a IS NULL",
        "SELECT * FROM t WHERE a IS NULL",
    ),
    (
        "SELECT * FROM t WHERE id IN (1, 2, 3)",
        "SELECT * FROM t WHERE id IN (?)",
    ),
    (
        "SELECT * FROM t WHERE id in ('a','b')",
        "SELECT * FROM t WHERE id in (?)",
    ),
    (
        "SELECT * FROM t WHERE id IN (1, a)",
        "SELECT * FROM t WHERE id IN (?, a)",
    ),
    ("SELECT 'unterminated 42", "SELECT ?"),
    ("SELECT \"unterminated", "SELECT \"unterminated"),
    ("SELECT $$ never closed 7", "SELECT ?"),
    ("SELECT /* never closed 7", "SELECT"),
    ("SELECT 'a' 'b'", "SELECT ? ?"),
    ("SELECT 123abc", "SELECT ?"),
    ("SELECT _utf8mb4'x'", "SELECT _utf8mb4?"),
    ("SELECT x::text, a$b FROM t", "SELECT x::text, a$b FROM t"),
    (
        "SELECT 'é' || 'ü', naïve FROM t",
        "SELECT ? || ?, naïve FROM t",
    ),
    ("  ", ""),
    ("", ""),
    (
        "UPDATE pgbench_accounts SET abalance = abalance + -1234 WHERE aid = 5678;",
        "UPDATE pgbench_accounts SET abalance = abalance + ? WHERE aid = ?;",
    ),
    (
        "SELECT abalance FROM pgbench_accounts WHERE aid = 1;",
        "SELECT abalance FROM pgbench_accounts WHERE aid = ?;",
    ),
    (
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, -4, CURRENT_TIMESTAMP);",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP);",
    ),
];

#[test]
fn sanitize_table() {
    for (input, want) in SANITIZE {
        assert_eq!(summarize(input).sanitized, *want, "input: {input:?}");
    }
}

/// (input, operation, collection)
const DESCRIBE: &[(&str, Option<&str>, Option<&str>)] = &[
    (
        "select * from users where id = 1",
        Some("SELECT"),
        Some("users"),
    ),
    (
        "SELECT a FROM public.users u WHERE u.id = $1",
        Some("SELECT"),
        Some("public.users"),
    ),
    (
        "SELECT a FROM users AS u ORDER BY a",
        Some("SELECT"),
        Some("users"),
    ),
    (
        "SELECT * FROM \"My Table\"",
        Some("SELECT"),
        Some("My Table"),
    ),
    ("SELECT * FROM `db`.`t`", Some("SELECT"), Some("db.t")),
    (
        "SELECT * FROM a JOIN b ON a.id = b.id",
        Some("SELECT"),
        None,
    ),
    ("SELECT * FROM a, b", Some("SELECT"), None),
    ("SELECT * FROM (SELECT 1) x", Some("SELECT"), None),
    (
        "SELECT * FROM t WHERE id IN (SELECT id FROM u)",
        Some("SELECT"),
        None,
    ),
    (
        "SELECT a FROM t UNION SELECT a FROM u",
        Some("SELECT"),
        None,
    ),
    ("SELECT * FROM generate_series(1, 3)", Some("SELECT"), None),
    (
        "SELECT EXTRACT(YEAR FROM ts) FROM t LIMIT 1",
        Some("SELECT"),
        Some("t"),
    ),
    ("SELECT now()", Some("SELECT"), None),
    ("(SELECT a FROM t)", Some("SELECT"), None),
    ("INSERT INTO t (a) VALUES (1)", Some("INSERT"), Some("t")),
    ("insert into s.t values (1)", Some("INSERT"), Some("s.t")),
    ("INSERT IGNORE INTO t VALUES (1)", Some("INSERT"), Some("t")),
    ("REPLACE INTO t VALUES (1)", Some("REPLACE"), Some("t")),
    ("UPDATE t SET a = 1", Some("UPDATE"), Some("t")),
    ("UPDATE t AS x SET a = 1", Some("UPDATE"), Some("t")),
    ("UPDATE a, b SET a.x = b.x", Some("UPDATE"), None),
    (
        "UPDATE a JOIN b ON a.id = b.id SET a.x = 1",
        Some("UPDATE"),
        None,
    ),
    ("DELETE FROM t WHERE id = 1", Some("DELETE"), Some("t")),
    ("DELETE FROM ONLY t", Some("DELETE"), Some("t")),
    ("DELETE t1 FROM t1 JOIN t2", Some("DELETE"), None),
    ("COPY t (a, b) FROM STDIN", Some("COPY"), Some("t")),
    ("COPY (SELECT 1) TO STDOUT", Some("COPY"), None),
    ("TRUNCATE t", Some("TRUNCATE"), Some("t")),
    (
        "TRUNCATE TABLE t RESTART IDENTITY",
        Some("TRUNCATE"),
        Some("t"),
    ),
    ("TRUNCATE a, b", Some("TRUNCATE"), None),
    (
        "CREATE TABLE IF NOT EXISTS t (id int)",
        Some("CREATE"),
        Some("t"),
    ),
    ("CREATE TEMP TABLE t (id int)", Some("CREATE"), Some("t")),
    ("CREATE INDEX i ON t (a)", Some("CREATE"), None),
    ("DROP TABLE IF EXISTS s.t", Some("DROP"), Some("s.t")),
    ("DROP TABLE a, b", Some("DROP"), None),
    (
        "ALTER TABLE ONLY t ADD COLUMN c int",
        Some("ALTER"),
        Some("t"),
    ),
    ("BEGIN", Some("BEGIN"), None),
    ("commit", Some("COMMIT"), None),
    ("ROLLBACK", Some("ROLLBACK"), None),
    ("SET search_path = public", Some("SET"), None),
    ("SHOW TABLES", Some("SHOW"), None),
    ("CALL p(1)", Some("CALL"), None),
    ("EXPLAIN SELECT * FROM t", Some("EXPLAIN"), None),
    ("GRANT ALL ON t TO u", Some("GRANT"), None),
    ("WITH x AS (SELECT 1) SELECT * FROM x", Some("SELECT"), None),
    ("WITH x AS (SELECT 1) DELETE FROM t", Some("DELETE"), None),
    ("WITH RECURSIVE", Some("WITH"), None),
    ("SELECT 1 FROM a; DELETE FROM b", Some("SELECT"), Some("a")),
    ("/* hint */ UPDATE t SET a = 1", Some("UPDATE"), Some("t")),
    ("", None, None),
    ("42", None, None),
];

#[test]
fn describe_table() {
    for (input, op, coll) in DESCRIBE {
        let s = summarize(input);
        assert_eq!(s.operation.as_deref(), *op, "operation of {input:?}");
        assert_eq!(s.collection.as_deref(), *coll, "collection of {input:?}");
    }
}

#[test]
fn long_statement_is_truncated() {
    let q = format!("SELECT a FROM t WHERE b IN ({})", "'x', ".repeat(4000));
    let s = summarize(&q);
    assert!(
        s.sanitized.ends_with(" ..."),
        "{}",
        &s.sanitized[s.sanitized.len() - 20..]
    );
    assert!(s.sanitized.len() <= MAX_QUERY_BYTES + 4);
    assert!(!s.sanitized.contains('x'));
    assert_eq!(s.collection.as_deref(), Some("t"));
    // A multi-byte character at the cut does not panic.
    let q = format!("SELECT '{}'", "é".repeat(MAX_QUERY_BYTES));
    assert_eq!(summarize(&q).sanitized, "SELECT ? ...");
}

/// Deterministic xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// Statement parts without digits or quotes of their own.
const SAFE: &[&str] = &[
    "SELECT",
    "FROM",
    "t",
    "WHERE",
    "a",
    "=",
    ",",
    "(",
    ")",
    "+",
    "-",
    ";",
    " ",
    "\n",
    "IN",
    "AND",
    "x.y",
    "\"ident\"",
    "`bq`",
    "?",
    "%s",
    ":p",
    "::",
    "NULL",
    "*",
    "||",
    "$",
    "#>",
    "é",
];
/// Literals (and comments) carrying digits and quotes that must vanish.
const SECRET: &[&str] = &[
    "'s3cr3t'",
    "'it''s 42'",
    "'back\\'slash 7'",
    "E'e\\'sc 8\\\\'",
    "$$dollar '9' $$",
    "$tag$ 'x' $$ 5 $tag$",
    "0x1F2E",
    "X'0A0B'",
    "B'0101'",
    "3.25e-7",
    "-77",
    "1234",
    "TRUE",
    "-- comment '66'\n",
    "/* block '55' /* 44 */ */",
    "# hash '33'\n",
];

#[test]
fn random_statements_never_leak_literals() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..3000 {
        let mut q = String::new();
        let parts = 1 + rng.next() % 30;
        for _ in 0..parts {
            if rng.next().is_multiple_of(3) {
                q.push_str(rng.pick(SECRET));
            } else {
                q.push_str(rng.pick(SAFE));
            }
            q.push(' ');
        }
        // Sometimes cut the statement anywhere (a capture limit).
        if rng.next().is_multiple_of(4) {
            let mut cut = (rng.next() % (q.len() as u64 + 1)) as usize;
            while !q.is_char_boundary(cut) {
                cut -= 1;
            }
            q.truncate(cut);
        }
        let s = summarize(&q);
        assert!(
            !s.sanitized
                .bytes()
                .any(|b| b.is_ascii_digit() || b == b'\''),
            "leak in {:?} from {q:?}",
            s.sanitized
        );
        assert!(!s.sanitized.contains("TRUE"), "{q:?}");
        assert!(s.sanitized.len() <= q.len());
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    let alphabet = "'\"`$-/*#\\:%()eEx0123456789 \n.;aé";
    let chars: Vec<char> = alphabet.chars().collect();
    for _ in 0..5000 {
        let len = rng.next() % 40;
        let q: String = (0..len)
            .map(|_| chars[(rng.next() % chars.len() as u64) as usize])
            .collect();
        let _ = summarize(&q);
        let _ = summarize_mysql(&q);
    }
}

#[test]
fn mysql_double_quoted_strings_are_literals() {
    let cases = [
        (
            "ALTER USER 'app'@'%' IDENTIFIED BY \"s3cr3t\"",
            "ALTER USER ?@? IDENTIFIED BY ?",
        ),
        (
            "SET PASSWORD FOR app = PASSWORD(\"pw\\\"x\")",
            "SET PASSWORD FOR app = PASSWORD(?)",
        ),
        ("SELECT \"a\"\"b\", `c` FROM t", "SELECT ?, `c` FROM t"),
        ("SELECT \"unterminated", "SELECT ?"),
    ];
    for (q, want) in cases {
        assert_eq!(summarize_mysql(q).sanitized, want, "{q:?}");
    }
    // PostgreSQL keeps its quoted identifiers.
    assert_eq!(
        summarize("SELECT \"Col\" FROM t").sanitized,
        "SELECT \"Col\" FROM t"
    );
    assert_eq!(
        summarize_mysql("ALTER USER 'u'@'%' IDENTIFIED BY 'x'")
            .operation
            .as_deref(),
        Some("ALTER")
    );
}

#[test]
fn password_statements_never_leak() {
    let cases = [
        "ALTER USER app WITH PASSWORD 'pg-s3cret'",
        "CREATE ROLE r LOGIN PASSWORD 'pg-s3cret' VALID UNTIL 'infinity'",
        "ALTER ROLE app PASSWORD E'pg-s3cret'",
        "ALTER USER app PASSWORD $$pg-s3cret$$",
        "CREATE USER 'u'@'%' IDENTIFIED BY 'pg-s3cret'",
        "ALTER USER u IDENTIFIED WITH mysql_native_password BY \"pg-s3cret\"",
        "SET PASSWORD = 'pg-s3cret'",
        "GRANT ALL ON *.* TO 'u'@'%' IDENTIFIED BY 'pg-s3cret'",
    ];
    for q in cases {
        let mut summaries = vec![summarize_mysql(q)];
        // `"..."` is an identifier to PostgreSQL.
        if !q.contains('"') {
            summaries.push(summarize(q));
        }
        for s in summaries {
            assert!(
                !s.sanitized.contains("s3cret"),
                "{q:?} -> {:?}",
                s.sanitized
            );
        }
    }
}
