//! What to watch for and what to do, and the checks that make a configuration workable.

use std::fmt;
use std::time::Duration;

use crate::backend::ProcessFilter;
use crate::op::Op;

/// A free-memory threshold: bytes, or a percentage of total memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// This many bytes.
    Bytes(u64),
    /// This percentage (0 to 100) of total memory.
    Percent(f64),
}

impl Threshold {
    /// The threshold in bytes, for `total` bytes of memory.
    pub fn bytes(self, total: u64) -> u64 {
        match self {
            Threshold::Bytes(b) => b,
            Threshold::Percent(p) => (total as f64 * p / 100.0) as u64,
        }
    }
}

/// The longest interval or base cooldown accepted: a day.
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// The longest period between actions (`every`) accepted: a year.
pub const MAX_EVERY: Duration = Duration::from_secs(365 * 86_400);

/// What to watch for and what to do.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchConfig {
    /// The operations of each action; empty means the platform's default
    /// ([`super::default_ops`]). They run in canonical order.
    pub ops: Vec<Op>,
    /// Pressure trigger: the standby list (cache) above this many bytes…
    pub standby_above: Option<u64>,
    /// …and free memory below this. Both must be given, and both must hold.
    pub free_below: Option<Threshold>,
    /// Usage trigger: percent of total memory in use ((total − available) ÷ total) above this.
    pub usage_above: Option<f64>,
    /// Period trigger: act this long after the last action (or the start).
    pub every: Option<Duration>,
    /// Stall trigger: act when some tasks stalled on memory for more than this percent of
    /// `pressure_window` (a kernel PSI trigger: the watch sleeps until the kernel reports it).
    pub pressure_above: Option<f64>,
    /// The window of the stall trigger.
    pub pressure_window: Duration,
    /// Idle trigger: act when the CPUs were busy less than this percent of the last
    /// `idle_window`.
    pub idle_below: Option<f64>,
    /// How far back the idle trigger looks ([`IDLE_WINDOW`](super::IDLE_WINDOW) by default).
    pub idle_window: Duration,
    /// Give memory back to the hypervisor at each action (`memdefrag give-back`, keeping memory
    /// used within this long) instead of running `ops`, which must then be empty.
    pub give_back: Option<Duration>,
    /// How often to look at memory.
    pub interval: Duration,
    /// Quiet time after each action; doubles while actions do not help.
    pub cooldown: Duration,
    /// Look once, act if a trigger fires, and return.
    pub once: bool,
    /// Report what would be done; never act.
    pub dry_run: bool,
    /// The processes `working-sets` acts on (all by default).
    pub processes: ProcessFilter,
    /// No action while a process of one of these names runs (a game, a build).
    pub pause_while: Vec<String>,
    /// How long an action's flush may take before it fails (see
    /// [`RunOptions::flush_timeout`](crate::RunOptions::flush_timeout)).
    pub flush_timeout: Duration,
}

impl Default for WatchConfig {
    /// No trigger (it must be given), the platform's default operations, a look every second
    /// and a 30 s cooldown.
    fn default() -> WatchConfig {
        WatchConfig {
            ops: Vec::new(),
            standby_above: None,
            free_below: None,
            usage_above: None,
            every: None,
            pressure_above: None,
            pressure_window: DEFAULT_PRESSURE_WINDOW,
            idle_below: None,
            idle_window: super::IDLE_WINDOW,
            give_back: None,
            interval: Duration::from_secs(1),
            cooldown: Duration::from_secs(30),
            once: false,
            dry_run: false,
            processes: ProcessFilter::default(),
            pause_while: Vec::new(),
            flush_timeout: crate::DEFAULT_FLUSH_TIMEOUT,
        }
    }
}

/// The stall trigger's default window: 2 s, the shortest any user may ask the kernel for.
pub const DEFAULT_PRESSURE_WINDOW: Duration = Duration::from_secs(2);
/// The shortest and longest windows the kernel accepts for a PSI trigger.
pub const PRESSURE_WINDOWS: (Duration, Duration) =
    (Duration::from_millis(500), Duration::from_secs(10));

/// A setting of [`WatchConfig`] that a [`ConfigError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// [`WatchConfig::interval`].
    Interval,
    /// [`WatchConfig::cooldown`].
    Cooldown,
    /// [`WatchConfig::every`].
    Every,
    /// [`WatchConfig::flush_timeout`].
    FlushTimeout,
    /// [`WatchConfig::give_back`]'s keep-hot time.
    KeepHot,
    /// [`WatchConfig::idle_window`].
    IdleWindow,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::Interval => "the interval",
            Setting::Cooldown => "the cooldown",
            Setting::Every => "the period",
            Setting::FlushTimeout => "the flush timeout",
            Setting::KeepHot => "the keep-hot time",
            Setting::IdleWindow => "the idle window",
        })
    }
}

