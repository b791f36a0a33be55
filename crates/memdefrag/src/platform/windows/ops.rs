//! The Windows backend's decisions, over the [`NtApi`] seam: which call each operation makes,
//! with which privileges (and which it refuses under WOW64); how results, errors and estimates
//! are reported; and where each status figure comes from.
//!
//! Every call exists on every Windows memdefrag runs on: Windows 10 / Server 2016 and later,
//! the minimum of Rust's standard library (see `tests/windows-imports.txt`).

use super::api::{
    MemoryListCommand, NtApi, NtStatus, Privilege, PrivilegeError, PrivilegeState, SetRequest,
    TrimError,
};
use crate::backend::{
    Decision, Estimate, NotPrivileged, OpInfo, OsError, Outcome, ProcessFilter, RunOptions,
    Support, TrimmedProcess,
};
use crate::error::Remedy;
use crate::op::Op;
use crate::snapshot::{Detail, MemoryLists, Snapshot, Sources, WindowsMemory};
use crate::Error;

pub(crate) const PLATFORM: &str = "windows";

/// ERROR_NOT_ALL_ASSIGNED: AdjustTokenPrivileges found the privilege missing from the token.
const ERROR_NOT_ALL_ASSIGNED: u32 = 1300;
/// ERROR_TIMEOUT: "This operation returned because the timeout period expired."
const ERROR_TIMEOUT: u32 = 1460;
/// ERROR_CANCELLED: "The operation was canceled by the user."
const ERROR_CANCELLED: u32 = 1223;
/// ERROR_ACCESS_DENIED.
const ERROR_ACCESS_DENIED: u32 = 5;

/// The seed's sequence, RAMMap's Empty menu: working sets, then the modified list, then the
/// standby list.
pub(crate) fn default_plan() -> Vec<Op> {
    vec![Op::WorkingSets, Op::Modified, Op::Standby]
}

