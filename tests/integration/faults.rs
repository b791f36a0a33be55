//! Faults real machines have: a filesystem whose writeback hangs. `root_` tests need root (see
//! `main.rs`).
//!
//! The stuck disk is an ext4 image on a loop device whose backing file lives on a FUSE
//! filesystem (tests/support/stallfs.py) that holds every write while a stall file exists: a
//! flush of that ext4 then waits in the kernel, as it would on a dead NFS server or a device
//! that stopped answering.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{assert_exit, kernel_state_lock, memdefrag_json, require_root, run_ok, stderr};
use crate::watch::linux::Watch;

const MIB: usize = 1 << 20;

/// An ext4 filesystem whose writeback stalls on demand; everything undone on drop, the stall
/// released first so that nothing stays stuck.
struct StalledDisk {
    dir: tempfile::TempDir,
    fuse: Option<Child>,
    loop_device: Option<String>,
    ext4_mounted: bool,
}

fn is_mount_point(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
}

impl StalledDisk {
    fn new() -> StalledDisk {
        // On a disk (not tmpfs), so that the backing image is a real file.
        let dir = crate::pagecache::disk_tempdir();
        for sub in ["backing", "fuse", "ext4"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let mut disk = StalledDisk {
            dir,
            fuse: None,
            loop_device: None,
            ext4_mounted: false,
        };
        let image = disk.path("backing/disk.img");
        std::fs::File::create(&image)
            .unwrap()
            .set_len(64 * MIB as u64)
            .unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/stallfs.py");
        disk.fuse = Some(
            Command::new("/usr/bin/python3")
                .arg(script)
                .args([disk.path("backing"), disk.path("fuse"), disk.path("stall")])
                .stdout(Stdio::null())
                .spawn()
                .expect("start stallfs.py (python3-fusepy)"),
        );
        let fuse = disk.path("fuse");
        let start = Instant::now();
        while !is_mount_point(&fuse) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "stallfs did not mount"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let over_fuse = disk.path("fuse/disk.img");
        run_ok("mkfs.ext4", &["-q", "-F", over_fuse.to_str().unwrap()]);
        disk.loop_device = Some(
            run_ok(
                "losetup",
                &["--find", "--show", over_fuse.to_str().unwrap()],
            )
            .trim()
            .to_owned(),
        );
        let ext4 = disk.path("ext4");
        run_ok(
            "mount",
            &[disk.loop_device.as_deref().unwrap(), ext4.to_str().unwrap()],
        );
        disk.ext4_mounted = true;
        disk
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn stall(&self) {
        std::fs::write(self.path("stall"), b"").unwrap();
    }

    fn release(&self) {
        let _ = std::fs::remove_file(self.path("stall"));
    }

    /// Unmounts the ext4 and detaches its loop device (which writes everything back).
    fn unmount(&mut self) {
        self.release();
        if std::mem::take(&mut self.ext4_mounted) {
            run_ok("umount", &[self.path("ext4").to_str().unwrap()]);
        }
        if let Some(device) = self.loop_device.take() {
            run_ok("losetup", &["-d", &device]);
        }
    }

    /// The bytes of `name` as they are in the backing image, read through a loop device of
    /// their own (not through FUSE), read-only.
    fn read_from_backing_image(&mut self, name: &str) -> Vec<u8> {
        self.unmount();
        let image = self.path("backing/disk.img");
        let device = run_ok(
            "losetup",
            &["--find", "--show", "--read-only", image.to_str().unwrap()],
        )
        .trim()
        .to_owned();
        self.loop_device = Some(device.clone());
        let ext4 = self.path("ext4");
        run_ok("mount", &["-o", "ro", &device, ext4.to_str().unwrap()]);
        self.ext4_mounted = true;
        let data = std::fs::read(ext4.join(name)).unwrap();
        self.unmount();
        data
    }
}

impl Drop for StalledDisk {
    fn drop(&mut self) {
        self.release();
        if self.ext4_mounted {
            let ext4 = self.path("ext4");
            let unmounted = Command::new("umount")
                .arg(&ext4)
                .status()
                .is_ok_and(|s| s.success());
            if !unmounted {
                let _ = Command::new("umount").arg("-l").arg(&ext4).status();
            }
        }
        if let Some(device) = &self.loop_device {
            let _ = Command::new("losetup").args(["-d", device]).status();
        }
        if let Some(mut fuse) = self.fuse.take() {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.path("fuse"))
                .status();
            let _ = fuse.kill();
            let _ = fuse.wait();
        }
    }
}

/// Random bytes, so that what reads back cannot match by chance.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0; len];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    data
}

