//! The service on Windows: the service control manager through the windows-service crate
//! (`scm`), the Application event log (`eventlog`), and the service's own process (`runtime`:
//! the dispatcher, the control handler, the status it reports, the action log).

#[allow(unsafe_code)]
mod console;
#[allow(unsafe_code)]
mod eventlog;
#[allow(unsafe_code)]
mod registry;
mod runtime;
mod scm;

pub use runtime::{run, Body, Failure, RunError, Session};
pub use scm::WindowsScm;

/// The machine's ProgramData folder, where the action logs live: from the registry, as the
/// shell finds it, so that a service (whose environment may differ) and a console agree.
pub fn program_data() -> std::path::PathBuf {
    registry::read_string(
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList",
        "ProgramData",
    )
    .or_else(|| std::env::var("ProgramData").ok())
    .map_or_else(|| r"C:\ProgramData".into(), std::path::PathBuf::from)
}
