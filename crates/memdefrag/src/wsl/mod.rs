//! WSL 2 from the Windows side: the Linux VM's memory as Windows sees it (the `VmmemWSL`
//! process, `vmmem` on older builds) and as Linux inside sees it, and giving that memory back
//! without shutting the VM down.
//!
//! WSL 2 runs every distribution in one lightweight Hyper-V VM. The memory the VM has touched
//! stays charged to it on Windows until Linux frees it and WSL's free page reporting hands the
//! free blocks back; the page cache holds it forever otherwise. Purging Windows' memory lists
//! does nothing to it. From the Windows side memdefrag reads the VM process from the system's
//! process list (no handle to it is needed) and runs commands inside through `wsl.exe`: its own
//! `give-back` when it is installed in the distribution, else the kernel's recipe
//! (`drop_caches`, then `compact_memory`).
//!
//! - `text`: decoding what `wsl.exe` prints (UTF-16LE or UTF-8) and its distribution lists;
//! - `linux`: `/proc/meminfo` and memdefrag's JSON from inside;
//! - `exec`: running `wsl.exe` with a deadline;
//! - `status`: what the VM holds, on both sides ([`status`]);
//! - `give_back`: giving it back ([`give_back`]);
//! - this module: the errors, the VM's process, and [`WslHost`], the seam that the real system
//!   ([`NativeHost`]) and the tests' scripted host implement.
//!
//! A distribution that is not running is never started: memdefrag runs commands only in the
//! distributions `wsl.exe --list --running` names, and never runs `wsl.exe` without `-e`.

mod exec;
mod give_back;
pub mod linux;
mod status;
pub mod text;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use self::exec::command_line;
pub use self::give_back::{
    give_back, DistroGiveBack, GiveBackMethod, GiveBackOptions, Outcome, WslGiveBack,
};
pub use self::linux::{InsideGiveBack, LinuxMemory, LinuxSource};
pub use self::status::{status, DistroStatus, WslStatus};
use crate::exit;

/// The default deadline of a query through `wsl.exe` (a list, a status, a probe). The first
/// call after a while may wait for WSL's service to start.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The deadline of a give-back inside: memdefrag's own watches memory for its keep-hot time
/// (30 s by default) before it reclaims, then compacts.
pub const GIVE_BACK_DEADLINE: Duration = Duration::from_secs(600);
/// The default wait for WSL's page reporting to hand freed memory back to Windows (it reports
/// free blocks after about 2 s, and takes a few seconds for gigabytes).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// How often the VM's size is read while waiting.
const SAMPLE: Duration = Duration::from_secs(1);

/// The environment variable that names the `wsl.exe` to run instead of the system's.
pub const WSL_EXE_VAR: &str = "MEMDEFRAG_WSL_EXE";

/// The kernel's recipe, run as root when memdefrag is not installed inside: write dirty pages,
/// drop every clean cache, compact free memory into blocks page reporting hands back.
pub const RECIPE: &str =
    "sync; echo 1 > /proc/sys/vm/drop_caches && echo 1 > /proc/sys/vm/compact_memory";
/// Run as root first: proves root (prints 0) and finds memdefrag (prints its path, if any).
const PROBE_ROOT: &str = "id -u; command -v memdefrag || true";
/// Run as the default user: finds memdefrag (prints its path, if any).
const PROBE: &str = "command -v memdefrag || true";

