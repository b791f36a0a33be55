//! The Windows backend through the CLI: on Windows, or under Wine, where `scripts/test` runs these
//! with `MEMDEFRAG_TEST_UNDER_WINE` set.
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

/// Whether these tests run under Wine (scripts/test says so).
fn under_wine() -> bool {
    std::env::var_os("MEMDEFRAG_TEST_UNDER_WINE").is_some()
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
    // The file cache needs only SeIncreaseQuotaPrivilege (phnt, System Informer); the registry
    // flush an elevated token and no privilege.
    assert_eq!(
        find(&ops, "system-working-set")["privilege"],
        "SeIncreaseQuotaPrivilege (elevated prompt)"
    );
    assert_eq!(
        find(&ops, "registry")["privilege"],
        "Administrator (elevated prompt)"
    );
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
    if under_wine() {
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
fn elevated_registry_and_combine_run_on_every_supported_windows() {
    require_elevation();
    let _lock = kernel_state_lock();
    let (_, ops) = memdefrag_json(&["ops", "--json"]);
    for op in ["registry", "combine"] {
        // Windows 10 and later all have both calls: nothing to gate on the version.
        assert_eq!(find(&ops, op)["supported"], true, "{op}");
        let (out, report) = memdefrag_json(&["purge", op, "--json"]);
        let result = &report["operations"][0];
        match out.status.code() {
            Some(0) => {
                if op == "combine" {
                    assert!(result["counts"]["pages_combined"].is_u64(), "{report}");
                }
            }
            // Real Windows may refuse (page combining is off on Windows Server): the refusal
            // must carry its NTSTATUS. Wine's stub never refuses.
            Some(1) if !under_wine() => {
                assert!(result["error"]["ntstatus"].is_string(), "{report}");
            }
            other => panic!("purge {op} exited {other:?}: {report}"),
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
    if !under_wine() {
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
    // Windows has no per-file cache call: files and evict say so.
    for command in ["files", "evict"] {
        let out = memdefrag(&[command, "Cargo.toml"]);
        assert_exit(&out, 3);
        assert!(
            stderr(&out).contains("not supported here"),
            "{}",
            stderr(&out)
        );
    }
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

/// The minimum Windows version is what the binary's imports need: every import must be in
/// `tests/windows-imports.txt`, which gives, for each import newer than Windows 7, the oldest
/// Windows that has it (from its documentation). A new import fails this test until someone has
/// checked its minimum version and listed it. The list is for the GNU target, which scripts/test
/// builds; MSVC builds import the C runtime differently.
#[test]
#[cfg(target_env = "gnu")]
fn the_binary_needs_nothing_newer_than_windows_10() {
    use object::Object;
    let listed: Vec<(String, u32)> = include_str!("../windows-imports.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut fields = line.split_whitespace();
            let import = fields.next().unwrap().to_ascii_lowercase();
            let since = fields
                .next()
                .map_or(7, |v| v.parse().expect("a Windows version"));
            (import, since)
        })
        .collect();
    let data = std::fs::read(crate::util::bin()).expect("read memdefrag.exe");
    let file = object::File::parse(&*data).expect("a PE file");
    assert!(
        file.section_by_name(".idata").is_some(),
        "no import section"
    );
    let mut unlisted = Vec::new();
    let mut newest = 0;
    for import in file.imports().expect("imports") {
        let name = format!(
            "{}!{}",
            String::from_utf8_lossy(import.library()),
            String::from_utf8_lossy(import.name())
        )
        .to_ascii_lowercase();
        match listed.iter().find(|(l, _)| *l == name) {
            Some(&(_, since)) => newest = newest.max(since),
            None => unlisted.push(name),
        }
    }
    assert!(
        unlisted.is_empty(),
        "imports not yet checked for their minimum Windows version (add them to \
         tests/windows-imports.txt): {unlisted:#?}"
    );
    assert_eq!(
        newest, 10,
        "the newest import needs Windows {newest}; README and `ops` say Windows 10"
    );
}

/// The event log reads the service's events with memdefrag.exe's message table: each event ID
/// must format as the text reported, as Event Viewer does it (FormatMessageW from the module).
#[test]
fn the_message_table_formats_every_event_as_its_text() {
    use windows_sys::Win32::Foundation::FreeLibrary;
    use windows_sys::Win32::System::Diagnostics::Debug::{
        FormatMessageW, FORMAT_MESSAGE_ARGUMENT_ARRAY, FORMAT_MESSAGE_FROM_HMODULE,
    };
    use windows_sys::Win32::System::LibraryLoader::{LoadLibraryExW, LOAD_LIBRARY_AS_DATAFILE};

    let path: Vec<u16> = std::path::absolute(crate::util::bin())
        .unwrap()
        .to_string_lossy()
        .encode_utf16()
        .chain(Some(0))
        .collect();
    // SAFETY: a NUL-terminated path; loaded as data only, nothing of it runs.
    let module = unsafe {
        LoadLibraryExW(
            path.as_ptr(),
            std::ptr::null_mut(),
            LOAD_LIBRARY_AS_DATAFILE,
        )
    };
    assert!(
        !module.is_null(),
        "load memdefrag.exe: {}",
        std::io::Error::last_os_error()
    );
    let text: Vec<u16> = "an action ran".encode_utf16().chain(Some(0)).collect();
    let args = [text.as_ptr() as usize];
    for id in 1..=4u32 {
        let mut buf = [0u16; 256];
        // SAFETY: `module` is loaded; `buf` has the length passed; the one insert is a live
        // NUL-terminated string, passed as an argument array as FORMAT_MESSAGE_ARGUMENT_ARRAY
        // requires.
        let n = unsafe {
            FormatMessageW(
                FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_ARGUMENT_ARRAY,
                module as *const std::ffi::c_void,
                id,
                0,
                buf.as_mut_ptr(),
                buf.len() as u32,
                args.as_ptr().cast(),
            )
        };
        let message = String::from_utf16_lossy(&buf[..n as usize]);
        assert_eq!(
            message,
            "an action ran\r\n",
            "event {id}: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: loaded above and freed once.
    unsafe { FreeLibrary(module) };
}

#[test]
#[ignore = "purges memory and needs elevation; scripts/test runs it under Wine"]
fn elevated_working_sets_with_a_filter_trims_each_chosen_process() {
    require_elevation();
    let _lock = kernel_state_lock();
    // This test process is the one chosen; memdefrag never trims itself.
    let me = std::process::id().to_string();
    let (out, report) = memdefrag_json(&["purge", "working-sets", "--only", &me, "--json"]);
    assert_exit(&out, 0);
    let op = &report["operations"][0];
    assert_eq!(op["counts"]["processes"], 1, "{op}");
    assert!(op["counts"]["excluded"].as_u64().unwrap() >= 1, "{op}");
    assert_eq!(op["processes"][0]["pid"].as_u64().unwrap().to_string(), me);
    let name = op["processes"][0]["name"].as_str().unwrap();
    assert!(name.to_ascii_lowercase().ends_with(".exe"), "{name}");
    // By name, in any case and without the extension: the same process.
    let stem = name.trim_end_matches(".exe").to_ascii_uppercase();
    let (out, report) = memdefrag_json(&["purge", "working-sets", "--only", &stem, "--json"]);
    assert_exit(&out, 0);
    let pids: Vec<String> = report["operations"][0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].to_string())
        .collect();
    assert!(pids.contains(&me), "{pids:?}");
}

/// Giving memory back to a hypervisor is Linux's (free page reporting): on Windows, the
/// command and a give-back watch refuse in one line before anything runs.
#[test]
fn give_back_is_refused_with_exit_3() {
    for args in [
        &["give-back"][..],
        &["give-back", "--dry-run"],
        &["watch", "--give-back", "--every", "1m"],
        &["watch", "--give-back", "--dry-run"],
    ] {
        let out = memdefrag(args);
        assert_exit(&out, 3);
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    let err = stderr(&memdefrag(&["watch", "--give-back", "--dry-run"]));
    assert!(err.contains("Hyper-V"), "{err}");
}
