//! The series, their names and values, both formats, the textfile write and the endpoint.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use memdefrag::giveback::ColdMethod;
use memdefrag::snapshot::{
    Detail, Fragmentation, MemoryLists, Pressure, ReportableFree, Sources, WindowsMemory,
    ZoneFreeBlocks,
};
use memdefrag::testing::snapshot;
use memdefrag::watch::{Event, Fired, GivenBack};
use memdefrag::{Op, Status};

use crate::{encode, serve, write_atomically, Format, WatchCounters};

const GIB: u64 = 1 << 30;

/// The text with each family's samples sorted: a family's samples come in no fixed order.
fn sorted(text: &str) -> String {
    let mut out = Vec::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            samples.sort_unstable();
            out.append(&mut samples);
            out.push(line);
        } else {
            samples.push(line);
        }
    }
    samples.sort_unstable();
    out.append(&mut samples);
    out.join("\n") + "\n"
}

fn linux_snapshot() -> memdefrag::Snapshot {
    let mut s = snapshot(16 * GIB, 12 * GIB, 8 * GIB, 3 * GIB, GIB / 4);
    s.fragmentation = Some(Fragmentation::new(
        4096,
        vec![ZoneFreeBlocks {
            node: 0,
            zone: "Normal".into(),
            // 4 single pages and one block of 4: 8 free pages, half of them in order 0.
            free_blocks: vec![4, 0, 1],
        }],
    ));
    s.pressure = Some(Pressure {
        some_avg10: 12.5,
        full_avg10: 2.0,
        ..Pressure::default()
    });
    s.reportable_free = Some(ReportableFree {
        order: 2,
        bytes: 4 * 4096,
    });
    s
}

fn event(ops: Vec<Op>, status: Status, freed_bytes: i64) -> Event {
    Event {
        time: "2026-11-26T12:00:00Z".into(),
        fired: Fired::Every { every_ms: 1000 },
        ops,
        dry_run: false,
        status,
        duration_ms: 1.0,
        freed_bytes,
        cooldown_ms: 1000,
        give_back: None,
        error: None,
    }
}

/// A give-back watch's action that put `given_back_bytes` more into reportable blocks.
fn give_back(status: Status, given_back_bytes: i64) -> Event {
    Event {
        give_back: Some(GivenBack {
            method: ColdMethod::Damon,
            reportable_before_bytes: GIB,
            reportable_after_bytes: (GIB as i64 + given_back_bytes) as u64,
            given_back_bytes,
        }),
        ..event(Vec::new(), status, given_back_bytes / 2)
    }
}

#[test]
fn text_format_of_a_linux_snapshot_and_a_watch() {
    let counters = WatchCounters::default();
    counters.record(&event(
        vec![Op::Standby, Op::Compact],
        Status::Ok,
        3 * GIB as i64,
    ));
    counters.record(&event(vec![Op::Standby], Status::Ok, -(GIB as i64)));
    counters.record(&event(vec![Op::Standby], Status::Failed, 0));
    counters.record(&give_back(Status::Ok, 512 << 20));
    counters.record(&give_back(Status::Ok, -(1 << 20)));
    counters.record(&give_back(Status::Failed, 0));
    let text = encode(&linux_snapshot(), Some(&counters), Format::Text);
    let timestamp = text
        .lines()
        .find_map(|l| l.strip_prefix("memdefrag_last_action_timestamp_seconds "))
        .expect("a last action");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - timestamp.parse::<f64>().unwrap()).abs() < 60.0,
        "{timestamp}"
    );
    let text = text.replace(timestamp, "T");
    let expected = r#"# HELP memdefrag_memory_bytes Physical memory by kind: total, available for new work, free, file cache (standby), modified (dirty).
# TYPE memdefrag_memory_bytes gauge
memdefrag_memory_bytes{kind="available"} 12884901888
memdefrag_memory_bytes{kind="cache"} 3221225472
memdefrag_memory_bytes{kind="free"} 8589934592
memdefrag_memory_bytes{kind="modified"} 268435456
memdefrag_memory_bytes{kind="total"} 17179869184
# HELP memdefrag_fragmentation_unusable_ratio Share of free memory (0..1) in blocks too small for an allocation of 2^order pages.
# TYPE memdefrag_fragmentation_unusable_ratio gauge
memdefrag_fragmentation_unusable_ratio{order="0"} 0.0
memdefrag_fragmentation_unusable_ratio{order="1"} 0.5
memdefrag_fragmentation_unusable_ratio{order="2"} 0.5
# HELP memdefrag_free_blocks Free blocks of 2^order pages, by NUMA node and zone (/proc/buddyinfo).
# TYPE memdefrag_free_blocks gauge
memdefrag_free_blocks{node="0",zone="Normal",order="0"} 4
memdefrag_free_blocks{node="0",zone="Normal",order="1"} 0
memdefrag_free_blocks{node="0",zone="Normal",order="2"} 1
# HELP memdefrag_pressure_some_ratio Share of the last 10 s in which some tasks stalled on memory (PSI avg10).
# TYPE memdefrag_pressure_some_ratio gauge
memdefrag_pressure_some_ratio 0.125
# HELP memdefrag_pressure_full_ratio Share of the last 10 s in which all non-idle tasks stalled on memory (PSI avg10).
# TYPE memdefrag_pressure_full_ratio gauge
memdefrag_pressure_full_ratio 0.02
# HELP memdefrag_reportable_free_bytes Free memory in blocks a VM guest reports to its hypervisor (page_reporting_order or larger).
# TYPE memdefrag_reportable_free_bytes gauge
memdefrag_reportable_free_bytes 16384
# HELP memdefrag_actions_total Operations the watch ran, by operation and outcome.
# TYPE memdefrag_actions_total counter
memdefrag_actions_total{op="compact",status="ok"} 1
memdefrag_actions_total{op="give-back",status="failed"} 1
memdefrag_actions_total{op="give-back",status="ok"} 2
memdefrag_actions_total{op="standby",status="failed"} 1
memdefrag_actions_total{op="standby",status="ok"} 2
# HELP memdefrag_freed_bytes_total Memory the watch's actions freed (free memory after minus before, when positive).
# TYPE memdefrag_freed_bytes_total counter
memdefrag_freed_bytes_total 3489660928
# HELP memdefrag_given_back_bytes_total Free memory the watch's give-backs put in blocks the balloon reports to the hypervisor (reportable free memory after minus before, when positive).
# TYPE memdefrag_given_back_bytes_total counter
memdefrag_given_back_bytes_total 536870912
# HELP memdefrag_last_action_timestamp_seconds When the watch last acted, in seconds since the epoch.
# TYPE memdefrag_last_action_timestamp_seconds gauge
memdefrag_last_action_timestamp_seconds T
"#;
    assert_eq!(sorted(&text), expected);
}

