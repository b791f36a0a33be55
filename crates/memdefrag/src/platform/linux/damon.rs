//! DAMON through its sysfs interface: one kdamond watching physical memory, with one scheme that
//! pages out what has not been accessed for a given time. The kernel tracks the accesses (page
//! table accessed bits, and the idle flag that reads through the page cache clear), so pages in
//! use stay, whatever list they sit on.
//!
//! Only an idle DAMON is used: when another kdamond is configured or running, or the
//! DAMON_RECLAIM module is on (it runs exclusively), the setup refuses and says which.
//!
//! # References
//! - [Documentation/admin-guide/mm/damon/usage.rst](https://docs.kernel.org/admin-guide/mm/damon/usage.html)
//!   (the sysfs files; `age` counts aggregation intervals; stats refresh on `update_schemes_stats`)
//! - [Documentation/admin-guide/mm/damon/reclaim.rst](https://docs.kernel.org/admin-guide/mm/damon/reclaim.html)

use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) const ADMIN: &str = "/sys/kernel/mm/damon/admin";
const RECLAIM_ENABLED: &str = "/sys/module/damon_reclaim/parameters/enabled";
const RECLAIM_PID: &str = "/sys/module/damon_reclaim/parameters/kdamond_pid";
/// The PID of the kdamond a running give-back started. A give-back killed before it could turn
/// its kdamond off (SIGKILL) leaves it paging out; the next one recognises it by this file and
/// replaces it, instead of taking it for someone else's.
const MARKER: &str = "/run/memdefrag-give-back.kdamond";

/// How many times DAMON's sampling should reach each page within `min_age`, on average. Pageout
/// takes only pages a sample has marked idle, so more samples find more of the cold memory
/// (1 − e^−3 ≈ 95 % of the pages at least once) — and also catch more pages of a hot set between
/// two of their uses: in the lab's benchmark, 5 returned 97–99 % of what dropping every cache
/// returns but made the guest read 40 MiB of its hot file again; 3 returned 84–95 % for 3–19 MiB.
const SAMPLES_PER_PAGE: u128 = 3;
/// DAMON's own default intervals: sample every 5 ms, aggregate over 100 ms.
const SAMPLE_US: u64 = 5_000;
const AGGR_US: u64 = 100_000;
/// How often the monitoring regions are refreshed from the target (not used for paddr's fixed
/// regions, but it must be at least the aggregation interval).
const UPDATE_US: u64 = 1_000_000;

/// Why DAMON cannot be used here, in one line, or `None` when it can.
pub(crate) fn unavailable() -> Option<String> {
    if left_by_give_back(Path::new(ADMIN), Path::new(MARKER)) {
        return None;
    }
    unavailable_at(
        Path::new(ADMIN),
        Path::new(RECLAIM_ENABLED),
        Path::new(RECLAIM_PID),
    )
}

/// Why DAMON's state is hidden from this process (its sysfs files are root's), or `None` when it
/// can be read. A dry run without root then names DAMON as the method, with this reason.
pub(crate) fn hidden() -> Option<String> {
    hidden_at(Path::new(ADMIN))
}

fn hidden_at(admin: &Path) -> Option<String> {
    let path = admin.join("kdamonds/nr_kdamonds");
    match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(format!(
            "only root may read {}, so whether another DAMON instance runs is checked when \
             give-back runs as root (then memory.reclaim is used instead)",
            path.display()
        )),
        _ => None,
    }
}

fn unavailable_at(admin: &Path, reclaim_enabled: &Path, reclaim_pid: &Path) -> Option<String> {
    if !admin.join("kdamonds").is_dir() {
        return Some("this kernel has no DAMON sysfs interface (CONFIG_DAMON_SYSFS)".into());
    }
    if read(reclaim_enabled).is_some_and(|v| v == "Y") {
        let pid = read(reclaim_pid).unwrap_or_else(|| "?".into());
        return Some(format!(
            "the DAMON_RECLAIM module is running (kdamond pid {pid}) and already pages out cold memory; \
             a second DAMON instance cannot start beside it"
        ));
    }
    let kdamonds = admin.join("kdamonds");
    let Some(configured) = read(&kdamonds.join("nr_kdamonds")).and_then(|v| v.parse::<u32>().ok())
    else {
        return Some(format!(
            "cannot read {}",
            kdamonds.join("nr_kdamonds").display()
        ));
    };
    if configured > 0 {
        let running: Vec<String> = (0..configured)
            .filter(|i| read(&kdamonds.join(format!("{i}/state"))).is_some_and(|s| s == "on"))
            .map(|i| {
                let pid = read(&kdamonds.join(format!("{i}/pid"))).unwrap_or_else(|| "?".into());
                format!("kdamond {i} (pid {pid})")
            })
            .collect();
        return Some(if running.is_empty() {
            format!("DAMON is configured by someone else ({configured} kdamonds, none running); it is left as it is")
        } else {
            format!(
                "DAMON is already running ({}); give-back does not start a second instance",
                running.join(", ")
            )
        });
    }
    None
}

