//! Automatic cleaning with `watch`'s engine: its triggers ([`memdefrag::watch::evaluate`]), its
//! cooldown and its back-off ([`Backoff`]), driven by the app's one-second timer instead of
//! `watch`'s own loop.

use std::time::{Duration, Instant};

use memdefrag::watch::{evaluate, Backoff, Fired, WatchConfig};
use memdefrag::Snapshot;

/// The automatic-cleaning state.
#[derive(Debug)]
pub struct AutoClean {
    config: WatchConfig,
    backoff: Backoff,
    last_action: Instant,
    quiet_until: Instant,
}

impl AutoClean {
    /// Starts watching with `config` at `now`.
    pub fn new(config: WatchConfig, now: Instant) -> AutoClean {
        AutoClean {
            backoff: Backoff::new(config.cooldown),
            config,
            last_action: now,
            quiet_until: now,
        }
    }

    /// What fires for `snapshot` at `now`, if anything may act: never inside the cooldown, and
    /// never while a clean is in progress (the caller says so with `busy`).
    pub fn tick(&mut self, snapshot: &Snapshot, now: Instant, busy: bool) -> Option<Fired> {
        match evaluate(&self.config, snapshot, now.duration_since(self.last_action)) {
            None => {
                self.backoff.cleared();
                None
            }
            Some(_) if busy || now < self.quiet_until => None,
            Some(fired) => {
                // Counted from the start of the clean, as `watch` does.
                self.last_action = now;
                self.quiet_until = now + self.config.cooldown;
                Some(fired)
            }
        }
    }

    /// A clean it fired has ended, having freed `freed` bytes of `total`: the cooldown after it
    /// (doubled while cleaning does not help).
    pub fn cleaned(&mut self, freed: i64, total: u64, now: Instant) -> Duration {
        let cooldown = self.backoff.after_action(freed, total);
        self.quiet_until = now + cooldown;
        cooldown
    }
}

#[cfg(test)]
mod tests {
    use memdefrag::testing::snapshot;
    use memdefrag::Op;

    use super::*;

    const GIB: u64 = 1 << 30;

    fn usage_above_50() -> WatchConfig {
        WatchConfig {
            ops: vec![Op::Standby],
            usage_above: Some(50.0),
            cooldown: Duration::from_secs(30),
            ..WatchConfig::default()
        }
    }

    #[test]
    fn fires_then_stays_quiet_through_the_cooldown_and_backs_off() {
        let start = Instant::now();
        let full = snapshot(16 * GIB, 0, 0, 0, 0);
        let mut auto = AutoClean::new(usage_above_50(), start);
        assert!(matches!(
            auto.tick(&full, start, false),
            Some(Fired::Usage { .. })
        ));
        assert!(
            auto.tick(&full, start + Duration::from_secs(1), false)
                .is_none(),
            "cooldown"
        );
        // It freed nothing: the next cooldown doubles.
        let cooldown = auto.cleaned(0, 16 * GIB, start + Duration::from_secs(2));
        assert_eq!(cooldown, Duration::from_secs(60));
        assert!(auto
            .tick(&full, start + Duration::from_secs(61), false)
            .is_none());
        assert!(auto
            .tick(&full, start + Duration::from_secs(63), false)
            .is_some());
    }

    #[test]
    fn never_fires_while_a_clean_runs_or_when_memory_is_fine() {
        let start = Instant::now();
        let mut auto = AutoClean::new(usage_above_50(), start);
        let full = snapshot(16 * GIB, 0, 0, 0, 0);
        assert!(auto.tick(&full, start, true).is_none(), "busy");
        let fine = snapshot(16 * GIB, 12 * GIB, 10 * GIB, 0, 0);
        assert!(auto.tick(&fine, start, false).is_none());
        assert!(auto.tick(&full, start, false).is_some());
    }

    #[test]
    fn every_counts_from_the_last_clean() {
        let start = Instant::now();
        let config = WatchConfig {
            every: Some(Duration::from_secs(600)),
            usage_above: None,
            ..usage_above_50()
        };
        let mut auto = AutoClean::new(config, start);
        let any = snapshot(16 * GIB, 8 * GIB, 8 * GIB, 0, 0);
        assert!(auto
            .tick(&any, start + Duration::from_secs(599), false)
            .is_none());
        assert!(auto
            .tick(&any, start + Duration::from_secs(600), false)
            .is_some());
        assert!(auto
            .tick(&any, start + Duration::from_secs(1100), false)
            .is_none());
        assert!(auto
            .tick(&any, start + Duration::from_secs(1200), false)
            .is_some());
    }
}
