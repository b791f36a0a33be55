//! Helpers shared by the integration tests and the benchmark (included by path in both): files
//! of known content, their page-cache residency, and /proc/meminfo figures.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The system's page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).expect("page size")
}

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

/// Maps the first `len` bytes of `file` read-only and shared; the caller unmaps it (or keeps it
/// for the life of the process). Mapping brings no page in.
pub fn map_read_only(file: &File, len: usize) -> *mut libc::c_void {
    // SAFETY: a fresh read-only shared mapping of an open file; nothing else refers to it yet.
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
    addr
}

/// Pages of `path` in the page cache, and its size in pages, from mincore(2) over a mapping of
/// the file (mapping it does not bring pages in).
pub fn resident_pages(path: &Path) -> (usize, usize) {
    let file = File::open(path).expect("open");
    let len = file.metadata().expect("metadata").len() as usize;
    let pages = len.div_ceil(page_size());
    let addr = map_read_only(&file, len);
    let mut vec = vec![0u8; pages];
    // SAFETY: `addr` maps `len` bytes; `vec` has one byte per page of it.
    let rc = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    let err = std::io::Error::last_os_error();
    // SAFETY: unmaps exactly the mapping made above, which nothing else references.
    unsafe { libc::munmap(addr, len) };
    assert_eq!(rc, 0, "mincore: {err}");
    (vec.iter().filter(|&&b| b & 1 != 0).count(), pages)
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
