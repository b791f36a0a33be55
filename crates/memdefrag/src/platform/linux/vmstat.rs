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

/// `after[name] - before[name]` for counters present in both.
pub(crate) fn delta(
    before: &HashMap<String, i64>,
    after: &HashMap<String, i64>,
    name: &str,
) -> Option<u64> {
    let d = after.get(name)? - before.get(name)?;
    Some(d.max(0) as u64)
}
