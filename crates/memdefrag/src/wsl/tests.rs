//! The WSL requests over a scripted host: what is run, in which order, and what is reported.

use std::cell::RefCell;

use super::*;

/// How the scripted wsl.exe answers.
type Answer = Box<dyn Fn(&[&str]) -> Result<Output, WslError>>;

/// A scripted WSL: answers from a function of the arguments, records every call.
struct Fake {
    vm: RefCell<Vec<Option<VmProcess>>>,
    answer: Answer,
    calls: RefCell<Vec<Vec<String>>>,
    slept: RefCell<Duration>,
}

impl Fake {
    fn new(
        vm: Vec<Option<VmProcess>>,
        answer: impl Fn(&[&str]) -> Result<Output, WslError> + 'static,
    ) -> Fake {
        Fake {
            vm: RefCell::new(vm),
            answer: Box::new(answer),
            calls: RefCell::new(Vec::new()),
            slept: RefCell::new(Duration::ZERO),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.borrow().iter().map(|c| c.join(" ")).collect()
    }
}

impl WslHost for Fake {
    fn vm(&self) -> Result<Option<VmProcess>, WslError> {
        let mut vm = self.vm.borrow_mut();
        Ok(if vm.len() > 1 {
            vm.remove(0)
        } else {
            vm[0].clone()
        })
    }
    fn wsl(&self, args: &[&str], _deadline: Duration) -> Result<Output, WslError> {
        self.calls
            .borrow_mut()
            .push(args.iter().map(|s| (*s).to_owned()).collect());
        (self.answer)(args)
    }
    fn sleep(&self, duration: Duration) {
        *self.slept.borrow_mut() += duration;
    }
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn ok(stdout: impl Into<Vec<u8>>) -> Result<Output, WslError> {
    Ok(Output {
        code: Some(0),
        stdout: stdout.into(),
        stderr: Vec::new(),
    })
}

fn vm(mib: u64) -> Option<VmProcess> {
    Some(VmProcess {
        name: "VmmemWSL".into(),
        pid: 4242,
        working_set_bytes: mib << 20,
        private_bytes: (mib + 10) << 20,
        cpu_time_ms: 5,
    })
}

const NAME: &str = "Ubuntu 22.04 Ä";
const MEMINFO: &str = "MemTotal: 8000000 kB\nMemFree: 6000000 kB\nMemAvailable: 7000000 kB\n\
                       Buffers: 1000 kB\nCached: 999000 kB\n";

/// Two running distributions, the first WSL 2 without memdefrag, the second WSL 1.
fn standard(args: &[&str]) -> Result<Output, WslError> {
    match args {
        ["--list", "--running", "--quiet"] => ok(utf16(&format!("{NAME}\r\nLegacy\r\n"))),
        ["--list", "--verbose"] => ok(utf16(&format!(
            "  NAME STATE VERSION\r\n* {NAME} Running 2\r\n  Legacy Running 1\r\n  Off Stopped 2\r\n"
        ))),
        ["-d", NAME, "-e", "sh", "-c", PROBE] => ok(""),
        ["-d", NAME, "-e", "cat", "/proc/meminfo"] => ok(MEMINFO),
        ["-d", NAME, "-u", "root", "-e", "sh", "-c", PROBE_ROOT] => ok("0\n"),
        ["-d", NAME, "-u", "root", "-e", "sh", "-c", RECIPE] => ok(""),
        other => panic!("unexpected call {other:?}"),
    }
}

#[test]
fn status_reads_meminfo_where_memdefrag_is_not_installed_and_skips_wsl1() {
    let host = Fake::new(vec![vm(2048)], standard);
    let status = status(&host, DEFAULT_TIMEOUT).unwrap();
    assert_eq!(status.vm, vm(2048));
    assert_eq!(status.distributions.len(), 2);
    let d = &status.distributions[0];
    assert_eq!((d.name.as_str(), d.version), (NAME, Some(2)));
    assert_eq!(d.memdefrag.as_deref(), Some(""));
    let memory = d.memory.as_ref().unwrap();
    assert_eq!(memory.source, LinuxSource::Meminfo);
    assert_eq!(memory.free_bytes, 6_000_000 * 1024);
    assert_eq!(status.distributions[1].version, Some(1));
    assert!(status.distributions[1].memory.is_none());
    assert_eq!(status.exit_code(), 0);
    assert_eq!(
        host.calls(),
        [
            "--list --running --quiet",
            "--list --verbose",
            &format!("-d {NAME} -e sh -c {PROBE}"),
            &format!("-d {NAME} -e cat /proc/meminfo"),
        ]
    );
}

#[test]
fn status_runs_memdefrag_inside_where_it_is_installed() {
    let host = Fake::new(vec![vm(100)], |args| match args {
        ["-d", NAME, "-e", "sh", "-c", PROBE] => ok("/usr/bin/memdefrag\n"),
        ["-d", NAME, "-e", "/usr/bin/memdefrag", "status", "--json"] => ok(
            r#"{"total_bytes":4,"available_bytes":3,"free_bytes":2,"cache_bytes":1,"reportable_free_bytes":2}"#,
        ),
        other => standard(other),
    });
    let status = status(&host, DEFAULT_TIMEOUT).unwrap();
    let d = &status.distributions[0];
    assert_eq!(d.memdefrag.as_deref(), Some("/usr/bin/memdefrag"));
    assert_eq!(
        d.memory.as_ref().unwrap().source,
        LinuxSource::MemdefragStatus
    );
    assert_eq!(d.memory.as_ref().unwrap().reportable_free_bytes, Some(2));
}

#[test]
fn a_distribution_that_cannot_be_read_is_reported_and_fails_the_status() {
    let host = Fake::new(vec![vm(100)], |args| match args {
        ["-d", NAME, "-e", "cat", "/proc/meminfo"] => Err(WslError::Timeout {
            command: command_line(args),
            deadline: Duration::from_secs(1),
        }),
        other => standard(other),
    });
    let status = status(&host, DEFAULT_TIMEOUT).unwrap();
    assert_eq!(
        status.distributions[0].error.as_deref(),
        Some("'wsl.exe -d \"Ubuntu 22.04 Ä\" -e cat /proc/meminfo' did not finish within 1s; it was stopped")
    );
    assert_eq!(status.exit_code(), 1);
}

#[test]
fn nothing_running_is_one_line_and_starts_nothing() {
    let host = Fake::new(vec![None], |args| match args {
        ["--list", "--running", "--quiet"] => Ok(Output {
            code: Some(-1),
            stdout: utf16("There are no running distributions.\r\n"),
            stderr: Vec::new(),
        }),
        other => panic!("unexpected call {other:?}"),
    });
    let err = status(&host, DEFAULT_TIMEOUT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no WSL distribution is running (wsl.exe: There are no running distributions.); \
         memdefrag does not start one (a VM that is not running holds no memory)"
    );
    assert_eq!(err.exit_code(), 3);
    let err = give_back(&host, &GiveBackOptions::default()).unwrap_err();
    assert_eq!(err.exit_code(), 3);
    assert_eq!(host.calls().len(), 2, "{:?}", host.calls());
}

#[test]
fn a_vm_without_distributions_is_shown_with_a_note() {
    let host = Fake::new(vec![vm(300)], |args| match args {
        ["--list", "--running", "--quiet"] => ok(""),
        ["--list", "--verbose"] => ok(""),
        other => panic!("unexpected call {other:?}"),
    });
    let status = status(&host, DEFAULT_TIMEOUT).unwrap();
    assert!(status.distributions.is_empty());
    assert!(
        status.notes[0].contains("no distribution is running"),
        "{:?}",
        status.notes
    );
}

#[test]
fn only_wsl1_is_explained() {
    let host = Fake::new(vec![None], |args| match args {
        ["--list", "--running", "--quiet"] => ok("Legacy\n"),
        ["--list", "--verbose"] => ok("NAME STATE VERSION\n* Legacy Running 1\n"),
        other => panic!("unexpected call {other:?}"),
    });
    let err = status(&host, DEFAULT_TIMEOUT).unwrap_err();
    assert!(
        matches!(err, WslError::Wsl1Only(ref n) if n == &["Legacy"]),
        "{err}"
    );
    assert_eq!(err.exit_code(), 3);
    let err = give_back(&host, &GiveBackOptions::default()).unwrap_err();
    assert!(matches!(err, WslError::Wsl1Only(_)), "{err}");
}

#[test]
fn give_back_runs_the_recipe_as_root_and_waits_for_the_vm_to_shrink() {
    let host = Fake::new(
        vec![vm(2048), vm(2048), vm(1500), vm(1100), vm(1100), vm(1100)],
        standard,
    );
    let report = give_back(&host, &GiveBackOptions::default()).unwrap();
    assert_eq!(report.before, vm(2048));
    assert_eq!(report.after, vm(1100));
    assert_eq!(report.waited_ms, 4000);
    assert_eq!(*host.slept.borrow(), Duration::from_secs(4));
    assert_eq!(report.distributions.len(), 1, "WSL 1 is skipped");
    let d = &report.distributions[0];
    assert_eq!(d.method, Some(GiveBackMethod::DropCachesCompact));
    assert_eq!(d.outcome, Outcome::Ok);
    assert!(d.notes[0].contains("the hot cache"), "{:?}", d.notes);
    assert_eq!(report.exit_code(), 0);
    assert!(
        report.notes.iter().any(|n| n.contains("Legacy")),
        "{:?}",
        report.notes
    );
    let calls = host.calls();
    assert_eq!(calls[2], format!("-d {NAME} -u root -e sh -c {PROBE_ROOT}"));
    assert_eq!(calls[3], format!("-d {NAME} -u root -e sh -c {RECIPE}"));
    assert_eq!(calls.len(), 4);
}

#[test]
fn give_back_uses_memdefrag_inside_and_reads_its_report() {
    let host = Fake::new(vec![vm(100)], |args| match args {
        ["-d", NAME, "-u", "root", "-e", "sh", "-c", PROBE_ROOT] => {
            ok("0\n/usr/local/bin/memdefrag\n")
        }
        ["-d", NAME, "-u", "root", "-e", "/usr/local/bin/memdefrag", "give-back", "--json"] => ok(
            r#"{"method":"damon","reportable_before_bytes":1,"reportable_after_bytes":2,
                "duration_ms":30000.0,"steps":[{"step":"cold","status":"ok"}]}"#,
        ),
        other => standard(other),
    });
    let options = GiveBackOptions {
        distro: Some(NAME.into()),
        wait: Duration::ZERO,
        ..GiveBackOptions::default()
    };
    let report = give_back(&host, &options).unwrap();
    let d = &report.distributions[0];
    assert_eq!(d.method, Some(GiveBackMethod::Memdefrag));
    assert_eq!(d.inside.as_ref().unwrap().method, "damon");
    assert!(d.notes.is_empty());
    assert_eq!(report.waited_ms, 0);
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn give_back_inside_that_fails_is_reported() {
    let host = Fake::new(vec![vm(100)], |args| match args {
        ["-d", NAME, "-u", "root", "-e", "sh", "-c", PROBE_ROOT] => ok("0\n/usr/bin/memdefrag\n"),
        ["-d", NAME, "-u", "root", "-e", "/usr/bin/memdefrag", "give-back", "--json"] => {
            Ok(Output {
                code: Some(3),
                stdout: br#"{"error":{"message":"no free page reporting","exit_code":3}}"#.to_vec(),
                stderr: Vec::new(),
            })
        }
        other => standard(other),
    });
    let report = give_back(
        &host,
        &GiveBackOptions {
            wait: Duration::ZERO,
            ..GiveBackOptions::default()
        },
    )
    .unwrap();
    let d = &report.distributions[0];
    assert_eq!(d.outcome, Outcome::Failed);
    assert_eq!(
        d.error.as_deref(),
        Some("memdefrag give-back inside (exit code 3): no free page reporting")
    );
    assert_eq!(report.exit_code(), 1);
}

#[test]
fn no_root_is_explained_and_nothing_runs() {
    let host = Fake::new(vec![vm(100)], |args| match args {
        ["-d", NAME, "-u", "root", "-e", "sh", "-c", PROBE_ROOT] => Ok(Output {
            code: Some(1),
            stdout: utf16("<3>WSL ERROR: getpwnam(root) failed\r\n"),
            stderr: Vec::new(),
        }),
        other => standard(other),
    });
    let report = give_back(
        &host,
        &GiveBackOptions {
            wait: Duration::ZERO,
            ..GiveBackOptions::default()
        },
    )
    .unwrap();
    let d = &report.distributions[0];
    assert_eq!(d.outcome, Outcome::NoRoot);
    assert!(d
        .error
        .as_deref()
        .unwrap()
        .starts_with("cannot run as root in 'Ubuntu 22.04 Ä'"));
    assert!(d
        .error
        .as_deref()
        .unwrap()
        .ends_with("getpwnam(root) failed)"));
    assert_eq!(report.exit_code(), 77);
    assert!(!host.calls().iter().any(|c| c.contains("drop_caches")));
}

#[test]
fn an_unknown_or_wsl1_distro_changes_nothing() {
    let host = Fake::new(vec![vm(100)], standard);
    let options = |name: &str| GiveBackOptions {
        distro: Some(name.into()),
        ..GiveBackOptions::default()
    };
    let err = give_back(&host, &options("Off")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no running WSL distribution is named 'Off' (running: Ubuntu 22.04 Ä, Legacy); \
         memdefrag does not start one"
    );
    assert_eq!(err.exit_code(), 2);
    let err = give_back(&host, &options("Legacy")).unwrap_err();
    assert!(matches!(err, WslError::Wsl1Distro(_)), "{err}");
    assert!(
        host.calls().iter().all(|c| c.starts_with("--list")),
        "{:?}",
        host.calls()
    );
}

#[test]
fn the_vm_process_is_vmmemwsl_else_the_largest_vmmem() {
    let p = |name: &str, ws: u64| VmProcess {
        name: name.into(),
        pid: ws as u32,
        working_set_bytes: ws,
        private_bytes: 0,
        cpu_time_ms: 0,
    };
    assert_eq!(
        pick_vm([p("vmmem", 5), p("VmmemWSL", 1), p("x.exe", 9)])
            .unwrap()
            .name,
        "VmmemWSL"
    );
    assert_eq!(pick_vm([p("vmmem", 5), p("Vmmem", 7)]).unwrap().pid, 7);
    assert_eq!(pick_vm([p("VMMEMWSL.EXE", 3)]).unwrap().pid, 3);
    assert!(pick_vm([p("vmmemwslx", 3), p("", 0)]).is_none());
}

#[test]
fn a_dry_run_runs_memdefrag_with_dry_run_and_the_recipe_not_at_all() {
    // Without memdefrag inside: the probe only.
    let host = Fake::new(vec![vm(2048)], standard);
    let options = GiveBackOptions {
        distro: Some(NAME.into()),
        keep_hot: Some(Duration::from_secs(90)),
        dry_run: true,
        ..GiveBackOptions::default()
    };
    let report = give_back(&host, &options).unwrap();
    assert!(report.dry_run);
    assert_eq!((report.waited_ms, &report.after), (0, &vm(2048)));
    let d = &report.distributions[0];
    assert_eq!(d.method, Some(GiveBackMethod::DropCachesCompact));
    // What would run is said, and not run.
    assert!(d.command.as_deref().unwrap().contains(RECIPE), "{d:?}");
    assert!(d.notes[0].contains("would be dropped"), "{:?}", d.notes);
    assert!(d.notes[1].contains("--keep-hot"), "{:?}", d.notes);
    let calls = host.calls();
    assert_eq!(
        calls.last().unwrap(),
        &format!("-d {NAME} -u root -e sh -c {PROBE_ROOT}")
    );
    assert!(!calls.iter().any(|c| c.contains(RECIPE)), "{calls:?}");

    // With memdefrag inside: its own dry run, with the keep-hot time.
    let host = Fake::new(vec![vm(100)], |args| match args {
        ["-d", NAME, "-u", "root", "-e", "sh", "-c", PROBE_ROOT] => ok("0\n/usr/bin/memdefrag\n"),
        ["-d", NAME, "-u", "root", "-e", "/usr/bin/memdefrag", "give-back", "--json", "--keep-hot", "1m 30s", "--dry-run"] => {
            ok(
                r#"{"dry_run":true,"method":"damon","reportable_before_bytes":1,"reportable_after_bytes":1,
                "duration_ms":2.0,"steps":[]}"#,
            )
        }
        other => standard(other),
    });
    let report = give_back(&host, &options).unwrap();
    let d = &report.distributions[0];
    assert_eq!(
        (d.method, d.outcome),
        (Some(GiveBackMethod::Memdefrag), Outcome::Ok)
    );
    assert_eq!(d.inside.as_ref().unwrap().method, "damon");
    assert_eq!(report.exit_code(), 0);
}
