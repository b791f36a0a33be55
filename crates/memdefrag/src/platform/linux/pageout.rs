//! `working-sets` on Linux: ask the kernel to reclaim the pages of every user process (or of
//! the ones a filter chooses) with `process_madvise(MADV_PAGEOUT)`, the closest equivalent of
//! Windows' MemoryEmptyWorkingSets. Each process's resident memory is read before and after, so
//! that the report shows what moved.
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

use procfs::process::{all_processes, MMapPath, Process};
use rustix::process::{pidfd_open, Pid, PidfdFlags};

use super::sys::{self, RemoteRange};
use crate::backend::{Decision, OsError, Outcome, ProcessFilter, TrimmedProcess};

/// `PF_KTHREAD` of `include/linux/sched.h`, in field 9 of /proc/PID/stat.
const PF_KTHREAD: u32 = 0x0020_0000;

/// What a walk over every process did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Processes whose pages the kernel was asked to reclaim.
    pub paged_out: u64,
    /// Processes that exited while we walked.
    pub exited: u64,
    /// Processes the filter left alone (`--exclude` named them, or `--only` did not).
    pub excluded: u64,
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
                ("excluded", self.excluded),
                ("exited", self.exited),
                ("refused", self.refused),
                ("ranges_rejected", self.ranges_rejected),
                ("advised_bytes", self.advised_bytes),
            ],
            ..Outcome::default()
        }
    }
}

/// The names a filter may know a process by: its executable's file name and its command name.
fn names(process: &Process) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(exe) = process.exe() {
        if let Some(name) = exe.file_name().and_then(|n| n.to_str()) {
            names.push(name.to_owned());
        }
    }
    if let Ok(comm) = std::fs::read_to_string(format!("/proc/{}/comm", process.pid)) {
        let comm = comm.trim_end_matches('\n');
        if !names.iter().any(|n| n == comm) {
            names.push(comm.to_owned());
        }
    }
    names
}

/// Which of `names` name a running process (its command name, or its executable's file name
/// where this process may read it).
pub(crate) fn running(names: &[String]) -> Vec<String> {
    let Ok(processes) = all_processes() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    // A process that exited meanwhile comes as an error: it runs no more.
    for process in processes.flatten() {
        let these = self::names(&process);
        for name in names {
            if these.contains(name) && !found.contains(name) {
                found.push(name.clone());
            }
        }
        if found.len() == names.len() {
            break;
        }
    }
    found
}

/// Resident memory of `pid` (statm's resident pages), 0 when it cannot be read.
fn resident(process: &Process) -> u64 {
    process.statm().map_or(0, |m| {
        m.resident.saturating_mul(rustix::param::page_size() as u64)
    })
}

/// Pages out every user process except this one that `filter` lets through.
pub(crate) fn page_out(filter: &ProcessFilter) -> Result<Outcome, OsError> {
    let me = std::process::id() as i32;
    let processes = all_processes().map_err(|e| OsError::other(format!("read /proc: {e}")))?;
    let mut tally = Tally::default();
    let mut trimmed = Vec::new();
    let mut seen = Vec::new();
    for process in processes {
        // A process that exited between the listing and its opening comes as an error.
        let Ok(process) = process else {
            tally.exited += 1;
            continue;
        };
        let pid = process.pid;
        if pid == me {
            continue;
        }
        let names = names(&process);
        let pid_u32 = pid.unsigned_abs();
        if !filter.is_all() {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let decision = filter.decide(pid_u32, &refs, false);
            seen.push((pid_u32, names.clone()));
            if decision != Decision::Trim {
                if !is_kernel_thread(&process) {
                    tally.excluded += 1;
                }
                continue;
            }
        }
        let before = resident(&process);
        if let Fate::PagedOut = page_out_one(&process, &mut tally) {
            trimmed.push(TrimmedProcess {
                pid: pid_u32,
                name: names.first().cloned().unwrap_or_default(),
                resident_before_bytes: before,
                resident_after_bytes: resident(&process),
            });
        }
    }
    let mut notes = Vec::new();
    for unmatched in filter.unmatched(&seen, false) {
        notes.push(format!("no process matched '{unmatched}'"));
    }
    if tally.paged_out == 0 && tally.refused > 0 {
        // The capabilities are there, yet the kernel said no (a user namespace, seccomp, Yama).
        return Err(OsError::new(
            libc::EPERM.into(),
            format!(
                "process_madvise: every process refused ({} refused, {} exited)",
                tally.refused, tally.exited
            ),
        ));
    }
    let mut outcome = tally.into_outcome();
    outcome.notes = notes;
    outcome.processes = trimmed;
    Ok(outcome)
}

fn is_kernel_thread(process: &Process) -> bool {
    process
        .stat()
        .is_ok_and(|stat| stat.flags & PF_KTHREAD != 0)
}

