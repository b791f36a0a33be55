//! memdefrag's benchmark: the kernel API against allocate-and-release ("squeeze") and against the
//! raw kernel call. Run it through `scripts/bench [--quick] [--json]`, as root, on Linux.
//!
//! The same binary also plays the helper processes (`--squeeze`, `--victim`, ...), so that they
//! can sit in a cgroup or be killed by the OOM killer on their own.

// A benchmark program, not an API: its items are documented where it helps, not everywhere.
#![allow(missing_docs)]

#[cfg(target_os = "linux")]
mod cgroup;
#[cfg(target_os = "linux")]
#[path = "../../tests/support/files.rs"]
mod files;
#[cfg(target_os = "linux")]
mod gentleness;
#[cfg(target_os = "linux")]
mod helpers;
#[cfg(target_os = "linux")]
mod probe;
#[cfg(target_os = "linux")]
mod scenarios;
#[cfg(target_os = "linux")]
mod stats;
#[cfg(target_os = "linux")]
mod sys;

/// What a run does; `--quick` shrinks it to about a minute.
#[cfg(target_os = "linux")]
pub struct Config {
    pub memdefrag: String,
    pub dir: std::path::PathBuf,
    pub json: bool,
    pub cache_gib: u64,
    pub plan_mib: u64,
    /// Share of available memory the fragmentation scenario takes (then frees half of).
    pub fragment_share: f64,
    pub reps: usize,
    pub squeeze_reps: usize,
    pub machine_squeeze: bool,
    pub overhead_runs: usize,
    /// The gentleness scenario: the swap file it adds, and the anonymous victim's working set.
    pub swap_mib: u64,
    pub anon_victim_mib: u64,
    /// Dirty data written before the gentleness scenario's `purge modified`.
    pub dirty_mib: u64,
    /// The scenarios to run (`--scenario`, repeatable); all when empty.
    pub scenarios: Vec<String>,
}

/// The scenarios, in the order a run takes them.
#[cfg(target_os = "linux")]
const SCENARIOS: [&str; 5] = [
    "purge_page_cache",
    "default_plan",
    "tool_overhead",
    "fragmentation",
    "gentleness",
];

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("memdefrag-bench runs on Linux only");
    std::process::exit(3);
}

#[cfg(target_os = "linux")]
fn main() {
    use std::path::PathBuf;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).expect("missing argument");
    // Helper roles.
    match args.first().map(String::as_str) {
        Some("--victim") => return probe::victim_main(arg(1).as_ref()),
        Some("--anon-victim") => return probe::anon_victim_main(arg(1).parse().expect("bytes")),
        Some("--read-into-cache") => {
            return helpers::read_into_cache_main(arg(1).as_ref(), arg(2).as_ref())
        }
        Some("--squeeze") => {
            let cgroup = args.get(4).map(PathBuf::from);
            return helpers::squeeze_main(
                arg(1).as_ref(),
                arg(2).parse().expect("target"),
                arg(3).parse().expect("max"),
                cgroup.as_deref(),
            );
        }
        Some("--squeeze-into-swap") => {
            return helpers::squeeze_into_swap_main(arg(1).parse().expect("bytes"))
        }
        Some("--fragment") => return helpers::fragment_main(arg(1).parse().expect("bytes")),
        Some("--fragment-hot") => {
            return helpers::fragment_hot_main(
                arg(1).parse().expect("bytes"),
                arg(2).parse().expect("interval in ms"),
            )
        }
        Some("--reread") => {
            return helpers::reread_main(
                arg(1).as_ref(),
                arg(2).parse().expect("interval in ms"),
                arg(3).as_ref(),
            )
        }
        _ => {}
    }

    let mut config = Config {
        memdefrag: "target/release/memdefrag".into(),
        dir: std::env::temp_dir(),
        json: false,
        cache_gib: 4,
        plan_mib: 1024,
        fragment_share: 0.6,
        reps: 5,
        squeeze_reps: 3,
        machine_squeeze: true,
        overhead_runs: 200,
        swap_mib: 2048,
        anon_victim_mib: 1024,
        dirty_mib: 256,
        scenarios: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--quick" => {
                config.cache_gib = 1;
                config.plan_mib = 256;
                config.fragment_share = 0.25;
                config.reps = 3;
                config.squeeze_reps = 1;
                config.machine_squeeze = false;
                config.overhead_runs = 50;
                config.swap_mib = 512;
                config.anon_victim_mib = 256;
                config.dirty_mib = 64;
            }
            "--scenario" => {
                i += 1;
                let Some(name) = args.get(i).map(String::as_str) else {
                    eprintln!(
                        "memdefrag-bench: --scenario needs a name: {}",
                        SCENARIOS.join(", ")
                    );
                    std::process::exit(2);
                };
                if !SCENARIOS.contains(&name) {
                    eprintln!(
                        "memdefrag-bench: unknown scenario {name:?}; the scenarios are {}",
                        SCENARIOS.join(", ")
                    );
                    std::process::exit(2);
                }
                config.scenarios.push(name.into());
            }
            "--json" => config.json = true,
            "--memdefrag" => {
                i += 1;
                config.memdefrag = arg(i).into();
            }
            "--dir" => {
                i += 1;
                config.dir = arg(i).into();
            }
            "--bench" => {} // passed by `cargo bench`
            other => {
                eprintln!("memdefrag-bench: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
        i += 1;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "memdefrag-bench needs root: it drops caches, creates a memory cgroup and compacts memory. \
             Run: sudo scripts/bench"
        );
        std::process::exit(77);
    }
    run(&config);
}

