//! Tests of board.rs: health follows what was published.
use super::*;

#[test]
fn health_follows_what_was_published() {
    let b = Board::default();
    let now = Instant::now();
    assert_eq!(b.health(now), Health::Starting);
    b.publish(Snapshot {
        tracing_enabled: true,
        ..Snapshot::default()
    });
    assert_eq!(b.health(Instant::now()), Health::Ok);
    assert_eq!(
        b.health(Instant::now() + STALE_AFTER + Duration::from_secs(1)),
        Health::Stalled
    );
    b.switching();
    assert_eq!(
        b.health(Instant::now() + STALE_AFTER * 3),
        Health::Switching
    );
    b.publish(Snapshot::default());
    assert_eq!(b.health(Instant::now()), Health::Off);
    assert_eq!(Health::Off.answer().0, 503);
}