/// Why a [`WatchConfig`] cannot work. Nothing was watched or run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No trigger was given: nothing would ever act.
    #[error(
        "no trigger: give a pressure pair (standby above and free below), usage above, a period, \
         a memory stall or idleness"
    )]
    NoTrigger,
    /// Only one half of the pressure trigger was given.
    #[error("standby above and free below go together: both must hold")]
    HalfPressure,
    /// A duration is zero.
    #[error("{0} must be more than 0")]
    Zero(Setting),
    /// A duration is longer than allowed.
    #[error("{setting} must be at most {}", humantime::format_duration(*max))]
    TooLong {
        /// The setting.
        setting: Setting,
        /// The longest allowed.
        max: Duration,
    },
    /// A period trigger with a single look: there is no previous action to time from.
    #[error("a period cannot fire in a single look: there is no previous action to time from")]
    OnceWithEvery,
    /// A percentage outside 0 to 100.
    #[error("a percentage must be from 0 to 100, not {0}")]
    PercentOutOfRange(f64),
    /// A stall trigger cannot fire in a single look: it waits for the kernel.
    #[error("a stall trigger cannot fire in a single look: it waits for the kernel to report")]
    OnceWithPressure,
    /// A stall window outside what the kernel accepts.
    #[error(
        "the pressure window must be from 500 ms to 10 s, not {}",
        humantime::format_duration(*.0)
    )]
    PressureWindow(Duration),
    /// An idle trigger cannot fire in a single look: it measures a window of time.
    #[error("an idle trigger cannot fire in a single look: it measures a window of time")]
    OnceWithIdle,
    /// An idle threshold of 0 % (it could never hold) or more than 100 %.
    #[error("the idle threshold must be more than 0 and at most 100 percent, not {0}")]
    IdleOutOfRange(f64),
    /// Giving back was asked for together with operations or processes: it has its own plan.
    #[error(
        "giving memory back runs its own plan (reclaim what is not in use, then compact): \
         operations and processes cannot be chosen with it"
    )]
    GiveBackWithOps,
    /// A stall threshold of 0 % (it would fire on any stall) or more than 100 %.
    #[error("the stall share must be more than 0 and at most 100 percent, not {0}")]
    PressureOutOfRange(f64),
}

impl WatchConfig {
    /// Whether any trigger is set (without one, nothing would ever act).
    pub fn has_trigger(&self) -> bool {
        self.standby_above.is_some()
            || self.free_below.is_some()
            || self.usage_above.is_some()
            || self.every.is_some()
            || self.pressure_above.is_some()
            || self.idle_below.is_some()
    }

    /// Whether the stall trigger is the only trigger: then the watch needs no snapshot until
    /// the kernel reports a stall.
    pub fn pressure_only(&self) -> bool {
        self.pressure_above.is_some()
            && self.standby_above.is_none()
            && self.free_below.is_none()
            && self.usage_above.is_none()
            && self.every.is_none()
            && self.idle_below.is_none()
    }

    /// The stall, in microseconds within the window, above which the stall trigger fires.
    pub fn pressure_stall(&self) -> Option<Duration> {
        self.pressure_above
            .map(|p| self.pressure_window.mul_f64(p / 100.0))
    }

