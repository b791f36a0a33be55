//! A plan: validate every operation first, then run them in order and stop at the first failure.
//!
//! [`Plan::validate`] gives a [`ValidatedPlan`], which runs without asking the platform again:
//! a caller that runs the same plan many times (`watch`) validates it once.

use std::time::{Duration, Instant};

use crate::backend::{Backend, OpInfo, ProcessFilter, RunOptions};
use crate::op::Op;
use crate::report::{DryRun, OpResult, PlannedOp, Report, Status};
use crate::stop::Stop;
use crate::Error;

/// An ordered list of operations to run together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    ops: Vec<Op>,
    options: RunOptions,
}

impl Plan {
    /// The given operations in canonical order, each once (`memdefrag purge`).
    pub fn canonical(ops: impl IntoIterator<Item = Op>) -> Plan {
        Plan {
            ops: Op::canonical(ops),
            options: RunOptions::default(),
        }
    }

    /// The platform's default sequence, in the platform's order (`memdefrag defrag`).
    pub fn default_for(backend: &dyn Backend) -> Plan {
        Plan {
            ops: backend.default_plan(),
            options: RunOptions::default(),
        }
    }

    /// The plan with `working-sets` acting only on the processes `filter` lets through. A
    /// filter on a plan without `working-sets` fails validation.
    pub fn with_processes(mut self, filter: ProcessFilter) -> Plan {
        self.options.processes = filter;
        self
    }

    /// The plan with flushes (`modified`, `flush-volumes`) given up after `timeout` instead of
    /// [`DEFAULT_FLUSH_TIMEOUT`](crate::DEFAULT_FLUSH_TIMEOUT).
    pub fn with_flush_timeout(mut self, timeout: Duration) -> Plan {
        self.options.flush_timeout = timeout;
        self
    }

    /// The operations, in the order they run.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Checks that every operation is supported here, and keeps what the platform says of each.
    /// Nothing is changed, and nothing needs privilege.
    pub fn validate(&self, backend: &dyn Backend) -> Result<ValidatedPlan, Error> {
        if !self.options.processes.is_all() && !self.ops.contains(&Op::WorkingSets) {
            return Err(Error::FilterWithoutWorkingSets);
        }
        let infos: Vec<OpInfo> = self.ops.iter().map(|&op| backend.describe(op)).collect();
        if let Some((info, reason)) = infos
            .iter()
            .find_map(|i| Some((i, i.unsupported_reason()?)))
        {
            return Err(Error::Unsupported {
                op: info.op,
                reason: reason.to_owned(),
            });
        }
        Ok(ValidatedPlan {
            infos,
            options: self.options.clone(),
        })
    }

    /// What the plan would do and release, from the current memory state. Changes nothing and
    /// needs no privilege.
    pub fn preview(&self, backend: &dyn Backend) -> Result<DryRun, Error> {
        self.validate(backend)?.preview(backend)
    }

    /// Validates the whole plan and the privilege it needs, then runs each operation in order,
    /// stopping at the first failure; the operations after it are reported as skipped.
    ///
    /// An `Err` means nothing ran. A failed operation is reported in the `Ok` report, and so is a
    /// failure to read the memory state after the operations (in `notes`).
    pub fn execute(&self, backend: &dyn Backend) -> Result<Report, Error> {
        self.execute_until(backend, &Stop::new())
    }

    /// [`Plan::execute`], ended early when `stop` is requested (a signal): no operation starts
    /// after the request, and one that waits (a flush) is cut short and reported as
    /// interrupted.
    pub fn execute_until(&self, backend: &dyn Backend, stop: &Stop) -> Result<Report, Error> {
        // Unsupported (exit 3) is reported before missing privilege (exit 77).
        let plan = self.validate(backend)?;
        plan.check_privilege(backend)?;
        plan.run_until(backend, stop)
    }
}

/// A plan whose operations are all supported here, with what the platform said of each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedPlan {
    infos: Vec<OpInfo>,
    options: RunOptions,
}

impl ValidatedPlan {
    /// The operations, in the order they run.
    pub fn ops(&self) -> Vec<Op> {
        self.infos.iter().map(|i| i.op).collect()
    }

    /// What the platform said of each operation: its kernel call and privilege.
    pub fn infos(&self) -> &[OpInfo] {
        &self.infos
    }

    /// Checks that this process may run every operation, without running any.
    pub fn check_privilege(&self, backend: &dyn Backend) -> Result<(), Error> {
        for info in &self.infos {
            backend
                .check_privilege(info.op)
                .map_err(|np| Error::NotPrivileged {
                    op: info.op,
                    needs: np.needs,
                    remedy: np.remedy,
                })?;
        }
        Ok(())
    }

    /// What the plan would do and release, from the current memory state. Changes nothing and
    /// needs no privilege.
    pub fn preview(&self, backend: &dyn Backend) -> Result<DryRun, Error> {
        let before = backend.snapshot()?;
        let operations: Vec<PlannedOp> = self
            .infos
            .iter()
            .map(|info| {
                let estimate = backend.estimate(info.op, &before);
                PlannedOp {
                    op: info.op,
                    kernel_call: info.kernel_call.clone(),
                    privilege: info.privilege.clone(),
                    privileged: backend.check_privilege(info.op).is_ok(),
                    estimated_bytes: estimate.bytes,
                    note: estimate.note,
                }
            })
            .collect();
        Ok(DryRun::new(operations, before))
    }

    /// Runs each operation in order, stopping at the first failure. It does not check privilege
    /// first (see [`ValidatedPlan::check_privilege`]): a refusal by the system then shows as a
    /// failed operation.
    ///
    /// An `Err` (the memory state could not be read before the run) means nothing ran.
    pub fn run(&self, backend: &dyn Backend) -> Result<Report, Error> {
        self.run_until(backend, &Stop::new())
    }

    /// [`ValidatedPlan::run`], ended early when `stop` is requested: the operations not started
    /// by then are skipped, one cut short is [`Status::Interrupted`], and the report says
    /// `interrupted`.
    pub fn run_until(&self, backend: &dyn Backend, stop: &Stop) -> Result<Report, Error> {
        let before = backend.snapshot()?;
        let mut operations = Vec::with_capacity(self.infos.len());
        let mut failed = false;
        for info in &self.infos {
            if failed || stop.is_requested() {
                operations.push(OpResult::skipped(info.op, info.kernel_call.clone()));
                continue;
            }
            let start = Instant::now();
            let result = backend.run(info.op, &self.options, stop);
            // Microsecond resolution: finer digits are noise.
            let duration_ms = start.elapsed().as_micros() as f64 / 1000.0;
            let mut op_result = OpResult {
                op: info.op,
                status: Status::Ok,
                duration_ms,
                kernel_call: info.kernel_call.clone(),
                error: None,
                counts: Vec::new(),
                notes: Vec::new(),
                processes: Vec::new(),
            };
            match result {
                Ok(outcome) => {
                    op_result.counts = outcome.counts;
                    op_result.notes = outcome.notes;
                    op_result.processes = outcome.processes;
                }
                Err(err) => {
                    op_result.status = if stop.is_requested() {
                        Status::Interrupted
                    } else {
                        Status::Failed
                    };
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
        notes.extend(crate::report::fragmentation_note(&before, &after));
        let mut report = Report::new(operations, before, after);
        report.notes = notes;
        report.interrupted = stop.is_requested();
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