/// What an operation needs before it may run.
enum Needs {
    /// These privileges, enabled in the process token.
    Privileges(&'static [Privilege]),
    /// An elevated (administrator) token: volume handles and registry hives.
    Elevation,
}

/// How an operation is carried out on Windows.
struct Call {
    /// The NtSetSystemInformation request; `None` for flush-volumes (Win32 file API).
    request: Option<SetRequest>,
    /// Whether the structure passed has pointer-sized fields (wrong layout under WOW64).
    pointer_sized: bool,
    needs: Needs,
}

/// The memory-list commands and queries (class 80) and page combining (class 130; System
/// Informer enables it for its memory-lists window, from which it combines).
const PROFILE: &[Privilege] = &[Privilege::ProfileSingleProcess];
/// The system file cache working set (class 81): phnt and System Informer name only this one.
/// Asking for more would refuse tokens that hold only it (LOCAL SERVICE, NETWORK SERVICE).
const QUOTA: &[Privilege] = &[Privilege::IncreaseQuota];

fn call_of(op: Op) -> Option<Call> {
    let list = |command| Call {
        request: Some(SetRequest::MemoryList(command)),
        pointer_sized: false,
        needs: Needs::Privileges(PROFILE),
    };
    Some(match op {
        Op::WorkingSets => list(MemoryListCommand::EmptyWorkingSets),
        Op::Modified => list(MemoryListCommand::FlushModifiedList),
        Op::Standby => list(MemoryListCommand::PurgeStandbyList),
        Op::StandbyLow => list(MemoryListCommand::PurgeLowPriorityStandbyList),
        Op::SystemWorkingSet => Call {
            request: Some(SetRequest::TrimFileCache),
            pointer_sized: true,
            needs: Needs::Privileges(QUOTA),
        },
        Op::Registry => Call {
            request: Some(SetRequest::ReconcileRegistry),
            pointer_sized: false,
            needs: Needs::Elevation,
        },
        Op::Combine => Call {
            request: Some(SetRequest::CombinePages),
            pointer_sized: true,
            needs: Needs::Privileges(PROFILE),
        },
        Op::FlushVolumes => Call {
            request: None,
            pointer_sized: false,
            needs: Needs::Elevation,
        },
        Op::Compact => return None,
    })
}

/// The exact call, as `ops` and `--dry-run` show it.
pub(crate) fn kernel_call(op: Op) -> String {
    match call_of(op).and_then(|c| c.request) {
        Some(SetRequest::MemoryList(command)) => format!(
            "NtSetSystemInformation(SystemMemoryListInformation=80, {}={})",
            command.name(),
            command as i32
        ),
        Some(SetRequest::TrimFileCache) => {
            "NtSetSystemInformation(SystemFileCacheInformationEx=81, \
             SYSTEM_FILECACHE_INFORMATION{MinimumWorkingSet=MaximumWorkingSet=SIZE_T_MAX})"
                .into()
        }
        Some(SetRequest::CombinePages) => {
            "NtSetSystemInformation(SystemCombinePhysicalMemoryInformation=130, \
             MEMORY_COMBINE_INFORMATION_EX{0})"
                .into()
        }
        Some(SetRequest::ReconcileRegistry) => {
            "NtSetSystemInformation(SystemRegistryReconciliationInformation=155, NULL, 0)".into()
        }
        None if op == Op::FlushVolumes => {
            "FlushFileBuffers(CreateFileW(\\\\?\\Volume{GUID})) for every volume \
             from FindFirstVolumeW/FindNextVolumeW"
                .into()
        }
        None => "none on Windows".into(),
    }
}

fn privilege_text(needs: &Needs) -> String {
    match needs {
        Needs::Privileges(list) => {
            let names: Vec<&str> = list.iter().map(|p| p.name()).collect();
            format!("{} (elevated prompt)", names.join(" and "))
        }
        Needs::Elevation => "Administrator (elevated prompt)".into(),
    }
}

pub(crate) fn describe(api: &dyn NtApi, op: Op) -> OpInfo {
    let kernel_call = kernel_call(op);
    let Some(call) = call_of(op) else {
        return OpInfo {
            op,
            support: Support::No {
                reason: "Windows offers no call to compact physical memory; its memory manager \
                         compacts on its own"
                    .into(),
            },
            kernel_call,
            privilege: "-".into(),
        };
    };
    let support = match unsupported_reason(api, &call) {
        Some(reason) => Support::No { reason },
        None => Support::Yes,
    };
    OpInfo {
        op,
        support,
        kernel_call,
        privilege: privilege_text(&call.needs),
    }
}

/// WOW64 refusal: never call with a structure of the wrong layout. Every call here exists on
/// every Windows memdefrag runs on (Windows 10 / Server 2016 and later: Rust's standard library
/// needs them), so there is no version to check.
fn unsupported_reason(api: &dyn NtApi, call: &Call) -> Option<String> {
    if call.pointer_sized && api.is_wow64() {
        return Some(
            "this 32-bit build runs on 64-bit Windows (WOW64), where the structure this call \
             takes has the 64-bit layout; use the 64-bit build of memdefrag"
                .into(),
        );
    }
    None
}

/// Privileges enabled in the process token for as long as it lives; dropping it puts back the
/// ones it turned on.
struct PrivilegeGuard<'a> {
    api: &'a dyn NtApi,
    previous: PrivilegeState,
}

impl<'a> PrivilegeGuard<'a> {
    fn enable(
        api: &'a dyn NtApi,
        privileges: &[Privilege],
    ) -> Result<PrivilegeGuard<'a>, PrivilegeError> {
        let previous = api.enable_privileges(privileges)?;
        Ok(PrivilegeGuard { api, previous })
    }
}

impl Drop for PrivilegeGuard<'_> {
    fn drop(&mut self) {
        self.api.restore_privileges(&self.previous);
    }
}

fn not_privileged(err: PrivilegeError) -> NotPrivileged {
    let needs = match err {
        PrivilegeError::NotAssigned(p) => format!("{} in its token", p.name()),
        PrivilegeError::Os(code, msg) => {
            format!("to adjust its token privileges, which failed: {msg} (error {code})")
        }
    };
    NotPrivileged {
        needs,
        remedy: Remedy::Elevate,
    }
}

pub(crate) fn check_privilege(api: &dyn NtApi, op: Op) -> Result<(), NotPrivileged> {
    let Some(call) = call_of(op) else {
        return Ok(());
    };
    match call.needs {
        // Enable and at once restore: proves the token holds them, changes nothing.
        Needs::Privileges(list) => PrivilegeGuard::enable(api, list)
            .map(drop)
            .map_err(not_privileged),
        Needs::Elevation if api.is_elevated() => Ok(()),
        Needs::Elevation => Err(NotPrivileged {
            needs: "an elevated (administrator) process".into(),
            remedy: Remedy::Elevate,
        }),
    }
}

