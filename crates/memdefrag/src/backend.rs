//! The seam between the platform-neutral engine and a platform's kernel calls.
//!
//! The engine above (plans and the watch) drives any [`Backend`]; the platform layer below
//! implements it for this system. Tests drive the engine through one scripted backend to check
//! ordering, validation and error handling without touching the system.

use std::fmt;

use serde::Serialize;

use crate::error::{Error, Remedy};
use crate::op::Op;
use crate::snapshot::Snapshot;
use crate::stop::Stop;

/// Whether an operation can run on this system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// The operation can run here (privilege permitting).
    Yes,
    /// The operation cannot run here.
    No {
        /// Why, in words a user can act on.
        reason: String,
    },
}

/// What a platform says about one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// The operation.
    pub op: Op,
    /// Whether it can run here.
    pub support: Support,
    /// The exact kernel call the operation makes here.
    pub kernel_call: String,
    /// The privilege the operation needs here, in words ("none" when it needs none).
    pub privilege: String,
}

impl Serialize for OpInfo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("OpInfo", 6)?;
        s.serialize_field("op", &self.op)?;
        s.serialize_field("summary", self.op.summary())?;
        s.serialize_field("supported", &self.unsupported_reason().is_none())?;
        s.serialize_field("reason", &self.unsupported_reason())?;
        s.serialize_field("kernel_call", &self.kernel_call)?;
        s.serialize_field("privilege", &self.privilege)?;
        s.end()
    }
}

impl OpInfo {
    /// Why the operation cannot run here, if it cannot.
    pub fn unsupported_reason(&self) -> Option<&str> {
        match &self.support {
            Support::Yes => None,
            Support::No { reason } => Some(reason),
        }
    }
}

/// Why the process may not run an operation, and what would let it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotPrivileged {
    /// What is missing, e.g. "write access to /proc/sys/vm/drop_caches".
    pub needs: String,
    /// What would give it.
    pub remedy: Remedy,
}

/// An error the operating system returned for an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OsError {
    /// The OS error code (errno on Linux, the Win32 error code on Windows); `None` (null in JSON)
    /// when the failure came with no OS code.
    pub code: Option<i64>,
    /// The system's message for it, with context.
    pub message: String,
    /// The NTSTATUS behind the Win32 code, as hex (Windows only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ntstatus: Option<String>,
    /// The system refused for lack of privilege (the run exits 77).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_privileged: bool,
}

impl OsError {
    /// An error with an OS code and a message.
    pub fn new(code: i64, message: impl Into<String>) -> OsError {
        OsError {
            code: Some(code),
            ..OsError::other(message)
        }
    }

    /// A failure that came with no OS error code.
    pub fn other(message: impl Into<String>) -> OsError {
        OsError {
            code: None,
            message: message.into(),
            ntstatus: None,
            not_privileged: false,
        }
    }

    /// An error from an `io::Error`, with `context` naming what failed.
    pub fn from_io(context: &str, err: &std::io::Error) -> OsError {
        OsError {
            code: err.raw_os_error().map(i64::from),
            ..OsError::other(format!("{context}: {err}"))
        }
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.code, &self.ntstatus) {
            (Some(code), Some(nt)) => write!(f, " (os error {code}, NTSTATUS {nt})"),
            (Some(code), None) => write!(f, " (os error {code})"),
            (None, Some(nt)) => write!(f, " (NTSTATUS {nt})"),
            (None, None) => Ok(()),
        }
    }
}

/// What an operation would free, estimated from a snapshot before it runs. It means the same as
/// a report's `freed_bytes`: memory that becomes free. An operation that only moves pages (to a
/// list they can later be freed from) frees 0, and says in `note` what it moves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// The bytes it would free; `None` when that cannot be told beforehand.
    pub bytes: Option<u64>,
    /// What else it would do, e.g. "moves 1.2 GiB to the standby list".
    pub note: Option<String>,
}

impl Estimate {
    /// It would free `bytes`.
    pub fn frees(bytes: u64) -> Estimate {
        Estimate {
            bytes: Some(bytes),
            note: None,
        }
    }

    /// It frees nothing by itself, and does what `note` says.
    pub fn moves(note: impl Into<String>) -> Estimate {
        Estimate {
            bytes: Some(0),
            note: Some(note.into()),
        }
    }

    /// What it would free cannot be told beforehand.
    pub fn unknown() -> Estimate {
        Estimate::default()
    }
}

/// What a successful operation reports besides success: counts, remarks, and for
/// `working-sets` each process it trimmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Named counts, in the order they should be shown (e.g. "processes" → 42).
    pub counts: Vec<(&'static str, u64)>,
    /// Remarks a user should see (e.g. why less was done than asked).
    pub notes: Vec<String>,
    /// The processes `working-sets` trimmed, where it trims them one by one.
    pub processes: Vec<TrimmedProcess>,
}

/// How the cold memory is found and reclaimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColdMethod {
    /// DAMON watches physical memory and pages out regions not accessed for `keep_hot`.
    Damon,
    /// The root cgroup's `memory.reclaim`, in steps, stopping when refaults show the reclaimed
    /// pages were in use.
    ReclaimSteps,
    /// Nothing: only compaction (the kernel offers no way to tell cold memory from hot).
    None,
}

