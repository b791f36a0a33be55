//! The fallback for operating systems memdefrag has no backend for: every operation is
//! unsupported, and no statistics are read. It keeps the library and the CLI building (and
//! explaining themselves) everywhere.

use crate::backend::{NotPrivileged, OpInfo, OsError, Outcome, Support};
use crate::op::Op;
use crate::snapshot::Snapshot;
use crate::Error;

pub(crate) const PLATFORM: &str = std::env::consts::OS;

pub(crate) fn default_plan() -> Vec<Op> {
    Vec::new()
}

pub(crate) fn describe(op: Op) -> OpInfo {
    OpInfo {
        op,
        support: Support::No {
            reason: format!("memdefrag has no backend for {PLATFORM}"),
        },
        kernel_call: "none".into(),
        privilege: "-".into(),
    }
}

pub(crate) fn check_privilege(_op: Op) -> Result<(), NotPrivileged> {
    Ok(())
}

pub(crate) fn snapshot() -> Result<Snapshot, Error> {
    Err(Error::UnsupportedPlatform(PLATFORM))
}

pub(crate) fn estimate(_op: Op, _snapshot: &Snapshot) -> Option<u64> {
    None
}

pub(crate) fn run(op: Op) -> Result<Outcome, OsError> {
    Err(OsError::new(
        -1,
        format!("'{op}' is not supported on {PLATFORM}"),
    ))
}

pub(crate) fn hold_console_close() -> std::io::Result<()> {
    Ok(())
}