/// Whether the only kdamond is the one an interrupted give-back started (its PID in `marker`).
fn left_by_give_back(admin: &Path, marker: &Path) -> bool {
    let kdamonds = admin.join("kdamonds");
    read(marker).is_some_and(|pid| {
        read(&kdamonds.join("nr_kdamonds")).as_deref() == Some("1")
            && read(&kdamonds.join("0/pid")).is_some_and(|running| running == pid)
    })
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// A physical address range of system RAM, end exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    pub start: u64,
    pub end: u64,
}

/// The top-level "System RAM" ranges of /proc/iomem (addresses show only to root), at least
/// `min_len` long, in address order.
pub(crate) fn system_ram(iomem: &str, min_len: u64) -> Vec<Range> {
    let mut ranges: Vec<Range> = iomem
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| {
            let (span, name) = l.split_once(" : ")?;
            if name.trim() != "System RAM" {
                return None;
            }
            let (start, end) = span.split_once('-')?;
            let start = u64::from_str_radix(start.trim(), 16).ok()?;
            let end = u64::from_str_radix(end.trim(), 16).ok()?.checked_add(1)?;
            (end > start && end - start >= min_len).then_some(Range { start, end })
        })
        .collect();
    ranges.sort_by_key(|r| r.start);
    ranges
}

/// A kdamond memdefrag set up; dropping it turns it off and removes its configuration.
pub(crate) struct ColdPageout {
    kdamond: PathBuf,
    admin: PathBuf,
    marker: Option<PathBuf>,
}

/// What the scheme did: the kernel's own statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PageoutStats {
    /// Bytes of regions the scheme was tried on.
    pub tried_bytes: u64,
    /// Bytes it paged out.
    pub applied_bytes: u64,
}

impl ColdPageout {
    /// Configures and starts one kdamond over `ranges` of physical memory, with a scheme that
    /// pages out regions not accessed for `min_age`.
    pub(crate) fn start(ranges: &[Range], min_age: Duration) -> std::io::Result<ColdPageout> {
        let (admin, marker) = (Path::new(ADMIN), Path::new(MARKER));
        if left_by_give_back(admin, marker) {
            write(&admin.join("kdamonds/0/state"), "off")?;
            write(&admin.join("kdamonds/nr_kdamonds"), "0")?;
        }
        let mut guard = Self::start_at(admin, ranges, min_age)?;
        if let (Some(pid), true) = (read(&guard.kdamond.join("pid")), Path::new("/run").is_dir()) {
            if std::fs::write(marker, format!("{pid}\n")).is_ok() {
                guard.marker = Some(marker.to_owned());
            }
        }
        Ok(guard)
    }

