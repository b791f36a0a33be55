//! The triggers: when the memory state (or the time since the last action) calls for an action.
//!
//! Throughout the watch, "standby" is the snapshot's `cache_bytes`: the standby lists on Windows,
//! the clean page cache on Linux.

use std::time::Duration;

use serde::Serialize;

use super::config::WatchConfig;
use crate::snapshot::Snapshot;

/// Why an action fired, with the values that fired it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "trigger", rename_all = "kebab-case")]
pub enum Fired {
    /// Standby above its threshold and free below its (whichever were given).
    Pressure {
        /// The standby list (the snapshot's `cache_bytes`, whose name the JSON keeps).
        #[serde(rename = "cache_bytes")]
        standby_bytes: u64,
        /// Free memory.
        free_bytes: u64,
        /// The standby threshold, when given.
        #[serde(skip_serializing_if = "Option::is_none")]
        standby_above_bytes: Option<u64>,
        /// The free-memory threshold in bytes, when given.
        #[serde(skip_serializing_if = "Option::is_none")]
        free_below_bytes: Option<u64>,
    },
    /// Memory use above its threshold.
    Usage {
        /// (total − available) ÷ total, in percent.
        usage_percent: f64,
        /// The threshold.
        usage_above_percent: f64,
    },
    /// The period since the last action passed.
    Every {
        /// The period.
        every_ms: u64,
    },
    /// The kernel reported that some tasks stalled on memory for more than the share of the
    /// window (a PSI trigger).
    Stall {
        /// The threshold, in percent of the window.
        stall_above_percent: f64,
        /// The window.
        window_ms: u64,
        /// PSI's `some avg10` when the watch looked, in percent (absent if it could not read it).
        #[serde(skip_serializing_if = "Option::is_none")]
        some_avg10_percent: Option<f64>,
    },
    /// The CPUs were busy less than the threshold over the window.
    Idle {
        /// The share of the window the CPUs were busy, in percent.
        busy_percent: f64,
        /// The threshold.
        idle_below_percent: f64,
        /// The window.
        window_ms: u64,
    },
}

/// The first trigger that holds for `snapshot`, `since_action` after the last action (or start).
pub fn evaluate(
    config: &WatchConfig,
    snapshot: &Snapshot,
    since_action: Duration,
) -> Option<Fired> {
    let total = snapshot.total_bytes;
    if config.standby_above.is_some() || config.free_below.is_some() {
        let free_below = config.free_below.map(|t| t.bytes(total));
        // Validation requires both; a library caller may give one, which then holds alone.
        let standby_holds = config
            .standby_above
            .is_none_or(|t| snapshot.cache_bytes > t);
        let free_holds = free_below.is_none_or(|t| snapshot.free_bytes < t);
        if standby_holds && free_holds {
            return Some(Fired::Pressure {
                standby_bytes: snapshot.cache_bytes,
                free_bytes: snapshot.free_bytes,
                standby_above_bytes: config.standby_above,
                free_below_bytes: free_below,
            });
        }
    }
    if let Some(above) = config.usage_above {
        let usage = usage_percent(snapshot);
        if usage > above {
            return Some(Fired::Usage {
                usage_percent: usage,
                usage_above_percent: above,
            });
        }
    }
    if let Some(every) = config.every {
        if since_action >= every {
            return Some(Fired::Every {
                every_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
            });
        }
    }
    None
}

/// (total − available) ÷ total, in percent.
pub fn usage_percent(snapshot: &Snapshot) -> f64 {
    if snapshot.total_bytes == 0 {
        return 0.0;
    }
    let used = snapshot
        .total_bytes
        .saturating_sub(snapshot.available_bytes);
    used as f64 * 100.0 / snapshot.total_bytes as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::snapshot;
    use crate::watch::Threshold;

    const GIB: u64 = 1 << 30;

    /// 16 GiB of memory with this much standby, free and available memory.
    fn memory(standby: u64, free: u64, available: u64) -> Snapshot {
        snapshot(16 * GIB, available, free, standby, 0)
    }

    #[test]
    fn standby_and_free_must_both_hold() {
        let c = WatchConfig {
            standby_above: Some(2 * GIB),
            free_below: Some(Threshold::Bytes(GIB)),
            ..WatchConfig::default()
        };
        let zero = Duration::ZERO;
        assert!(evaluate(&c, &memory(3 * GIB, GIB / 2, 4 * GIB), zero).is_some());
        assert!(
            evaluate(&c, &memory(3 * GIB, 2 * GIB, 4 * GIB), zero).is_none(),
            "free enough"
        );
        assert!(
            evaluate(&c, &memory(GIB, GIB / 2, 4 * GIB), zero).is_none(),
            "standby small"
        );
        let fired = evaluate(&c, &memory(3 * GIB, GIB / 2, 4 * GIB), zero).unwrap();
        assert_eq!(
            fired,
            Fired::Pressure {
                standby_bytes: 3 * GIB,
                free_bytes: GIB / 2,
                standby_above_bytes: Some(2 * GIB),
                free_below_bytes: Some(GIB),
            }
        );
    }

    #[test]
    fn free_below_a_percentage_of_total() {
        let c = WatchConfig {
            free_below: Some(Threshold::Percent(10.0)),
            ..WatchConfig::default()
        };
        assert!(
            evaluate(&c, &memory(0, GIB, GIB), Duration::ZERO).is_some(),
            "1 of 16 GiB"
        );
        assert!(evaluate(&c, &memory(0, 2 * GIB, GIB), Duration::ZERO).is_none());
    }

    #[test]
    fn usage_is_total_minus_available() {
        let c = WatchConfig {
            usage_above: Some(75.0),
            ..WatchConfig::default()
        };
        let fired = evaluate(&c, &memory(0, 0, 2 * GIB), Duration::ZERO).unwrap();
        assert_eq!(
            fired,
            Fired::Usage {
                usage_percent: 87.5,
                usage_above_percent: 75.0
            }
        );
        assert!(
            evaluate(&c, &memory(0, 0, 8 * GIB), Duration::ZERO).is_none(),
            "50 %"
        );
    }

    #[test]
    fn every_fires_after_its_period() {
        let c = WatchConfig {
            every: Some(Duration::from_secs(600)),
            ..WatchConfig::default()
        };
        let s = memory(0, 0, 0);
        assert!(evaluate(&c, &s, Duration::from_secs(599)).is_none());
        assert_eq!(
            evaluate(&c, &s, Duration::from_secs(600)),
            Some(Fired::Every { every_ms: 600_000 })
        );
    }

    #[test]
    fn the_json_keeps_the_snapshots_name_for_standby() {
        let fired = Fired::Pressure {
            standby_bytes: 3,
            free_bytes: 1,
            standby_above_bytes: Some(2),
            free_below_bytes: None,
        };
        let v = serde_json::to_value(&fired).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "trigger": "pressure",
                "cache_bytes": 3,
                "free_bytes": 1,
                "standby_above_bytes": 2
            })
        );
    }
}
