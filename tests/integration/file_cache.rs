//! `memdefrag files` and `memdefrag evict` against the real page cache, checked with util-linux
//! `fincore` as an independent oracle.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pagecache::{disk_tempdir, write_file};
use crate::util::{assert_exit, bin, kernel_state_lock, memdefrag, memdefrag_json, require_root};

const MIB: usize = 1 << 20;

/// `fincore --bytes` of `paths`: each file's resident bytes.
fn fincore(paths: &[&Path]) -> HashMap<PathBuf, u64> {
    let mut args = vec!["--bytes", "--raw", "--noheadings", "--output", "RES,FILE"];
    args.extend(paths.iter().map(|p| p.to_str().expect("a UTF-8 path")));
    crate::util::run_ok("fincore", &args)
        .lines()
        .map(|line| {
            let (res, file) = line.split_once(' ').expect("RES FILE");
            (PathBuf::from(file), res.parse().expect("bytes"))
        })
        .collect()
}

/// Whether this kernel has cachestat(2) (6.5), so that memdefrag can tell dirty and writeback
/// pages apart; before it, memdefrag counts with mincore(2), which cannot.
fn kernel_has_cachestat() -> bool {
    crate::pagecache::cachestat(&File::open("/proc/self/exe").unwrap()).is_some()
}

