//! Every error path of the command line, from one table: each bad request exits with its
//! documented code and a one-line reason, prints nothing on stdout (a usage error), and changes
//! nothing: a file in the page cache stays there.

use crate::util::{memdefrag, stderr};

/// The arguments, the exit code, and words the reason (the first line on stderr) contains.
const BAD_REQUESTS: &[(&[&str], i32, &str)] = &[
    // Missing and unknown.
    (&["frobnicate"], 2, "unrecognized subcommand"),
    (&["purge"], 2, "required arguments were not provided"),
    (
        &["purge", "no-such-op"],
        2,
        "unknown operation 'no-such-op'",
    ),
    (
        &["purge", "standby", "--no-such-flag"],
        2,
        "unexpected argument",
    ),
    (&["files"], 2, "required arguments were not provided"),
    (&["evict"], 2, "required arguments were not provided"),
    (&["watch"], 2, "no trigger"),
    (
        &["purge", "standby", "--flush-timeout"],
        2,
        "a value is required",
    ),
    // Repeated.
    (
        &["purge", "standby", "--dry-run", "--dry-run"],
        2,
        "cannot be used multiple times",
    ),
    (
        &["status", "--json", "--json"],
        2,
        "cannot be used multiple times",
    ),
    (
        &["watch", "--every", "1s", "--every", "2s"],
        2,
        "cannot be used multiple times",
    ),
    // Conflicting.
    (&["purge", "standby", "--only", "sshd"], 2, "working-sets"),
    (&["purge", "modified", "--exclude", "1"], 2, "working-sets"),
    (&["watch", "--every", "1s", "--once"], 2, "--once"),
    (&["watch", "--standby-above", "1GiB"], 2, "go together"),
    (&["watch", "--free-below", "10%"], 2, "go together"),
    // Out of range.
    (&["watch", "--usage-above", "101"], 2, "from 0 to 100"),
    (&["watch", "--usage-above", "-1"], 2, "unexpected argument"),
    (
        &["watch", "--usage-above", "50", "--interval", "0s"],
        2,
        "--interval",
    ),
    (
        &["watch", "--usage-above", "50", "--cooldown", "2d"],
        2,
        "--cooldown",
    ),
    (
        &["purge", "standby", "--flush-timeout", "0s"],
        2,
        "longer than 0",
    ),
    (
        &["purge", "standby", "--flush-timeout", "2d"],
        2,
        "at most 1 day",
    ),
    (&["files", "--top", "0", "/etc"], 2, "--top"),
    // Empty and huge values.
    (
        &["purge", "standby", "--flush-timeout", ""],
        2,
        "not a duration",
    ),
    (
        &["purge", "working-sets", "--only", ""],
        2,
        "an empty process name",
    ),
    (
        &["watch", "--usage-above", "50", "--pause-while", ""],
        2,
        "an empty process name",
    ),
    (&["watch", "--usage-above", ""], 2, "not a percentage"),
    (
        &[
            "watch",
            "--standby-above",
            "99999999999TiB",
            "--free-below",
            "1%",
        ],
        2,
        "too large",
    ),
    (
        &[
            "purge",
            "modified",
            "--flush-timeout",
            "99999999999999999999999999s",
        ],
        2,
        "not a duration",
    ),
    (
        &["watch", "--usage-above", "50", "--metrics-listen", "nope"],
        2,
        "socket address",
    ),
    // Paths that do not exist or cannot be written.
    (&["files", "/nonexistent/memdefrag"], 1, "could not be read"),
    (&["evict", "/nonexistent/memdefrag"], 1, "could not be read"),
    (
        &["metrics", "--output", "/nonexistent/dir/memdefrag.prom"],
        1,
        "write",
    ),
];