/// An NTSTATUS as a report error: the hex status, its Win32 code and the system's message.
fn nt_error(api: &dyn NtApi, status: NtStatus, call: &str) -> OsError {
    let (code, message) = api.status_message(status);
    let mut err = OsError::new(code.into(), format!("{call}: {message}"));
    err.ntstatus = Some(status.to_string());
    err.not_privileged = status == NtStatus::PRIVILEGE_NOT_HELD;
    err
}

pub(crate) fn run(api: &dyn NtApi, op: Op, options: &RunOptions) -> Result<Outcome, OsError> {
    let processes = &options.processes;
    let info = describe(api, op);
    let call = match (info.unsupported_reason(), call_of(op)) {
        (None, Some(call)) => call,
        (reason, _) => {
            let reason = reason.unwrap_or("unsupported");
            return Err(OsError::other(format!("'{op}' was not run: {reason}")));
        }
    };
    let _privileges = match call.needs {
        Needs::Privileges(list) => Some(PrivilegeGuard::enable(api, list).map_err(|e| {
            let mut err = match e {
                PrivilegeError::NotAssigned(p) => OsError::new(
                    ERROR_NOT_ALL_ASSIGNED.into(),
                    format!("{} is not in the process token", p.name()),
                ),
                PrivilegeError::Os(code, msg) => OsError::new(
                    code.into(),
                    format!("adjusting the process token failed: {msg}"),
                ),
            };
            err.not_privileged = true;
            err
        })?),
        Needs::Elevation => None,
    };
    if op == Op::WorkingSets && !processes.is_all() {
        // The seed's single MemoryEmptyWorkingSets empties every process: with a filter, each
        // chosen process is trimmed on its own.
        return trim_processes(api, processes);
    }
    let Some(request) = call.request else {
        return flush_volumes(api);
    };
    let value = api
        .set_information(request)
        .map_err(|status| nt_error(api, status, &info.kernel_call))?;
    let mut outcome = Outcome::default();
    if request == SetRequest::CombinePages {
        outcome.counts.push(("pages_combined", value));
    }
    Ok(outcome)
}

/// What a flush operation calls, for its errors.
fn flush_call(op: Op) -> &'static str {
    if op == Op::FlushVolumes {
        "the volumes' flush (FlushFileBuffers)"
    } else {
        "the modified list's flush (MemoryFlushModifiedList)"
    }
}

/// The error of a flush cut short by a stop request.
pub(crate) fn flush_interrupted(op: Op) -> OsError {
    OsError::new(
        ERROR_CANCELLED.into(),
        format!(
            "interrupted while waiting for {} (Windows goes on flushing)",
            flush_call(op)
        ),
    )
}

/// The error of a flush given up at its deadline (`--flush-timeout`).
pub(crate) fn flush_timed_out(op: Op, timeout: std::time::Duration) -> OsError {
    let what = flush_call(op);
    OsError::new(
        ERROR_TIMEOUT.into(),
        format!(
            "{what} did not finish within {}: a volume is not answering; Windows goes on \
             flushing, memdefrag does not wait",
            humantime::format_duration(timeout)
        ),
    )
}

/// Which of `names` name a running process (in any case, with or without ".exe").
pub(crate) fn running(api: &dyn NtApi, names: &[String]) -> Vec<String> {
    let Ok(all) = api.processes() else {
        return Vec::new();
    };
    names
        .iter()
        .filter(|name| {
            let m = crate::backend::ProcessMatch::Name((*name).clone());
            all.iter()
                .any(|e| ProcessFilter::names(&m, e.pid, &[e.name.as_str()], true))
        })
        .cloned()
        .collect()
}

