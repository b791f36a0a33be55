//! What a run did ([`Report`]) or would do ([`DryRun`]): the data model. The layer above it turns
//! it into text for people and into JSON.

use serde::{Serialize, Serializer};

use crate::backend::{OsError, TrimmedProcess};
use crate::op::Op;
use crate::snapshot::Snapshot;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It ran and succeeded.
    Ok,
    /// It ran and failed.
    Failed,
    /// Not run, because an operation before it failed or the run was interrupted.
    Skipped,
    /// Cut short by an interruption (a signal): what it had started may go on in the kernel.
    Interrupted,
}

impl Status {
    /// The word for it in JSON and in metric labels: ok, failed, skipped.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Interrupted => "interrupted",
        }
    }
}

/// One operation of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpResult {
    /// The operation.
    pub op: Op,
    /// How it ended.
    pub status: Status,
    /// How long the kernel call took (0 when skipped).
    pub duration_ms: f64,
    /// The kernel call made.
    pub kernel_call: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OsError>,
    /// Named counts (a JSON object), e.g. processes paged out.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_map")]
    pub counts: Vec<(&'static str, u64)>,
    /// Remarks a user should see.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// For `working-sets`: each process trimmed, with its resident memory before and after.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<TrimmedProcess>,
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
            processes: Vec::new(),
        }
    }
}

fn as_map<S: Serializer>(counts: &[(&'static str, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(counts.iter().map(|&(k, v)| (k, v)))
}

/// The result of running a plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Every operation of the plan, in the order run.
    pub operations: Vec<OpResult>,
    /// The memory state before the first operation.
    pub before: Snapshot,
    /// The memory state after the last one.
    pub after: Snapshot,
    /// Free memory after minus before; negative when other work took memory meanwhile.
    pub freed_bytes: i64,
    /// Remarks on the run as a whole (e.g. the state after it could not be read).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Whether a stop request (a signal) ended the run before its plan did.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
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
            interrupted: false,
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
    /// The operation.
    pub op: Op,
    /// The kernel call it would make.
    pub kernel_call: String,
    /// The privilege it needs.
    pub privilege: String,
    /// Whether this process holds that privilege now.
    pub privileged: bool,
    /// What the operation would free, estimated from the current state; null when unknown. An
    /// operation that only moves pages frees 0.
    pub estimated_bytes: Option<u64>,
    /// What else it would do (e.g. how much it moves to the standby list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a plan would do, without doing it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DryRun {
    /// Always true: marks the JSON as a dry run.
    pub dry_run: bool,
    /// Every operation, in the order it would run.
    pub operations: Vec<PlannedOp>,
    /// The memory state now.
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
