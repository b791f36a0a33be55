//! `memdefrag files` and `memdefrag evict` for people.

use std::fmt::Write as _;

use super::{human_bytes, percent};
use crate::files::{EvictReport, FileError, FilesReport, Stayed};

/// Why pages stayed, in words.
fn stayed(s: &Stayed, flush: bool) -> String {
    let mut reasons = Vec::new();
    if s.dirty_bytes > 0 {
        reasons.push(if flush {
            format!(
                "{} dirty again (written to meanwhile)",
                human_bytes(s.dirty_bytes)
            )
        } else {
            format!(
                "{} dirty (add --flush to write them first)",
                human_bytes(s.dirty_bytes)
            )
        });
    }
    if s.writeback_bytes > 0 {
        reasons.push(format!(
            "{} under writeback",
            human_bytes(s.writeback_bytes)
        ));
    }
    if s.mapped_or_locked_bytes > 0 {
        reasons.push(format!(
            "{} mapped or locked by a process",
            human_bytes(s.mapped_or_locked_bytes)
        ));
    }
    if s.unknown_bytes > 0 {
        reasons.push(format!(
            "{} dirty, mapped or locked (this kernel cannot tell which)",
            human_bytes(s.unknown_bytes)
        ));
    }
    reasons.join("; ")
}

fn errors(out: &mut String, errors: &[FileError]) {
    if errors.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nerrors");
    for e in errors {
        let _ = writeln!(out, "  {}: {}", e.path.display(), e.message);
    }
}

/// `memdefrag files` for people: each file's cached, dirty and total size, most cached first.
pub fn files(r: &FilesReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:>12} {:>8} {:>12} {:>12}  file",
        "cached", "", "dirty", "size"
    );
    for f in &r.files {
        let _ = writeln!(
            out,
            "  {:>12} {:>8} {:>12} {:>12}  {}",
            human_bytes(f.cached_bytes),
            percent(f.cached_bytes.min(f.size_bytes), f.size_bytes),
            human_bytes(f.dirty_bytes),
            human_bytes(f.size_bytes),
            f.path.display()
        );
    }
    let t = &r.total;
    let _ = writeln!(
        out,
        "\n{} files, {} of {} cached ({}); dirty {}, writeback {} (counted with {})",
        t.files,
        human_bytes(t.cached_bytes),
        human_bytes(t.size_bytes),
        percent(t.cached_bytes.min(t.size_bytes), t.size_bytes),
        human_bytes(t.dirty_bytes),
        human_bytes(t.writeback_bytes),
        r.source
    );
    errors(&mut out, &r.errors);
    out
}

/// `memdefrag evict` for people: each file's cache before and after, and why pages stayed.
pub fn evict(r: &EvictReport) -> String {
    let mut out = String::new();
    if r.dry_run {
        out.push_str("dry run: nothing was dropped\n\n");
    }
    let _ = writeln!(out, "  {:>12} {:>12}  file", "before", "after");
    let size = |bytes: Option<u64>| bytes.map_or_else(|| "?".to_owned(), human_bytes);
    for f in &r.files {
        let _ = writeln!(
            out,
            "  {:>12} {:>12}  {}",
            size(f.cached_before_bytes),
            size(f.cached_after_bytes),
            f.path.display()
        );
        if let Some(why) = &f.unmeasured {
            let _ = writeln!(out, "  {:>12} {:>12}  not measured: {why}", "", "");
        }
        if let Some(why) = &f.stayed {
            let _ = writeln!(
                out,
                "  {:>12} {:>12}  stayed: {}",
                "",
                "",
                stayed(why, r.flush)
            );
        }
    }
    let t = &r.total;
    let unmeasured = if t.unmeasured > 0 {
        format!(" ({} not measured)", t.unmeasured)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\n{} files{unmeasured}: cached {} before, {} after{}",
        t.files,
        human_bytes(t.cached_before_bytes),
        human_bytes(t.cached_after_bytes),
        if r.flush {
            " (dirty pages written first)"
        } else {
            ""
        }
    );
    errors(&mut out, &r.errors);
    out
}
