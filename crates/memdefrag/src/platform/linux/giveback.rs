//! give-back's kernel side on Linux: is this a guest whose balloon takes free memory back, how
//! cold memory can be found on this kernel, reclaiming it, and the free memory compaction cannot
//! make reportable.
//!
//! Cold memory, by what the kernel offers:
//! - DAMON (6.12 in Debian; CONFIG_DAMON_PADDR and _SYSFS): a kdamond over physical memory
//!   pages out regions not accessed for `keep_hot` ([`super::damon`]). It sees accesses through
//!   page tables and through the page cache (a `read()` clears a page's idle flag), so a file
//!   read every second stays while one read once goes.
//! - Otherwise the root cgroup's `memory.reclaim` (5.19+, cgroup v2), in steps of 1/64 of memory
//!   up to what the inactive lists held, each followed by a second of watching refaults: when
//!   pages it took are read back, it has reached memory in use and stops (the feedback senpai
//!   uses). `swappiness=0` keeps anonymous memory where the kernel accepts it (6.11+).
//! - Otherwise nothing: compaction alone, and a note that says so.
//!
//! # References
//! - [Documentation/mm/free_page_reporting.rst](https://docs.kernel.org/mm/free_page_reporting.html)
//! - [Documentation/admin-guide/cgroup-v2.rst](https://docs.kernel.org/admin-guide/cgroup-v2.html), `memory.reclaim`
//! - [/proc/pagetypeinfo](https://docs.kernel.org/admin-guide/mm/concepts.html)

use std::path::Path;
use std::time::{Duration, Instant};

use super::{cgroup, damon, knobs, meminfo, pagetypeinfo, psi, vmstat};
use crate::backend::{ColdMethod, MigrateTypeBytes, NotPrivileged, OsError, Outcome, Stranded};

/// The page reporting order, or why memory cannot be given back here.
pub(crate) fn give_back_support() -> Result<u32, String> {
    psi::page_reporting_order().ok_or_else(|| {
        "free page reporting is not active here (no balloon driver reports free memory to a \
         hypervisor: this is not a virtual machine, or its balloon lacks free page reporting); \
         to free memory on this machine, run 'memdefrag defrag'"
            .to_owned()
    })
}

/// Root's: DAMON's sysfs files, memory.reclaim, compact_memory, and /proc/pagetypeinfo (0400).
pub(crate) fn check_give_back_privilege() -> Result<(), NotPrivileged> {
    knobs::check_writable(knobs::COMPACT_MEMORY)?;
    rustix::fs::access(pagetypeinfo::PATH, rustix::fs::Access::READ_OK).map_err(|e| NotPrivileged {
        needs: format!(
            "read access to {} ({})",
            pagetypeinfo::PATH,
            std::io::Error::from(e)
        ),
        remedy: super::remedy_here(),
    })
}

/// DAMON where it is free to use, else memory.reclaim, else nothing; with the reason.
pub(crate) fn cold_method() -> (ColdMethod, String) {
    if let Some(why) = damon::hidden() {
        return (
            ColdMethod::Damon,
            format!("DAMON watches physical memory and pages out what is not accessed ({why})"),
        );
    }
    let damon = damon::unavailable();
    let Some(why_not_damon) = damon else {
        return (
            ColdMethod::Damon,
            "DAMON watches physical memory and pages out what is not accessed".into(),
        );
    };
    match cgroup::reclaim_file_any_version() {
        Ok(_) => (
            ColdMethod::ReclaimSteps,
            format!(
                "not DAMON ({why_not_damon}): memory.reclaim in steps, stopping when refaults \
                 show it reached memory in use (it cannot tell how long a page has been unused)"
            ),
        ),
        Err(why_not_reclaim) => (
            ColdMethod::None,
            format!(
                "neither DAMON ({why_not_damon}) nor memory.reclaim ({why_not_reclaim}): nothing \
                 tells cold memory from hot here, so only compaction runs"
            ),
        ),
    }
}

pub(crate) fn cold_kernel_call(method: ColdMethod, keep_hot: Duration) -> String {
    match method {
        ColdMethod::Damon => format!(
            "DAMON sysfs ({}): one kdamond over physical memory, scheme pageout for regions \
             unaccessed for {}",
            damon::ADMIN,
            humantime::format_duration(keep_hot)
        ),
        ColdMethod::ReclaimSteps => {
            let swappiness = if swappiness_supported() {
                " swappiness=0"
            } else {
                ""
            };
            format!(
                "write \"<step bytes>{swappiness}\" to <cgroup2 root>/memory.reclaim, step by step"
            )
        }
        ColdMethod::None => "none".into(),
    }
}

