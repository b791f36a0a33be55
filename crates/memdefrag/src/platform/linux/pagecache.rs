//! One file's pages in the page cache: how many, how many dirty or under writeback, and dropping
//! the clean ones.
//!
//! `cachestat(2)` (Linux 6.5) counts cached, dirty and writeback pages in one call; before it,
//! the file is mapped and `mincore(2)` counts its resident pages (dirty ones cannot be told
//! apart). Both count whole pages, as util-linux `fincore` does.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

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
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the kernel reports a file's cache only to its owner or to who may write it",
        )),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Ok(FilePages {
            cached_bytes: sys::resident_pages(file.as_fd(), size, page)? * page,
            dirty_bytes: None,
            writeback_bytes: None,
            source: "mincore",
        }),
        Err(e) => Err(e),
    }
}

/// Drops the clean, unmapped cached pages of `file`; with `flush`, writes its dirty pages first
/// (fdatasync) so that they can go too.
pub(crate) fn drop_pages(file: &File, flush: bool) -> io::Result<()> {
    if flush {
        file.sync_data()?;
    }
    sys::drop_cached_pages(file.as_fd())
}