    fn start_at(admin: &Path, ranges: &[Range], min_age: Duration) -> std::io::Result<ColdPageout> {
        let kdamonds = admin.join("kdamonds");
        write(&kdamonds.join("nr_kdamonds"), "1")?;
        // From here on the configuration is ours: dropping the guard undoes it.
        let guard = ColdPageout {
            kdamond: kdamonds.join("0"),
            admin: admin.to_owned(),
            marker: None,
        };
        let k = &guard.kdamond;
        write(&k.join("contexts/nr_contexts"), "1")?;
        let c = k.join("contexts/0");
        write(&c.join("operations"), "paddr")?;
        let attrs = c.join("monitoring_attrs");
        write(&attrs.join("intervals/sample_us"), &SAMPLE_US.to_string())?;
        write(&attrs.join("intervals/aggr_us"), &AGGR_US.to_string())?;
        write(&attrs.join("intervals/update_us"), &UPDATE_US.to_string())?;
        let (min_regions, max_regions) = region_bounds(ranges, min_age);
        write(&attrs.join("nr_regions/min"), &min_regions.to_string())?;
        write(&attrs.join("nr_regions/max"), &max_regions.to_string())?;
        write(&c.join("targets/nr_targets"), "1")?;
        let regions = c.join("targets/0/regions");
        write(&regions.join("nr_regions"), &ranges.len().to_string())?;
        for (i, r) in ranges.iter().enumerate() {
            write(&regions.join(format!("{i}/start")), &r.start.to_string())?;
            write(&regions.join(format!("{i}/end")), &r.end.to_string())?;
        }
        write(&c.join("schemes/nr_schemes"), "1")?;
        let s = c.join("schemes/0");
        write(&s.join("action"), "pageout")?;
        // Page cache only: anonymous memory paged out goes to swap, on the guest's disk, and
        // comes back at the next touch. DAMOS filters exist from 6.3; a filter that matches
        // excludes what it matches.
        let filters = s.join("filters");
        if filters.is_dir() {
            write(&filters.join("nr_filters"), "1")?;
            write(&filters.join("0/type"), "anon")?;
            write(&filters.join("0/matching"), "Y")?;
        }
        let pattern = s.join("access_pattern");
        // Any size; never accessed while watched; for at least min_age (counted in
        // aggregation intervals).
        write(&pattern.join("sz/min"), "4096")?;
        write(&pattern.join("sz/max"), &u64::MAX.to_string())?;
        write(&pattern.join("nr_accesses/min"), "0")?;
        write(&pattern.join("nr_accesses/max"), "0")?;
        write(
            &pattern.join("age/min"),
            &age_in_intervals(min_age).to_string(),
        )?;
        write(&pattern.join("age/max"), &u32::MAX.to_string())?;
        write(&k.join("state"), "on")?;
        Ok(guard)
    }

    /// The scheme's statistics so far.
    pub(crate) fn stats(&self) -> std::io::Result<PageoutStats> {
        write(&self.kdamond.join("state"), "update_schemes_stats")?;
        let stats = self.kdamond.join("contexts/0/schemes/0/stats");
        let number = |name: &str| -> std::io::Result<u64> {
            let path = stats.join(name);
            let text = std::fs::read_to_string(&path)?;
            text.trim().parse().map_err(|_| {
                std::io::Error::other(format!("{}: not a number: {text:?}", path.display()))
            })
        };
        Ok(PageoutStats {
            tried_bytes: number("sz_tried")?,
            applied_bytes: number("sz_applied")?,
        })
    }
}

impl Drop for ColdPageout {
    fn drop(&mut self) {
        let _ = write(&self.kdamond.join("state"), "off");
        let _ = write(&self.admin.join("kdamonds/nr_kdamonds"), "0");
        if let Some(marker) = &self.marker {
            let _ = std::fs::remove_file(marker);
        }
    }
}

/// The bounds on DAMON's number of regions. Pageout skips a page DAMON has not itself marked
/// idle since it was last used (the "young" check it adds for physical memory), and DAMON marks
/// one sampled page of each region per sampling interval: a region of cold pages gets paged out
/// only as far as its pages were sampled. So the regions must be small enough that each page is
/// sampled [`SAMPLES_PER_PAGE`] times within `min_age`, whatever DAMON merges (it keeps every
/// region below the memory's size over the minimum); the maximum leaves room to split. At most 2,000 regions: past that the sampling costs
/// more than it finds, and a short `min_age` gets its coverage from the rounds that follow (a
/// region is tried again each `min_age`).
fn region_bounds(ranges: &[Range], min_age: Duration) -> (u64, u64) {
    const PAGE: u64 = 4096;
    let pages: u64 = ranges.iter().map(|r| (r.end - r.start) / PAGE).sum();
    let samples_per_region = (min_age.as_micros() / u128::from(SAMPLE_US)).max(1);
    let min = (u128::from(pages) * SAMPLES_PER_PAGE).div_ceil(samples_per_region);
    let min = min.clamp(10, 2_000) as u64;
    (min, (2 * min).max(1000))
}

/// `min_age` in DAMON's aggregation intervals, at least one.
fn age_in_intervals(min_age: Duration) -> u64 {
    (min_age.as_micros() / u128::from(AGGR_US)).clamp(1, u128::from(u32::MAX)) as u64
}