#[cfg(target_os = "linux")]
fn run(config: &Config) {
    use serde_json::{json, Map, Value};

    let dir = tempfile::Builder::new()
        .prefix("memdefrag-bench-")
        .tempdir_in(&config.dir)
        .expect("work directory");
    let files = scenarios::Files::create(dir.path(), config);
    let started = std::time::Instant::now();
    let mut done = Vec::new();
    let runs: [fn(&Config, &scenarios::Files) -> scenarios::Scenario; 5] = [
        scenarios::purge_page_cache,
        scenarios::default_plan,
        |c, _| scenarios::tool_overhead(c),
        |c, _| scenarios::fragmentation(c),
        gentleness::gentleness,
    ];
    for (name, scenario) in SCENARIOS.into_iter().zip(runs) {
        if !config.scenarios.is_empty() && !config.scenarios.iter().any(|s| s == name) {
            continue;
        }
        let s = scenario(config, &files);
        assert_eq!(s.name, name, "SCENARIOS names the scenarios in order");
        if !config.json {
            print!("{}", s.table());
        }
        done.push(s);
    }
    let mut scenarios_json = Map::new();
    let mut ratios = Map::new();
    let mut differences = Map::new();
    let mut notes = Map::new();
    for s in &done {
        scenarios_json.insert(s.name.into(), s.to_json());
        for (name, value) in &s.ratios {
            ratios.insert(name.clone(), json!(value));
        }
        for (name, value) in &s.differences {
            differences.insert(name.clone(), json!(value));
        }
        notes.insert(s.name.into(), json!(s.notes));
    }
    let machine = scenarios::machine();
    if config.json {
        let report = json!({
            "machine": machine,
            "config": {
                "cache_gib": config.cache_gib,
                "repetitions": config.reps,
                "squeeze_repetitions": config.squeeze_reps,
                "machine_squeeze": config.machine_squeeze,
                "overhead_runs": config.overhead_runs,
                "swap_mib": config.swap_mib,
                "anon_victim_mib": config.anon_victim_mib,
                "dirty_mib": config.dirty_mib,
                "scenarios": done.iter().map(|s| s.name).collect::<Vec<_>>(),
            },
            "scenarios": Value::Object(scenarios_json),
            "ratios": Value::Object(ratios),
            "differences": Value::Object(differences),
            "notes": Value::Object(notes),
            "duration_s": started.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    } else {
        println!(
            "\nmachine: {machine}\nbenchmark took {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
}
