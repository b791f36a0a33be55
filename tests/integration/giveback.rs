//! `memdefrag give-back` against the real kernel: in a guest with free page reporting (the VM
//! lab's), it pages out a file read once and keeps a file read all along; elsewhere it refuses
//! in one line. `root_` tests need root (see `main.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::pagecache::CachedFile;
use crate::util::*;

const MIB: usize = 1 << 20;

/// A file read over and over by a thread of this process, until dropped.
struct HotFile {
    file: CachedFile,
    running: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl HotFile {
    fn new(len: usize, every: Duration) -> HotFile {
        let file = CachedFile::new(len);
        let running = Arc::new(AtomicBool::new(true));
        let (path, flag) = (file.path.clone(), running.clone());
        let reader = std::thread::spawn(move || {
            while flag.load(Ordering::Relaxed) {
                let _ = std::fs::read(&path);
                std::thread::sleep(every);
            }
        });
        HotFile {
            file,
            running,
            reader: Some(reader),
        }
    }
}

impl Drop for HotFile {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

fn reporting_order() -> Option<u64> {
    std::fs::read_to_string("/sys/module/page_reporting/parameters/page_reporting_order")
        .ok()
        .map(|s| s.trim().parse().unwrap())
}

#[test]
#[ignore = "needs root; scripts/test runs it (and scripts/lab, in guests)"]
fn root_give_back_pages_out_cold_memory_keeps_the_hot_and_compacts() {
    require_root();
    let _lock = kernel_state_lock();
    if reporting_order().is_none() {
        let out = memdefrag(&["give-back"]);
        assert_exit(&out, 3);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("free page reporting is not active here"),
            "{err}"
        );
        return;
    }
    // Only this test's files in the cache: whatever cold cache earlier tests left would keep
    // DAMON paging out for longer (all of it is cold), which is slow under emulation.
    assert_exit(&memdefrag(&["purge", "standby"]), 0);
    let cold = CachedFile::new(128 * MIB);
    let hot = HotFile::new(16 * MIB, Duration::from_millis(100));
    assert!(cold.residency() > 0.9 && hot.file.residency() > 0.9);

