//! A plan: validate every operation first, then run them in order and stop at the first failure.

use std::time::Instant;

use crate::backend::{Backend, OpInfo};
use crate::op::Op;
use crate::report::{DryRun, OpResult, PlannedOp, Report, Status};
use crate::Error;

/// An ordered list of operations to run together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    ops: Vec<Op>,
}

impl Plan {
    /// The given operations in canonical order, each once (`memdefrag purge`).
    pub fn canonical(ops: impl IntoIterator<Item = Op>) -> Plan {
        Plan {
            ops: Op::canonical(ops),
        }
    }

    /// The platform's default sequence, in the platform's order (`memdefrag defrag`).
    pub fn default_for(backend: &dyn Backend) -> Plan {
        Plan {
            ops: backend.default_plan(),
        }
    }

    /// The operations, in the order they run.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Checks that every operation is supported here; returns what the platform says of each.
    /// Nothing is changed, and nothing needs privilege.
    pub fn validate(&self, backend: &dyn Backend) -> Result<Vec<OpInfo>, Error> {
        let infos: Vec<OpInfo> = self.ops.iter().map(|&op| backend.describe(op)).collect();
        if let Some(info) = infos.iter().find(|i| i.unsupported_reason().is_some()) {
            return Err(Error::Unsupported {
                op: info.op,
                reason: info.unsupported_reason().unwrap_or_default().to_owned(),
            });
        }
        Ok(infos)
    }

    /// Checks that this process may run every operation, without running any.
    pub fn check_privilege(&self, backend: &dyn Backend) -> Result<(), Error> {
        for &op in &self.ops {
            backend
                .check_privilege(op)
                .map_err(|np| Error::NotPrivileged {
                    op,
                    needs: np.needs,
                    remedy: np.remedy,
                })?;
        }
        Ok(())
    }

    /// What the plan would do and release, from the current memory state. Changes nothing and
    /// needs no privilege.
    pub fn preview(&self, backend: &dyn Backend) -> Result<DryRun, Error> {
        let infos = self.validate(backend)?;
        let before = backend.snapshot()?;
        let operations: Vec<PlannedOp> = infos
            .into_iter()
            .map(|info| PlannedOp {
                estimated_bytes: backend.estimate(info.op, &before),
                op: info.op,
                kernel_call: info.kernel_call,
                privilege: info.privilege,
                privileged: backend.check_privilege(info.op).is_ok(),
            })
            .collect();
        Ok(DryRun::new(operations, before))
    }

    /// Validates the whole plan and the privilege it needs, then runs each operation in order,
    /// stopping at the first failure; the operations after it are reported as skipped.
    ///
    /// An `Err` means nothing ran. A failed operation is reported in the `Ok` report, and so is a
    /// failure to read the memory state after the operations (in `notes`).
    pub fn execute(&self, backend: &dyn Backend) -> Result<Report, Error> {
        // Unsupported (exit 3) is reported before missing privilege (exit 77).
        self.validate(backend)?;
        self.check_privilege(backend)?;
        self.execute_checked(backend)
    }

    /// [`Plan::execute`] for a caller that has already checked privilege (`watch` checks once, at
    /// start): validates and runs; a refusal by the system then shows as a failed operation.
    pub fn execute_checked(&self, backend: &dyn Backend) -> Result<Report, Error> {
        let infos = self.validate(backend)?;
        let before = backend.snapshot()?;
        let mut operations = Vec::with_capacity(infos.len());
        let mut failed = false;
        for info in infos {
            if failed {
                operations.push(OpResult::skipped(info.op, info.kernel_call));
                continue;
            }
            let start = Instant::now();
            let result = backend.run(info.op);
            // Microsecond resolution: finer digits are noise.
            let duration_ms = start.elapsed().as_micros() as f64 / 1000.0;
            let mut op_result = OpResult {
                op: info.op,
                status: Status::Ok,
                duration_ms,
                kernel_call: info.kernel_call,
                error: None,
                counts: Vec::new(),
                notes: Vec::new(),
            };
            match result {
                Ok(outcome) => {
                    op_result.counts = outcome.counts;
                    op_result.notes = outcome.notes;
                }
                Err(err) => {
                    op_result.status = Status::Failed;
                    op_result.error = Some(err);
                    failed = true;
                }
            }
            operations.push(op_result);
        }
        // The operations ran: a failure to read the state afterwards must not lose their report.
        let mut notes = Vec::new();
        let after = backend.snapshot().unwrap_or_else(|e| {
            notes.push(format!(
                "the memory state after the operations could not be read ({e}); `after` repeats `before`"
            ));
            before.clone()
        });
        let mut report = Report::new(operations, before, after);
        report.notes = notes;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::backend::{NotPrivileged, OsError, Outcome, Support};
    use crate::snapshot::{Detail, Snapshot};

    /// A backend whose answers are scripted and which records every call that changes state.
    #[derive(Default)]
    struct Scripted {
        unsupported: HashMap<Op, &'static str>,
        unprivileged: HashSet<Op>,
        failing: HashMap<Op, i64>,
        /// Ops the system refuses at run time for lack of privilege.
        refusing: HashSet<Op>,
        /// Snapshots fail once an operation has run.
        blind_after_run: bool,
        ran: RefCell<Vec<Op>>,
        free: RefCell<u64>,
    }

    impl Backend for Scripted {
        fn platform(&self) -> &'static str {
            "test"
        }
        fn default_plan(&self) -> Vec<Op> {
            vec![Op::Modified, Op::Standby, Op::SystemWorkingSet]
        }
        fn describe(&self, op: Op) -> OpInfo {
            OpInfo {
                op,
                support: match self.unsupported.get(&op) {
                    Some(reason) => Support::No {
                        reason: reason.to_string(),
                    },
                    None => Support::Yes,
                },
                kernel_call: format!("call-{op}"),
                privilege: "root".into(),
            }
        }
        fn check_privilege(&self, op: Op) -> Result<(), NotPrivileged> {
            if self.unprivileged.contains(&op) {
                return Err(NotPrivileged {
                    needs: format!("the key to {op}"),
                    remedy: "run as root".into(),
                });
            }
            Ok(())
        }
        fn snapshot(&self) -> Result<Snapshot, Error> {
            if self.blind_after_run && !self.ran.borrow().is_empty() {
                return Err(Error::stats("/proc/meminfo", "gone"));
            }
            let free = *self.free.borrow();
            Ok(Snapshot {
                platform: "test",
                total_bytes: 1000,
                available_bytes: 900,
                free_bytes: free,
                cache_bytes: 300,
                modified_bytes: 20,
                fragmentation: None,
                detail: Detail::None {},
            })
        }
        fn estimate(&self, op: Op, snapshot: &Snapshot) -> Option<u64> {
            (op == Op::Standby).then_some(snapshot.cache_bytes)
        }
        fn run(&self, op: Op) -> Result<Outcome, OsError> {
            self.ran.borrow_mut().push(op);
            if let Some(&code) = self.failing.get(&op) {
                return Err(OsError::new(code, format!("{op} broke")));
            }
            if self.refusing.contains(&op) {
                let mut err = OsError::new(1314, "A required privilege is not held by the client.");
                err.not_privileged = true;
                return Err(err);
            }
            *self.free.borrow_mut() += 100;
            Ok(Outcome {
                counts: vec![("things", 3)],
                notes: vec![],
            })
        }
    }

