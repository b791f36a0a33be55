//! The app's hidden window: the target of the icon's mouse events, the timer, the hotkey, the
//! worker's wake-up and Explorer's "TaskbarCreated" broadcast (a message-only window would not
//! receive broadcasts).
//!
//! # References
//! - [Window procedures](https://learn.microsoft.com/windows/win32/winmsg/window-procedures),
//!   [Taskbar creation notification](https://learn.microsoft.com/windows/win32/shell/taskbar#taskbar-creation-notification)

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use memdefrag_tray::hotkey::Hotkey;
use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, WPARAM};
use windows_sys::Win32::System::LibraryLoader::GetModuleHandleW;
use windows_sys::Win32::System::SystemInformation::GetLocalTime;
use windows_sys::Win32::UI::Input::KeyboardAndMouse::{RegisterHotKey, UnregisterHotKey};
use windows_sys::Win32::UI::Shell::NIN_SELECT;
use windows_sys::Win32::UI::WindowsAndMessaging::{
    CreateWindowExW, DefWindowProcW, DispatchMessageW, GetMessageW, GetSystemMetrics, PostMessageW,
    PostQuitMessage, RegisterClassW, RegisterWindowMessageW, SetTimer, TranslateMessage, MSG,
    SM_CXSMICON, WM_APP, WM_CLOSE, WM_CONTEXTMENU, WM_DESTROY, WM_DISPLAYCHANGE, WM_DPICHANGED,
    WM_HOTKEY, WM_LBUTTONDBLCLK, WM_LBUTTONUP, WM_RBUTTONUP, WM_SETTINGCHANGE, WM_TIMER, WNDCLASSW,
    WS_OVERLAPPED,
};

use super::win::wide;

/// The icon's mouse events arrive as this message.
pub(crate) const ICON_EVENT: u32 = WM_APP + 1;
/// The worker finished a clean.
pub(crate) const CLEANED: u32 = WM_APP + 2;
/// The WSL worker finished a give-back.
pub(crate) const WSL_GIVEN_BACK: u32 = WM_APP + 3;
/// Close the window (the default handling destroys it).
pub(crate) const CLOSE: u32 = WM_CLOSE;
/// The hotkey's ID.
const HOTKEY_ID: i32 = 1;
/// NIN_KEYSELECT (NIN_SELECT | NINF_KEY): the icon chosen with the keyboard (shellapi.h).
const NIN_KEYSELECT: u32 = NIN_SELECT | 1;
/// MOD_NOREPEAT: holding the keys down cleans once.
const MOD_NOREPEAT: u32 = 0x4000;

/// The app's handler: `Some(result)` when it handled the message.
type Procedure = fn(HWND, u32, usize, isize) -> Option<isize>;
static PROCEDURE: OnceLock<Procedure> = OnceLock::new();
static TASKBAR_CREATED: AtomicU32 = AtomicU32::new(0);

/// What a message means to the app.
pub(crate) enum Event {
    /// The one-second timer.
    Timer,
    /// Open the menu (right click, left click, keyboard).
    Menu,
    /// Double click: clean now.
    Activate,
    /// The worker finished a clean.
    Cleaned,
    /// The WSL worker finished a give-back.
    WslGivenBack,
    /// The hotkey was pressed.
    Hotkey,
    /// Explorer (re)started: add the icon again.
    TaskbarCreated,
    /// DPI or display settings changed: redraw the icon at the new size.
    DisplayChanged,
    /// The window is being destroyed.
    Destroy,
    /// Anything else: default handling.
    Other,
}

/// The meaning of a window message.
pub(crate) fn event(msg: u32, _wparam: usize, lparam: isize) -> Event {
    match msg {
        WM_TIMER => Event::Timer,
        ICON_EVENT => {
            // NOTIFYICON_VERSION_4: the event is in the low word of lParam.
            let code = (lparam & 0xFFFF) as u32;
            match code {
                WM_CONTEXTMENU | WM_RBUTTONUP | NIN_SELECT | NIN_KEYSELECT | WM_LBUTTONUP => {
                    Event::Menu
                }
                WM_LBUTTONDBLCLK => Event::Activate,
                _ => Event::Other,
            }
        }
        CLEANED => Event::Cleaned,
        WSL_GIVEN_BACK => Event::WslGivenBack,
        WM_HOTKEY => Event::Hotkey,
        WM_DESTROY => Event::Destroy,
        WM_DPICHANGED | WM_SETTINGCHANGE | WM_DISPLAYCHANGE => Event::DisplayChanged,
        m if m != 0 && m == TASKBAR_CREATED.load(Ordering::Relaxed) => Event::TaskbarCreated,
        _ => Event::Other,
    }
}

