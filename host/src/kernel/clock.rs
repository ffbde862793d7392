//! The host's one clock. Every "now" the store writes or compares, and the
//! age filter's "today", comes from a [`Clock`]; tests stop and move it, and
//! every clone shares one setting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The host's time of day: milliseconds since the Unix epoch, from a clock
/// tests can set.
///
/// Every clone shares one setting, so a test that sets the clock of a store
/// sets it for the whole host built on that store.
#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<AtomicI64>);

/// The value that means "follow the system clock".
const SYSTEM: i64 = i64::MIN;

impl Clock {
    /// A clock that follows the system time.
    pub fn system() -> Self {
        Clock(Arc::new(AtomicI64::new(SYSTEM)))
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self.0.load(Ordering::Relaxed) {
            SYSTEM => now_ms(),
            fixed => fixed,
        }
    }

    /// Stop the clock at `ms` (for tests and simulations).
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::Relaxed);
    }

    /// Move a stopped clock forward by `ms` (stopping it at now first if it
    /// was following the system time).
    pub fn advance_ms(&self, ms: i64) {
        let now = self.now_ms();
        self.0.store(now + ms, Ordering::Relaxed);
    }

    /// Today's date in UTC, by this clock: birth
    /// dates are checked and ages computed against it.
    pub fn today(&self) -> chrono::NaiveDate {
        chrono::DateTime::from_timestamp_millis(self.now_ms())
            .unwrap_or_default()
            .date_naive()
    }
}

/// Milliseconds since the Unix epoch, by the system clock. The store's own
/// times go through [`Store::clock`](crate::kernel::store::Store::clock); this is for where no store is at hand
/// or real time is meant (a system [`Clock`], signatures a receiver checks
/// against its own clock, API tokens' lifetimes).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_is_shared_by_clones() {
        let clock = Clock::system();
        let other = clock.clone();
        clock.set_ms(1_000);
        other.advance_ms(500);
        assert_eq!(clock.now_ms(), 1_500);
    }
}