/// Why a WSL request could not be carried out. Each kind has its exit code
/// ([`WslError::exit_code`]); nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WslError {
    /// Not on Windows.
    #[error(
        "WSL's VM is seen from Windows: run 'memdefrag wsl' there (inside a distribution, \
         'memdefrag give-back' gives its memory back)"
    )]
    NotWindows,
    /// No `wsl.exe`.
    #[error("WSL is not installed: there is no {0}")]
    NotInstalled(String),
    /// No distribution runs, and no VM either.
    #[error(
        "no WSL distribution is running{}; memdefrag does not start one (a VM that is not \
         running holds no memory)",
        .0.as_ref().map(|s| format!(" (wsl.exe: {s})")).unwrap_or_default()
    )]
    NotRunning(Option<String>),
    /// Only WSL 1 distributions run: they have no VM.
    #[error(
        "only WSL 1 distributions are running ({}): WSL 1 has no VM, its Linux processes are \
         Windows processes",
        .0.join(", ")
    )]
    Wsl1Only(Vec<String>),
    /// `--distro` names no running distribution.
    #[error(
        "no running WSL distribution is named '{name}' (running: {}); memdefrag does not \
         start one",
        .running.join(", ")
    )]
    UnknownDistro {
        /// The name asked for.
        name: String,
        /// The running ones.
        running: Vec<String>,
    },
    /// `--distro` names a WSL 1 distribution.
    #[error("'{0}' is a WSL 1 distribution: it has no VM, so there is nothing to give back")]
    Wsl1Distro(String),
    /// A `wsl.exe` call did not end in time.
    #[error("'{command}' did not finish within {}; it was stopped", humantime::format_duration(*.deadline))]
    Timeout {
        /// The call, as typed.
        command: String,
        /// Its deadline.
        deadline: Duration,
    },
    /// A `wsl.exe` call failed.
    #[error("'{command}' failed{}: {message}", .code.map(|c| format!(" (exit code {c})")).unwrap_or_default())]
    Failed {
        /// The call, as typed.
        command: String,
        /// Its exit code.
        code: Option<i32>,
        /// What it said.
        message: String,
    },
    /// `wsl.exe` could not be started.
    #[error("cannot run {program}: {message}")]
    Spawn {
        /// Its path.
        program: String,
        /// Why.
        message: String,
    },
    /// The system's process list could not be read.
    #[error("cannot read the process list (NtQuerySystemInformation): {0}")]
    Processes(String),
}

impl WslError {
    /// The process exit code of this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            WslError::NotWindows
            | WslError::NotInstalled(_)
            | WslError::NotRunning(_)
            | WslError::Wsl1Only(_)
            | WslError::Wsl1Distro(_) => exit::UNSUPPORTED,
            WslError::UnknownDistro { .. } => exit::USAGE,
            WslError::Timeout { .. }
            | WslError::Failed { .. }
            | WslError::Spawn { .. }
            | WslError::Processes(_) => exit::FAILED,
        }
    }
}

/// What a `wsl.exe` call printed, and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Its exit code (`None` if it was ended by a signal).
    pub code: Option<i32>,
    /// Its standard output, as bytes (UTF-16LE or UTF-8).
    pub stdout: Vec<u8>,
    /// Its standard error.
    pub stderr: Vec<u8>,
}

/// The WSL 2 VM's process, as Windows' process list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VmProcess {
    /// `VmmemWSL` (`vmmem` on older builds).
    pub name: String,
    /// Its process ID.
    pub pid: u32,
    /// Its working set: the memory Task Manager shows for it.
    pub working_set_bytes: u64,
    /// Its private bytes (commit).
    pub private_bytes: u64,
    /// Its CPU time so far (user and kernel), in milliseconds.
    pub cpu_time_ms: u64,
}

/// The VM's process among `processes`: `VmmemWSL`, else the largest `vmmem` (builds before WSL
/// had its own name for it). Names compare without case and without `.exe`.
pub fn pick_vm(processes: impl IntoIterator<Item = VmProcess>) -> Option<VmProcess> {
    let base = |name: &str| -> String {
        let lower = name.to_ascii_lowercase();
        lower.strip_suffix(".exe").unwrap_or(&lower).to_owned()
    };
    let mut vmmem: Option<VmProcess> = None;
    for p in processes {
        match base(&p.name).as_str() {
            "vmmemwsl" => return Some(p),
            "vmmem"
                if vmmem
                    .as_ref()
                    .is_none_or(|v| v.working_set_bytes < p.working_set_bytes) =>
            {
                vmmem = Some(p);
            }
            _ => {}
        }
    }
    vmmem
}

