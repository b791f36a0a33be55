//! `memdefrag-tray`: memdefrag in the Windows notification area. A Windows GUI program: it opens
//! no console window.

#![cfg_attr(windows, windows_subsystem = "windows")]

#[cfg(windows)]
mod app;

#[cfg(windows)]
fn main() -> std::process::ExitCode {
    app::main()
}

#[cfg(not(windows))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "memdefrag-tray is the Windows notification-area app; elsewhere use `memdefrag watch` \
         (and on Linux its systemd unit)"
    );
    std::process::ExitCode::from(3)
}
