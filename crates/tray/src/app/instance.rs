//! One instance per session: a named mutex. A second launch finds it and exits at once, so there
//! is never a second icon.
//!
//! # References
//! - [CreateMutexW](https://learn.microsoft.com/windows/win32/api/synchapi/nf-synchapi-createmutexw)

use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, ERROR_ALREADY_EXISTS, HANDLE};
use windows_sys::Win32::System::Threading::CreateMutexW;

use super::win::wide;

/// The mutex held for the life of the instance.
pub(crate) struct Instance(HANDLE);

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: the handle came from CreateMutexW and is closed only here.
        unsafe { CloseHandle(self.0) };
    }
}

/// Takes the instance mutex; `None` if another instance holds it (after waiting up to `wait`,
/// for an instance that is restarting itself).
pub(crate) fn take(wait: Duration) -> Option<Instance> {
    let name = wide("Local\\memdefrag-tray");
    let end = Instant::now() + wait;
    loop {
        // SAFETY: no security attributes, not initially owned, a NUL-terminated name.
        let handle = unsafe { CreateMutexW(std::ptr::null(), 0, name.as_ptr()) };
        if handle.is_null() {
            return None;
        }
        // SAFETY: GetLastError only reads this thread's last-error value.
        if unsafe { GetLastError() } != ERROR_ALREADY_EXISTS {
            return Some(Instance(handle));
        }
        // SAFETY: our own handle to the existing mutex, closed once.
        unsafe { CloseHandle(handle) };
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
