//! Whole plans over the Windows backend, driven by the scripted NT API: the seed's sequence as
//! Windows runs it, with its privileges, failures and estimates.

use std::collections::{HashMap, HashSet};

use crate::platform::windows::api::MemoryListCommand::{
    EmptyWorkingSets, FlushModifiedList, PurgeStandbyList,
};
use crate::platform::windows::api::{NtStatus, Privilege, SetRequest};
use crate::platform::windows::fake::{Event, Fake};
use crate::platform::windows::Windows;
use crate::{Op, Plan, Status};

#[test]
fn defrag_runs_the_seeds_sequence_under_the_privilege_and_restores_it() {
    let windows = Windows::new(Fake::default());
    let fake = &windows.0;
    let report = Plan::default_for(&windows).execute(&windows).unwrap();
    let ops: Vec<Op> = report.operations.iter().map(|o| o.op).collect();
    assert_eq!(ops, [Op::WorkingSets, Op::Modified, Op::Standby]);
    assert!(report.operations.iter().all(|o| o.status == Status::Ok));
    assert_eq!(
        fake.sets(),
        [
            SetRequest::MemoryList(EmptyWorkingSets),
            SetRequest::MemoryList(FlushModifiedList),
            SetRequest::MemoryList(PurgeStandbyList),
        ]
    );
    // Each command runs between enabling SeProfileSingleProcessPrivilege and restoring it.
    let events = fake.events();
    let standby = events
        .iter()
        .position(|e| *e == Event::Set(SetRequest::MemoryList(PurgeStandbyList)))
        .unwrap();
    assert_eq!(
        events[standby - 1],
        Event::Enable(vec![Privilege::ProfileSingleProcess])
    );
    assert_eq!(
        events[standby + 1],
        Event::Restore(vec![(Privilege::ProfileSingleProcess, false)])
    );
    fake.assert_privileges_restored();
}

#[test]
fn a_failing_command_stops_the_sequence_and_keeps_the_ntstatus() {
    let windows = Windows::new(Fake {
        failing: HashMap::from([(
            SetRequest::MemoryList(FlushModifiedList),
            NtStatus::INVALID_INFO_CLASS,
        )]),
        ..Fake::default()
    });
    let fake = &windows.0;
    let report = Plan::default_for(&windows).execute(&windows).unwrap();
    let statuses: Vec<Status> = report.operations.iter().map(|o| o.status).collect();
    assert_eq!(statuses, [Status::Ok, Status::Failed, Status::Skipped]);
    assert_eq!(fake.sets().len(), 2, "standby never ran");
    let err = report.operations[1].error.as_ref().unwrap();
    assert_eq!(err.ntstatus.as_deref(), Some("0xC0000003"));
    assert_eq!(err.code, Some(87));
    assert!(
        err.message.contains("MemoryFlushModifiedList=3"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("The parameter is incorrect."),
        "{}",
        err.message
    );
    assert!(!err.not_privileged);
    assert_eq!(report.exit_code(), crate::exit::FAILED);
    fake.assert_privileges_restored();
}

#[test]
fn privilege_not_held_at_run_time_maps_to_exit_77() {
    let windows = Windows::new(Fake {
        failing: HashMap::from([(
            SetRequest::MemoryList(EmptyWorkingSets),
            NtStatus::PRIVILEGE_NOT_HELD,
        )]),
        ..Fake::default()
    });
    let fake = &windows.0;
    let report = Plan::default_for(&windows).execute(&windows).unwrap();
    let err = report.operations[0].error.as_ref().unwrap();
    assert_eq!(err.ntstatus.as_deref(), Some("0xC0000061"));
    assert_eq!(err.code, Some(1314));
    assert!(err.not_privileged);
    assert_eq!(report.exit_code(), crate::exit::NOT_PRIVILEGED);
    fake.assert_privileges_restored();
}

#[test]
fn a_token_without_the_privilege_is_refused_before_anything_runs() {
    let windows = Windows::new(Fake {
        held: HashSet::new(),
        elevated: false,
        ..Fake::default()
    });
    let fake = &windows.0;
    let err = Plan::default_for(&windows).execute(&windows).unwrap_err();
    assert_eq!(err.exit_code(), crate::exit::NOT_PRIVILEGED);
    let msg = err.to_string();
    assert!(msg.contains("SeProfileSingleProcessPrivilege"), "{msg}");
    assert!(fake.sets().is_empty());
}

#[test]
fn a_wow64_build_refuses_pointer_sized_calls_before_anything_runs() {
    let wow64 = Windows::new(Fake {
        wow64: true,
        ..Fake::default()
    });
    for op in [Op::SystemWorkingSet, Op::Combine] {
        let err = Plan::canonical([Op::Standby, op])
            .execute(&wow64)
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED);
    }
    assert!(
        wow64.0.sets().is_empty(),
        "never called with the wrong layout"
    );
}