fn swappiness_supported() -> bool {
    super::kernel_version().is_some_and(|v| v >= (6, 11))
}

pub(crate) fn reclaim_cold(
    method: ColdMethod,
    keep_hot: Duration,
    stop: &crate::Stop,
) -> Result<Outcome, OsError> {
    match method {
        ColdMethod::Damon => damon_pageout(keep_hot, stop),
        ColdMethod::ReclaimSteps => reclaim_in_steps(stop),
        ColdMethod::None => Ok(Outcome::default()),
    }
}

/// Runs DAMON for `keep_hot` (nothing can be older before that), then until its scheme has been
/// tried and has paged nothing more out for two seconds. DAMON counts ages in its own intervals,
/// which stretch when its thread falls behind (a busy or slow machine), so the wait ends on what
/// the scheme did, not on the clock alone: at most three times `keep_hot` and a minute.
fn damon_pageout(keep_hot: Duration, stop: &crate::Stop) -> Result<Outcome, OsError> {
    let iomem = std::fs::read_to_string("/proc/iomem")
        .map_err(|e| OsError::from_io("read /proc/iomem", &e))?;
    let ranges = damon::system_ram(&iomem, 1 << 20);
    if ranges.is_empty() {
        return Err(OsError::other(
            "/proc/iomem shows no System RAM ranges (their addresses show only to root)",
        ));
    }
    let started = Instant::now();
    let kdamond = damon::ColdPageout::start(&ranges, keep_hot)
        .map_err(|e| OsError::from_io("start DAMON", &e))?;
    let mut outcome = Outcome::default();
    let mut last = damon::PageoutStats::default();
    let mut grew_at = started;
    let mut tried = false;
    let settle = Duration::from_secs(2);
    let limit = keep_hot * 3 + Duration::from_secs(60);
    loop {
        if stop.wait(Duration::from_millis(500)) {
            outcome
                .notes
                .push("interrupted: DAMON was stopped early".into());
            break;
        }
        let stats = kdamond
            .stats()
            .map_err(|e| OsError::from_io("read DAMON's statistics", &e))?;
        // The settling starts with the scheme's first round, and again at each pageout.
        if stats.tried_bytes > 0 && !tried {
            tried = true;
            grew_at = Instant::now();
        }
        if stats.applied_bytes > last.applied_bytes {
            grew_at = Instant::now();
        }
        last = stats;
        let elapsed = started.elapsed();
        if elapsed >= keep_hot + settle && tried && grew_at.elapsed() >= settle {
            break;
        }
        if elapsed >= limit {
            outcome.notes.push(format!(
                "DAMON was still working after {}: stopped there",
                humantime::format_duration(limit)
            ));
            break;
        }
    }
    drop(kdamond);
    outcome.counts = vec![
        ("reclaimed_bytes", last.applied_bytes),
        ("tried_bytes", last.tried_bytes),
        ("regions", ranges.len() as u64),
    ];
    Ok(outcome)
}

/// memory.reclaim in steps of 1/64 of memory (at least 32 MiB), up to what the inactive lists
/// held, each followed by a second of watching refaults.
fn reclaim_in_steps(stop: &crate::Stop) -> Result<Outcome, OsError> {
    let file = cgroup::reclaim_file_any_version().map_err(OsError::other)?;
    let swappiness = swappiness_supported().then_some(0);
    let page = rustix::param::page_size() as u64;
    let memory = read_meminfo()?;
    let step = (memory.mem_total / 64).max(32 << 20);
    let budget = memory.inactive_file
        + if swappiness.is_some() {
            0
        } else {
            memory_inactive_anon()?
        };
    let in_use = |m: &crate::snapshot::LinuxMemory| m.active_file + m.inactive_file + m.anon_pages;
    let start_use = in_use(&memory);
    let mut outcome = Outcome::default();
    let (mut requested, mut steps, mut refaulted) = (0u64, 0u64, 0u64);
    while requested < budget {
        if stop.is_requested() {
            outcome.notes.push("interrupted".into());
            break;
        }
        let before = refaults()?;
        let request = step.min(budget - requested);
        let reclaimed_all = cgroup::reclaim_step(&file, request, swappiness)?;
        steps += 1;
        requested += request;
        if stop.wait(Duration::from_secs(1)) {
            outcome.notes.push("interrupted".into());
            break;
        }
        let read_back = refaults()?.saturating_sub(before) * page;
        refaulted += read_back;
        if read_back * 10 > request {
            outcome.notes.push(format!(
                "stopped: {} MiB of what the last step took was read back within a second, so it \
                 reached memory in use",
                read_back >> 20
            ));
            break;
        }
        if !reclaimed_all {
            outcome
                .notes
                .push("stopped: the kernel found nothing more to reclaim (EAGAIN)".into());
            break;
        }
    }
    let end_use = in_use(&read_meminfo()?);
    outcome.counts = vec![
        ("reclaimed_bytes", start_use.saturating_sub(end_use)),
        ("requested_bytes", requested),
        ("steps", steps),
        ("refaulted_bytes", refaulted),
    ];
    Ok(outcome)
}

