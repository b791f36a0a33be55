//! What a run did, and its rendering for people (tables in MiB/GiB) and for programs (JSON).

use std::fmt::Write as _;

use serde::{Serialize, Serializer};

use crate::backend::{OpInfo, OsError};
use crate::op::Op;
use crate::snapshot::{Detail, Snapshot, WindowsMemory};

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    /// Not run, because an operation before it failed.
    Skipped,
}

/// One operation of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpResult {
    pub op: Op,
    pub status: Status,
    pub duration_ms: f64,
    pub kernel_call: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OsError>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_map")]
    pub counts: Vec<(&'static str, u64)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl OpResult {
    pub(crate) fn skipped(op: Op, kernel_call: String) -> OpResult {
        OpResult {
            op,
            status: Status::Skipped,
            duration_ms: 0.0,
            kernel_call,
            error: None,
            counts: Vec::new(),
            notes: Vec::new(),
        }
    }
}

fn as_map<S: Serializer>(counts: &[(&'static str, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(counts.iter().map(|&(k, v)| (k, v)))
}

/// The result of running a plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub operations: Vec<OpResult>,
    pub before: Snapshot,
    pub after: Snapshot,
    /// Free memory after minus before; negative when other work took memory meanwhile.
    pub freed_bytes: i64,
    /// Remarks on the run as a whole (e.g. the state after it could not be read).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Report {
    pub(crate) fn new(operations: Vec<OpResult>, before: Snapshot, after: Snapshot) -> Report {
        let freed_bytes = after.free_bytes as i64 - before.free_bytes as i64;
        Report {
            operations,
            before,
            after,
            freed_bytes,
            notes: Vec::new(),
        }
    }

    /// The operation that failed, if one did.
    pub fn failure(&self) -> Option<(Op, &OsError)> {
        self.operations
            .iter()
            .find_map(|o| Some((o.op, o.error.as_ref()?)))
    }

    /// Whether an operation failed.
    pub fn failed(&self) -> bool {
        self.failure().is_some()
    }

    /// The process exit code for this run: 0, 1 when an operation failed, or 77 when the system
    /// refused it for lack of privilege.
    pub fn exit_code(&self) -> i32 {
        match self.failure() {
            None => crate::exit::OK,
            Some((_, e)) if e.not_privileged => crate::exit::NOT_PRIVILEGED,
            Some(_) => crate::exit::FAILED,
        }
    }
}

/// One operation of a dry run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedOp {
    pub op: Op,
    pub kernel_call: String,
    pub privilege: String,
    /// Whether this process holds that privilege now.
    pub privileged: bool,
    /// What the operation would release, estimated from the current state; null when unknown.
    pub estimated_bytes: Option<u64>,
}

/// What a plan would do, without doing it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DryRun {
    pub dry_run: bool,
    pub operations: Vec<PlannedOp>,
    pub before: Snapshot,
    /// The sum of the known estimates.
    pub estimated_bytes: u64,
}

impl DryRun {
    pub(crate) fn new(operations: Vec<PlannedOp>, before: Snapshot) -> DryRun {
        let estimated_bytes = operations.iter().filter_map(|o| o.estimated_bytes).sum();
        DryRun {
            dry_run: true,
            operations,
            before,
            estimated_bytes,
        }
    }
}

/// Pretty JSON of any report type, newline-terminated.
pub fn to_json<T: Serialize>(value: &T) -> String {
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

fn human_signed(bytes: i64) -> String {
    let sign = if bytes < 0 { "-" } else { "+" };
    format!("{sign}{}", human_bytes(bytes.unsigned_abs()))
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.1} %", part as f64 * 100.0 / whole as f64)
}

/// `memdefrag status` for people.
pub fn render_status(s: &Snapshot) -> String {
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
            render_windows_lists(&mut out, w, s.total_bytes);
        }
        Detail::None {} => {}
    }
    if let Some(f) = &s.fragmentation {
        let orders = f
            .zones
            .iter()
            .map(|z| z.free_blocks.len())
            .max()
            .unwrap_or(0);
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
    trim_line_ends(out)
}

fn cache_hint(s: &Snapshot) -> &'static str {
    match &s.detail {
        Detail::Linux(_) => "page cache without shmem",
        Detail::Windows(w) if w.memory_lists.is_none() => "system cache (estimate)",
        Detail::Windows(_) | Detail::None {} => "standby lists",
    }
}

fn modified_hint(s: &Snapshot) -> &'static str {
    match &s.detail {
        Detail::Linux(_) => "dirty + writeback",
        Detail::Windows(w) if w.memory_lists.is_none() => "unknown without the list query",
        Detail::Windows(_) | Detail::None {} => "modified list",
    }
}

/// The Windows memory lists, or why they are missing.
fn render_windows_lists(out: &mut String, w: &WindowsMemory, total: u64) {
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

/// `memdefrag ops` for people.
pub fn render_ops(platform: &str, infos: &[OpInfo]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "operations on {platform} (canonical order)");
    for info in infos {
        let state = match info.unsupported_reason() {
            None => "supported".to_string(),
            Some(reason) => format!("unsupported: {reason}"),
        };
        let _ = writeln!(out, "\n  {:<19} {}", info.op, info.op.summary());
        let _ = writeln!(out, "  {:<19} {state}", "");
        let _ = writeln!(out, "  {:<19} call: {}", "", info.kernel_call);
        let _ = writeln!(out, "  {:<19} privilege: {}", "", info.privilege);
    }
    out
}

