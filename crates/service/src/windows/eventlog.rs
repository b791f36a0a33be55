//! The Application event log: the `memdefrag` source (one per service name), registered at
//! install and removed at uninstall, and the events the service reports.
//!
//! The source's messages are in memdefrag.exe itself: its message table (built by the
//! `memdefrag` package's build script) maps each event ID below to "%1", the text reported.
//!
//! # References
//! - [Event log registry keys](https://learn.microsoft.com/windows/win32/eventlog/eventlog-key)
//! - [Event sources](https://learn.microsoft.com/windows/win32/eventlog/event-sources),
//!   [RegisterEventSourceW](https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-registereventsourcew),
//!   [ReportEventW](https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-reporteventw)

use std::path::Path;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, RegisterEventSourceW, ReportEventW, EVENTLOG_ERROR_TYPE,
    EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
};

use super::registry;
use crate::manage::ScmError;

/// Where event sources of the Application log are registered.
const SOURCES: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application";

/// EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE.
const TYPES_SUPPORTED: u32 = 7;

/// An event of the service, with its ID in memdefrag.exe's message table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The service started or stopped (information).
    Lifecycle = 1,
    /// An action ran (information).
    Action = 2,
    /// An action failed (warning).
    ActionFailed = 3,
    /// The service could not start or stopped on an error (error).
    Failed = 4,
}

impl Event {
    fn event_type(self) -> u16 {
        match self {
            Event::Lifecycle | Event::Action => EVENTLOG_INFORMATION_TYPE,
            Event::ActionFailed => EVENTLOG_WARNING_TYPE,
            Event::Failed => EVENTLOG_ERROR_TYPE,
        }
    }
}

/// Registers `name` as a source whose messages are in `executable`.
pub(super) fn add_source(name: &str, executable: &Path) -> Result<(), ScmError> {
    let key = registry::Key::create(&format!(r"{SOURCES}\{name}"))?;
    key.set_expand_string("EventMessageFile", &executable.to_string_lossy())?;
    key.set_u32("TypesSupported", TYPES_SUPPORTED)
}

/// Removes the source `name`; one that is not there is not an error.
pub(super) fn remove_source(name: &str) -> Result<(), ScmError> {
    registry::delete_tree(&format!(r"{SOURCES}\{name}"))
}

/// A handle to the event log for one source; deregistered on drop.
pub struct EventLog(HANDLE);

// SAFETY: an event source handle may be used from any thread (ReportEventW is thread-safe).
unsafe impl Send for EventLog {}

impl EventLog {
    /// Opens the log for the source `name`.
    pub fn open(name: &str) -> std::io::Result<EventLog> {
        let name = registry::wide(name);
        // SAFETY: a null server name (this computer) and a NUL-terminated source name that
        // outlives the call.
        let handle = unsafe { RegisterEventSourceW(std::ptr::null(), name.as_ptr()) };
        if handle.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        Ok(EventLog(handle))
    }

    /// Reports `text` as `event`.
    pub fn report(&self, event: Event, text: &str) -> std::io::Result<()> {
        let text = registry::wide(text);
        let strings = [text.as_ptr()];
        // SAFETY: `self.0` is an open event source; one NUL-terminated string that outlives the
        // call; no user SID and no raw data.
        let ok = unsafe {
            ReportEventW(
                self.0,
                event.event_type(),
                0,
                event as u32,
                std::ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                std::ptr::null(),
            )
        };
        if ok == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegisterEventSourceW and is deregistered only here.
        unsafe { DeregisterEventSource(self.0) };
    }
}
