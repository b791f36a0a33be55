//! Whole-output tests: each human rendering of fixed reports is compared with a golden file in
//! `tests/golden/`, so that any change to what a person reads shows in review. After a deliberate
//! change, `MEMDEFRAG_BLESS=1 cargo test -p memdefrag render` rewrites the files.

use super::*;
use crate::backend::ColdMethod;
use crate::backend::{OpInfo, OsError, Support};
use crate::op::Op;
use crate::report::{DryRun, OpResult, PlannedOp, Report, Status};
use crate::snapshot::{
    Detail, Fragmentation, LinuxMemory, MemoryLists, Snapshot, Sources, WindowsMemory,
    ZoneFreeBlocks,
};
use crate::watch::{Event, Fired, GivenBack};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Compares `actual` with the golden file `name`, read at build time (so that it works under
/// Wine too); with MEMDEFRAG_BLESS=1 it writes the file instead.
#[track_caller]
fn golden(name: &str, expected: &str, actual: &str) {
    if std::env::var_os("MEMDEFRAG_BLESS").is_some() {
        let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("write {path}: {e}"));
        return;
    }
    if expected != actual {
        panic!(
            "{name} differs from the golden file; if the change is meant, rerun with \
             MEMDEFRAG_BLESS=1.\n--- expected\n{expected}\n--- actual\n{actual}"
        );
    }
}

macro_rules! golden {
    ($name:literal, $actual:expr) => {
        golden(
            $name,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/", $name)),
            &$actual,
        )
    };
}