/// Empties the working set of each process `filter` lets through (but this one), counting the
/// ones it left alone, the ones that refused (protected processes) and the ones that exited.
fn trim_processes(api: &dyn NtApi, filter: &ProcessFilter) -> Result<Outcome, OsError> {
    let all = api.processes().map_err(|(code, msg)| {
        OsError::new(
            code.into(),
            format!("enumerate processes (CreateToolhelp32Snapshot): {msg}"),
        )
    })?;
    let me = std::process::id();
    let (mut excluded, mut refused, mut exited) = (0, 0, 0);
    let mut trimmed = Vec::new();
    let mut seen = Vec::new();
    for entry in all.iter().filter(|e| e.pid != me && e.pid != 0) {
        seen.push((entry.pid, vec![entry.name.clone()]));
        if filter.decide(entry.pid, &[entry.name.as_str()], true) != Decision::Trim {
            excluded += 1;
            continue;
        }
        match api.empty_working_set(entry.pid) {
            Ok((before, after)) => trimmed.push(TrimmedProcess {
                pid: entry.pid,
                name: entry.name.clone(),
                resident_before_bytes: before,
                resident_after_bytes: after,
            }),
            Err(TrimError::Exited) => exited += 1,
            Err(TrimError::Refused(..)) => refused += 1,
        }
    }
    let notes = filter
        .unmatched(&seen, true)
        .into_iter()
        .map(|m| format!("no process matched '{m}'"))
        .collect();
    Ok(Outcome {
        counts: vec![
            ("processes", trimmed.len() as u64),
            ("excluded", excluded),
            ("refused", refused),
            ("exited", exited),
        ],
        notes,
        processes: trimmed,
    })
}

fn flush_volumes(api: &dyn NtApi) -> Result<Outcome, OsError> {
    let volumes = api.flush_volumes().map_err(|(code, msg)| {
        OsError::new(
            code.into(),
            format!("enumerate volumes (FindFirstVolumeW): {msg}"),
        )
    })?;
    let failed: Vec<_> = volumes.iter().filter(|v| v.error.is_some()).collect();
    let flushed = (volumes.len() - failed.len()) as u64;
    let mut outcome = Outcome {
        counts: vec![
            ("volumes_flushed", flushed),
            ("volumes_failed", failed.len() as u64),
        ],
        ..Outcome::default()
    };
    for v in &failed {
        let (code, msg) = v.error.as_ref().expect("filtered on error");
        let place = if v.mount_points.is_empty() {
            "not mounted".to_owned()
        } else {
            v.mount_points.join(", ")
        };
        outcome
            .notes
            .push(format!("{} ({place}): {msg} (error {code})", v.volume));
    }
    if volumes.is_empty() {
        outcome.notes.push("no volumes found".into());
    }
    if flushed == 0 && !failed.is_empty() {
        let (code, _) = failed[0].error.clone().expect("filtered on error");
        let mut err = OsError::new(
            code.into(),
            format!("no volume could be flushed: {}", outcome.notes.join("; ")),
        );
        err.not_privileged = code == ERROR_ACCESS_DENIED;
        return Err(err);
    }
    Ok(outcome)
}

const LIST_SOURCE: &str = "NtQuerySystemInformation(SystemMemoryListInformation)";

