//! One action of a watch, as reported.

use serde::Serialize;

use super::trigger::Fired;
use crate::backend::OsError;
use crate::op::Op;
use crate::report::Status;

/// One action.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// When the action started, RFC 3339 UTC.
    pub time: String,
    /// Why it fired.
    #[serde(flatten)]
    pub fired: Fired,
    /// The operations run.
    pub ops: Vec<Op>,
    /// Whether this was only a preview.
    pub dry_run: bool,
    /// ok | failed (for a dry run: what it would have done is "ok").
    pub status: Status,
    /// How long the action took.
    pub duration_ms: f64,
    /// Free memory after minus before (for a dry run: the estimate).
    pub freed_bytes: i64,
    /// How long before the triggers are looked at again.
    pub cooldown_ms: u64,
    /// What failed, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OsError>,
}
