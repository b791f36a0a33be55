//! The Windows backend: the NT memory-list API (`NtSetSystemInformation` with
//! SystemMemoryListInformation and its neighbours), as RAMMap, Mem Reduct and System Informer
//! use it, and memory-list statistics from `NtQuerySystemInformation`.
//!
//! - `api`: the seam — the NT/Win32 calls as a trait, with their values;
//! - `ops`: the decisions over it (calls, versions, privileges, errors, statistics), tested on
//!   every platform through a scripted implementation;
//! - `ffi`: the real calls, and all of this backend's unsafe code.

mod api;
mod ops;

#[cfg(windows)]
mod ffi;

#[cfg(windows)]
pub(crate) use self::native::*;

/// The backend functions over the real calls.
#[cfg(windows)]
mod native {
    pub(crate) use super::ops::{default_plan, estimate, PLATFORM};

    use super::ffi::System;
    use super::ops;
    use crate::backend::{NotPrivileged, OpInfo, OsError, Outcome};
    use crate::op::Op;
    use crate::snapshot::Snapshot;
    use crate::Error;

    pub(crate) fn describe(op: Op) -> OpInfo {
        ops::describe(&System, op)
    }

    pub(crate) fn check_privilege(op: Op) -> Result<(), NotPrivileged> {
        ops::check_privilege(&System, op)
    }

    pub(crate) fn snapshot() -> Result<Snapshot, Error> {
        ops::snapshot(&System)
    }

    pub(crate) fn run(op: Op) -> Result<Outcome, OsError> {
        ops::run(&System, op)
    }

    pub(crate) use super::ffi::hold_console_close;
}
