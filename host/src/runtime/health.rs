//! Suspension after repeated failures: an app that keeps failing is stopped
//! until an administrator resumes it, instead of burning CPU on every call.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When repeated failures suspend an install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Failures in a row that suspend the install.
    pub threshold: usize,
    /// All of them within this window.
    pub window: Duration,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            threshold: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// The failures in a row of one install.
#[derive(Debug, Default)]
pub(crate) struct Health {
    streak: Mutex<VecDeque<Instant>>,
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
    fn suspends_after_threshold_failures_in_a_row() {
        let policy = FailurePolicy {
            threshold: 3,
            window: Duration::from_secs(10),
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
        };
        let h = Health::default();
        let t = Instant::now();
        assert!(!h.failure(t, &policy));
        assert!(!h.failure(t + Duration::from_secs(11), &policy));
        assert!(h.failure(t + Duration::from_secs(12), &policy));
    }
}