unsafe extern "system" fn window_procedure(
    hwnd: HWND,
    msg: u32,
    wparam: WPARAM,
    lparam: LPARAM,
) -> LRESULT {
    if let Some(handled) = PROCEDURE.get().and_then(|p| p(hwnd, msg, wparam, lparam)) {
        return handled;
    }
    // SAFETY: the default handling of a message for our window, with its own arguments.
    unsafe { DefWindowProcW(hwnd, msg, wparam, lparam) }
}

/// Creates the hidden window, whose messages go to `procedure`.
pub(crate) fn create(procedure: Procedure) -> Option<HWND> {
    let _ = PROCEDURE.set(procedure);
    let taskbar = wide("TaskbarCreated");
    // SAFETY: a NUL-terminated message name.
    TASKBAR_CREATED.store(
        unsafe { RegisterWindowMessageW(taskbar.as_ptr()) },
        Ordering::Relaxed,
    );
    let class = wide("memdefrag-tray");
    // SAFETY: GetModuleHandleW(null) is this executable.
    let instance = unsafe { GetModuleHandleW(std::ptr::null()) };
    // SAFETY: WNDCLASSW is plain data; the fields used are set.
    let mut wc: WNDCLASSW = unsafe { std::mem::zeroed() };
    wc.lpfnWndProc = Some(window_procedure);
    wc.hInstance = instance;
    wc.lpszClassName = class.as_ptr();
    // SAFETY: a filled class whose name outlives the call.
    if unsafe { RegisterClassW(&raw const wc) } == 0 {
        return None;
    }
    let title = wide("memdefrag");
    // SAFETY: the class just registered; never shown; no parent, menu or creation data.
    let hwnd = unsafe {
        CreateWindowExW(
            0,
            class.as_ptr(),
            title.as_ptr(),
            WS_OVERLAPPED,
            0,
            0,
            0,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            instance,
            std::ptr::null(),
        )
    };
    (!hwnd.is_null()).then_some(hwnd)
}

/// Sends `WM_TIMER` to `hwnd` every `ms` milliseconds.
pub(crate) fn start_timer(hwnd: HWND, ms: u32) {
    // SAFETY: our window; no callback (the message goes to the window procedure).
    unsafe { SetTimer(hwnd, 1, ms, None) };
}

/// Posts `msg` to `hwnd` (from any thread).
pub(crate) fn post(hwnd: HWND, msg: u32) {
    // SAFETY: PostMessageW takes any handle and fails harmlessly on a destroyed window.
    unsafe { PostMessageW(hwnd, msg, 0, 0) };
}

/// Ends the message loop.
pub(crate) fn quit() {
    // SAFETY: posts WM_QUIT to this thread's queue.
    unsafe { PostQuitMessage(0) };
}

/// Runs the message loop until [`quit`].
pub(crate) fn run_message_loop() {
    // SAFETY: MSG is plain data; all-zero is valid.
    let mut msg: MSG = unsafe { std::mem::zeroed() };
    // SAFETY: a valid MSG to fill; messages of every window of this thread.
    while unsafe { GetMessageW(&raw mut msg, std::ptr::null_mut(), 0, 0) } > 0 {
        // SAFETY: the message just retrieved.
        unsafe {
            TranslateMessage(&raw const msg);
            DispatchMessageW(&raw const msg);
        }
    }
}

/// The size of a small icon now (16 px at 100 %, 20 at 125 %, 24 at 150 %, 32 at 200 %).
pub(crate) fn small_icon_size() -> usize {
    // SAFETY: GetSystemMetrics only reads a system value.
    let size = unsafe { GetSystemMetrics(SM_CXSMICON) };
    usize::try_from(size).ok().filter(|&s| s >= 8).unwrap_or(16)
}

/// Registers the hotkey for `hwnd`; false if another program has it.
pub(crate) fn register_hotkey(hwnd: HWND, hotkey: Hotkey) -> bool {
    // SAFETY: our window; the modifier flags and key code come from a parsed hotkey.
    unsafe { RegisterHotKey(hwnd, HOTKEY_ID, hotkey.modifiers | MOD_NOREPEAT, hotkey.key) != 0 }
}

/// Releases the hotkey.
pub(crate) fn unregister_hotkey(hwnd: HWND) {
    // SAFETY: our window and the hotkey ID it registered.
    unsafe { UnregisterHotKey(hwnd, HOTKEY_ID) };
}

/// The local time as (hour, minute).
pub(crate) fn local_time() -> (u16, u16) {
    // SAFETY: SYSTEMTIME is plain data; GetLocalTime fills it.
    let mut now = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out pointer.
    unsafe { GetLocalTime(&raw mut now) };
    (now.wHour, now.wMinute)
}
