//! Console events in the service process: none of them may end it.
//!
//! A service gets CTRL_LOGOFF_EVENT whenever a user logs off, and CTRL_SHUTDOWN_EVENT at
//! shutdown (which the SCM also sends as SERVICE_CONTROL_SHUTDOWN, the one it answers). Without a
//! handler, the default one would end the process.
//!
//! # References
//! - [SetConsoleCtrlHandler](https://learn.microsoft.com/windows/console/setconsolectrlhandler),
//!   [HandlerRoutine](https://learn.microsoft.com/windows/console/handlerroutine)

use windows_sys::core::BOOL;
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;

unsafe extern "system" fn handled(_ctrl_type: u32) -> BOOL {
    1 // TRUE: handled; the process goes on.
}

/// Installs a handler that answers every console event as handled.
pub(super) fn ignore_events() -> std::io::Result<()> {
    // SAFETY: `handled` is a valid handler routine for the life of the process.
    if unsafe { SetConsoleCtrlHandler(Some(handled), 1) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
