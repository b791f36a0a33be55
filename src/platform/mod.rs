//! Platform backends. Each one is a module exposing the same `pub(crate)` items, which
//! [`Native`] forwards to:
//!
//! - `PLATFORM`: the name reported in snapshots;
//! - `default_plan()`: what `memdefrag defrag` runs;
//! - `describe(op)`, `check_privilege(op)`: support, kernel call and privilege, without effects;
//! - `snapshot()`, `estimate(op, &snapshot)`: memory state;
//! - `run(op)`: the kernel call;
//! - `hold_console_close()`: keep a closing console from cutting an action short (Windows).
//!
//! `linux` and `windows` are the real backends; `unsupported` answers "unsupported" for every
//! operation so that the library and the CLI still build and explain themselves elsewhere.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

// The Windows decisions are tested on every platform, over a scripted NT API.
#[cfg(any(windows, test))]
mod windows;
#[cfg(windows)]
use windows as imp;

#[cfg(not(any(target_os = "linux", windows)))]
mod unsupported;
#[cfg(not(any(target_os = "linux", windows)))]
use unsupported as imp;

use crate::backend::{Backend, NotPrivileged, OpInfo, OsError, Outcome};
use crate::op::Op;
use crate::snapshot::Snapshot;
use crate::Error;

/// See [`crate::watch::hold_console_close`].
pub(crate) fn hold_console_close() -> std::io::Result<()> {
    imp::hold_console_close()
}

/// The backend of the system memdefrag runs on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Native {
    _private: (),
}

impl Native {
    pub fn new() -> Native {
        Native::default()
    }
}

impl Backend for Native {
    fn platform(&self) -> &'static str {
        imp::PLATFORM
    }
    fn default_plan(&self) -> Vec<Op> {
        imp::default_plan()
    }
    fn describe(&self, op: Op) -> OpInfo {
        imp::describe(op)
    }
    fn check_privilege(&self, op: Op) -> Result<(), NotPrivileged> {
        imp::check_privilege(op)
    }
    fn snapshot(&self) -> Result<Snapshot, Error> {
        imp::snapshot()
    }
    fn estimate(&self, op: Op, snapshot: &Snapshot) -> Option<u64> {
        imp::estimate(op, snapshot)
    }
    fn run(&self, op: Op) -> Result<Outcome, OsError> {
        imp::run(op)
    }
}
