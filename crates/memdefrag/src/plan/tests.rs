//! The plan over the scripted backend (ordering, validation, failures), and over the Windows
//! backend driven by a fake NT API (the seed's sequence as Windows runs it).

use std::collections::{HashMap, HashSet};

use super::*;
use crate::backend::OsError;
use crate::testing::{refusal, Scripted};

mod windows;

#[test]
fn purge_runs_in_canonical_order() {
    let backend = Scripted::default();
    let plan = Plan::canonical([Op::Compact, Op::Standby, Op::WorkingSets, Op::Modified]);
    let report = plan.execute(&backend).unwrap();
    let order = vec![Op::WorkingSets, Op::Modified, Op::Standby, Op::Compact];
    assert_eq!(backend.ran(), order);
    let reported: Vec<Op> = report.operations.iter().map(|r| r.op).collect();
    assert_eq!(reported, order);
    assert!(report.operations.iter().all(|r| r.status == Status::Ok));
    assert_eq!(report.operations[0].kernel_call, "call-working-sets");
    assert_eq!(report.operations[0].counts, vec![("things", 3)]);
    assert_eq!(report.freed_bytes, 400);
    assert!(!report.failed());
}

#[test]
fn a_stop_before_the_run_runs_nothing_and_says_interrupted() {
    let backend = Scripted::default();
    let stop = Stop::new();
    stop.request();
    let report = Plan::canonical([Op::Modified, Op::Standby])
        .execute_until(&backend, &stop)
        .unwrap();
    assert!(backend.ran().is_empty());
    assert!(report
        .operations
        .iter()
        .all(|r| r.status == Status::Skipped));
    assert!(report.interrupted);
}

#[test]
fn an_operation_cut_short_by_a_stop_is_interrupted_and_the_rest_skipped() {
    let backend = Scripted {
        waiting: HashSet::from([Op::Modified]),
        ..Scripted::default()
    };
    let stop = Stop::new();
    let stopper = stop.clone();
    let signal = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        stopper.request();
    });
    let report = Plan::canonical([Op::WorkingSets, Op::Modified, Op::Standby])
        .execute_until(&backend, &stop)
        .unwrap();
    signal.join().unwrap();
    let statuses: Vec<Status> = report.operations.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![Status::Ok, Status::Interrupted, Status::Skipped]
    );
    assert_eq!(backend.ran(), vec![Op::WorkingSets, Op::Modified]);
    assert!(report.interrupted);
}

#[test]
fn default_plan_keeps_the_platform_order() {
    let backend = Scripted::default();
    Plan::default_for(&backend).execute(&backend).unwrap();
    assert_eq!(
        backend.ran(),
        vec![Op::Modified, Op::Standby, Op::SystemWorkingSet]
    );
}

#[test]
fn stops_at_the_first_failure_and_skips_the_rest() {
    let backend = Scripted {
        failing: HashMap::from([(Op::Modified, OsError::new(5, "modified broke"))]),
        ..Scripted::default()
    };
    let plan = Plan::canonical([Op::WorkingSets, Op::Modified, Op::Standby, Op::Compact]);
    let report = plan.execute(&backend).unwrap();
    assert_eq!(backend.ran(), vec![Op::WorkingSets, Op::Modified]);
    let statuses: Vec<Status> = report.operations.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![Status::Ok, Status::Failed, Status::Skipped, Status::Skipped]
    );
    let err = report.operations[1].error.as_ref().unwrap();
    assert_eq!(err.code, Some(5));
    assert_eq!(err.message, "modified broke");
    assert_eq!(report.operations[2].duration_ms, 0.0);
    assert_eq!(report.operations[2].kernel_call, "call-standby");
    assert!(report.failed());
    assert_eq!(report.exit_code(), crate::exit::FAILED);
    assert_eq!(report.freed_bytes, 100, "only the first op freed memory");
}

#[test]
fn a_privilege_refusal_at_run_time_exits_77() {
    let backend = Scripted {
        failing: HashMap::from([(Op::Standby, refusal())]),
        ..Scripted::default()
    };
    let report = Plan::canonical([Op::Modified, Op::Standby, Op::Compact])
        .execute(&backend)
        .unwrap();
    assert_eq!(report.exit_code(), crate::exit::NOT_PRIVILEGED);
    assert_eq!(report.failure().unwrap().0, Op::Standby);
    assert_eq!(report.operations[2].status, Status::Skipped);
}

#[test]
fn a_failed_snapshot_after_the_run_keeps_the_report() {
    let backend = Scripted {
        blind_after_run: true,
        ..Scripted::default()
    };
    let report = Plan::canonical([Op::Standby]).execute(&backend).unwrap();
    assert_eq!(report.operations[0].status, Status::Ok);
    assert_eq!(report.after, report.before);
    assert_eq!(report.freed_bytes, 0);
    assert_eq!(report.notes.len(), 1);
    assert!(
        report.notes[0].contains("/proc/meminfo"),
        "{}",
        report.notes[0]
    );
    assert!(crate::render::report(&report).contains("could not be read"));
    let json = crate::render::json(&report);
    assert!(json.contains("\"notes\""), "{json}");
}

