//! The Windows backend: the NT memory-list API (`NtSetSystemInformation` with
//! SystemMemoryListInformation and its neighbours), as RAMMap, Mem Reduct and System Informer
//! use it, and memory-list statistics from `NtQuerySystemInformation`.
//!
//! - `api`: the seam — the NT/Win32 calls as a trait, with their values;
//! - `ops`: the decisions over it (calls, versions, privileges, errors, statistics), tested on
//!   every platform through `fake`, a scripted implementation;
//! - `ffi`: the real calls, one module per subsystem, and all of this backend's unsafe code.

// Built elsewhere for the fuzz targets, which reach only the snapshot over `fake`.
#![cfg_attr(all(feature = "fuzzing", not(any(windows, test))), allow(dead_code))]

pub(crate) mod api;
pub(crate) mod ops;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fake;
#[cfg(windows)]
#[allow(unsafe_code)]
mod ffi;

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use self::api::NtApi;
use crate::backend::{Backend, Estimate, NotPrivileged, OpInfo, OsError, Outcome, RunOptions};
use crate::op::Op;
use crate::snapshot::Snapshot;
use crate::Error;

/// The Windows backend over an implementation of the NT calls: the real ones on Windows, a
/// scripted one in tests. Shared, so that a flush can run on a thread of its own.
pub(crate) struct Windows<A: NtApi>(pub(crate) Arc<A>);

impl<A: NtApi> Windows<A> {
    pub(crate) fn new(api: A) -> Windows<A> {
        Windows(Arc::new(api))
    }
}

/// This system's backend.
#[cfg(windows)]
pub(crate) type Native = Windows<ffi::System>;

#[cfg(windows)]
pub(crate) fn native() -> Native {
    Windows::new(ffi::System)
}

#[cfg(windows)]
pub(crate) use ffi::on_console_close;
#[cfg(windows)]
pub(crate) use ffi::process_memory;

/// Why file-level cache commands cannot run on Windows.
#[cfg(windows)]
const NO_FILE_CACHE: &str = "Windows offers no documented call that tells or drops the cached \
     pages of one file (the standby list is per page, not per file)";

#[cfg(windows)]
pub(crate) fn file_pages(
    _file: &std::fs::File,
    _size: u64,
) -> std::io::Result<crate::platform::FilePages> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        NO_FILE_CACHE,
    ))
}

#[cfg(windows)]
pub(crate) fn drop_pages(_file: &std::fs::File, _flush: bool) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        NO_FILE_CACHE,
    ))
}

/// Why `give-back` refuses on Windows. Hyper-V's Dynamic Memory takes memory back from a
/// Windows guest through its balloon driver, on the host's initiative and sized from the guest's
/// committed memory; Microsoft documents no call by which a program in the guest hands memory to
/// the host (the guest-to-host hints are hypercalls, kernel mode only).
///
/// # References
/// - [Hyper-V Dynamic Memory](https://learn.microsoft.com/windows-server/virtualization/hyper-v/dynamic-memory)
#[cfg(windows)]
const NO_GIVE_BACK: &str = "a Windows guest gives memory back to Hyper-V through its Dynamic \
    Memory balloon driver, which the host drives from the guest's committed memory; Windows has \
    no documented call for a program to hand memory to the host (to free memory the host can \
    then balloon away, run 'memdefrag purge standby')";

// give-back: the host balloons a Windows guest; see NO_GIVE_BACK
#[cfg(windows)]
pub(crate) fn give_back_support() -> Result<u32, String> {
    Err(NO_GIVE_BACK.into())
}

#[cfg(windows)]
pub(crate) fn check_give_back_privilege() -> Result<(), NotPrivileged> {
    Ok(())
}

#[cfg(windows)]
pub(crate) fn cold_method() -> (crate::backend::ColdMethod, String) {
    (crate::backend::ColdMethod::None, NO_GIVE_BACK.into())
}

#[cfg(windows)]
pub(crate) fn cold_kernel_call(_method: crate::backend::ColdMethod, _keep_hot: Duration) -> String {
    "none".into()
}

#[cfg(windows)]
pub(crate) fn reclaim_cold(
    _method: crate::backend::ColdMethod,
    _keep_hot: Duration,
    _stop: &crate::Stop,
) -> Result<Outcome, OsError> {
    Err(OsError::other(NO_GIVE_BACK))
}

#[cfg(windows)]
pub(crate) fn stranded(_order: u32) -> Result<crate::backend::Stranded, OsError> {
    Err(OsError::other(NO_GIVE_BACK))
}

impl<A: NtApi + Send + Sync + 'static> Backend for Windows<A> {
    fn platform(&self) -> &'static str {
        ops::PLATFORM
    }
    fn default_plan(&self) -> Vec<Op> {
        ops::default_plan()
    }
    fn describe(&self, op: Op) -> OpInfo {
        ops::describe(&*self.0, op)
    }
    fn check_privilege(&self, op: Op) -> Result<(), NotPrivileged> {
        ops::check_privilege(&*self.0, op)
    }
    fn snapshot(&self) -> Result<Snapshot, Error> {
        ops::snapshot(&*self.0)
    }
    fn estimate(&self, op: Op, snapshot: &Snapshot) -> Estimate {
        ops::estimate(op, snapshot)
    }
    fn running(&self, names: &[String]) -> Vec<String> {
        ops::running(&*self.0, names)
    }
    fn cpu_times(&self) -> Result<crate::backend::CpuTimes, Error> {
        self.0.cpu_times().map_err(|(code, message)| Error::Stats {
            source_name: "GetSystemTimes".into(),
            message: format!("{message} (error {code})"),
        })
    }
    fn run(&self, op: Op, options: &RunOptions, stop: &crate::Stop) -> Result<Outcome, OsError> {
        if !matches!(op, Op::Modified | Op::FlushVolumes) {
            return ops::run(&*self.0, op, options);
        }
        // A flush waits for the disks, and a stuck one never answers: the call runs on a thread
        // of its own, given up at the deadline. That thread stays in the kernel until the call
        // returns; the run goes on without it.
        let api = Arc::clone(&self.0);
        let run_options = options.clone();
        let (done, result) = mpsc::channel();
        let worker = std::thread::Builder::new()
            .name(format!("memdefrag {op}"))
            .spawn(move || {
                let _ = done.send(ops::run(&*api, op, &run_options));
            })
            .map_err(|e| OsError::from_io("start the flushing thread", &e))?;
        let deadline = Instant::now() + options.flush_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ops::flush_timed_out(op, options.flush_timeout));
            }
            if stop.is_requested() {
                return Err(ops::flush_interrupted(op));
            }
            match result.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(outcome) => {
                    let _ = worker.join();
                    return outcome;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(OsError::other(format!(
                        "the thread running '{op}' ended without an answer"
                    )))
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }
}
