//! The /proc parsers on files from several kernel versions, and on broken ones.

use super::{buddyinfo, meminfo, parse_kernel_version, vmstat};
use crate::snapshot::{unusable_free_index, Fragmentation};

macro_rules! fixture {
    ($dir:literal, $file:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/proc/",
            $dir,
            "/",
            $file
        ))
    };
}

/// (kernel, meminfo, buddyinfo, vmstat, page size) of each well-formed fixture set.
/// The two Debian sets are from the lab's guests (scripts/lab: 3 GiB, cgroup v2, swap on).
const KERNELS: [(&str, &str, &str, &str, u64); 7] = [
    (
        "2.6.32",
        fixture!("linux-2.6.32-x86_64", "meminfo"),
        fixture!("linux-2.6.32-x86_64", "buddyinfo"),
        fixture!("linux-2.6.32-x86_64", "vmstat"),
        4096,
    ),
    (
        "3.10",
        fixture!("linux-3.10-x86_64", "meminfo"),
        fixture!("linux-3.10-x86_64", "buddyinfo"),
        fixture!("linux-3.10-x86_64", "vmstat"),
        4096,
    ),
    (
        "4.19",
        fixture!("linux-4.19-x86_64", "meminfo"),
        fixture!("linux-4.19-x86_64", "buddyinfo"),
        fixture!("linux-4.19-x86_64", "vmstat"),
        4096,
    ),
    (
        "5.15 arm64 64k",
        fixture!("linux-5.15-aarch64-64k", "meminfo"),
        fixture!("linux-5.15-aarch64-64k", "buddyinfo"),
        fixture!("linux-5.15-aarch64-64k", "vmstat"),
        65536,
    ),
    (
        "6.1 debian",
        fixture!("linux-6.1-x86_64-debian", "meminfo"),
        fixture!("linux-6.1-x86_64-debian", "buddyinfo"),
        fixture!("linux-6.1-x86_64-debian", "vmstat"),
        4096,
    ),
    (
        "6.12 debian",
        fixture!("linux-6.12-x86_64-debian", "meminfo"),
        fixture!("linux-6.12-x86_64-debian", "buddyinfo"),
        fixture!("linux-6.12-x86_64-debian", "vmstat"),
        4096,
    ),
    (
        "6.8 numa",
        fixture!("linux-6.8-x86_64", "meminfo"),
        fixture!("linux-6.8-x86_64", "buddyinfo"),
        fixture!("linux-6.8-x86_64", "vmstat"),
        4096,
    ),
];

#[test]
fn every_kernels_files_parse_into_consistent_figures() {
    for (kernel, mem, buddy, vm, page_size) in KERNELS {
        let m = meminfo::parse(mem).unwrap_or_else(|e| panic!("{kernel} meminfo: {e}"));
        assert!(m.mem_total > 0, "{kernel}");
        assert!(m.mem_free <= m.mem_total, "{kernel}");
        assert!(m.mem_available <= m.mem_total, "{kernel}");
        // MemAvailable is not bounded below by MemFree: the kernel keeps its reserves out of it
        // (the Debian guests, nearly idle, show less available than free). It is bounded above
        // by free memory plus what reclaim can take.
        assert!(
            m.mem_available <= m.mem_free + m.active_file + m.inactive_file + m.slab_reclaimable,
            "{kernel}"
        );
        assert!(m.shmem <= m.cached, "{kernel}");

        let zones = buddyinfo::parse(buddy).unwrap_or_else(|e| panic!("{kernel} buddyinfo: {e}"));
        let frag = Fragmentation::new(page_size, zones);
        assert!(
            (0.0..=1.0).contains(&frag.unusable_index_order9),
            "{kernel}"
        );
        // The fixtures come from one instant each: the buddy allocator's free pages are MemFree.
        assert_eq!(frag.free_bytes(), m.mem_free, "{kernel}");

        let counters = vmstat::parse(vm).unwrap_or_else(|e| panic!("{kernel} vmstat: {e}"));
        assert_eq!(
            counters["nr_free_pages"] as u64 * page_size,
            m.mem_free,
            "{kernel}"
        );
    }
}

#[test]
fn meminfo_values_are_converted_to_bytes() {
    let m = meminfo::parse(fixture!("linux-4.19-x86_64", "meminfo")).unwrap();
    let kib = |field: &str| -> u64 {
        let text = fixture!("linux-4.19-x86_64", "meminfo");
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    };
    assert_eq!(m.mem_total, kib("MemTotal") * 1024);
    assert_eq!(m.dirty, kib("Dirty") * 1024);
    assert_eq!(m.slab_reclaimable, kib("SReclaimable") * 1024);
    assert_eq!(m.inactive_file, kib("Inactive(file)") * 1024);
}

