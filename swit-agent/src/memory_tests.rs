//! Tests of memory.rs: sizes, the heap's share, and shedding.
use super::*;

#[test]
fn sizes() {
    for (s, want) in [
        ("0", Some(0)),
        ("1024", Some(1024)),
        ("256MiB", Some(256 << 20)),
        ("256 MiB", Some(256 << 20)),
        ("256M", Some(256 << 20)),
        ("256mb", Some(256 << 20)),
        ("64KiB", Some(64 << 10)),
        ("2GiB", Some(2 << 30)),
        ("1 g", Some(1 << 30)),
        ("", None),
        ("MiB", None),
        ("-1", None),
        ("1.5GiB", None),
        ("12 parsecs", None),
        ("99999999999999999999", None),
        ("18446744073709551615GiB", None),
    ] {
        assert_eq!(parse_size(s), want, "{s:?}");
    }
}

#[test]
fn the_heap_gets_what_the_fixed_part_leaves() {
    // 40 MiB at start, the ring's pages included.
    let b = Budget::new(256 << 20, 40 << 20).unwrap();
    assert_eq!(b.heap, (216 << 20) - ALLOCATOR_SLACK);
    assert_eq!(b.reader_queue(), b.heap / 4);
    let e = Budget::new(80 << 20, 40 << 20).unwrap_err();
    assert_eq!(e.fixed, 40 << 20);
    assert!(e.to_string().contains("raise agent.limits.memory"), "{e}");
    // Exactly the minimum is enough; a byte less is not.
    let fixed = (40 << 20) + ALLOCATOR_SLACK;
    assert!(Budget::new(fixed + MIN_HEAP_BUDGET, 40 << 20).is_ok());
    assert!(Budget::new(fixed + MIN_HEAP_BUDGET - 1, 40 << 20).is_err());
}

#[test]
fn sheds_past_the_high_mark_down_to_the_low_one() {
    let b = Budget {
        limit: 0,
        heap: 1000,
    };
    assert!(!b.shed(0, false));
    assert!(!b.shed(800, false));
    assert!(b.shed(801, false));
    assert!(b.shed(601, true), "once begun, down to the low mark");
    assert!(!b.shed(600, true));
}

#[test]
fn near_the_limit_the_allocator_gives_back_then_connections_go() {
    let b = Budget::new(100 << 20, 40 << 20).unwrap();
    let mut t = Trimmer::default();
    let mark = b.trim_mark();
    assert_eq!(mark, (100 << 20) - ALLOCATOR_SLACK);
    assert!(!t.due(&b, mark, 0));
    assert!(t.due(&b, mark + 1, 0));
    // A trim worth its walk may run again at the next tick ...
    t.trimmed(mark + (8 << 20), mark, 0);
    assert!(t.due(&b, mark + 1, 1));
    // ... one that found nothing to give back waits a second.
    t.trimmed(mark + 1, mark + 1, 5);
    assert!(!t.due(&b, mark + 1, 5 + 999_999_999));
    assert!(t.due(&b, mark + 1, 5 + 1_000_000_000));
    assert_eq!(t.trims, 2);
    assert!(!b.resident_pressure((100 << 20) - ALLOCATOR_SLACK / 4));
    assert!(b.resident_pressure((100 << 20) - ALLOCATOR_SLACK / 4 + 1));
}

#[test]
fn resident_now_reads_this_process() {
    let (rss, _) = resident().unwrap();
    let now = resident_now().unwrap();
    // The same figure from two files a moment apart.
    assert!(now.abs_diff(rss) < 8 << 20, "{now} vs {rss}");
}

#[test]
fn proc_status() {
    let s = "Name:\tswit-agent\nVmHWM:\t   92440 kB\nVmRSS:\t   68804 kB\nThreads: 4\n";
    assert_eq!(parse_status(s), Some((68804 * 1024, 92440 * 1024)));
    assert_eq!(parse_status("VmRSS: 1 kB\n"), None);
    assert_eq!(parse_status("VmRSS: x kB\nVmHWM: 1 kB\n"), None);
    assert!(resident().is_some_and(|(rss, hwm)| rss > 0 && hwm >= rss));
}
