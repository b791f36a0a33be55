//! The Windows decisions through the scripted NT API ([`crate::platform::windows::fake`]):
//! these run on every platform. Whole plans over it are tested with the plan.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::platform::windows::api::{MemoryListPages, VolumeFlush};
use crate::platform::windows::fake::{Event, Fake, PAGE};

#[test]
fn a_token_without_the_privilege_is_refused_before_anything_runs() {
    let fake = Fake {
        held: HashSet::new(),
        elevated: false,
        ..Fake::default()
    };
    let err = check_privilege(&fake, Op::Standby).unwrap_err();
    assert!(
        err.needs.contains("SeProfileSingleProcessPrivilege"),
        "{}",
        err.needs
    );
    assert_eq!(err.remedy, Remedy::Elevate);

    // run() itself also refuses rather than calling without the privilege.
    let err = run(&fake, Op::Standby, &RunOptions::default()).unwrap_err();
    assert!(err.not_privileged);
    assert_eq!(err.code, Some(1300));
    assert_eq!(
        err.message,
        "SeProfileSingleProcessPrivilege is not in the process token"
    );
    assert!(fake.sets().is_empty());
}

#[test]
fn a_token_that_cannot_be_adjusted_is_explained() {
    let fake = Fake {
        token_denied: true,
        ..Fake::default()
    };
    let err = check_privilege(&fake, Op::Standby).unwrap_err();
    assert!(
        err.needs.contains("Access is denied. (error 5)"),
        "{}",
        err.needs
    );
    let err = run(&fake, Op::Standby, &RunOptions::default()).unwrap_err();
    assert!(err.not_privileged);
    assert_eq!(
        err.code,
        Some(5),
        "the token's own error, not ERROR_NOT_ALL_ASSIGNED"
    );
    assert!(err.message.contains("Access is denied."), "{}", err.message);
    // The snapshot still works: the list query is tried without the privilege.
    assert!(snapshot(&fake).is_ok());
}

#[test]
fn system_working_set_enables_only_the_quota_privilege_and_trims_the_file_cache() {
    run(
        &Fake::default(),
        Op::SystemWorkingSet,
        &RunOptions::default(),
    )
    .unwrap();
    let fake = Fake::default();
    run(&fake, Op::SystemWorkingSet, &RunOptions::default()).unwrap();
    assert_eq!(
        fake.events(),
        [
            Event::Enable(vec![Privilege::IncreaseQuota]),
            Event::Set(SetRequest::TrimFileCache),
            Event::Restore(vec![(Privilege::IncreaseQuota, false)]),
        ]
    );
    // A token with only SeIncreaseQuotaPrivilege (LOCAL SERVICE, NETWORK SERVICE) may run it.
    let quota_only = Fake {
        held: HashSet::from([Privilege::IncreaseQuota]),
        elevated: false,
        ..Fake::default()
    };
    assert_eq!(check_privilege(&quota_only, Op::SystemWorkingSet), Ok(()));
    assert!(check_privilege(&quota_only, Op::Standby).is_err());
    let profile_only = Fake {
        held: HashSet::from([Privilege::ProfileSingleProcess]),
        ..Fake::default()
    };
    let err = check_privilege(&profile_only, Op::SystemWorkingSet).unwrap_err();
    assert!(
        err.needs.contains("SeIncreaseQuotaPrivilege"),
        "{}",
        err.needs
    );
}

#[test]
fn a_privilege_already_on_is_left_on() {
    let fake = Fake {
        enabled: HashSet::from([Privilege::ProfileSingleProcess]),
        ..Fake::default()
    };
    run(&fake, Op::Standby, &RunOptions::default()).unwrap();
    assert_eq!(
        fake.events().last(),
        Some(&Event::Restore(vec![(
            Privilege::ProfileSingleProcess,
            true
        )]))
    );
}

#[test]
fn the_registry_flush_needs_an_elevated_token_and_enables_no_privilege() {
    // phnt: "s: NULL (requires admin)"; System Informer calls it without adjusting privileges.
    let fake = Fake::default();
    run(&fake, Op::Registry, &RunOptions::default()).unwrap();
    assert_eq!(fake.events(), [Event::Set(SetRequest::ReconcileRegistry)]);
    let unelevated = Fake {
        elevated: false,
        ..Fake::default()
    };
    let err = check_privilege(&unelevated, Op::Registry).unwrap_err();
    assert!(err.needs.contains("elevated"), "{}", err.needs);
    assert_eq!(
        describe(&fake, Op::Registry).privilege,
        "Administrator (elevated prompt)"
    );
}

#[test]
fn every_call_is_supported_on_every_windows_memdefrag_runs_on() {
    let fake = Fake::default();
    for op in Op::ALL {
        let supported = describe(&fake, op).unsupported_reason().is_none();
        assert_eq!(supported, op != Op::Compact, "{op}");
    }
}

