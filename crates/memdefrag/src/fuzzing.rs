//! The parsers of outside input, reached without the system: entry points for the fuzz targets
//! in `fuzz/` (feature `fuzzing`; not part of the API). Each takes the bytes a fuzzer makes up
//! and must return, whatever they are.

/// /proc/meminfo's text.
#[cfg(target_os = "linux")]
pub fn meminfo(text: &str) {
    let _ = crate::platform::linux::meminfo::parse(text);
}

/// /proc/buddyinfo's text, and the fragmentation figures computed from it.
#[cfg(target_os = "linux")]
pub fn buddyinfo(text: &str) {
    if let Ok(zones) = crate::platform::linux::buddyinfo::parse(text) {
        let fragmentation = crate::Fragmentation::new(4096, zones);
        assert!((0.0..=1.0).contains(&fragmentation.unusable_index_order9));
        for order in 0..64 {
            let _ = fragmentation.free_bytes_from_order(order);
        }
    }
}

/// /proc/vmstat's text, and the deltas of its counters.
#[cfg(target_os = "linux")]
pub fn vmstat(text: &str) {
    use crate::platform::linux::vmstat;
    if let Ok(counters) = vmstat::parse(text) {
        let zero = counters.keys().map(|k| (k.clone(), 0)).collect();
        for name in counters.keys() {
            let _ = vmstat::delta(&zero, &counters, name);
            let _ = vmstat::delta(&counters, &zero, name);
        }
    }
}

/// /proc/pressure/memory's text.
#[cfg(target_os = "linux")]
pub fn pressure(text: &str) {
    let _ = crate::platform::linux::psi::parse(text);
}

/// Sizes, durations, percentages and thresholds as options take them, and what a service
/// records of them read back.
pub fn units(text: &str) {
    use crate::units::*;
    if let Ok(bytes) = parse_size(text) {
        assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
    }
    let _ = parse_percent(text);
    let _ = parse_threshold(text);
    if let Ok(duration) = parse_duration(text) {
        let _ = format_duration(duration);
    }
}

/// The Windows structures as the kernel fills them (the memory lists, the page size, the file
/// cache size, the documented figures), through the scripted NT API: a snapshot, the
/// estimates and the status text from any values.
pub fn windows_structures(data: &[u8]) {
    use std::collections::HashSet;

    use crate::platform::windows::api::{DocumentedMemory, MemoryListPages, Privilege};
    use crate::platform::windows::fake::Fake;
    use crate::platform::windows::ops;

    // 35 little-endian words, missing ones 0.
    let mut w = [0u64; 35];
    for (word, chunk) in w.iter_mut().zip(data.chunks(8)) {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(bytes);
    }
    let eight = |at: usize| {
        [
            w[at],
            w[at + 1],
            w[at + 2],
            w[at + 3],
            w[at + 4],
            w[at + 5],
            w[at + 6],
            w[at + 7],
        ]
    };
    let lists = MemoryListPages {
        zeroed: w[0],
        free: w[1],
        modified: w[2],
        modified_no_write: w[3],
        bad: w[4],
        standby_by_priority: eight(5),
        repurposed_by_priority: eight(13),
        modified_page_file: w[21],
    };
    let documented = DocumentedMemory {
        total: w[22],
        available: w[23],
        commit_total: w[24],
        commit_limit: w[25],
        system_cache: w[26],
        page_size: w[27],
    };
    let fake = Fake {
        lists: Ok(lists),
        documented,
        page: w[28],
        file_cache: w[29],
        wow64: w[30] & 1 == 1,
        enabled: HashSet::from([Privilege::ProfileSingleProcess]),
        ..Fake::default()
    };
    let snapshot = ops::snapshot(&fake).expect("the scripted documented figures never fail");
    for op in crate::Op::ALL {
        let _ = ops::estimate(op, &snapshot);
    }
    let _ = crate::render::status(&snapshot);
}

/// What wsl.exe prints (UTF-16LE or UTF-8, any bytes) and what a distribution answers inside:
/// the running list, the verbose table, /proc/meminfo, memdefrag's status and give-back JSON.
pub fn wsl_output(data: &[u8]) {
    use crate::wsl::{linux, text};
    let names = text::parse_names(data);
    assert!(names
        .iter()
        .all(|n| !n.is_empty() && !n.contains(['\r', '\n', '\0'])));
    let _ = text::parse_verbose(data);
    let _ = text::first_line(data, data);
    let decoded = text::decode(data);
    let _ = linux::parse_meminfo(&decoded);
    let _ = linux::parse_status(&decoded);
    let _ = linux::parse_give_back(&decoded);
}
