//! Small Win32 helpers shared by the app's modules.

use windows_sys::Win32::Foundation::HWND;

/// A NUL-terminated UTF-16 copy of `s`.
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

/// `s` as a fixed UTF-16 field (NUL-terminated, cut to fit). Returned by value, so that it can
/// be stored into a packed structure (the 32-bit NOTIFYICONDATAW is packed).
pub(crate) fn fixed<const N: usize>(s: &str) -> [u16; N] {
    let mut field = [0u16; N];
    for (slot, c) in field.iter_mut().take(N - 1).zip(s.encode_utf16()) {
        *slot = c;
    }
    field
}

/// A window handle as a plain number, to cross threads (the worker wakes the UI with it).
pub(crate) fn handle_value(hwnd: HWND) -> isize {
    hwnd as isize
}

/// The window handle back from [`handle_value`].
pub(crate) fn handle_from(value: isize) -> HWND {
    value as HWND
}
