//! Suspension after repeated failures (a breaker): an app that keeps failing
//! is stopped instead of burning CPU on every call, and tried again on its
//! own.
//!
//! The design decision to know: **a suspension after failures is never the
//! end**. It lasts a pause ([`FailurePolicy::first_pause`], doubling with
//! each trip up to [`FailurePolicy::max_pause`]); the first call after it is
//! a trial, let through alone. A trial that succeeds resumes the install; one
//! that fails suspends it again for twice as long. So no caller can get an
//! app stopped for longer than the pause, and an administrator sees the
//! reason and the time of the next trial on the install. Only an
//! administrator's own suspension waits for an administrator. Failures the
//! caller can cause on their own (an answer grown past the response limit
//! by what callers stored) do not count.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// When repeated failures suspend an install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Failures in a row that suspend the install.
    pub threshold: usize,
    /// All of them within this window.
    pub window: Duration,
    /// How long the first suspension lasts before a trial call.
    pub first_pause: Duration,
    /// The longest a suspension lasts, however often it trips again.
    pub max_pause: Duration,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            threshold: 5,
            window: Duration::from_secs(60),
            first_pause: Duration::from_secs(30),
            max_pause: Duration::from_secs(3600),
        }
    }
}

impl FailurePolicy {
    /// The pause of the `trip`th suspension in a row (the first is 0).
    pub fn pause(&self, trip: u32) -> Duration {
        self.first_pause
            .saturating_mul(1u32 << trip.min(20))
            .min(self.max_pause)
    }
}

/// The failures in a row of one install, and its breaker's trips.
#[derive(Debug, Default)]
pub(crate) struct Health {
    streak: Mutex<VecDeque<Instant>>,
    /// Suspensions in a row without a successful trial between them.
    trips: AtomicU32,
    /// A trial call is under way.
    trial: AtomicBool,
}

impl Health {
    /// A call succeeded: the streak ends.
    pub(crate) fn success(&self) {
        if let Ok(mut s) = self.streak.lock()
            && !s.is_empty()
        {
            s.clear();
        }
    }

    /// Start over (after a resume).
    pub(crate) fn reset(&self) {
        self.success();
        self.trips.store(0, Ordering::Relaxed);
    }

    /// Count a suspension; the number of suspensions in a row before it.
    pub(crate) fn trip(&self) -> u32 {
        self.trips.fetch_add(1, Ordering::Relaxed)
    }

    /// Take the one trial call; false when another is under way.
    pub(crate) fn begin_trial(&self) -> bool {
        self.trial
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// The trial call is over.
    pub(crate) fn end_trial(&self) {
        self.trial.store(false, Ordering::Release);
    }

    /// A call failed at `now`; true when this failure makes the install
    /// reach the policy's threshold.
    pub(crate) fn failure(&self, now: Instant, policy: &FailurePolicy) -> bool {
        let Ok(mut s) = self.streak.lock() else {
            return false;
        };
        s.push_back(now);
        while let Some(first) = s.front() {
            if now.duration_since(*first) > policy.window {
                s.pop_front();
            } else {
                break;
            }
        }
        if s.len() >= policy.threshold {
            s.clear();
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_trip_doubles_the_pause_up_to_the_most() {
        let policy = FailurePolicy::default();
        assert_eq!(policy.pause(0), Duration::from_secs(30));
        assert_eq!(policy.pause(1), Duration::from_secs(60));
        assert_eq!(policy.pause(5), Duration::from_secs(960));
        assert_eq!(policy.pause(7), Duration::from_secs(3600));
        assert_eq!(policy.pause(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn one_trial_at_a_time() {
        let h = Health::default();
        assert!(h.begin_trial());
        assert!(!h.begin_trial());
        h.end_trial();
        assert!(h.begin_trial());
    }

    #[test]
    fn suspends_after_threshold_failures_in_a_row() {
        let policy = FailurePolicy {
            threshold: 3,
            window: Duration::from_secs(10),
            ..FailurePolicy::default()
        };
        let h = Health::default();
        let t = Instant::now();
        assert!(!h.failure(t, &policy));
        assert!(!h.failure(t, &policy));
        assert!(h.failure(t, &policy));
    }

    #[test]
    fn a_success_ends_the_streak() {
        let policy = FailurePolicy {
            threshold: 2,
            window: Duration::from_secs(10),
            ..FailurePolicy::default()
        };
        let h = Health::default();
        let t = Instant::now();
        assert!(!h.failure(t, &policy));
        h.success();
        assert!(!h.failure(t, &policy));
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let policy = FailurePolicy {
            threshold: 2,
            window: Duration::from_secs(10),
            ..FailurePolicy::default()
        };
        let h = Health::default();
        let t = Instant::now();
        assert!(!h.failure(t, &policy));
        assert!(!h.failure(t + Duration::from_secs(11), &policy));
        assert!(h.failure(t + Duration::from_secs(12), &policy));
    }
}
