//! `memdefrag metrics` and `watch --metrics-listen`: checked by promtool and scraped by a real
//! Prometheus server (Debian's `prometheus` package, which scripts/test installs).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{assert_exit, bin, memdefrag, stderr};

/// A loopback address with a port nobody listens on (at the time of asking).
fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// GET `path` from `address`: the status code and the body.
fn get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// A child process killed when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `memdefrag watch ARGS --metrics-listen ADDRESS`, its events on a pipe, killed when the test
/// ends.
fn watch_serving(args: &[&str], address: SocketAddr) -> Killed {
    Killed(
        Command::new(bin())
            .arg("watch")
            .args(args)
            .args(["--metrics-listen", &address.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn metrics_output_into_a_missing_directory_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("memdefrag.prom");
    let out = memdefrag(&["metrics", "--output", path.to_str().unwrap()]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("memdefrag.prom"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_address_in_use_ends_the_watch_before_it_acts() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    // A dry run whose trigger fires at once: any output would mean it watched.
    let out = memdefrag(&[
        "watch",
        "--dry-run",
        "--usage-above",
        "0",
        "--metrics-listen",
        &address,
    ]);
    assert_exit(&out, 1);
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot listen on {address} for metrics")) && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn a_metrics_only_watch_serves_and_once_is_refused() {
    let out = memdefrag(&["watch", "--once", "--metrics-listen", "127.0.0.1:0"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("nothing would scrape it"),
        "{}",
        stderr(&out)
    );

    // No trigger, no privilege: it only serves.
    let address = free_address();
    let _watch = watch_serving(&[], address);
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        if let Some((200, body)) = get(address, "/metrics") {
            break body;
        }
        assert!(Instant::now() < deadline, "the endpoint never answered");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        body.contains("memdefrag_memory_bytes{kind=\"total\"}"),
        "{body}"
    );
    // No watch, so no watch counters.
    assert!(!body.contains("memdefrag_actions_total"), "{body}");
    assert_eq!(get(address, "/").map(|r| r.0), Some(404));
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use crate::pagecache::UncachedFile;
    use crate::util::{kernel_state_lock, memdefrag_json, require_root};

    const MIB: usize = 1 << 20;

    fn promtool_check(text: &str) {
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool (Debian's prometheus package; scripts/test installs it)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "promtool: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    #[ignore = "needs promtool; scripts/test runs it"]
    fn promtool_accepts_metrics_and_the_textfile() {
        let out = memdefrag(&["metrics"]);
        assert_exit(&out, 0);
        let text = String::from_utf8(out.stdout).unwrap();
        promtool_check(&text);
        assert!(
            text.contains("# TYPE memdefrag_memory_bytes gauge\n"),
            "{text}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memdefrag.prom");
        assert_exit(
            &memdefrag(&["metrics", "--output", path.to_str().unwrap()]),
            0,
        );
        let written = std::fs::read_to_string(&path).unwrap();
        promtool_check(&written);
        let families = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with("# TYPE "))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(families(&written), families(&text));
    }

    #[test]
    #[ignore = "needs promtool; scripts/test runs it"]
    fn promtool_accepts_the_endpoint_with_watch_counters() {
        let address = free_address();
        // A dry run that fires at once, so that the counters have samples.
        let _watch = watch_serving(
            &["--dry-run", "--usage-above", "0", "--cooldown", "1h"],
            address,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let body = loop {
            match get(address, "/metrics") {
                Some((200, body)) if body.contains("memdefrag_actions_total{") => break body,
                _ => assert!(Instant::now() < deadline, "no counters served"),
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        promtool_check(&body);
    }

    /// Percent-encodes a query for a URL.
    fn encode(query: &str) -> String {
        query
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// The value of a PromQL query that yields one sample, once it yields one.
    fn query(prometheus: SocketAddr, promql: &str) -> Option<f64> {
        let (status, body) = get(
            prometheus,
            &format!("/api/v1/query?query={}", encode(promql)),
        )?;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let value = json["data"]["result"].get(0)?["value"][1]
            .as_str()?
            .to_owned();
        Some(value.parse().unwrap())
    }

    fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    #[test]
    #[ignore = "needs root and Debian's prometheus; scripts/test runs it"]
    fn root_prometheus_scrapes_the_watch_and_sees_its_purge() {
        require_root();
        let _lock = kernel_state_lock();
        let fill = UncachedFile::new(384 * MIB);
        let (_, status) = memdefrag_json(&["status", "--json"]);
        let threshold = status["cache_bytes"].as_u64().unwrap() + 128 * MIB as u64;
        let endpoint = free_address();
        let threshold = format!("{threshold}B");
        let mut watch = watch_serving(
            &[
                "--json",
                "--standby-above",
                &threshold,
                "--free-below",
                "100%",
                "--interval",
                "200ms",
                "--cooldown",
                "1h",
                "--ops",
                "standby",
            ],
            endpoint,
        );

        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  \
                 - job_name: memdefrag\n    static_configs:\n      - targets: ['{endpoint}']\n"
            ),
        )
        .unwrap();
        let prometheus = free_address();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let _server = Killed(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={prometheus}"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("prometheus (Debian's prometheus package; scripts/test installs it)"),
        );
        wait_for("prometheus ready", Duration::from_secs(60), || {
            get(prometheus, "/-/ready").is_some_and(|r| r.0 == 200)
        });
        let mut total = None;
        wait_for("a scrape of the watch", Duration::from_secs(30), || {
            total = query(prometheus, "memdefrag_memory_bytes{kind=\"total\"}");
            total.is_some()
        });
        // MemTotal itself moves by a few pages on a virtual machine (the balloon driver, memory
        // the kernel takes for itself), so the scrape and a later read may differ that much.
        let mem_total = crate::files::meminfo("MemTotal") as f64;
        let total = total.unwrap();
        assert!(
            (total - mem_total).abs() <= 16.0 * MIB as f64,
            "Prometheus saw total {total}, MemTotal is {mem_total}"
        );
        assert_eq!(
            query(prometheus, "sum(memdefrag_actions_total) or vector(0)"),
            Some(0.0),
            "acted before the cache filled"
        );

        fill.fill();
        wait_for(
            "the purge, as Prometheus sees it",
            Duration::from_secs(30),
            || {
                query(
                    prometheus,
                    "sum(memdefrag_actions_total{op=\"standby\",status=\"ok\"})",
                )
                .is_some_and(|n| n >= 1.0)
            },
        );
        // What Prometheus holds is what the watch reported (its positive part: a purge can
        // show a loss when other work took memory meanwhile).
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(watch.0.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        let reported = event["freed_bytes"].as_i64().unwrap().max(0) as f64;
        let mut freed = None;
        wait_for(
            "the freed bytes in Prometheus",
            Duration::from_secs(10),
            || {
                freed = query(prometheus, "memdefrag_freed_bytes_total");
                freed == Some(reported)
            },
        );
    }
}

/// `watch --give-back` (a Linux guest with free page reporting): each action is a give-back,
/// its event says what the hypervisor got, and /metrics counts it. Elsewhere the watch refuses
/// before it starts.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "needs root; scripts/test runs it (and scripts/lab, in guests)"]
fn root_a_give_back_watch_reports_and_counts_what_it_gave_back() {
    use std::io::BufRead;

    crate::util::require_root();
    let _lock = crate::util::kernel_state_lock();
    let args = [
        "--give-back",
        "--keep-hot",
        "2s",
        "--usage-above",
        "0",
        "--cooldown",
        "1h",
        "--json",
    ];
    let reporting =
        std::path::Path::new("/sys/module/page_reporting/parameters/page_reporting_order").exists();
    if !reporting {
        let out = memdefrag(&[&["watch"][..], &args].concat());
        assert_exit(&out, 3);
        assert!(
            stderr(&out).contains("free page reporting"),
            "{}",
            stderr(&out)
        );
        return;
    }
    let (_, dry) = crate::util::memdefrag_json(&["give-back", "--dry-run", "--json"]);
    let address = free_address();
    let mut watch = watch_serving(&args, address);
    let stdout = watch.0.stdout.take().unwrap();
    let (lines, events) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    // The keep-hot time, DAMON's settling and compaction; slow under emulation.
    let line = events
        .recv_timeout(Duration::from_secs(240))
        .expect("the watch reported no give-back");
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["trigger"], "usage", "{event}");
    assert_eq!(event["status"], "ok", "{event}");
    assert_eq!(event["ops"], serde_json::json!([]), "{event}");
    let given = &event["give_back"];
    assert_eq!(given["method"], dry["method"], "{event}");
    let before = given["reportable_before_bytes"].as_i64().unwrap();
    let after = given["reportable_after_bytes"].as_i64().unwrap();
    assert!(after > 0, "{event}");
    assert_eq!(given["given_back_bytes"].as_i64().unwrap(), after - before);

    let (status, body) = get(address, "/metrics").expect("a scrape");
    assert_eq!(status, 200);
    assert!(
        body.contains("memdefrag_actions_total{op=\"give-back\",status=\"ok\"} 1\n"),
        "{body}"
    );
    let counted = body
        .lines()
        .find_map(|l| l.strip_prefix("memdefrag_given_back_bytes_total "))
        .expect("memdefrag_given_back_bytes_total");
    assert_eq!(
        counted.parse::<i64>().unwrap(),
        (after - before).max(0),
        "{body}"
    );
    assert!(body.contains("memdefrag_reportable_free_bytes "), "{body}");
}
