//! The Linux system calls that neither std nor rustix wraps. All of this backend's `unsafe`
//! lives here.
//!
//! Mirrors `<sys/mman.h>` / `include/uapi/asm-generic/mman-common.h` (MADV_PAGEOUT) and the
//! `process_madvise` entry of `include/linux/syscalls.h`, through the `libc` crate's numbers.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

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
