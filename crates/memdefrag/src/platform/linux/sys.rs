//! The Linux system calls that neither std nor rustix wraps. All of this backend's `unsafe`
//! lives here.
//!
//! Mirrors `<sys/mman.h>` / `include/uapi/asm-generic/mman-common.h` (MADV_PAGEOUT) and the
//! `process_madvise` entry of `include/linux/syscalls.h`, through the `libc` crate's numbers.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The exit status of a [`spawn_syncfs`] child that could not open the mount point (errnos,
/// which a failed syncfs exits with, stay below it).
pub(crate) const OPEN_FAILED_EXIT: i32 = 255;

/// Starts a child process that flushes the filesystem mounted at `mount_point`, and returns its
/// pid. The child opens the mount point, calls `syncfs` on it, and exits with 0, the errno of a
/// failed syncfs, or [`OPEN_FAILED_EXIT`]. Collect it with [`reap`].
///
/// The child is forked from a process that may have other threads, so it runs nothing but
/// async-signal-safe system calls (signal, close_range or close, open, syncfs, _exit): no
/// allocation, no lock, no destructor. It closes every file it inherited first.
///
/// # References
/// - [fork(2)](https://man7.org/linux/man-pages/man2/fork.2.html), on what a child of a
///   multithreaded process may call
/// - [syncfs(2)](https://man7.org/linux/man-pages/man2/syncfs.2.html)
pub(crate) fn spawn_syncfs(mount_point: &CStr) -> io::Result<rustix::process::Pid> {
    let path = mount_point.as_ptr();
    // SAFETY: fork duplicates this process; in the child only async-signal-safe functions run
    // (signal, close_range or close, open, syncfs, _exit), and `path` points into memory allocated before the fork
    // that nothing frees in the child. The child never leaves this block but through _exit, so
    // no other Rust code, destructor or exit handler runs in it.
    let pid = unsafe {
        let pid = libc::fork();
        if pid == 0 {
            // Interrupts reach the child with the parent's process group: let them end it
            // rather than run the parent's handlers here.
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            // Hold none of the parent's files: a caller reading the parent's output until it
            // closes (a pipe, `$(memdefrag …)`) must not wait for a stuck flush.
            if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
                for fd in 0..1024 {
                    libc::close(fd);
                }
            }
            let fd = libc::open(
                path,
                libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                libc::_exit(OPEN_FAILED_EXIT);
            }
            if libc::syncfs(fd) != 0 {
                let errno = *libc::__errno_location();
                libc::_exit(errno.clamp(1, OPEN_FAILED_EXIT - 1));
            }
            libc::_exit(0);
        }
        pid
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    // A positive pid, checked above.
    Ok(rustix::process::Pid::from_raw(pid).expect("fork returned a positive pid"))
}

/// How a child process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildEnd {
    /// It exited with this status.
    Exited(i32),
    /// A signal ended it.
    Killed(i32),
}

/// Collects the child `pid` if it has ended, or `None` while it runs.
pub(crate) fn reap(pid: rustix::process::Pid) -> io::Result<Option<ChildEnd>> {
    let Some((_, status)) =
        rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG)?
    else {
        return Ok(None);
    };
    Ok(Some(
        match (status.exit_status(), status.terminating_signal()) {
            (Some(code), _) => ChildEnd::Exited(code),
            (None, Some(signal)) => ChildEnd::Killed(signal),
            // Stopped or continued: NOHANG without WUNTRACED does not report those.
            (None, None) => return Ok(None),
        },
    ))
}

/// One address range of another process, as `struct iovec` of `<sys/uio.h>`.
pub(crate) type RemoteRange = libc::iovec;

// `struct iovec` is what process_madvise reads; check the layout we hand it.
const _: () = assert!(size_of::<RemoteRange>() == 2 * size_of::<usize>());

/// The most ranges one process_madvise call accepts (UIO_MAXIOV).
pub(crate) const MAX_RANGES_PER_CALL: usize = 1024;

/// Builds a range of another process's address space, or `None` if this build cannot express
/// it (a 64-bit address seen from a 32-bit build). The pointer is never dereferenced here: the
/// kernel interprets it in the target's address space.
pub(crate) fn remote_range(start: u64, end: u64) -> Option<RemoteRange> {
    Some(libc::iovec {
        iov_base: usize::try_from(start).ok()? as *mut libc::c_void,
        iov_len: usize::try_from(end.checked_sub(start)?).ok()?,
    })
}

