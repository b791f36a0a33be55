//! UTF-16 strings and the system's messages for Win32 error codes.

use windows_sys::Win32::Foundation::GetLastError;

/// This thread's last Win32 error, with the system's message for it.
pub(super) fn last_error() -> (u32, String) {
    // SAFETY: GetLastError only reads this thread's last-error value.
    let code = unsafe { GetLastError() };
    (code, win32_message(code))
}

/// The system's message for a Win32 error code (FormatMessageW, through std).
pub(super) fn win32_message(code: u32) -> String {
    let text = std::io::Error::from_raw_os_error(code as i32).to_string();
    match text.rfind(" (os error") {
        Some(at) => text[..at].trim_end().to_owned(),
        None => text,
    }
}

/// A NUL-terminated UTF-16 copy of `s`.
pub(super) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The text of a NUL-terminated UTF-16 buffer.
pub(super) fn from_wide(buf: &[u16]) -> String {
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    String::from_utf16_lossy(&buf[..end])
}