fn read_meminfo() -> Result<crate::snapshot::LinuxMemory, OsError> {
    std::fs::read_to_string(meminfo::PATH)
        .map_err(|e| e.to_string())
        .and_then(|t| meminfo::parse(&t))
        .map_err(|e| OsError::other(format!("read {}: {e}", meminfo::PATH)))
}

/// Inactive(anon), which `meminfo::parse` leaves out: without `swappiness=0` the kernel may
/// reclaim it too, so the budget counts it.
fn memory_inactive_anon() -> Result<u64, OsError> {
    let text = std::fs::read_to_string(meminfo::PATH)
        .map_err(|e| OsError::from_io(&format!("read {}", meminfo::PATH), &e))?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("Inactive(anon):"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024))
}

/// Pages read back soon after reclaim took them (file and anonymous), since boot.
fn refaults() -> Result<u64, OsError> {
    let counters = vmstat::read().map_err(|e| OsError::other(format!("read /proc/vmstat: {e}")))?;
    Ok([
        "workingset_refault_file",
        "workingset_refault_anon",
        "workingset_refault",
    ]
    .iter()
    .filter_map(|name| counters.get(*name))
    .map(|&v| u64::try_from(v).unwrap_or(0))
    .sum())
}

/// Free memory in blocks below the reporting order, by migrate type, from /proc/pagetypeinfo.
pub(crate) fn stranded(order: u32) -> Result<Stranded, OsError> {
    stranded_in(Path::new(pagetypeinfo::PATH), order)
}

fn stranded_in(path: &Path, order: u32) -> Result<Stranded, OsError> {
    let context = format!("read {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| OsError::from_io(&context, &e))?;
    let info = pagetypeinfo::parse(&text).map_err(|e| OsError::other(format!("{context}: {e}")))?;
    let page = rustix::param::page_size() as u64;
    let by_migrate_type: Vec<MigrateTypeBytes> = info
        .free_pages_below_order(order as usize)
        .into_iter()
        .filter(|&(_, pages)| pages > 0)
        .map(|(migrate_type, pages)| MigrateTypeBytes {
            migrate_type,
            bytes: pages.saturating_mul(page),
        })
        .collect();
    Ok(Stranded {
        bytes: by_migrate_type
            .iter()
            .map(|m| m.bytes)
            .fold(0, u64::saturating_add),
        by_migrate_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stranded_memory_is_what_lies_below_the_order_per_migrate_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pagetypeinfo");
        std::fs::write(
            &path,
            "Page block order: 9\nPages per block:  512\n\n\
             Free pages count per migrate type at order       0      1      2\n\
             Node    0, zone   Normal, type    Unmovable      3      1      0\n\
             Node    0, zone   Normal, type      Movable      0      2      5\n\
             Node    0, zone   Normal, type  Reclaimable      0      0      0\n",
        )
        .unwrap();
        let page = rustix::param::page_size() as u64;
        let s = stranded_in(&path, 2).unwrap();
        assert_eq!(s.bytes, 9 * page);
        assert_eq!(
            s.by_migrate_type,
            [
                MigrateTypeBytes {
                    migrate_type: "Unmovable".into(),
                    bytes: 5 * page
                },
                MigrateTypeBytes {
                    migrate_type: "Movable".into(),
                    bytes: 4 * page
                },
            ]
        );
        let err = stranded_in(&dir.path().join("missing"), 9).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