#[test]
fn meminfo_before_3_14_estimates_available_memory() {
    let text = fixture!("linux-2.6.32-x86_64", "meminfo");
    assert!(!text.contains("MemAvailable"));
    let m = meminfo::parse(text).unwrap();
    assert_eq!(
        m.mem_available,
        m.mem_free + m.active_file + m.inactive_file + m.slab_reclaimable
    );
}

#[test]
fn buddyinfo_keeps_nodes_zones_and_every_order() {
    let zones = buddyinfo::parse(fixture!("linux-6.8-x86_64", "buddyinfo")).unwrap();
    let names: Vec<(u32, &str)> = zones.iter().map(|z| (z.node, z.zone.as_str())).collect();
    assert_eq!(
        names,
        [(0, "DMA"), (0, "DMA32"), (0, "Normal"), (1, "Normal")]
    );
    assert!(zones.iter().all(|z| z.free_blocks.len() == 11));
    assert_eq!(zones[0].free_blocks, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3]);

    let arm = buddyinfo::parse(fixture!("linux-5.15-aarch64-64k", "buddyinfo")).unwrap();
    assert!(arm.iter().all(|z| z.free_blocks.len() == 14));
    // With 64 KiB pages order 9 is 32 MiB; the index is still defined per order.
    let index = unusable_free_index(&arm, 9);
    assert!((0.0..=1.0).contains(&index));
}

#[test]
fn malformed_files_are_errors_not_panics() {
    let meminfo_cases = [
        ("empty", fixture!("malformed", "meminfo-empty")),
        ("truncated", fixture!("malformed", "meminfo-truncated")),
        (
            "garbage number",
            fixture!("malformed", "meminfo-garbage-number"),
        ),
        ("non-ascii", fixture!("malformed", "meminfo-non-ascii")),
        (
            "missing MemTotal",
            fixture!("malformed", "meminfo-missing-memtotal"),
        ),
        ("wrong file", fixture!("linux-4.19-x86_64", "buddyinfo")),
        // Found by fuzzing: procfs multiplies a value in GiB by 2^30 unchecked.
        (
            "overflowing unit",
            fixture!("malformed", "meminfo-overflowing-unit"),
        ),
        ("lone colon", ":\n"),
        ("multi-byte name", "MemTotalé 5 kB\n"),
        (
            "overflowing kB",
            &*fixture!("linux-4.19-x86_64", "meminfo").replacen(
                "MemTotal:",
                "MemTotal: 18446744073709551615 kB\nX:",
                1,
            ),
        ),
    ];
    for (case, text) in meminfo_cases {
        assert!(meminfo::parse(text).is_err(), "meminfo {case} parsed");
    }
    let buddy_cases = [
        ("empty", fixture!("malformed", "buddyinfo-empty")),
        ("bad count", fixture!("malformed", "buddyinfo-bad-count")),
        ("no counts", fixture!("malformed", "buddyinfo-no-counts")),
        ("bad node", fixture!("malformed", "buddyinfo-bad-node")),
        (
            "wrong prefix",
            fixture!("malformed", "buddyinfo-wrong-prefix"),
        ),
        ("wrong file", fixture!("linux-4.19-x86_64", "meminfo")),
        (
            "too many orders",
            &*format!("Node 0, zone Normal{}\n", " 1".repeat(70)),
        ),
        ("negative", "Node 0, zone Normal 1 -2 3\n"),
    ];
    for (case, text) in buddy_cases {
        assert!(buddyinfo::parse(text).is_err(), "buddyinfo {case} parsed");
    }
    let vm_cases = [
        ("bad value", fixture!("malformed", "vmstat-bad-value")),
        (
            "missing value",
            fixture!("malformed", "vmstat-missing-value"),
        ),
        ("empty", ""),
    ];
    for (case, text) in vm_cases {
        assert!(vmstat::parse(text).is_err(), "vmstat {case} parsed");
    }
}

#[test]
fn buddyinfo_errors_name_the_line() {
    let err = buddyinfo::parse(fixture!("malformed", "buddyinfo-bad-count")).unwrap_err();
    assert!(err.starts_with("line "), "{err}");
    assert!(err.contains("Normal"), "{err}");
}

#[test]
fn huge_counts_saturate_instead_of_overflowing() {
    let zones = buddyinfo::parse(&format!("Node 0, zone Normal {} 1\n", u64::MAX)).unwrap();
    let frag = Fragmentation::new(4096, zones);
    assert_eq!(frag.free_bytes(), u64::MAX);
}

#[test]
fn kernel_versions_parse_from_uname_releases() {
    assert_eq!(parse_kernel_version("6.18.44-fc-v657"), Some((6, 18)));
    assert_eq!(parse_kernel_version("5.10.0-28-amd64"), Some((5, 10)));
    assert_eq!(parse_kernel_version("6.11"), Some((6, 11)));
    assert_eq!(parse_kernel_version("garbage"), None);
}
