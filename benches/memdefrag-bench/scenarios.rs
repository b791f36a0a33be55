//! The four scenarios: purge the page cache, the default plan, tool overhead, fragmentation.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use memdefrag::{Backend, Native};
use serde_json::{json, Map, Value};

use crate::cgroup::MemoryCgroup;
use crate::probe::{Probe, Victim};
use crate::stats::Summary;
use crate::sys::{
    self, evict, major_faults, meminfo, read_through, resident_bytes, run_cost, Cost,
};
use crate::Config;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Summaries of each named figure over repetitions.
#[derive(Default)]
pub struct Figures {
    names: Vec<&'static str>,
    samples: Vec<Vec<f64>>,
}

impl Figures {
    pub fn add(&mut self, name: &'static str, value: f64) {
        match self.names.iter().position(|&n| n == name) {
            Some(i) => self.samples[i].push(value),
            None => {
                self.names.push(name);
                self.samples.push(vec![value]);
            }
        }
    }

    pub fn summary(&self, name: &str) -> Summary {
        let i = self.names.iter().position(|&n| n == name).expect(name);
        Summary::of(&self.samples[i])
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (name, samples) in self.names.iter().zip(&self.samples) {
            map.insert(
                (*name).into(),
                serde_json::to_value(Summary::of(samples)).unwrap(),
            );
        }
        Value::Object(map)
    }
}

