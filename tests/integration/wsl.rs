//! `memdefrag wsl`: WSL 2's VM from the Windows side, against stand-ins built by `cargo test`
//! (tests/support/wsl_standin.rs): a `wsl.exe` that answers as the real one does (UTF-16LE
//! included) and records its arguments, and a `VmmemWSL.exe` that holds 64 MiB. Under Wine on
//! Linux (scripts/test) and on Windows.

#[cfg(not(windows))]
#[test]
fn wsl_elsewhere_than_windows_says_where_to_run_it() {
    use crate::util::{assert_exit, memdefrag, stderr};
    let out = memdefrag(&["wsl"]);
    assert_exit(&out, 3);
    assert_eq!(
        stderr(&out),
        "memdefrag: WSL's VM is seen from Windows: run 'memdefrag wsl' there (inside a \
         distribution, 'memdefrag give-back' gives its memory back)\n"
    );
    let out = memdefrag(&["wsl", "give-back", "--distro", "Debian"]);
    assert_exit(&out, 3);
}

#[cfg(windows)]
mod windows {
    use std::io::{BufRead, BufReader};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Output, Stdio};
    use std::sync::{Mutex, MutexGuard};
    use std::time::{Duration, Instant};

    use serde_json::{json, Value};

    use crate::util::{assert_exit, bin, stderr};

    const UBUNTU: &str = "Ubuntu 22.04 Ä";
    const MEMINFO: &str = "MemTotal:        8039572 kB\nMemFree:         6118240 kB\n\
                           MemAvailable:    7364100 kB\nBuffers:           34660 kB\n\
                           Cached:          1306152 kB\nSwapTotal:       2097152 kB\n";
    const RECIPE: &str =
        "sync; echo 1 > /proc/sys/vm/drop_caches && echo 1 > /proc/sys/vm/compact_memory";
    const MIB: u64 = 1 << 20;

    /// The VM stand-in is a system-wide process: one test at a time.
    fn lock() -> MutexGuard<'static, ()> {
        static LOCK: Mutex<()> = Mutex::new(());
        LOCK.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stand-in cargo built beside the tests (target/…/debug/examples).
    fn standin() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let path = exe
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join("examples")
            .join("wsl-standin.exe");
        assert!(path.is_file(), "{} (cargo test builds it)", path.display());
        path
    }

    /// A folder with a stand-in wsl.exe and its scenario.
    struct Wsl {
        dir: tempfile::TempDir,
    }

    impl Wsl {
        fn new(scenario: &Value) -> Wsl {
            let dir = tempfile::tempdir().unwrap();
            std::fs::copy(standin(), dir.path().join("wsl.exe")).unwrap();
            std::fs::write(dir.path().join("scenario.json"), scenario.to_string()).unwrap();
            Wsl { dir }
        }

        fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
            let mut command = Command::new(bin());
            command
                .args(args)
                .env("MEMDEFRAG_WSL_EXE", self.dir.path().join("wsl.exe"))
                .env("STANDIN_WSL_DIR", self.dir.path())
                .env_remove("WSL_UTF8");
            for (k, v) in env {
                command.env(k, v);
            }
            command.output().unwrap()
        }

        fn json(&self, args: &[&str], env: &[(&str, &str)]) -> (Output, Value) {
            let out = self.run(args, env);
            let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "no JSON ({e}): {}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    stderr(&out)
                )
            });
            (out, value)
        }

        /// Every wsl.exe call so far, its arguments joined by spaces.
        fn calls(&self) -> Vec<String> {
            std::fs::read_to_string(self.dir.path().join("calls.jsonl"))
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let args: Vec<String> = serde_json::from_str(l).unwrap();
                    args.join(" ")
                })
                .collect()
        }

        /// Asserts that no distribution was started (by a call naming one that was not
        /// running, or one without -e).
        fn assert_nothing_started(&self) {
            let started = self.dir.path().join("started");
            assert!(
                !started.exists(),
                "a distribution was started: {}",
                std::fs::read_to_string(started).unwrap()
            );
        }
    }

    /// The VM stand-in: VmmemWSL.exe holding 64 MiB, until dropped.
    struct Vmmem {
        child: Child,
        _dir: tempfile::TempDir,
    }

    impl Vmmem {
        fn start() -> Vmmem {
            let dir = tempfile::tempdir().unwrap();
            let exe = dir.path().join("VmmemWSL.exe");
            std::fs::copy(standin(), &exe).unwrap();
            let mut child = Command::new(&exe)
                .env("STANDIN_VMMEM_MIB", "64")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ready");
            Vmmem { child, _dir: dir }
        }
    }

    impl Drop for Vmmem {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn distros() -> Value {
        json!({
            "running": [UBUNTU, "Debian", "Legacy"],
            "verbose": [[UBUNTU, "Running", 2], ["Debian", "Running", 2],
                        ["Legacy", "Running", 1], ["Stopped One", "Stopped", 2]],
            "distros": {
                UBUNTU: {
                    "root": true,
                    "memdefrag": "/usr/bin/memdefrag",
                    "status": json!({
                        "platform": "linux", "total_bytes": 8u64 << 30,
                        "available_bytes": 6u64 << 30, "free_bytes": 5u64 << 30,
                        "cache_bytes": 1u64 << 30, "modified_bytes": 0,
                        "reportable_free_order": 9, "reportable_free_bytes": 4u64 << 30
                    }).to_string(),
                    "give_back": json!({
                        "dry_run": false, "method": "damon", "method_reason": "DAMON",
                        "keep_hot_ms": 30000, "reportable_order": 9,
                        "reportable_before_bytes": 1u64 << 30,
                        "reportable_after_bytes": 3u64 << 30,
                        "steps": [{"step": "cold", "status": "ok", "duration_ms": 30100.0,
                                   "kernel_call": "DAMON", "counts": {}},
                                  {"step": "compact", "status": "ok", "duration_ms": 200.0,
                                   "kernel_call": "compact_memory", "counts": {}}],
                        "stranded": {}, "duration_ms": 30300.0, "before": {}, "after": {}
                    }).to_string()
                },
                "Debian": { "root": true, "memdefrag": null, "meminfo": MEMINFO },
                "Legacy": { "root": true, "memdefrag": null, "meminfo": MEMINFO },
                "Stopped One": { "root": true, "memdefrag": null, "meminfo": MEMINFO }
            }
        })
    }

    /// The VM's figures: what the stand-in holds, and not absurdly more.
    fn assert_vm(vm: &Value) {
        assert_eq!(vm["name"], "VmmemWSL.exe");
        for field in ["working_set_bytes", "private_bytes"] {
            let bytes = vm[field].as_u64().unwrap();
            assert!(
                (64 * MIB..2048 * MIB).contains(&bytes),
                "{field}: {bytes} bytes; the stand-in holds 64 MiB"
            );
        }
    }

    #[test]
    fn wsl_shows_the_vm_and_what_each_distribution_says() {
        let _lock = lock();
        let vm = Vmmem::start();
        let wsl = Wsl::new(&distros());
        // wsl.exe's lists in UTF-16LE (its default) and in UTF-8 (WSL_UTF8=1) read alike.
        for env in [&[][..], &[("WSL_UTF8", "1")]] {
            let (out, status) = wsl.json(&["wsl", "--json"], env);
            assert_exit(&out, 0);
            assert_vm(&status["vm"]);
            assert_eq!(status["vm"]["pid"], vm.child.id());
            assert_eq!(
                status["distributions"],
                json!([
                    {"name": UBUNTU, "version": 2, "memdefrag": "/usr/bin/memdefrag",
                     "memory": {"source": "memdefrag-status", "total_bytes": 8u64 << 30,
                                "available_bytes": 6u64 << 30, "free_bytes": 5u64 << 30,
                                "cache_bytes": 1u64 << 30,
                                "reportable_free_bytes": 4u64 << 30}},
                    {"name": "Debian", "version": 2, "memdefrag": "",
                     "memory": {"source": "meminfo", "total_bytes": 8_039_572u64 * 1024,
                                "available_bytes": 7_364_100u64 * 1024,
                                "free_bytes": 6_118_240u64 * 1024,
                                "cache_bytes": (34_660u64 + 1_306_152) * 1024}},
                    {"name": "Legacy", "version": 1}
                ]),
                "{env:?}"
            );
        }
        let out = wsl.run(&["wsl"], &[]);
        assert_exit(&out, 0);
        let text = String::from_utf8(out.stdout).unwrap();
        let (first, rest) = text.split_once('\n').unwrap();
        assert!(
            first.starts_with(&format!(
                "WSL 2 VM (VmmemWSL.exe, PID {}): working set ",
                vm.child.id()
            )),
            "{first}"
        );
        assert_eq!(
            rest,
            "\n  \
             distribution         total   available        free       cache  from\n  \
             Ubuntu 22.04 Ä    8.00 GiB    6.00 GiB    5.00 GiB    1.00 GiB  memdefrag status\n  \
             Debian            7.67 GiB    7.02 GiB    5.83 GiB    1.28 GiB  /proc/meminfo\n  \
             Legacy         WSL 1: not in the VM\n\n\
             note: WSL 1 distributions run on Windows' own kernel, outside the VM\n"
        );
        // Queries only, in running distributions only, each with -e: nothing was started.
        let probe = "sh -c command -v memdefrag || true";
        let expected_round = [
            "--list --running --quiet".to_owned(),
            "--list --verbose".to_owned(),
            format!("-d {UBUNTU} -e {probe}"),
            format!("-d {UBUNTU} -e /usr/bin/memdefrag status --json"),
            format!("-d Debian -e {probe}"),
            "-d Debian -e cat /proc/meminfo".to_owned(),
        ];
        let calls = wsl.calls();
        assert_eq!(calls.len(), 3 * expected_round.len(), "{calls:#?}");
        for round in calls.chunks(expected_round.len()) {
            assert_eq!(round, expected_round);
        }
        wsl.assert_nothing_started();
    }

    #[test]
    fn wsl_give_back_runs_as_root_inside_and_shows_windows_figures() {
        let _lock = lock();
        let _vm = Vmmem::start();
        let wsl = Wsl::new(&distros());
        let start = Instant::now();
        let (out, report) = wsl.json(&["wsl", "give-back", "--wait", "3s", "--json"], &[]);
        assert_exit(&out, 0);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
        assert_vm(&report["before"]);
        assert_vm(&report["after"]);
        // The stand-in does not shrink: two readings without a fall end the wait.
        assert_eq!(report["waited_ms"], 2000);
        let ds = report["distributions"].as_array().unwrap();
        assert_eq!(ds.len(), 2, "WSL 1 is skipped: {ds:#?}");
        assert_eq!(ds[0]["name"], UBUNTU);
        assert_eq!(ds[0]["method"], "memdefrag");
        assert_eq!(ds[0]["outcome"], "ok");
        assert_eq!(
            ds[0]["command"],
            format!("wsl.exe -d \"{UBUNTU}\" -u root -e /usr/bin/memdefrag give-back --json")
        );
        assert_eq!(ds[0]["inside"]["method"], "damon");
        assert_eq!(ds[0]["inside"]["reportable_after_bytes"], 3u64 << 30);
        assert_eq!(ds[1]["name"], "Debian");
        assert_eq!(ds[1]["method"], "drop-caches-compact");
        assert_eq!(ds[1]["outcome"], "ok");
        assert_eq!(
            ds[1]["notes"],
            json!([
                "memdefrag is not installed in 'Debian': every cache was dropped, the hot \
                    cache too (it is read back from disk); memdefrag inside keeps it"
            ])
        );
        assert_eq!(
            report["notes"][0],
            "skipped WSL 1 distributions (no VM): Legacy"
        );
        let root_probe = "sh -c id -u; command -v memdefrag || true";
        assert_eq!(
            wsl.calls(),
            [
                "--list --running --quiet".to_owned(),
                "--list --verbose".to_owned(),
                format!("-d {UBUNTU} -u root -e {root_probe}"),
                format!("-d {UBUNTU} -u root -e /usr/bin/memdefrag give-back --json"),
                format!("-d Debian -u root -e {root_probe}"),
                format!("-d Debian -u root -e sh -c {RECIPE}"),
            ]
        );
        assert_eq!(
            std::fs::read_to_string(wsl.dir.path().join("recipe")).unwrap(),
            RECIPE
        );
        wsl.assert_nothing_started();

        // For people: each distribution, then Windows' figures before and after.
        let out = wsl.run(
            &["wsl", "give-back", "--distro", "Debian", "--wait", "0s"],
            &[],
        );
        assert_exit(&out, 0);
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("Debian: drop_caches + compact_memory: ok in "),
            "{text}"
        );
        assert_eq!(
            lines[1],
            "  note: memdefrag is not installed in 'Debian': every cache was dropped, the hot \
             cache too (it is read back from disk); memdefrag inside keeps it"
        );
        assert!(lines[3].starts_with("VmmemWSL.exe (PID "), "{text}");
        assert_eq!(
            lines[5].split_whitespace().collect::<Vec<_>>(),
            ["before", "after", "change"]
        );
        assert!(lines[6].trim_start().starts_with("working set"), "{text}");
        assert!(lines[7].trim_start().starts_with("private"), "{text}");
        assert!(
            text.contains("\nthe VM's working set did not fall\n"),
            "the stand-in holds its memory: {text}"
        );
    }

    #[test]
    fn wsl_give_back_dry_run_runs_memdefrag_with_dry_run_and_no_recipe() {
        let _lock = lock();
        let _vm = Vmmem::start();
        let wsl = Wsl::new(&distros());
        let (out, report) = wsl.json(
            &[
                "wsl",
                "give-back",
                "--dry-run",
                "--keep-hot",
                "2m",
                "--json",
            ],
            &[],
        );
        assert_exit(&out, 0);
        assert_eq!(report["dry_run"], true);
        assert_eq!(report["waited_ms"], 0);
        let ds = report["distributions"].as_array().unwrap();
        assert_eq!(ds[1]["name"], "Debian");
        assert_eq!(ds[1]["outcome"], "ok");
        assert!(
            ds[1]["notes"][1].as_str().unwrap().contains("--keep-hot"),
            "{report}"
        );
        let root_probe = "sh -c id -u; command -v memdefrag || true";
        assert_eq!(
            wsl.calls()[2..],
            [
                format!("-d {UBUNTU} -u root -e {root_probe}"),
                format!(
                    "-d {UBUNTU} -u root -e /usr/bin/memdefrag give-back --json --keep-hot 2m \
                     --dry-run"
                ),
                format!("-d Debian -u root -e {root_probe}"),
            ]
        );
        assert!(!wsl.dir.path().join("recipe").exists(), "the recipe ran");
        wsl.assert_nothing_started();

        let out = wsl.run(
            &["wsl", "give-back", "--dry-run", "--distro", "Debian"],
            &[],
        );
        assert_exit(&out, 0);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.starts_with("Debian: drop_caches + compact_memory: would run in "),
            "{text}"
        );
        assert!(
            text.contains("\n  command: wsl.exe -d Debian -u root -e sh -c "),
            "{text}"
        );
        assert!(text.contains("\ndry run: nothing was changed\n"), "{text}");
    }

    #[test]
    fn wsl_give_back_checks_the_distribution_before_anything_runs() {
        let _lock = lock();
        let _vm = Vmmem::start();
        let wsl = Wsl::new(&distros());
        let out = wsl.run(&["wsl", "give-back", "--distro", "Stopped One"], &[]);
        assert_exit(&out, 2);
        assert_eq!(
            stderr(&out),
            "memdefrag: no running WSL distribution is named 'Stopped One' (running: Ubuntu \
             22.04 Ä, Debian, Legacy); memdefrag does not start one\n"
        );
        let out = wsl.run(&["wsl", "give-back", "--distro", "Legacy"], &[]);
        assert_exit(&out, 3);
        assert_eq!(
            stderr(&out),
            "memdefrag: 'Legacy' is a WSL 1 distribution: it has no VM, so there is nothing to \
             give back\n"
        );
        assert!(
            wsl.calls().iter().all(|c| c.starts_with("--list")),
            "{:?}",
            wsl.calls()
        );
        wsl.assert_nothing_started();
    }

    /// Asserts a one-line failure: the exit code and the whole of stderr.
    #[track_caller]
    fn assert_one_line(out: &Output, code: i32, message: &str) {
        assert_exit(out, code);
        assert_eq!(stderr(out), format!("memdefrag: {message}\n"));
    }

    #[test]
    fn wsl_failures_are_one_line_each_and_never_hang() {
        let _lock = lock();
        // No wsl.exe.
        let missing = tempfile::tempdir().unwrap();
        let path = missing.path().join("wsl.exe");
        let out = Command::new(bin())
            .arg("wsl")
            .env("MEMDEFRAG_WSL_EXE", &path)
            .output()
            .unwrap();
        assert_one_line(
            &out,
            3,
            &format!("WSL is not installed: there is no {}", path.display()),
        );

        // Nothing running, and no VM: nothing is started, status and give-back alike.
        let wsl = Wsl::new(
            &json!({"running": null, "verbose": [[UBUNTU, "Stopped", 2]],
                                   "distros": distros()["distros"]}),
        );
        let nothing = "no WSL distribution is running (wsl.exe: There are no running \
                       distributions.); memdefrag does not start one (a VM that is not running \
                       holds no memory)";
        assert_one_line(&wsl.run(&["wsl"], &[]), 3, nothing);
        assert_one_line(&wsl.run(&["wsl", "give-back"], &[]), 3, nothing);
        let (out, error) = wsl.json(&["wsl", "--json"], &[("WSL_UTF8", "1")]);
        assert_exit(&out, 3);
        assert_eq!(
            error,
            json!({"error": {"message": nothing, "exit_code": 3}})
        );
        assert!(wsl.calls().iter().all(|c| c == "--list --running --quiet"));
        wsl.assert_nothing_started();

        // WSL 1 only.
        let wsl = Wsl::new(
            &json!({"running": ["Legacy"], "verbose": [["Legacy", "Running", 1]],
                                   "distros": distros()["distros"]}),
        );
        let only1 = "only WSL 1 distributions are running (Legacy): WSL 1 has no VM, its Linux \
                     processes are Windows processes";
        assert_one_line(&wsl.run(&["wsl"], &[]), 3, only1);
        assert_one_line(&wsl.run(&["wsl", "give-back"], &[]), 3, only1);

        // wsl.exe never answers: stopped at the deadline.
        let wsl = Wsl::new(&json!({"running": [UBUNTU], "hang_list": true,
                                   "distros": distros()["distros"]}));
        let start = Instant::now();
        let out = wsl.run(&["wsl", "--timeout", "1s"], &[]);
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{:?}",
            start.elapsed()
        );
        assert_one_line(
            &out,
            1,
            "'wsl.exe --list --running --quiet' did not finish within 1s; it was stopped",
        );

        let _vm = Vmmem::start();
        // A distribution whose commands hang: its line says so, the others are read.
        let mut scenario = distros();
        scenario["distros"]["Debian"]["hang"] = json!(true);
        let wsl = Wsl::new(&scenario);
        let (out, status) = wsl.json(&["wsl", "--timeout", "1s", "--json"], &[]);
        assert_exit(&out, 1);
        assert_eq!(
            status["distributions"][1]["error"],
            "'wsl.exe -d Debian -e sh -c \"command -v memdefrag || true\"' did not finish \
             within 1s; it was stopped"
        );
        assert!(status["distributions"][0]["memory"].is_object());
        assert_eq!(
            stderr(&out),
            "memdefrag: cannot read 'Debian': 'wsl.exe -d Debian -e sh -c \"command -v \
             memdefrag || true\"' did not finish within 1s; it was stopped\n"
        );

        // No root in a distribution: said, nothing run there, exit 77.
        let mut scenario = distros();
        scenario["distros"][UBUNTU]["root"] = json!(false);
        let wsl = Wsl::new(&scenario);
        let out = wsl.run(
            &["wsl", "give-back", "--distro", UBUNTU, "--wait", "0s"],
            &[],
        );
        assert_one_line(
            &out,
            77,
            &format!(
                "give-back in '{UBUNTU}' failed: cannot run as root in '{UBUNTU}' (wsl.exe -d \
                 \"{UBUNTU}\" -u root -e sh -c \"id -u; command -v memdefrag || true\": <3>WSL \
                 (12) ERROR: CreateProcessParseCommon:863: getpwnam(root) failed 5)"
            ),
        );
        assert!(!wsl.calls().iter().any(|c| c.contains("give-back")));
        wsl.assert_nothing_started();
    }
}
