//! Property tests of the /proc parsers: any text is an answer or an error, never a panic, and
//! well-formed text reads back exactly.

use proptest::prelude::*;

use super::{buddyinfo, meminfo, psi, vmstat};
use crate::snapshot::Fragmentation;

/// Text that looks like a /proc file at times and like noise at others.
fn proc_like_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(MemTotal|[A-Za-z_()0-9]{0,12}):? +[0-9]{0,22}( (kB|B|MB|MiB|GB|gB))?(\n[A-Za-z_()0-9]{0,12}:? +-?[0-9]{0,22}( (kB|B|MiB|GiB|gB))?){0,40}",
        "(Node [0-9]{0,3},? zone +[A-Za-z0-9]{0,8}( +-?[0-9]{0,21}){0,40}\n?){0,6}",
        "((some|full|other) (avg10|avg60|total|x)=[-0-9.eEinfa]{0,25}( [a-z0-9]{0,6}=[-0-9.]{0,25}){0,4}\n?){0,4}",
        "([a-z_]{0,20} -?[0-9]{0,22}\n?){0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_text_makes_a_parser_panic(text in proc_like_text()) {
        let _ = meminfo::parse(&text);
        if let Ok(zones) = buddyinfo::parse(&text) {
            let fragmentation = Fragmentation::new(4096, zones);
            prop_assert!((0.0..=1.0).contains(&fragmentation.unusable_index_order9));
            let _ = fragmentation.free_bytes();
            for order in 0..40 {
                let _ = fragmentation.free_bytes_from_order(order);
            }
        }
        let _ = psi::parse(&text);
        if let Ok(counters) = vmstat::parse(&text) {
            for name in counters.keys() {
                let _ = vmstat::delta(&counters, &counters, name);
            }
        }
    }

    #[test]
    fn meminfo_reads_back_every_figure(
        total in 1u64..1 << 40,
        free in 0u64..1 << 40,
        cached in 0u64..1 << 40,
        dirty in 0u64..1 << 40,
    ) {
        let text = format!(
            "MemTotal: {total} kB\nMemFree: {free} kB\nMemAvailable: {free} kB\nBuffers: 0 kB\n\
             Cached: {cached} kB\nSwapCached: 0 kB\nActive: 0 kB\nInactive: 0 kB\n\
             SwapTotal: 0 kB\nSwapFree: 0 kB\nDirty: {dirty} kB\nWriteback: 0 kB\n\
             AnonPages: 0 kB\nMapped: 0 kB\nShmem: 0 kB\nSlab: 0 kB\nSReclaimable: 0 kB\n\
             SUnreclaim: 0 kB\nKernelStack: 0 kB\nPageTables: 0 kB\nNFS_Unstable: 0 kB\n\
             Bounce: 0 kB\nWritebackTmp: 0 kB\nCommitLimit: 0 kB\nCommitted_AS: 0 kB\n\
             VmallocTotal: 0 kB\nVmallocUsed: 0 kB\nVmallocChunk: 0 kB\n"
        );
        let m = meminfo::parse(&text).unwrap();
        prop_assert_eq!(m.mem_total, total * 1024);
        prop_assert_eq!(m.mem_free, free * 1024);
        prop_assert_eq!(m.cached, cached * 1024);
        prop_assert_eq!(m.dirty, dirty * 1024);
    }

    #[test]
    fn buddyinfo_reads_back_every_count(
        zones in prop::collection::vec(
            (0u32..64, "[A-Za-z][A-Za-z0-9]{0,7}", prop::collection::vec(any::<u64>(), 1..=32)),
            1..8,
        )
    ) {
        let text: String = zones
            .iter()
            .map(|(node, zone, counts)| {
                let counts: Vec<String> = counts.iter().map(u64::to_string).collect();
                format!("Node {node}, zone {zone:>8} {}\n", counts.join(" "))
            })
            .collect();
        let parsed = buddyinfo::parse(&text).unwrap();
        prop_assert_eq!(parsed.len(), zones.len());
        for (z, (node, zone, counts)) in parsed.iter().zip(&zones) {
            prop_assert_eq!(z.node, *node);
            prop_assert_eq!(&z.zone, zone);
            prop_assert_eq!(&z.free_blocks, counts);
        }
    }

    #[test]
    fn pressure_reads_back_both_lines(
        some in 0.0f64..100.0,
        full in 0.0f64..100.0,
        some_total in any::<u64>(),
        full_total in any::<u64>(),
    ) {
        let text = format!(
            "some avg10={some:.2} avg60=0.00 avg300=0.00 total={some_total}\n\
             full avg10={full:.2} avg60=0.00 avg300=0.00 total={full_total}\n"
        );
        let p = psi::parse(&text).unwrap();
        prop_assert!((p.some_avg10 - some).abs() < 0.01);
        prop_assert!((p.full_avg10 - full).abs() < 0.01);
        prop_assert_eq!(p.some_total_us, some_total);
        prop_assert_eq!(p.full_total_us, full_total);
    }

    #[test]
    fn counter_deltas_never_overflow(before in any::<i64>(), after in any::<i64>()) {
        let counters = |v: i64| std::collections::HashMap::from([("c".to_owned(), v)]);
        let d = vmstat::delta(&counters(before), &counters(after), "c");
        prop_assert_eq!(d, Some(u64::try_from(i128::from(after) - i128::from(before)).unwrap_or(0)));
    }
}
