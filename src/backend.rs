//! The seam between the platform-neutral plan and a platform's kernel calls.
//!
//! [`crate::plan`] drives any [`Backend`]; the real one is [`crate::Native`]. Tests drive the plan
//! through a scripted backend to check ordering, validation and error handling without touching
//! the system.

use std::fmt;

use serde::Serialize;

use crate::op::Op;
use crate::snapshot::Snapshot;
use crate::Error;

/// Whether an operation can run on this system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// The operation can run here (privilege permitting).
    Yes,
    /// The operation cannot run here, for this reason.
    No { reason: String },
}

/// What a platform says about one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpInfo {
    pub op: Op,
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
    /// What to do instead, e.g. "run memdefrag as root (sudo memdefrag …)".
    pub remedy: String,
}

/// An error the operating system returned for an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OsError {
    /// The OS error code (errno on Linux, the Win32 error code on Windows).
    pub code: i64,
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
            code,
            message: message.into(),
            ntstatus: None,
            not_privileged: false,
        }
    }

    /// An error from an `io::Error`, with `context` naming what failed.
    pub fn from_io(context: &str, err: &std::io::Error) -> OsError {
        OsError::new(
            err.raw_os_error().map_or(-1, i64::from),
            format!("{context}: {err}"),
        )
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (os error {}", self.message, self.code)?;
        if let Some(nt) = &self.ntstatus {
            write!(f, ", NTSTATUS {nt}")?;
        }
        f.write_str(")")
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
pub trait Backend {
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

    /// What `op` would release, estimated from `snapshot`; `None` when it cannot be told.
    fn estimate(&self, op: Op, snapshot: &Snapshot) -> Option<u64>;

    /// Runs `op`. Only called after `describe` said it is supported and `check_privilege` passed.
    fn run(&self, op: Op) -> Result<Outcome, OsError>;
}
