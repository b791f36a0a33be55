//! memdefrag in the Windows notification area: the desktop app's logic, in plain Rust and tested
//! on every platform. The Win32 side (`memdefrag-tray.exe`, `src/app/`) only draws and clicks.
//!
//! - [`settings`]: `tray.toml`, loaded forgivingly and saved atomically;
//! - [`icon`]: memory use drawn as digits, readable from 16 to 32 px, coloured by level;
//! - [`menu`]: the menu, from the operations the platform supports and the settings;
//! - [`auto`]: automatic cleaning with watch's triggers, cooldown and back-off;
//! - [`cleaner`]: cleaning on a worker thread, so that the icon and menu never freeze;
//! - [`hotkey`]: the global hotkey as the settings spell it;
//! - [`text`]: the tooltip and the notifications;
//! - [`wsl`]: WSL 2's VM: its size, giving its memory back on a worker, automatically when idle.

// Unsafe code lives only in the Win32 modules of the app, which opt out of this one by one.
#![deny(unsafe_code)]

pub mod auto;
pub mod cleaner;
pub mod hotkey;
pub mod icon;
pub mod menu;
pub mod settings;
pub mod text;
pub mod wsl;
