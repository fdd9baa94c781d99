//! Where a span is placed in time for block ranges, retention and compaction.
//!
//! A span's own start time decides which blocks a search reads and when retention drops its
//! block. A clock that is years off would pin a block (and every block merged into it) past
//! retention forever, or make a block with a span at time 0 overlap every search. So, as
//! Tempo does, a span whose start lies outside `[now − ttl, now + max_future]` is placed by
//! its ingestion time instead. The span itself is stored unchanged: only the block's time
//! range (its meta) and the head's use the placement, and such spans are counted.

use std::time::Duration;

/// The window of start times placed as they are, for spans ingested at `now` (Unix ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub earliest: u64,
    pub latest: u64,
    pub now: u64,
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Placement {
    /// `ttl` zero keeps everything, so no start is too old then.
    pub fn new(now: u64, ttl: Duration, max_future: Duration) -> Self {
        let earliest = if ttl.is_zero() { 0 } else { now.saturating_sub(nanos(ttl)) };
        Self { earliest, latest: now.saturating_add(nanos(max_future)), now }
    }

    /// The time `start` is placed at, and whether it was moved.
    pub fn place(&self, start: u64) -> (u64, bool) {
        if start < self.earliest || start > self.latest || start == 0 { (self.now, true) } else { (start, false) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000_000_000;

    #[test]
    fn starts_inside_the_window_stay_and_others_move_to_now() {
        let now = 1_000 * HOUR;
        let placement = Placement::new(now, Duration::from_secs(72 * 3600), Duration::from_secs(600));
        assert_eq!(placement.place(now - HOUR), (now - HOUR, false));
        assert_eq!(placement.place(now + HOUR / 12), (now + HOUR / 12, false));
        assert_eq!(placement.place(now + 10 * 365 * 24 * HOUR), (now, true));
        assert_eq!(placement.place(0), (now, true));
        assert_eq!(placement.place(now - 73 * HOUR), (now, true));
    }

    #[test]
    fn zero_ttl_keeps_old_starts_in_place() {
        let now = 1_000 * HOUR;
        let placement = Placement::new(now, Duration::ZERO, Duration::from_secs(600));
        assert_eq!(placement.place(HOUR), (HOUR, false));
    }
}
