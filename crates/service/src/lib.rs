//! memdefrag as a Windows service: a memory watcher that the service control manager starts at
//! boot, keeps running across log-offs, restarts when it fails and stops cleanly at shutdown.
//!
//! The decisions are plain Rust, tested on every platform:
//! - [`spec`]: what is registered (name, display name, the command line that records the watch
//!   options) and how the options are read back from it;
//! - [`error`]: the service's states and how requests fail;
//! - [`manage`]: install, start, stop, status and uninstall over the [`manage::Scm`] seam;
//! - [`control`]: what each service control does.
//!
//! Its action log is the library's [`memdefrag::log`]: one JSON object per line, capped and
//! rotated.
//!
//! `windows` puts them on the real service control manager (the windows-service crate), the
//! Windows Event Log and the service dispatcher.

// Unsafe code lives only in the Windows FFI modules, which opt out of this one by one.
#![deny(unsafe_code)]

pub mod control;
pub mod error;
pub mod manage;
pub mod spec;
#[cfg(windows)]
pub mod windows;

pub use error::{ServiceError, ServiceState};
pub use manage::ServiceStatus;
pub use spec::ServiceSpec;