/// The PIDs of the children of `parent` (a watch's stuck flushes).
fn children_of(parent: u32) -> Vec<u32> {
    let path = format!("/proc/{parent}/task/{parent}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect()
}

/// A watch that flushes every second, giving each flush `flush_timeout`.
fn watch_flushing(flush_timeout: &str, more: &[&str]) -> Watch {
    let mut args = vec![
        "--every",
        "1s",
        "--ops",
        "modified",
        "--flush-timeout",
        flush_timeout,
        "--json",
    ];
    args.extend_from_slice(more);
    Watch::start(&args)
}

/// Starts `purge modified standby` with a long deadline, sends `signal` once the flush is under
/// way, and returns the exit code, how long the exit took after the signal, and the report.
fn purge_interrupted_by(signal: libc::c_int) -> (Option<i32>, Duration, serde_json::Value) {
    let mut child = Command::new(crate::util::bin())
        .args([
            "purge",
            "modified",
            "standby",
            "--flush-timeout",
            "60s",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child, which has not been reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let sent = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "the signal did not end it"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed();
    let out = child.wait_with_output().unwrap();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (status.code(), took, report)
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_a_stuck_filesystem_fails_the_flush_at_its_deadline_and_loses_no_data() {
    require_root();
    let _lock = kernel_state_lock();
    let mut disk = StalledDisk::new();
    let data = random_bytes(8 * MIB);
    // Written, not synced: dirty pages of the stuck ext4.
    std::fs::write(disk.path("ext4/data.bin"), &data).unwrap();
    disk.stall();

    let start = Instant::now();
    let (out, report) = memdefrag_json(&[
        "purge",
        "modified",
        "standby",
        "--flush-timeout",
        "2s",
        "--json",
    ]);
    let took = start.elapsed();
    assert_exit(&out, 1);
    assert!(
        took < Duration::from_secs(3),
        "exited {took:?} after the start, past the 2 s deadline plus 1 s"
    );
    let ops = report["operations"].as_array().unwrap();
    assert_eq!(ops[0]["op"], "modified");
    assert_eq!(ops[0]["status"], "failed");
    let error = ops[0]["error"]["message"].as_str().unwrap();
    let mount = disk.path("ext4");
    assert!(
        error.contains(&format!("{} (ext4) for 2.", mount.display())),
        "the error names the mount point, its type and how long: {error}"
    );
    assert_eq!(
        ops[1]["status"], "skipped",
        "the rest of the plan is skipped"
    );
    assert_eq!(
        stderr(&out).lines().count(),
        1,
        "one line on stderr: {}",
        stderr(&out)
    );

    // A signal during the stuck flush: the report of what ran, the flush marked interrupted,
    // exit 128 + the signal, at once.
    for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let (exit, took, report) = purge_interrupted_by(signal);
        assert_eq!(exit, Some(code), "{report}");
        assert!(took < Duration::from_secs(1), "{took:?} after the signal");
        assert_eq!(report["interrupted"], true, "{report}");
        assert_eq!(report["operations"][0]["status"], "interrupted", "{report}");
        assert_eq!(report["operations"][1]["status"], "skipped", "{report}");
    }

    // A watch keeps watching: each action fails at its deadline, and the stuck flush is waited
    // for again instead of joined by another stuck process.
    let watch = watch_flushing("1s", &["--cooldown", "1s", "--interval", "100ms"]);
    let mut failures = 0;
    let mut most_children = 0;
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        if let Some(event) = watch.next(Duration::from_millis(200)) {
            if event["status"] == "failed" {
                failures += 1;
            }
        }
        most_children = most_children.max(children_of(watch.pid()).len());
    }
    assert!(
        failures >= 2,
        "the watch stopped acting: {failures} failed actions"
    );
    assert_eq!(most_children, 1, "one stuck flush, never more");
    let (code, exit_took) = watch.signal(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert!(exit_took < Duration::from_secs(2), "{exit_took:?}");

    // A stop does not wait out a long deadline: the watch (or the service) leaves the flush to
    // the kernel and ends at once.
    let watch = watch_flushing("60s", &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let (code, exit_took) = watch.signal(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert!(
        exit_took < Duration::from_secs(1),
        "a stop waited {exit_took:?} for a stuck flush"
    );

    // Released, the flush goes through, and the bytes reached the backing file intact.
    disk.release();
    let (out, _) = memdefrag_json(&["purge", "modified", "--flush-timeout", "30s", "--json"]);
    assert_exit(&out, 0);
    assert!(
        disk.read_from_backing_image("data.bin") == data,
        "the data in the backing image differs from what was written"
    );
}

/// A swap file for one test, removed (swapoff, then the file) however the test ends.
struct SwapFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SwapFile {
    fn new(len: usize) -> SwapFile {
        let dir = crate::pagecache::disk_tempdir();
        let path = dir.path().join("swapfile");
        // Written out, not sparse: the kernel refuses swap files with holes.
        run_ok(
            "dd",
            &[
                "if=/dev/zero",
                &format!("of={}", path.display()),
                "bs=1M",
                &format!("count={}", len / MIB),
                // On disk before it is used: no dirty data left for the flusher to write while
                // later tests count dirty pages.
                "conv=fsync",
                "status=none",
            ],
        );
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        run_ok("mkswap", &[path.to_str().unwrap()]);
        let swap = SwapFile { _dir: dir, path };
        run_ok("swapon", &[swap.path.to_str().unwrap()]);
        swap
    }
}

impl Drop for SwapFile {
    fn drop(&mut self) {
        let _ = Command::new("swapoff").arg(&self.path).status();
    }
}

/// A field of /proc/PID/status in bytes (VmSwap, VmRSS …).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix(" kB")?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A child process holding `len` bytes of pseudo-random anonymous data, which it checks against
/// the same sequence when released: pages that went to swap must come back intact. It only makes
/// raw system calls after fork, which is safe in a multi-threaded parent; no interpreter needed,
/// so the test also runs in the lab's minimal guests.
struct AnonymousChild {
    pid: libc::pid_t,
    release: libc::c_int,
    verdict: libc::c_int,
}

/// The data: xorshift64, which does not compress (zswap cannot shrink it to nothing).
fn next_word(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

impl AnonymousChild {
    fn spawn(len: usize) -> AnonymousChild {
        const SEED: u64 = 0x9E37_79B9_7F4A_7C15;
        let (mut ready, mut release, mut verdict) = ([0; 2], [0; 2], [0; 2]);
        // SAFETY: plain pipe creation into live arrays, close-on-exec so that processes other
        // tests spawn do not inherit them.
        unsafe {
            for pipe in [&mut ready, &mut release, &mut verdict] {
                assert_eq!(libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC), 0);
            }
        }
        // SAFETY: the child runs only async-signal-safe system calls and arithmetic, and leaves
        // with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: in the child: map anonymous memory, fill it, say so, wait, check, report.
            unsafe {
                let addr = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                if addr == libc::MAP_FAILED {
                    libc::_exit(1);
                }
                let words = std::slice::from_raw_parts_mut(addr.cast::<u64>(), len / 8);
                let mut state = SEED;
                for w in words.iter_mut() {
                    *w = next_word(&mut state);
                }
                libc::write(ready[1], b"r".as_ptr().cast(), 1);
                let mut buf = [0u8; 1];
                libc::read(release[0], buf.as_mut_ptr().cast(), 1);
                let mut state = SEED;
                let same = words.iter().all(|&w| w == next_word(&mut state));
                let answer = if same { b"s" } else { b"c" };
                libc::write(verdict[1], answer.as_ptr().cast(), 1);
                libc::_exit(0);
            }
        }
        // SAFETY: closing the ends the parent does not use.
        unsafe {
            libc::close(ready[1]);
            libc::close(release[0]);
            libc::close(verdict[1]);
        }
        let child = AnonymousChild {
            pid,
            release: release[1],
            verdict: verdict[0],
        };
        assert!(
            crate::util::child_ready(ready[0]),
            "the child could not map its memory"
        );
        child
    }

    /// Releases the child and waits for its verdict: whether every word read back is the one
    /// written.
    fn data_intact(self) -> bool {
        let mut buf = [0u8; 1];
        // SAFETY: one byte to our end of the release pipe, one byte read into a live buffer.
        let n = unsafe {
            libc::write(self.release, b"c".as_ptr().cast(), 1);
            libc::read(self.verdict, buf.as_mut_ptr().cast(), 1)
        };
        n == 1 && buf[0] == b's'
    }
}

impl Drop for AnonymousChild {
    fn drop(&mut self) {
        // SAFETY: closing our pipe ends releases a child still waiting; then reap it.
        unsafe {
            libc::close(self.release);
            libc::close(self.verdict);
            let mut status = 0;
            libc::waitpid(self.pid, &raw mut status, 0);
        }
    }
}

#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_working_sets_pages_anonymous_data_out_to_swap_and_it_reads_back_intact() {
    require_root();
    let _lock = kernel_state_lock();
    let _swap = SwapFile::new(512 * MIB);
    let child = AnonymousChild::spawn(256 * MIB);
    let pid = child.pid as u32;
    let swap_before = status_bytes(pid, "VmSwap");

    let (out, report) = memdefrag_json(&[
        "purge",
        "working-sets",
        "--only",
        &pid.to_string(),
        "--json",
    ]);
    assert_exit(&out, 0);
    assert_eq!(report["operations"][0]["status"], "ok", "{report}");
    let swap_after = status_bytes(pid, "VmSwap");
    eprintln!(
        "helper VmSwap: {} MiB -> {} MiB",
        swap_before / MIB as u64,
        swap_after / MIB as u64
    );
    assert!(
        swap_after >= swap_before + 128 * MIB as u64,
        "VmSwap {swap_before} -> {swap_after}: the helper's data did not go to swap"
    );
    assert!(child.data_intact(), "the data read back differs");
}
