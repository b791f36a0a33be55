//! Test doubles for the engine and its front ends (enabled by the `testing` feature): one
//! scripted [`Backend`] and the snapshot builders the tests share.
//!
//! ```
//! use memdefrag::testing::Scripted;
//! use memdefrag::{Op, Plan};
//!
//! let backend = Scripted::default();
//! let report = Plan::canonical([Op::Standby]).execute(&backend).unwrap();
//! assert_eq!(backend.ran(), [Op::Standby]);
//! assert_eq!(report.freed_bytes, 100);
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::backend::{
    Backend, Estimate, NotPrivileged, OpInfo, OsError, Outcome, RunOptions, StallTrigger, Support,
};
use crate::error::Remedy;
use crate::op::Op;
use crate::snapshot::{Detail, Snapshot};
use crate::Error;

/// A backend whose answers are scripted, and which records what was asked of it.
///
/// Its memory starts as [`Scripted::memory`]; each operation that succeeds adds
/// [`Scripted::frees_per_run`] to free memory. Every operation is supported and permitted
/// unless listed otherwise.
pub struct Scripted {
    /// What `platform()` answers.
    pub platform: &'static str,
    /// What `default_plan()` answers.
    pub default_plan: Vec<Op>,
    /// Operations that are not supported, with the reason given.
    pub unsupported: HashMap<Op, String>,
    /// Operations this process may not run (refused before anything runs).
    pub unprivileged: HashSet<Op>,
    /// Operations that fail when run, with the error they return.
    pub failing: HashMap<Op, OsError>,
    /// Operations that wait, like a flush on a stuck disk, until the run's stop is requested
    /// (at most 10 s), then fail as interrupted.
    pub waiting: HashSet<Op>,
    /// The memory state before any operation ran.
    pub memory: Snapshot,
    /// Free bytes each successful operation adds.
    pub frees_per_run: u64,
    /// How long each operation takes.
    pub run_time: Duration,
    /// Snapshots fail once an operation has run.
    pub blind_after_run: bool,
    /// The processes that run, by name (for `watch --pause-while`).
    pub running: Mutex<Vec<String>>,
    /// Called at each snapshot with the number of snapshots taken so far (e.g. to stop a
    /// watch after a number of looks).
    pub on_look: Option<Box<dyn Fn(usize) + Send + Sync>>,
    /// With a list, the stall trigger is supported and its waits answer from the list in turn
    /// (true: the kernel reported a stall), at once, then no more stalls. Without, it is
    /// unsupported.
    pub stalls: Option<Vec<bool>>,
    /// Called at each wait of the stall trigger with the number of waits so far.
    pub on_stall_wait: Option<Arc<dyn Fn(usize) + Send + Sync>>,
    /// With a share (percent), CPU times are readable, and the CPUs were busy that share of
    /// the time between any two reads. Without, they are unsupported.
    pub busy_percent: Option<u64>,
    /// What was asked so far (read it with [`Scripted::ran`] and [`Scripted::looks`]); public
    /// only so that `..Scripted::default()` works.
    pub record: Record,
}

/// The stall trigger of a [`Scripted`] backend.
struct ScriptedStalls {
    reports: std::vec::IntoIter<bool>,
    waits: usize,
    on_wait: Option<Arc<dyn Fn(usize) + Send + Sync>>,
}

impl StallTrigger for ScriptedStalls {
    fn wait(&mut self, _timeout: Duration) -> Result<bool, OsError> {
        self.waits += 1;
        if let Some(on_wait) = &self.on_wait {
            on_wait(self.waits);
        }
        Ok(self.reports.next().unwrap_or(false))
    }
}

/// What a [`Scripted`] backend was asked.
#[derive(Debug, Default)]
pub struct Record(Mutex<Calls>);

#[derive(Debug, Default)]
struct Calls {
    looks: usize,
    cpu_reads: u64,
    ran: Vec<Op>,
    freed: u64,
}

impl Default for Scripted {
    fn default() -> Scripted {
        Scripted {
            platform: "test",
            default_plan: vec![Op::Modified, Op::Standby, Op::SystemWorkingSet],
            unsupported: HashMap::new(),
            unprivileged: HashSet::new(),
            failing: HashMap::new(),
            waiting: HashSet::new(),
            memory: snapshot(1000, 900, 0, 300, 20),
            frees_per_run: 100,
            run_time: Duration::ZERO,
            blind_after_run: false,
            on_look: None,
            stalls: None,
            on_stall_wait: None,
            busy_percent: None,
            running: Mutex::new(Vec::new()),
            record: Record::default(),
        }
    }
}

