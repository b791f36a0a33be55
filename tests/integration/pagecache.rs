//! Linux helpers: files whose page-cache residency and dirtiness we can measure, and the
//! kernel's counters.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

pub use crate::files::{meminfo, page_size, resident_pages, write_file};

/// A directory on a disk-backed file system (tmpfs pages are never dropped), removed on drop.
pub fn disk_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("memdefrag-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir")
}

/// A clean file of `len` bytes, read into the page cache.
pub struct CachedFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl CachedFile {
    pub fn new(len: usize) -> CachedFile {
        let dir = disk_tempdir();
        let path = dir.path().join("cached.bin");
        write_file(&path, len, true);
        let cached = CachedFile { _dir: dir, path };
        std::fs::read(&cached.path).expect("read into the page cache");
        cached
    }

    /// Share of the file's pages that are in the page cache, 0..1.
    pub fn residency(&self) -> f64 {
        let (resident, total) = resident_pages(&self.path);
        resident as f64 / total as f64
    }
}

/// cachestat(2) of a whole file (Linux 6.5+): page counts in the cache, dirty, under writeback.
#[derive(Debug, Default, Clone, Copy)]
#[repr(C)]
pub struct CacheStat {
    pub nr_cache: u64,
    pub nr_dirty: u64,
    pub nr_writeback: u64,
    pub nr_evicted: u64,
    pub nr_recently_evicted: u64,
}

/// `cachestat(fd, {0, 0}, &cs, 0)`; `None` where the kernel lacks it (before 6.5).
pub fn cachestat(file: &File) -> Option<CacheStat> {
    // The number is the same on every architecture (the unified syscall table).
    const SYS_CACHESTAT: libc::c_long = 451;
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    let range = Range { off: 0, len: 0 }; // len 0: to the end of the file
    let mut cs = CacheStat::default();
    // SAFETY: both structs are live, #[repr(C)] mirrors of include/uapi/linux/mman.h, and the
    // kernel writes only `cs`.
    let rc = unsafe { libc::syscall(SYS_CACHESTAT, file.as_raw_fd(), &range, &mut cs, 0u32) };
    if rc == 0 {
        Some(cs)
    } else {
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOSYS),
            "cachestat failed"
        );
        None
    }
}

/// One /proc/vmstat counter.
pub fn vmstat(counter: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/vmstat").expect("read vmstat");
    text.lines()
        .find_map(|l| l.strip_prefix(counter)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {counter} in /proc/vmstat"))
}

/// A clean file of `len` bytes, written to disk and then evicted: reading it fills the cache.
pub struct UncachedFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl UncachedFile {
    pub fn new(len: usize) -> UncachedFile {
        let dir = disk_tempdir();
        let path = dir.path().join("uncached.bin");
        let file = write_file(&path, len, true);
        // SAFETY: an open descriptor; advice only.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        UncachedFile { _dir: dir, path }
    }

    /// Reads the whole file into the page cache.
    pub fn fill(&self) {
        std::fs::read(&self.path).expect("read into the page cache");
    }

    pub fn residency(&self) -> f64 {
        let (resident, total) = resident_pages(&self.path);
        resident as f64 / total as f64
    }
}