/// How one process ended up, for the tally.
enum Fate {
    PagedOut,
    Untouched,
    Exited,
    Refused,
}

fn page_out_one(process: &Process, tally: &mut Tally) -> Fate {
    let fate = page_out_process(process, tally);
    match fate {
        Fate::PagedOut => tally.paged_out += 1,
        Fate::Untouched => {}
        Fate::Exited => tally.exited += 1,
        Fate::Refused => tally.refused += 1,
    }
    fate
}

fn page_out_process(process: &Process, tally: &mut Tally) -> Fate {
    let pid = process.pid;
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
    let ranges: Vec<(u64, u64)> = maps
        .into_iter()
        .filter(|m| pageable(&m.pathname))
        .map(|m| m.address)
        .collect();
    let ranges = split_ranges(&ranges);
    if ranges.is_empty() {
        // A zombie, or a process between exec and its first mapping.
        return Fate::Untouched;
    }
    advise_all(&ranges, tally, |batch| {
        sys::process_madvise_pageout(pidfd.as_fd(), batch)
    })
}

/// Mappings worth advising: everything but the kernel's special ones (vdso, vvar, vsyscall),
/// which the kernel rejects.
fn pageable(path: &MMapPath) -> bool {
    match path {
        MMapPath::Path(_)
        | MMapPath::Heap
        | MMapPath::Stack
        | MMapPath::TStack(_)
        | MMapPath::Anonymous
        | MMapPath::Vsys(_) => true,
        // Named anonymous memory (PR_SET_VMA_ANON_NAME): "[anon:name]", "[anon_shmem:name]".
        MMapPath::Other(name) => name.starts_with("[anon"),
        MMapPath::Vdso | MMapPath::Vvar | MMapPath::Vsyscall | MMapPath::Rollup => false,
    }
}

/// The most bytes one call advises: the kernel silently shortens a vector to MAX_RW_COUNT
/// (INT_MAX rounded down to a page), which would look like a failed range.
const MAX_BYTES_PER_CALL: u64 = (i32::MAX as u64) & !0xfff;

/// The ranges as iovecs, none longer than one call may cover, and none that this process
/// cannot address (a 64-bit target seen from a 32-bit build).
fn split_ranges(ranges: &[(u64, u64)]) -> Vec<RemoteRange> {
    let mut out = Vec::with_capacity(ranges.len());
    for &(start, end) in ranges {
        let mut at = start;
        while at < end {
            let piece_end = end.min(at.saturating_add(MAX_BYTES_PER_CALL));
            match sys::remote_range(at, piece_end) {
                Some(range) => out.push(range),
                None => break,
            }
            at = piece_end;
        }
    }
    out
}

