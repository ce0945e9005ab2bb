//! Tests of hash.rs: aligned keys spread over a table's buckets.
use std::hash::BuildHasher;

use super::*;

#[test]
fn aligned_socket_addresses_spread_over_the_low_bits() {
    // hashbrown takes the bucket from the low bits: page-aligned
    // addresses must not all land in one (without the rotate they do;
    // a random hash reaches about 650 of 1024).
    let b = FxBuild::default();
    let buckets: FxHashSet<u64> = (0..1024u64)
        .map(|i| b.hash_one(0xffff_8880_0000_0000 + i * 0x1000) & 1023)
        .collect();
    assert!(buckets.len() > 400, "{} buckets of 1024", buckets.len());
}

#[test]
fn a_map_keyed_by_pairs_and_tuples_works() {
    let mut m: FxHashMap<(u64, u64), u32> = FxHashMap::default();
    for i in 0..1000 {
        m.insert((i, i * 7), i as u32);
    }
    assert!((0..1000).all(|i| m[&(i, i * 7)] == i as u32));
}