#[test]
fn an_unsupported_op_anywhere_stops_everything_before_it_runs() {
    let backend = Scripted {
        unsupported: HashMap::from([(Op::Compact, "no compaction here".into())]),
        ..Scripted::default()
    };
    let err = Plan::canonical([Op::Standby, Op::Compact])
        .execute(&backend)
        .unwrap_err();
    assert!(backend.ran().is_empty());
    assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED);
    let msg = err.to_string();
    assert!(
        msg.contains("'compact'") && msg.contains("no compaction here"),
        "{msg}"
    );
}

#[test]
fn missing_privilege_for_any_op_stops_everything_before_it_runs() {
    let backend = Scripted {
        unprivileged: HashSet::from([Op::Standby]),
        ..Scripted::default()
    };
    let err = Plan::canonical([Op::Modified, Op::Standby])
        .execute(&backend)
        .unwrap_err();
    assert!(backend.ran().is_empty());
    assert_eq!(err.exit_code(), crate::exit::NOT_PRIVILEGED);
    let Error::NotPrivileged { op, needs, remedy } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*op, needs.as_str()), (Op::Standby, "the key to standby"));
    assert_eq!(*remedy, crate::Remedy::RunAsRoot);
    assert_eq!(
        err.to_string(),
        "operation 'standby' needs the key to standby.\nRun it as root."
    );
}

#[test]
fn unsupported_is_reported_before_privilege() {
    let backend = Scripted {
        unsupported: HashMap::from([(Op::Registry, "no registry".into())]),
        unprivileged: HashSet::from([Op::Standby]),
        ..Scripted::default()
    };
    let err = Plan::canonical([Op::Standby, Op::Registry])
        .execute(&backend)
        .unwrap_err();
    assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED);
}

#[test]
fn preview_runs_nothing_and_needs_no_privilege() {
    let backend = Scripted {
        unprivileged: HashSet::from([Op::Standby]),
        ..Scripted::default()
    };
    let dry = Plan::canonical([Op::Standby, Op::Modified])
        .preview(&backend)
        .unwrap();
    assert!(backend.ran().is_empty());
    assert_eq!(dry.operations.len(), 2);
    assert_eq!(dry.operations[0].op, Op::Modified);
    // Writing dirty pages back frees nothing by itself, and says what it does.
    assert_eq!(dry.operations[0].estimated_bytes, Some(0));
    assert!(dry.operations[0]
        .note
        .as_deref()
        .unwrap()
        .contains("20 bytes"));
    assert!(dry.operations[0].privileged);
    assert_eq!(dry.operations[1].estimated_bytes, Some(300));
    assert!(!dry.operations[1].privileged);
    assert_eq!(dry.estimated_bytes, 300);
}

#[test]
fn preview_still_rejects_unsupported_ops() {
    let backend = Scripted {
        unsupported: HashMap::from([(Op::Combine, "no".into())]),
        ..Scripted::default()
    };
    let err = Plan::canonical([Op::Combine])
        .preview(&backend)
        .unwrap_err();
    assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED);
}

#[test]
fn a_validated_plan_runs_again_without_asking_the_platform_again() {
    let backend = Scripted::default();
    let plan = Plan::canonical([Op::Standby, Op::Modified])
        .validate(&backend)
        .unwrap();
    assert_eq!(plan.ops(), [Op::Modified, Op::Standby]);
    assert_eq!(plan.infos()[1].kernel_call, "call-standby");
    plan.check_privilege(&backend).unwrap();
    let first = plan.run(&backend).unwrap();
    let second = plan.run(&backend).unwrap();
    assert_eq!(
        backend.ran(),
        [Op::Modified, Op::Standby, Op::Modified, Op::Standby]
    );
    assert_eq!(first.after.free_bytes, second.before.free_bytes);
}

#[test]
fn a_validated_plan_run_does_not_check_privilege_and_reports_the_refusal() {
    let backend = Scripted {
        unprivileged: HashSet::from([Op::Standby]),
        failing: HashMap::from([(Op::Standby, refusal())]),
        ..Scripted::default()
    };
    let plan = Plan::canonical([Op::Standby]).validate(&backend).unwrap();
    assert!(plan.check_privilege(&backend).is_err());
    let report = plan.run(&backend).unwrap();
    assert_eq!(backend.ran(), [Op::Standby]);
    assert_eq!(report.exit_code(), crate::exit::NOT_PRIVILEGED);
}
