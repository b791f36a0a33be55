//! memdefrag frees and defragments physical memory by asking the kernel to do it.
//!
//! Most "memory optimizers" allocate and touch as much memory as they can so that the OS evicts
//! everything else, then free it. memdefrag instead makes the kernel's own calls: the NT
//! memory-list commands on Windows, `drop_caches`, `sync`, `memory.reclaim`, `process_madvise`
//! and `compact_memory` on Linux.
//!
//! The layers, each depending only on the ones before it:
//!
//! 1. the vocabulary and data: [`Op`], [`Snapshot`], [`Error`], [`Backend`] (the seam to the
//!    platform) and [`Stop`] (asking a running job to stop, from any thread);
//! 2. [`Native`]: this system's backend (Linux, Windows, or a fallback that explains itself);
//! 3. the engine: [`Plan`] validates a list of operations, then runs it in order, stopping at the
//!    first failure, into a [`Report`] or a [`DryRun`] ([`report`]); [`watch`] purges
//!    unattended when triggers fire, with a backing-off cooldown; [`wsl`] shows and gives back
//!    WSL 2's VM memory from the Windows side, through `wsl.exe`;
//! 4. [`render`]: all of these for people (tables, one-line events) and as JSON.
//!
//! [`log`] is an append-only JSON-lines log with rotation, for front ends that run unattended.
//!
//! Front ends (the `memdefrag` command, and the desktop and service front ends) build on these
//! and are never named by them.
//!
//! ```no_run
//! use memdefrag::{Native, Op, Plan};
//!
//! let system = Native::new();
//! let report = Plan::canonical([Op::Modified, Op::Standby]).execute(&system)?;
//! println!("freed {} bytes", report.freed_bytes);
//! # Ok::<(), memdefrag::Error>(())
//! ```

// Unsafe code lives only in the FFI modules, which opt out of this one by one.
#![deny(unsafe_code)]

mod backend;
mod error;
pub mod files;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod giveback;
pub mod log;
pub mod op;
mod plan;
mod platform;
pub mod render;
pub mod report;
pub mod snapshot;
mod stop;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod units;
pub mod watch;
pub mod wsl;

pub use backend::{
    Backend, Decision, Estimate, NotPrivileged, OpInfo, OsError, Outcome, ProcessFilter,
    ProcessMatch, RunOptions, Support, TrimmedProcess, DEFAULT_FLUSH_TIMEOUT,
};
pub use error::{exit, Error, Remedy};
pub use op::Op;
pub use plan::{Plan, ValidatedPlan};
pub use platform::Native;
pub use report::{DryRun, OpResult, PlannedOp, Report, Status};
pub use snapshot::{Fragmentation, Snapshot};
pub use stop::{Busy, Stop};
