//! Shared helpers: running the binary, reading its JSON, and serializing kernel-state tests.

// Each platform's test module uses its own subset of these.
#![cfg_attr(not(any(target_os = "linux", windows)), allow(dead_code))]

use std::fs::File;
use std::process::{Command, Output};

/// The memdefrag binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_memdefrag")
}

/// Runs memdefrag with `args`.
pub fn memdefrag(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run memdefrag")
}

/// Runs memdefrag with `args` and parses its stdout as JSON.
pub fn memdefrag_json(args: &[&str]) -> (Output, serde_json::Value) {
    let out = memdefrag(args);
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "memdefrag {args:?} printed no JSON ({e}); status {:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, value)
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// Runs `program args`, requires success (else panics with its stderr), returns its stdout.
#[cfg(target_os = "linux")]
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits for a forked child's one-byte "ready" on the read end `fd` of a pipe, then closes it.
/// Whether the byte came (EOF means the child gave up).
#[cfg(target_os = "linux")]
pub fn child_ready(fd: libc::c_int) -> bool {
    let mut buf = [0u8; 1];
    // SAFETY: reading one byte into a live buffer, then closing our own descriptor.
    unsafe {
        let n = libc::read(fd, buf.as_mut_ptr().cast(), 1);
        libc::close(fd);
        n == 1
    }
}

/// Serializes the tests that change or observe global kernel state (page cache, dirty pages,
/// slab, compaction), across threads and across test processes.
pub fn kernel_state_lock() -> File {
    let file = File::create(std::env::temp_dir().join("memdefrag-tests-kernel-state.lock"))
        .expect("create lock file");
    file.lock().expect("lock");
    file
}

/// Serializes the tests that start a service process or call the service dispatcher. Wine's
/// service manager hands a starting service its control pipe under a name any process can open,
/// so a dispatcher called by one test while another test's service starts can connect to the
/// wrong pipe and take that service's place.
#[cfg(windows)]
pub fn service_start_lock() -> File {
    let file = File::create(std::env::temp_dir().join("memdefrag-tests-service-start.lock"))
        .expect("create lock file");
    file.lock().expect("lock");
    file
}

/// Names of the operations of a JSON report, in order.
pub fn op_names(report: &serde_json::Value) -> Vec<String> {
    report["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|o| o["op"].as_str().expect("op").to_owned())
        .collect()
}

/// Asserts that every operation of a JSON report succeeded, and was timed.
#[track_caller]
pub fn assert_all_ok(report: &serde_json::Value) {
    for o in report["operations"].as_array().expect("operations") {
        assert_eq!(o["status"], "ok", "{o}");
        // Every operation makes at least one system call (and takes microseconds at least);
        // none of these takes ten minutes.
        let duration = o["duration_ms"].as_f64().expect("duration_ms");
        assert!(duration > 0.0 && duration < 600_000.0, "{o}");
        assert!(o["kernel_call"].as_str().is_some_and(|s| !s.is_empty()));
    }
}

/// Fails a test that needs root when it runs as another user.
#[cfg(target_os = "linux")]
#[track_caller]
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root: run it through scripts/test as root"
    );
}

/// Fails a test that needs an elevated process when it runs without the privileges, as
/// memdefrag itself sees them (its dry run says whether they are held).
#[cfg(windows)]
#[track_caller]
pub fn require_elevation() {
    let (_, dry) = memdefrag_json(&["purge", "standby", "--dry-run", "--json"]);
    assert_eq!(
        dry["operations"][0]["privileged"], true,
        "this test needs an elevated prompt (on Linux, scripts/test runs it under Wine)"
    );
}

/// The row of `memdefrag ops --json` for the operation `name`.
#[cfg(target_os = "linux")]
pub fn ops_row(name: &str) -> serde_json::Value {
    let (_, ops) = memdefrag_json(&["ops", "--json"]);
    ops.as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no operation {name} in {ops}"))
}

/// An operation this system does not support (every platform lacks one: Linux the registry,
/// Windows compaction).
pub fn unsupported_op() -> String {
    let (_, ops) = memdefrag_json(&["ops", "--json"]);
    ops.as_array()
        .unwrap()
        .iter()
        .find(|o| o["supported"] == false)
        .and_then(|o| o["op"].as_str())
        .expect("an unsupported operation")
        .to_owned()
}
