//! `memdefrag watch`: triggers, cooldown and back-off, --once, signals, option errors.

use crate::util::{assert_exit, memdefrag, stderr, unsupported_op};

#[test]
fn watch_rejects_bad_options_before_anything_runs() {
    let unsupported = unsupported_op();
    for (args, code) in [
        (&["--interval", "0s", "--usage-above", "90"][..], 2),
        (&["--usage-above", "101%"], 2),
        (&["--free-below", "150%", "--standby-above", "1GiB"], 2),
        (&["--once"], 2),
        (&["--ops", "standby,bogus", "--usage-above", "90"], 2),
        (&["--standby-above", "12XB"], 2),
        (&["--every", "soon"], 2),
        (&["--every", "0s"], 2),
        (&["--ops", &unsupported, "--usage-above", "0", "--once"], 3),
        (&["--give-back", "--ops", "standby"], 2),
        (&["--give-back", "--exclude", "42"], 2),
        (&["--keep-hot", "1m", "--every", "1m"], 2),
        (&["--give-back", "--keep-hot", "0s"], 2),
        (&["--idle-below", "10", "--once"], 2),
        (&["--idle-below", "0"], 2),
    ] {
        let out = memdefrag(&[&["watch"][..], args].concat());
        assert_exit(&out, code);
        assert!(
            out.stdout.is_empty(),
            "{args:?} acted: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!stderr(&out).is_empty());
    }
    let out = memdefrag(&["watch", "--once"]);
    assert!(stderr(&out).contains("no trigger"), "{}", stderr(&out));
    let out = memdefrag(&["watch", "--idle-below", "5", "--once", "--dry-run"]);
    assert!(
        stderr(&out).contains("--idle-below cannot fire with --once"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn watch_once_without_a_firing_trigger_does_nothing() {
    // --dry-run: no privilege needed, so this runs as any user.
    let out = memdefrag(&[
        "watch",
        "--once",
        "--dry-run",
        "--standby-above",
        "1000TiB",
        "--free-below",
        "100%",
        "--json",
    ]);
    assert_exit(&out, 0);
    assert!(out.stdout.is_empty());
}

#[cfg(target_os = "linux")]
pub(crate) mod linux {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc::{self, Receiver};
    use std::time::{Duration, Instant};

    use crate::pagecache::{CachedFile, UncachedFile};
    use crate::util::{
        assert_exit, bin, kernel_state_lock, memdefrag, memdefrag_json, ops_row, require_root,
        stderr,
    };

    const MIB: usize = 1 << 20;

    #[test]
    #[ignore = "needs root; scripts/test runs it"]
    fn root_watch_purges_once_when_the_cache_fills_then_cools_down() {
        require_root();
        let _lock = kernel_state_lock();
        // `cached` is in the cache from the start; reading `fill` pushes the cache over the
        // threshold. The purge fires while `fill` is being read, so `cached` is the file whose
        // eviction it proves. Both together free well over 1 % of memory: no back-off.
        let cached = CachedFile::new(256 * MIB);
        let fill = UncachedFile::new(256 * MIB);
        // Big enough that, after the purge, reading it pushes the cache well past the threshold.
        let later = UncachedFile::new(768 * MIB);
        let (_, status) = memdefrag_json(&["status", "--json"]);
        let threshold = status["cache_bytes"].as_u64().unwrap() + 128 * MIB as u64;
        let watch = Watch::start(&[
            "--standby-above",
            &format!("{threshold}B"),
            "--free-below",
            "100%",
            "--interval",
            "200ms",
            "--cooldown",
            "60s",
            "--ops",
            "standby",
            "--json",
        ]);
        assert!(
            watch.next(Duration::from_millis(600)).is_none(),
            "fired before the fill"
        );

        fill.fill();
        let event = watch
            .next(Duration::from_secs(3))
            .expect("no purge after the fill");
        assert_eq!(event["trigger"], "pressure");
        assert_eq!(event["ops"], serde_json::json!(["standby"]));
        assert_eq!(event["status"], "ok");
        assert_eq!(event["dry_run"], false);
        // The base cooldown, unless the purge freed under 1 % of memory (a very large machine).
        let total = status["total_bytes"].as_i64().unwrap();
        let expected = if event["freed_bytes"].as_i64().unwrap() * 100 >= total {
            60_000
        } else {
            120_000
        };
        assert_eq!(event["cooldown_ms"], expected, "{event}");
        assert!(
            event["cache_bytes"].as_u64().unwrap() > threshold,
            "{event}"
        );
        assert!(event["time"].as_str().unwrap().ends_with('Z'));
        assert!(
            cached.residency() < 0.05,
            "still cached: {}",
            cached.residency()
        );

        // Inside the cooldown another fill, which makes the trigger hold again, does not purge.
        later.fill();
        let (_, now) = memdefrag_json(&["status", "--json"]);
        assert!(
            now["cache_bytes"].as_u64().unwrap() > threshold,
            "the trigger does not hold"
        );
        assert!(
            watch.next(Duration::from_millis(1500)).is_none(),
            "purged inside the cooldown"
        );
        assert!(later.residency() > 0.9);
        let (code, _) = watch.signal(libc::SIGTERM);
        assert_eq!(code, Some(0));
    }

    #[test]
    #[ignore = "needs root; scripts/test runs it"]
    fn root_watch_backs_off_while_purging_frees_nothing() {
        require_root();
        let _lock = kernel_state_lock();
        // sync frees no memory: every action is useless, so each cooldown doubles.
        let watch = Watch::start(&[
            "--usage-above",
            "0",
            "--ops",
            "modified",
            "--interval",
            "50ms",
            "--cooldown",
            "200ms",
            "--json",
        ]);
        let mut cooldowns = Vec::new();
        let mut times = Vec::new();
        for _ in 0..3 {
            let event = watch.next(Duration::from_secs(5)).expect("no action");
            assert_eq!(event["trigger"], "usage");
            cooldowns.push(event["cooldown_ms"].as_u64().unwrap());
            times.push(Instant::now());
        }
        assert_eq!(cooldowns, [400, 800, 1600]);
        assert!(times[1] - times[0] >= Duration::from_millis(380));
        assert!(times[2] - times[1] >= Duration::from_millis(780));
    }

    #[test]
    #[ignore = "needs root; scripts/test runs it"]
    fn root_watch_once_acts_once_and_exits() {
        require_root();
        let _lock = kernel_state_lock();
        let file = CachedFile::new(64 * MIB);
        let out = memdefrag(&[
            "watch",
            "--once",
            "--usage-above",
            "0",
            "--ops",
            "standby",
            "--json",
        ]);
        assert_exit(&out, 0);
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(event["status"], "ok");
        assert!(event["freed_bytes"].is_i64());
        assert!(
            file.residency() < 0.05,
            "still cached: {}",
            file.residency()
        );

        let out = memdefrag(&["watch", "--once", "--usage-above", "0", "--ops", "standby"]);
        assert_exit(&out, 0);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("purged standby (usage") && text.contains("cooldown"),
            "{text}"
        );
    }

    #[test]
    #[ignore = "needs root; scripts/test runs it"]
    fn root_watch_needs_privilege_unless_dry_run() {
        require_root();
        let _lock = kernel_state_lock();
        let file = CachedFile::new(32 * MIB);
        let (_dir, exe) = crate::linux::unprivileged_copy();
        let out = crate::linux::as_nobody(&exe, &["watch", "--once", "--usage-above", "0"]);
        assert_exit(&out, 77);
        // The watch's default operation: standby-low where the kernel has it (memory.reclaim on
        // cgroup v2), standby (drop_caches) elsewhere.
        let knob = if ops_row("standby-low")["supported"] == true {
            "memory.reclaim"
        } else {
            "drop_caches"
        };
        assert!(stderr(&out).contains(knob), "{}", stderr(&out));

        let out = crate::linux::as_nobody(
            &exe,
            &[
                "watch",
                "--once",
                "--usage-above",
                "0",
                "--ops",
                "standby",
                "--dry-run",
                "--json",
            ],
        );
        assert_exit(&out, 0);
        let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(event["dry_run"], true);
        // standby's estimate is the clean page cache, our file included. (standby-low's is
        // Inactive(file), which MGLRU can hold at 0 for a while: not this test's subject.)
        assert!(
            event["freed_bytes"].as_i64().unwrap() >= 16 * MIB as i64,
            "{event}"
        );
        assert!(file.residency() > 0.9, "a dry run evicted the file");
    }

    /// The system's total memory stall ("some"), in microseconds since boot.
    fn some_stall_us() -> u64 {
        let text = std::fs::read_to_string("/proc/pressure/memory").unwrap();
        text.lines()
            .find(|l| l.starts_with("some "))
            .and_then(|l| l.split("total=").nth(1))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// A memory cgroup (v2 where the machine has it, else v1) with a small limit, and a
    /// process in it that reads a file larger than the limit over and over: each pass refaults
    /// what the last one evicted, so its tasks stall on memory. Removed on drop.
    struct StallGenerator {
        group: PathBuf,
        child: Option<Child>,
        _file: UncachedFile,
    }

    impl StallGenerator {
        fn start() -> StallGenerator {
            let v2 = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"));
            let name = format!("memdefrag-test-stall-{}", std::process::id());
            let (group, limit_file) = if v2 {
                (PathBuf::from("/sys/fs/cgroup").join(name), "memory.max")
            } else {
                (
                    PathBuf::from("/sys/fs/cgroup/memory").join(name),
                    "memory.limit_in_bytes",
                )
            };
            std::fs::create_dir(&group).expect("create a memory cgroup");
            let file = UncachedFile::new(128 * MIB);
            let mut generator = StallGenerator {
                group,
                child: None,
                _file: file,
            };
            std::fs::write(generator.group.join(limit_file), "16M").unwrap();
            let script = format!(
                "echo $$ > {}/cgroup.procs && while :; do cat {} > /dev/null; done",
                generator.group.display(),
                generator._file.path.display()
            );
            generator.child = Some(
                Command::new("sh")
                    .args(["-c", &script])
                    .process_group(0)
                    .spawn()
                    .unwrap(),
            );
            generator
        }
    }

    impl Drop for StallGenerator {
        fn drop(&mut self) {
            if let Some(mut child) = self.child.take() {
                // The shell and its cat: the whole process group.
                // SAFETY: signalling the process group this test created.
                unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
                let _ = child.wait();
            }
            // The group can be removed once its last task has gone.
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::fs::remove_dir(&self.group).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    #[test]
    #[ignore = "needs root; scripts/test runs it"]
    fn root_watch_acts_on_a_memory_stall_within_the_window_and_never_without() {
        require_root();
        let _lock = kernel_state_lock();
        // 2 % of a 2 s window: 40 ms of stall. A dry run: it reports, changes nothing.
        let window = Duration::from_secs(2);
        let stall_us = 40_000;
        let watch = Watch::start(&[
            "--pressure-above",
            "2",
            "--pressure-window",
            "2s",
            "--ops",
            "standby",
            "--dry-run",
            "--json",
        ]);
        assert!(
            watch.next(Duration::from_secs(4)).is_none(),
            "acted without a memory stall"
        );

        let before = some_stall_us();
        let _generator = StallGenerator::start();
        // When the stall passed the threshold, as the kernel's own total shows it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while some_stall_us() - before < stall_us {
            assert!(Instant::now() < deadline, "the generator raised no stall");
            std::thread::sleep(Duration::from_millis(20));
        }
        let crossed = Instant::now();
        let event = watch
            .next(window + Duration::from_secs(1))
            .unwrap_or_else(|| panic!("no action within the window plus 1 s of the stall"));
        assert!(crossed.elapsed() <= window + Duration::from_secs(1));
        assert_eq!(event["trigger"], "stall", "{event}");
        assert_eq!(event["window_ms"], 2000, "{event}");
        assert_eq!(event["stall_above_percent"], 2.0, "{event}");
        assert_eq!(event["dry_run"], true, "{event}");
    }

    #[test]
    fn a_pressure_window_the_kernel_would_refuse_exits_2() {
        for args in [
            &["--pressure-above", "10", "--pressure-window", "20s"][..],
            &["--pressure-above", "10", "--pressure-window", "100ms"],
            &["--pressure-above", "0"],
            &["--pressure-above", "10", "--once"],
        ] {
            let out = memdefrag(&[&["watch", "--dry-run"][..], args].concat());
            assert_exit(&out, 2);
            assert!(out.stdout.is_empty());
        }
    }

    #[test]
    #[ignore = "needs root (to drop it); scripts/test runs it"]
    fn root_an_unprivileged_watch_gets_whole_2s_windows_only() {
        require_root();
        let (_dir, exe) = crate::linux::unprivileged_copy();
        let out = crate::linux::as_nobody(
            &exe,
            &[
                "watch",
                "--dry-run",
                "--pressure-above",
                "10",
                "--pressure-window",
                "3s",
            ],
        );
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("multiples of 2 s") && err.contains("CAP_SYS_RESOURCE"),
            "{err}"
        );
    }

    /// A running `memdefrag watch`, its stdout lines arriving on a channel; killed on drop.
    pub(crate) struct Watch {
        child: Child,
        lines: Receiver<String>,
    }

    impl Watch {
        pub(crate) fn start(args: &[&str]) -> Watch {
            let mut child = Command::new(bin())
                .arg("watch")
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn watch");
            let stdout = child.stdout.take().unwrap();
            let (tx, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            Watch { child, lines }
        }

        /// The watch's process ID.
        pub(crate) fn pid(&self) -> u32 {
            self.child.id()
        }

        /// The next line, as JSON, if one comes within `timeout`.
        /// Waits, at most 10 s, until the kernel shows the watch catching `signal` (SigCgt in
        /// /proc/PID/status): before that, the signal's default action would end it.
        fn wait_for_handler(&self, signal: libc::c_int) {
            let status = format!("/proc/{}/status", self.child.id());
            let start = Instant::now();
            loop {
                let caught = std::fs::read_to_string(&status)
                    .ok()
                    .and_then(|s| {
                        let mask = s.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
                        u64::from_str_radix(mask.trim(), 16).ok()
                    })
                    .is_some_and(|mask| mask & (1 << (signal - 1)) != 0);
                if caught {
                    return;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "watch never set up a handler for signal {signal}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }

        pub(crate) fn next(&self, timeout: Duration) -> Option<serde_json::Value> {
            let line = self.lines.recv_timeout(timeout).ok()?;
            Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
        }

        /// Sends `signal` once the watch has its handler for it (a slow machine may still be
        /// starting it), and returns the exit code and how long the exit took.
        pub(crate) fn signal(mut self, signal: libc::c_int) -> (Option<i32>, Duration) {
            self.wait_for_handler(signal);
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
            let start = Instant::now();
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return (status.code(), start.elapsed());
                }
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "watch ignored the signal"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn watch_pauses_while_a_named_process_runs_and_acts_after_it_exits() {
        // A process of a name of our own: a copy of sleep.
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("mdpause-helper");
        std::fs::copy("/bin/sleep", &helper).unwrap();
        let mut game = Command::new(&helper)
            .arg("60")
            .spawn()
            .expect("start the helper");
        // --dry-run: it needs no privilege, and an action is still reported.
        let watch = Watch::start(&[
            "--every",
            "1s",
            "--interval",
            "200ms",
            "--ops",
            "standby",
            "--dry-run",
            "--pause-while",
            "mdpause-helper,another-name",
            "--json",
        ]);
        let paused = watch.next(Duration::from_secs(3));
        let _ = game.kill();
        let _ = game.wait();
        assert!(
            paused.is_none(),
            "acted while the named process ran: {paused:?}"
        );
        let event = watch
            .next(Duration::from_secs(3))
            .expect("no action after the process exited");
        assert_eq!(event["trigger"], "every");
        let (code, _) = watch.signal(libc::SIGTERM);
        assert_eq!(code, Some(0));
    }

    #[test]
    fn watch_exits_0_promptly_on_sigterm_and_sigint() {
        for signal in [libc::SIGTERM, libc::SIGINT] {
            let watch = Watch::start(&[
                "--dry-run",
                "--standby-above",
                "1000TiB",
                "--free-below",
                "100%",
                "--interval",
                "10s",
            ]);
            std::thread::sleep(Duration::from_millis(300));
            let (code, took) = watch.signal(signal);
            assert_eq!(code, Some(0), "signal {signal}");
            assert!(took < Duration::from_secs(1), "took {took:?}");
        }
    }
}
