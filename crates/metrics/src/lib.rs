//! memdefrag for Prometheus: the memory state (and, inside `watch`, its actions) in the
//! Prometheus text format, written atomically for node_exporter's textfile collector, or served
//! on `/metrics`.
//!
//! Series (base units, `_total` for counters, labels rather than name suffixes):
//! - `memdefrag_memory_bytes{kind}`: total, available, free, cache, modified;
//! - `memdefrag_fragmentation_unusable_ratio{order}` and `memdefrag_free_blocks{node,zone,order}`
//!   (Linux);
//! - `memdefrag_standby_bytes{priority}` and `memdefrag_memory_list_bytes{list}` (Windows, when
//!   the memory-list query works);
//! - `memdefrag_pressure_some_ratio`, `memdefrag_pressure_full_ratio` (PSI) and
//!   `memdefrag_reportable_free_bytes` (free page reporting), where they exist;
//! - `memdefrag_actions_total{op,status}` (`op` is `give-back` for a give-back watch),
//!   `memdefrag_freed_bytes_total`, `memdefrag_given_back_bytes_total` and
//!   `memdefrag_last_action_timestamp_seconds` (watch only).

// No unsafe code here at all.
#![forbid(unsafe_code)]

mod encode;
mod server;

pub use encode::{encode, Format, WatchCounters};
pub use server::{serve, Scrape, Server};

/// Writes `text` to `path` atomically: a temporary file in the same directory, then a rename
/// (node_exporter's textfile collector must never read half a file).
pub fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the output names no file"))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".{}.tmp", std::process::id()));
    let temporary = dir.join(temporary_name);
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

#[cfg(test)]
mod tests;
