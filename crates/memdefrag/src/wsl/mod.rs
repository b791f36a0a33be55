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
//! - this module: the requests ([`status`], [`give_back`]) over a [`WslHost`], the seam that the
//!   real system ([`NativeHost`]) and the tests' scripted host implement.
//!
//! A distribution that is not running is never started: memdefrag runs commands only in the
//! distributions `wsl.exe --list --running` names, and never runs `wsl.exe` without `-e`.

mod exec;
pub mod linux;
pub mod text;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use self::exec::command_line;
pub use self::linux::{InsideGiveBack, LinuxMemory, LinuxSource};
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

/// One running distribution and what Linux says inside it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistroStatus {
    /// Its name.
    pub name: String,
    /// 1 or 2 (`None` if `wsl.exe --list --verbose` did not say).
    pub version: Option<u8>,
    /// Whether memdefrag is installed inside (`None` when not asked: WSL 1, or a failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memdefrag: Option<String>,
    /// The VM's memory as Linux inside sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<LinuxMemory>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `memdefrag wsl`: the VM as Windows sees it, and each running distribution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WslStatus {
    /// The VM's process (`None` when none runs).
    pub vm: Option<VmProcess>,
    /// The running distributions.
    pub distributions: Vec<DistroStatus>,
    /// Remarks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl WslStatus {
    /// 0, or 1 when a distribution's figures could not be read.
    pub fn exit_code(&self) -> i32 {
        if self.distributions.iter().any(|d| d.error.is_some()) {
            exit::FAILED
        } else {
            exit::OK
        }
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

/// A parser of what Linux says.
type Parser = fn(&str) -> Result<LinuxMemory, linux::ParseError>;

/// What Linux says inside `name`: memdefrag's status if installed, else /proc/meminfo.
fn inside_status(host: &dyn WslHost, name: &str, timeout: Duration) -> DistroStatus {
    let mut status = DistroStatus {
        name: name.to_owned(),
        version: Some(2),
        memdefrag: None,
        memory: None,
        error: None,
    };
    let result = (|| -> Result<(Option<String>, LinuxMemory), WslError> {
        let probe = checked(host, &["-d", name, "-e", "sh", "-c", PROBE], timeout)?;
        let path = installed_path(text::lines(&text::decode(&probe.stdout)));
        let (args, parse): (Vec<&str>, Parser) = match &path {
            Some(path) => (
                vec!["-d", name, "-e", path, "status", "--json"],
                linux::parse_status,
            ),
            None => (
                vec!["-d", name, "-e", "cat", "/proc/meminfo"],
                linux::parse_meminfo,
            ),
        };
        let out = checked(host, &args, timeout)?;
        let memory = parse(&text::decode(&out.stdout)).map_err(|e| WslError::Failed {
            command: command_line(&args),
            code: out.code,
            message: e.0,
        })?;
        Ok((path, memory))
    })();
    match result {
        Ok((path, memory)) => {
            status.memdefrag = Some(path.unwrap_or_default());
            status.memory = Some(memory);
        }
        Err(e) => status.error = Some(e.to_string()),
    }
    status
}

/// `memdefrag wsl`: the VM's process and, for each running distribution, what Linux says.
/// Starts nothing.
pub fn status(host: &dyn WslHost, timeout: Duration) -> Result<WslStatus, WslError> {
    let vm = host.vm()?;
    let mut notes = Vec::new();
    let names = match running(host, timeout) {
        Ok(names) => names,
        Err(WslError::NotRunning(said)) if vm.is_some() => {
            notes.push(
                "no distribution is running: the VM stops after WSL's idle timeout \
                 (vmIdleTimeout in .wslconfig, 60 s by default)"
                    .to_owned(),
            );
            let _ = said;
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let listed = versions(host, timeout);
    let mut distributions = Vec::new();
    for name in &names {
        let version = version_of(&listed, name);
        if version == Some(1) {
            distributions.push(DistroStatus {
                name: name.clone(),
                version,
                memdefrag: None,
                memory: None,
                error: None,
            });
            continue;
        }
        let mut d = inside_status(host, name, timeout);
        d.version = version;
        distributions.push(d);
    }
    let wsl2 = distributions.iter().any(|d| d.version != Some(1));
    if vm.is_none() {
        if !wsl2 {
            return Err(WslError::Wsl1Only(names));
        }
        notes.push(
            "no VmmemWSL or vmmem process was found, though a WSL 2 distribution runs".to_owned(),
        );
    }
    if distributions.iter().any(|d| d.version == Some(1)) {
        notes.push("WSL 1 distributions run on Windows' own kernel, outside the VM".to_owned());
    }
    Ok(WslStatus {
        vm,
        distributions,
        notes,
    })
}

/// How a distribution's memory was given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GiveBackMethod {
    /// memdefrag's own give-back, inside: the hot cache stays.
    Memdefrag,
    /// drop_caches then compact_memory: every clean cache goes.
    DropCachesCompact,
}

/// How a distribution's give-back ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It ran.
    Ok,
    /// It ran, and failed.
    Failed,
    /// Root was not available, so nothing ran.
    NoRoot,
}

/// One distribution's give-back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistroGiveBack {
    /// Its name.
    pub name: String,
    /// How (`None` when nothing ran).
    pub method: Option<GiveBackMethod>,
    /// How it ended.
    pub outcome: Outcome,
    /// The command run inside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// memdefrag's report from inside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inside: Option<InsideGiveBack>,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Remarks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What to give back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GiveBackOptions {
    /// Only this distribution (it must be running); else every running WSL 2 distribution.
    pub distro: Option<String>,
    /// The deadline of each query.
    pub timeout: Duration,
    /// How long to wait, at most, for the VM to hand the memory back to Windows.
    pub wait: Duration,
    /// memdefrag's `--keep-hot` inside (its default when `None`); the recipe keeps nothing.
    pub keep_hot: Option<Duration>,
    /// Check everything and say what would run; change nothing (memdefrag inside runs with
    /// `--dry-run`, the recipe not at all).
    pub dry_run: bool,
}

