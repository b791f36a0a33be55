//! The status window: the memory lists (or the status table) now, and the report of the last
//! clean with the lists before and after it. A read-only text box in a plain window.
//!
//! # References
//! - [Edit controls](https://learn.microsoft.com/windows/win32/controls/edit-controls)

use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, RECT, WPARAM};
use windows_sys::Win32::Graphics::Gdi::{GetStockObject, ANSI_FIXED_FONT};
use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DestroyWindow, GetClientRect, GetWindow, IsWindow, MoveWindow,
    RegisterClassW, SendMessageW, SetForegroundWindow, SetWindowTextW, ShowWindow, CW_USEDEFAULT,
    ES_AUTOHSCROLL, ES_AUTOVSCROLL, ES_MULTILINE, ES_READONLY, GW_CHILD, SW_SHOWNORMAL, WM_CLOSE,
    WM_SETFONT, WM_SIZE, WNDCLASSW, WS_CHILD, WS_HSCROLL, WS_OVERLAPPEDWINDOW, WS_VISIBLE,
    WS_VSCROLL,
};

use super::win::wide;

const CLASS: &str = "memdefrag-status";

unsafe extern "system" fn procedure(
    hwnd: HWND,
    msg: u32,
    wparam: WPARAM,
    lparam: LPARAM,
) -> LRESULT {
    match msg {
        WM_SIZE => {
            let mut rect = RECT {
                left: 0,
                top: 0,
                right: 0,
                bottom: 0,
            };
            // SAFETY: our window, a valid out pointer, and its child text box.
            unsafe {
                GetClientRect(hwnd, &raw mut rect);
                let edit = GetWindow(hwnd, GW_CHILD);
                if !edit.is_null() {
                    MoveWindow(edit, 0, 0, rect.right, rect.bottom, 1);
                }
            }
            0
        }
        WM_CLOSE => {
            // SAFETY: our own window.
            unsafe { DestroyWindow(hwnd) };
            0
        }
        // SAFETY: the default handling of a message for our window, with its own arguments.
        _ => unsafe { DefWindowProcW(hwnd, msg, wparam, lparam) },
    }
}

fn register() {
    let class = wide(CLASS);
    // SAFETY: GetModuleHandleW(null) is this executable.
    let instance = unsafe { GetModuleHandleW(std::ptr::null()) };
    // SAFETY: WNDCLASSW is plain data; the fields used are set.
    let mut wc: WNDCLASSW = unsafe { std::mem::zeroed() };
    wc.lpfnWndProc = Some(procedure);
    wc.hInstance = instance;
    wc.lpszClassName = class.as_ptr();
    // SAFETY: a filled class whose name outlives the call; registering twice only fails.
    unsafe { RegisterClassW(&raw const wc) };
}

/// Shows the status window with `text`, reusing `existing` if it is still open. Returns it.
pub(crate) fn show(existing: HWND, text: &str) -> HWND {
    let text = wide(&text.replace('\n', "\r\n"));
    // SAFETY: IsWindow takes any handle.
    if !existing.is_null() && unsafe { IsWindow(existing) } != 0 {
        // SAFETY: our window and its text box; a NUL-terminated text.
        unsafe {
            let edit = GetWindow(existing, GW_CHILD);
            SetWindowTextW(edit, text.as_ptr());
            ShowWindow(existing, SW_SHOWNORMAL);
            SetForegroundWindow(existing);
        }
        return existing;
    }
    register();
    let class = wide(CLASS);
    let title = wide("memdefrag status");
    let edit_class = wide("EDIT");
    // SAFETY: GetModuleHandleW(null) is this executable.
    let instance = unsafe { GetModuleHandleW(std::ptr::null()) };
    // SAFETY: a registered class, NUL-terminated names, no parent or menu.
    let hwnd = unsafe {
        CreateWindowExW(
            0,
            class.as_ptr(),
            title.as_ptr(),
            WS_OVERLAPPEDWINDOW,
            CW_USEDEFAULT,
            CW_USEDEFAULT,
            760,
            560,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            instance,
            std::ptr::null(),
        )
    };
    if hwnd.is_null() {
        return hwnd;
    }
    let style = WS_CHILD
        | WS_VISIBLE
        | WS_VSCROLL
        | WS_HSCROLL
        | (ES_MULTILINE | ES_READONLY | ES_AUTOVSCROLL | ES_AUTOHSCROLL) as u32;
    // SAFETY: the standard EDIT class as a child of our window, with NUL-terminated text.
    let edit = unsafe {
        CreateWindowExW(
            0,
            edit_class.as_ptr(),
            text.as_ptr(),
            style,
            0,
            0,
            760,
            560,
            hwnd,
            std::ptr::null_mut(),
            instance,
            std::ptr::null(),
        )
    };
    // SAFETY: a stock font needs no freeing; the text box and window are ours.
    unsafe {
        let font = GetStockObject(ANSI_FIXED_FONT);
        SendMessageW(edit, WM_SETFONT, font as usize, 1);
        ShowWindow(hwnd, SW_SHOWNORMAL);
        SetForegroundWindow(hwnd);
    }
    hwnd
}