/// `process_madvise(pidfd, ranges, len, MADV_PAGEOUT, 0)`: asks the kernel to reclaim the pages
/// of `ranges` in the process behind `pidfd`. Returns the bytes advised, which is less than the
/// total when a range failed after earlier ones succeeded (the failing one is the first not
/// covered).
///
/// # References
/// - [process_madvise(2)](https://man7.org/linux/man-pages/man2/process_madvise.2.html)
pub(crate) fn process_madvise_pageout(
    pidfd: BorrowedFd<'_>,
    ranges: &[RemoteRange],
) -> io::Result<usize> {
    debug_assert!(ranges.len() <= MAX_RANGES_PER_CALL);
    let len = ranges.len();
    // SAFETY: `ranges` is a live slice of `len` initialized iovecs that the kernel only reads
    // during the call; the addresses inside them belong to the target process and are never
    // dereferenced in ours. `pidfd` is an open pidfd borrowed for the duration of the call. The
    // variadic arguments have the widths the kernel reads: an int fd, a pointer, a size_t, an
    // int advice and an unsigned int flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            pidfd.as_raw_fd(),
            ranges.as_ptr(),
            len,
            libc::MADV_PAGEOUT,
            0u32,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Whether the kernel has process_madvise (Linux 5.10+): calls it with an invalid pidfd, which
/// fails with EBADF where it exists and ENOSYS where it does not.
pub(crate) fn has_process_madvise() -> bool {
    // SAFETY: a null vector of length 0 and fd -1 make the kernel reject the call before it
    // reads anything; no memory of ours is touched.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_process_madvise,
            -1,
            std::ptr::null::<libc::iovec>(),
            0usize,
            libc::MADV_PAGEOUT,
            0u32,
        )
    };
    ret == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
}

/// `cachestat(2)`'s range: the whole file when `len` is 0 (`struct cachestat_range` of
/// `include/uapi/linux/mman.h`).
#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

/// `struct cachestat` of `include/uapi/linux/mman.h`: page counts.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Cachestat {
    pub nr_cache: u64,
    pub nr_dirty: u64,
    pub nr_writeback: u64,
    pub nr_evicted: u64,
    pub nr_recently_evicted: u64,
}

const _: () = assert!(size_of::<CachestatRange>() == 16);
const _: () = assert!(size_of::<Cachestat>() == 40);

/// cachestat's number: 451 on every architecture (syscalls added since 5.1 share one table);
/// the libc crate does not name it everywhere.
const SYS_CACHESTAT: libc::c_long = 451;

/// `cachestat(fd, {0, 0}, &cstat, 0)`: the page-cache state of the whole file behind `fd`
/// (Linux 6.5+; ENOSYS before).
///
/// # References
/// - [cachestat(2)](https://man7.org/linux/man-pages/man2/cachestat.2.html)
pub(crate) fn cachestat(fd: BorrowedFd<'_>) -> io::Result<Cachestat> {
    let range = CachestatRange { off: 0, len: 0 };
    let mut stat = Cachestat::default();
    // SAFETY: `range` and `stat` are live structures of the layouts the kernel reads and writes;
    // `fd` is open for the duration of the call; flags are 0.
    let ret = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            fd.as_raw_fd(),
            &raw const range,
            &raw mut stat,
            0u32,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat)
}

/// The pages of the first `len` bytes of the file behind `fd` that are in the page cache, by
/// mapping it and asking `mincore(2)` (before cachestat existed). Counts resident pages only:
/// it cannot tell dirty ones.
///
/// # References
/// - [mincore(2)](https://man7.org/linux/man-pages/man2/mincore.2.html)
pub(crate) fn resident_pages(fd: BorrowedFd<'_>, len: u64, page: u64) -> io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))?;
    // SAFETY: a fresh shared read-only mapping of `len` bytes of `fd` at an address the kernel
    // chooses; nothing of it is read here (mincore only asks the kernel about its pages).
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let pages = len.div_ceil(usize::try_from(page).unwrap_or(4096));
    let mut vec = vec![0u8; pages];
    // SAFETY: `addr` is the mapping of `len` bytes just made; `vec` has one byte per page of it.
    let ret = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: unmaps exactly the mapping made above, which nothing else uses.
    unsafe { libc::munmap(addr, len) };
    if ret != 0 {
        return Err(err);
    }
    Ok(vec.iter().filter(|&&b| b & 1 == 1).count() as u64)
}

/// `posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`: drops the clean, unmapped cached pages of the
/// whole file. Needs only an open file: no privilege.
///
/// # References
/// - [posix_fadvise(2)](https://man7.org/linux/man-pages/man2/posix_fadvise.2.html)
pub(crate) fn drop_cached_pages(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: `fd` is open for the duration of the call; the advice reads no memory of ours.
    let ret = unsafe { libc::posix_fadvise(fd.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}