    #[test]
    fn purge_runs_in_canonical_order() {
        let backend = Scripted::default();
        let plan = Plan::canonical([Op::Compact, Op::Standby, Op::WorkingSets, Op::Modified]);
        let report = plan.execute(&backend).unwrap();
        let order = vec![Op::WorkingSets, Op::Modified, Op::Standby, Op::Compact];
        assert_eq!(*backend.ran.borrow(), order);
        let reported: Vec<Op> = report.operations.iter().map(|r| r.op).collect();
        assert_eq!(reported, order);
        assert!(report.operations.iter().all(|r| r.status == Status::Ok));
        assert_eq!(report.operations[0].kernel_call, "call-working-sets");
        assert_eq!(report.operations[0].counts, vec![("things", 3)]);
        assert_eq!(report.freed_bytes, 400);
        assert!(!report.failed());
    }

    #[test]
    fn default_plan_keeps_the_platform_order() {
        let backend = Scripted::default();
        Plan::default_for(&backend).execute(&backend).unwrap();
        assert_eq!(
            *backend.ran.borrow(),
            vec![Op::Modified, Op::Standby, Op::SystemWorkingSet]
        );
    }

    #[test]
    fn stops_at_the_first_failure_and_skips_the_rest() {
        let backend = Scripted {
            failing: HashMap::from([(Op::Modified, 5)]),
            ..Scripted::default()
        };
        let plan = Plan::canonical([Op::WorkingSets, Op::Modified, Op::Standby, Op::Compact]);
        let report = plan.execute(&backend).unwrap();
        assert_eq!(*backend.ran.borrow(), vec![Op::WorkingSets, Op::Modified]);
        let statuses: Vec<Status> = report.operations.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            vec![Status::Ok, Status::Failed, Status::Skipped, Status::Skipped]
        );
        let err = report.operations[1].error.as_ref().unwrap();
        assert_eq!(err.code, 5);
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
            refusing: HashSet::from([Op::Standby]),
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
        assert!(crate::report::render_report(&report).contains("could not be read"));
        let json = crate::report::to_json(&report);
        assert!(json.contains("\"notes\""), "{json}");
    }

    #[test]
    fn an_unsupported_op_anywhere_stops_everything_before_it_runs() {
        let backend = Scripted {
            unsupported: HashMap::from([(Op::Compact, "no compaction here")]),
            ..Scripted::default()
        };
        let err = Plan::canonical([Op::Standby, Op::Compact])
            .execute(&backend)
            .unwrap_err();
        assert!(backend.ran.borrow().is_empty());
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
        assert!(backend.ran.borrow().is_empty());
        assert_eq!(err.exit_code(), crate::exit::NOT_PRIVILEGED);
        let msg = err.to_string();
        assert!(
            msg.contains("the key to standby") && msg.contains("run as root"),
            "{msg}"
        );
    }

    #[test]
    fn unsupported_is_reported_before_privilege() {
        let backend = Scripted {
            unsupported: HashMap::from([(Op::Registry, "no registry")]),
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
        assert!(backend.ran.borrow().is_empty());
        assert_eq!(dry.operations.len(), 2);
        assert_eq!(dry.operations[0].op, Op::Modified);
        assert_eq!(dry.operations[0].estimated_bytes, None);
        assert!(dry.operations[0].privileged);
        assert_eq!(dry.operations[1].estimated_bytes, Some(300));
        assert!(!dry.operations[1].privileged);
        assert_eq!(dry.estimated_bytes, 300);
    }

    #[test]
    fn preview_still_rejects_unsupported_ops() {
        let backend = Scripted {
            unsupported: HashMap::from([(Op::Combine, "no")]),
            ..Scripted::default()
        };
        let err = Plan::canonical([Op::Combine])
            .preview(&backend)
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED);
    }
}