impl Scripted {
    /// The operations run so far, in order.
    pub fn ran(&self) -> Vec<Op> {
        self.record().ran.clone()
    }

    /// The number of snapshots taken so far.
    pub fn looks(&self) -> usize {
        self.record().looks
    }

    fn record(&self) -> MutexGuard<'_, Calls> {
        self.record
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Backend for Scripted {
    fn platform(&self) -> &'static str {
        self.platform
    }

    fn default_plan(&self) -> Vec<Op> {
        self.default_plan.clone()
    }

    fn describe(&self, op: Op) -> OpInfo {
        OpInfo {
            op,
            support: match self.unsupported.get(&op) {
                Some(reason) => Support::No {
                    reason: reason.clone(),
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
                remedy: Remedy::RunAsRoot,
            });
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot, Error> {
        let (looks, freed, blind) = {
            let mut record = self.record();
            record.looks += 1;
            let blind = self.blind_after_run && !record.ran.is_empty();
            (record.looks, record.freed, blind)
        };
        if let Some(on_look) = &self.on_look {
            on_look(looks);
        }
        if blind {
            return Err(Error::stats("/proc/meminfo", "gone"));
        }
        let mut snapshot = self.memory.clone();
        snapshot.free_bytes = snapshot.free_bytes.saturating_add(freed);
        Ok(snapshot)
    }

    fn estimate(&self, op: Op, snapshot: &Snapshot) -> Estimate {
        match op {
            Op::Standby => Estimate::frees(snapshot.cache_bytes),
            Op::Modified => Estimate::moves(format!(
                "writes {} bytes back; they stay cached",
                snapshot.modified_bytes
            )),
            _ => Estimate::unknown(),
        }
    }

    fn running(&self, names: &[String]) -> Vec<String> {
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        names
            .iter()
            .filter(|n| running.contains(n))
            .cloned()
            .collect()
    }

    fn cpu_times(&self) -> Result<crate::backend::CpuTimes, Error> {
        let busy = self.busy_percent.ok_or_else(|| Error::UnsupportedFeature {
            feature: "the idle trigger (--idle-below)",
            reason: "the scripted backend has no CPU times".into(),
        })?;
        let mut record = self.record();
        record.cpu_reads += 1;
        Ok(crate::backend::CpuTimes {
            busy: busy * record.cpu_reads,
            total: 100 * record.cpu_reads,
        })
    }

    fn stall_trigger(
        &self,
        _stall: Duration,
        _window: Duration,
    ) -> Result<Box<dyn StallTrigger>, Error> {
        match &self.stalls {
            Some(stalls) => Ok(Box::new(ScriptedStalls {
                reports: stalls.clone().into_iter(),
                waits: 0,
                on_wait: self.on_stall_wait.clone(),
            })),
            None => Err(Error::UnsupportedFeature {
                feature: "the memory stall trigger (--pressure-above)",
                reason: "the scripted backend has none".into(),
            }),
        }
    }

    fn run(&self, op: Op, _options: &RunOptions, stop: &crate::Stop) -> Result<Outcome, OsError> {
        self.record().ran.push(op);
        if self.waiting.contains(&op) && stop.wait(Duration::from_secs(10)) {
            return Err(OsError::new(4, format!("interrupted while running '{op}'")));
        }
        std::thread::sleep(self.run_time);
        if let Some(err) = self.failing.get(&op) {
            return Err(err.clone());
        }
        self.record().freed += self.frees_per_run;
        Ok(Outcome {
            counts: vec![("things", 3)],
            ..Outcome::default()
        })
    }
}

/// A snapshot with the five headline figures and no platform detail.
pub fn snapshot(total: u64, available: u64, free: u64, cache: u64, modified: u64) -> Snapshot {
    Snapshot {
        platform: "test",
        total_bytes: total,
        available_bytes: available,
        free_bytes: free,
        cache_bytes: cache,
        modified_bytes: modified,
        fragmentation: None,
        pressure: None,
        reportable_free: None,
        detail: Detail::HeadlineOnly {},
    }
}

/// An error the system returns when it refuses an operation for lack of privilege (Windows'
/// ERROR_PRIVILEGE_NOT_HELD).
pub fn refusal() -> OsError {
    let mut err = OsError::new(1314, "A required privilege is not held by the client.");
    err.not_privileged = true;
    err
}