/// A Linux machine with 24 GiB, half of its free memory in single pages.
fn linux(free: u64, cache: u64) -> Snapshot {
    Snapshot {
        platform: "linux",
        total_bytes: 24 * GIB,
        available_bytes: 20 * GIB,
        free_bytes: free,
        cache_bytes: cache,
        modified_bytes: 5 * MIB,
        fragmentation: Some(Fragmentation::new(
            4096,
            vec![
                ZoneFreeBlocks {
                    node: 0,
                    zone: "DMA32".into(),
                    free_blocks: vec![12, 8, 4, 2, 1, 0, 0, 0, 0, 0, 0],
                },
                ZoneFreeBlocks {
                    node: 0,
                    zone: "Normal".into(),
                    free_blocks: vec![512, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
                },
            ],
        )),
        pressure: None,
        reportable_free: None,
        detail: Detail::Linux(LinuxMemory {
            slab_reclaimable: 300 * MIB,
            ..LinuxMemory::default()
        }),
    }
}

/// A Windows machine with 16 GiB; with or without the memory-list query.
fn windows(with_lists: bool) -> Snapshot {
    let lists = with_lists.then_some(MemoryLists {
        zeroed_bytes: GIB,
        free_bytes: 512 * MIB,
        modified_bytes: 200 * MIB,
        modified_no_write_bytes: 0,
        modified_page_file_bytes: 150 * MIB,
        bad_bytes: 0,
        standby_bytes_by_priority: [100 * MIB, 0, 20 * MIB, 0, 0, 3 * GIB, GIB, 300 * MIB],
        repurposed_pages_by_priority: [0; 8],
    });
    let (free, cache, modified) = match &lists {
        Some(l) => (
            l.zeroed_bytes + l.free_bytes,
            l.standby_bytes(),
            l.modified_bytes,
        ),
        None => (4 * GIB, 5 * GIB, 0),
    };
    Snapshot {
        platform: "windows",
        total_bytes: 16 * GIB,
        available_bytes: 9 * GIB,
        free_bytes: free,
        cache_bytes: cache,
        modified_bytes: modified,
        fragmentation: None,
        pressure: None,
        reportable_free: None,
        detail: Detail::Windows(Box::new(WindowsMemory {
            page_size: 4096,
            memory_lists_error: (!with_lists).then(|| {
                "NtQuerySystemInformation(SystemMemoryListInformation) failed with NTSTATUS \
                 0xC0000061: A required privilege is not held by the client. (error 1314)"
                    .to_owned()
            }),
            memory_lists: lists,
            commit_total_bytes: 6 * GIB,
            commit_limit_bytes: 20 * GIB,
            system_cache_bytes: 6 * GIB,
            file_cache_bytes: with_lists.then_some(700 * MIB),
            sources: Sources::default(),
        })),
    }
}

fn op_result(op: Op, status: Status, duration_ms: f64) -> OpResult {
    OpResult {
        op,
        status,
        duration_ms,
        kernel_call: format!("call {op}"),
        error: None,
        counts: Vec::new(),
        notes: Vec::new(),
        processes: Vec::new(),
    }
}

/// A run whose third operation failed, with counts and notes.
fn failed_report() -> Report {
    let mut pageout = op_result(Op::WorkingSets, Status::Ok, 812.25);
    pageout.counts = vec![("processes", 143), ("refused", 2)];
    pageout.notes = vec!["2 processes refused process_madvise".into()];
    pageout.processes = (1..=12)
        .map(|n| crate::backend::TrimmedProcess {
            pid: 1000 + n,
            name: format!("worker{n}"),
            resident_before_bytes: u64::from(n) * 100 * MIB,
            resident_after_bytes: u64::from(n) * 10 * MIB,
        })
        .collect();
    let mut standby = op_result(Op::Standby, Status::Failed, 0.5);
    standby.error = Some(OsError::new(
        13,
        "write \"1\" to /proc/sys/vm/drop_caches: Permission denied",
    ));
    let mut report = Report::new(
        vec![
            pageout,
            op_result(Op::Modified, Status::Ok, 3.0),
            standby,
            op_result(Op::Compact, Status::Skipped, 0.0),
        ],
        linux(2 * GIB, 6 * GIB),
        linux(2 * GIB + 700 * MIB, 5 * GIB),
    );
    report.notes = vec!["a remark on the whole run".into()];
    report
}

#[test]
fn status_linux() {
    golden!("status-linux.txt", status(&linux(10 * GIB, 3 * GIB)));
}

#[test]
fn status_windows_with_the_memory_lists() {
    golden!("status-windows.txt", status(&windows(true)));
}

#[test]
fn status_windows_without_the_memory_lists() {
    golden!("status-windows-fallback.txt", status(&windows(false)));
}

#[test]
fn status_elsewhere() {
    let s = crate::testing::snapshot(8 * GIB, 6 * GIB, 4 * GIB, GIB, 0);
    golden!("status-headline-only.txt", status(&s));
}

#[test]
fn ops_list() {
    let infos = [
        OpInfo {
            op: Op::Standby,
            support: Support::Yes,
            kernel_call: "write \"1\" to /proc/sys/vm/drop_caches".into(),
            privilege: "root (write access to /proc/sys/vm/drop_caches)".into(),
        },
        OpInfo {
            op: Op::Registry,
            support: Support::No {
                reason: "Linux has no registry".into(),
            },
            kernel_call: "none on Linux".into(),
            privilege: "-".into(),
        },
    ];
    golden!("ops.txt", ops("linux", &infos));
}

#[test]
fn a_dry_run() {
    let planned = |op: Op, privileged, estimated_bytes, note: Option<&str>| PlannedOp {
        op,
        kernel_call: format!("call {op}"),
        privilege: "root".into(),
        privileged,
        estimated_bytes,
        note: note.map(str::to_owned),
    };
    let dry = DryRun::new(
        vec![
            planned(
                Op::Modified,
                true,
                Some(0),
                Some("writes 5.0 MiB of dirty pages back to disk; they stay cached"),
            ),
            planned(Op::Standby, false, Some(3 * GIB), None),
            planned(Op::Combine, true, None, None),
        ],
        linux(10 * GIB, 3 * GIB),
    );
    golden!("dry-run.txt", dry_run(&dry));
}

#[test]
fn a_report_with_a_failure() {
    golden!("report-failed.txt", report(&failed_report()));
}

#[test]
fn a_report_as_json() {
    golden!("report-failed.json", json(&failed_report()));
}

#[test]
fn watch_event_lines() {
    let event = |fired, dry_run, freed_bytes, error: Option<OsError>| Event {
        time: "2026-11-26T14:00:00Z".into(),
        fired,
        ops: vec![Op::Modified, Op::Standby],
        dry_run,
        status: if error.is_some() {
            Status::Failed
        } else {
            Status::Ok
        },
        duration_ms: 12.345,
        freed_bytes,
        cooldown_ms: 60_000,
        give_back: None,
        error,
    };
    let pressure = Fired::Pressure {
        standby_bytes: 3 * GIB,
        free_bytes: GIB / 2,
        standby_above_bytes: Some(2 * GIB),
        free_below_bytes: Some(GIB),
    };
    let usage = Fired::Usage {
        usage_percent: 91.25,
        usage_above_percent: 90.0,
    };
    let lines = [
        event(pressure, false, (1200 * MIB) as i64, None),
        event(usage.clone(), false, -(3 * MIB as i64), None),
        event(usage, true, (2 * GIB) as i64, None),
        event(
            Fired::Every { every_ms: 600_000 },
            false,
            0,
            Some(OsError::new(5, "refused")),
        ),
    ]
    .iter()
    .map(|e| watch_event(e) + "\n")
    .collect::<String>();
    golden!("watch-events.txt", lines);

    let idle = Fired::Idle {
        busy_percent: 3.21,
        idle_below_percent: 10.0,
        window_ms: 60_000,
    };
    let give_back = |dry_run, given_back_bytes: i64, error: Option<OsError>| Event {
        ops: Vec::new(),
        duration_ms: 34_120.0,
        give_back: Some(GivenBack {
            method: ColdMethod::Damon,
            reportable_before_bytes: GIB,
            reportable_after_bytes: (GIB as i64 + given_back_bytes) as u64,
            given_back_bytes,
        }),
        ..event(idle.clone(), dry_run, 0, error)
    };
    let lines = [
        give_back(false, (312 * MIB) as i64, None),
        give_back(false, -(2 * MIB as i64), None),
        give_back(true, 0, None),
        give_back(
            false,
            0,
            Some(OsError::other("write \"on\" to state: busy")),
        ),
    ]
    .iter()
    .map(|e| watch_event(e) + "\n")
    .collect::<String>();
    golden!("watch-give-back-events.txt", lines);
}

#[test]
fn human_bytes_picks_the_unit() {
    assert_eq!(human_bytes(0), "0.0 MiB");
    assert_eq!(human_bytes(512 << 20), "512.0 MiB");
    assert_eq!(human_bytes(3 << 30), "3.00 GiB");
    assert_eq!(human_signed(-(1 << 20)), "-1.0 MiB");
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
    let r = Report::new(vec![failed], linux(GIB, GIB), linux(GIB / 2, GIB));
    let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
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
    assert!(v["before"]["fragmentation"]["unusable_index_order9"].is_f64());
}

#[test]
fn an_error_without_an_os_code_says_so() {
    let err = OsError::other("cgroup v2 is not mounted");
    assert_eq!(err.to_string(), "cgroup v2 is not mounted");
    let v = serde_json::to_value(&err).unwrap();
    assert!(v["code"].is_null(), "{v}");
    let mut nt = OsError::new(87, "NtSetSystemInformation: The parameter is incorrect.");
    nt.ntstatus = Some("0xC0000003".into());
    assert_eq!(
        nt.to_string(),
        "NtSetSystemInformation: The parameter is incorrect. (os error 87, NTSTATUS 0xC0000003)"
    );
}

#[test]
fn files_and_evict() {
    use crate::files::{
        EvictReport, EvictTotals, Evicted, FileCache, FileError, FilesReport, Stayed, Totals,
    };
    let cache = |path: &str, size, cached, dirty| FileCache {
        path: path.into(),
        size_bytes: size,
        cached_bytes: cached,
        dirty_bytes: dirty,
        writeback_bytes: 0,
    };
    let report = FilesReport {
        files: vec![
            cache("/data/big.db", 2 * GIB, GIB, 8 * MIB),
            cache("/data/log.txt", 300 * MIB, 300 * MIB, 0),
            cache("/data/empty", 0, 0, 0),
        ],
        total: Totals {
            files: 3,
            size_bytes: 2 * GIB + 300 * MIB,
            cached_bytes: GIB + 300 * MIB,
            dirty_bytes: 8 * MIB,
            writeback_bytes: 0,
        },
        errors: vec![FileError {
            path: "/data/secret".into(),
            message: "Permission denied (os error 13)".into(),
        }],
        source: "cachestat",
    };
    golden!("files.txt", files(&report));
    let evicted = EvictReport {
        dry_run: false,
        flush: false,
        files: vec![
            Evicted {
                path: "/data/big.db".into(),
                size_bytes: 2 * GIB,
                cached_before_bytes: Some(GIB),
                cached_after_bytes: Some(8 * MIB),
                unmeasured: None,
                stayed: Some(Stayed {
                    dirty_bytes: 6 * MIB,
                    mapped_or_locked_bytes: 2 * MIB,
                    ..Stayed::default()
                }),
            },
            Evicted {
                path: "/data/log.txt".into(),
                size_bytes: 300 * MIB,
                cached_before_bytes: Some(300 * MIB),
                cached_after_bytes: Some(0),
                unmeasured: None,
                stayed: None,
            },
            Evicted {
                path: "/data/not-mine".into(),
                size_bytes: MIB,
                cached_before_bytes: None,
                cached_after_bytes: None,
                unmeasured: Some(
                    "the kernel tells a file's cache only to its owner or writers".into(),
                ),
                stayed: None,
            },
        ],
        total: EvictTotals {
            files: 3,
            unmeasured: 1,
            cached_before_bytes: GIB + 300 * MIB,
            cached_after_bytes: 8 * MIB,
        },
        errors: Vec::new(),
    };
    golden!("evict.txt", evict(&evicted));
}
