//! The Linux backend: the kernel's own interfaces for each operation, and memory state from
//! /proc/meminfo and /proc/buddyinfo.
//!
//! | op | kernel call |
//! |---|---|
//! | working-sets | `process_madvise(MADV_PAGEOUT)` over every user process |
//! | system-working-set | `drop_caches` = 2 |
//! | modified | `syncfs()` on each mounted filesystem, each in a child process, with a deadline |
//! | standby | `drop_caches` = 1 |
//! | standby-low | root cgroup v2 `memory.reclaim` with `swappiness=0` |
//! | compact | `compact_memory` = 1 |

pub(crate) mod buddyinfo;
mod cgroup;
mod damon;
mod flush;
mod giveback;
mod knobs;
pub(crate) mod meminfo;
mod pagecache;
mod pageout;
pub(crate) mod pagetypeinfo;
pub(crate) mod psi;
mod stat;
#[allow(unsafe_code)]
mod sys;
pub(crate) mod vmstat;

use std::time::Duration;

use crate::backend::{
    Backend, Estimate, NotPrivileged, OpInfo, OsError, Outcome, RunOptions, StallTrigger, Support,
};
use crate::error::Remedy;
use crate::op::Op;
use crate::snapshot::{Detail, Fragmentation, ReportableFree, Snapshot};
use crate::Error;

pub(crate) const PLATFORM: &str = "linux";

/// `CAP_SYS_PTRACE` and `CAP_SYS_NICE` of `include/uapi/linux/capability.h`.
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_NICE: u32 = 23;
/// `CAP_SYS_RESOURCE`: PSI trigger windows that are not whole multiples of 2 s.
const CAP_SYS_RESOURCE: u32 = 24;

/// Flush dirty data, drop the clean page cache it leaves, drop reclaimable slab, then compact
/// what is free: the order `sync; echo 1 > drop_caches; echo 2 > drop_caches` takes. Compaction
/// is left out on kernels built without it, rather than failing the whole plan.
pub(crate) use giveback::{
    check_give_back_privilege, cold_kernel_call, cold_method, give_back_support, reclaim_cold,
    stranded,
};

pub(crate) fn default_plan() -> Vec<Op> {
    let mut plan = vec![Op::Modified, Op::Standby, Op::SystemWorkingSet];
    if knobs::exists(knobs::COMPACT_MEMORY) {
        plan.push(Op::Compact);
    }
    plan
}

pub(crate) fn describe(op: Op) -> OpInfo {
    let root = |file: &str| format!("root (write access to {file})");
    let (kernel_call, privilege, support) = match op {
        Op::WorkingSets => (
            "process_madvise(pidfd, <every mapping>, MADV_PAGEOUT, 0) for every user process"
                .into(),
            "root (CAP_SYS_NICE and CAP_SYS_PTRACE)".into(),
            if sys::has_process_madvise() {
                Support::Yes
            } else {
                unsupported("process_madvise needs Linux 5.10 or later")
            },
        ),
        Op::SystemWorkingSet => knob_op(knobs::DROP_CACHES, "2", root(knobs::DROP_CACHES)),
        Op::Modified => (
            "syncfs() on each mounted filesystem, within the flush timeout".into(),
            "none".into(),
            Support::Yes,
        ),
        Op::Standby => knob_op(knobs::DROP_CACHES, "1", root(knobs::DROP_CACHES)),
        Op::StandbyLow => match cgroup::reclaim_file() {
            Ok(file) => (
                format!(
                    "write \"<Inactive(file) bytes> swappiness=0\" to {}",
                    file.display()
                ),
                root(&file.display().to_string()),
                Support::Yes,
            ),
            Err(reason) => (
                "write \"<bytes> swappiness=0\" to <cgroup2 root>/memory.reclaim".into(),
                "root".into(),
                unsupported(&reason),
            ),
        },
        Op::Compact => {
            let (call, privilege, support) =
                knob_op(knobs::COMPACT_MEMORY, "1", root(knobs::COMPACT_MEMORY));
            let support = match support {
                Support::Yes => Support::Yes,
                Support::No { .. } => unsupported(
                    "this kernel was built without memory compaction (CONFIG_COMPACTION)",
                ),
            };
            (call, privilege, support)
        }
        Op::FlushVolumes => none_on_linux(
            "Linux has no per-volume buffer flush apart from writeback; use 'modified' (syncfs of each filesystem)",
        ),
        Op::Registry => none_on_linux("Linux has no registry"),
        Op::Combine => none_on_linux(
            "Linux merges identical pages only through KSM, for memory processes opted in \
             (MADV_MERGEABLE); there is no one-shot combine of all memory",
        ),
    };
    OpInfo {
        op,
        support,
        kernel_call,
        privilege,
    }
}

fn unsupported(reason: &str) -> Support {
    Support::No {
        reason: reason.to_owned(),
    }
}

