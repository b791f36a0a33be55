//! The Windows backend through the CLI: on Windows, or under Wine, where `scripts/test` runs these
//! with the prefix reporting Windows 7 and then Windows 10 (`MEMDEFRAG_TEST_WINE_VERSION`).
//!
//! Wine's NtSetSystemInformation is a stub that succeeds without effect and its memory-list query
//! fails, so under Wine these prove loading, linking, parsing, reporting and the fallback; the
//! effects are proven on real Windows (the GitHub workflow) and the decisions by the unit tests.
//!
//! Tests whose name starts with `elevated_` purge memory and need an elevated process, as the
//! Linux `root_` tests need root: they are `#[ignore]`d, so that `cargo test` at a non-elevated
//! prompt passes, and run with `--include-ignored` (scripts/test, the GitHub workflow).

use crate::util::{
    assert_all_ok, assert_exit, kernel_state_lock, memdefrag, memdefrag_json, op_names,
    require_elevation, stderr,
};

/// The Windows version the Wine prefix was set to, when running under Wine.
fn wine_version() -> Option<String> {
    std::env::var("MEMDEFRAG_TEST_WINE_VERSION").ok()
}

fn find<'a>(ops: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    ops.as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == name)
        .unwrap()
}

#[test]
fn ops_show_the_exact_nt_calls() {
    let (out, ops) = memdefrag_json(&["ops", "--json"]);
    assert_exit(&out, 0);
    let calls = [
        ("working-sets", "MemoryEmptyWorkingSets=2"),
        ("modified", "MemoryFlushModifiedList=3"),
        ("standby", "MemoryPurgeStandbyList=4"),
        ("standby-low", "MemoryPurgeLowPriorityStandbyList=5"),
    ];
    for (op, command) in calls {
        assert_eq!(
            find(&ops, op)["kernel_call"],
            format!("NtSetSystemInformation(SystemMemoryListInformation=80, {command})")
        );
        assert_eq!(find(&ops, op)["supported"], true);
        assert!(find(&ops, op)["privilege"]
            .as_str()
            .unwrap()
            .contains("SeProfileSingleProcessPrivilege"));
    }
    assert!(find(&ops, "system-working-set")["privilege"]
        .as_str()
        .unwrap()
        .contains("SeIncreaseQuotaPrivilege"));
    assert_eq!(find(&ops, "compact")["supported"], false);
}

