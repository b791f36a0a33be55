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

pub(crate) fn as_map<S: Serializer>(
    counts: &[(&'static str, u64)],
    s: S,
) -> Result<S::Ok, S::Error> {
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

/// Why the unusable free space index rose during a run, when it rose by half a point or more.
///
/// The index is a share of free memory. Dropping page cache frees pages that lie scattered
/// between pages the kernel cannot move (kernel allocations, pinned and mapped pages), so free
/// memory grows mostly in small blocks and the share unusable for 2 MiB blocks can rise even as
/// the memory in such blocks grows, compaction included. Users reading "4.7 % → 12.2 %" would
/// otherwise take it that the run made things worse.
pub(crate) fn fragmentation_note(before: &Snapshot, after: &Snapshot) -> Option<String> {
    const ORDER: usize = 9;
    let (b, a) = (
        before.fragmentation.as_ref()?,
        after.fragmentation.as_ref()?,
    );
    if a.unusable_index_order9 < b.unusable_index_order9 + 0.005 {
        return None;
    }
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64);
    let block = mib(a.page_size << ORDER);
    let (large_before, large_after) = (
        b.free_bytes_from_order(ORDER),
        a.free_bytes_from_order(ORDER),
    );
    let small_before = b.free_bytes().saturating_sub(large_before);
    let small_after = a.free_bytes().saturating_sub(large_after);
    let rose = format!(
        "fragmentation rose from {:.1} % to {:.1} %",
        b.unusable_index_order9 * 100.0,
        a.unusable_index_order9 * 100.0
    );
    Some(if large_after >= large_before {
        format!(
            "{rose} because {} was freed in blocks smaller than {block}, between pages the kernel \
             cannot move; free memory in blocks of {block} or more grew from {} to {}",
            mib(small_after.saturating_sub(small_before)),
            mib(large_before),
            mib(large_after)
        )
    } else {
        format!(
            "{rose}: free memory in blocks of {block} or more fell from {} to {}, taken by \
             other work while the operations ran",
            mib(large_before),
            mib(large_after)
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Fragmentation, ZoneFreeBlocks};

    /// A snapshot whose one zone holds `small` free pages of order 0 and `large` free blocks of
    /// order 9.
    fn with_free(small: u64, large: u64) -> Snapshot {
        let mut blocks = vec![0; 11];
        blocks[0] = small;
        blocks[9] = large;
        let mut s = crate::testing::snapshot(1 << 34, 0, (small + large * 512) * 4096, 0, 0);
        s.fragmentation = Some(Fragmentation::new(
            4096,
            vec![ZoneFreeBlocks {
                node: 0,
                zone: "Normal".into(),
                free_blocks: blocks,
            }],
        ));
        s
    }

    #[test]
    fn a_rise_while_large_blocks_grew_is_explained_by_what_was_freed_in_small_ones() {
        // 100 × 2 MiB and 100 pages free; then 110 × 2 MiB and 30,100 pages.
        let note = fragmentation_note(&with_free(100, 100), &with_free(30_100, 110)).unwrap();
        assert_eq!(
            note,
            "fragmentation rose from 0.2 % to 34.8 % because 117.2 MiB was freed in blocks \
             smaller than 2.0 MiB, between pages the kernel cannot move; free memory in blocks \
             of 2.0 MiB or more grew from 200.0 MiB to 220.0 MiB"
        );
    }

    #[test]
    fn a_rise_while_large_blocks_shrank_names_other_work() {
        let note = fragmentation_note(&with_free(100, 100), &with_free(3_000, 50)).unwrap();
        assert!(
            note.contains("fell from 200.0 MiB to 100.0 MiB") && note.contains("other work"),
            "{note}"
        );
    }

    #[test]
    fn no_note_when_fragmentation_fell_barely_moved_or_is_unknown() {
        assert_eq!(
            fragmentation_note(&with_free(30_000, 100), &with_free(100, 110)),
            None
        );
        assert_eq!(
            fragmentation_note(&with_free(100, 100), &with_free(101, 100)),
            None
        );
        let mut unknown = with_free(100, 100);
        unknown.fragmentation = None;
        assert_eq!(fragmentation_note(&unknown, &with_free(30_000, 100)), None);
    }
}
