//! What the service control manager reports and how service requests fail: the vocabulary
//! both the service's specification ([`crate::spec`]) and its management ([`crate::manage`])
//! speak.

use std::time::Duration;

use serde::Serialize;

/// The state of a service, as the SCM reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceState {
    /// Not running.
    Stopped,
    /// Starting.
    StartPending,
    /// Stopping.
    StopPending,
    /// Running.
    Running,
    /// Paused, or pausing or resuming (memdefrag never pauses).
    Paused,
}

/// How a stopped service last ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "code")]
pub enum ExitCode {
    /// A Win32 error code (0: no error).
    Win32(u32),
    /// memdefrag's own code: the exit code `memdefrag watch` would have given (2: bad options,
    /// 3: unsupported operation, 77: not privileged, 1: failed).
    ServiceSpecific(u32),
}

/// What the service control manager answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScmError {
    /// ERROR_ACCESS_DENIED: the process is not elevated.
    #[error("access denied")]
    AccessDenied,
    /// ERROR_SERVICE_DOES_NOT_EXIST.
    #[error("the service does not exist")]
    NotInstalled,
    /// ERROR_SERVICE_EXISTS.
    #[error("the service exists")]
    Exists,
    /// ERROR_SERVICE_MARKED_FOR_DELETE: removed, but still open somewhere.
    #[error("the service is marked for deletion")]
    MarkedForDelete,
    /// ERROR_SERVICE_NOT_ACTIVE: a stop for a service that is not running.
    #[error("the service is not running")]
    NotActive,
    /// ERROR_SERVICE_ALREADY_RUNNING.
    #[error("the service is already running")]
    AlreadyRunning,
    /// Any other error: its Win32 code and the system's message.
    #[error("{message} (error {code})")]
    Os {
        /// The Win32 error code.
        code: u32,
        /// The system's message.
        message: String,
    },
}

/// Why a service request failed. Each kind has its exit code ([`ServiceError::exit_code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The service name is not one memdefrag accepts.
    #[error("'{0}' is not a valid service name: use 1 to 64 letters, digits, '-', '_' or '.'")]
    InvalidName(String),
    /// The process may not change services.
    #[error("changing services needs an elevated (administrator) process")]
    NotElevated,
    /// A service of that name exists.
    #[error("the service '{0}' is already installed")]
    AlreadyInstalled(String),
    /// No service of that name exists.
    #[error("the service '{0}' is not installed")]
    NotInstalled(String),
    /// The service was removed but something still holds it open.
    #[error(
        "the service '{0}' is being removed but is still open (close the Services window and \
         try again)"
    )]
    MarkedForDelete(String),
    /// The service did not reach a state in time.
    #[error("the service '{name}' did not become {wanted} within {} s; it is {state:?}", .waited.as_secs())]
    Timeout {
        /// The service.
        name: String,
        /// The state waited for.
        wanted: &'static str,
        /// The state it is in.
        state: ServiceState,
        /// How long it was waited for.
        waited: Duration,
    },
    /// The service stopped while starting.
    #[error("the service '{name}' stopped while starting (exit code {exit_code:?}){}", last_line(.last_log))]
    StartFailed {
        /// The service.
        name: String,
        /// How it ended.
        exit_code: ExitCode,
        /// The last line of its log, if any.
        last_log: Option<String>,
    },
    /// The SCM refused something else.
    #[error("{action}: {source}")]
    Scm {
        /// What was asked.
        action: &'static str,
        /// The SCM's answer.
        source: ScmError,
    },
}

fn last_line(line: &Option<String>) -> String {
    line.as_ref()
        .map(|l| format!("; its log says: {l}"))
        .unwrap_or_default()
}

impl ServiceError {
    /// The process exit code: 2 for a bad name, 77 without elevation, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ServiceError::InvalidName(_) => memdefrag::exit::USAGE,
            ServiceError::NotElevated => memdefrag::exit::NOT_PRIVILEGED,
            _ => memdefrag::exit::FAILED,
        }
    }
}