/// `--dry-run` for people.
pub fn render_dry_run(d: &DryRun) -> String {
    let mut out = String::from("dry run: nothing will be changed\n\n");
    for (i, p) in d.operations.iter().enumerate() {
        let estimate = match p.estimated_bytes {
            Some(b) => format!("would release ~{}", human_bytes(b)),
            None => "release unknown".into(),
        };
        let _ = writeln!(out, "  {}. {:<19} {estimate}", i + 1, p.op);
        let _ = writeln!(out, "     call: {}", p.kernel_call);
        let held = if p.privileged { "held" } else { "NOT held" };
        let _ = writeln!(out, "     privilege: {} [{held}]", p.privilege);
    }
    let _ = writeln!(
        out,
        "\nestimated total: ~{} (free now {}, cache {}, modified {})",
        human_bytes(d.estimated_bytes),
        human_bytes(d.before.free_bytes),
        human_bytes(d.before.cache_bytes),
        human_bytes(d.before.modified_bytes)
    );
    out
}

/// A run's report for people.
pub fn render_report(r: &Report) -> String {
    let mut out = String::new();
    for o in &r.operations {
        let status = match o.status {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
        };
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
        if let Some(e) = &o.error {
            let _ = writeln!(out, "  {:<19} error: {e}", "");
        }
    }
    let _ = writeln!(
        out,
        "\n  {:<10} {:>12} {:>12} {:>12}",
        "", "before", "after", "change"
    );
    let rows = [
        ("free", r.before.free_bytes, r.after.free_bytes),
        (
            "available",
            r.before.available_bytes,
            r.after.available_bytes,
        ),
        ("cache", r.before.cache_bytes, r.after.cache_bytes),
        ("modified", r.before.modified_bytes, r.after.modified_bytes),
    ];
    for (name, before, after) in rows {
        let _ = writeln!(
            out,
            "  {name:<10} {:>12} {:>12} {:>12}",
            human_bytes(before),
            human_bytes(after),
            human_signed(after as i64 - before as i64)
        );
    }
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
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

fn trim_line_ends(s: String) -> String {
    let mut out: String = s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Fragmentation, LinuxMemory, ZoneFreeBlocks};

    fn snapshot(free: u64) -> Snapshot {
        Snapshot {
            platform: "linux",
            total_bytes: 24 << 30,
            available_bytes: 20 << 30,
            free_bytes: free,
            cache_bytes: 3 << 30,
            modified_bytes: 5 << 20,
            fragmentation: Some(Fragmentation::new(
                4096,
                vec![ZoneFreeBlocks {
                    node: 0,
                    zone: "Normal".into(),
                    free_blocks: vec![512, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
                }],
            )),
            detail: Detail::Linux(LinuxMemory::default()),
        }
    }

    #[test]
    fn human_bytes_picks_the_unit() {
        assert_eq!(human_bytes(0), "0.0 MiB");
        assert_eq!(human_bytes(512 << 20), "512.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.00 GiB");
        assert_eq!(human_signed(-(1 << 20)), "-1.0 MiB");
    }

    #[test]
    fn status_table_shows_every_headline_and_the_buddy_rows() {
        let text = render_status(&snapshot(10 << 30));
        for needle in [
            "total",
            "24.00 GiB",
            "available",
            "free",
            "10.00 GiB",
            "cache",
            "modified",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
        assert!(
            text.contains("50.0 % of free memory is unusable for 2.0 MiB blocks"),
            "{text}"
        );
        assert!(text.contains("node 0 Normal"), "{text}");
    }

    #[test]
    fn report_json_has_the_contract_keys() {
        let mut failed = OpResult::skipped(Op::Standby, "x".into());
        failed.status = Status::Failed;
        failed.error = Some(OsError::new(
            13,
            "write /proc/sys/vm/drop_caches: Permission denied",
        ));
        failed.counts = vec![("processes", 2)];
        let r = Report::new(vec![failed], snapshot(1 << 30), snapshot(1 << 29));
        let v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
        assert_eq!(v["freed_bytes"], -(1i64 << 29));
        let op = &v["operations"][0];
        assert_eq!(op["op"], "standby");
        assert_eq!(op["status"], "failed");
        assert_eq!(op["error"]["code"], 13);
        assert_eq!(op["counts"]["processes"], 2);
        assert!(op["duration_ms"].is_number());
        assert!(
            op["error"].get("ntstatus").is_none(),
            "Linux errors have no NTSTATUS"
        );
        assert!(
            op["error"].get("not_privileged").is_none(),
            "shown only when true"
        );
        for key in [
            "total_bytes",
            "available_bytes",
            "free_bytes",
            "cache_bytes",
            "modified_bytes",
        ] {
            assert!(v["before"][key].is_u64(), "{key}");
            assert!(v["after"][key].is_u64(), "{key}");
        }
        assert_eq!(v["before"]["platform"], "linux");
        assert_eq!(v["before"]["fragmentation"]["unusable_index_order9"], 0.5);
        let text = render_report(&r);
        assert!(
            text.contains("FAILED") && text.contains("Permission denied"),
            "{text}"
        );
        assert!(text.contains("freed -512.0 MiB"), "{text}");
    }
}
