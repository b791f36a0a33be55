//! `modified` on Linux: each mounted filesystem flushed by its own `syncfs`, in a child process,
//! against a deadline.
//!
//! `sync()` waits for every filesystem in one call: with one dead NFS server or stalled device
//! it never returns. Here each filesystem (each superblock, once) gets a child process that opens
//! its mount point and calls `syncfs`, and this process waits for the children until the
//! deadline; past it, the operation fails naming the filesystems still flushing. A child stuck in
//! the kernel stays stuck, but it does not hold this process: a thread stuck there would (a
//! process ends only when all of its threads have), a child does not.
//!
//! A filesystem whose flush from an earlier run is still going is not flushed again: that child
//! is waited for instead, so a `watch` does not pile up stuck flushes.
//!
//! # References
//! - [syncfs(2)](https://man7.org/linux/man-pages/man2/syncfs.2.html)
//! - [proc_pid_mountinfo(5)](https://man7.org/linux/man-pages/man5/proc_pid_mountinfo.5.html)

use std::ffi::CString;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::sys::{self, ChildEnd};
use crate::backend::{OsError, Outcome};
use crate::stop::Stop;

/// Filesystem types that keep nothing to write back (no backing store): flushing them is a
/// no-op, so they get no child.
const NOTHING_TO_WRITE_BACK: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// One line of /proc/self/mountinfo, as far as flushing needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The filesystem's device, `major:minor`: one per superblock.
    pub device: String,
    /// The directory of the filesystem this mount shows (`/` for the whole filesystem).
    pub root: String,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Its type (`ext4`, `nfs4`, `fuse.sshfs` …).
    pub fs_type: String,
    /// Whether the filesystem itself (not just this mount) is read-only.
    pub read_only: bool,
}

/// A filesystem to flush: the first mount that shows all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Filesystem {
    pub device: String,
    pub mount_point: PathBuf,
    pub fs_type: String,
}

impl Filesystem {
    fn describe(&self) -> String {
        format!("{} ({})", self.mount_point.display(), self.fs_type)
    }
}

/// The filesystems that may hold dirty data, each once: read-only ones and those with no
/// backing store are left out; of several mounts of one filesystem, one that shows all of it
/// (root `/`) is preferred, since a bind mount may be a single file.
pub(crate) fn filesystems_to_flush(mounts: &[Mount]) -> Vec<Filesystem> {
    let mut chosen: Vec<(Filesystem, bool)> = Vec::new();
    for mount in mounts {
        if mount.read_only || NOTHING_TO_WRITE_BACK.contains(&mount.fs_type.as_str()) {
            continue;
        }
        let whole = mount.root == "/";
        let candidate = Filesystem {
            device: mount.device.clone(),
            mount_point: mount.mount_point.clone(),
            fs_type: mount.fs_type.clone(),
        };
        match chosen.iter_mut().find(|(fs, _)| fs.device == mount.device) {
            Some(entry) if !entry.1 && whole => *entry = (candidate, true),
            Some(_) => {}
            None => chosen.push((candidate, whole)),
        }
    }
    chosen.into_iter().map(|(fs, _)| fs).collect()
}

/// The mounts of this process's mount namespace.
fn mounts() -> Result<Vec<Mount>, OsError> {
    let infos = procfs::process::Process::myself()
        .and_then(|p| p.mountinfo())
        .map_err(|e| OsError::other(format!("read /proc/self/mountinfo: {e}")))?;
    Ok(infos
        .into_iter()
        .map(|m| Mount {
            device: m.majmin,
            root: m.root,
            read_only: m.super_options.contains_key("ro"),
            mount_point: m.mount_point,
            fs_type: m.fs_type,
        })
        .collect())
}

/// A flush started in a child process and not yet seen to finish.
#[derive(Debug)]
struct Flushing {
    pid: rustix::process::Pid,
    filesystem: Filesystem,
    started: Instant,
}

/// Flushes whose child had not finished when their run gave up on them. Process-wide, like the
/// children themselves.
static STILL_FLUSHING: Mutex<Vec<Flushing>> = Mutex::new(Vec::new());