/// The system WSL runs on: its VM process and `wsl.exe`. [`NativeHost`] is the real one.
pub trait WslHost {
    /// The VM's process, if it runs.
    fn vm(&self) -> Result<Option<VmProcess>, WslError>;
    /// Runs `wsl.exe ARGS`, stopping it after `deadline`.
    fn wsl(&self, args: &[&str], deadline: Duration) -> Result<Output, WslError>;
    /// Waits `duration` (for page reporting).
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// This system: `wsl.exe` (in System32, or where [`WSL_EXE_VAR`] says) and the process list.
#[derive(Clone, Debug)]
pub struct NativeHost {
    wsl_exe: PathBuf,
}

impl NativeHost {
    /// Finds `wsl.exe`: where [`WSL_EXE_VAR`] says, else in the Windows directory's System32
    /// (Sysnative from a 32-bit process, which WOW64 would send to SysWOW64 instead).
    pub fn find() -> Result<NativeHost, WslError> {
        if !cfg!(windows) {
            return Err(WslError::NotWindows);
        }
        let wsl_exe = match std::env::var_os(WSL_EXE_VAR) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => {
                let windows = std::env::var_os("SystemRoot")
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| PathBuf::from(r"C:\Windows"), PathBuf::from);
                let sysnative = windows.join("Sysnative").join("wsl.exe");
                if cfg!(target_pointer_width = "32") && sysnative.is_file() {
                    sysnative
                } else {
                    windows.join("System32").join("wsl.exe")
                }
            }
        };
        if !wsl_exe.is_file() {
            return Err(WslError::NotInstalled(wsl_exe.display().to_string()));
        }
        Ok(NativeHost { wsl_exe })
    }

    /// The `wsl.exe` it runs.
    pub fn wsl_exe(&self) -> &std::path::Path {
        &self.wsl_exe
    }
}

/// The VM's process on this system, if it runs; no `wsl.exe` needed.
pub fn vm_process() -> Result<Option<VmProcess>, WslError> {
    #[cfg(windows)]
    {
        let processes = crate::platform::windows::process_memory()
            .map_err(|(_, message)| WslError::Processes(message))?;
        Ok(pick_vm(processes.into_iter().map(|p| VmProcess {
            name: p.name,
            pid: p.pid,
            working_set_bytes: p.working_set_bytes,
            private_bytes: p.private_bytes,
            cpu_time_ms: p.cpu_time_100ns / 10_000,
        })))
    }
    #[cfg(not(windows))]
    {
        Err(WslError::NotWindows)
    }
}

impl WslHost for NativeHost {
    fn vm(&self) -> Result<Option<VmProcess>, WslError> {
        vm_process()
    }

    fn wsl(&self, args: &[&str], deadline: Duration) -> Result<Output, WslError> {
        exec::run(&self.wsl_exe, args, deadline)
    }
}

/// Runs `wsl.exe ARGS`, an error unless it exits with 0.
fn checked(host: &dyn WslHost, args: &[&str], deadline: Duration) -> Result<Output, WslError> {
    let out = host.wsl(args, deadline)?;
    if out.code == Some(0) {
        Ok(out)
    } else {
        Err(WslError::Failed {
            command: command_line(args),
            code: out.code,
            message: text::first_line(&out.stdout, &out.stderr)
                .unwrap_or_else(|| "it printed nothing".into()),
        })
    }
}

/// The running distributions, in wsl.exe's order; none is a [`WslError::NotRunning`].
pub fn running(host: &dyn WslHost, timeout: Duration) -> Result<Vec<String>, WslError> {
    let args = ["--list", "--running", "--quiet"];
    let out = host.wsl(&args, timeout)?;
    let names = text::parse_names(&out.stdout);
    if out.code != Some(0) {
        // "There are no running distributions." and "... has no installed distributions." end
        // with an error code; so does a WSL that is only half installed.
        return Err(WslError::NotRunning(text::first_line(
            &out.stdout,
            &out.stderr,
        )));
    }
    if names.is_empty() {
        return Err(WslError::NotRunning(None));
    }
    Ok(names)
}

/// Each distribution's WSL version, from `wsl.exe --list --verbose`; empty when it failed (the
/// versions are then unknown, which is not an error).
fn versions(host: &dyn WslHost, timeout: Duration) -> Vec<text::ListedDistro> {
    match checked(host, &["--list", "--verbose"], timeout) {
        Ok(out) => text::parse_verbose(&out.stdout),
        Err(_) => Vec::new(),
    }
}

fn version_of(listed: &[text::ListedDistro], name: &str) -> Option<u8> {
    listed.iter().find(|d| d.name == name).map(|d| d.version)
}

/// The path memdefrag has inside, from a probe's output lines (an absolute path).
fn installed_path<'a>(mut lines: impl Iterator<Item = &'a str>) -> Option<String> {
    lines.find(|l| l.starts_with('/')).map(str::to_owned)
}

#[cfg(test)]
mod tests;
