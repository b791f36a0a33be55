//! The benchmark's helper processes: this same binary, started in another role so that it can
//! sit in a cgroup, be killed by the OOM killer, or hold memory while the benchmark measures.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::cgroup::MemoryCgroup;
use crate::sys::{meminfo, page, read_through, resident_bytes};

/// The squeezer allocates between 4 MiB and 256 MiB between two looks at the cache: half of what
/// is still to evict, so that it neither overshoots into the OOM killer nor looks too often.
const MIN_CHUNK: u64 = 4 << 20;
const MAX_CHUNK: u64 = 256 << 20;
/// On the whole machine the squeezer stops before available memory falls below this.
const MACHINE_FLOOR: u64 = 256 << 20;
/// The squeezer into swap stops before free swap falls below this, and allocates this much
/// between two looks at it.
const SWAP_FLOOR: u64 = 256 << 20;
const SWAP_CHUNK: u64 = 64 << 20;

/// `--read-into-cache FILE CGROUP`: join the cgroup, then read the file, so that its page cache
/// is charged to the cgroup.
pub fn read_into_cache_main(file: &Path, cgroup: &Path) {
    MemoryCgroup::join(cgroup);
    read_through(file);
}

/// `--squeeze FILE TARGET MAX [CGROUP]`: what "memory optimizers" do — allocate and touch memory
/// until the kernel has evicted FILE's cache down to TARGET bytes, then free it all. Exits 0 and
/// prints the bytes allocated if it got there, exits 1 if it had to stop first.
pub fn squeeze_main(file: &Path, target: u64, max: u64, cgroup: Option<&Path>) {
    if let Some(cgroup) = cgroup {
        MemoryCgroup::join(cgroup);
    }
    allocate_until(|allocated| {
        let resident = resident_bytes(file);
        if resident <= target {
            return Err(true);
        }
        if allocated >= max || (cgroup.is_none() && meminfo("MemAvailable") < MACHINE_FLOOR) {
            return Err(false);
        }
        Ok(((resident - target) / 2).clamp(MIN_CHUNK, MAX_CHUNK) & !(MIN_CHUNK - 1))
    })
}

/// `--squeeze-into-swap BYTES`: the crude optimizer the seed describes — allocate and touch BYTES,
/// more than is available, so that the kernel must move other programs' pages into swap to make
/// room, then free it all. Exits 0 and prints the bytes allocated if it got there, exits 1 if it
/// stopped first because free swap ran low.
pub fn squeeze_into_swap_main(bytes: u64) {
    allocate_until(|allocated| {
        if allocated >= bytes {
            return Err(true);
        }
        if meminfo("SwapFree") < SWAP_FLOOR {
            return Err(false);
        }
        Ok(SWAP_CHUNK
            .min(bytes - allocated)
            .next_multiple_of(page() as u64))
    })
}

/// A squeezer's life: as the OOM killer's first choice, allocate and touch the chunks `next`
/// asks for (given the bytes allocated so far) until it says to stop, `Err(reached)`; then free
/// them all, print the bytes allocated and exit 0 if the squeeze reached its goal, 1 if not.
fn allocate_until(mut next: impl FnMut(u64) -> Result<u64, bool>) -> ! {
    // The OOM killer's first choice, so that it can never take anything else down.
    std::fs::write("/proc/self/oom_score_adj", "1000").expect("oom_score_adj");
    let mut chunks = Vec::new();
    let mut allocated = 0u64;
    let reached = loop {
        let chunk = match next(allocated) {
            Ok(chunk) => chunk as usize,
            Err(reached) => break reached,
        };
        // Unmapped below.
        let addr = map_anonymous(chunk);
        touch_every_page(addr, chunk);
        chunks.push((addr, chunk));
        allocated += chunk as u64;
    };
    for (addr, len) in chunks {
        // SAFETY: each is a mapping of `len` bytes made above.
        unsafe { libc::munmap(addr, len) };
    }
    println!("{allocated}");
    std::process::exit(if reached { 0 } else { 1 });
}

/// `--fragment BYTES`: allocate BYTES of small pages, free every other page, report "ready",
/// and hold the rest until stdin closes: free memory is then scattered in single pages.
pub fn fragment_main(bytes: usize) {
    // Held until the process exits.
    hold_with_holes(bytes);
    for _ in std::io::stdin().lock().lines() {}
}

/// Maps `bytes` of anonymous memory in small pages, touches every page, frees every other one
/// (4 KiB holes the kernel cannot merge until compaction moves the rest), and says "ready" on
/// stdout. Returns the mapping, which the caller keeps.
fn hold_with_holes(bytes: usize) -> *mut libc::c_void {
    let addr = map_anonymous(bytes);
    let page = page();
    // SAFETY: advice on our own mapping: small pages, so that freeing one frees one page.
    unsafe { libc::madvise(addr, bytes, libc::MADV_NOHUGEPAGE) };
    touch_every_page(addr, bytes);
    for off in (page..bytes).step_by(2 * page) {
        // SAFETY: one page of our own mapping, given back to the kernel.
        unsafe { libc::madvise(addr.cast::<u8>().add(off).cast(), page, libc::MADV_DONTNEED) };
    }
    let mut out = std::io::stdout();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("flush");
    addr
}

/// A fresh private anonymous read-write mapping of `len` bytes; the caller unmaps it.
pub fn map_anonymous(len: usize) -> *mut libc::c_void {
    // SAFETY: a new anonymous mapping; nothing else refers to it.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(addr, libc::MAP_FAILED, "mmap");
    addr
}

/// Writes one byte in every page of the mapping at `addr`, so that each is really allocated.
pub fn touch_every_page(addr: *mut libc::c_void, len: usize) {
    for off in (0..len).step_by(page()) {
        // SAFETY: `off` is inside the `len`-byte writable mapping at `addr`.
        unsafe { std::ptr::write_volatile(addr.cast::<u8>().add(off), 1) };
    }
}

/// `--fragment-hot BYTES INTERVAL_MS`: as `--fragment`, then keeps touching the half it holds
/// every INTERVAL_MS, as a program in use does (the give-back benchmark's hot anonymous set).
pub fn fragment_hot_main(bytes: usize, interval_ms: u64) {
    let addr = hold_with_holes(bytes);
    let page = page();
    loop {
        let mut sum = 0u8;
        for off in (0..bytes).step_by(2 * page) {
            // SAFETY: `off` is inside the mapping, which lives as long as the process.
            sum = sum.wrapping_add(unsafe { std::ptr::read_volatile(addr.cast::<u8>().add(off)) });
        }
        std::hint::black_box(sum);
        std::thread::sleep(std::time::Duration::from_millis(interval_ms));
    }
}

/// `--reread FILE INTERVAL_MS STATS`: reads FILE every INTERVAL_MS, as a program re-reading its
/// data does, and after each pass writes "<passes> <slowest pass in ms since the last reset>" to
/// STATS. Deleting STATS resets the slowest pass (the benchmark does so when a method starts).
pub fn reread_main(file: &Path, interval_ms: u64, stats: &Path) {
    let mut slowest = 0.0f64;
    let mut passes = 0u64;
    loop {
        let started = std::time::Instant::now();
        std::fs::read(file).expect("read the hot file");
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        passes += 1;
        if !stats.exists() {
            slowest = 0.0;
        }
        slowest = slowest.max(ms);
        let _ = std::fs::write(stats, format!("{passes} {slowest:.1}\n"));
        std::thread::sleep(std::time::Duration::from_millis(interval_ms));
    }
}