fn drop_cache(file: &File) {
    // SAFETY: an open descriptor; advice only.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

/// `memdefrag files --json` of `paths`: each file's (cached, dirty + writeback) bytes.
fn files_json(paths: &[&Path]) -> (serde_json::Value, HashMap<PathBuf, (u64, u64)>) {
    let args: Vec<&str> = ["files", "--json"]
        .into_iter()
        .chain(paths.iter().map(|p| p.to_str().unwrap()))
        .collect();
    let (out, report) = memdefrag_json(&args);
    assert_exit(&out, 0);
    let files = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                PathBuf::from(f["path"].as_str().unwrap()),
                (
                    f["cached_bytes"].as_u64().unwrap(),
                    f["dirty_bytes"].as_u64().unwrap() + f["writeback_bytes"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    (report, files)
}

#[test]
fn files_agree_with_fincore_on_every_kind_of_file() {
    let _lock = kernel_state_lock();
    let dir = disk_tempdir();
    let full = dir.path().join("full");
    std::fs::read(
        write_file(&full, 8 * MIB, true)
            .metadata()
            .map(|_| &full)
            .unwrap(),
    )
    .unwrap();
    let half = dir.path().join("half");
    drop_cache(&write_file(&half, 8 * MIB, true));
    let mut buf = vec![0u8; 4 * MIB];
    let reader = File::open(&half).unwrap();
    // No read-ahead: exactly the first half is read into the cache.
    // SAFETY: an open descriptor; advice only.
    unsafe { libc::posix_fadvise(reader.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
    (&reader).read_exact(&mut buf).unwrap();
    // Larger than 4 GiB, sparse: 64 KiB read at 4.5 GiB.
    let sparse = dir.path().join("sparse");
    let file = File::create(&sparse).unwrap();
    file.set_len(5 << 30).unwrap();
    let mut reader = File::open(&sparse).unwrap();
    // SAFETY: an open descriptor; advice only.
    unsafe { libc::posix_fadvise(reader.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
    reader.seek(SeekFrom::Start(9 << 29)).unwrap();
    reader.read_exact(&mut buf[..64 << 10]).unwrap();
    let empty = dir.path().join("empty");
    File::create(&empty).unwrap();
    // Being written: dirty pages, not yet on disk.
    let writing = dir.path().join("writing");
    let mut w = write_file(&writing, 4 * MIB, false);
    w.write_all(&[7u8; 4096]).unwrap();

    let paths = [
        full.as_path(),
        half.as_path(),
        sparse.as_path(),
        empty.as_path(),
        writing.as_path(),
    ];
    let (report, ours) = files_json(&paths);
    let theirs = fincore(&paths);
    for path in paths {
        assert_eq!(
            ours[path].0,
            theirs[path],
            "{}: memdefrag {} vs fincore {}",
            path.display(),
            ours[path].0,
            theirs[path]
        );
    }
    assert_eq!(ours[&full].0, 8 * MIB as u64);
    assert_eq!(ours[&half].0, 4 * MIB as u64);
    assert_eq!(ours[&sparse].0, 64 << 10);
    assert_eq!(ours[&empty].0, 0);
    if kernel_has_cachestat() {
        assert_eq!(report["source"], "cachestat");
        assert!(
            ours[&writing].1 > 0,
            "the file being written has dirty pages"
        );
    } else {
        // mincore: resident pages only, none known to be dirty.
        assert_eq!(report["source"], "mincore");
        assert_eq!(ours[&writing].1, 0);
    }
    assert_eq!(report["total"]["files"], 5);
    assert_eq!(
        report["files"][0]["path"],
        full.to_str().unwrap(),
        "most cached first"
    );
    drop(w);
}

#[test]
#[ignore = "needs root (to run memdefrag as nobody); scripts/test runs it"]
fn root_evict_as_nobody_empties_that_file_and_no_other() {
    require_root();
    let _lock = kernel_state_lock();
    let dir = disk_tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let target = dir.path().join("target");
    let other = dir.path().join("other");
    for path in [&target, &other] {
        write_file(path, 8 * MIB, true);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::read(path).unwrap();
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin())
        .args(["evict", "--json", target.to_str().unwrap()])
        .output()
        .expect("run setpriv");
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The file is root's: since Linux 6.14 the kernel tells nobody its cache (cachestat answers
    // EPERM), and memdefrag says so; it evicts all the same. Before, it measures it.
    let entry = &report["files"][0];
    if entry["unmeasured"].is_string() {
        assert!(entry["cached_before_bytes"].is_null(), "{entry}");
    } else {
        assert_eq!(entry["cached_before_bytes"], 8 * MIB, "{entry}");
        assert_eq!(entry["cached_after_bytes"], 0, "{entry}");
    }
    let cached = fincore(&[&target, &other]);
    assert_eq!(cached[&target], 0, "evicted, by fincore");
    assert_eq!(cached[&other], 8 * MIB as u64, "another file stays cached");
}

#[test]
fn dirty_pages_stay_without_flush_and_go_with_it() {
    let _lock = kernel_state_lock();
    let dir = disk_tempdir();
    let path = dir.path().join("dirty");
    let file = write_file(&path, 8 * MIB, false);
    let (out, report) = memdefrag_json(&["evict", "--json", path.to_str().unwrap()]);
    assert_exit(&out, 0);
    let entry = &report["files"][0];
    let after = entry["cached_after_bytes"].as_u64().unwrap();
    assert!(after > 0, "dirty pages are kept: {entry}");
    let stayed = &entry["stayed"];
    if kernel_has_cachestat() {
        assert_eq!(
            stayed["dirty_bytes"].as_u64().unwrap() + stayed["writeback_bytes"].as_u64().unwrap(),
            after,
            "{entry}"
        );
    } else {
        // Without cachestat, why they stayed cannot be told.
        assert_eq!(stayed["unknown_bytes"].as_u64().unwrap(), after, "{entry}");
    }
    let (out, report) = memdefrag_json(&["evict", "--flush", "--json", path.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert_eq!(report["files"][0]["cached_after_bytes"], 0, "{report}");
    assert_eq!(fincore(&[&path])[&path], 0);
    drop(file);
}

#[test]
fn mapped_pages_stay_and_the_report_says_so() {
    let _lock = kernel_state_lock();
    let dir = disk_tempdir();
    let path = dir.path().join("mapped");
    write_file(&path, 4 * MIB, true);
    let file = File::open(&path).unwrap();
    std::fs::read(&path).unwrap();
    // Another process than memdefrag (this one) maps the file and touches every page.
    let addr = crate::files::map_read_only(&file, 4 * MIB);
    let page = crate::files::page_size();
    let mut sum = 0u8;
    for off in (0..4 * MIB).step_by(page) {
        // SAFETY: `addr` maps 4 MiB of the file; `off` stays inside.
        sum = sum.wrapping_add(unsafe { std::ptr::read_volatile(addr.cast::<u8>().add(off)) });
    }
    let (out, report) = memdefrag_json(&["evict", "--json", path.to_str().unwrap()]);
    // SAFETY: unmaps the mapping made above.
    unsafe { libc::munmap(addr, 4 * MIB) };
    assert_exit(&out, 0);
    let entry = &report["files"][0];
    assert_eq!(entry["cached_after_bytes"], 4 * MIB, "{entry} ({sum})");
    let why = if kernel_has_cachestat() {
        "mapped_or_locked_bytes"
    } else {
        "unknown_bytes"
    };
    assert_eq!(entry["stayed"][why], 4 * MIB, "{entry}");
    let text =
        String::from_utf8_lossy(&memdefrag(&["evict", "--dry-run", path.to_str().unwrap()]).stdout)
            .into_owned();
    assert!(text.contains("dry run: nothing was dropped"), "{text}");
}

#[test]
fn recursion_ends_in_a_link_loop_and_walks_ten_thousand_files() {
    // Ten thousand new files make the filesystem write back: not while another test counts
    // dirty pages.
    let _lock = kernel_state_lock();
    let dir = disk_tempdir();
    for d in 0..10 {
        let sub = dir.path().join(format!("d{d}"));
        std::fs::create_dir(&sub).unwrap();
        for f in 0..1000 {
            std::fs::write(sub.join(format!("f{f}")), b"small").unwrap();
        }
    }
    std::os::unix::fs::symlink(dir.path(), dir.path().join("d0/loop")).unwrap();
    let root = dir.path().to_str().unwrap();
    let (out, report) = memdefrag_json(&["files", "--recursive", "--top", "3", "--json", root]);
    assert_exit(&out, 0);
    assert_eq!(report["total"]["files"], 10_000);
    assert_eq!(report["total"]["size_bytes"], 50_000);
    assert_eq!(report["files"].as_array().unwrap().len(), 3);
    let out = memdefrag(&["files", root]);
    assert_exit(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("add --recursive"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn files_that_vanish_mid_walk_are_errors_not_crashes() {
    let dir = disk_tempdir();
    let root = dir.path().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let path = root.join(format!("churn{}", n % 200));
                let _ = std::fs::write(&path, b"x");
                let _ = std::fs::remove_file(root.join(format!("churn{}", (n + 100) % 200)));
                n += 1;
            }
        })
    };
    for _ in 0..20 {
        let (out, report) = memdefrag_json(&["files", "-r", "--json", root.to_str().unwrap()]);
        let code = out.status.code().expect("exited, not killed by a signal");
        assert!(code == 0 || code == 1, "exit {code}");
        for e in report["errors"].as_array().unwrap() {
            let message = e["message"].as_str().unwrap();
            assert!(message.contains("No such file"), "{e}");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
}

#[test]
fn bad_requests_exit_2() {
    assert_exit(&memdefrag(&["files"]), 2);
    assert_exit(&memdefrag(&["evict"]), 2);
    assert_exit(&memdefrag(&["files", "--top", "many", "/"]), 2);
}
