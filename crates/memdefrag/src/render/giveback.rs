//! A give-back for people.

use std::fmt::Write;

use super::{human_bytes, human_signed};
use crate::giveback::GiveBackReport;

/// A give-back's report (or, with `dry_run`, its plan) for people.
pub fn give_back(r: &GiveBackReport) -> String {
    let mut out = String::new();
    let method = r.method.name();
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
        let took = if r.duration_ms >= 1000.0 {
            format!("{:.1} s", r.duration_ms / 1000.0)
        } else {
            format!("{:.0} ms", r.duration_ms)
        };
        let gained = r.gained_bytes();
        let _ = if gained >= 0 {
            writeln!(
                out,
                "\ngave back {} to the host (free memory in blocks of {block} or more) in {took}",
                human_signed(gained)
            )
        } else {
            writeln!(
                out,
                "\nreportable memory fell by {} in {took}: the guest allocated more meanwhile than \
                 was freed",
                human_bytes(gained.unsigned_abs())
            )
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::giveback::{ColdMethod, MigrateTypeBytes, Step, Stranded};
    use crate::report::Status;

    fn report(before: u64, after: u64) -> GiveBackReport {
        let snapshot = crate::testing::snapshot(4 << 30, 2 << 30, 2 << 30, 1 << 30, 0);
        GiveBackReport {
            dry_run: false,
            method: ColdMethod::Damon,
            method_reason: "DAMON watches physical memory and pages out what is not accessed"
                .into(),
            keep_hot_ms: 30_000,
            reportable_order: 9,
            reportable_before_bytes: before,
            reportable_after_bytes: after,
            steps: vec![Step {
                step: "cold",
                status: Status::Ok,
                duration_ms: 31_500.0,
                kernel_call: "DAMON sysfs".into(),
                error: None,
                counts: vec![("reclaimed_bytes", 512 << 20), ("regions", 2)],
                notes: Vec::new(),
            }],
            stranded: Stranded {
                bytes: 3 << 20,
                by_migrate_type: vec![MigrateTypeBytes {
                    migrate_type: "Unmovable".into(),
                    bytes: 3 << 20,
                }],
            },
            duration_ms: 32_000.0,
            before: snapshot.clone(),
            after: snapshot,
            notes: Vec::new(),
            interrupted: false,
        }
    }

    #[test]
    fn a_give_back_reads_as_what_the_host_got() {
        let text = give_back(&report(1 << 30, 3 << 29));
        for needle in [
            "cold memory: damon (keep what was used within 30s)",
            "  cold      ok           31.5 s  DAMON sysfs",
            "            reclaimed 512.0 MiB, regions 2",
            "  reportable      1.00 GiB     1.50 GiB   +512.0 MiB",
            "gave back +512.0 MiB to the host (free memory in blocks of 2.0 MiB or more) in 32.0 s",
            "stranded 3.0 MiB free in blocks below 2.0 MiB, by pageblock: unmovable 3.0 MiB",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
    }

    #[test]
    fn a_loss_is_not_called_giving_back() {
        let text = give_back(&report(1 << 30, (1 << 30) - (4 << 20)));
        assert!(
            text.contains("reportable memory fell by 4.0 MiB in 32.0 s"),
            "{text}"
        );
        assert!(!text.contains("gave back"), "{text}");
    }
}