/// Advises every range through `call` (one process_madvise), in batches the kernel takes whole,
/// skipping the ranges it rejects.
fn advise_all(
    ranges: &[RemoteRange],
    tally: &mut Tally,
    mut call: impl FnMut(&[RemoteRange]) -> io::Result<usize>,
) -> Fate {
    let mut advised_any = false;
    let mut next = 0;
    let mut interrupted = 0;
    while next < ranges.len() {
        let batch = &ranges[next..next + batch_len(&ranges[next..])];
        match call(batch) {
            Ok(bytes) => {
                tally.advised_bytes += bytes as u64;
                advised_any |= bytes > 0;
                let covered = ranges_covered(batch, bytes);
                if covered == batch.len() {
                    next += covered;
                } else {
                    // The batch fits in one call, so a short count means the range after the
                    // covered ones failed: skip it and go on.
                    tally.ranges_rejected += 1;
                    next += covered + 1;
                }
            }
            Err(e) => match e.raw_os_error() {
                Some(libc::ESRCH) => return Fate::Exited,
                Some(libc::EPERM) | Some(libc::EACCES) => return Fate::Refused,
                Some(libc::EINTR) if interrupted < 3 => interrupted += 1,
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

/// How many ranges from the start of `ranges` one call takes whole: at most
/// [`sys::MAX_RANGES_PER_CALL`] of them and [`MAX_BYTES_PER_CALL`] bytes, and at least one.
fn batch_len(ranges: &[RemoteRange]) -> usize {
    let mut bytes = 0u64;
    let mut len = 0;
    for range in ranges.iter().take(sys::MAX_RANGES_PER_CALL) {
        bytes += range.iov_len as u64;
        if bytes > MAX_BYTES_PER_CALL && len > 0 {
            break;
        }
        len += 1;
    }
    len
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

    fn range(start: u64, end: u64) -> RemoteRange {
        sys::remote_range(start, end).unwrap()
    }

    #[test]
    fn covered_counts_whole_ranges_only() {
        let batch = [
            range(0x1000, 0x3000),
            range(0x5000, 0x6000),
            range(0x8000, 0x9000),
        ];
        assert_eq!(ranges_covered(&batch, 0), 0);
        assert_eq!(ranges_covered(&batch, 0x2000), 1);
        assert_eq!(ranges_covered(&batch, 0x2800), 1);
        assert_eq!(ranges_covered(&batch, 0x3000), 2);
        assert_eq!(ranges_covered(&batch, 0x4000), 3);
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn large_mappings_are_split_and_batches_stay_under_the_kernels_cap() {
        let ranges = split_ranges(&[
            (0x10000, 0x10000 + 5 * GIB),
            (0x7f00_0000_0000, 0x7f00_0000_1000),
        ]);
        assert!(ranges
            .iter()
            .all(|r| r.iov_len as u64 <= MAX_BYTES_PER_CALL));
        let total: u64 = ranges.iter().map(|r| r.iov_len as u64).sum();
        assert_eq!(total, 5 * GIB + 0x1000);
        let mut at = 0;
        while at < ranges.len() {
            let n = batch_len(&ranges[at..]);
            assert!(n >= 1);
            let bytes: u64 = ranges[at..at + n].iter().map(|r| r.iov_len as u64).sum();
            assert!(bytes <= MAX_BYTES_PER_CALL, "batch of {bytes}");
            at += n;
        }
        let many: Vec<RemoteRange> = (0..3000u64)
            .map(|i| range(i * 0x2000, i * 0x2000 + 0x1000))
            .collect();
        assert_eq!(batch_len(&many), sys::MAX_RANGES_PER_CALL);
    }

    /// Runs `advise_all` over `n` one-page ranges with a scripted kernel.
    fn advise(
        n: u64,
        mut kernel: impl FnMut(&[RemoteRange]) -> io::Result<usize>,
    ) -> (Tally, Vec<u64>) {
        let ranges: Vec<RemoteRange> = (0..n)
            .map(|i| range(i * 0x10000, i * 0x10000 + 0x1000))
            .collect();
        let mut tally = Tally::default();
        let mut starts = Vec::new();
        let fate = advise_all(&ranges, &mut tally, |batch| {
            starts.push(batch[0].iov_base as u64 / 0x10000);
            kernel(batch)
        });
        let code = match fate {
            Fate::PagedOut => 0,
            Fate::Untouched => 1,
            Fate::Exited => 2,
            Fate::Refused => 3,
        };
        starts.push(100 + code);
        (tally, starts)
    }

    #[test]
    fn a_rejected_range_in_the_middle_is_skipped() {
        // Ranges 0 and 1 advised, range 2 rejected (short count), then the rest from range 3.
        let mut calls = 0;
        let (tally, starts) = advise(5, |batch| {
            calls += 1;
            Ok(if calls == 1 {
                2 * 0x1000
            } else {
                batch.len() * 0x1000
            })
        });
        assert_eq!(starts, [0, 3, 100]);
        assert_eq!(tally.ranges_rejected, 1);
        assert_eq!(tally.advised_bytes, 4 * 0x1000);
    }

    #[test]
    fn an_error_on_the_first_range_skips_only_that_range() {
        let mut calls = 0;
        let (tally, starts) = advise(3, |batch| {
            calls += 1;
            match calls {
                1 => Err(io::Error::from_raw_os_error(libc::EINVAL)),
                2 => Err(io::Error::from_raw_os_error(libc::EINTR)),
                _ => Ok(batch.len() * 0x1000),
            }
        });
        assert_eq!(starts, [0, 1, 1, 100], "EINTR retries the same batch");
        assert_eq!(tally.ranges_rejected, 1);
    }

    #[test]
    fn exit_and_refusal_end_the_process_walk() {
        let (_, starts) = advise(3, |_| Err(io::Error::from_raw_os_error(libc::ESRCH)));
        assert_eq!(starts, [0, 102]);
        let (_, starts) = advise(3, |_| Err(io::Error::from_raw_os_error(libc::EPERM)));
        assert_eq!(starts, [0, 103]);
        let (tally, starts) = advise(3, |_| Err(io::Error::from_raw_os_error(libc::EINVAL)));
        assert_eq!(starts, [0, 1, 2, 101], "nothing advised: untouched");
        assert_eq!(tally.ranges_rejected, 3);
    }

    #[test]
    fn special_mappings_are_left_alone() {
        assert!(pageable(&MMapPath::Anonymous));
        assert!(pageable(&MMapPath::Other("[anon:dalvik-heap]".into())));
        assert!(pageable(&MMapPath::Other("[anon_shmem:x]".into())));
        assert!(!pageable(&MMapPath::Vdso));
        assert!(!pageable(&MMapPath::Other("[vvar_vclock]".into())));
    }
}
