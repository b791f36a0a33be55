//! The seam between the platform-neutral engine and a platform's kernel calls.
//!
//! The engine above (plans and the watch) drives any [`Backend`]; the platform layer below
//! implements it for this system. Tests drive the engine through one scripted backend to check
//! ordering, validation and error handling without touching the system.

use std::fmt;

use serde::Serialize;

use crate::error::{Error, Remedy};
use crate::op::Op;
use crate::snapshot::Snapshot;

/// Whether an operation can run on this system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// The operation can run here (privilege permitting).
    Yes,
    /// The operation cannot run here.
    No {
        /// Why, in words a user can act on.
        reason: String,
    },
}

/// What a platform says about one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// The operation.
    pub op: Op,
    /// Whether it can run here.
    pub support: Support,
    /// The exact kernel call the operation makes here.
    pub kernel_call: String,
    /// The privilege the operation needs here, in words ("none" when it needs none).
    pub privilege: String,
}

impl Serialize for OpInfo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("OpInfo", 6)?;
        s.serialize_field("op", &self.op)?;
        s.serialize_field("summary", self.op.summary())?;
        s.serialize_field("supported", &self.unsupported_reason().is_none())?;
        s.serialize_field("reason", &self.unsupported_reason())?;
        s.serialize_field("kernel_call", &self.kernel_call)?;
        s.serialize_field("privilege", &self.privilege)?;
        s.end()
    }
}

impl OpInfo {
    /// Why the operation cannot run here, if it cannot.
    pub fn unsupported_reason(&self) -> Option<&str> {
        match &self.support {
            Support::Yes => None,
            Support::No { reason } => Some(reason),
        }
    }
}

/// Why the process may not run an operation, and what would let it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotPrivileged {
    /// What is missing, e.g. "write access to /proc/sys/vm/drop_caches".
    pub needs: String,
    /// What would give it.
    pub remedy: Remedy,
}

/// An error the operating system returned for an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OsError {
    /// The OS error code (errno on Linux, the Win32 error code on Windows); `None` (null in JSON)
    /// when the failure came with no OS code.
    pub code: Option<i64>,
    /// The system's message for it, with context.
    pub message: String,
    /// The NTSTATUS behind the Win32 code, as hex (Windows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntstatus: Option<String>,
    /// The system refused for lack of privilege (the run exits 77).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_privileged: bool,
}

impl OsError {
    /// An error with an OS code and a message.
    pub fn new(code: i64, message: impl Into<String>) -> OsError {
        OsError {
            code: Some(code),
            ..OsError::other(message)
        }
    }

    /// A failure that came with no OS error code.
    pub fn other(message: impl Into<String>) -> OsError {
        OsError {
            code: None,
            message: message.into(),
            ntstatus: None,
            not_privileged: false,
        }
    }

    /// An error from an `io::Error`, with `context` naming what failed.
    pub fn from_io(context: &str, err: &std::io::Error) -> OsError {
        OsError {
            code: err.raw_os_error().map(i64::from),
            ..OsError::other(format!("{context}: {err}"))
        }
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.code, &self.ntstatus) {
            (Some(code), Some(nt)) => write!(f, " (os error {code}, NTSTATUS {nt})"),
            (Some(code), None) => write!(f, " (os error {code})"),
            (None, Some(nt)) => write!(f, " (NTSTATUS {nt})"),
            (None, None) => Ok(()),
        }
    }
}

/// What an operation would free, estimated from a snapshot before it runs. It means the same as
/// a report's `freed_bytes`: memory that becomes free. An operation that only moves pages (to a
/// list they can later be freed from) frees 0, and says in `note` what it moves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// The bytes it would free; `None` when that cannot be told beforehand.
    pub bytes: Option<u64>,
    /// What else it would do, e.g. "moves 1.2 GiB to the standby list".
    pub note: Option<String>,
}

impl Estimate {
    /// It would free `bytes`.
    pub fn frees(bytes: u64) -> Estimate {
        Estimate {
            bytes: Some(bytes),
            note: None,
        }
    }

    /// It frees nothing by itself, and does what `note` says.
    pub fn moves(note: impl Into<String>) -> Estimate {
        Estimate {
            bytes: Some(0),
            note: Some(note.into()),
        }
    }

    /// What it would free cannot be told beforehand.
    pub fn unknown() -> Estimate {
        Estimate::default()
    }
}

/// What a successful operation reports besides success: counts and remarks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Named counts, in the order they should be shown (e.g. "processes" → 42).
    pub counts: Vec<(&'static str, u64)>,
    /// Remarks a user should see (e.g. why less was done than asked).
    pub notes: Vec<String>,
}

/// A platform's memory operations and statistics.
///
/// `Send + Sync`, so that a front end can run a plan on a worker thread while it keeps reading
/// the memory state on another.
pub trait Backend: Send + Sync {
    /// "linux", "windows", or the name of an unsupported OS.
    fn platform(&self) -> &'static str;

    /// The operations `memdefrag defrag` runs here, in the order it runs them.
    fn default_plan(&self) -> Vec<Op>;

    /// Support, kernel call and privilege of `op` here.
    fn describe(&self, op: Op) -> OpInfo;

    /// Checks, without side effects, that this process may run `op`.
    fn check_privilege(&self, op: Op) -> Result<(), NotPrivileged>;

    /// The memory state now.
    fn snapshot(&self) -> Result<Snapshot, Error>;

    /// What `op` would free, estimated from `snapshot`.
    fn estimate(&self, op: Op, snapshot: &Snapshot) -> Estimate;

    /// Runs `op`. Only called after `describe` said it is supported and `check_privilege` passed.
    fn run(&self, op: Op) -> Result<Outcome, OsError>;
}
