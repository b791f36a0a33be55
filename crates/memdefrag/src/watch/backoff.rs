//! The cooldown after each action, doubling while actions do not help.

use std::time::Duration;

/// The longest cooldown the back-off reaches.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(600);

/// The cooldown after each action, doubling while actions do not help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    current: Duration,
}

impl Backoff {
    /// A back-off starting at `base`.
    pub fn new(base: Duration) -> Backoff {
        Backoff {
            base,
            current: base,
        }
    }

    /// The cooldown after an action that freed `freed` bytes of `total`: the base when it freed at
    /// least 1 % of total, else double the last one (up to [`MAX_COOLDOWN`]).
    pub fn after_action(&mut self, freed: i64, total: u64) -> Duration {
        if freed >= 0 && freed.unsigned_abs().saturating_mul(100) >= total {
            self.current = self.base;
        } else {
            self.current = (self.current * 2).min(MAX_COOLDOWN.max(self.base));
        }
        self.current
    }

    /// The triggers no longer hold: the next action starts from the base cooldown again.
    pub fn cleared(&mut self) {
        self.current = self.base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn backoff_doubles_while_useless_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(30));
        let total = 16 * GIB;
        assert_eq!(b.after_action(0, total), Duration::from_secs(60));
        assert_eq!(b.after_action(-5, total), Duration::from_secs(120));
        assert_eq!(
            b.after_action((total / 100 - 1) as i64, total),
            Duration::from_secs(240)
        );
        for _ in 0..10 {
            b.after_action(0, total);
        }
        assert_eq!(
            b.after_action(0, total),
            MAX_COOLDOWN,
            "capped at 10 minutes"
        );
        assert_eq!(
            b.after_action((total / 100 + 1) as i64, total),
            Duration::from_secs(30)
        );
        b.after_action(0, total);
        b.after_action(0, total);
        b.cleared();
        assert_eq!(
            b.after_action(0, total),
            Duration::from_secs(60),
            "doubling restarts"
        );
    }

    #[test]
    fn a_base_above_the_cap_is_kept() {
        let mut b = Backoff::new(Duration::from_secs(3600));
        assert_eq!(b.after_action(0, 100), Duration::from_secs(3600));
    }
}
