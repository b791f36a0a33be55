//! /proc/vmstat: the kernel's event counters, parsed by the `procfs` crate.
//!
//! # References
//! - [proc_vmstat(5)](https://man7.org/linux/man-pages/man5/proc_vmstat.5.html)

use std::collections::HashMap;

use procfs::{FromBufRead, VmStat};

pub(crate) const PATH: &str = "/proc/vmstat";

/// Parses the text of /proc/vmstat. Malformed input is an error, never a panic.
pub(crate) fn parse(text: &str) -> Result<HashMap<String, i64>, String> {
    let stat = VmStat::from_buf_read(text.as_bytes()).map_err(|e| e.to_string())?;
    if stat.0.is_empty() {
        return Err("no counters".into());
    }
    Ok(stat.0)
}

/// Reads /proc/vmstat now.
pub(crate) fn read() -> Result<HashMap<String, i64>, String> {
    let text = std::fs::read_to_string(PATH).map_err(|e| e.to_string())?;
    parse(&text)
}

/// `after[name] - before[name]` for counters present in both; 0 when the counter went back.
/// Any two i64 values, however far apart, give an answer (the file is outside input).
pub(crate) fn delta(
    before: &HashMap<String, i64>,
    after: &HashMap<String, i64>,
    name: &str,
) -> Option<u64> {
    let d = i128::from(*after.get(name)?) - i128::from(*before.get(name)?);
    Some(u64::try_from(d).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the property test: counters at the ends of i64 overflowed the subtraction.
    #[test]
    fn a_delta_between_the_extremes_does_not_overflow() {
        let counters = |v: i64| HashMap::from([("c".to_owned(), v)]);
        assert_eq!(
            delta(&counters(i64::MIN), &counters(i64::MAX), "c"),
            Some(u64::MAX)
        );
        assert_eq!(
            delta(&counters(i64::MAX), &counters(i64::MIN), "c"),
            Some(0)
        );
    }
}
