//! The console control handler: lets a closing console window wait for the operation in
//! progress.
//!
//! Windows ends a console process as soon as its handlers return from a close or shutdown event,
//! and at most 5 s after it. The handler calls the callback it was given, which decides what to
//! stop and how long to wait, with the time that leaves.
//!
//! A log-off event is not an end: processes in session 0 (services, tasks run as SYSTEM)
//! receive CTRL_LOGOFF_EVENT whenever any user logs off. The handler answers it as handled, so
//! that no handler installed before it (the signal handler that stops a watch) sees it, and the
//! process goes on.
//!
//! # References
//! - [SetConsoleCtrlHandler](https://learn.microsoft.com/windows/console/setconsolectrlhandler),
//!   [HandlerRoutine](https://learn.microsoft.com/windows/console/handlerroutine)

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use windows_sys::Win32::System::Console::{
    SetConsoleCtrlHandler, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT,
};

type Callback = Box<dyn Fn(Duration) + Send + Sync>;

/// The callback the handler calls (the latest one given), and whether the handler is installed.
struct Registration {
    callback: Option<Callback>,
    installed: bool,
}

static REGISTRATION: Mutex<Registration> = Mutex::new(Registration {
    callback: None,
    installed: false,
});

fn registration() -> MutexGuard<'static, Registration> {
    REGISTRATION
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The time a callback may take: Windows allows 5 s, and the process must still exit in them.
const GRACE: Duration = Duration::from_millis(4500);

unsafe extern "system" fn handler(ctrl_type: u32) -> windows_sys::core::BOOL {
    match ctrl_type {
        // Handled: nobody else sees it, and the process goes on.
        CTRL_LOGOFF_EVENT => 1,
        CTRL_CLOSE_EVENT | CTRL_SHUTDOWN_EVENT => {
            if let Some(callback) = registration().callback.as_ref() {
                callback(GRACE);
            }
            0 // FALSE: the next handler sees the event too, and then the process ends.
        }
        _ => 0,
    }
}

/// Has `callback` called on a console close or shutdown event, before the handlers installed
/// earlier (handlers added later run first); from then on a log-off event is ignored.
pub(crate) fn on_console_close(callback: Callback) -> std::io::Result<()> {
    let mut registration = registration();
    if !registration.installed {
        // SAFETY: `handler` is a valid handler routine for the life of the process.
        if unsafe { SetConsoleCtrlHandler(Some(handler), 1) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        registration.installed = true;
    }
    registration.callback = Some(callback);
    Ok(())
}
