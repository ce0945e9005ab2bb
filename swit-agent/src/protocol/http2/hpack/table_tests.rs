//! Tests of table.rs: the model of the peer's dynamic table.
use super::*;

/// An entry named `name` whose size (§4.1) is `size`.
fn entry(name: &str, size: usize) -> (Vec<u8>, Vec<u8>) {
    let value = vec![b'v'; size - ENTRY_OVERHEAD - name.len()];
    (name.as_bytes().to_vec(), value)
}

fn insert(t: &mut Table, name: &str, size: usize) {
    let (n, v) = entry(name, size);
    t.insert(n, v);
}

/// Names of the slots, newest first ("?" for opaque ones), and the
/// unknown-tail flag.
fn names(t: &Table) -> (Vec<String>, bool) {
    let (slots, _) = t.snapshot();
    let names = slots
        .iter()
        .map(|s| {
            s.map_or("?".to_string(), |(n, _)| {
                String::from_utf8_lossy(n).into_owned()
            })
        })
        .collect();
    (names, t.unknown_tail)
}

fn known(name: &'static [u8], value: &'static [u8]) -> Entry<'static> {
    Entry::Known { name, value }
}

#[test]
fn static_entries() {
    let t = Table::new(DEFAULT_MAX_SIZE);
    let cases: &[(u64, Entry<'_>)] = &[
        (0, Entry::Invalid),
        (1, known(b":authority", b"")),
        (2, known(b":method", b"GET")),
        (7, known(b":scheme", b"https")),
        (16, known(b"accept-encoding", b"gzip, deflate")),
        (33, known(b"date", b"")),
        (61, known(b"www-authenticate", b"")),
        (62, Entry::Invalid),
        (u64::MAX, Entry::Invalid),
    ];
    for &(index, want) in cases {
        assert_eq!(t.get(index), want, "index {index}");
    }
    assert!(t.in_sync());
}

#[test]
fn exact_eviction() {
    let mut t = Table::new(DEFAULT_MAX_SIZE);
    t.insert(b"blake".to_vec(), b"eats pizza".to_vec());
    t.insert(b"foo".to_vec(), b"bar".to_vec());
    assert_eq!(t.snapshot().1, 15 + 32 + 6 + 32);
    assert_eq!(t.get(62), known(b"foo", b"bar"));
    assert_eq!(t.get(63), known(b"blake", b"eats pizza"));
    assert_eq!(t.get(64), Entry::Invalid);
    t.set_max(15 + 32 + 1);
    assert_eq!(t.snapshot().1, 6 + 32);
    assert_eq!(t.get(62), known(b"foo", b"bar"));
    // Larger than the maximum: empties the table, is not inserted.
    insert(&mut t, "long", 500);
    assert_eq!(t.snapshot().1, 0);
    assert_eq!(t.get(62), Entry::Invalid);
    assert!(t.in_sync());
    // Exactly the maximum fits.
    insert(&mut t, "fits", 48);
    assert_eq!(names(&t), (vec!["fits".into()], false));
}

#[test]
fn unknown_tail_references() {
    let mut t = Table::unknown();
    assert_eq!(t.get(62), Entry::Unknown);
    insert(&mut t, "a", 40);
    assert!(matches!(t.get(62), Entry::Known { name: b"a", .. }));
    assert_eq!(t.get(63), Entry::Unknown);
    // Past what any table of at most 2^32-1 bytes can hold.
    let most = 1 + (LARGEST_MAX_SIZE - 40) / ENTRY_OVERHEAD;
    assert_eq!(t.get(62 + most as u64 - 1), Entry::Unknown);
    assert_eq!(t.get(62 + most as u64), Entry::Invalid);
    assert!(!t.in_sync());
    // A known maximum bounds the tail tighter.
    t.set_max(40 + 10 * ENTRY_OVERHEAD);
    assert_eq!(t.get(62 + 10), Entry::Unknown);
    assert_eq!(t.get(62 + 11), Entry::Invalid);
}

#[test]
fn eviction_proves_the_tail_gone() {
    // Table-driven: (operation, slots after, unknown tail after).
    enum Op {
        Insert(&'static str, usize),
        Opaque(usize),
        SetMax(usize),
    }
    use Op::*;
    let cases: &[(&str, &[Op], &[&str], bool)] = &[
        // An older entry (>= 32 bytes) no longer fits behind a and b.
        (
            "tail squeezed out",
            &[SetMax(100), Insert("a", 40), Insert("b", 40)],
            &["b", "a"],
            false,
        ),
        (
            "tail may remain",
            &[SetMax(200), Insert("a", 40), Insert("b", 40)],
            &["b", "a"],
            true,
        ),
        // Evicting a known entry evicts everything older.
        (
            "known evicted",
            &[
                SetMax(200),
                Insert("a", 40),
                Insert("b", 40),
                Insert("c", 130),
            ],
            &["c", "b"],
            false,
        ),
        (
            "known evicted, exact fit kept",
            &[
                SetMax(200),
                Insert("a", 40),
                Insert("b", 40),
                Insert("c", 160),
            ],
            &["c", "b"],
            false,
        ),
        (
            "all known evicted",
            &[
                SetMax(200),
                Insert("a", 40),
                Insert("b", 40),
                Insert("c", 161),
            ],
            &["c"],
            false,
        ),
        ("update to 0", &[SetMax(0)], &[], false),
        (
            "update to 0 with entries",
            &[Insert("a", 40), SetMax(0)],
            &[],
            false,
        ),
        ("update to 31", &[SetMax(31)], &[], false),
        ("update to 32", &[SetMax(32)], &[], true),
        // Entries kept while the maximum was unknown are evicted by prefix.
        (
            "update evicts prefix",
            &[Insert("a", 40), Insert("b", 40), SetMax(60)],
            &["b"],
            false,
        ),
        (
            "update keeps all",
            &[Insert("a", 40), Insert("b", 40), SetMax(4096)],
            &["b", "a"],
            true,
        ),
        // Without a known maximum no eviction is ever assumed.
        (
            "unknown max",
            &[Insert("a", 2000), Insert("b", 2000)],
            &["b", "a"],
            true,
        ),
        // ...but the budget (4096) drops old slots into the tail.
        (
            "budget",
            &[Insert("a", 2000), Insert("b", 2000), Insert("c", 100)],
            &["c", "b"],
            true,
        ),
        // Larger than the maximum: the peer's table is now empty.
        (
            "too large",
            &[SetMax(100), Insert("a", 40), Insert("b", 101)],
            &[],
            false,
        ),
        (
            "opaque too large",
            &[SetMax(100), Insert("a", 40), Opaque(101)],
            &[],
            false,
        ),
        // An opaque slot may be larger than its bound: kept until the
        // bound proves it evicted.
        (
            "opaque kept",
            &[SetMax(200), Insert("a", 40), Opaque(50), Insert("b", 60)],
            &["b", "?", "a"],
            true,
        ),
        (
            "opaque evicted",
            &[
                SetMax(200),
                Insert("a", 40),
                Opaque(50),
                Insert("b", 60),
                Insert("c", 60),
                Insert("d", 60),
            ],
            &["d", "c", "b"],
            false,
        ),
    ];
    for (label, ops, want_names, want_tail) in cases {
        let mut t = Table::unknown();
        for op in *ops {
            match *op {
                Insert(name, size) => insert(&mut t, name, size),
                Opaque(size) => t.insert_opaque(size),
                SetMax(max) => t.set_max(max),
            }
        }
        let want: Vec<String> = want_names.iter().map(|s| s.to_string()).collect();
        assert_eq!(names(&t), (want, *want_tail), "{label}");
        let opaque = want_names.contains(&"?");
        assert_eq!(t.in_sync(), !want_tail && !opaque, "{label}");
    }
}

#[test]
fn opaque_slot_shifts_known_entries() {
    let mut t = Table::new(DEFAULT_MAX_SIZE);
    insert(&mut t, "a", 40);
    t.insert_opaque(50);
    assert_eq!(t.get(62), Entry::Unknown);
    assert!(matches!(t.get(63), Entry::Known { name: b"a", .. }));
    assert_eq!(t.get(64), Entry::Invalid);
    assert!(!t.in_sync());
    assert_eq!(t.held_bytes(), 40 + ENTRY_OVERHEAD);
}

#[test]
fn memory_cap() {
    let mut t = Table::new(1 << 20);
    for i in 0..100 {
        insert(&mut t, &format!("n{i:02}"), 1000);
    }
    // 65 entries of 1000 bytes fit in 64 KiB.
    let (slots, size) = t.snapshot();
    assert_eq!(slots.len(), 65);
    assert_eq!(size, 65_000);
    assert!(t.held_bytes() <= MAX_TABLE_BYTES);
    assert!(matches!(t.get(62), Entry::Known { name: b"n99", .. }));
    assert!(matches!(t.get(62 + 64), Entry::Known { name: b"n35", .. }));
    assert_eq!(t.get(62 + 65), Entry::Unknown);
    assert!(!t.in_sync());
    // An entry larger than the cap is not held, and nothing older can be
    // told apart from it.
    insert(&mut t, "huge", MAX_TABLE_BYTES + 1);
    assert_eq!(t.snapshot().0.len(), 0);
    assert_eq!(t.get(62), Entry::Unknown);
    assert_eq!(t.held_bytes(), 0);
}

#[test]
fn forget_keeps_a_budget() {
    let cases = [
        (100, DEFAULT_MAX_SIZE),
        (16_384, 16_384),
        (1 << 20, MAX_TABLE_BYTES),
    ];
    for (max, budget) in cases {
        let mut t = Table::new(max);
        insert(&mut t, "a", 40);
        t.forget();
        assert_eq!(names(&t), (vec![], true));
        assert_eq!(t.max, None);
        for i in 0..200 {
            insert(&mut t, &format!("n{i:03}"), 1000);
        }
        assert_eq!(t.snapshot().0.len(), budget / 1000, "max {max}");
        assert!(!t.in_sync());
    }
}

#[test]
fn insert_named() {
    let mut t = Table::new(1 << 20);
    t.insert(vec![b'n'; 60_000], b"1".to_vec());
    t.insert_named(2, b"PUT".to_vec());
    assert_eq!(t.get(62), known(b":method", b"PUT"));
    // The name of 63 again, with a value that makes the entry too large to
    // hold: everything we held is older, hence unknown.
    t.insert_named(63, vec![b'v'; 6000]);
    assert_eq!(names(&t), (vec![], true));
    assert_eq!(t.get(62), Entry::Unknown);
    assert_eq!(t.held_bytes(), 0);
    // Larger than the maximum: the table is empty, and we know it.
    let mut t = Table::new(100);
    insert(&mut t, "a", 40);
    t.insert_named(62, vec![b'v'; 70]);
    assert_eq!(names(&t), (vec![], false));
}
