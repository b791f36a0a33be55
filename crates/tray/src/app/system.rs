//! What the app asks of Windows besides its window: the elevated log-on task, and starting again
//! as administrator.
//!
//! # References
//! - [schtasks create](https://learn.microsoft.com/windows-server/administration/windows-commands/schtasks-create)
//!   (`/SC ONLOGON /RL HIGHEST`: an administrator's app starts elevated without a UAC prompt)
//! - [ShellExecuteW](https://learn.microsoft.com/windows/win32/api/shellapi/nf-shellapi-shellexecutew)
//!   with the `runas` verb

use std::os::windows::process::CommandExt;
use std::process::Command;

use windows_sys::Win32::UI::Shell::ShellExecuteW;
use windows_sys::Win32::UI::WindowsAndMessaging::SW_SHOWNORMAL;

use super::win::wide;

/// The log-on task's name.
const TASK: &str = "memdefrag tray";
/// CREATE_NO_WINDOW: schtasks runs without flashing a console.
const CREATE_NO_WINDOW: u32 = 0x0800_0000;

fn schtasks(args: &[&str]) -> Result<(), String> {
    let out = Command::new("schtasks")
        .args(args)
        .creation_flags(CREATE_NO_WINDOW)
        .output()
        .map_err(|e| format!("schtasks could not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(if text.is_empty() {
            format!("schtasks exited with {}", out.status)
        } else {
            text
        })
    }
}

/// Registers (or replaces) the elevated log-on task that starts this executable.
pub(crate) fn start_at_logon(enable: bool) -> Result<(), String> {
    if !enable {
        return schtasks(&["/Delete", "/TN", TASK, "/F"]);
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let command = format!("\"{}\"", exe.display());
    schtasks(&[
        "/Create", "/TN", TASK, "/TR", &command, "/SC", "ONLOGON", "/RL", "HIGHEST", "/F",
    ])
}

/// Starts this executable again as administrator (the UAC prompt); true if it started.
pub(crate) fn restart_elevated() -> bool {
    let Ok(exe) = std::env::current_exe() else {
        return false;
    };
    let verb = wide("runas");
    let file = wide(&exe.to_string_lossy());
    let args = wide("--restarted");
    // SAFETY: NUL-terminated verb, file and arguments; no owner window or directory.
    let result = unsafe {
        ShellExecuteW(
            std::ptr::null_mut(),
            verb.as_ptr(),
            file.as_ptr(),
            args.as_ptr(),
            std::ptr::null(),
            SW_SHOWNORMAL,
        )
    };
    // Success is a value above 32.
    result as usize > 32
}
