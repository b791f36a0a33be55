//! The Linux backend against the real kernel. `root_` tests need root (see `main.rs`).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

use crate::pagecache::*;
use crate::util::*;

const MIB: usize = 1 << 20;

#[test]
fn status_json_matches_the_kernels_figures() {
    let (out, s) = memdefrag_json(&["status", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(s["platform"], "linux");
    // MemTotal moves by a few pages on a virtual machine (balloon, the kernel's own use).
    assert!(
        s["total_bytes"]
            .as_u64()
            .unwrap()
            .abs_diff(meminfo("MemTotal"))
            <= 16 * MIB as u64
    );
    let f = &s["fragmentation"];
    let index = f["unusable_index_order9"].as_f64().expect("index");
    assert!((0.0..=1.0).contains(&index), "{index}");
    let zones = f["zones"].as_array().expect("zones");
    let buddy = std::fs::read_to_string("/proc/buddyinfo").unwrap();
    assert_eq!(zones.len(), buddy.lines().count());
    for z in zones {
        assert!(z["zone"].is_string() && z["node"].is_u64(), "{z}");
        assert!(!z["free_blocks"].as_array().unwrap().is_empty(), "{z}");
    }
}

#[test]
fn status_shows_reportable_free_memory_exactly_where_the_guest_reports_free_pages() {
    let order =
        std::fs::read_to_string("/sys/module/page_reporting/parameters/page_reporting_order")
            .ok()
            .map(|s| s.trim().parse::<u64>().unwrap());
    let (_, status) = memdefrag_json(&["status", "--json"]);
    let metrics = String::from_utf8(memdefrag(&["metrics"]).stdout).unwrap();
    match order {
        Some(order) => {
            assert_eq!(status["reportable_free_order"].as_u64(), Some(order));
            let bytes = status["reportable_free_bytes"].as_u64().unwrap();
            assert!(bytes <= status["free_bytes"].as_u64().unwrap());
            assert!(
                metrics.contains("\nmemdefrag_reportable_free_bytes "),
                "{metrics}"
            );
            let human = String::from_utf8(memdefrag(&["status"]).stdout).unwrap();
            assert!(
                human.contains(&format!("blocks of order {order} or more")),
                "{human}"
            );
        }
        None => {
            assert!(status.get("reportable_free_bytes").is_none(), "{status}");
            assert!(
                !metrics.contains("memdefrag_reportable_free_bytes"),
                "{metrics}"
            );
        }
    }
}

#[test]
fn status_table_is_human_sized() {
    let out = memdefrag(&["status"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "total",
        "available",
        "free",
        "cache",
        "modified",
        "GiB",
        "order 9",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[test]
fn ops_json_maps_each_op_to_its_linux_call() {
    let find = ops_row;
    assert_eq!(
        find("standby")["kernel_call"],
        "write \"1\" to /proc/sys/vm/drop_caches"
    );
    assert_eq!(
        find("system-working-set")["kernel_call"],
        "write \"2\" to /proc/sys/vm/drop_caches"
    );
    assert_eq!(
        find("modified")["kernel_call"],
        "syncfs() on each mounted filesystem, within the flush timeout"
    );
    assert_eq!(find("modified")["privilege"], "none");
    assert_eq!(
        find("compact")["kernel_call"],
        "write \"1\" to /proc/sys/vm/compact_memory"
    );
    assert!(find("working-sets")["kernel_call"]
        .as_str()
        .unwrap()
        .contains("MADV_PAGEOUT"));
    for unsupported in ["flush-volumes", "registry", "combine"] {
        assert_eq!(find(unsupported)["supported"], false);
    }
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_purge_standby_evicts_a_cached_file() {
    require_root();
    let _lock = kernel_state_lock();
    let file = CachedFile::new(64 * MIB);
    assert!(file.residency() > 0.9, "not cached: {}", file.residency());

    let (out, report) = memdefrag_json(&["purge", "standby", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(op_names(&report), ["standby"]);
    assert_all_ok(&report);
    let free = |side: &str| report[side]["free_bytes"].as_i64().unwrap();
    assert_eq!(
        report["freed_bytes"].as_i64().unwrap(),
        free("after") - free("before")
    );
    assert!(
        file.residency() < 0.05,
        "still cached: {}",
        file.residency()
    );
    let cache_before = report["before"]["cache_bytes"].as_u64().unwrap();
    let cache_after = report["after"]["cache_bytes"].as_u64().unwrap();
    assert!(
        cache_after + 48 * MIB as u64 <= cache_before,
        "{cache_before} -> {cache_after}"
    );
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_purge_modified_writes_dirty_data_back() {
    require_root();
    let _lock = kernel_state_lock();
    let dir = disk_tempdir();
    let path = dir.path().join("dirty.bin");
    let file = write_file(&path, 64 * MIB, false);
    let pages = (64 * MIB / page_size()) as u64;

    match cachestat(&file) {
        Some(cs) => {
            assert!(
                cs.nr_dirty + cs.nr_writeback > pages / 2,
                "not dirty: {cs:?}"
            );
            let (out, report) = memdefrag_json(&["purge", "modified", "--json"]);
            assert_exit(&out, 0);
            assert_all_ok(&report);
            let cs = cachestat(&file).unwrap();
            assert_eq!((cs.nr_dirty, cs.nr_writeback), (0, 0), "{cs:?}");
            assert!(cs.nr_cache > pages / 2, "written back, not evicted: {cs:?}");
        }
        // Before Linux 6.5: the system-wide counter, which our write dominates.
        None => {
            let unwritten = meminfo("Dirty") + meminfo("Writeback");
            assert!(unwritten >= 32 * MIB as u64, "{unwritten}");
            let (out, _) = memdefrag_json(&["purge", "modified", "--json"]);
            assert_exit(&out, 0);
            assert!(meminfo("Dirty") < 16 * MIB as u64);
        }
    }
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_purge_system_working_set_drops_reclaimable_slab() {
    require_root();
    let _lock = kernel_state_lock();
    // Fill the dentry cache with negative entries: lookups of names that do not exist.
    let dir = disk_tempdir();
    for i in 0..20_000 {
        let _ = std::fs::metadata(dir.path().join(format!("absent-{i}")));
    }
    let dentries = || -> u64 {
        let s = std::fs::read_to_string("/proc/sys/fs/dentry-state").unwrap();
        s.split_whitespace().next().unwrap().parse().unwrap()
    };
    let before_dentries = dentries();
    let drops_before = vmstat("drop_slab");

    let (out, report) = memdefrag_json(&["purge", "system-working-set", "--json"]);
    assert_exit(&out, 0);
    assert_all_ok(&report);
    assert!(vmstat("drop_slab") > drops_before, "drop_slab did not move");
    let after_dentries = dentries();
    assert!(
        after_dentries + 15_000 <= before_dentries,
        "dentries {before_dentries} -> {after_dentries}"
    );
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_purge_compact_runs_compaction() {
    require_root();
    let _lock = kernel_state_lock();
    let scanned = || vmstat("compact_migrate_scanned") + vmstat("compact_free_scanned");
    let before = scanned();

    let (out, report) = memdefrag_json(&["purge", "compact", "--json"]);
    assert_exit(&out, 0);
    assert_all_ok(&report);
    assert!(scanned() > before, "compaction scanned nothing");
    let counts = &report["operations"][0]["counts"];
    assert!(counts["migrate_scanned"].as_u64().unwrap() > 0, "{counts}");
    for side in ["before", "after"] {
        let index = report[side]["fragmentation"]["unusable_index_order9"]
            .as_f64()
            .unwrap();
        assert!((0.0..=1.0).contains(&index));
    }
}

/// A child process that maps a file and touches every page, then waits to be released.
/// It only makes raw system calls after fork, which is safe in a multi-threaded parent.
pub(crate) struct MappingChild {
    pid: libc::pid_t,
    release: libc::c_int,
    inode: u64,
}

impl MappingChild {
    fn spawn(file: &File, len: usize) -> MappingChild {
        let mut ready = [0; 2];
        let mut release = [0; 2];
        // SAFETY: plain pipe creation into live arrays. Close-on-exec keeps them out of the
        // memdefrag processes other tests spawn meanwhile.
        unsafe {
            assert_eq!(libc::pipe2(ready.as_mut_ptr(), libc::O_CLOEXEC), 0);
            assert_eq!(libc::pipe2(release.as_mut_ptr(), libc::O_CLOEXEC), 0);
        }
        let fd = file.as_raw_fd();
        let page = page_size();
        // SAFETY: the child runs only async-signal-safe system calls and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: in the child: map the file, keep only the two pipe ends it needs (other
            // tests' pipes would otherwise stay open here), read each page, say so, wait, exit.
            unsafe {
                let addr = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    fd,
                    0,
                );
                if addr == libc::MAP_FAILED {
                    libc::_exit(1);
                }
                let (lo, hi) = (
                    ready[1].min(release[0]) as u32,
                    ready[1].max(release[0]) as u32,
                );
                libc::syscall(libc::SYS_close_range, 3u32, lo - 1, 0u32);
                libc::syscall(libc::SYS_close_range, lo + 1, hi - 1, 0u32);
                libc::syscall(libc::SYS_close_range, hi + 1, u32::MAX, 0u32);
                let base = addr as *const u8;
                let mut sum = 0u8;
                let mut off = 0;
                while off < len {
                    sum = sum.wrapping_add(std::ptr::read_volatile(base.add(off)));
                    off += page;
                }
                let byte = [sum | 1];
                libc::write(ready[1], byte.as_ptr().cast(), 1);
                let mut buf = [0u8; 1];
                libc::read(release[0], buf.as_mut_ptr().cast(), 1);
                libc::_exit(0);
            }
        }
        // SAFETY: closing the ends the parent does not use.
        unsafe {
            libc::close(ready[1]);
            libc::close(release[0]);
        }
        // From here on, dropping `child` releases and reaps the process, even if we panic.
        let child = MappingChild {
            pid,
            release: release[1],
            inode: std::os::unix::fs::MetadataExt::ino(&file.metadata().unwrap()),
        };
        assert!(child_ready(ready[0]), "the child could not map the file");
        child
    }

    /// The resident bytes of the child's mapping of the file, from /proc/PID/smaps, which walks
    /// the page tables. (RssFile in /proc/PID/status lagged behind by up to 64 page faults a
    /// thread before Linux 6.2, which kept those counters per thread.)
    fn rss_file(&self) -> u64 {
        let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", self.pid)).unwrap();
        let mut ours = false;
        let mut bytes = None;
        for line in smaps.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // A mapping's header: address range, perms, offset, device, inode, path.
            if fields.len() >= 5 && fields[0].contains('-') && !fields[0].ends_with(':') {
                ours = fields[4].parse::<u64>().ok() == Some(self.inode);
            } else if ours && fields.first() == Some(&"Rss:") {
                let kib: u64 = fields[1].parse().unwrap();
                *bytes.get_or_insert(0) += kib * 1024;
            }
        }
        bytes.expect("the child maps the file")
    }
}

impl Drop for MappingChild {
    fn drop(&mut self) {
        // SAFETY: closing our end of the pipe releases the child; then reap it.
        unsafe {
            libc::close(self.release);
            let mut status = 0;
            libc::waitpid(self.pid, &raw mut status, 0);
        }
    }
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_purge_working_sets_drops_a_helper_processs_file_pages() {
    require_root();
    let _lock = kernel_state_lock();
    let len = 64 * MIB;
    let file = CachedFile::new(len);
    let child = MappingChild::spawn(&File::open(&file.path).unwrap(), len);
    let before = child.rss_file();
    assert!(before >= len as u64, "RssFile {before}");

    let (out, report) = memdefrag_json(&["purge", "working-sets", "--json"]);
    assert_exit(&out, 0);
    assert_all_ok(&report);
    let counts = &report["operations"][0]["counts"];
    assert!(counts["processes"].as_u64().unwrap() >= 1, "{counts}");
    for key in ["exited", "refused", "ranges_rejected", "advised_bytes"] {
        assert!(counts[key].is_u64(), "{key}: {counts}");
    }
    let after = child.rss_file();
    assert!(
        after + (len as u64) * 3 / 4 <= before,
        "RssFile {before} -> {after}"
    );
    drop(child);
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_working_sets_spares_excluded_processes_and_trims_only_chosen_ones() {
    require_root();
    let _lock = kernel_state_lock();
    let len = 32 * MIB;
    // A file each: the kernel does not page out pages that several processes map.
    let (kept_file, trimmed_file) = (CachedFile::new(len), CachedFile::new(len));
    let kept = MappingChild::spawn(&File::open(&kept_file.path).unwrap(), len);
    let trimmed = MappingChild::spawn(&File::open(&trimmed_file.path).unwrap(), len);
    let (kept_before, trimmed_before) = (kept.rss_file(), trimmed.rss_file());
    assert!(kept_before >= len as u64 && trimmed_before >= len as u64);

    // --exclude the one: its file pages stay while the other's fall.
    let exclude = format!("{},no-such-process", kept.pid);
    let (out, report) = memdefrag_json(&["purge", "working-sets", "--exclude", &exclude, "--json"]);
    assert_exit(&out, 0);
    let op = &report["operations"][0];
    assert!(op["counts"]["excluded"].as_u64().unwrap() >= 1, "{op}");
    assert_eq!(
        op["notes"],
        serde_json::json!(["no process matched 'no-such-process'"])
    );
    assert!(
        kept.rss_file() >= kept_before * 9 / 10,
        "excluded, yet trimmed"
    );
    assert!(
        trimmed.rss_file() + (len as u64) * 3 / 4 <= trimmed_before,
        "not trimmed"
    );
    let listed = op["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == trimmed.pid)
        .expect("the trimmed helper is listed");
    assert!(
        listed["resident_after_bytes"].as_u64().unwrap()
            < listed["resident_before_bytes"].as_u64().unwrap(),
        "{listed}"
    );
    assert!(!op["processes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["pid"] == kept.pid));

    // --only the other way round: only the one named is trimmed.
    drop(trimmed);
    std::fs::read(&trimmed_file.path).unwrap();
    let trimmed = MappingChild::spawn(&File::open(&trimmed_file.path).unwrap(), len);
    let before = trimmed.rss_file();
    let only = kept.pid.to_string();
    let (out, report) = memdefrag_json(&["purge", "working-sets", "--only", &only, "--json"]);
    assert_exit(&out, 0);
    let op = &report["operations"][0];
    assert_eq!(op["counts"]["processes"], 1, "{op}");
    assert_eq!(op["processes"][0]["pid"], kept.pid);
    assert!(
        trimmed.rss_file() >= before * 9 / 10,
        "not chosen, yet trimmed"
    );
    assert!(
        kept.rss_file() + (len as u64) * 3 / 4 <= kept_before,
        "chosen, not trimmed"
    );
}

#[test]
fn a_process_filter_without_working_sets_is_a_usage_error() {
    let out = memdefrag(&["purge", "standby", "--exclude", "firefox"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("--only and --exclude"),
        "{}",
        stderr(&out)
    );
    assert_exit(
        &memdefrag(&["watch", "--every", "1s", "--only", "1", "--ops", "standby"]),
        2,
    );
    assert_exit(&memdefrag(&["purge", "working-sets", "--only", ""]), 2);
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_defrag_runs_the_linux_plan_in_order() {
    require_root();
    let _lock = kernel_state_lock();
    let file = CachedFile::new(32 * MIB);

    let (out, report) = memdefrag_json(&["defrag", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(
        op_names(&report),
        ["modified", "standby", "system-working-set", "compact"]
    );
    assert_all_ok(&report);
    assert!(
        file.residency() < 0.05,
        "still cached: {}",
        file.residency()
    );

    let out = memdefrag(&["defrag"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("drop_caches") && text.contains("freed"),
        "{text}"
    );
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_dry_run_changes_nothing() {
    require_root();
    let _lock = kernel_state_lock();
    let file = CachedFile::new(32 * MIB);
    let drops = vmstat("drop_pagecache");

    let (out, dry) = memdefrag_json(&["defrag", "--dry-run", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        op_names(&dry),
        ["modified", "standby", "system-working-set", "compact"]
    );
    let standby = &dry["operations"][1];
    assert_eq!(
        standby["kernel_call"],
        "write \"1\" to /proc/sys/vm/drop_caches"
    );
    assert!(
        standby["estimated_bytes"].as_u64().unwrap() >= 16 * MIB as u64,
        "{standby}"
    );
    let out = memdefrag(&["purge", "standby", "working-sets", "--dry-run"]);
    assert_exit(&out, 0);

    assert!(file.residency() > 0.9, "evicted: {}", file.residency());
    assert_eq!(vmstat("drop_pagecache"), drops);
}

/// memdefrag copied where the unprivileged user can execute it.
pub(crate) fn unprivileged_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("memdefrag-nobody-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("memdefrag");
    std::fs::copy(bin(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, exe)
}

pub(crate) fn as_nobody(exe: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(exe)
        .args(args)
        .output()
        .expect("run setpriv")
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_unprivileged_purge_exits_77_and_changes_nothing() {
    require_root();
    let _lock = kernel_state_lock();
    let file = CachedFile::new(32 * MIB);
    let (_dir, exe) = unprivileged_copy();
    let drops = vmstat("drop_pagecache");

    let out = as_nobody(&exe, &["purge", "standby"]);
    assert_exit(&out, 77);
    let err = stderr(&out);
    assert!(
        err.contains("/proc/sys/vm/drop_caches") && err.contains("root"),
        "{err}"
    );

    let out = as_nobody(&exe, &["purge", "modified", "standby"]);
    assert_exit(&out, 77);

    let out = as_nobody(&exe, &["purge", "working-sets"]);
    assert_exit(&out, 77);
    let err = stderr(&out);
    assert!(
        err.contains("CAP_SYS_NICE") && err.contains("root"),
        "{err}"
    );

    let out = as_nobody(&exe, &["defrag", "--json"]);
    assert_exit(&out, 77);

    assert!(file.residency() > 0.9, "evicted: {}", file.residency());
    assert_eq!(vmstat("drop_pagecache"), drops);

    let out = as_nobody(&exe, &["defrag", "--dry-run", "--json"]);
    assert_exit(&out, 0);
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dry["operations"][1]["privileged"], false);
    assert!(file.residency() > 0.9, "evicted: {}", file.residency());
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_a_knob_the_user_cannot_look_up_is_a_privilege_error_not_a_missing_feature() {
    use std::os::unix::process::CommandExt;

    require_root();
    let (_dir, exe) = unprivileged_copy();
    let mut command = Command::new(&exe);
    command.args(["purge", "standby"]);
    // In a mount namespace of its own, /proc/sys/vm becomes a directory only root may search;
    // then memdefrag runs as nobody, for whom looking drop_caches up fails with EACCES (as it
    // does when / is mode 0700).
    // SAFETY: the closure runs in the child between fork and exec and makes only raw system
    // calls on string literals, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    c"none".as_ptr(),
                    c"/proc/sys/vm".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    c"mode=0700".as_ptr().cast(),
                ) == 0
                && libc::setgroups(0, std::ptr::null()) == 0
                && libc::setresgid(65534, 65534, 65534) == 0
                && libc::setresuid(65534, 65534, 65534) == 0;
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = command
        .output()
        .expect("run memdefrag in a namespace as nobody");
    assert_exit(&out, 77);
    let err = stderr(&out);
    assert!(
        err.contains("/proc/sys/vm/drop_caches") && !err.contains("does not exist"),
        "{err}"
    );
}

/// Every row of `memdefrag ops`, on this kernel: an operation it supports runs and reports ok
/// (each has a test of its own that checks its effect); one it does not is refused with exit 3
/// and one line naming it and why, and nothing runs.
#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_every_operation_runs_where_supported_and_exits_3_with_one_line_where_not() {
    require_root();
    let _lock = kernel_state_lock();
    let (_, ops) = memdefrag_json(&["ops", "--json"]);
    let me = std::process::id().to_string();
    for row in ops.as_array().unwrap() {
        let op = row["op"].as_str().unwrap();
        // working-sets acts on this test process alone: the others have tests of their own.
        let mut args = vec!["purge", op, "--json"];
        if op == "working-sets" {
            args.extend(["--only", &me]);
        }
        if row["supported"] == true {
            let (out, report) = memdefrag_json(&args);
            assert_exit(&out, 0);
            assert_eq!(op_names(&report), [op]);
            assert_all_ok(&report);
        } else {
            let drops = vmstat("drop_pagecache");
            let out = memdefrag(&["purge", "standby", op]);
            assert_exit(&out, 3);
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{err}");
            let reason = row["reason"].as_str().unwrap();
            assert!(
                err.contains(&format!("'{op}'")) && err.contains(reason),
                "{err}"
            );
            assert!(out.stdout.is_empty());
            assert_eq!(vmstat("drop_pagecache"), drops, "{op}: standby ran");
        }
    }
}

/// `standby-low` through the root cgroup's memory.reclaim: cold file pages go, and nothing is
/// swapped out (swappiness=0), where the kernel has it (cgroup v2 with the memory controller,
/// Linux 6.11+); elsewhere a one-line refusal, exit 3.
#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_purge_standby_low_reclaims_cold_file_pages_and_swaps_nothing() {
    require_root();
    let _lock = kernel_state_lock();
    let row = ops_row("standby-low");
    if row["supported"] == false {
        let out = memdefrag(&["purge", "standby-low"]);
        assert_exit(&out, 3);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(row["reason"].as_str().unwrap()), "{err}");
        return;
    }
    assert!(row["kernel_call"]
        .as_str()
        .unwrap()
        .ends_with("/memory.reclaim"));
    // Read once, never again: the coldest file pages there are.
    let file = CachedFile::new(64 * MIB);
    assert!(file.residency() > 0.9, "not cached: {}", file.residency());
    let swapped_out = vmstat("pswpout");
    let inactive = meminfo("Inactive(file)");

    let (out, report) = memdefrag_json(&["purge", "standby-low", "--json"]);
    assert_exit(&out, 0);
    assert_all_ok(&report);
    let op = &report["operations"][0];
    let requested = op["counts"]["requested_bytes"].as_u64().unwrap();
    // It asks for what the kernel calls inactive file pages, which moved a little meanwhile.
    assert!(
        requested.abs_diff(inactive) <= 16 * MIB as u64,
        "{op} vs {inactive}"
    );
    if inactive >= 64 * MIB as u64 {
        assert!(
            file.residency() < 0.5,
            "the cold file stayed: {}",
            file.residency()
        );
    } else {
        // MGLRU (6.1+, on by default in 6.12) counts its two youngest generations as active,
        // and a file read once lies in one of them until the kernel next ages its lists: then
        // nothing is inactive yet, and standby-low takes only what is, and says so.
        let lru_gen = std::fs::read_to_string("/sys/kernel/mm/lru_gen/enabled").unwrap_or_default();
        assert!(
            !lru_gen.trim().is_empty() && lru_gen.trim() != "0x0000",
            "only MGLRU leaves a file read once out of Inactive(file) ({inactive} bytes)"
        );
        if requested == 0 {
            assert_eq!(
                op["notes"],
                serde_json::json!(["no inactive file pages to reclaim"])
            );
        }
    }
    assert_eq!(vmstat("pswpout"), swapped_out, "standby-low swapped out");
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_rejected_requests_run_nothing() {
    require_root();
    let _lock = kernel_state_lock();
    let file = CachedFile::new(32 * MIB);
    let drops = vmstat("drop_pagecache");

    let out = memdefrag(&["purge", "standby", "bogus"]);
    assert_exit(&out, 2);
    let out = memdefrag(&["purge", "standby", "registry"]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("'registry'"));
    for op in ["flush-volumes", "combine"] {
        assert_exit(&memdefrag(&["purge", "standby", op]), 3);
    }
    let low = ops_row("standby-low");
    if low["supported"] == false {
        let out = memdefrag(&["purge", "standby", "standby-low"]);
        assert_exit(&out, 3);
        let reason = low["reason"].as_str().unwrap();
        assert!(stderr(&out).contains(reason), "{}", stderr(&out));
    }

    assert!(file.residency() > 0.9, "evicted: {}", file.residency());
    assert_eq!(vmstat("drop_pagecache"), drops);
}
