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
mod linux {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc::{self, Receiver};
    use std::time::{Duration, Instant};

    use crate::pagecache::{CachedFile, UncachedFile};
    use crate::util::{
        assert_exit, bin, kernel_state_lock, memdefrag, memdefrag_json, require_root, stderr,
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
        assert!(stderr(&out).contains("drop_caches"), "{}", stderr(&out));

        let out = crate::linux::as_nobody(
            &exe,
            &[
                "watch",
                "--once",
                "--usage-above",
                "0",
                "--dry-run",
                "--json",
            ],
        );
        assert_exit(&out, 0);
        let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(event["dry_run"], true);
        assert!(
            event["freed_bytes"].as_i64().unwrap() >= 16 * MIB as i64,
            "{event}"
        );
        assert!(file.residency() > 0.9, "a dry run evicted the file");
    }

    /// A running `memdefrag watch`, its stdout lines arriving on a channel; killed on drop.
    struct Watch {
        child: Child,
        lines: Receiver<String>,
    }

    impl Watch {
        fn start(args: &[&str]) -> Watch {
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

        /// The next line, as JSON, if one comes within `timeout`.
        fn next(&self, timeout: Duration) -> Option<serde_json::Value> {
            let line = self.lines.recv_timeout(timeout).ok()?;
            Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
        }

        /// Sends `signal` and returns the exit code and how long the exit took.
        fn signal(mut self, signal: libc::c_int) -> (Option<i32>, Duration) {
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