impl ColdMethod {
    /// Its name for people.
    pub fn name(self) -> &'static str {
        match self {
            ColdMethod::Damon => "damon",
            ColdMethod::ReclaimSteps => "reclaim-steps",
            ColdMethod::None => "none",
        }
    }
}

/// Free memory that stays with the guest after compaction, by why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stranded {
    /// Free memory in blocks too small to report, in total.
    pub bytes: u64,
    /// The same, per migrate type of the pageblock it lies in (Unmovable, Movable, Reclaimable,
    /// …): blocks in unmovable and reclaimable pageblocks cannot be merged by compaction, which
    /// moves only movable pages.
    pub by_migrate_type: Vec<MigrateTypeBytes>,
}

/// Free memory in one migrate type's pageblocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrateTypeBytes {
    /// The kernel's name: Unmovable, Movable, Reclaimable, HighAtomic, CMA, Isolate.
    pub migrate_type: String,
    /// Bytes.
    pub bytes: u64,
}

/// One process whose working set was trimmed: what moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrimmedProcess {
    /// Its process ID.
    pub pid: u32,
    /// Its executable's file name.
    pub name: String,
    /// Its resident memory before.
    pub resident_before_bytes: u64,
    /// Its resident memory after.
    pub resident_after_bytes: u64,
}

/// One way to name a process: its ID, or its executable's file name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProcessMatch {
    /// This process ID.
    Pid(u32),
    /// Every process whose executable has this file name (on Windows, in any case, with or
    /// without ".exe"; on Linux, exactly, or its 15-character command name).
    Name(String),
}

impl std::str::FromStr for ProcessMatch {
    type Err = String;

    /// A number is a process ID; anything else a name.
    fn from_str(s: &str) -> Result<ProcessMatch, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty process name".into());
        }
        Ok(match s.parse() {
            Ok(pid) => ProcessMatch::Pid(pid),
            Err(_) => ProcessMatch::Name(s.to_owned()),
        })
    }
}

impl fmt::Display for ProcessMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessMatch::Pid(pid) => write!(f, "{pid}"),
            ProcessMatch::Name(name) => f.write_str(name),
        }
    }
}

/// Which processes `working-sets` acts on: all but this one by default; `only` some, and not
/// the `exclude`d ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessFilter {
    /// If not empty, only these.
    pub only: Vec<ProcessMatch>,
    /// Never these.
    pub exclude: Vec<ProcessMatch>,
}

impl ProcessFilter {
    /// Whether it lets every process through.
    pub fn is_all(&self) -> bool {
        self.only.is_empty() && self.exclude.is_empty()
    }

    /// Whether `m` names the process `pid` with these names (its executable's file name, and
    /// on Linux its command name). Windows compares names in any case, and with or without
    /// the ".exe".
    pub fn names(m: &ProcessMatch, pid: u32, names: &[&str], any_case: bool) -> bool {
        match m {
            ProcessMatch::Pid(p) => *p == pid,
            ProcessMatch::Name(wanted) => names.iter().any(|name| {
                if any_case {
                    let name = name.to_ascii_lowercase();
                    let wanted = wanted.to_ascii_lowercase();
                    name == wanted || name.strip_suffix(".exe") == Some(wanted.as_str())
                } else {
                    *name == wanted
                }
            }),
        }
    }

    /// Whether the filter lets the process through; `None` when it is excluded by name or ID,
    /// `Some(false)` when `only` does not name it.
    pub fn decide(&self, pid: u32, names: &[&str], any_case: bool) -> Decision {
        if self
            .exclude
            .iter()
            .any(|m| Self::names(m, pid, names, any_case))
        {
            return Decision::Excluded;
        }
        if !self.only.is_empty()
            && !self
                .only
                .iter()
                .any(|m| Self::names(m, pid, names, any_case))
        {
            return Decision::NotChosen;
        }
        Decision::Trim
    }

    /// The names and IDs of the filter that matched none of `seen` (pid and names of every
    /// process looked at), for a note.
    pub fn unmatched(&self, seen: &[(u32, Vec<String>)], any_case: bool) -> Vec<String> {
        self.only
            .iter()
            .chain(&self.exclude)
            .filter(|m| {
                !seen.iter().any(|(pid, names)| {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    Self::names(m, *pid, &names, any_case)
                })
            })
            .map(ToString::to_string)
            .collect()
    }
}

/// What the filter says of one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Trim it.
    Trim,
    /// `--exclude` names it.
    Excluded,
    /// `--only` does not name it.
    NotChosen,
}

/// How long a flush may take by default before the operation gives up on it (`--flush-timeout`).
pub const DEFAULT_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How a plan runs its operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The processes `working-sets` acts on.
    pub processes: ProcessFilter,
    /// How long `modified` (and on Windows `flush-volumes`) may wait for the filesystems to write
    /// their dirty data back. Past it the operation fails, naming what is still flushing; the
    /// kernel may go on flushing, but memdefrag does not wait for it.
    pub flush_timeout: std::time::Duration,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            processes: ProcessFilter::default(),
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
        }
    }
}

