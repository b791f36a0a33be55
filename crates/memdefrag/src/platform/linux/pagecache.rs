//! One file's pages in the page cache: how many, how many dirty or under writeback, and dropping
//! the clean ones.
//!
//! `cachestat(2)` (Linux 6.5) counts cached, dirty and writeback pages in one call; before it,
//! the file is mapped and `mincore(2)` counts its resident pages (dirty ones cannot be told
//! apart). Both count whole pages, as util-linux `fincore` does.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};

use super::sys;
use crate::platform::FilePages;

/// The page size, in bytes.
fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// The cache state of `file`, `size` bytes long.
pub(crate) fn file_pages(file: &File, size: u64) -> io::Result<FilePages> {
    let page = page_size();
    match sys::cachestat(file.as_fd()) {
        Ok(stat) => Ok(FilePages {
            cached_bytes: stat.nr_cache * page,
            dirty_bytes: Some(stat.nr_dirty * page),
            writeback_bytes: Some(stat.nr_writeback * page),
            source: "cachestat",
        }),
        // Since Linux 6.14 the kernel tells a file's cache only to its owner and to who may
        // write it; mincore would then pretend every page is resident, so it is not asked.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(not_told()),
        // Before 6.5: mincore, which has answered only those same callers truthfully since
        // Linux 5.2 (to anyone else every page of the file reads as resident).
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            if !mincore_tells_the_truth(file)? {
                return Err(not_told());
            }
            Ok(FilePages {
                cached_bytes: sys::resident_pages(file.as_fd(), size, page)? * page,
                dirty_bytes: None,
                writeback_bytes: None,
                source: "mincore",
            })
        }
        Err(e) => Err(e),
    }
}

fn not_told() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "the kernel reports a file's cache only to its owner or to who may write it",
    )
}

/// Whether mincore(2) reports `file`'s pages as they are to this process: the kernel's
/// `can_do_mincore` requires the caller to own the file (or hold CAP_FOWNER) or to be allowed to
/// write it. Ownership is compared with the effective user ID; write permission is asked of the
/// kernel (`faccessat` with the effective IDs, through /proc/self/fd). A file only CAP_FOWNER
/// would let us see on a read-only filesystem counts as hidden: the answer errs on the side of
/// "unmeasured", never of a made-up figure.
///
/// # References
/// - [mincore(2)](https://man7.org/linux/man-pages/man2/mincore.2.html), and kernel commit
///   134fca9063ad ("mm/mincore.c: make mincore() more conservative", Linux 5.2)
fn mincore_tells_the_truth(file: &File) -> io::Result<bool> {
    let owner = rustix::fs::fstat(file)?.st_uid;
    if owner == rustix::process::geteuid().as_raw() {
        return Ok(true);
    }
    let by_fd = format!("/proc/self/fd/{}", file.as_raw_fd());
    Ok(rustix::fs::accessat(
        rustix::fs::CWD,
        by_fd.as_str(),
        rustix::fs::Access::WRITE_OK,
        rustix::fs::AtFlags::EACCESS,
    )
    .is_ok())
}

/// Drops the clean, unmapped cached pages of `file`; with `flush`, writes its dirty pages first
/// (fdatasync) so that they can go too.
pub(crate) fn drop_pages(file: &File, flush: bool) -> io::Result<()> {
    if flush {
        file.sync_data()?;
    }
    sys::drop_cached_pages(file.as_fd())
}