/// Writes `value` to a sysfs file; the kernel's errno names what it refused. A busy kdamond lock
/// (EBUSY) is retried a few times, as DAMON's documentation asks.
fn write(path: &Path, value: &str) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::write(path, value) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("write \"{value}\" to {}: {e}", path.display()),
                ))
            }
            Ok(()) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_ram_takes_the_top_level_ranges_only() {
        let iomem = "00000000-00000fff : Reserved\n\
                     00001000-0009fbff : System RAM\n\
                     00100000-bffdffff : System RAM\n\
                     \x20 3a000000-3b000000 : Kernel code\n\
                     100000000-13fffffff : System RAM\n";
        assert_eq!(
            system_ram(iomem, 1 << 20),
            [
                Range {
                    start: 0x100000,
                    end: 0xbffe0000
                },
                Range {
                    start: 0x1_0000_0000,
                    end: 0x1_4000_0000
                },
            ]
        );
        // Without root the kernel shows zeros: no usable range.
        assert!(system_ram("00000000-00000000 : System RAM\n", 1 << 20).is_empty());
    }

    #[test]
    fn regions_are_small_enough_for_every_page_to_be_sampled() {
        let four_gib = [Range {
            start: 0,
            end: 4 << 30,
        }];
        // 1 Mi pages, 6,000 samples a region in 30 s: 3 × 2^20 / 6,000 regions at least.
        assert_eq!(
            region_bounds(&four_gib, Duration::from_secs(30)),
            (525, 1050)
        );
        assert_eq!(
            region_bounds(&four_gib, Duration::from_secs(3600)),
            (10, 1000)
        );
        assert_eq!(
            region_bounds(&four_gib, Duration::from_secs(1)),
            (2_000, 4_000)
        );
    }

    #[test]
    fn ages_count_aggregation_intervals() {
        assert_eq!(age_in_intervals(Duration::from_secs(30)), 300);
        assert_eq!(age_in_intervals(Duration::from_millis(10)), 1);
    }

    /// A fake sysfs tree of the files the setup writes.
    fn fake_admin() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("kdamonds");
        std::fs::create_dir_all(&k).unwrap();
        std::fs::write(k.join("nr_kdamonds"), "0\n").unwrap();
        dir
    }

    #[test]
    fn a_running_or_configured_damon_is_left_alone_and_named() {
        let admin = fake_admin();
        let missing = admin.path().join("no-such-module");
        assert_eq!(unavailable_at(admin.path(), &missing, &missing), None);

        let k = admin.path().join("kdamonds");
        std::fs::write(k.join("nr_kdamonds"), "1\n").unwrap();
        std::fs::create_dir_all(k.join("0")).unwrap();
        std::fs::write(k.join("0/state"), "on\n").unwrap();
        std::fs::write(k.join("0/pid"), "4242\n").unwrap();
        let why = unavailable_at(admin.path(), &missing, &missing).unwrap();
        assert!(
            why.contains("already running (kdamond 0 (pid 4242))"),
            "{why}"
        );

        std::fs::write(k.join("0/state"), "off\n").unwrap();
        let why = unavailable_at(admin.path(), &missing, &missing).unwrap();
        assert!(why.contains("configured by someone else"), "{why}");

        let enabled = admin.path().join("enabled");
        let pid = admin.path().join("pid");
        std::fs::write(&enabled, "Y\n").unwrap();
        std::fs::write(&pid, "77\n").unwrap();
        let why = unavailable_at(admin.path(), &enabled, &pid).unwrap();
        assert!(
            why.contains("DAMON_RECLAIM module is running (kdamond pid 77)"),
            "{why}"
        );

        // The kdamond an interrupted give-back left: recognised by its PID, and only it.
        let marker = admin.path().join("marker");
        std::fs::write(k.join("0/state"), "on\n").unwrap();
        assert!(!left_by_give_back(admin.path(), &marker));
        std::fs::write(&marker, "4242\n").unwrap();
        assert!(left_by_give_back(admin.path(), &marker));
        std::fs::write(k.join("0/pid"), "4343\n").unwrap();
        assert!(!left_by_give_back(admin.path(), &marker));

        // Root's files, read by another user: hidden, not absent.
        assert_eq!(hidden_at(admin.path()), None);
        if !rustix::process::geteuid().is_root() {
            use std::os::unix::fs::PermissionsExt;
            let nr = k.join("nr_kdamonds");
            std::fs::set_permissions(&nr, std::fs::Permissions::from_mode(0o000)).unwrap();
            let why = hidden_at(admin.path()).unwrap();
            assert!(why.contains("only root may read"), "{why}");
        }

        let none = tempfile::tempdir().unwrap();
        let why = unavailable_at(none.path(), &missing, &missing).unwrap();
        assert!(why.contains("no DAMON sysfs interface"), "{why}");
    }
}