/// A kernel trigger on memory stalls (Linux PSI): the kernel wakes its waiter when tasks
/// stalled on memory for longer than a threshold within a window.
pub trait StallTrigger: Send {
    /// Sleeps until the kernel reports a stall or `timeout` passes; true when it reported one.
    fn wait(&mut self, timeout: std::time::Duration) -> Result<bool, OsError>;
}

/// CPU time since boot, summed over all CPUs, in the platform's ticks: only ratios of
/// differences mean anything (the share of a window the CPUs were busy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Time spent running anything: programs, the kernel, interrupts, other guests (steal).
    pub busy: u64,
    /// Busy plus idle (and, on Linux, waiting for I/O).
    pub total: u64,
}

/// A platform's memory operations and statistics.
///
/// `Send + Sync`, so that a front end can run a plan on a worker thread while it keeps reading
/// the memory state on another.
pub trait Backend: Send + Sync {
    /// "linux", "windows", or the name of an unsupported OS.
    fn platform(&self) -> &'static str;

    /// The operations `memdefrag defrag` runs here, in the order it runs them.
    fn default_plan(&self) -> Vec<Op>;

    /// Support, kernel call and privilege of `op` here.
    fn describe(&self, op: Op) -> OpInfo;

    /// Checks, without side effects, that this process may run `op`.
    fn check_privilege(&self, op: Op) -> Result<(), NotPrivileged>;

    /// The memory state now.
    fn snapshot(&self) -> Result<Snapshot, Error>;

    /// What `op` would free, estimated from `snapshot`.
    fn estimate(&self, op: Op, snapshot: &Snapshot) -> Estimate;

    /// Which of `names` (executable file names, as a process filter takes them) name a running
    /// process. Cheap enough to ask once a look.
    fn running(&self, names: &[String]) -> Vec<String>;

    /// Runs `op` as `options` say (`working-sets` on the processes they let through, flushes
    /// within their deadline). An operation that waits (a flush) gives up when `stop` is
    /// requested. Only called after `describe` said it is supported and `check_privilege` passed.
    fn run(&self, op: Op, options: &RunOptions, stop: &Stop) -> Result<Outcome, OsError>;

    /// CPU time since boot, for the idle trigger. Unsupported by default.
    fn cpu_times(&self) -> Result<CpuTimes, Error> {
        Err(Error::UnsupportedFeature {
            feature: "the idle trigger (--idle-below)",
            reason: format!(
                "memdefrag reads CPU time on Linux and Windows, not on {}",
                self.platform()
            ),
        })
    }

    /// Asks the kernel to report when some tasks stall on memory for more than `stall` within
    /// any `window`. Unsupported by default: only Linux has such a trigger.
    fn stall_trigger(
        &self,
        stall: std::time::Duration,
        window: std::time::Duration,
    ) -> Result<Box<dyn StallTrigger>, Error> {
        let _ = (stall, window);
        Err(Error::UnsupportedFeature {
            feature: "the memory stall trigger (--pressure-above)",
            reason: format!(
                "{} has no kernel stall trigger (Linux's PSI)",
                self.platform()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(only: &[&str], exclude: &[&str]) -> ProcessFilter {
        ProcessFilter {
            only: only.iter().map(|s| s.parse().unwrap()).collect(),
            exclude: exclude.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn numbers_are_ids_and_the_rest_names() {
        assert_eq!("42".parse(), Ok(ProcessMatch::Pid(42)));
        assert_eq!(
            " firefox ".parse(),
            Ok(ProcessMatch::Name("firefox".into()))
        );
        assert!("".parse::<ProcessMatch>().is_err());
    }

    #[test]
    fn exclude_wins_and_only_restricts() {
        let f = filter(&["firefox", "7"], &["7"]);
        assert_eq!(f.decide(1, &["firefox"], false), Decision::Trim);
        assert_eq!(f.decide(7, &["bash"], false), Decision::Excluded);
        assert_eq!(f.decide(8, &["bash"], false), Decision::NotChosen);
        assert!(ProcessFilter::default().is_all());
        assert_eq!(
            ProcessFilter::default().decide(1, &["x"], false),
            Decision::Trim
        );
    }

    #[test]
    fn linux_names_are_exact_and_windows_names_take_any_case_and_the_extension() {
        let f = filter(&[], &["Game"]);
        assert_eq!(
            f.decide(1, &["game"], false),
            Decision::Trim,
            "Linux: case matters"
        );
        assert_eq!(f.decide(1, &["GAME.EXE"], true), Decision::Excluded);
        assert_eq!(f.decide(1, &["game.exe"], true), Decision::Excluded);
        assert_eq!(f.decide(1, &["gamex.exe"], true), Decision::Trim);
    }

    #[test]
    fn names_that_matched_nothing_are_told() {
        let f = filter(&["a"], &["b", "99"]);
        let seen = vec![(1, vec!["a".to_owned()]), (2, vec!["c".to_owned()])];
        assert_eq!(f.unmatched(&seen, false), ["b", "99"]);
    }
}
