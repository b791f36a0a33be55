//! memdefrag's integration tests: the CLI as users run it, against the real kernel.
//!
//! Tests whose name starts with `root_` need root and change global kernel state (they drop
//! caches, sync, compact); they are `#[ignore]`d so that a plain `cargo test` stays harmless, and
//! `scripts/test` runs them with `--include-ignored`. They hold [`util::kernel_state_lock`] so that
//! they never run at the same time as each other.

#[cfg(target_os = "linux")]
#[path = "../support/files.rs"]
mod files;
#[cfg(target_os = "linux")]
mod pagecache;
mod util;

mod cli;
mod errors;
#[cfg(target_os = "linux")]
mod faults;
#[cfg(target_os = "linux")]
mod file_cache;
#[cfg(target_os = "linux")]
mod giveback;
#[cfg(target_os = "linux")]
mod linux;
mod metrics;
mod service;
mod watch;
#[cfg(windows)]
mod windows;
mod wsl;
