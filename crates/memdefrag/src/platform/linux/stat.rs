//! /proc/stat's `cpu` line: the time all CPUs spent busy and idle since boot, for the watch's
//! idle trigger.
//!
//! # References
//! - [proc_stat(5)](https://man7.org/linux/man-pages/man5/proc_stat.5.html)

use crate::backend::CpuTimes;

pub(crate) const PATH: &str = "/proc/stat";

/// Parses the summed `cpu` line: user, nice, system, idle, iowait, irq, softirq, steal (guest
/// time is already part of user). Busy is all but idle and iowait; steal counts as busy, since
/// the guest wanted the CPU then. Malformed input is an error, never a panic.
pub(crate) fn parse_cpu_times(text: &str) -> Result<CpuTimes, String> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))
        .ok_or("no summed 'cpu' line")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| {
            field
                .parse::<u64>()
                .map_err(|_| format!("not a tick count: {field:?}"))
        })
        .collect::<Result<_, _>>()?;
    if ticks.len() < 4 {
        return Err(format!(
            "the 'cpu' line has {} fields, not 4 or more",
            ticks.len()
        ));
    }
    let sum = |fields: &[u64]| fields.iter().fold(0u64, |a, &b| a.saturating_add(b));
    let idle = sum(&ticks[3..ticks.len().min(5)]);
    let busy = sum(&ticks[..3]).saturating_add(sum(ticks.get(5..).unwrap_or_default()));
    Ok(CpuTimes {
        busy,
        total: busy.saturating_add(idle),
    })
}

/// Reads /proc/stat now.
pub(crate) fn cpu_times() -> Result<CpuTimes, String> {
    let text = std::fs::read_to_string(PATH).map_err(|e| format!("read {PATH}: {e}"))?;
    parse_cpu_times(&text).map_err(|e| format!("{PATH}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_everything_but_idle_and_iowait() {
        let text = "cpu  100 5 30 1000 20 1 2 3 40 0\ncpu0 50 2 15 500 10 1 1 1 20 0\nintr 1 2\n";
        // Guest (40) is inside user (100) already.
        assert_eq!(
            parse_cpu_times(text),
            Ok(CpuTimes {
                busy: 100 + 5 + 30 + 1 + 2 + 3,
                total: 141 + 1000 + 20
            })
        );
        // Kernels before 2.5.41 had four fields.
        assert_eq!(
            parse_cpu_times("cpu 1 2 3 4\n"),
            Ok(CpuTimes { busy: 6, total: 10 })
        );
    }

    #[test]
    fn malformed_text_is_an_error() {
        for text in ["", "cpu0 1 2 3 4\n", "cpu 1 2 x 4\n", "cpu 1 2\n"] {
            assert!(parse_cpu_times(text).is_err(), "{text:?}");
        }
        let huge = format!("cpu {0} {0} {0} {0} {0}\n", u64::MAX);
        assert_eq!(parse_cpu_times(&huge).unwrap().total, u64::MAX);
    }
}
