//! The measurements the benchmark takes from the kernel: file residency, process times, faults.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::files::meminfo;

/// The smallest page the helpers touch or free one at a time (the system's page size).
pub fn page() -> usize {
    crate::files::page_size()
}

/// Bytes of `path` in the page cache.
pub fn resident_bytes(path: &Path) -> u64 {
    (crate::files::resident_pages(path).0 * page()) as u64
}

/// Writes `len` bytes of varied data to `path`, flushed to disk: clean pages.
pub fn write_file(path: &Path, len: u64) {
    crate::files::write_file(path, len as usize, true);
}

/// Drops `path`'s clean pages from the page cache (posix_fadvise DONTNEED), so that the next
/// read charges them to the reader's memory cgroup.
pub fn evict(path: &Path) {
    let file = File::open(path).expect("open");
    // SAFETY: an open descriptor; advice only.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

/// Reads the whole of `path` through the page cache.
pub fn read_through(path: &Path) {
    use std::io::Read;
    let mut file = File::open(path).expect("open");
    let mut buf = vec![0u8; 1 << 20];
    while file.read(&mut buf).expect("read") > 0 {}
}

/// A process's major page faults so far (field 12 of /proc/PID/stat).
pub fn major_faults(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    rest.split_whitespace()
        .nth(9)
        .expect("majflt")
        .parse()
        .expect("majflt")
}

/// What a whole process cost: wall time, and its user and system CPU time.
#[derive(Clone, Copy, Debug)]
pub struct Cost {
    pub wall: Duration,
    pub cpu: Duration,
    /// Exited with status 0.
    pub success: bool,
    /// Ended by SIGKILL (the OOM killer, for a squeezer).
    pub killed: bool,
}

/// Waits for `child` and returns its cost, timed from `start`.
pub fn wait_cost(child: Child, start: Instant) -> Cost {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unreaped child; both out pointers are live.
    let rc = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    let wall = start.elapsed();
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    // The Child was reaped by wait4: forget it so that its Drop does not touch the PID again.
    std::mem::forget(child);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Cost {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        killed: libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
    }
}

/// Runs `program args` to completion, output discarded, and returns its cost.
pub fn run_cost(program: &str, args: &[&str]) -> Cost {
    let start = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    wait_cost(child, start)
}
