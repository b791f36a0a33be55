//! memdefrag frees and defragments physical memory by asking the kernel to do it.
//!
//! Most "memory optimizers" allocate and touch as much memory as they can so that the OS evicts
//! everything else, then free it. memdefrag instead makes the kernel's own calls: the NT
//! memory-list commands on Windows, `drop_caches`, `sync`, `memory.reclaim`, `process_madvise`
//! and `compact_memory` on Linux.
//!
//! - [`Op`]: the vocabulary of operations and their canonical order.
//! - [`Snapshot`]: memory state, platform-neutral with a platform detail.
//! - [`Plan`]: validate a list of operations, then run it in order, stopping at the first failure.
//! - [`Report`], [`DryRun`]: what ran, rendered for people or as JSON ([`report`]).
//! - [`Backend`]: the seam to the platform; [`Native`] is this system's.
//! - [`watch`]: purge unattended when triggers fire, with a backing-off cooldown.
//!
//! ```no_run
//! use memdefrag::{Native, Op, Plan};
//!
//! let system = Native::new();
//! let report = Plan::canonical([Op::Modified, Op::Standby]).execute(&system)?;
//! println!("freed {} bytes", report.freed_bytes);
//! # Ok::<(), memdefrag::Error>(())
//! ```

mod backend;
mod error;
pub mod op;
mod plan;
mod platform;
pub mod report;
pub mod snapshot;
pub mod watch;

pub use backend::{Backend, NotPrivileged, OpInfo, OsError, Outcome, Support};
pub use error::{exit, Error};
pub use op::Op;
pub use plan::Plan;
pub use platform::Native;
pub use report::{DryRun, OpResult, PlannedOp, Report, Status};
pub use snapshot::{Fragmentation, Snapshot};