/// One scenario's results: figures per method, and ratios computed within the run.
pub struct Scenario {
    pub name: &'static str,
    methods: Vec<(&'static str, Figures)>,
    pub ratios: Vec<(String, f64)>,
    /// Differences between methods (not ratios), e.g. memdefrag's wall time minus the raw call's.
    pub differences: Vec<(String, f64)>,
    pub notes: Vec<String>,
}

impl Scenario {
    pub fn new(name: &'static str) -> Scenario {
        Scenario {
            name,
            methods: Vec::new(),
            ratios: Vec::new(),
            differences: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn method(&mut self, name: &'static str) -> &mut Figures {
        if let Some(i) = self.methods.iter().position(|(n, _)| *n == name) {
            return &mut self.methods[i].1;
        }
        self.methods.push((name, Figures::default()));
        &mut self.methods.last_mut().unwrap().1
    }

    pub fn get(&self, method: &str) -> Option<&Figures> {
        self.methods
            .iter()
            .find(|(n, _)| *n == method)
            .map(|(_, f)| f)
    }

    /// `a`'s median over `b`'s median of `figure`, recorded as `<scenario>.<a>_over_<b>.<label>`.
    pub fn ratio(&mut self, a: &str, b: &str, figure: &str, label: &str) {
        let (Some(fa), Some(fb)) = (self.get(a), self.get(b)) else {
            return;
        };
        let (x, y) = (fa.summary(figure).median, fb.summary(figure).median);
        let value = if y > 0.0 { x / y } else { f64::INFINITY };
        self.ratios
            .push((format!("{}.{a}_over_{b}.{label}", self.name), value));
    }

    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (name, figures) in &self.methods {
            map.insert((*name).into(), figures.to_json());
        }
        Value::Object(map)
    }

    /// A table: one row per method, one column per figure.
    pub fn table(&self) -> String {
        let mut out = format!("\n## {}\n", self.name);
        let mut columns: Vec<&str> = Vec::new();
        for (_, f) in &self.methods {
            for name in &f.names {
                if !columns.contains(name) {
                    columns.push(name);
                }
            }
        }
        for (method, f) in &self.methods {
            out.push_str(&format!("\n{method}\n"));
            for column in &columns {
                if f.names.contains(column) {
                    let digits = if column.ends_with("bytes") { 0 } else { 2 };
                    let s = f.summary(column);
                    let shown = if column.ends_with("bytes") {
                        format!(
                            "{:.1} MiB{}",
                            s.median / MIB as f64,
                            if s.n > 1 {
                                format!(" ({:.1}–{:.1})", s.min / MIB as f64, s.max / MIB as f64)
                            } else {
                                String::new()
                            }
                        )
                    } else {
                        s.show(digits)
                    };
                    out.push_str(&format!("  {column:<22} {shown}\n"));
                }
            }
        }
        for (name, value) in &self.ratios {
            out.push_str(&format!("  ratio {name} = {value:.2}\n"));
        }
        for (name, value) in &self.differences {
            out.push_str(&format!("  difference {name} = {value:.2}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        out
    }
}

/// The files a run needs, in a directory removed at the end.
pub struct Files {
    pub dir: PathBuf,
    pub cache: PathBuf,
    pub working_set: PathBuf,
    pub plan: PathBuf,
}

impl Files {
    pub fn create(dir: &Path, config: &Config) -> Files {
        let files = Files {
            dir: dir.to_owned(),
            cache: dir.join("cache.bin"),
            working_set: dir.join("working-set.bin"),
            plan: dir.join("plan.bin"),
        };
        eprintln!(
            "memdefrag-bench: writing {} GiB of test files in {}",
            config.cache_gib,
            dir.display()
        );
        sys::write_file(&files.cache, config.cache_gib * GIB);
        sys::write_file(&files.working_set, 256 * MIB);
        sys::write_file(&files.plan, config.plan_mib * MIB);
        // Pages cached by writing carry buffer heads that make the first eviction after them
        // several times slower than later ones (measured: ~90 ms against ~5 ms for 2 GiB). Start
        // every method from pages cached by reading.
        for file in [&files.cache, &files.working_set, &files.plan] {
            evict(file);
        }
        // The first drop of a run also drops whatever else the machine cached since the last one
        // (build output, logs), which would land on whichever method comes first: drop it now,
        // untimed.
        std::fs::write("/proc/sys/vm/drop_caches", "1").expect("drop_caches");
        files
    }
}

pub fn memdefrag(config: &Config, args: &[&str]) -> Cost {
    run_cost(&config.memdefrag, args)
}

pub fn sh(script: &str) -> Cost {
    run_cost("sh", &["-c", script])
}

/// What running a method gave: its cost, and for a squeeze what it allocated (unknown when the
/// OOM killer ended it).
pub enum Ran {
    Method(Cost),
    Squeeze(Cost, Option<u64>),
}

impl Ran {
    /// The cost; a method must have succeeded, and a squeeze's outcome is recorded in `figures`.
    pub fn record(self, method: &str, figures: &mut Figures) -> Cost {
        match self {
            Ran::Method(cost) => {
                assert!(cost.success, "{method} failed");
                cost
            }
            // A squeeze may stop short of its target (at its safety floor) or be killed by the
            // OOM killer, whose first choice it is: both are results, recorded.
            Ran::Squeeze(cost, allocated) => {
                figures.add("reached_target", f64::from(u8::from(cost.success)));
                figures.add("oom_killed", f64::from(u8::from(cost.killed)));
                if let Some(bytes) = allocated {
                    figures.add("allocated_bytes", bytes as f64);
                }
                cost
            }
        }
    }
}

/// Times one method against the cache file, with the probe and the victim watching.
fn measure(
    method: &str,
    figures: &mut Figures,
    files: &Files,
    victim: &mut Victim,
    run: impl FnOnce() -> Ran,
) -> u64 {
    victim.warm();
    std::thread::sleep(Duration::from_millis(200));
    let resident_before = resident_bytes(&files.cache);
    let faults_before = major_faults(victim.pid());
    let probe = Probe::start();
    let ran = run();
    let latency = probe.stop();
    let faults = major_faults(victim.pid()) - faults_before;
    let resident_after = resident_bytes(&files.cache);
    let retouch = victim.retouch_ms();
    let cost = ran.record(method, figures);
    figures.add("wall_ms", ms(cost.wall));
    figures.add("cpu_ms", ms(cost.cpu));
    figures.add(
        "evicted_bytes",
        resident_before.saturating_sub(resident_after) as f64,
    );
    figures.add("left_cached_bytes", resident_after as f64);
    figures.add("probe_p50_ms", latency.p50_ms);
    figures.add("probe_p99_ms", latency.p99_ms);
    figures.add("probe_max_ms", latency.max_ms);
    figures.add("victim_major_faults", faults as f64);
    figures.add("victim_retouch_ms", retouch);
    resident_after
}

/// Runs the squeezer (this binary's `--squeeze` role) and returns its cost and allocation.
pub fn squeeze(files: &Files, target: u64, max: u64, cgroup: Option<&Path>) -> Ran {
    let mut command = Command::new(std::env::current_exe().expect("current_exe"));
    command
        .arg("--squeeze")
        .arg(&files.cache)
        .arg(target.to_string())
        .arg(max.to_string());
    if let Some(cgroup) = cgroup {
        command.arg(cgroup);
    }
    run_squeezer(command)
}

/// Runs a squeezer role of this binary and returns its cost and, from the one line it prints as
/// it exits, what it allocated.
pub fn run_squeezer(mut command: Command) -> Ran {
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn squeezer");
    let mut stdout = child.stdout.take().expect("stdout");
    let cost = sys::wait_cost(child, start);
    // The squeezer prints one short line as it exits: the pipe holds it.
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).expect("read squeezer");
    Ran::Squeeze(cost, text.trim().parse().ok())
}

/// Where a squeeze of the `size`-byte cache file stops: at what memdefrag's purge left cached
/// (`left`, the median of its runs), give or take 1 % of the file; and the limit of the cgroup a
/// contained squeeze runs in (the file and 256 MiB).
pub fn squeeze_bounds(mut left: Vec<u64>, size: u64) -> (u64, u64) {
    left.sort_unstable();
    (left[left.len() / 2] + size / 100, size + 256 * MIB)
}

/// A memory cgroup limited to `limit` bytes with the cache file read inside it, so that its page
/// cache is charged there: what a squeeze in that cgroup has to push out.
pub fn cache_in_cgroup(files: &Files, limit: u64) -> MemoryCgroup {
    let cgroup = MemoryCgroup::create(limit).unwrap_or_else(|e| panic!("cgroup: {e}"));
    evict(&files.cache);
    let status = Command::new(std::env::current_exe().expect("current_exe"))
        .arg("--read-into-cache")
        .arg(&files.cache)
        .arg(cgroup.path())
        .status()
        .expect("spawn reader");
    assert!(
        status.success(),
        "reading the cache inside the cgroup failed"
    );
    cgroup
}

/// Scenario 1: evict N GiB of clean page cache, four ways.
pub fn purge_page_cache(config: &Config, files: &Files) -> Scenario {
    let mut s = Scenario::new("purge_page_cache");
    let mut victim = Victim::start(&files.working_set);
    let size = config.cache_gib * GIB;

    let prepare = || {
        evict(&files.cache);
        read_through(&files.cache);
    };
    // The noise level: the same measurement around a process that does nothing for as long as
    // memdefrag takes.
    for _ in 0..config.reps {
        prepare();
        let f = s.method("idle");
        measure("idle", f, files, &mut victim, || {
            Ran::Method(run_cost("sleep", &["0.02"]))
        });
    }
    let mut left = Vec::new();
    for _ in 0..config.reps {
        prepare();
        let f = s.method("memdefrag");
        left.push(measure("memdefrag", f, files, &mut victim, || {
            Ran::Method(memdefrag(config, &["purge", "standby"]))
        }));
    }
    for _ in 0..config.reps {
        prepare();
        let f = s.method("raw_drop_caches");
        measure("raw_drop_caches", f, files, &mut victim, || {
            Ran::Method(sh("echo 1 > /proc/sys/vm/drop_caches"))
        });
    }

    let (target, limit) = squeeze_bounds(left, size);
    for _ in 0..config.squeeze_reps {
        let cgroup = cache_in_cgroup(files, limit);
        let f = s.method("squeeze_cgroup");
        measure("squeeze_cgroup", f, files, &mut victim, || {
            squeeze(files, target, limit, Some(cgroup.path()))
        });
        if s.notes.is_empty() {
            s.notes.push(format!(
                "squeeze_cgroup runs in a cgroup v{} limited to {} MiB; it stops once the file has at most {} MiB cached",
                cgroup.version(),
                limit / MIB,
                target / MIB
            ));
        }
    }
    if config.machine_squeeze {
        prepare();
        let max = meminfo("MemTotal");
        let f = s.method("squeeze_machine");
        measure("squeeze_machine", f, files, &mut victim, || {
            squeeze(files, target, max, None)
        });
        s.notes.push(
            "squeeze_machine allocates on the whole machine, as commercial optimizers do; kswapd's share of its reclaim is not in its CPU time"
                .into(),
        );
    }
    for squeeze in ["squeeze_cgroup", "squeeze_machine"] {
        s.ratio(squeeze, "memdefrag", "wall_ms", "wall");
        s.ratio(squeeze, "memdefrag", "cpu_ms", "cpu");
        s.ratio(squeeze, "memdefrag", "probe_p99_ms", "probe_p99");
    }
    s.ratio("memdefrag", "raw_drop_caches", "wall_ms", "wall");
    s.ratio("memdefrag", "idle", "probe_p99_ms", "probe_p99");
    if let (Some(a), Some(b)) = (s.get("memdefrag"), s.get("raw_drop_caches")) {
        let d = a.summary("wall_ms").median - b.summary("wall_ms").median;
        s.differences
            .push(("purge_page_cache.memdefrag_minus_raw.wall_ms".into(), d));
    }
    s
}

/// Scenario 2: `memdefrag defrag` against the same steps as shell commands.
pub fn default_plan(config: &Config, files: &Files) -> Scenario {
    let mut s = Scenario::new("default_plan");
    let raw = "sync; echo 1 > /proc/sys/vm/drop_caches; echo 2 > /proc/sys/vm/drop_caches; \
               echo 1 > /proc/sys/vm/compact_memory";
    for _ in 0..config.reps {
        for (method, run) in [("memdefrag", None), ("raw_shell", Some(raw))] {
            read_through(&files.plan);
            let cost = match run {
                None => memdefrag(config, &["defrag"]),
                Some(script) => sh(script),
            };
            assert!(cost.success, "{method} failed");
            let f = s.method(method);
            f.add("wall_ms", ms(cost.wall));
            f.add("cpu_ms", ms(cost.cpu));
        }
    }
    s.ratio("memdefrag", "raw_shell", "wall_ms", "wall");
    s.ratio("memdefrag", "raw_shell", "cpu_ms", "cpu");
    s.notes.push(format!(
        "each run first reads a {} MiB file into the cache; memdefrag also reads memory state before and after",
        config.plan_mib
    ));
    s
}

/// Scenario 3: the cost of `memdefrag status` against `free -b`, whole process.
pub fn tool_overhead(config: &Config) -> Scenario {
    let mut s = Scenario::new("tool_overhead");
    for _ in 0..config.overhead_runs {
        for (method, program, args) in [
            (
                "memdefrag_status",
                config.memdefrag.as_str(),
                &["status"][..],
            ),
            (
                "memdefrag_status_json",
                config.memdefrag.as_str(),
                &["status", "--json"][..],
            ),
            ("free", "free", &["-b"][..]),
        ] {
            let cost = run_cost(program, args);
            assert!(cost.success, "{method} failed");
            let f = s.method(method);
            f.add("wall_ms", ms(cost.wall));
            f.add("cpu_ms", ms(cost.cpu));
        }
    }
    s.ratio("memdefrag_status", "free", "wall_ms", "wall");
    s
}

/// Scenario 4: fragment free memory, then compact it.
pub fn fragmentation(config: &Config) -> Scenario {
    let mut s = Scenario::new("fragmentation");
    let index = || {
        Native::new()
            .snapshot()
            .expect("snapshot")
            .fragmentation
            .expect("buddyinfo")
            .unusable_index_order9
    };
    // Fragment most of free memory, so that the index reflects it rather than idle free memory.
    let bytes =
        (meminfo("MemAvailable") as f64 * config.fragment_share) as usize & !(sys::page() - 1);
    for _ in 0..config.reps.min(3) {
        let idle = index();
        let mut helper = Command::new(std::env::current_exe().expect("current_exe"))
            .arg("--fragment")
            .arg(bytes.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn fragmenter");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(helper.stdout.as_mut().expect("stdout")),
            &mut line,
        )
        .expect("read");
        assert_eq!(line.trim(), "ready", "the fragmenter failed");
        let before = index();
        let cost = memdefrag(config, &["purge", "compact"]);
        let after = index();
        drop(helper.stdin.take());
        let _ = helper.wait();
        assert!(cost.success, "memdefrag purge compact failed");
        let f = s.method("memdefrag_compact");
        f.add("index_idle", idle);
        f.add("index_fragmented", before);
        f.add("index_compacted", after);
        f.add("wall_ms", ms(cost.wall));
        f.add("cpu_ms", ms(cost.cpu));
    }
    s.notes.push(format!(
        "a helper touches {} MiB of small pages and frees every other one, then holds the rest while memdefrag compacts; index = unusable free space index at order 9",
        bytes as u64 / MIB
    ));
    s
}

/// The machine the numbers come from.
pub fn machine() -> Value {
    let uname = Command::new("uname").arg("-r").output().ok();
    let kernel = uname
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    json!({
        "kernel": kernel,
        "cores": std::thread::available_parallelism().map(std::num::NonZero::get).unwrap_or(0),
        "memory_bytes": meminfo("MemTotal"),
        "swap_bytes": meminfo("SwapTotal"),
    })
}
