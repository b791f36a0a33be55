//! The Windows backend: the NT memory-list API (`NtSetSystemInformation` with
//! SystemMemoryListInformation and friends).
//!
//! Not implemented in this build: every operation answers "unsupported" (through the fallback
//! backend) so that the Windows targets build and explain themselves. Only the default plan, the
//! seed's sequence, is Windows' own already.

pub(crate) use super::unsupported::{check_privilege, describe, estimate, run, snapshot, PLATFORM};

use crate::op::Op;

/// The seed's sequence: working sets, then the modified list, then the standby list.
pub(crate) fn default_plan() -> Vec<Op> {
    vec![Op::WorkingSets, Op::Modified, Op::Standby]
}