impl Default for GiveBackOptions {
    fn default() -> GiveBackOptions {
        GiveBackOptions {
            distro: None,
            timeout: DEFAULT_TIMEOUT,
            wait: DEFAULT_WAIT,
            keep_hot: None,
            dry_run: false,
        }
    }
}

/// `memdefrag wsl give-back`: the VM's size on Windows before and after, and each
/// distribution's run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WslGiveBack {
    /// Whether this only says what would run.
    pub dry_run: bool,
    /// The VM's process before.
    pub before: Option<VmProcess>,
    /// The VM's process after the wait.
    pub after: Option<VmProcess>,
    /// How long the VM was watched for the memory to come back, in milliseconds.
    pub waited_ms: u64,
    /// Each distribution's run.
    pub distributions: Vec<DistroGiveBack>,
    /// Remarks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl WslGiveBack {
    /// 0 when every run succeeded; 77 when root was not available in every one that failed;
    /// else 1.
    pub fn exit_code(&self) -> i32 {
        let failed: Vec<_> = self
            .distributions
            .iter()
            .filter(|d| d.outcome != Outcome::Ok)
            .collect();
        if failed.is_empty() {
            exit::OK
        } else if failed.iter().all(|d| d.outcome == Outcome::NoRoot) {
            exit::NOT_PRIVILEGED
        } else {
            exit::FAILED
        }
    }
}

/// Gives one distribution's memory back, as root inside it.
fn give_back_one(host: &dyn WslHost, name: &str, options: &GiveBackOptions) -> DistroGiveBack {
    let timeout = options.timeout;
    let start = Instant::now();
    let mut report = DistroGiveBack {
        name: name.to_owned(),
        method: None,
        outcome: Outcome::Ok,
        command: None,
        inside: None,
        duration_ms: 0.0,
        error: None,
        notes: Vec::new(),
    };
    let probe_args = ["-d", name, "-u", "root", "-e", "sh", "-c", PROBE_ROOT];
    let probe = match host.wsl(&probe_args, timeout) {
        Ok(out) => out,
        Err(e) => {
            report.outcome = Outcome::Failed;
            report.error = Some(e.to_string());
            return report;
        }
    };
    let said = text::decode(&probe.stdout);
    let mut lines = text::lines(&said);
    if probe.code != Some(0) || lines.next() != Some("0") {
        report.outcome = Outcome::NoRoot;
        let why = text::first_line(&probe.stdout, &probe.stderr)
            .unwrap_or_else(|| "it printed nothing".into());
        report.error = Some(format!(
            "cannot run as root in '{name}' ({}: {why})",
            command_line(&probe_args)
        ));
        return report;
    }
    let path = installed_path(lines);
    let recipe_args = ["-d", name, "-u", "root", "-e", "sh", "-c", RECIPE];
    let mut args: Vec<&str> = recipe_args.to_vec();
    let keep_hot = options
        .keep_hot
        .map(|d| humantime::format_duration(d).to_string());
    if let Some(path) = &path {
        args = vec!["-d", name, "-u", "root", "-e", path, "give-back", "--json"];
        if let Some(keep_hot) = &keep_hot {
            args.extend(["--keep-hot", keep_hot]);
        }
        if options.dry_run {
            args.push("--dry-run");
        }
        report.method = Some(GiveBackMethod::Memdefrag);
    } else {
        report.method = Some(GiveBackMethod::DropCachesCompact);
        let verb = if options.dry_run { "would be" } else { "was" };
        report.notes.push(format!(
            "memdefrag is not installed in '{name}': every cache {verb} dropped, the hot cache \
             too (it is read back from disk); memdefrag inside keeps it"
        ));
        if keep_hot.is_some() {
            report
                .notes
                .push("--keep-hot applies to memdefrag inside; the recipe keeps nothing".into());
        }
    }
    report.command = Some(command_line(&args));
    if options.dry_run && path.is_none() {
        // The recipe has no dry run: it is not run at all.
        report.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
        return report;
    }
    let result = host.wsl(&args, GIVE_BACK_DEADLINE);
    report.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            report.outcome = Outcome::Failed;
            report.error = Some(e.to_string());
            return report;
        }
    };
    let failure = |out: &Output| {
        format!(
            "{}{}",
            out.code
                .map(|c| format!("exit code {c}: "))
                .unwrap_or_default(),
            text::first_line(&out.stdout, &out.stderr)
                .unwrap_or_else(|| "it printed nothing".into())
        )
    };
    if path.is_none() {
        if out.code != Some(0) {
            report.outcome = Outcome::Failed;
            report.error = Some(failure(&out));
        }
        return report;
    }
    match linux::parse_give_back(&text::decode(&out.stdout)) {
        Ok(Ok(inside)) => {
            if out.code != Some(0) {
                report.outcome = Outcome::Failed;
                report.error = Some(
                    inside
                        .steps
                        .iter()
                        .find_map(|s| {
                            s.error
                                .as_ref()
                                .map(|e| format!("{}: {}", s.step, e.message))
                        })
                        .unwrap_or_else(|| failure(&out)),
                );
            }
            report.inside = Some(inside);
        }
        Ok(Err((message, code))) => {
            report.outcome = Outcome::Failed;
            report.error = Some(format!(
                "memdefrag give-back inside (exit code {code}): {message}"
            ));
        }
        Err(e) => {
            report.outcome = Outcome::Failed;
            report.error = Some(if out.code == Some(0) {
                e.0
            } else {
                failure(&out)
            });
        }
    }
    report
}

