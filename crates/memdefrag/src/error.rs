//! Errors that stop memdefrag before or instead of running operations.
//!
//! A failed operation is not an [`Error`]: it is part of the run's report, which says which
//! operations ran. An `Error` means nothing was changed.
//!
//! The messages name the library's concepts, never a front end's words (a flag, a menu): a front
//! end matches on the variants to say what its user should do.

use std::fmt;

use crate::op::Op;

/// Why a request could not be carried out. Each kind has its own process exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operation cannot run on this system.
    #[error("operation '{op}' is not supported here: {reason}")]
    Unsupported {
        /// The operation.
        op: Op,
        /// Why it cannot run here.
        reason: String,
    },

    /// The process lacks the privilege an operation needs.
    #[error("operation '{op}' needs {needs}.\n{remedy}")]
    NotPrivileged {
        /// The operation.
        op: Op,
        /// What the process lacks, e.g. "write access to /proc/sys/vm/drop_caches (…)".
        needs: String,
        /// What would give it.
        remedy: Remedy,
    },

    /// A process filter was given to a plan without `working-sets`, the only operation it
    /// applies to.
    #[error(
        "a process filter chooses the processes of 'working-sets', which this plan does not run"
    )]
    FilterWithoutWorkingSets,

    /// Memory statistics could not be read or understood.
    #[error("cannot read memory statistics from {source_name}: {message}")]
    Stats {
        /// The file or API read.
        source_name: String,
        /// What went wrong.
        message: String,
    },

    /// A command other than an operation (e.g. per-file cache) cannot run on this system.
    #[error("{feature} is not supported here: {reason}")]
    UnsupportedFeature {
        /// What was asked, e.g. "per-file cache residency".
        feature: &'static str,
        /// Why it cannot run here.
        reason: String,
    },

    /// The process lacks the privilege a command other than an operation needs.
    #[error("{feature} needs {needs}.\n{remedy}")]
    FeatureNotPrivileged {
        /// What was asked, e.g. "giving memory back to the hypervisor".
        feature: &'static str,
        /// What the process lacks.
        needs: String,
        /// What would give it.
        remedy: Remedy,
    },

    /// A stall window this process may not ask the kernel for.
    #[error(
        "without CAP_SYS_RESOURCE the kernel accepts only pressure windows that are whole \
         multiples of 2 s (2 s to 10 s), not {}: use one of those, or give memdefrag \
         CAP_SYS_RESOURCE (root has it, unless a container or sandbox took it away)",
        humantime::format_duration(*.0)
    )]
    PressureWindowNeedsPrivilege(std::time::Duration),

    /// memdefrag has no backend for this operating system.
    #[error("memdefrag does not support this operating system ({0})")]
    UnsupportedPlatform(&'static str),
}

/// What gives a process the privilege it lacks. A front end turns it into advice fitted to
/// where the user is (a shell, a service, a desktop app).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remedy {
    /// Run as root (Linux): root holds the capabilities and may write /proc/sys.
    RunAsRoot,
    /// Run elevated, as an administrator (Windows): the token then holds the privileges.
    Elevate,
    /// Run the container privileged (Linux): container runtimes mount /proc/sys read-only and
    /// drop capabilities, so even root inside cannot ask the kernel.
    PrivilegedContainer,
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Remedy::RunAsRoot => "Run it as root.",
            Remedy::Elevate => "Run it elevated (as administrator).",
            Remedy::PrivilegedContainer => "Run the container privileged.",
        })
    }
}

/// Process exit codes, part of the command-line contract.
pub mod exit {
    /// Everything ran.
    pub const OK: i32 = 0;
    /// An operation failed (the ones after it were skipped), or statistics could not be read.
    pub const FAILED: i32 = 1;
    /// The command line is wrong (unknown operation, bad option).
    pub const USAGE: i32 = 2;
    /// An operation is not supported on this system; nothing ran.
    pub const UNSUPPORTED: i32 = 3;
    /// The process lacks a privilege an operation needs; nothing ran.
    pub const NOT_PRIVILEGED: i32 = 77;
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Unsupported { .. }
            | Error::UnsupportedFeature { .. }
            | Error::UnsupportedPlatform(_) => exit::UNSUPPORTED,
            Error::NotPrivileged { .. } | Error::FeatureNotPrivileged { .. } => {
                exit::NOT_PRIVILEGED
            }
            Error::Stats { .. } => exit::FAILED,
            Error::FilterWithoutWorkingSets | Error::PressureWindowNeedsPrivilege(_) => exit::USAGE,
        }
    }

    /// A statistics error for `source_name` (a file or API) with any displayable cause.
    #[cfg_attr(not(any(target_os = "linux", windows)), allow(dead_code))]
    pub(crate) fn stats(source_name: impl Into<String>, cause: impl fmt::Display) -> Error {
        Error::Stats {
            source_name: source_name.into(),
            message: cause.to_string(),
        }
    }
}