#[test]
fn combine_reports_the_pages_combined() {
    let fake = Fake::default();
    let outcome = run(&fake, Op::Combine, &RunOptions::default()).unwrap();
    assert_eq!(outcome.counts, [("pages_combined", 1234)]);
    assert_eq!(fake.sets(), [SetRequest::CombinePages]);
}

#[test]
fn wow64_refuses_pointer_sized_calls_and_skips_the_list_query() {
    let fake = Fake {
        wow64: true,
        ..Fake::default()
    };
    for op in [Op::SystemWorkingSet, Op::Combine] {
        let reason = describe(&fake, op).unsupported_reason().unwrap().to_owned();
        assert!(
            reason.contains("WOW64") && reason.contains("64-bit build"),
            "{reason}"
        );
    }
    for op in [
        Op::WorkingSets,
        Op::Modified,
        Op::Standby,
        Op::StandbyLow,
        Op::Registry,
    ] {
        assert!(describe(&fake, op).unsupported_reason().is_none(), "{op}");
    }
    let snap = snapshot(&fake).unwrap();
    assert!(!fake.events().contains(&Event::QueryLists));
    let Detail::Windows(w) = &snap.detail else {
        panic!()
    };
    assert!(w.memory_lists.is_none());
    assert!(w.memory_lists_error.as_deref().unwrap().contains("WOW64"));
}

#[test]
fn snapshot_from_the_lists_multiplies_pages_and_names_the_source() {
    let fake = Fake::default();
    let s = snapshot(&fake).unwrap();
    assert_eq!(s.platform, "windows");
    assert_eq!(s.total_bytes, 16 << 30);
    assert_eq!(s.available_bytes, 8 << 30);
    assert_eq!(s.free_bytes, 150 * PAGE);
    assert_eq!(s.cache_bytes, 250 * PAGE);
    assert_eq!(s.modified_bytes, 30 * PAGE);
    let Detail::Windows(w) = &s.detail else {
        panic!()
    };
    let lists = w.memory_lists.as_ref().unwrap();
    assert_eq!(lists.standby_bytes_by_priority[5], 200 * PAGE);
    assert_eq!(lists.modified_page_file_bytes, 20 * PAGE);
    assert_eq!(lists.repurposed_pages_by_priority, [7; 8]);
    assert_eq!(w.sources.free_bytes, LIST_SOURCE);
    assert_eq!(w.file_cache_bytes, Some(64 << 20));
    // Asked first without the privilege, refused, then asked again with it, which was put back.
    let events = fake.events();
    assert_eq!(
        events,
        [
            Event::QueryLists,
            Event::Enable(vec![Privilege::ProfileSingleProcess]),
            Event::QueryLists,
            Event::Restore(vec![(Privilege::ProfileSingleProcess, false)]),
        ]
    );
    fake.assert_privileges_restored();

    assert_eq!(estimate(Op::Standby, &s), Estimate::frees(250 * PAGE));
    assert_eq!(estimate(Op::StandbyLow, &s), Estimate::frees(10 * PAGE));
    assert_eq!(
        estimate(Op::Modified, &s),
        Estimate::moves(
            "writes the modified list (0.1 MiB) to disk; its pages move to the standby list"
        )
    );
    assert_eq!(
        estimate(Op::SystemWorkingSet, &s),
        Estimate::moves("moves the system file cache working set (64.0 MiB) to the standby list")
    );
    assert_eq!(estimate(Op::WorkingSets, &s).bytes, Some(0));
    assert_eq!(estimate(Op::Combine, &s), Estimate::unknown());
}

#[test]
fn a_failed_list_query_falls_back_to_the_documented_api_and_says_so() {
    let fake = Fake {
        lists: Err(NtStatus::INVALID_INFO_CLASS),
        ..Fake::default()
    };
    let s = snapshot(&fake).unwrap();
    assert_eq!(s.cache_bytes, 3 << 30);
    assert_eq!(s.free_bytes, (8 << 30) - (3 << 30));
    assert_eq!(s.modified_bytes, 0);
    let Detail::Windows(w) = &s.detail else {
        panic!()
    };
    let why = w.memory_lists_error.as_deref().unwrap();
    assert!(
        why.contains("0xC0000003") && why.contains("parameter is incorrect"),
        "{why}"
    );
    assert!(w.sources.modified_bytes.starts_with("unavailable"));
    assert!(w.sources.cache_bytes.contains("estimate"));
    assert_eq!(estimate(Op::Standby, &s).bytes, None);
}

fn volume(name: &str, mount: &[&str], error: Option<(u32, &str)>) -> VolumeFlush {
    VolumeFlush {
        volume: name.into(),
        mount_points: mount.iter().map(ToString::to_string).collect(),
        error: error.map(|(c, m)| (c, m.to_string())),
    }
}