/// `memdefrag wsl give-back`: gives the memory of one or every running WSL 2 distribution back
/// to Windows, and watches the VM's size on Windows fall (at most `options.wait`). Checks the
/// request before running anything; starts no distribution.
pub fn give_back(host: &dyn WslHost, options: &GiveBackOptions) -> Result<WslGiveBack, WslError> {
    let names = running(host, options.timeout)?;
    let listed = versions(host, options.timeout);
    let mut notes = Vec::new();
    let targets: Vec<String> = match &options.distro {
        Some(name) => {
            if !names.contains(name) {
                return Err(WslError::UnknownDistro {
                    name: name.clone(),
                    running: names,
                });
            }
            if version_of(&listed, name) == Some(1) {
                return Err(WslError::Wsl1Distro(name.clone()));
            }
            vec![name.clone()]
        }
        None => {
            let (wsl1, wsl2): (Vec<String>, Vec<String>) = names
                .iter()
                .cloned()
                .partition(|n| version_of(&listed, n) == Some(1));
            if wsl2.is_empty() {
                return Err(WslError::Wsl1Only(wsl1));
            }
            if !wsl1.is_empty() {
                notes.push(format!(
                    "skipped WSL 1 distributions (no VM): {}",
                    wsl1.join(", ")
                ));
            }
            // Every WSL 2 distribution shares the VM's kernel: the cache is one; each run
            // gives back what its own processes and mounts left.
            wsl2
        }
    };
    let before = host.vm()?;
    let distributions: Vec<DistroGiveBack> = targets
        .iter()
        .map(|name| give_back_one(host, name, options))
        .collect();
    let wait = if options.dry_run {
        Duration::ZERO
    } else {
        options.wait
    };
    let (after, waited) = settle(host, before.as_ref(), wait)?;
    if before.is_none() {
        notes.push("no VmmemWSL or vmmem process was found: Windows' figures are missing".into());
    } else if !wait.is_zero() {
        notes.push(format!(
            "WSL's page reporting hands freed memory back to Windows after a few seconds: the \
             VM was watched for {} after the run",
            humantime::format_duration(Duration::from_millis(waited.as_millis() as u64))
        ));
    }
    Ok(WslGiveBack {
        dry_run: options.dry_run,
        before,
        after,
        waited_ms: waited.as_millis() as u64,
        distributions,
        notes,
    })
}

/// Reads the VM's size every second until it stops falling (two readings without a fall of
/// 1 MiB or more) or `wait` has passed; the last reading, and how long it watched.
fn settle(
    host: &dyn WslHost,
    before: Option<&VmProcess>,
    wait: Duration,
) -> Result<(Option<VmProcess>, Duration), WslError> {
    let mut last = host.vm()?;
    if before.is_none() || wait.is_zero() {
        return Ok((last, Duration::ZERO));
    }
    let mut waited = Duration::ZERO;
    let mut steady = 0;
    while waited < wait && last.is_some() {
        let step = SAMPLE.min(wait - waited);
        host.sleep(step);
        waited += step;
        let now = host.vm()?;
        let size = |p: &Option<VmProcess>| p.as_ref().map_or(0, |p| p.working_set_bytes);
        if size(&now) + (1 << 20) <= size(&last) {
            steady = 0;
        } else {
            steady += 1;
        }
        last = now;
        if steady >= 2 {
            break;
        }
    }
    Ok((last, waited))
}

#[cfg(test)]
mod tests;