#[test]
fn open_metrics_names_counter_families_without_total_and_ends_with_eof() {
    let counters = WatchCounters::default();
    counters.record(&event(vec![Op::Standby], Status::Ok, 1));
    let text = encode(&linux_snapshot(), Some(&counters), Format::OpenMetrics);
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("# TYPE memdefrag_actions counter\n"));
    assert!(text.contains("memdefrag_actions_total{op=\"standby\",status=\"ok\"} 1\n"));
    assert!(text.contains("# UNIT memdefrag_memory_bytes bytes\n"));
    let classic = encode(&linux_snapshot(), Some(&counters), Format::Text);
    assert!(!classic.contains("# EOF") && !classic.contains("# UNIT"));
}

#[test]
fn without_a_watch_there_are_no_counters_and_without_detail_only_memory() {
    let text = encode(&snapshot(4 * GIB, GIB, GIB, GIB, 0), None, Format::Text);
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect();
    assert_eq!(families, ["memdefrag_memory_bytes gauge"]);
}

#[test]
fn windows_lists_by_priority_and_by_list() {
    let mut s = snapshot(16 * GIB, 12 * GIB, 8 * GIB, 3 * GIB, GIB / 4);
    let mut standby = [0; 8];
    for (priority, bytes) in standby.iter_mut().enumerate() {
        *bytes = (priority as u64 + 1) << 20;
    }
    s.detail = Detail::Windows(Box::new(WindowsMemory {
        page_size: 4096,
        memory_lists: Some(MemoryLists {
            zeroed_bytes: 1 << 20,
            free_bytes: 2 << 20,
            modified_bytes: 3 << 20,
            modified_no_write_bytes: 4 << 20,
            modified_page_file_bytes: 0,
            bad_bytes: 0,
            standby_bytes_by_priority: standby,
            repurposed_pages_by_priority: [0; 8],
        }),
        memory_lists_error: None,
        commit_total_bytes: 0,
        commit_limit_bytes: 0,
        system_cache_bytes: 0,
        file_cache_bytes: None,
        sources: Sources {
            total_bytes: "",
            available_bytes: "",
            free_bytes: "",
            cache_bytes: "",
            modified_bytes: "",
        },
    }));
    let text = sorted(&encode(&s, None, Format::Text));
    for line in [
        "memdefrag_standby_bytes{priority=\"0\"} 1048576",
        "memdefrag_standby_bytes{priority=\"7\"} 8388608",
        "memdefrag_memory_list_bytes{list=\"zeroed\"} 1048576",
        "memdefrag_memory_list_bytes{list=\"modified_no_write\"} 4194304",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from\n{text}"
        );
    }
}

#[test]
fn the_textfile_is_replaced_whole_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memdefrag.prom");
    std::fs::write(&path, "old\n").unwrap();
    write_atomically(&path, "new\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["memdefrag.prom"]);
    let missing = dir.path().join("no-such-dir").join("memdefrag.prom");
    assert!(write_atomically(&missing, "x").is_err());
}

fn get(address: SocketAddr, path: &str, accept: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\nAccept: {accept}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn the_endpoint_serves_metrics_by_accept_header_and_404_elsewhere() {
    let server = serve(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(|format| match format {
            Format::Text => Ok("text\n".into()),
            Format::OpenMetrics => Err("no snapshot".into()),
        }),
    )
    .unwrap();
    let address = server.address();
    let text = get(address, "/metrics", "*/*");
    assert!(text.starts_with("HTTP/1.0 200"), "{text}");
    assert!(text.contains("text/plain; version=0.0.4"), "{text}");
    assert!(text.ends_with("\r\n\r\ntext\n"), "{text}");
    let failed = get(
        address,
        "/metrics",
        "application/openmetrics-text; version=1.0.0,text/plain;q=0.5",
    );
    assert!(failed.starts_with("HTTP/1.0 500"), "{failed}");
    assert!(failed.ends_with("memdefrag: no snapshot\n"), "{failed}");
    assert!(get(address, "/", "*/*").starts_with("HTTP/1.0 404"));

    // The address is taken while it serves, and free again once the server is dropped.
    let taken = serve(address, Arc::new(|_| Ok(String::new())))
        .err()
        .unwrap();
    assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
    drop(server);
    // The listener closes in tiny_http's accept thread, a moment after the drop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let again = loop {
        match serve(address, Arc::new(|_| Ok("again\n".into()))) {
            Ok(server) => break server,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("the address stayed taken: {e}"),
        }
    };
    assert!(get(again.address(), "/metrics", "*/*").ends_with("again\n"));
}
