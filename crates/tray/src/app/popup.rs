//! The menu model as a Win32 popup menu, shown at the cursor.
//!
//! # References
//! - [TrackPopupMenu](https://learn.microsoft.com/windows/win32/api/winuser/nf-winuser-trackpopupmenu)
//!   (and its remark on SetForegroundWindow and WM_NULL)

use memdefrag_tray::menu::{Action, Entry};
use windows_sys::Win32::Foundation::{HWND, POINT};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    AppendMenuW, CreatePopupMenu, DestroyMenu, GetCursorPos, PostMessageW, SetForegroundWindow,
    TrackPopupMenu, HMENU, MF_CHECKED, MF_GRAYED, MF_POPUP, MF_SEPARATOR, MF_STRING,
    TPM_BOTTOMALIGN, TPM_RETURNCMD, TPM_RIGHTBUTTON, WM_NULL,
};

use super::win::wide;

/// A popup menu, destroyed (with its submenus) on drop.
pub(crate) struct Menu(HMENU);

impl Drop for Menu {
    fn drop(&mut self) {
        // SAFETY: the menu came from CreatePopupMenu and is destroyed only here; destroying it
        // destroys the submenus attached to it.
        unsafe { DestroyMenu(self.0) };
    }
}

fn fill(menu: HMENU, entries: &[Entry]) {
    for entry in entries {
        match entry {
            Entry::Separator => {
                // SAFETY: a live menu; a separator takes no ID and no text.
                unsafe { AppendMenuW(menu, MF_SEPARATOR, 0, std::ptr::null()) };
            }
            Entry::Item {
                label,
                action,
                checked,
                enabled,
            } => {
                let mut flags = MF_STRING;
                if *checked {
                    flags |= MF_CHECKED;
                }
                if !enabled {
                    flags |= MF_GRAYED;
                }
                let text = wide(label);
                // SAFETY: a live menu and a NUL-terminated label that outlives the call.
                unsafe { AppendMenuW(menu, flags, usize::from(action.id()), text.as_ptr()) };
            }
            Entry::Submenu { label, entries } => {
                // SAFETY: creates an empty popup menu, owned by `menu` once appended.
                let sub = unsafe { CreatePopupMenu() };
                if sub.is_null() {
                    continue;
                }
                fill(sub, entries);
                let text = wide(label);
                // SAFETY: a live menu, a live submenu passed as the item's ID (MF_POPUP), and a
                // NUL-terminated label.
                unsafe { AppendMenuW(menu, MF_STRING | MF_POPUP, sub as usize, text.as_ptr()) };
            }
        }
    }
}

/// The menu for `entries`.
pub(crate) fn build(entries: &[Entry]) -> Option<Menu> {
    // SAFETY: creates an empty popup menu that `Menu` owns.
    let menu = unsafe { CreatePopupMenu() };
    if menu.is_null() {
        return None;
    }
    fill(menu, entries);
    Some(Menu(menu))
}

/// Shows `menu` at the cursor for `hwnd` and returns the chosen action. Runs a modal loop: the
/// caller must hold no borrow of the app's state.
pub(crate) fn show(hwnd: HWND, menu: &Menu) -> Option<Action> {
    let mut cursor = POINT { x: 0, y: 0 };
    // SAFETY: a valid out pointer.
    unsafe { GetCursorPos(&raw mut cursor) };
    // SAFETY: the window is ours; the foreground is needed for the menu to close when the user
    // clicks elsewhere.
    unsafe { SetForegroundWindow(hwnd) };
    // SAFETY: a live menu and window; with TPM_RETURNCMD the chosen ID is returned.
    let id = unsafe {
        TrackPopupMenu(
            menu.0,
            TPM_RETURNCMD | TPM_RIGHTBUTTON | TPM_BOTTOMALIGN,
            cursor.x,
            cursor.y,
            0,
            hwnd,
            std::ptr::null(),
        )
    };
    // SAFETY: posting WM_NULL to our own window, as TrackPopupMenu's documentation asks.
    unsafe { PostMessageW(hwnd, WM_NULL, 0, 0) };
    u16::try_from(id).ok().and_then(Action::from_id)
}
