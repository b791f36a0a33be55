//! Linux helpers: files whose page-cache residency and dirtiness we can measure, and the
//! kernel's counters.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A directory on a disk-backed file system (tmpfs pages are never dropped), removed on drop.
pub fn disk_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("memdefrag-test-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir")
}

pub const PAGE: usize = 4096;

/// Writes `len` bytes of varied data to `path`. With `flush`, the data reaches the disk before
/// this returns, so its pages are clean; without, they stay dirty in the page cache.
pub fn write_file(path: &Path, len: usize, flush: bool) -> File {
    let mut file = File::create(path).expect("create");
    let mut chunk = vec![0u8; 1 << 20];
    for (i, b) in chunk.iter_mut().enumerate() {
        *b = (i * 31 % 251) as u8;
    }
    let mut written = 0;
    while written < len {
        let n = chunk.len().min(len - written);
        chunk[0] = (written / chunk.len()) as u8;
        file.write_all(&chunk[..n]).expect("write");
        written += n;
    }
    if flush {
        file.sync_all().expect("fsync");
    }
    file
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

/// Pages of `path` in the page cache, and its size in pages, from mincore(2) over a mapping of
/// the file (mapping it does not bring pages in).
pub fn resident_pages(path: &Path) -> (usize, usize) {
    let file = File::open(path).expect("open");
    let len = file.metadata().expect("metadata").len() as usize;
    let pages = len.div_ceil(PAGE);
    // SAFETY: a fresh read-only shared mapping of an open file; unmapped below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(
        addr,
        libc::MAP_FAILED,
        "mmap: {}",
        std::io::Error::last_os_error()
    );
    let mut vec = vec![0u8; pages];
    // SAFETY: `addr` maps `len` bytes; `vec` has one byte per page of it.
    let rc = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    let err = std::io::Error::last_os_error();
    // SAFETY: unmaps exactly the mapping made above, which nothing else references.
    unsafe { libc::munmap(addr, len) };
    assert_eq!(rc, 0, "mincore: {err}");
    (vec.iter().filter(|&&b| b & 1 != 0).count(), pages)
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

/// One /proc/meminfo field, in bytes.
pub fn meminfo(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("read meminfo");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| panic!("no {field} in /proc/meminfo"))
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
