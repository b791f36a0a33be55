//! A run for people: what a dry run would do, and what a run did.

use std::fmt::Write as _;

use super::{human_bytes, human_signed};
use crate::report::{DryRun, Report, Status};

/// `--dry-run` for people.
pub fn dry_run(d: &DryRun) -> String {
    let mut out = String::from("dry run: nothing will be changed\n\n");
    for (i, p) in d.operations.iter().enumerate() {
        let estimate = match p.estimated_bytes {
            Some(0) => "frees nothing by itself".to_owned(),
            Some(b) => format!("would free ~{}", human_bytes(b)),
            None => "frees an unknown amount".into(),
        };
        let _ = writeln!(out, "  {}. {:<19} {estimate}", i + 1, p.op);
        if let Some(note) = &p.note {
            let _ = writeln!(out, "     {note}");
        }
        let _ = writeln!(out, "     call: {}", p.kernel_call);
        let held = if p.privileged { "held" } else { "NOT held" };
        let _ = writeln!(out, "     privilege: {} [{held}]", p.privilege);
    }
    let _ = writeln!(
        out,
        "\nwould free ~{} in all (free now {}, cache {}, modified {})",
        human_bytes(d.estimated_bytes),
        human_bytes(d.before.free_bytes),
        human_bytes(d.before.cache_bytes),
        human_bytes(d.before.modified_bytes)
    );
    out
}

/// The processes that moved most, ten at most (JSON lists them all).
fn trimmed(out: &mut String, processes: &[crate::backend::TrimmedProcess]) {
    const SHOWN: usize = 10;
    let mut by_moved: Vec<_> = processes.iter().collect();
    by_moved.sort_by_key(|p| {
        std::cmp::Reverse(
            p.resident_before_bytes
                .saturating_sub(p.resident_after_bytes),
        )
    });
    for p in by_moved.iter().take(SHOWN) {
        let _ = writeln!(
            out,
            "  {:<19} {:>7} {:<16} {:>12} -> {}",
            "",
            p.pid,
            p.name,
            human_bytes(p.resident_before_bytes),
            human_bytes(p.resident_after_bytes)
        );
    }
    if processes.len() > SHOWN {
        let _ = writeln!(out, "  {:<19} and {} more", "", processes.len() - SHOWN);
    }
}

/// A run's report for people.
pub fn report(r: &Report) -> String {
    let mut out = String::new();
    for o in &r.operations {
        let status = super::status_word(o.status);
        let time = if o.status == Status::Skipped {
            String::new()
        } else {
            format!("{:.1} ms", o.duration_ms)
        };
        let _ = write!(
            out,
            "  {:<19} {status:<8} {time:>10}  {}",
            o.op, o.kernel_call
        );
        out.push('\n');
        if !o.counts.is_empty() {
            let counts: Vec<String> = o.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "  {:<19} {}", "", counts.join(", "));
        }
        for note in &o.notes {
            let _ = writeln!(out, "  {:<19} note: {note}", "");
        }
        trimmed(&mut out, &o.processes);
        if let Some(e) = &o.error {
            let _ = writeln!(out, "  {:<19} error: {e}", "");
        }
    }
    super::change_table(
        &mut out,
        10,
        &[
            ("free", r.before.free_bytes, r.after.free_bytes),
            (
                "available",
                r.before.available_bytes,
                r.after.available_bytes,
            ),
            ("cache", r.before.cache_bytes, r.after.cache_bytes),
            ("modified", r.before.modified_bytes, r.after.modified_bytes),
        ],
    );
    if let (Some(b), Some(a)) = (&r.before.fragmentation, &r.after.fragmentation) {
        let _ = writeln!(
            out,
            "  {:<10} {:>11.1}% {:>11.1}%   (unusable free space for {} blocks)",
            "fragment.",
            b.unusable_index_order9 * 100.0,
            a.unusable_index_order9 * 100.0,
            human_bytes(b.page_size << 9)
        );
    }
    let _ = writeln!(out, "\nfreed {}", human_signed(r.freed_bytes));
    if r.interrupted {
        let _ = writeln!(out, "interrupted: the operations after it were not run");
    }
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}
