//! One action of a watch, as reported.

use serde::Serialize;

use super::trigger::Fired;
use crate::backend::{ColdMethod, OsError};
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
    /// For a give-back watch: what the hypervisor got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub give_back: Option<GivenBack>,
    /// What failed, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OsError>,
}

/// What one give-back of a watch handed to the hypervisor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GivenBack {
    /// How cold memory was found.
    pub method: ColdMethod,
    /// Free memory in reportable blocks before, in bytes.
    pub reportable_before_bytes: u64,
    /// The same after.
    pub reportable_after_bytes: u64,
    /// After minus before: what the balloon could newly hand over (negative when the guest
    /// took memory meanwhile).
    pub given_back_bytes: i64,
}
