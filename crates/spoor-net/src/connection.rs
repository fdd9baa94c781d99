//! One accepted connection's clock: how many requests it has in flight and when that last
//! changed, which is what the idle, write and age limits are judged by.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The limits one connection is held to; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionTimeouts {
    /// No request in flight for this long: the connection is closed.
    pub idle: Option<Duration>,
    /// A request in flight and nothing started or finished for this long: the connection is cut.
    pub write: Option<Duration>,
    /// The connection is asked to close after this long (HTTP/2 GOAWAY, HTTP/1 after the
    /// response in flight)...
    pub max_age: Option<Duration>,
    /// ...and cut this long after that.
    pub max_age_grace: Option<Duration>,
}

/// What the watchdog tells the connection task to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    /// Finish what is in flight and close.
    Close,
    /// Close now, whatever is in flight.
    Cut,
}

#[derive(Debug)]
pub(crate) struct ConnectionClock {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `opened` of the last request start or end.
    changed_ms: AtomicU64,
}

impl ConnectionClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { opened: Instant::now(), in_flight: AtomicUsize::new(0), changed_ms: AtomicU64::new(0) })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.changed_ms.store(ms, Ordering::Relaxed);
    }

    /// Marks a request as in flight until the returned value is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InFlight(self.clone())
    }

    /// Whether a request is in flight (its response not yet fully sent).
    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }

    /// Judges the connection now; `closing_since` is when it was asked to close.
    pub fn verdict(&self, timeouts: &ConnectionTimeouts, closing_since: Option<Instant>) -> Verdict {
        self.verdict_at(Instant::now(), timeouts, closing_since)
    }

    fn verdict_at(&self, now: Instant, timeouts: &ConnectionTimeouts, closing_since: Option<Instant>) -> Verdict {
        let changed = Duration::from_millis(self.changed_ms.load(Ordering::Relaxed));
        let quiet = now.duration_since(self.opened).saturating_sub(changed);
        let busy = self.busy();
        if let (Some(since), Some(grace)) = (closing_since, timeouts.max_age_grace)
            && now.duration_since(since) >= grace
        {
            return Verdict::Cut;
        }
        if busy && timeouts.write.is_some_and(|limit| quiet >= limit) {
            return Verdict::Cut;
        }
        if !busy && timeouts.idle.is_some_and(|limit| quiet >= limit) {
            return Verdict::Close;
        }
        if timeouts.max_age.is_some_and(|age| now.duration_since(self.opened) >= age) {
            return Verdict::Close;
        }
        Verdict::Keep
    }

    /// How often the watchdog should look: often enough to act within a tenth of the
    /// shortest limit, and at least every 5 s.
    pub fn tick(timeouts: &ConnectionTimeouts) -> Duration {
        [timeouts.idle, timeouts.write, timeouts.max_age, timeouts.max_age_grace]
            .into_iter()
            .flatten()
            .map(|limit| limit / 10)
            .min()
            .unwrap_or(Duration::from_secs(5))
            .clamp(Duration::from_millis(20), Duration::from_secs(5))
    }
}

/// A request in flight on a connection; dropping it marks the request done.
#[derive(Debug)]
pub struct InFlight(Arc<ConnectionClock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ConnectionTimeouts = ConnectionTimeouts {
        idle: Some(Duration::from_secs(10)),
        write: Some(Duration::from_secs(5)),
        max_age: None,
        max_age_grace: None,
    };

    fn after(clock: &ConnectionClock, seconds: u64) -> Instant {
        clock.opened + Duration::from_secs(seconds)
    }

    #[test]
    fn idle_connections_close_and_stuck_requests_are_cut() {
        let clock = ConnectionClock::new();
        assert_eq!(clock.verdict_at(after(&clock, 1), &LIMITS, None), Verdict::Keep);
        assert_eq!(clock.verdict_at(after(&clock, 11), &LIMITS, None), Verdict::Close);
        let request = clock.begin();
        assert_eq!(clock.verdict_at(after(&clock, 4), &LIMITS, None), Verdict::Keep);
        assert_eq!(clock.verdict_at(after(&clock, 6), &LIMITS, None), Verdict::Cut);
        drop(request);
        assert_eq!(clock.verdict_at(after(&clock, 9), &LIMITS, None), Verdict::Keep);
    }

    #[test]
    fn age_and_grace() {
        let limits = ConnectionTimeouts {
            idle: None,
            write: None,
            max_age: Some(Duration::from_secs(30)),
            max_age_grace: Some(Duration::from_secs(5)),
        };
        let clock = ConnectionClock::new();
        let _busy = clock.begin();
        assert_eq!(clock.verdict_at(after(&clock, 29), &limits, None), Verdict::Keep);
        assert_eq!(clock.verdict_at(after(&clock, 31), &limits, None), Verdict::Close);
        let since = after(&clock, 31);
        assert_eq!(clock.verdict_at(after(&clock, 35), &limits, Some(since)), Verdict::Close);
        assert_eq!(clock.verdict_at(after(&clock, 37), &limits, Some(since)), Verdict::Cut);
        assert_eq!(ConnectionClock::tick(&limits), Duration::from_millis(500));
    }
}
