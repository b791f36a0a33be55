//! `memdefrag status` for people: the headline figures, the platform's detail and the free
//! blocks by order.

use std::fmt::Write as _;

use super::{human_bytes, percent, trim_line_ends};
use crate::snapshot::{Detail, Snapshot, WindowsMemory};

/// `memdefrag status` for people.
pub fn status(s: &Snapshot) -> String {
    let mut out = String::new();
    let rows: [(&str, u64, &str); 5] = [
        ("total", s.total_bytes, ""),
        (
            "available",
            s.available_bytes,
            "usable now without swapping",
        ),
        ("free", s.free_bytes, "holds nothing"),
        ("cache", s.cache_bytes, cache_hint(s)),
        ("modified", s.modified_bytes, modified_hint(s)),
    ];
    let _ = writeln!(out, "memory ({})", s.platform);
    for (name, bytes, hint) in rows {
        let share = if name == "total" {
            String::new()
        } else {
            percent(bytes, s.total_bytes)
        };
        let _ = writeln!(
            out,
            "  {name:<10} {:>12} {share:>8}  {hint}",
            human_bytes(bytes)
        );
    }
    match &s.detail {
        Detail::Linux(m) => {
            let _ = writeln!(
                out,
                "  {:<10} {:>12} {:>8}  dentries and inodes (SReclaimable)",
                "slab",
                human_bytes(m.slab_reclaimable),
                percent(m.slab_reclaimable, s.total_bytes)
            );
        }
        Detail::Windows(w) => {
            let _ = writeln!(
                out,
                "  {:<10} {:>12} {:>8}  of {} limit",
                "commit",
                human_bytes(w.commit_total_bytes),
                percent(w.commit_total_bytes, w.commit_limit_bytes),
                human_bytes(w.commit_limit_bytes)
            );
            if let Some(fc) = w.file_cache_bytes {
                let _ = writeln!(
                    out,
                    "  {:<10} {:>12} {:>8}  system file cache working set",
                    "file cache",
                    human_bytes(fc),
                    percent(fc, s.total_bytes)
                );
            }
            windows_lists(&mut out, w, s.total_bytes);
        }
        Detail::HeadlineOnly {} => {}
    }
    if let Some(r) = &s.reportable_free {
        let _ = writeln!(
            out,
            "  {:<10} {:>12} {:>8}  free in blocks of order {} or more: the hypervisor can take it back",
            "reportable",
            human_bytes(r.bytes),
            percent(r.bytes, s.total_bytes),
            r.order
        );
    }
    if let Some(p) = &s.pressure {
        let _ = writeln!(
            out,
            "  {:<10} {:>11.2}% {:>7.2}%  of the last 10 s some / all tasks stalled on memory",
            "pressure", p.some_avg10, p.full_avg10
        );
    }
    if let Some(f) = &s.fragmentation {
        let orders = f.orders();
        let _ = writeln!(
            out,
            "\nfragmentation: {:.1} % of free memory is unusable for {} blocks (order 9)",
            f.unusable_index_order9 * 100.0,
            human_bytes(f.page_size << 9)
        );
        let _ = write!(out, "  {:<21}", "free blocks by order");
        for order in 0..orders {
            let _ = write!(out, "{order:>7}");
        }
        out.push('\n');
        for z in &f.zones {
            let label = format!("node {} {}", z.node, z.zone);
            let _ = write!(out, "  {label:<21}");
            for n in &z.free_blocks {
                let _ = write!(out, "{n:>7}");
            }
            out.push('\n');
        }
    }
    trim_line_ends(&out)
}

fn cache_hint(s: &Snapshot) -> &'static str {
    match &s.detail {
        Detail::Linux(_) => "page cache without shmem",
        Detail::Windows(w) if w.memory_lists.is_none() => "system cache (estimate)",
        Detail::Windows(_) | Detail::HeadlineOnly {} => "standby lists",
    }
}

fn modified_hint(s: &Snapshot) -> &'static str {
    match &s.detail {
        Detail::Linux(_) => "dirty + writeback",
        Detail::Windows(w) if w.memory_lists.is_none() => "unknown without the list query",
        Detail::Windows(_) | Detail::HeadlineOnly {} => "modified list",
    }
}

/// The Windows memory lists, or why they are missing.
fn windows_lists(out: &mut String, w: &WindowsMemory, total: u64) {
    let Some(l) = &w.memory_lists else {
        let why = w.memory_lists_error.as_deref().unwrap_or("unknown error");
        let _ = writeln!(out, "\nmemory lists unavailable: {why}");
        let _ = writeln!(
            out,
            "  free and cache are estimated from the documented API (GlobalMemoryStatusEx, GetPerformanceInfo)"
        );
        return;
    };
    let _ = writeln!(out, "\nmemory lists");
    let mut row = |name: &str, bytes: u64| {
        let _ = writeln!(
            out,
            "  {name:<18} {:>12} {:>8}",
            human_bytes(bytes),
            percent(bytes, total)
        );
    };
    row("zeroed", l.zeroed_bytes);
    row("free", l.free_bytes);
    row("modified", l.modified_bytes);
    row("modified no-write", l.modified_no_write_bytes);
    row("modified pagefile", l.modified_page_file_bytes);
    row("bad", l.bad_bytes);
    for (priority, &bytes) in l.standby_bytes_by_priority.iter().enumerate() {
        row(&format!("standby priority {priority}"), bytes);
    }
}
