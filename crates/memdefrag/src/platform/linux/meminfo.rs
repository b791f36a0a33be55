//! /proc/meminfo, parsed by the `procfs` crate and reduced to the figures memdefrag reports.
//!
//! # References
//! - [proc_meminfo(5)](https://man7.org/linux/man-pages/man5/proc_meminfo.5.html)

use procfs::{FromBufRead, Meminfo};

use crate::snapshot::LinuxMemory;

pub(crate) const PATH: &str = "/proc/meminfo";

/// Parses the text of /proc/meminfo. Malformed input is an error, never a panic.
pub(crate) fn parse(text: &str) -> Result<LinuxMemory, String> {
    // The kernel prints ASCII only; procfs slices field names by byte, so refuse anything else
    // before it could split a multi-byte character.
    if !text.is_ascii() {
        return Err("unexpected non-ASCII text".into());
    }
    // procfs multiplies by the unit unchecked; the kernel writes kB or no unit, and no real
    // figure comes near 2^50 kB (an exbibyte), below which every sum of figures fits in a u64.
    if let Some(line) = text.lines().find(|l| {
        let mut words = l.split_whitespace().skip(1);
        let value = words.next().and_then(|v| v.parse::<u64>().ok());
        let unit = words.next();
        value.is_some_and(|v| v >= 1 << 50) || unit.is_some_and(|u| u != "kB")
    }) {
        return Err(format!("implausible value: {line:?}"));
    }
    let m = Meminfo::from_buf_read(text.as_bytes()).map_err(|e| e.to_string())?;
    if m.mem_total == 0 {
        return Err("MemTotal is 0".into());
    }
    let active_file = m.active_file.unwrap_or(0);
    let inactive_file = m.inactive_file.unwrap_or(0);
    let slab_reclaimable = m.s_reclaimable.unwrap_or(0);
    // Kernels before 3.14 have no MemAvailable: estimate it as free(1) did then, from free
    // memory plus what reclaim can take without swapping.
    let mem_available = m.mem_available.unwrap_or_else(|| {
        (m.mem_free + active_file + inactive_file + slab_reclaimable).min(m.mem_total)
    });
    Ok(LinuxMemory {
        mem_total: m.mem_total,
        mem_free: m.mem_free,
        mem_available,
        buffers: m.buffers,
        cached: m.cached,
        shmem: m.shmem.unwrap_or(0),
        active_file,
        inactive_file,
        dirty: m.dirty,
        writeback: m.writeback,
        mapped: m.mapped,
        anon_pages: m.anon_pages.unwrap_or(0),
        slab_reclaimable,
        swap_total: m.swap_total,
        swap_free: m.swap_free,
    })
}