pub(crate) fn snapshot(api: &dyn NtApi) -> Result<Snapshot, Error> {
    let doc = api.documented_memory().map_err(|(code, msg)| {
        Error::stats(
            "GlobalMemoryStatusEx/GetPerformanceInfo",
            format!("{msg} (error {code})"),
        )
    })?;
    // The query structures are pointer-sized: a WOW64 process would read them wrongly.
    let wow64 = api.is_wow64();
    let page_size = if wow64 {
        doc.page_size
    } else {
        api.page_size().unwrap_or(doc.page_size)
    };
    let (lists, lists_error) = if wow64 {
        (
            None,
            Some("not available to a 32-bit process on 64-bit Windows (WOW64)".to_owned()),
        )
    } else {
        // Best effort. The query needs SeProfileSingleProcessPrivilege enabled: it is asked
        // without first (a watch or the desktop app asks every second, and enabling and
        // restoring a privilege costs two token adjustments), and again with the privilege
        // only if the kernel refused for its lack. Without it, the documented figures stand in.
        let lists = match api.memory_lists() {
            Err(NtStatus::PRIVILEGE_NOT_HELD) => match PrivilegeGuard::enable(api, PROFILE) {
                Ok(_privileges) => api.memory_lists(),
                Err(_) => Err(NtStatus::PRIVILEGE_NOT_HELD),
            },
            other => other,
        };
        match lists {
            Ok(pages) => (Some(pages), None),
            Err(status) => {
                let (code, msg) = api.status_message(status);
                (
                    None,
                    Some(format!(
                        "{LIST_SOURCE} failed with NTSTATUS {status}: {msg} (error {code})"
                    )),
                )
            }
        }
    };
    let file_cache_bytes = if wow64 {
        None
    } else {
        api.file_cache_size().ok()
    };

    let bytes = |pages: u64| pages.saturating_mul(page_size);
    let memory_lists = lists.map(|p| MemoryLists {
        zeroed_bytes: bytes(p.zeroed),
        free_bytes: bytes(p.free),
        modified_bytes: bytes(p.modified),
        modified_no_write_bytes: bytes(p.modified_no_write),
        modified_page_file_bytes: bytes(p.modified_page_file),
        bad_bytes: bytes(p.bad),
        standby_bytes_by_priority: p.standby_by_priority.map(bytes),
        repurposed_pages_by_priority: p.repurposed_by_priority,
    });
    let (free, cache, modified, sources) = match &memory_lists {
        Some(l) => (
            l.zeroed_bytes.saturating_add(l.free_bytes),
            l.standby_bytes(),
            l.modified_bytes,
            Sources {
                total_bytes: "GlobalMemoryStatusEx",
                available_bytes: "GlobalMemoryStatusEx",
                free_bytes: LIST_SOURCE,
                cache_bytes: LIST_SOURCE,
                modified_bytes: LIST_SOURCE,
            },
        ),
        None => {
            // Without the lists: the system cache (standby plus the cache working set) is the
            // nearest documented figure for the standby list, and the rest of available memory
            // for the free lists. The modified list has no documented figure.
            let cache = doc.system_cache.min(doc.available);
            (
                doc.available - cache,
                cache,
                0,
                Sources {
                    total_bytes: "GlobalMemoryStatusEx",
                    available_bytes: "GlobalMemoryStatusEx",
                    free_bytes: "GlobalMemoryStatusEx available − system cache (estimate)",
                    cache_bytes: "GetPerformanceInfo system cache (estimate)",
                    modified_bytes: "unavailable without the memory-list query (reported as 0)",
                },
            )
        }
    };
    Ok(Snapshot {
        platform: PLATFORM,
        total_bytes: doc.total,
        available_bytes: doc.available,
        free_bytes: free,
        cache_bytes: cache,
        modified_bytes: modified,
        fragmentation: None,
        pressure: None,
        reportable_free: None,
        detail: Detail::Windows(Box::new(WindowsMemory {
            page_size,
            memory_lists,
            memory_lists_error: lists_error,
            commit_total_bytes: doc.commit_total,
            commit_limit_bytes: doc.commit_limit,
            system_cache_bytes: doc.system_cache,
            file_cache_bytes,
            sources,
        })),
    })
}

pub(crate) fn estimate(op: Op, snapshot: &Snapshot) -> Estimate {
    let Detail::Windows(w) = &snapshot.detail else {
        return Estimate::unknown();
    };
    let lists = w.memory_lists.as_ref();
    let size = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20));
    match op {
        // These move pages to the standby list (through the modified list for dirty ones): they
        // free nothing by themselves; a standby purge after them does.
        Op::WorkingSets => Estimate::moves(format!(
            "moves process working sets (up to {} in use) to the standby and modified lists",
            size(
                snapshot
                    .total_bytes
                    .saturating_sub(snapshot.available_bytes)
            )
        )),
        Op::SystemWorkingSet => Estimate::moves(match w.file_cache_bytes {
            Some(bytes) => format!(
                "moves the system file cache working set ({}) to the standby list",
                size(bytes)
            ),
            None => "moves the system file cache working set to the standby list".into(),
        }),
        Op::Modified => Estimate::moves(match lists {
            Some(l) => format!(
                "writes the modified list ({}) to disk; its pages move to the standby list",
                size(l.modified_bytes)
            ),
            None => "writes the modified list to disk; its pages move to the standby list".into(),
        }),
        Op::Standby => Estimate {
            bytes: lists.map(MemoryLists::standby_bytes),
            note: None,
        },
        Op::StandbyLow => Estimate {
            bytes: lists.map(|l| l.standby_bytes_by_priority[0]),
            note: None,
        },
        Op::FlushVolumes => Estimate::moves("writes volume buffers to disk; it frees nothing"),
        Op::Registry | Op::Combine | Op::Compact => Estimate::unknown(),
    }
}

#[cfg(test)]
mod tests;