#[test]
fn every_bad_request_exits_with_its_code_and_one_line_of_reason_and_changes_nothing() {
    #[cfg(target_os = "linux")]
    let _lock = crate::util::kernel_state_lock();
    #[cfg(target_os = "linux")]
    let cached = crate::pagecache::CachedFile::new(32 << 20);
    let mut wrong = Vec::new();
    for &(args, code, reason) in BAD_REQUESTS {
        let out = memdefrag(args);
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or_default();
        if out.status.code() != Some(code) || !first.contains(reason) {
            wrong.push(format!(
                "{args:?}: exit {:?} (expected {code}), first line {first:?} (expected {reason:?})",
                out.status.code()
            ));
        }
        if code == 2 && !out.stdout.is_empty() {
            wrong.push(format!("{args:?}: a usage error printed to stdout"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    #[cfg(target_os = "linux")]
    assert!(
        cached.residency() > 0.9,
        "a rejected request dropped the cache: {}",
        cached.residency()
    );
}

/// Non-UTF-8 arguments are a usage error, not a panic.
#[cfg(unix)]
#[test]
fn a_non_utf8_argument_is_a_usage_error() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::process::Command;

    use crate::util::bin;

    for args in [
        &[OsStr::new("purge"), OsStr::from_bytes(b"stand\xffby")][..],
        &[OsStr::new("files"), OsStr::from_bytes(b"/tmp/\xff\xfe")][..],
        &[
            OsStr::new("watch"),
            OsStr::new("--every"),
            OsStr::from_bytes(b"1\xffs"),
        ][..],
    ] {
        let out = Command::new(bin()).args(args).output().unwrap();
        let code = out.status.code();
        let err = String::from_utf8_lossy(&out.stderr);
        // `files` takes paths, which need not be UTF-8: that one is a path that does not exist.
        let expected = if args[0] == "files" { 1 } else { 2 };
        assert_eq!(code, Some(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Output that cannot be written: a full disk is an error that says so (exit 1); a reader that
/// went away (`| head -1`) ends the program quietly. Never a panic.
#[cfg(unix)]
#[test]
fn stdout_full_or_closed_is_an_error_or_a_quiet_end_never_a_panic() {
    use std::process::{Command, Stdio};

    use crate::util::bin;

    for args in [&["status"][..], &["ops", "--json"], &["metrics"]] {
        let full = Command::new(bin())
            .args(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&full.stderr);
        assert_eq!(full.status.code(), Some(1), "{args:?} > /dev/full: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");

        // A pipe whose reader closes at once.
        let mut child = Command::new(bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?} | (closed): {err}");
        assert!(
            matches!(out.status.code(), Some(0) | Some(1)),
            "{args:?} | (closed): {:?} {err}",
            out.status
        );
    }
}

/// A path this user may not read is listed under the errors, with the others still measured,
/// and exits 1: run as nobody on a file only root may read.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root; scripts/test runs it"]
fn root_an_unreadable_path_is_listed_and_exits_1() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    crate::util::require_root();
    let dir = crate::pagecache::disk_tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = dir.path().join("secret");
    let public = dir.path().join("public");
    for (path, mode) in [(&secret, 0o600), (&public, 0o644)] {
        std::fs::write(path, b"data").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    // Nobody's own file: the kernel tells a file's cache to its owner (cachestat, Linux 6.14+).
    std::os::unix::fs::chown(&public, Some(65534), Some(65534)).unwrap();
    for command in ["files", "evict"] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(crate::util::bin())
            .args([command, "--json"])
            .args([&secret, &public])
            .output()
            .expect("run setpriv");
        assert_eq!(out.status.code(), Some(1), "{command}: {}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let errors = report["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{command}: {report}");
        assert!(
            errors[0].to_string().contains("secret") && errors[0].to_string().contains("denied"),
            "{command}: {report}"
        );
        assert_eq!(
            report["files"].as_array().unwrap().len(),
            1,
            "{command}: {report}"
        );
        assert_eq!(
            stderr(&out).lines().count(),
            1,
            "{command}: {}",
            stderr(&out)
        );
    }
}