fn knob_op(path: &str, value: &str, privilege: String) -> (String, String, Support) {
    let support = if knobs::exists(path) {
        Support::Yes
    } else {
        unsupported(&format!("{path} does not exist on this kernel"))
    };
    (format!("write \"{value}\" to {path}"), privilege, support)
}

fn none_on_linux(reason: &str) -> (String, String, Support) {
    ("none on Linux".into(), "-".into(), unsupported(reason))
}

pub(crate) fn check_privilege(op: Op) -> Result<(), NotPrivileged> {
    match op {
        Op::WorkingSets => check_capabilities(&[
            (CAP_SYS_NICE, "CAP_SYS_NICE"),
            (CAP_SYS_PTRACE, "CAP_SYS_PTRACE"),
        ]),
        Op::SystemWorkingSet | Op::Standby => knobs::check_writable(knobs::DROP_CACHES),
        Op::Compact => knobs::check_writable(knobs::COMPACT_MEMORY),
        Op::StandbyLow => match cgroup::reclaim_file() {
            Ok(file) => knobs::check_writable(&file),
            // Unsupported: validation reports it before privilege is checked.
            Err(_) => Ok(()),
        },
        Op::Modified | Op::FlushVolumes | Op::Registry | Op::Combine => Ok(()),
    }
}

fn check_capabilities(caps: &[(u32, &str)]) -> Result<(), NotPrivileged> {
    let effective = match procfs::process::Process::myself().and_then(|p| p.status()) {
        Ok(status) => status.capeff,
        Err(e) => {
            return Err(NotPrivileged {
                needs: format!("capabilities it cannot read from /proc/self/status ({e})"),
                remedy: Remedy::RunAsRoot,
            })
        }
    };
    let missing: Vec<&str> = caps
        .iter()
        .filter(|(bit, _)| effective & (1u64 << bit) == 0)
        .map(|&(_, name)| name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(NotPrivileged {
        needs: format!(
            "the capabilities {} (process_madvise on other users' processes)",
            missing.join(" and ")
        ),
        remedy: remedy_here(),
    })
}

/// What gives privilege here: inside a container, root is not enough (the runtime dropped
/// capabilities and made /proc/sys read-only); elsewhere, root.
pub(crate) fn remedy_here() -> Remedy {
    if in_container() {
        Remedy::PrivilegedContainer
    } else {
        Remedy::RunAsRoot
    }
}

/// Whether this process runs in a container, by the marks runtimes leave: podman's
/// /run/.containerenv, Docker's /.dockerenv, the `container` variable systemd-nspawn, podman
/// and LXC set for PID 1, or a Kubernetes pod's cgroup.
fn in_container() -> bool {
    std::path::Path::new("/run/.containerenv").exists()
        || std::path::Path::new("/.dockerenv").exists()
        || std::env::var_os("container").is_some()
        || std::fs::read_to_string("/proc/self/cgroup").is_ok_and(|c| c.contains("kubepods"))
}

pub(crate) fn snapshot() -> Result<Snapshot, Error> {
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| Error::stats(path, e));
    let memory =
        meminfo::parse(&read(meminfo::PATH)?).map_err(|e| Error::stats(meminfo::PATH, e))?;
    // The headline figures do not need buddyinfo: without it (an exotic kernel, or a file we
    // do not understand) the snapshot simply has no fragmentation.
    let fragmentation = std::fs::read_to_string(buddyinfo::PATH)
        .ok()
        .and_then(|text| buddyinfo::parse(&text).ok())
        .map(|zones| Fragmentation::new(rustix::param::page_size() as u64, zones));
    Ok(Snapshot {
        platform: PLATFORM,
        total_bytes: memory.mem_total,
        available_bytes: memory.mem_available,
        free_bytes: memory.mem_free,
        cache_bytes: (memory.cached + memory.buffers).saturating_sub(memory.shmem),
        modified_bytes: memory.dirty + memory.writeback,
        reportable_free: psi::page_reporting_order().and_then(|order| {
            let bytes = fragmentation
                .as_ref()?
                .free_bytes_from_order(usize::try_from(order).ok()?);
            Some(ReportableFree { order, bytes })
        }),
        fragmentation,
        pressure: psi::read(),
        detail: Detail::Linux(memory),
    })
}

pub(crate) fn estimate(op: Op, snapshot: &Snapshot) -> Estimate {
    let Detail::Linux(m) = &snapshot.detail else {
        return Estimate::unknown();
    };
    match op {
        // Paging out reclaims: file pages mapped by processes, plus anonymous pages where swap
        // can take them.
        Op::WorkingSets => Estimate::frees(m.mapped + m.anon_pages.min(m.swap_free)),
        Op::SystemWorkingSet => Estimate::frees(m.slab_reclaimable),
        // sync writes dirty pages back; they stay in the page cache, clean.
        Op::Modified => Estimate::moves(format!(
            "writes {} of dirty pages back to disk; they stay cached (clean) until standby drops them",
            render_size(m.dirty + m.writeback)
        )),
        Op::Standby => Estimate::frees(m.clean_cache()),
        Op::StandbyLow => Estimate::frees(m.inactive_file),
        Op::Compact => Estimate::moves("moves pages into contiguous blocks; it frees none"),
        Op::FlushVolumes | Op::Registry | Op::Combine => Estimate::unknown(),
    }
}

