//! /proc/buddyinfo: free blocks per order per zone (the `procfs` crate has no parser for it).
//!
//! ```text
//! Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3
//! Node 0, zone    DMA32      1      2      4      2      5      4      3      3      4      2    752
//! ```
//!
//! # References
//! - [proc_buddyinfo(5)](https://man7.org/linux/man-pages/man5/proc_buddyinfo.5.html)

use crate::snapshot::ZoneFreeBlocks;

pub(crate) const PATH: &str = "/proc/buddyinfo";

/// Kernels have at most a few dozen orders (MAX_PAGE_ORDER is 10 on x86-64, 13 on arm64 with
/// 64 KiB pages); more counts than this mean the file is not what we think.
const MAX_ORDERS: usize = 32;

/// Parses the text of /proc/buddyinfo. Malformed input is an error, never a panic.
pub(crate) fn parse(text: &str) -> Result<Vec<ZoneFreeBlocks>, String> {
    let zones = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_line(line).map_err(|e| format!("line {}: {e}: {line:?}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    if zones.is_empty() {
        return Err("no zones".into());
    }
    Ok(zones)
}

fn parse_line(line: &str) -> Result<ZoneFreeBlocks, &'static str> {
    let mut words = line.split_whitespace();
    if words.next() != Some("Node") {
        return Err("expected 'Node'");
    }
    let node = words
        .next()
        .and_then(|w| w.strip_suffix(','))
        .and_then(|w| w.parse::<u32>().ok())
        .ok_or("expected a node number and a comma")?;
    if words.next() != Some("zone") {
        return Err("expected 'zone'");
    }
    let zone = words.next().ok_or("expected a zone name")?.to_owned();
    let free_blocks = words
        .map(str::parse::<u64>)
        .collect::<Result<Vec<u64>, _>>()
        .map_err(|_| "expected counts of free blocks")?;
    if free_blocks.is_empty() {
        return Err("no counts of free blocks");
    }
    if free_blocks.len() > MAX_ORDERS {
        return Err("more orders than any kernel has");
    }
    Ok(ZoneFreeBlocks {
        node,
        zone,
        free_blocks,
    })
}
