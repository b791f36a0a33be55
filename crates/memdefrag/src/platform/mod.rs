//! Platform backends. Each one is a module exposing the same `pub(crate)` items:
//!
//! - `Native`, a type implementing [`Backend`] over the system's calls, and `native()`;
//! - `on_console_close(callback)`: have `callback` called, with the time the system allows,
//!   when the console window closes or the system shuts down, and ignore log-off events
//!   (Windows); elsewhere it does nothing;
//! - `file_pages(file, size)`, `drop_pages(file, flush)`: one file's pages in the page cache,
//!   and dropping them (Linux; an `Unsupported` error elsewhere).
//!
//! `linux` and `windows` are the real backends; `unsupported` answers "unsupported" for every
//! operation so that the library and the CLI still build and explain themselves elsewhere.
//!
//! This layer names nothing above it: it knows the vocabulary ([`Op`], [`Snapshot`], the
//! [`Backend`] seam and [`Error`]), never the plan, the reports or the watch.

#[cfg(target_os = "linux")]
pub(crate) mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

// The Windows decisions are tested (and fuzzed) on every platform, over a scripted NT API.
#[cfg(any(windows, test, feature = "fuzzing"))]
pub(crate) mod windows;
#[cfg(windows)]
use windows as imp;

#[cfg(not(any(target_os = "linux", windows)))]
mod unsupported;
#[cfg(not(any(target_os = "linux", windows)))]
use unsupported as imp;

use std::time::Duration;

use crate::backend::{
    Backend, ColdMethod, Estimate, NotPrivileged, OpInfo, OsError, Outcome, RunOptions, Stranded,
};
use crate::op::Op;
use crate::snapshot::Snapshot;
use crate::Error;

/// Has `callback` called when the console window is closed or the system shuts down (Windows),
/// with the time the system allows before it ends the process; the process ends when `callback`
/// returns. A log-off event is ignored from then on. Elsewhere it does nothing: signals reach the
/// process's own handlers.
pub(crate) fn on_console_close(
    callback: impl Fn(Duration) + Send + Sync + 'static,
) -> std::io::Result<()> {
    imp::on_console_close(Box::new(callback))
}

/// One file's pages in the page cache, in bytes (whole pages, as util-linux `fincore` counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FilePages {
    /// Pages in the cache.
    pub cached_bytes: u64,
    /// Of those, dirty; `None` when the platform cannot tell.
    pub dirty_bytes: Option<u64>,
    /// Of those, under writeback; `None` when the platform cannot tell.
    pub writeback_bytes: Option<u64>,
    /// The call that counted them.
    pub source: &'static str,
}

/// The cache state of `file`, `size` bytes long. An `Unsupported` error where the platform has
/// no such call.
pub(crate) fn file_pages(file: &std::fs::File, size: u64) -> std::io::Result<FilePages> {
    imp::file_pages(file, size)
}

/// Drops the clean, unmapped cached pages of `file`, writing its dirty pages first with `flush`.
pub(crate) fn drop_pages(file: &std::fs::File, flush: bool) -> std::io::Result<()> {
    imp::drop_pages(file, flush)
}

/// Give-back's kernel side. The page reporting order of this guest, or why memory cannot be
/// given back here (not a guest with free page reporting, or a platform without a way).
pub(crate) fn give_back_support() -> Result<u32, String> {
    imp::give_back_support()
}

/// Whether this process may give memory back (Linux: root, for DAMON, memory.reclaim,
/// compact_memory and /proc/pagetypeinfo).
pub(crate) fn check_give_back_privilege() -> Result<(), NotPrivileged> {
    imp::check_give_back_privilege()
}

/// How cold memory can be found here, and why that way (one line).
pub(crate) fn cold_method() -> (ColdMethod, String) {
    imp::cold_method()
}

/// The kernel interface `method` uses, for the report and the dry run.
pub(crate) fn cold_kernel_call(method: ColdMethod, keep_hot: Duration) -> String {
    imp::cold_kernel_call(method, keep_hot)
}

/// Reclaims memory not accessed for `keep_hot`, with `method`; returns early on `stop`.
pub(crate) fn reclaim_cold(
    method: ColdMethod,
    keep_hot: Duration,
    stop: &crate::Stop,
) -> Result<Outcome, OsError> {
    imp::reclaim_cold(method, keep_hot, stop)
}

/// Free memory in blocks smaller than 2^`order` pages, by the migrate type of their pageblock.
pub(crate) fn stranded(order: u32) -> Result<Stranded, OsError> {
    imp::stranded(order)
}

/// The backend of the system memdefrag runs on.
pub struct Native {
    inner: imp::Native,
}

impl Native {
    /// This system's backend.
    pub fn new() -> Native {
        Native {
            inner: imp::native(),
        }
    }
}

impl Default for Native {
    fn default() -> Native {
        Native::new()
    }
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Native")
            .field("platform", &self.inner.platform())
            .finish()
    }
}

impl Backend for Native {
    fn platform(&self) -> &'static str {
        self.inner.platform()
    }
    fn default_plan(&self) -> Vec<Op> {
        self.inner.default_plan()
    }
    fn describe(&self, op: Op) -> OpInfo {
        self.inner.describe(op)
    }
    fn check_privilege(&self, op: Op) -> Result<(), NotPrivileged> {
        self.inner.check_privilege(op)
    }
    fn snapshot(&self) -> Result<Snapshot, Error> {
        self.inner.snapshot()
    }
    fn estimate(&self, op: Op, snapshot: &Snapshot) -> Estimate {
        self.inner.estimate(op, snapshot)
    }
    fn running(&self, names: &[String]) -> Vec<String> {
        self.inner.running(names)
    }
    fn run(&self, op: Op, options: &RunOptions, stop: &crate::Stop) -> Result<Outcome, OsError> {
        self.inner.run(op, options, stop)
    }
    fn stall_trigger(
        &self,
        stall: Duration,
        window: Duration,
    ) -> Result<Box<dyn crate::backend::StallTrigger>, Error> {
        self.inner.stall_trigger(stall, window)
    }
    fn cpu_times(&self) -> Result<crate::backend::CpuTimes, Error> {
        self.inner.cpu_times()
    }
}
