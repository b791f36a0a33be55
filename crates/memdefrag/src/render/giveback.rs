//! A give-back for people.

use std::fmt::Write;

use super::{human_bytes, human_signed};
use crate::giveback::{ColdMethod, GiveBackReport};

/// A give-back's report (or, with `dry_run`, its plan) for people.
pub fn give_back(r: &GiveBackReport) -> String {
    let mut out = String::new();
    let method = match r.method {
        ColdMethod::Damon => "damon",
        ColdMethod::ReclaimSteps => "reclaim-steps",
        ColdMethod::None => "none",
    };
    let keep_hot = humantime::format_duration(std::time::Duration::from_millis(r.keep_hot_ms));
    let _ = writeln!(
        out,
        "cold memory: {method} (keep what was used within {keep_hot})"
    );
    let _ = writeln!(out, "  {}", r.method_reason);
    let page = r
        .before
        .fragmentation
        .as_ref()
        .map_or(4096, |f| f.page_size);
    let block = human_bytes(page << r.reportable_order);
    if r.dry_run {
        let _ = writeln!(
            out,
            "\ndry run: nothing was changed. It would reclaim cold memory, then compact.\n\
             reportable now {} (free in blocks of order {} or more, which the host takes back)",
            human_bytes(r.reportable_before_bytes),
            r.reportable_order
        );
    } else {
        let _ = writeln!(out);
        for s in &r.steps {
            let status = super::status_word(s.status);
            let time = if s.duration_ms >= 1000.0 {
                format!("{:.1} s", s.duration_ms / 1000.0)
            } else {
                format!("{:.1} ms", s.duration_ms)
            };
            let _ = writeln!(
                out,
                "  {:<9} {status:<8} {time:>10}  {}",
                s.step, s.kernel_call
            );
            if !s.counts.is_empty() {
                let counts: Vec<String> = s
                    .counts
                    .iter()
                    .map(|&(k, v)| match k.strip_suffix("_bytes") {
                        Some(name) => format!("{name} {}", human_bytes(v)),
                        None => format!("{k} {v}"),
                    })
                    .collect();
                let _ = writeln!(out, "  {:<9} {}", "", counts.join(", "));
            }
            for note in &s.notes {
                let _ = writeln!(out, "  {:<9} note: {note}", "");
            }
            if let Some(e) = &s.error {
                let _ = writeln!(out, "  {:<9} error: {e}", "");
            }
        }
        super::change_table(
            &mut out,
            11,
            &[
                (
                    "reportable",
                    r.reportable_before_bytes,
                    r.reportable_after_bytes,
                ),
                ("free", r.before.free_bytes, r.after.free_bytes),
                ("cache", r.before.cache_bytes, r.after.cache_bytes),
            ],
        );
        let _ = writeln!(
            out,
            "\ngave back {} to the host (free memory in blocks of {block} or more) in {:.1} s",
            human_signed(r.gained_bytes()),
            r.duration_ms / 1000.0
        );
    }
    if r.stranded.bytes > 0 {
        let parts: Vec<String> = r
            .stranded
            .by_migrate_type
            .iter()
            .map(|m| format!("{} {}", m.migrate_type.to_lowercase(), human_bytes(m.bytes)))
            .collect();
        let _ = writeln!(
            out,
            "stranded {} free in blocks below {block}, by pageblock: {} (compaction moves only \
             movable pages, so free memory among unmovable and reclaimable ones stays)",
            human_bytes(r.stranded.bytes),
            parts.join(", ")
        );
    }
    if r.interrupted {
        let _ = writeln!(out, "interrupted: the steps after it were not run");
    }
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}
