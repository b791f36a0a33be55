//! Small Win32 helpers shared by the app's modules.

use windows_sys::Win32::Foundation::HWND;

/// A NUL-terminated UTF-16 copy of `s`.
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

/// Copies `s` into a fixed UTF-16 field (NUL-terminated, cut to fit).
pub(crate) fn copy_into(field: &mut [u16], s: &str) {
    let mut n = 0;
    for (slot, c) in field.iter_mut().zip(s.encode_utf16()) {
        *slot = c;
        n += 1;
    }
    let end = n.min(field.len() - 1);
    field[end] = 0;
}

/// A window handle as a plain number, to cross threads (the worker wakes the UI with it).
pub(crate) fn handle_value(hwnd: HWND) -> isize {
    hwnd as isize
}

/// The window handle back from [`handle_value`].
pub(crate) fn handle_from(value: isize) -> HWND {
    value as HWND
}