    /// Checks the configuration as a whole.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.has_trigger() {
            return Err(ConfigError::NoTrigger);
        }
        if self.standby_above.is_some() != self.free_below.is_some() {
            return Err(ConfigError::HalfPressure);
        }
        for (setting, value, max) in [
            (Setting::Interval, Some(self.interval), MAX_INTERVAL),
            (Setting::Cooldown, Some(self.cooldown), MAX_INTERVAL),
            (Setting::Every, self.every, MAX_EVERY),
            (
                Setting::FlushTimeout,
                Some(self.flush_timeout),
                MAX_INTERVAL,
            ),
            (Setting::KeepHot, self.give_back, MAX_INTERVAL),
            (Setting::IdleWindow, Some(self.idle_window), MAX_INTERVAL),
        ] {
            match value {
                Some(d) if d.is_zero() => return Err(ConfigError::Zero(setting)),
                Some(d) if d > max => return Err(ConfigError::TooLong { setting, max }),
                _ => {}
            }
        }
        if self.once && self.every.is_some() {
            return Err(ConfigError::OnceWithEvery);
        }
        if let Some(p) = self.idle_below {
            if self.once {
                return Err(ConfigError::OnceWithIdle);
            }
            if !(p > 0.0 && p <= 100.0) {
                return Err(ConfigError::IdleOutOfRange(p));
            }
        }
        if self.give_back.is_some() && (!self.ops.is_empty() || !self.processes.is_all()) {
            return Err(ConfigError::GiveBackWithOps);
        }
        if let Some(p) = self.pressure_above {
            if self.once {
                return Err(ConfigError::OnceWithPressure);
            }
            if !(p > 0.0 && p <= 100.0) {
                return Err(ConfigError::PressureOutOfRange(p));
            }
            let (shortest, longest) = PRESSURE_WINDOWS;
            if !(shortest..=longest).contains(&self.pressure_window) {
                return Err(ConfigError::PressureWindow(self.pressure_window));
            }
        }
        let percents = [
            self.usage_above,
            match self.free_below {
                Some(Threshold::Percent(p)) => Some(p),
                _ => None,
            },
        ];
        if let Some(p) = percents
            .into_iter()
            .flatten()
            .find(|p| !(0.0..=100.0).contains(p))
        {
            return Err(ConfigError::PercentOutOfRange(p));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn validation_names_the_problem() {
        assert_eq!(
            WatchConfig::default().validate(),
            Err(ConfigError::NoTrigger)
        );
        let ok = WatchConfig {
            usage_above: Some(90.0),
            ..WatchConfig::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        let check = |config: WatchConfig, expected: ConfigError| {
            assert_eq!(config.validate(), Err(expected));
        };
        check(
            WatchConfig {
                interval: Duration::ZERO,
                ..ok.clone()
            },
            ConfigError::Zero(Setting::Interval),
        );
        check(
            WatchConfig {
                standby_above: Some(GIB),
                free_below: Some(Threshold::Percent(101.0)),
                ..ok.clone()
            },
            ConfigError::PercentOutOfRange(101.0),
        );
        check(
            WatchConfig {
                every: Some(Duration::ZERO),
                ..ok.clone()
            },
            ConfigError::Zero(Setting::Every),
        );
        check(
            WatchConfig {
                cooldown: Duration::ZERO,
                ..ok.clone()
            },
            ConfigError::Zero(Setting::Cooldown),
        );
        check(
            WatchConfig {
                cooldown: Duration::from_secs(1 << 40),
                ..ok.clone()
            },
            ConfigError::TooLong {
                setting: Setting::Cooldown,
                max: MAX_INTERVAL,
            },
        );
        check(
            WatchConfig {
                every: Some(MAX_EVERY + Duration::from_secs(1)),
                ..ok.clone()
            },
            ConfigError::TooLong {
                setting: Setting::Every,
                max: MAX_EVERY,
            },
        );
        check(
            WatchConfig {
                standby_above: Some(GIB),
                ..ok.clone()
            },
            ConfigError::HalfPressure,
        );
        check(
            WatchConfig {
                once: true,
                every: Some(Duration::from_secs(60)),
                ..ok.clone()
            },
            ConfigError::OnceWithEvery,
        );
        check(
            WatchConfig {
                once: true,
                idle_below: Some(10.0),
                ..ok.clone()
            },
            ConfigError::OnceWithIdle,
        );
        for p in [0.0, 100.5, f64::NAN] {
            let config = WatchConfig {
                idle_below: Some(p),
                ..ok.clone()
            };
            assert!(
                matches!(config.validate(), Err(ConfigError::IdleOutOfRange(_))),
                "{p}"
            );
        }
        let give_back = WatchConfig {
            usage_above: None,
            idle_below: Some(10.0),
            give_back: Some(Duration::from_secs(30)),
            ..WatchConfig::default()
        };
        assert_eq!(give_back.validate(), Ok(()));
        check(
            WatchConfig {
                ops: vec![Op::Standby],
                ..give_back.clone()
            },
            ConfigError::GiveBackWithOps,
        );
        check(
            WatchConfig {
                give_back: Some(Duration::ZERO),
                ..give_back
            },
            ConfigError::Zero(Setting::KeepHot),
        );
    }

    #[test]
    fn messages_speak_of_settings_not_flags() {
        let too_long = ConfigError::TooLong {
            setting: Setting::Cooldown,
            max: MAX_INTERVAL,
        };
        assert_eq!(too_long.to_string(), "the cooldown must be at most 1day");
        assert_eq!(
            ConfigError::Zero(Setting::Interval).to_string(),
            "the interval must be more than 0"
        );
        assert!(!ConfigError::NoTrigger.to_string().contains("--"));
    }
}
