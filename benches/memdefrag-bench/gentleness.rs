//! Scenario 5: how much each method hurts the programs around it. With a swap file of its own,
//! two victims keep their working sets hot — anonymous memory (only swap can take it) and a
//! mapped file — while each method runs; afterwards the kernel's own counters say what it cost
//! them: their major faults, their slowest pass over their working sets while it ran and the time
//! of one pass afterwards, swap-outs and swap-ins, refaults, and the memory stall time PSI
//! measured.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::files::write_file;
use crate::probe::{Probe, Victim};
use crate::scenarios::{
    cache_in_cgroup, memdefrag, ms, run_squeezer, sh, squeeze, squeeze_bounds, Figures, Files, Ran,
    Scenario,
};
use crate::sys::{evict, major_faults, meminfo, read_through, resident_bytes, run_cost};
use crate::Config;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A swap file for the scenario, switched off and removed when dropped (scripts/bench also
/// switches it off when the run is interrupted).
struct SwapFile {
    path: PathBuf,
}

impl SwapFile {
    fn create(dir: &Path, mib: u64) -> SwapFile {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;

        let path = dir.join("swapfile");
        // Written out: the kernel refuses swap files with holes.
        let mut file = std::fs::File::create(&path).expect("create the swap file");
        let zeros = vec![0u8; MIB as usize];
        for _ in 0..mib {
            file.write_all(&zeros).expect("write the swap file");
        }
        file.sync_all().expect("sync the swap file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the swap file");
        let swap = SwapFile { path };
        for program in ["mkswap", "swapon"] {
            let status = Command::new(program)
                .arg(&swap.path)
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap_or_else(|e| panic!("{program}: {e}"));
            assert!(status.success(), "{program} {}", swap.path.display());
        }
        swap
    }
}

impl Drop for SwapFile {
    fn drop(&mut self) {
        // A file still in use as swap is kept, and said so: deleting it would leave the swap on.
        match Command::new("swapoff").arg(&self.path).status() {
            Ok(status) if status.success() => {
                let _ = std::fs::remove_file(&self.path);
            }
            _ => eprintln!(
                "memdefrag-bench: could not switch off the swap file {}; run: swapoff {0} && rm {0}",
                self.path.display()
            ),
        }
    }
}

/// The kernel's counters of harm to others, at one moment.
#[derive(Clone, Copy, Default)]
struct Counters {
    pswpout: u64,
    pswpin: u64,
    refaults: u64,
    psi_some_us: u64,
    psi_full_us: u64,
}

impl Counters {
    fn now() -> Counters {
        let vmstat = std::fs::read_to_string("/proc/vmstat").expect("/proc/vmstat");
        let field = |name: &str| {
            vmstat
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // Linux 5.9 split refaults into anon and file; before, one counter.
        let refaults = field("workingset_refault_anon")
            + field("workingset_refault_file")
            + field("workingset_refault");
        let pressure = std::fs::read_to_string("/proc/pressure/memory").unwrap_or_default();
        let total = |kind: &str| {
            pressure
                .lines()
                .find(|l| l.starts_with(kind))
                .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("total=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Counters {
            pswpout: field("pswpout"),
            pswpin: field("pswpin"),
            refaults,
            psi_some_us: total("some"),
            psi_full_us: total("full"),
        }
    }

    fn since(self, before: Counters) -> Counters {
        Counters {
            pswpout: self.pswpout.saturating_sub(before.pswpout),
            pswpin: self.pswpin.saturating_sub(before.pswpin),
            refaults: self.refaults.saturating_sub(before.refaults),
            psi_some_us: self.psi_some_us.saturating_sub(before.psi_some_us),
            psi_full_us: self.psi_full_us.saturating_sub(before.psi_full_us),
        }
    }
}

/// The programs around the methods: two busy victims that keep touching their working sets
/// while a method runs (anonymous memory and a mapped file), and an idle one, anonymous memory a
/// program in the background touched before the method and touches again after it.
struct Victims {
    busy: [Victim; 2],
    idle: Victim,
}

impl Victims {
    fn all(&mut self) -> impl Iterator<Item = &mut Victim> {
        self.busy.iter_mut().chain(std::iter::once(&mut self.idle))
    }
}

/// Runs one method with the victims warm, and records what it cost them. The harm is counted
/// over the method *and* the victims' first pass over their working sets afterwards: pages a
/// method pushed out cost their owner when it touches them again, not while the method runs.
fn measure(method: &str, figures: &mut Figures, victims: &mut Victims, run: impl FnOnce() -> Ran) {
    for victim in victims.all() {
        victim.warm();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let busy_faults_before: u64 = victims.busy.iter().map(|v| major_faults(v.pid())).sum();
    let idle_faults_before = major_faults(victims.idle.pid());
    let before = Counters::now();
    let probe = Probe::start();
    let ran = run();
    let latency = probe.stop();
    let (slowest, retouch) = victims
        .busy
        .iter_mut()
        .map(Victim::stop_and_retouch)
        .fold((0.0, 0.0), |(s, r), (vs, vr)| (s + vs, r + vr));
    let (_, idle_retouch) = victims.idle.stop_and_retouch();
    let harm = Counters::now().since(before);
    let busy_faults = victims
        .busy
        .iter()
        .map(|v| major_faults(v.pid()))
        .sum::<u64>();
    let idle_faults = major_faults(victims.idle.pid());
    let cost = ran.record(method, figures);
    figures.add("wall_ms", ms(cost.wall));
    figures.add("cpu_ms", ms(cost.cpu));
    figures.add(
        "victim_major_faults",
        (busy_faults - busy_faults_before) as f64,
    );
    figures.add("victim_slowest_pass_ms", slowest);
    figures.add("victim_retouch_ms", retouch);
    figures.add(
        "idle_victim_major_faults",
        (idle_faults - idle_faults_before) as f64,
    );
    figures.add("idle_victim_retouch_ms", idle_retouch);
    figures.add("pswpout", harm.pswpout as f64);
    figures.add("pswpin", harm.pswpin as f64);
    figures.add("refaults", harm.refaults as f64);
    figures.add("psi_some_us", harm.psi_some_us as f64);
    figures.add("psi_full_us", harm.psi_full_us as f64);
    figures.add("probe_p99_ms", latency.p99_ms);
}

/// Runs the squeezer into swap (this binary's `--squeeze-into-swap` role) for `bytes`.
fn squeeze_into_swap(bytes: u64) -> Ran {
    let mut command = Command::new(std::env::current_exe().expect("current_exe"));
    command.arg("--squeeze-into-swap").arg(bytes.to_string());
    run_squeezer(command)
}

/// The memdefrag methods, each a purge or plan a user can pick, in the order they run.
const MEMDEFRAG_METHODS: [(&str, &[&str]); 6] = [
    ("memdefrag_standby", &["purge", "standby"]),
    ("memdefrag_modified", &["purge", "modified"]),
    (
        "memdefrag_system_working_set",
        &["purge", "system-working-set"],
    ),
    ("memdefrag_compact", &["purge", "compact"]),
    ("memdefrag_defrag", &["defrag"]),
    ("memdefrag_working_sets", &["purge", "working-sets"]),
];

/// Scenario 5: each method a user can pick, with swap, and what it costs the programs around it.
pub fn gentleness(config: &Config, files: &Files) -> Scenario {
    let mut s = Scenario::new("gentleness");
    if meminfo("SwapTotal") > 0 {
        s.notes
            .push("the machine already had swap; the scenario's swap file was added to it".into());
    }
    let _swap = SwapFile::create(&files.dir, config.swap_mib);
    let mut victims = Victims {
        busy: [
            Victim::start_anonymous(config.anon_victim_mib * MIB, true),
            Victim::start(&files.working_set),
        ],
        idle: Victim::start_anonymous(config.anon_victim_mib * MIB, false),
    };
    let size = config.cache_gib * GIB;
    let prepare = || {
        evict(&files.cache);
        read_through(&files.cache);
    };

    let dirty = files.dir.join("dirty.bin");
    let mut left = Vec::new();
    let methods = std::iter::once(("idle", None))
        .chain(MEMDEFRAG_METHODS.iter().map(|&(m, args)| (m, Some(args))))
        .chain(std::iter::once(("raw_drop_caches", None)));
    for (method, args) in methods {
        for _ in 0..config.reps {
            prepare();
            if method == "memdefrag_modified" {
                // Something for the flush to write: dirty pages, not yet written back. A new
                // file each time: ext4 starts writeback at once when a truncated file is
                // rewritten (auto_da_alloc).
                let _ = std::fs::remove_file(&dirty);
                drop(write_file(&dirty, (config.dirty_mib * MIB) as usize, false));
            }
            let f = s.method(method);
            if method == "memdefrag_modified" {
                f.add("dirty_before_bytes", meminfo("Dirty") as f64);
            }
            measure(method, f, &mut victims, || {
                Ran::Method(match (method, args) {
                    ("idle", _) => run_cost("sleep", &["0.02"]),
                    ("raw_drop_caches", _) => sh("echo 1 > /proc/sys/vm/drop_caches"),
                    (_, Some(args)) => memdefrag(config, args),
                    (_, None) => unreachable!("every memdefrag method has arguments"),
                })
            });
            if method == "memdefrag_standby" {
                left.push(resident_bytes(&files.cache));
            }
        }
    }
    let _ = std::fs::remove_file(&dirty);

    let (target, limit) = squeeze_bounds(left, size);
    for _ in 0..config.squeeze_reps {
        let cgroup = cache_in_cgroup(files, limit);
        let f = s.method("squeeze_cgroup");
        measure("squeeze_cgroup", f, &mut victims, || {
            squeeze(files, target, limit, Some(cgroup.path()))
        });
    }
    if config.machine_squeeze {
        prepare();
        let max = meminfo("MemTotal") + meminfo("SwapTotal");
        let f = s.method("squeeze_machine");
        measure("squeeze_machine", f, &mut victims, || {
            squeeze(files, target, max, None)
        });

        // The squeezes above stop where the kernel would start swapping (at their target, or
        // with 256 MiB still available). The optimizer the seed describes allocates on, until
        // the kernel has moved other programs' pages into swap: here, half the swap file's worth.
        // Like the machine-wide squeeze, it takes most of a minute: not in a quick run.
        prepare();
        let bytes = meminfo("MemAvailable") + config.swap_mib * MIB / 2;
        let f = s.method("squeeze_into_swap");
        measure("squeeze_into_swap", f, &mut victims, || {
            squeeze_into_swap(bytes)
        });
    }

    // Against the gentle purge: differences for counts that are 0 when nothing happened (a
    // ratio over 0 says nothing), ratios for times.
    let base = "memdefrag_standby";
    let others = MEMDEFRAG_METHODS[1..].iter().map(|&(m, _)| m);
    for method in ["idle"].into_iter().chain(others).chain([
        "raw_drop_caches",
        "squeeze_cgroup",
        "squeeze_machine",
        "squeeze_into_swap",
    ]) {
        s.ratio(
            method,
            base,
            "victim_slowest_pass_ms",
            "victim_slowest_pass",
        );
        s.ratio(method, base, "victim_retouch_ms", "victim_retouch");
        s.ratio(
            method,
            base,
            "idle_victim_retouch_ms",
            "idle_victim_retouch",
        );
        let Some(a) = s.get(method) else { continue };
        let b = s.get(base).expect("the standby purge ran");
        let mut differences = Vec::new();
        for figure in [
            "victim_major_faults",
            "idle_victim_major_faults",
            "pswpout",
            "pswpin",
            "refaults",
            "psi_some_us",
            "psi_full_us",
        ] {
            let d = a.summary(figure).median - b.summary(figure).median;
            differences.push((format!("gentleness.{method}_minus_{base}.{figure}"), d));
        }
        s.differences.extend(differences);
    }
    s.notes.push(format!(
        "with a {} MiB swap file; busy victims: {} MiB of anonymous memory and a 256 MiB mapped \
         file, both touched continuously; victim figures are the two busy victims' sums (the slowest pass: each \
         victim's slowest while the method ran); harm is counted over the method and one pass over the victims' working sets after it; `purge modified` runs \
         after {} MiB of dirty data is written; the idle victim holds {} MiB of anonymous memory \
         it touches only before and after each method",
        config.swap_mib, config.anon_victim_mib, config.dirty_mib, config.anon_victim_mib
    ));
    s
}
