//! The registry of one scrape: built from a snapshot and the watch's counters, then encoded.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use memdefrag::snapshot::{unusable_free_index, Detail};
use memdefrag::watch::Event;
use memdefrag::Snapshot;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Order {
    order: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Block {
    node: String,
    zone: String,
    order: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Priority {
    priority: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct List {
    list: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Action {
    op: String,
    status: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn bytes(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// What a watch has done, for its `/metrics`.
#[derive(Debug, Default)]
pub struct WatchCounters {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// By operation name (or `give-back`) and status.
    actions: BTreeMap<(&'static str, &'static str), u64>,
    freed_bytes: u64,
    given_back_bytes: u64,
    last_action: Option<SystemTime>,
}

impl WatchCounters {
    /// Counts one action of the watch.
    pub fn record(&self, event: &Event) {
        let mut counts = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let status = event.status.name();
        for &op in &event.ops {
            *counts.actions.entry((op.name(), status)).or_default() += 1;
        }
        if let Some(given) = &event.give_back {
            *counts.actions.entry(("give-back", status)).or_default() += 1;
            if !event.dry_run && given.given_back_bytes > 0 {
                counts.given_back_bytes += given.given_back_bytes.unsigned_abs();
            }
        }
        if !event.dry_run && event.freed_bytes > 0 {
            counts.freed_bytes += event.freed_bytes.unsigned_abs();
        }
        counts.last_action = Some(SystemTime::now());
    }
}

/// The two exposition formats Prometheus reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The classic text format (0.0.4): what node_exporter's and windows_exporter's textfile
    /// collectors, `promtool check metrics` and any scraper read.
    Text,
    /// OpenMetrics 1.0, which Prometheus asks for when it scrapes (units, `# EOF`).
    OpenMetrics,
}

impl Format {
    /// The HTTP content type of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The metrics of `snapshot`, with `counters` when a watch keeps them, in `format`.
pub fn encode(snapshot: &Snapshot, counters: Option<&WatchCounters>, format: Format) -> String {
    let open_metrics = encode_open_metrics(snapshot, counters);
    match format {
        Format::OpenMetrics => open_metrics,
        Format::Text => to_text_format(&open_metrics),
    }
}

/// OpenMetrics as the classic text format: a counter family is named with its `_total` (the
/// classic format names a family as its samples are named), and the lines the classic format
/// does not have (`# UNIT`, `# EOF`) go.
fn to_text_format(open_metrics: &str) -> String {
    let counters: Vec<&str> = open_metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(open_metrics.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => text.push_str(&line),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

fn encode_open_metrics(snapshot: &Snapshot, counters: Option<&WatchCounters>) -> String {
    let mut registry = Registry::default();

    let memory = Family::<Kind, Gauge>::default();
    for (kind, value) in [
        ("total", snapshot.total_bytes),
        ("available", snapshot.available_bytes),
        ("free", snapshot.free_bytes),
        ("cache", snapshot.cache_bytes),
        ("modified", snapshot.modified_bytes),
    ] {
        memory
            .get_or_create(&Kind { kind: kind.into() })
            .set(bytes(value));
    }
    registry.register_with_unit(
        "memdefrag_memory",
        "Physical memory by kind: total, available for new work, free, file cache (standby), modified (dirty)",
        Unit::Bytes,
        memory,
    );

    if let Some(f) = &snapshot.fragmentation {
        let orders = f.orders();
        let unusable = Family::<Order, FloatGauge>::default();
        for order in 0..orders {
            unusable
                .get_or_create(&Order {
                    order: order.to_string(),
                })
                .set(unusable_free_index(&f.zones, order));
        }
        registry.register(
            "memdefrag_fragmentation_unusable_ratio",
            "Share of free memory (0..1) in blocks too small for an allocation of 2^order pages",
            unusable,
        );
        let blocks = Family::<Block, Gauge>::default();
        for zone in &f.zones {
            for (order, &count) in zone.free_blocks.iter().enumerate() {
                blocks
                    .get_or_create(&Block {
                        node: zone.node.to_string(),
                        zone: zone.zone.clone(),
                        order: order.to_string(),
                    })
                    .set(bytes(count));
            }
        }
        registry.register(
            "memdefrag_free_blocks",
            "Free blocks of 2^order pages, by NUMA node and zone (/proc/buddyinfo)",
            blocks,
        );
    }

    if let Detail::Windows(w) = &snapshot.detail {
        if let Some(lists) = &w.memory_lists {
            let standby = Family::<Priority, Gauge>::default();
            for (priority, &value) in lists.standby_bytes_by_priority.iter().enumerate() {
                standby
                    .get_or_create(&Priority {
                        priority: priority.to_string(),
                    })
                    .set(bytes(value));
            }
            registry.register_with_unit(
                "memdefrag_standby",
                "The standby list by priority, 0 (repurposed first) to 7",
                Unit::Bytes,
                standby,
            );
            let list = Family::<List, Gauge>::default();
            for (name, value) in [
                ("zeroed", lists.zeroed_bytes),
                ("free", lists.free_bytes),
                ("modified", lists.modified_bytes),
                ("modified_no_write", lists.modified_no_write_bytes),
                ("bad", lists.bad_bytes),
            ] {
                list.get_or_create(&List { list: name.into() })
                    .set(bytes(value));
            }
            registry.register_with_unit(
                "memdefrag_memory_list",
                "Windows' memory lists other than standby",
                Unit::Bytes,
                list,
            );
        }
    }

    if let Some(p) = &snapshot.pressure {
        let some = FloatGauge::default();
        some.set(p.some_avg10 / 100.0);
        registry.register(
            "memdefrag_pressure_some_ratio",
            "Share of the last 10 s in which some tasks stalled on memory (PSI avg10)",
            some,
        );
        let full = FloatGauge::default();
        full.set(p.full_avg10 / 100.0);
        registry.register(
            "memdefrag_pressure_full_ratio",
            "Share of the last 10 s in which all non-idle tasks stalled on memory (PSI avg10)",
            full,
        );
    }

    if let Some(r) = &snapshot.reportable_free {
        let reportable = Gauge::<i64>::default();
        reportable.set(bytes(r.bytes));
        registry.register_with_unit(
            "memdefrag_reportable_free",
            "Free memory in blocks a VM guest reports to its hypervisor (page_reporting_order or larger)",
            Unit::Bytes,
            reportable,
        );
    }

    if let Some(counters) = counters {
        let counts = counters
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let actions = Family::<Action, Counter>::default();
        for ((op, status), &n) in &counts.actions {
            actions
                .get_or_create(&Action {
                    op: (*op).into(),
                    status: (*status).into(),
                })
                .inc_by(n);
        }
        registry.register(
            "memdefrag_actions",
            "Operations the watch ran, by operation and outcome",
            actions,
        );
        let freed = Counter::<u64>::default();
        freed.inc_by(counts.freed_bytes);
        registry.register_with_unit(
            "memdefrag_freed",
            "Memory the watch's actions freed (free memory after minus before, when positive)",
            Unit::Bytes,
            freed,
        );
        let given_back = Counter::<u64>::default();
        given_back.inc_by(counts.given_back_bytes);
        registry.register_with_unit(
            "memdefrag_given_back",
            "Free memory the watch's give-backs put in blocks the balloon reports to the \
             hypervisor (reportable free memory after minus before, when positive)",
            Unit::Bytes,
            given_back,
        );
        if let Some(at) = counts.last_action {
            let last = FloatGauge::default();
            last.set(
                at.duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
            );
            registry.register(
                "memdefrag_last_action_timestamp_seconds",
                "When the watch last acted, in seconds since the epoch",
                last,
            );
        }
    }

    let mut text = String::new();
    // Encoding into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}