/// A size in MiB for an estimate's note.
fn render_size(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

pub(crate) fn run(op: Op, options: &RunOptions, stop: &crate::Stop) -> Result<Outcome, OsError> {
    match op {
        Op::WorkingSets => pageout::page_out(&options.processes),
        Op::SystemWorkingSet => knobs::write(knobs::DROP_CACHES, "2").map(|()| Outcome::default()),
        Op::Modified => flush::flush_all(options.flush_timeout, stop),
        Op::Standby => knobs::write(knobs::DROP_CACHES, "1").map(|()| Outcome::default()),
        Op::StandbyLow => {
            let file = cgroup::reclaim_file().map_err(OsError::other)?;
            let inactive_file = std::fs::read_to_string(meminfo::PATH)
                .map_err(|e| e.to_string())
                .and_then(|t| meminfo::parse(&t))
                .map(|m| m.inactive_file)
                .map_err(|e| OsError::other(format!("read {}: {e}", meminfo::PATH)))?;
            cgroup::reclaim(&file, inactive_file)
        }
        Op::Compact => compact(),
        Op::FlushVolumes | Op::Registry | Op::Combine => Err(OsError::new(
            libc::ENOSYS.into(),
            format!("'{op}' has no Linux implementation"),
        )),
    }
}

/// Compacts all zones and reports the kernel's own compaction counters for the run.
fn compact() -> Result<Outcome, OsError> {
    let before = vmstat::read().ok();
    knobs::write(knobs::COMPACT_MEMORY, "1")?;
    let mut outcome = Outcome::default();
    if let (Some(before), Ok(after)) = (before, vmstat::read()) {
        for (name, counter) in [
            ("migrate_scanned", "compact_migrate_scanned"),
            ("free_scanned", "compact_free_scanned"),
            ("isolated", "compact_isolated"),
        ] {
            if let Some(d) = vmstat::delta(&before, &after, counter) {
                outcome.counts.push((name, d));
            }
        }
    }
    Ok(outcome)
}

/// Linux has no console close to hold: SIGTERM and SIGINT reach the process's own handlers.
pub(crate) fn on_console_close(
    _callback: Box<dyn Fn(Duration) + Send + Sync>,
) -> std::io::Result<()> {
    Ok(())
}

pub(crate) use pagecache::{drop_pages, file_pages};

/// This system's backend.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Native;

pub(crate) fn native() -> Native {
    Native
}

impl Backend for Native {
    fn platform(&self) -> &'static str {
        PLATFORM
    }
    fn default_plan(&self) -> Vec<Op> {
        default_plan()
    }
    fn describe(&self, op: Op) -> OpInfo {
        describe(op)
    }
    fn check_privilege(&self, op: Op) -> Result<(), NotPrivileged> {
        check_privilege(op)
    }
    fn snapshot(&self) -> Result<Snapshot, Error> {
        snapshot()
    }
    fn estimate(&self, op: Op, snapshot: &Snapshot) -> Estimate {
        estimate(op, snapshot)
    }
    fn running(&self, names: &[String]) -> Vec<String> {
        pageout::running(names)
    }
    fn run(&self, op: Op, options: &RunOptions, stop: &crate::Stop) -> Result<Outcome, OsError> {
        run(op, options, stop)
    }
    fn stall_trigger(
        &self,
        stall: Duration,
        window: Duration,
    ) -> Result<Box<dyn StallTrigger>, Error> {
        if !std::path::Path::new(psi::PATH).exists() {
            return Err(Error::UnsupportedFeature {
                feature: "the memory stall trigger (--pressure-above)",
                reason: format!(
                    "this kernel has no {} (PSI needs Linux 4.20+ built with CONFIG_PSI, and \
                     not booted with psi=0)",
                    psi::PATH
                ),
            });
        }
        let whole_2s = window.as_millis().is_multiple_of(2000);
        if !whole_2s && check_capabilities(&[(CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE")]).is_err() {
            return Err(Error::PressureWindowNeedsPrivilege(window));
        }
        psi::Trigger::new(stall, window)
            .map(|t| Box::new(t) as Box<dyn StallTrigger>)
            .map_err(|e| Error::UnsupportedFeature {
                feature: "the memory stall trigger (--pressure-above)",
                reason: format!("the kernel refused the trigger: {e}"),
            })
    }
    fn cpu_times(&self) -> Result<crate::backend::CpuTimes, Error> {
        stat::cpu_times().map_err(|message| Error::Stats {
            source_name: stat::PATH.into(),
            message,
        })
    }
}

/// The running kernel's major and minor version.
fn kernel_version() -> Option<(u32, u32)> {
    let uname = rustix::system::uname();
    parse_kernel_version(uname.release().to_str().ok()?)
}

fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
