//! The idle trigger's measure: the share of the last [`IDLE_WINDOW`] the CPUs were busy, from the
//! CPU times sampled at each look.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::backend::CpuTimes;

/// How far back the idle trigger looks: a minute, so that a pause between two compiler runs
/// or page loads does not count as idle, while a machine left alone qualifies soon.
pub const IDLE_WINDOW: Duration = Duration::from_secs(60);

/// The idle threshold a give-back watch uses when given no trigger: the CPUs busy less than
/// 10 % of the last minute, which a desktop or server at rest stays under and any build, test
/// run or request burst exceeds.
pub const DEFAULT_IDLE_BELOW: f64 = 10.0;

/// CPU times sampled over the last window.
#[derive(Debug)]
pub(super) struct IdleWindow {
    window: Duration,
    samples: VecDeque<(Instant, CpuTimes)>,
}

impl IdleWindow {
    pub(super) fn new(window: Duration) -> IdleWindow {
        IdleWindow {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Adds a sample, and forgets those no longer needed: it keeps the newest sample at least a
    /// window old, which the share is measured from.
    pub(super) fn push(&mut self, at: Instant, times: CpuTimes) {
        self.samples.push_back((at, times));
        while self
            .samples
            .get(1)
            .is_some_and(|&(second, _)| at.saturating_duration_since(second) >= self.window)
        {
            self.samples.pop_front();
        }
    }

    /// The share (percent) of at least the last window the CPUs were busy, or `None` before a
    /// whole window has been watched (or when the counters did not move).
    pub(super) fn busy_percent(&self) -> Option<f64> {
        let (&(first_at, first), &(last_at, last)) = (self.samples.front()?, self.samples.back()?);
        if last_at.saturating_duration_since(first_at) < self.window {
            return None;
        }
        let total = last.total.checked_sub(first.total).filter(|&t| t > 0)?;
        let busy = last.busy.saturating_sub(first.busy).min(total);
        Some(busy as f64 * 100.0 / total as f64)
    }

    /// Forgets everything: after an action, idleness is measured afresh, without the action's
    /// own work in it.
    pub(super) fn clear(&mut self) {
        self.samples.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(busy: u64, total: u64) -> CpuTimes {
        CpuTimes { busy, total }
    }

    #[test]
    fn the_share_needs_a_whole_window_and_covers_at_least_one() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut idle = IdleWindow::new(10 * second);
        idle.push(t0, times(0, 0));
        assert_eq!(idle.busy_percent(), None);
        idle.push(t0 + 9 * second, times(90, 900));
        assert_eq!(idle.busy_percent(), None);
        idle.push(t0 + 10 * second, times(100, 1000));
        assert_eq!(idle.busy_percent(), Some(10.0));
        // Busy later: the oldest sample goes once a newer one is a window old.
        idle.push(t0 + 19 * second, times(500, 1900));
        idle.push(t0 + 20 * second, times(600, 2000));
        // From t0 + 10 s: (600 − 100) ÷ (2000 − 1000).
        assert_eq!(idle.busy_percent(), Some(50.0));
        assert_eq!(idle.samples.len(), 3);
    }

    #[test]
    fn counters_that_stand_still_or_go_back_measure_nothing() {
        let t0 = Instant::now();
        let mut idle = IdleWindow::new(Duration::from_secs(1));
        idle.push(t0, times(5, 10));
        idle.push(t0 + Duration::from_secs(2), times(5, 10));
        assert_eq!(idle.busy_percent(), None);
        idle.push(t0 + Duration::from_secs(3), times(0, 5));
        assert_eq!(idle.busy_percent(), None);
        idle.clear();
        assert_eq!(idle.busy_percent(), None);
    }
}