/// How one filesystem's flush ended.
enum Ended {
    /// syncfs returned; how long it took.
    Flushed(Duration),
    /// The child could not open the mount point.
    NotOpened,
    /// syncfs failed: the errno.
    Failed(i32),
    /// A signal ended the child before syncfs returned.
    Killed(i32),
}

/// Flushes every filesystem that may hold dirty data, each in a child process, and waits for
/// them until `timeout` has passed or `stop` is requested.
pub(crate) fn flush_all(timeout: Duration, stop: &Stop) -> Result<Outcome, OsError> {
    let start = Instant::now();
    let deadline = start + timeout;
    let filesystems = filesystems_to_flush(&mounts()?);
    let mut still = STILL_FLUSHING
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // Children of earlier runs that have finished since are done with; the others are waited
    // for again rather than joined by a second stuck child.
    still.retain(|f| matches!(sys::reap(f.pid), Ok(None)));
    let mut pending: Vec<Flushing> = Vec::with_capacity(filesystems.len());
    let mut ended: Vec<(Filesystem, Ended)> = Vec::with_capacity(filesystems.len());
    for filesystem in filesystems {
        if let Some(i) = still
            .iter()
            .position(|f| f.filesystem.device == filesystem.device)
        {
            pending.push(still.swap_remove(i));
            continue;
        }
        let path = CString::new(filesystem.mount_point.as_os_str().as_bytes())
            .map_err(|_| OsError::other("a mount point with a NUL byte"))?;
        match sys::spawn_syncfs(&path) {
            Ok(pid) => pending.push(Flushing {
                pid,
                filesystem,
                started: Instant::now(),
            }),
            Err(e) => {
                // Without a child (out of processes) nothing can be flushed safely.
                still.append(&mut pending);
                return Err(OsError::from_io("fork a flushing process", &e));
            }
        }
    }
    // Poll often at first (most flushes take milliseconds), then less.
    let mut pause = Duration::from_millis(1);
    loop {
        pending.retain(|f| {
            let how = match sys::reap(f.pid) {
                Ok(None) => return true,
                Ok(Some(ChildEnd::Exited(0))) => Ended::Flushed(f.started.elapsed()),
                Ok(Some(ChildEnd::Exited(sys::OPEN_FAILED_EXIT))) => Ended::NotOpened,
                Ok(Some(ChildEnd::Exited(errno))) => Ended::Failed(errno),
                Ok(Some(ChildEnd::Killed(signal))) => Ended::Killed(signal),
                // Not our child any more (collected elsewhere): nothing left to wait for.
                Err(_) => return false,
            };
            ended.push((f.filesystem.clone(), how));
            false
        });
        let now = Instant::now();
        if pending.is_empty() || now >= deadline {
            break;
        }
        if stop.is_requested() {
            let err = interrupted(&pending);
            still.append(&mut pending);
            return Err(err);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    if !pending.is_empty() {
        let err = timed_out(timeout, &pending);
        still.append(&mut pending);
        return Err(err);
    }
    drop(still);
    summarize(&ended)
}

/// The error of a flush past its deadline: which filesystems are still flushing, and for how
/// long (a flush carried over from an earlier run counts from its start).
fn timed_out(timeout: Duration, pending: &[Flushing]) -> OsError {
    let mut message = format!(
        "the flush did not finish within {}; still flushing: {}",
        humantime::format_duration(timeout),
        still_flushing(pending)
    );
    message.push_str(
        " (the kernel goes on flushing them; memdefrag does not wait, and will not start a \
         second flush of them while these last)",
    );
    OsError::new(libc::ETIMEDOUT.into(), message)
}

/// The error of a flush cut short by a stop request.
fn interrupted(pending: &[Flushing]) -> OsError {
    OsError::new(
        libc::EINTR.into(),
        format!(
            "interrupted while flushing {} (the kernel goes on flushing)",
            still_flushing(pending)
        ),
    )
}

/// "/mnt (nfs4) for 61.2 s, …"
fn still_flushing(pending: &[Flushing]) -> String {
    let mut text = String::new();
    for (i, f) in pending.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(
            text,
            "{} for {:.1} s",
            f.filesystem.describe(),
            f.started.elapsed().as_secs_f64()
        );
    }
    text
}

/// The outcome of a flush where every child finished: a write-back error fails it (data did not
/// reach the disk); a mount point that could not be opened (gone, or not readable by this user)
/// is a note.
fn summarize(ended: &[(Filesystem, Ended)]) -> Result<Outcome, OsError> {
    let mut outcome = Outcome::default();
    let mut flushed: Vec<(&Filesystem, Duration)> = Vec::new();
    for (filesystem, how) in ended {
        match *how {
            Ended::Flushed(took) => flushed.push((filesystem, took)),
            Ended::NotOpened => outcome.notes.push(format!(
                "{} was not flushed: its mount point could not be opened",
                filesystem.describe()
            )),
            Ended::Killed(signal) => {
                return Err(OsError::other(format!(
                    "the flush of {} was ended by signal {signal}",
                    filesystem.describe()
                )))
            }
            Ended::Failed(errno) => {
                let err = std::io::Error::from_raw_os_error(errno);
                return Err(OsError::new(
                    errno.into(),
                    format!("syncfs {}: {err}", filesystem.describe()),
                ));
            }
        }
    }
    outcome.counts.push(("filesystems", flushed.len() as u64));
    if let Some((filesystem, took)) = flushed.iter().max_by_key(|(_, took)| *took) {
        outcome.notes.push(format!(
            "slowest flush: {} in {:.1} ms",
            filesystem.describe(),
            took.as_secs_f64() * 1000.0
        ));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(device: &str, root: &str, at: &str, fs_type: &str, read_only: bool) -> Mount {
        Mount {
            device: device.into(),
            root: root.into(),
            mount_point: at.into(),
            fs_type: fs_type.into(),
            read_only,
        }
    }

    #[test]
    fn each_writable_filesystem_once_preferring_a_mount_of_all_of_it() {
        let mounts = [
            mount("0:22", "/", "/proc", "proc", false),
            mount("8:1", "/etc/resolv.conf", "/run/resolv.conf", "ext4", false),
            mount("8:1", "/", "/", "ext4", false),
            mount("8:1", "/home", "/home", "ext4", false),
            mount("0:30", "/", "/tmp", "tmpfs", false),
            mount("7:0", "/", "/snap/core", "squashfs", true),
            mount("0:50", "/", "/mnt/nfs", "nfs4", false),
            mount("0:51", "/", "/mnt/fuse", "fuse.sshfs", false),
        ];
        let chosen: Vec<(String, String)> = filesystems_to_flush(&mounts)
            .into_iter()
            .map(|f| (f.mount_point.display().to_string(), f.fs_type))
            .collect();
        assert_eq!(
            chosen,
            [
                ("/".to_owned(), "ext4".to_owned()),
                ("/mnt/nfs".to_owned(), "nfs4".to_owned()),
                ("/mnt/fuse".to_owned(), "fuse.sshfs".to_owned()),
            ]
        );
    }

    #[test]
    fn a_filesystem_seen_only_through_a_bind_mount_is_flushed_through_it() {
        let mounts = [mount("8:2", "/data/sub", "/srv", "xfs", false)];
        let chosen = filesystems_to_flush(&mounts);
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].mount_point, PathBuf::from("/srv"));
    }

    #[test]
    fn this_machines_mounts_read_and_include_the_root_filesystem() {
        let filesystems = filesystems_to_flush(&mounts().unwrap());
        let root = std::fs::metadata("/").unwrap();
        // The root filesystem is flushed unless it is read-only or has no backing store.
        let root_listed = filesystems.iter().any(|f| {
            std::fs::metadata(&f.mount_point).is_ok_and(|m| {
                std::os::unix::fs::MetadataExt::dev(&m)
                    == std::os::unix::fs::MetadataExt::dev(&root)
            })
        });
        let root_type = mounts()
            .unwrap()
            .into_iter()
            .rfind(|m| m.mount_point == std::path::Path::new("/"))
            .unwrap();
        assert_eq!(
            root_listed,
            !root_type.read_only && !NOTHING_TO_WRITE_BACK.contains(&root_type.fs_type.as_str()),
            "{filesystems:?}"
        );
    }
}
