//! The notification-area icon: add, update, notify, remove.
//!
//! # References
//! - [Shell_NotifyIconW](https://learn.microsoft.com/windows/win32/api/shellapi/nf-shellapi-shell_notifyiconw),
//!   [NOTIFYICONDATAW](https://learn.microsoft.com/windows/win32/api/shellapi/ns-shellapi-notifyicondataw)

use windows_sys::Win32::Foundation::HWND;
use windows_sys::Win32::UI::Shell::{
    Shell_NotifyIconW, NIF_ICON, NIF_INFO, NIF_MESSAGE, NIF_TIP, NIIF_ERROR, NIIF_INFO, NIM_ADD,
    NIM_DELETE, NIM_MODIFY, NIM_SETVERSION, NOTIFYICONDATAW, NOTIFYICON_VERSION_4,
};
use windows_sys::Win32::UI::WindowsAndMessaging::HICON;

use super::win::fixed;

/// The icon's ID under the app's window (one icon).
const ICON_ID: u32 = 1;

fn data(hwnd: HWND) -> NOTIFYICONDATAW {
    // SAFETY: NOTIFYICONDATAW is plain data; all-zero is valid.
    let mut data: NOTIFYICONDATAW = unsafe { std::mem::zeroed() };
    data.cbSize = size_of::<NOTIFYICONDATAW>() as u32;
    data.hWnd = hwnd;
    data.uID = ICON_ID;
    data
}

fn call(message: u32, data: &NOTIFYICONDATAW) -> bool {
    // SAFETY: `data` is a live NOTIFYICONDATAW with cbSize set.
    unsafe { Shell_NotifyIconW(message, data) != 0 }
}

/// Adds the icon, sending `callback` to `hwnd` for mouse events; false if the shell refused
/// (no notification area yet).
pub(crate) fn add(hwnd: HWND, callback: u32, icon: HICON, tip: &str) -> bool {
    let mut d = data(hwnd);
    d.uFlags = NIF_MESSAGE | NIF_ICON | NIF_TIP;
    d.uCallbackMessage = callback;
    d.hIcon = icon;
    d.szTip = fixed(tip);
    if !call(NIM_ADD, &d) {
        return false;
    }
    d.Anonymous.uVersion = NOTIFYICON_VERSION_4;
    call(NIM_SETVERSION, &d);
    true
}

/// Changes the icon's image and tooltip.
pub(crate) fn update(hwnd: HWND, icon: HICON, tip: &str) -> bool {
    let mut d = data(hwnd);
    d.uFlags = NIF_ICON | NIF_TIP;
    d.hIcon = icon;
    d.szTip = fixed(tip);
    call(NIM_MODIFY, &d)
}

/// Shows a notification from the icon.
pub(crate) fn notify(hwnd: HWND, title: &str, text: &str, error: bool) -> bool {
    let mut d = data(hwnd);
    d.uFlags = NIF_INFO;
    d.szInfoTitle = fixed(title);
    d.szInfo = fixed(text);
    d.dwInfoFlags = if error { NIIF_ERROR } else { NIIF_INFO };
    call(NIM_MODIFY, &d)
}

/// Removes the icon.
pub(crate) fn remove(hwnd: HWND) {
    call(NIM_DELETE, &data(hwnd));
}
