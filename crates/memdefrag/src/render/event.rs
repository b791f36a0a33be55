//! A watch action as one line for people.

use super::human_bytes;
use crate::watch::{Event, Fired, GivenBack};

/// One line for a watch action, e.g.
/// `2026-11-26T14:00:00Z purged standby (usage 91.0 % > 90 %): freed 1.20 GiB in 12.3 ms; cooldown 30 s`.
/// A give-back action reads
/// `2026-12-06T14:00:00Z gave back 312.0 MiB (idle: CPU 3.2 % busy < 10 % of 60 s): reportable 1.20 GiB → 1.50 GiB in 34.1 s (damon); cooldown 30 s`.
pub fn watch_event(event: &Event) -> String {
    if let Some(given) = &event.give_back {
        return give_back_event(event, given);
    }
    let ops: Vec<&str> = event.ops.iter().map(|o| o.name()).collect();
    let verb = if event.dry_run {
        "would purge"
    } else {
        "purged"
    };
    let outcome = match (&event.error, event.dry_run) {
        (Some(e), _) => format!("FAILED: {e}"),
        (None, true) => format!(
            "would free ~{}",
            human_bytes(event.freed_bytes.max(0).unsigned_abs())
        ),
        (None, false) => format!(
            "freed {}{} in {:.1} ms",
            if event.freed_bytes < 0 { "-" } else { "" },
            human_bytes(event.freed_bytes.unsigned_abs()),
            event.duration_ms
        ),
    };
    format!(
        "{} {verb} {} ({}): {outcome}; cooldown {} s",
        event.time,
        ops.join(","),
        fired(&event.fired),
        event.cooldown_ms as f64 / 1000.0
    )
}

fn give_back_event(event: &Event, given: &GivenBack) -> String {
    let method = given.method.name();
    let (verb, detail) = match (&event.error, event.dry_run) {
        (Some(e), _) => ("give-back FAILED".to_owned(), e.to_string()),
        (None, true) => (
            "would give back".to_owned(),
            format!(
                "what {method} finds not in use; reportable now {}",
                human_bytes(given.reportable_before_bytes)
            ),
        ),
        (None, false) => (
            if given.given_back_bytes > 0 {
                format!(
                    "gave back {}",
                    human_bytes(given.given_back_bytes.unsigned_abs())
                )
            } else {
                "gave back nothing".to_owned()
            },
            format!(
                "reportable {} → {} in {:.1} s ({method})",
                human_bytes(given.reportable_before_bytes),
                human_bytes(given.reportable_after_bytes),
                event.duration_ms / 1000.0
            ),
        ),
    };
    format!(
        "{} {verb} ({}): {detail}; cooldown {} s",
        event.time,
        fired(&event.fired),
        event.cooldown_ms as f64 / 1000.0
    )
}

/// Why an action fired, with the values, for people.
fn fired(fired: &Fired) -> String {
    match fired {
        Fired::Pressure {
            standby_bytes,
            free_bytes,
            standby_above_bytes,
            free_below_bytes,
        } => {
            let mut parts = Vec::new();
            if let Some(t) = standby_above_bytes {
                parts.push(format!(
                    "standby {} > {}",
                    human_bytes(*standby_bytes),
                    human_bytes(*t)
                ));
            }
            if let Some(t) = free_below_bytes {
                parts.push(format!(
                    "free {} < {}",
                    human_bytes(*free_bytes),
                    human_bytes(*t)
                ));
            }
            parts.join(" and ")
        }
        Fired::Usage {
            usage_percent,
            usage_above_percent,
        } => format!("usage {usage_percent:.1} % > {usage_above_percent} %"),
        Fired::Every { every_ms } => format!("every {} s", *every_ms as f64 / 1000.0),
        Fired::Stall {
            stall_above_percent,
            window_ms,
            some_avg10_percent,
        } => {
            let window = *window_ms as f64 / 1000.0;
            match some_avg10_percent {
                Some(avg10) => format!(
                    "memory stall > {stall_above_percent} % of {window} s; some avg10 {avg10:.1} %"
                ),
                None => format!("memory stall > {stall_above_percent} % of {window} s"),
            }
        }
        Fired::Idle {
            busy_percent,
            idle_below_percent,
            window_ms,
        } => format!(
            "idle: CPU {busy_percent:.1} % busy < {idle_below_percent} % of {} s",
            *window_ms as f64 / 1000.0
        ),
    }
}
