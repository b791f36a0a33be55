//! `working-sets` on Linux: ask the kernel to reclaim the pages of every user process with
//! `process_madvise(MADV_PAGEOUT)`, the closest equivalent of Windows' MemoryEmptyWorkingSets.
//!
//! The kernel skips what it cannot reclaim (pages shared with other processes, anonymous pages
//! without swap) and rejects whole mappings it never reclaims (mlocked, PFN-mapped, hugetlb).
//! A process that exits or refuses while we walk is counted, never fatal.
//!
//! # References
//! - [process_madvise(2)](https://man7.org/linux/man-pages/man2/process_madvise.2.html)
//! - [madvise(2)](https://man7.org/linux/man-pages/man2/madvise.2.html), MADV_PAGEOUT
//! - [pidfd_open(2)](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)

use std::io;
use std::os::fd::AsFd;

use procfs::process::{MMapPath, Process};
use rustix::process::{pidfd_open, Pid, PidfdFlags};

use super::sys::{self, RemoteRange};
use crate::backend::{OsError, Outcome};

/// `PF_KTHREAD` of `include/linux/sched.h`, in field 9 of /proc/PID/stat.
const PF_KTHREAD: u32 = 0x0020_0000;

/// What a walk over every process did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Processes whose pages the kernel was asked to reclaim.
    pub paged_out: u64,
    /// Processes that exited while we walked.
    pub exited: u64,
    /// Processes we could not act on (permission, or their /proc entry could not be read).
    pub refused: u64,
    /// Mappings the kernel rejected (mlocked, PFN-mapped, hugetlb, unmapped meanwhile).
    pub ranges_rejected: u64,
    /// Bytes of address space advised.
    pub advised_bytes: u64,
}

impl Tally {
    pub(crate) fn into_outcome(self) -> Outcome {
        Outcome {
            counts: vec![
                ("processes", self.paged_out),
                ("exited", self.exited),
                ("refused", self.refused),
                ("ranges_rejected", self.ranges_rejected),
                ("advised_bytes", self.advised_bytes),
            ],
            notes: Vec::new(),
        }
    }
}

/// Pages out every user process except this one.
pub(crate) fn page_out_all() -> Result<Outcome, OsError> {
    let me = std::process::id() as i32;
    let entries = std::fs::read_dir("/proc").map_err(|e| OsError::from_io("read_dir /proc", &e))?;
    let mut tally = Tally::default();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid != me {
            page_out(pid, &mut tally);
        }
    }
    Ok(tally.into_outcome())
}

/// How one process ended up, for the tally.
enum Fate {
    PagedOut,
    Untouched,
    Exited,
    Refused,
}

fn page_out(pid: i32, tally: &mut Tally) {
    let fate = page_out_process(pid, tally);
    match fate {
        Fate::PagedOut => tally.paged_out += 1,
        Fate::Untouched => {}
        Fate::Exited => tally.exited += 1,
        Fate::Refused => tally.refused += 1,
    }
}

fn page_out_process(pid: i32, tally: &mut Tally) -> Fate {
    let process = match Process::new(pid) {
        Ok(p) => p,
        Err(_) => return Fate::Exited,
    };
    match process.stat() {
        // Kernel threads have no user memory to reclaim.
        Ok(stat) if stat.flags & PF_KTHREAD != 0 => return Fate::Untouched,
        Ok(_) => {}
        Err(e) => return fate_of_proc_error(&e),
    }
    // Open the pidfd before reading the maps: if the PID is reused in between, the pidfd
    // still names the process that exited, and the kernel answers ESRCH.
    let Some(pid_obj) = Pid::from_raw(pid) else {
        return Fate::Untouched;
    };
    let pidfd = match pidfd_open(pid_obj, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Fate::Exited,
        Err(_) => return Fate::Refused,
    };
    let maps = match process.maps() {
        Ok(maps) => maps,
        Err(e) => return fate_of_proc_error(&e),
    };
    let ranges: Vec<RemoteRange> = maps
        .into_iter()
        .filter(|m| {
            matches!(
                m.pathname,
                MMapPath::Path(_)
                    | MMapPath::Heap
                    | MMapPath::Stack
                    | MMapPath::TStack(_)
                    | MMapPath::Anonymous
                    | MMapPath::Vsys(_)
            )
        })
        .filter(|m| m.address.1 > m.address.0)
        .map(|m| sys::remote_range(m.address.0, m.address.1))
        .collect();
    if ranges.is_empty() {
        // A zombie, or a process between exec and its first mapping.
        return Fate::Untouched;
    }

    let mut advised_any = false;
    let mut next = 0;
    while next < ranges.len() {
        let batch = &ranges[next..ranges.len().min(next + sys::MAX_RANGES_PER_CALL)];
        match sys::process_madvise_pageout(pidfd.as_fd(), batch) {
            Ok(bytes) => {
                tally.advised_bytes += bytes as u64;
                advised_any |= bytes > 0;
                let covered = ranges_covered(batch, bytes);
                if covered == batch.len() {
                    next += covered;
                } else {
                    // The range after the covered ones failed: skip it and go on.
                    tally.ranges_rejected += 1;
                    next += covered + 1;
                }
            }
            Err(e) => match e.raw_os_error() {
                Some(libc::ESRCH) => return Fate::Exited,
                Some(libc::EPERM) | Some(libc::EACCES) => return Fate::Refused,
                Some(libc::EINTR) => {}
                _ => {
                    // EINVAL (mlocked, PFN map, hugetlb) or ENOMEM (unmapped meanwhile).
                    tally.ranges_rejected += 1;
                    next += 1;
                }
            },
        }
    }
    if advised_any {
        Fate::PagedOut
    } else {
        Fate::Untouched
    }
}

/// How many whole ranges from the start of `batch` add up to `bytes`.
fn ranges_covered(batch: &[RemoteRange], bytes: usize) -> usize {
    let mut left = bytes;
    let mut covered = 0;
    for range in batch {
        if range.iov_len > left {
            break;
        }
        left -= range.iov_len;
        covered += 1;
    }
    covered
}

fn fate_of_proc_error(e: &procfs::ProcError) -> Fate {
    match e {
        procfs::ProcError::NotFound(_) => Fate::Exited,
        procfs::ProcError::Io(io, _) if io.kind() == io::ErrorKind::NotFound => Fate::Exited,
        _ => Fate::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_counts_whole_ranges_only() {
        let batch = [
            sys::remote_range(0x1000, 0x3000),
            sys::remote_range(0x5000, 0x6000),
            sys::remote_range(0x8000, 0x9000),
        ];
        assert_eq!(ranges_covered(&batch, 0), 0);
        assert_eq!(ranges_covered(&batch, 0x2000), 1);
        assert_eq!(ranges_covered(&batch, 0x2800), 1);
        assert_eq!(ranges_covered(&batch, 0x3000), 2);
        assert_eq!(ranges_covered(&batch, 0x4000), 3);
    }
}
