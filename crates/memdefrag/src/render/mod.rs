//! Reports for people and for programs.
//!
//! For people: [`status`], [`ops`], [`dry_run`], [`report`], [`files`], [`evict`] (tables with
//! sizes in MiB/GiB) and [`watch_event`] (one line per action). For programs: [`json`], the JSON contract of every
//! report type. The model they render is in [`crate::report`], [`crate::snapshot`] and
//! [`crate::watch`].

mod event;
mod files;
mod giveback;
mod ops;
mod run;
mod status;
mod wsl;

pub use self::event::watch_event;
pub use self::files::{evict, files};
pub use self::giveback::give_back;
pub use self::ops::ops;
pub use self::run::{dry_run, report};
pub use self::status::status;
pub use self::wsl::{wsl_give_back, wsl_status};

use serde::Serialize;

/// Pretty JSON of any report type, newline-terminated.
pub fn json<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs cannot fail: every map key is a string.
    let mut s = serde_json::to_string_pretty(value).expect("report serializes");
    s.push('\n');
    s
}

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = MIB * 1024.0;

/// A byte count for people: GiB from 1 GiB up, MiB below.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.2} GiB", b / GIB)
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

/// A signed byte count for people, with its sign.
fn human_signed(bytes: i64) -> String {
    let sign = if bytes < 0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(bytes.unsigned_abs()))
}

/// `part` as a percentage of `whole`, or "-" when there is no whole.
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.1} %", part as f64 * 100.0 / whole as f64)
}

/// `s` without trailing spaces on any line, ending with one newline.
fn trim_line_ends(s: &str) -> String {
    let mut out: String = s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests;

/// The word for how an operation or step ended, in a report's table.
fn status_word(status: crate::report::Status) -> &'static str {
    use crate::report::Status;
    match status {
        Status::Ok => "ok",
        Status::Failed => "FAILED",
        Status::Skipped => "skipped",
        Status::Interrupted => "INTERRUPTED",
    }
}

/// A before/after/change table of byte figures, its names `width` wide.
fn change_table(out: &mut String, width: usize, rows: &[(&str, u64, u64)]) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "\n  {:<width$} {:>12} {:>12} {:>12}",
        "", "before", "after", "change"
    );
    for &(name, before, after) in rows {
        let _ = writeln!(
            out,
            "  {name:<width$} {:>12} {:>12} {:>12}",
            human_bytes(before),
            human_bytes(after),
            human_signed(after as i64 - before as i64)
        );
    }
}