#[test]
fn flush_volumes_counts_and_names_the_failures() {
    let fake = Fake {
        volumes: vec![
            volume(r"\\?\Volume{1}\", &[r"C:\"], None),
            volume(r"\\?\Volume{2}\", &[r"C:\mnt\data\"], None),
            volume(
                r"\\?\Volume{3}\",
                &[],
                Some((21, "The device is not ready.")),
            ),
        ],
        ..Fake::default()
    };
    let outcome = run(&fake, Op::FlushVolumes, &RunOptions::default()).unwrap();
    assert_eq!(
        outcome.counts,
        [("volumes_flushed", 2), ("volumes_failed", 1)]
    );
    assert_eq!(
        outcome.notes,
        [r"\\?\Volume{3}\ (not mounted): The device is not ready. (error 21)"]
    );

    let denied = Fake {
        volumes: vec![volume(
            r"\\?\Volume{1}\",
            &[r"C:\"],
            Some((5, "Access is denied.")),
        )],
        ..Fake::default()
    };
    let err = run(&denied, Op::FlushVolumes, &RunOptions::default()).unwrap_err();
    assert!(err.not_privileged);
    assert!(err.message.contains(r"C:\"), "{}", err.message);

    let unelevated = Fake {
        elevated: false,
        ..Fake::default()
    };
    let err = check_privilege(&unelevated, Op::FlushVolumes).unwrap_err();
    assert!(err.needs.contains("elevated"), "{}", err.needs);
}

#[test]
fn kernel_calls_are_shown_exactly() {
    assert_eq!(
        kernel_call(Op::Standby),
        "NtSetSystemInformation(SystemMemoryListInformation=80, MemoryPurgeStandbyList=4)"
    );
    assert_eq!(
        kernel_call(Op::WorkingSets),
        "NtSetSystemInformation(SystemMemoryListInformation=80, MemoryEmptyWorkingSets=2)"
    );
    assert_eq!(
        kernel_call(Op::StandbyLow),
        "NtSetSystemInformation(SystemMemoryListInformation=80, MemoryPurgeLowPriorityStandbyList=5)"
    );
    assert!(kernel_call(Op::SystemWorkingSet)
        .starts_with("NtSetSystemInformation(SystemFileCacheInformationEx=81"));
    assert!(kernel_call(Op::Combine)
        .starts_with("NtSetSystemInformation(SystemCombinePhysicalMemoryInformation=130"));
    assert_eq!(
        kernel_call(Op::Registry),
        "NtSetSystemInformation(SystemRegistryReconciliationInformation=155, NULL, 0)"
    );
    assert_eq!(
        describe(&Fake::default(), Op::Standby).kernel_call,
        kernel_call(Op::Standby)
    );
}

#[test]
fn a_kernel_without_the_list_query_is_asked_once_and_no_privilege_is_touched() {
    // Wine: the class does not exist; every look (a watch, the desktop app: once a second)
    // costs one refused query, not two token adjustments more.
    let fake = Fake {
        lists: Err(NtStatus::INVALID_INFO_CLASS),
        ..Fake::default()
    };
    snapshot(&fake).unwrap();
    assert_eq!(fake.events(), [Event::QueryLists]);
}

fn entry(pid: u32, name: &str) -> crate::platform::windows::api::ProcessEntry {
    crate::platform::windows::api::ProcessEntry {
        pid,
        name: name.into(),
    }
}

#[test]
fn a_process_filter_trims_each_chosen_process_instead_of_the_single_call() {
    use crate::platform::windows::api::TrimError;
    let fake = Fake {
        processes: vec![
            entry(0, "[System Process]"),
            entry(4, "System"),
            entry(100, "game.exe"),
            entry(200, "Notepad.exe"),
            entry(300, "browser.exe"),
            entry(400, "browser.exe"),
        ],
        trim_errors: HashMap::from([
            (4, TrimError::Refused(5, "Access is denied.".into())),
            (400, TrimError::Exited),
        ]),
        ..Fake::default()
    };
    let filter = ProcessFilter {
        only: Vec::new(),
        exclude: vec![
            "GAME".parse().unwrap(),
            "notepad".parse().unwrap(),
            "nothere".parse().unwrap(),
        ],
    };
    let options = RunOptions {
        processes: filter,
        ..RunOptions::default()
    };
    let outcome = run(&fake, Op::WorkingSets, &options).unwrap();
    assert!(
        !fake
            .sets()
            .contains(&SetRequest::MemoryList(MemoryListCommand::EmptyWorkingSets)),
        "no system-wide call"
    );
    assert_eq!(
        fake.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Trim(pid) => Some(pid),
                _ => None,
            })
            .collect::<Vec<_>>(),
        [4, 300, 400],
        "names match in any case, with or without .exe"
    );
    assert_eq!(
        outcome.counts,
        [
            ("processes", 1),
            ("excluded", 2),
            ("refused", 1),
            ("exited", 1)
        ]
    );
    assert_eq!(outcome.processes.len(), 1);
    assert_eq!(outcome.processes[0].pid, 300);
    assert_eq!(outcome.processes[0].resident_before_bytes, 300 << 20);
    assert_eq!(outcome.notes, ["no process matched 'nothere'"]);

    let only = ProcessFilter {
        only: vec!["200".parse().unwrap()],
        exclude: Vec::new(),
    };
    let fake = Fake {
        processes: vec![entry(100, "game.exe"), entry(200, "notepad.exe")],
        ..Fake::default()
    };
    let options = RunOptions {
        processes: only,
        ..RunOptions::default()
    };
    let outcome = run(&fake, Op::WorkingSets, &options).unwrap();
    assert_eq!(outcome.processes.len(), 1);
    assert_eq!(outcome.processes[0].name, "notepad.exe");
}

#[test]
fn without_a_filter_working_sets_is_the_seeds_single_call() {
    let fake = Fake {
        processes: vec![entry(100, "game.exe")],
        ..Fake::default()
    };
    let outcome = run(&fake, Op::WorkingSets, &RunOptions::default()).unwrap();
    assert!(outcome.processes.is_empty());
    assert!(!fake.events().iter().any(|e| matches!(e, Event::Trim(_))));
}

/// Whatever the kernel fills the structures with, a snapshot is taken, never a panic: the
/// memory lists (SYSTEM_MEMORY_LIST_INFORMATION), the page size, the file cache size and the
/// documented figures, at any value.
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::platform::windows::api::DocumentedMemory;

    fn pages() -> impl Strategy<Value = MemoryListPages> {
        (any::<[u64; 6]>(), any::<[u64; 8]>(), any::<[u64; 8]>()).prop_map(
            |(a, standby, repurposed)| MemoryListPages {
                zeroed: a[0],
                free: a[1],
                modified: a[2],
                modified_no_write: a[3],
                bad: a[4],
                standby_by_priority: standby,
                repurposed_by_priority: repurposed,
                modified_page_file: a[5],
            },
        )
    }

    fn documented() -> impl Strategy<Value = DocumentedMemory> {
        any::<[u64; 6]>().prop_map(|d| DocumentedMemory {
            total: d[0],
            available: d[1],
            commit_total: d[2],
            commit_limit: d[3],
            system_cache: d[4],
            page_size: d[5],
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_figures_give_a_snapshot(
            lists in pages(),
            documented in documented(),
            page in any::<u64>(),
            file_cache in any::<u64>(),
            wow64 in any::<bool>(),
        ) {
            let fake = Fake {
                lists: Ok(lists),
                documented,
                page,
                file_cache,
                wow64,
                enabled: HashSet::from([Privilege::ProfileSingleProcess]),
                ..Fake::default()
            };
            let snapshot = snapshot(&fake).unwrap();
            for op in Op::ALL {
                let _ = estimate(op, &snapshot);
            }
            let _ = crate::render::status(&snapshot);
        }

        #[test]
        fn plausible_lists_read_back_in_bytes(
            zeroed in 0u64..1 << 36,
            free in 0u64..1 << 36,
            standby in any::<[u16; 8]>(),
        ) {
            let fake = Fake {
                lists: Ok(MemoryListPages {
                    zeroed,
                    free,
                    standby_by_priority: standby.map(u64::from),
                    ..MemoryListPages::default()
                }),
                enabled: HashSet::from([Privilege::ProfileSingleProcess]),
                ..Fake::default()
            };
            let s = snapshot(&fake).unwrap();
            prop_assert_eq!(s.free_bytes, (zeroed + free) * PAGE);
            prop_assert_eq!(
                s.cache_bytes,
                standby.iter().map(|&p| u64::from(p)).sum::<u64>() * PAGE
            );
        }
    }
}

/// Found by the property test: the free and zeroed lists, both near 2^64 bytes, overflowed
/// their sum.
#[test]
fn lists_at_the_limit_saturate_instead_of_overflowing() {
    let fake = Fake {
        lists: Ok(MemoryListPages {
            zeroed: u64::MAX,
            free: u64::MAX,
            standby_by_priority: [u64::MAX; 8],
            ..MemoryListPages::default()
        }),
        enabled: HashSet::from([Privilege::ProfileSingleProcess]),
        ..Fake::default()
    };
    let s = snapshot(&fake).unwrap();
    assert_eq!((s.free_bytes, s.cache_bytes), (u64::MAX, u64::MAX));
}
