//! The fallback for operating systems memdefrag has no backend for: every operation is
//! unsupported, and no statistics are read. It keeps the library and the CLI building (and
//! explaining themselves) everywhere.

use crate::backend::{
    Backend, Estimate, NotPrivileged, OpInfo, OsError, Outcome, RunOptions, Support,
};
use crate::op::Op;
use crate::snapshot::Snapshot;
use crate::Error;

const PLATFORM: &str = std::env::consts::OS;

/// This system's backend: it explains that there is none.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Native;

pub(crate) fn native() -> Native {
    Native
}

impl Backend for Native {
    fn platform(&self) -> &'static str {
        PLATFORM
    }
    fn default_plan(&self) -> Vec<Op> {
        Vec::new()
    }
    fn describe(&self, op: Op) -> OpInfo {
        OpInfo {
            op,
            support: Support::No {
                reason: format!("memdefrag has no backend for {PLATFORM}"),
            },
            kernel_call: "none".into(),
            privilege: "-".into(),
        }
    }
    fn check_privilege(&self, _op: Op) -> Result<(), NotPrivileged> {
        Ok(())
    }
    fn snapshot(&self) -> Result<Snapshot, Error> {
        Err(Error::UnsupportedPlatform(PLATFORM))
    }
    fn estimate(&self, _op: Op, _snapshot: &Snapshot) -> Estimate {
        Estimate::unknown()
    }
    fn running(&self, _names: &[String]) -> Vec<String> {
        Vec::new()
    }
    fn run(&self, op: Op, _options: &RunOptions, _stop: &crate::Stop) -> Result<Outcome, OsError> {
        Err(OsError::other(format!(
            "'{op}' is not supported on {PLATFORM}"
        )))
    }
}

/// No console handling here.
pub(crate) fn on_console_close(
    _callback: Box<dyn Fn(std::time::Duration) + Send + Sync>,
) -> std::io::Result<()> {
    Ok(())
}

/// Why file-level cache commands cannot run here.
const NO_FILE_CACHE: &str = "memdefrag has no backend for this operating system";
const NO_GIVE_BACK: &str = NO_FILE_CACHE;

// give-back: nothing here
pub(crate) fn give_back_support() -> Result<u32, String> {
    Err(NO_GIVE_BACK.into())
}

pub(crate) fn check_give_back_privilege() -> Result<(), NotPrivileged> {
    Ok(())
}

pub(crate) fn cold_method() -> (crate::backend::ColdMethod, String) {
    (crate::backend::ColdMethod::None, NO_GIVE_BACK.into())
}

pub(crate) fn cold_kernel_call(
    _method: crate::backend::ColdMethod,
    _keep_hot: std::time::Duration,
) -> String {
    "none".into()
}

pub(crate) fn reclaim_cold(
    _method: crate::backend::ColdMethod,
    _keep_hot: std::time::Duration,
    _stop: &crate::Stop,
) -> Result<Outcome, OsError> {
    Err(OsError::other(NO_GIVE_BACK))
}

pub(crate) fn stranded(_order: u32) -> Result<crate::backend::Stranded, OsError> {
    Err(OsError::other(NO_GIVE_BACK))
}

pub(crate) fn file_pages(
    _file: &std::fs::File,
    _size: u64,
) -> std::io::Result<crate::platform::FilePages> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        NO_FILE_CACHE,
    ))
}

pub(crate) fn drop_pages(_file: &std::fs::File, _flush: bool) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        NO_FILE_CACHE,
    ))
}