#[test]
fn dry_run_prints_the_plan_and_its_calls() {
    let (out, dry) = memdefrag_json(&["defrag", "--dry-run", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(op_names(&dry), ["working-sets", "modified", "standby"]);
    assert_eq!(
        dry["operations"][2]["kernel_call"],
        "NtSetSystemInformation(SystemMemoryListInformation=80, MemoryPurgeStandbyList=4)"
    );
    let out = memdefrag(&["purge", "standby", "--dry-run"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "NtSetSystemInformation(SystemMemoryListInformation=80, MemoryPurgeStandbyList=4)"
        ),
        "{text}"
    );
}

#[test]
fn status_reads_the_lists_or_falls_back_and_says_so() {
    let (out, s) = memdefrag_json(&["status", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(s["platform"], "windows");
    let total = s["total_bytes"].as_u64().unwrap();
    for key in [
        "available_bytes",
        "free_bytes",
        "cache_bytes",
        "modified_bytes",
    ] {
        assert!(s[key].as_u64().unwrap() <= total, "{key}: {s}");
    }
    let detail = &s["detail"];
    for key in [
        "total_bytes",
        "available_bytes",
        "free_bytes",
        "cache_bytes",
        "modified_bytes",
    ] {
        assert!(
            detail["sources"][key].is_string(),
            "source of {key}: {detail}"
        );
    }
    if detail["memory_lists"].is_null() {
        let why = detail["memory_lists_error"].as_str().unwrap();
        assert!(why.contains("NTSTATUS 0x"), "{why}");
        assert!(detail["sources"]["cache_bytes"]
            .as_str()
            .unwrap()
            .contains("estimate"));
    } else {
        assert_eq!(
            detail["sources"]["free_bytes"],
            "NtQuerySystemInformation(SystemMemoryListInformation)"
        );
        let by_priority = detail["memory_lists"]["standby_bytes_by_priority"]
            .as_array()
            .unwrap();
        let standby: u64 = by_priority.iter().map(|b| b.as_u64().unwrap()).sum();
        assert_eq!(standby, s["cache_bytes"].as_u64().unwrap());
    }
    if wine_version().is_some() {
        // Wine answers STATUS_INVALID_INFO_CLASS to the memory-list query.
        assert!(detail["memory_lists"].is_null(), "{detail}");
        assert!(detail["memory_lists_error"]
            .as_str()
            .unwrap()
            .contains("0xC0000003"));
    }
    let out = memdefrag(&["status"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("memory (windows)") && text.contains("memory lists"),
        "{text}"
    );
}

#[test]
#[ignore = "purges memory and needs elevation; scripts/test runs it under Wine"]
fn elevated_defrag_runs_working_sets_modified_standby_in_order() {
    require_elevation();
    let _lock = kernel_state_lock();
    let (out, report) = memdefrag_json(&["defrag", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(op_names(&report), ["working-sets", "modified", "standby"]);
    assert_all_ok(&report);
    let free = |side: &str| report[side]["free_bytes"].as_i64().unwrap();
    assert_eq!(
        report["freed_bytes"].as_i64().unwrap(),
        free("after") - free("before")
    );
}

#[test]
#[ignore = "purges memory and needs elevation; scripts/test runs it under Wine"]
fn elevated_version_gated_operations_follow_the_reported_version() {
    require_elevation();
    let _lock = kernel_state_lock();
    let (_, ops) = memdefrag_json(&["ops", "--json"]);
    let supported = |op: &str| find(&ops, op)["supported"] == true;
    match wine_version().as_deref() {
        Some("win7") => {
            assert!(!supported("registry") && !supported("combine"));
            assert!(find(&ops, "registry")["reason"]
                .as_str()
                .unwrap()
                .contains("needs Windows 8.1 (6.3) or later; this is Windows 6.1"));
        }
        Some("win10") => assert!(supported("registry") && supported("combine")),
        _ => {}
    }
    for op in ["registry", "combine"] {
        let out = memdefrag(&["purge", op, "--json"]);
        if supported(op) && out.status.code() == Some(1) && wine_version().is_none() {
            // Real Windows may refuse (page combining is off on Windows Server): the refusal
            // must carry its NTSTATUS.
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let error = &report["operations"][0]["error"];
            assert!(
                error["ntstatus"].as_str().unwrap().starts_with("0x"),
                "{error}"
            );
        } else if supported(op) {
            assert_exit(&out, 0);
        } else {
            assert_exit(&out, 3);
            assert!(stderr(&out).contains(&format!("'{op}' is not supported here")));
        }
    }
    if supported("combine") {
        let (out, report) = memdefrag_json(&["purge", "combine", "--json"]);
        let op = &report["operations"][0];
        match out.status.code() {
            Some(0) => assert!(op["counts"]["pages_combined"].is_u64(), "{report}"),
            // Real Windows may refuse; Wine's stub never does.
            Some(1) if wine_version().is_none() => {
                assert!(op["error"]["ntstatus"].is_string(), "{report}");
            }
            other => panic!("purge combine exited {other:?}: {report}"),
        }
    }
}

#[test]
#[ignore = "purges memory and needs elevation; scripts/test runs it under Wine"]
fn elevated_flush_volumes_enumerates_every_volume() {
    require_elevation();
    let _lock = kernel_state_lock();
    let (out, report) = memdefrag_json(&["purge", "flush-volumes", "--json"]);
    let op = &report["operations"][0];
    if wine_version().is_none() {
        assert_exit(&out, 0);
        assert!(
            op["counts"]["volumes_flushed"].as_u64().unwrap() >= 1,
            "{op}"
        );
    } else {
        // Wine finds the volumes but cannot flush a volume handle ("Invalid function").
        assert_exit(&out, 1);
        let message = op["error"]["message"].as_str().unwrap();
        assert!(message.contains(r"(C:\)"), "{message}");
    }
}

#[test]
fn rejected_requests_exit_2_and_3() {
    assert_exit(&memdefrag(&["purge", "standby", "bogus"]), 2);
    let out = memdefrag(&["purge", "standby", "compact"]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("'compact'"));
}

#[test]
fn watch_once_dry_run_reports_without_acting() {
    let out = memdefrag(&[
        "watch",
        "--once",
        "--dry-run",
        "--usage-above",
        "0",
        "--json",
    ]);
    assert_exit(&out, 0);
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["dry_run"], true);
    assert_eq!(event["trigger"], "usage");
    // The default operation: standby-low, which every supported Windows has.
    assert_eq!(event["ops"], serde_json::json!(["standby-low"]));
}

#[test]
#[ignore = "purges memory and needs elevation; scripts/test runs it under Wine"]
fn elevated_watch_once_acts_and_exits_cleanly() {
    require_elevation();
    let _lock = kernel_state_lock();
    let out = memdefrag(&[
        "watch",
        "--once",
        "--usage-above",
        "0",
        "--ops",
        "standby",
        "--json",
    ]);
    assert_exit(&out, 0);
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["status"], "ok");
    assert_eq!(event["ops"], serde_json::json!(["standby"]));
    assert_eq!(event["cooldown_ms"].as_u64().unwrap() % 30_000, 0);
    let out = memdefrag(&["watch", "--once", "--ops", "compact", "--usage-above", "0"]);
    assert_exit(&out, 3);
}