#[test]
fn a_dry_run_shows_the_exact_calls_and_changes_nothing() {
    let windows = Windows::new(Fake::default());
    let dry = Plan::default_for(&windows).preview(&windows).unwrap();
    assert_eq!(
        dry.operations[2].kernel_call,
        "NtSetSystemInformation(SystemMemoryListInformation=80, MemoryPurgeStandbyList=4)"
    );
    assert!(windows.0.sets().is_empty());
}

#[test]
fn estimates_count_only_what_is_freed() {
    let windows = Windows::new(Fake::default());
    let dry = Plan::canonical([
        Op::WorkingSets,
        Op::SystemWorkingSet,
        Op::Modified,
        Op::Standby,
    ])
    .preview(&windows)
    .unwrap();
    let page = crate::platform::windows::fake::PAGE;
    // Trimming working sets, the file cache and writing the modified list move pages to the
    // standby list: they free nothing by themselves, and say what they move.
    for planned in &dry.operations[..3] {
        assert_eq!(planned.estimated_bytes, Some(0), "{planned:?}");
        assert!(
            planned.note.as_deref().unwrap().contains("to the standby"),
            "{planned:?}"
        );
    }
    assert!(dry.operations[1]
        .note
        .as_deref()
        .unwrap()
        .contains("64.0 MiB"));
    assert!(dry.operations[2]
        .note
        .as_deref()
        .unwrap()
        .contains("0.1 MiB"));
    assert_eq!(dry.operations[3].estimated_bytes, Some(250 * page));
    assert_eq!(dry.estimated_bytes, 250 * page, "only the purge frees");
}

#[test]
fn a_flush_past_its_deadline_fails_at_the_deadline_and_skips_the_rest() {
    let windows = Windows::new(Fake {
        flush_takes: std::time::Duration::from_secs(3),
        ..Fake::default()
    });
    let plan = Plan::canonical([Op::Modified, Op::Standby])
        .with_flush_timeout(std::time::Duration::from_millis(200));
    let start = std::time::Instant::now();
    let report = plan.execute(&windows).unwrap();
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_secs(2),
        "waited {took:?} for a flush with a 200 ms deadline"
    );
    let flush = &report.operations[0];
    assert_eq!(flush.status, Status::Failed);
    let error = flush.error.as_ref().unwrap();
    assert_eq!(error.code, Some(1460), "ERROR_TIMEOUT");
    assert!(
        error.message.contains("MemoryFlushModifiedList") && error.message.contains("200ms"),
        "{}",
        error.message
    );
    assert_eq!(report.operations[1].status, Status::Skipped);
    assert!(!windows
        .0
        .events()
        .contains(&Event::Set(SetRequest::MemoryList(PurgeStandbyList))));
}

#[test]
fn a_flush_within_its_deadline_reports_as_usual() {
    let windows = Windows::new(Fake {
        flush_takes: std::time::Duration::from_millis(50),
        ..Fake::default()
    });
    let report = Plan::canonical([Op::Modified, Op::FlushVolumes])
        .with_flush_timeout(std::time::Duration::from_secs(5))
        .execute(&windows)
        .unwrap();
    assert!(
        report.operations.iter().all(|o| o.status == Status::Ok),
        "{:?}",
        report.operations
    );
}