    let (out, report) = memdefrag_json(&["give-back", "--keep-hot", "3s", "--json"]);
    assert_exit(&out, 0);
    eprintln!(
        "give-back: method {}, steps {}, reportable {} -> {}, cold file {:.2}, hot file {:.2}",
        report["method"],
        report["steps"],
        report["reportable_before_bytes"],
        report["reportable_after_bytes"],
        cold.residency(),
        hot.file.residency()
    );
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["cold", "compact"], "{report}");
    for step in report["steps"].as_array().unwrap() {
        assert_eq!(step["status"], "ok", "{step}");
    }
    let gained = report["reportable_after_bytes"].as_i64().unwrap()
        - report["reportable_before_bytes"].as_i64().unwrap();
    let hot_after = hot.file.residency();
    match report["method"].as_str().unwrap() {
        "damon" => {
            let reclaimed = report["steps"][0]["counts"]["reclaimed_bytes"]
                .as_u64()
                .unwrap();
            assert!(reclaimed >= 64 * MIB as u64, "{report}");
            assert!(
                cold.residency() < 0.5,
                "the cold file stayed: {}",
                cold.residency()
            );
            assert!(hot_after > 0.9, "the hot file went: {hot_after}");
            assert!(
                gained >= 64 * MIB as i64,
                "reportable grew by {gained}: {report}"
            );
        }
        "reclaim_steps" => {
            assert!(
                report["steps"][0]["counts"]["steps"].as_u64().unwrap() >= 1,
                "{report}"
            );
        }
        "none" => {
            // Nothing tells cold from hot: nothing was reclaimed, both files stay.
            assert!(
                cold.residency() > 0.9,
                "evicted without a method: {}",
                cold.residency()
            );
            assert!(report["method_reason"]
                .as_str()
                .unwrap()
                .contains("only compaction"));
        }
        other => panic!("unknown method {other}"),
    }
    let stranded = &report["stranded"];
    let by_type: u64 = stranded["by_migrate_type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(stranded["bytes"].as_u64().unwrap(), by_type, "{stranded}");
    drop(hot);
}

#[test]
#[ignore = "needs root (to drop it); scripts/test runs it"]
fn root_give_back_without_root_exits_77_or_3_and_changes_nothing() {
    require_root();
    let (_dir, exe) = crate::linux::unprivileged_copy();
    let out = crate::linux::as_nobody(&exe, &["give-back"]);
    let err = stderr(&out);
    if reporting_order().is_some() {
        assert_exit(&out, 77);
        assert!(
            err.contains("giving memory back to the hypervisor needs"),
            "{err}"
        );
        // A dry run needs no privilege, and names the method a run as root would use: DAMON
        // where the kernel has it (whether someone else's runs shows only to root), else
        // what root's dry run names.
        let dry = crate::linux::as_nobody(&exe, &["give-back", "--dry-run", "--json"]);
        assert_exit(&dry, 0);
        let dry: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
        let (_, as_root) = memdefrag_json(&["give-back", "--dry-run", "--json"]);
        if std::path::Path::new("/sys/kernel/mm/damon/admin/kdamonds").is_dir() {
            assert_eq!(dry["method"], "damon", "{dry}");
            if as_root["method"] != "damon" {
                let reason = dry["method_reason"].as_str().unwrap();
                assert!(reason.contains("only root may read"), "{reason}");
            }
        } else {
            assert_eq!(dry["method"], as_root["method"], "{dry}\n{as_root}");
        }
    } else {
        assert_exit(&out, 3);
    }
}

#[test]
#[ignore = "needs root; scripts/test runs it (and scripts/lab, in guests)"]
fn root_a_give_back_killed_midway_is_cleaned_up_by_the_next() {
    require_root();
    let _lock = kernel_state_lock();
    if reporting_order().is_none() {
        return; // the refusal is the other test's
    }
    let (out, dry) = memdefrag_json(&["give-back", "--dry-run", "--json"]);
    assert_exit(&out, 0);
    assert_eq!(dry["dry_run"], true);
    if dry["method"] != "damon" {
        // Only a kdamond outlives a killed memdefrag; memory.reclaim steps end with it.
        return;
    }
    let kdamonds = std::path::Path::new("/sys/kernel/mm/damon/admin/kdamonds");
    let running_pid = || -> Option<String> {
        let state = std::fs::read_to_string(kdamonds.join("0/state")).ok()?;
        let pid = std::fs::read_to_string(kdamonds.join("0/pid")).ok()?;
        (state.trim() == "on").then(|| pid.trim().to_owned())
    };
    let start = || {
        std::process::Command::new(bin())
            .args(["give-back", "--keep-hot", "60s"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let wait_for_kdamond = |other_than: Option<&str>| -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(pid) = running_pid().filter(|p| Some(p.as_str()) != other_than) {
                return pid;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no new kdamond started"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    let mut first = start();
    let left = wait_for_kdamond(None);
    first.kill().unwrap(); // SIGKILL: no chance to turn DAMON off
    first.wait().unwrap();
    assert_eq!(
        running_pid().as_deref(),
        Some(left.as_str()),
        "the kdamond went with it"
    );

    // The next give-back knows that kdamond for its own and replaces it...
    let (_, dry) = memdefrag_json(&["give-back", "--dry-run", "--json"]);
    assert_eq!(dry["method"], "damon", "{dry}");
    let mut second = start();
    wait_for_kdamond(Some(&left));
    // ...and, stopped by a signal, leaves none behind.
    // SAFETY: signalling the child this test started.
    unsafe { libc::kill(second.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(second.wait().unwrap().code(), Some(143));
    let nr = std::fs::read_to_string(kdamonds.join("nr_kdamonds")).unwrap();
    assert_eq!(nr.trim(), "0");
    assert!(!std::path::Path::new("/run/memdefrag-give-back.kdamond").exists());
}
