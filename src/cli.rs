//! The command line: what the user can ask for. Parsing only; nothing platform-specific.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use memdefrag::units::{
    format_duration, format_size, parse_duration, parse_percent, parse_size, parse_threshold,
};
use memdefrag::watch::{Threshold, WatchConfig};
use memdefrag::{Op, ProcessFilter, ProcessMatch};

/// `memdefrag --version`: the version, the commit it was built from, and the target.
pub(crate) const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MEMDEFRAG_COMMIT"),
    ", ",
    env!("MEMDEFRAG_TARGET"),
    ")"
);

/// Free and defragment physical memory by asking the kernel to do it.
///
/// memdefrag makes the kernel's own calls (the NT memory-list API on Windows; sync, drop_caches,
/// memory.reclaim, process_madvise and compact_memory on Linux) instead of allocating memory
/// until the system evicts everything else.
#[derive(Debug, Parser)]
#[command(name = "memdefrag", version = VERSION, max_term_width = 100)]
pub(crate) struct Cli {
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show the memory state now.
    Status,
    /// Print the memory state in the Prometheus text format (for node_exporter's textfile
    /// collector or windows_exporter's textfile_inputs, with --output).
    Metrics {
        /// Write FILE atomically (a temporary file beside it, then a rename) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run this platform's default plan (Linux: modified, standby, system-working-set, compact).
    Defrag {
        #[command(flatten)]
        run: RunOptions,
    },
    /// Run the given operations, in canonical order.
    Purge {
        /// Operations to run; `memdefrag ops` lists them.
        #[arg(value_name = "OP", required = true, value_parser = OpParser)]
        ops: Vec<Op>,
        #[command(flatten)]
        run: RunOptions,
    },
    /// List every operation: whether it is supported here, its kernel call and its privilege.
    Ops,
    /// Watch memory and purge when a trigger fires, with a cooldown that backs off when purging
    /// does not help. Quiet between actions; one line per action.
    Watch(Box<WatchArgs>),
    /// Show how much of each file is in the page cache, and how much of that is dirty or under
    /// writeback, most cached first. Needs only read access to the files.
    Files {
        /// Files, or directories with --recursive.
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        walk: WalkArgs,
        /// Show the N most cached files (the totals count them all).
        #[arg(long, value_name = "N", value_parser = parse_top)]
        top: Option<usize>,
    },
    /// Drop the cached pages of these files (and only these): for a cold cache of one data set.
    /// Needs only read access to the files, not root.
    Evict {
        /// Files, or directories with --recursive.
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        walk: WalkArgs,
        /// Write dirty pages first (fdatasync), so that they can go too.
        #[arg(long)]
        flush: bool,
        /// Show what is cached now; drop nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// In a virtual machine: give the hypervisor back the memory this guest does not use.
    /// Pages out what was not accessed within --keep-hot (the kernel tracks it: DAMON where the
    /// kernel has it), keeps the rest, then compacts until the free memory lies in blocks the
    /// balloon's free page reporting hands to the host. Needs root; Linux guests only.
    GiveBack {
        /// Keep memory accessed within this long (the kernel watches this long before it knows
        /// what was not used).
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
        keep_hot: Duration,
        /// Say what it would do and how much the host could take now; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// WSL 2 from Windows: the Linux VM's memory as Windows sees it (the VmmemWSL process's
    /// working set and private bytes) and as each running distribution sees it. Starts no
    /// distribution.
    Wsl(WslArgs),
    /// Run `watch` as a Windows service: unattended, from boot, across log-offs.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Write shell completions or the man page, generated from this command line (for
    /// packagers).
    #[command(subcommand, hide = true)]
    Generate(Generate),
}

/// What `memdefrag generate` writes.
#[derive(Debug, Subcommand)]
pub(crate) enum Generate {
    /// The completion script for SHELL, on stdout.
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// The man pages (memdefrag.1 and one per subcommand, memdefrag-purge.1 …) into DIR.
    Man {
        /// The directory to write them into.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServiceCommand {
    /// Register the service (start type automatic, account LocalSystem, restarted on failure)
    /// running `watch` with these options. Needs an elevated prompt.
    Install {
        #[command(flatten)]
        name: ServiceName,
        /// Replace a service of that name that is already installed.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        watch: Box<WatchArgs>,
    },
    /// Start the service and wait until it runs. Needs an elevated prompt.
    Start(ServiceName),
    /// Stop the service (after the operation in progress) and wait until it has stopped. Needs
    /// an elevated prompt.
    Stop(ServiceName),
    /// Show whether the service is installed, its state, its options and its last actions.
    Status {
        #[command(flatten)]
        name: ServiceName,
        /// How many of the last actions to show.
        #[arg(long, value_name = "N", default_value_t = 5)]
        last: usize,
    },
    /// Stop the service and remove it, with its event log source. Needs an elevated prompt.
    Uninstall(ServiceName),
    /// Run as the service (the service control manager starts this; not for people).
    #[command(hide = true)]
    Run {
        #[command(flatten)]
        name: ServiceName,
        /// The recorded watch options; checked once the service has started, so that bad ones
        /// are reported to the service control manager instead of exiting before it hears.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        options: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct WalkArgs {
    /// Walk directories (without following symbolic links).
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// Do not cross into other filesystems while walking.
    #[arg(long)]
    pub one_file_system: bool,
}

impl WalkArgs {
    pub(crate) fn walk(&self) -> memdefrag::files::Walk {
        memdefrag::files::Walk {
            recursive: self.recursive,
            one_file_system: self.one_file_system,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ServiceName {
    /// The service name, for more than one instance.
    #[arg(long, default_value = memdefrag_service::spec::DEFAULT_NAME)]
    pub name: String,
}

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Operations of each action [default: standby-low where supported, else standby].
    #[arg(long, value_name = "OP,...", value_delimiter = ',', value_parser = OpParser)]
    pub ops: Vec<Op>,
    /// Trigger when the standby list (cache) is above SIZE (with --free-below: both must hold).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub standby_above: Option<u64>,
    /// Trigger when free memory is below SIZE or a percentage of total (e.g. 1GiB, 10%).
    #[arg(long, value_name = "SIZE|PCT", value_parser = parse_threshold)]
    pub free_below: Option<Threshold>,
    /// Trigger when (total − available) ÷ total is above PCT.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub usage_above: Option<f64>,
    /// Trigger every DURATION (e.g. 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub every: Option<Duration>,
    /// Trigger when some tasks stalled on memory for more than PCT of --pressure-window (Linux
    /// PSI: the kernel wakes the watch; nothing is polled).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub pressure_above: Option<f64>,
    /// The window of --pressure-above: 500ms to 10s; without root, 2s, 4s, 6s, 8s or 10s.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub pressure_window: Duration,
    /// Trigger when the CPUs were busy less than PCT of the last minute (Linux).
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub idle_below: Option<f64>,
    /// Each action gives memory back to the hypervisor, as `memdefrag give-back` does (a Linux
    /// guest), instead of running --ops. With no trigger, it acts while the guest is idle
    /// (--idle-below 10).
    #[arg(long, conflicts_with_all = ["ops", "only", "exclude"])]
    pub give_back: bool,
    /// With --give-back: keep memory accessed within this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, requires = "give_back")]
    pub keep_hot: Duration,
    /// How often to look at memory.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Quiet time after each action; doubles (up to 10 minutes) while actions free less than
    /// 1 % of memory.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub cooldown: Duration,
    /// Look once, act if a trigger fires, and exit (for cron and scheduled tasks).
    #[arg(long)]
    pub once: bool,
    /// Report what would be done; never act. Needs no privilege.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub processes: ProcessArgs,
    #[command(flatten)]
    pub flush: FlushArgs,
    /// No action while a process of one of these names runs (e.g. a game).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',', value_parser = parse_name)]
    pub pause_while: Vec<String>,
    /// Serve the memory state and the watch's counters on http://ADDR:PORT/metrics for
    /// Prometheus. With no trigger, it only serves (a metrics agent). Use a loopback address
    /// unless the network may read it.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// `memdefrag wsl`: the VM's memory, or a give-back.
#[derive(Debug, Args)]
pub(crate) struct WslArgs {
    #[command(subcommand)]
    pub command: Option<WslCommand>,
    /// Stop a wsl.exe query (a list, a status, a probe) that has not answered after DURATION.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_wsl_timeout)]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WslCommand {
    /// Give the VM's unused memory back to Windows, without shutting it down: in each running
    /// WSL 2 distribution (or --distro), as root, `memdefrag give-back` where memdefrag is
    /// installed, else drop_caches then compact_memory (the hot cache goes too). Shows the VM's
    /// size on Windows before and after.
    GiveBack {
        /// Only this running distribution.
        #[arg(long, value_name = "NAME", value_parser = parse_name)]
        distro: Option<String>,
        /// Watch the VM's size for at most DURATION after the run: WSL's page reporting hands
        /// freed memory back to Windows after a few seconds. 0s reads it at once.
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_wait)]
        wait: Duration,
        /// Passed to memdefrag give-back inside: keep memory accessed within DURATION [default:
        /// its own, 30s].
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        keep_hot: Option<Duration>,
        /// Check everything and say what would run in each distribution; change nothing
        /// (memdefrag inside runs with --dry-run; the recipe does not run).
        #[arg(long)]
        dry_run: bool,
    },
}

/// The deadline of a wsl.exe query: more than nothing, at most 10 minutes.
fn parse_wsl_timeout(s: &str) -> Result<Duration, String> {
    let timeout = parse_duration(s)?;
    if timeout.is_zero() || timeout > Duration::from_secs(600) {
        return Err("the timeout is longer than 0 and at most 10m".into());
    }
    Ok(timeout)
}

/// The wait after a WSL give-back: at most 10 minutes.
fn parse_wait(s: &str) -> Result<Duration, String> {
    let wait = parse_duration(s)?;
    if wait > Duration::from_secs(600) {
        return Err("the wait is at most 10m".into());
    }
    Ok(wait)
}

/// How long a flush may take.
#[derive(Debug, Args)]
pub(crate) struct FlushArgs {
    /// Give up on flushing dirty data (modified, flush-volumes) after DURATION, naming what is
    /// still flushing, instead of hanging on a stuck filesystem or device.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_flush_timeout)]
    pub flush_timeout: Duration,
}

/// A flush timeout: more than nothing, at most a day.
fn parse_flush_timeout(s: &str) -> Result<Duration, String> {
    let timeout = parse_duration(s)?;
    if timeout.is_zero() {
        return Err("the flush timeout must be longer than 0".into());
    }
    if timeout > memdefrag::watch::MAX_INTERVAL {
        return Err("the flush timeout is at most 1 day".into());
    }
    Ok(timeout)
}

/// Which processes working-sets acts on.
#[derive(Debug, Args)]
pub(crate) struct ProcessArgs {
    /// Trim only these processes (executable names or PIDs); with working-sets only.
    #[arg(long, value_name = "NAME|PID,...", value_delimiter = ',', value_parser = parse_process)]
    pub only: Vec<ProcessMatch>,
    /// Never trim these processes (executable names or PIDs); with working-sets only.
    #[arg(long, value_name = "NAME|PID,...", value_delimiter = ',', value_parser = parse_process)]
    pub exclude: Vec<ProcessMatch>,
}

impl ProcessArgs {
    pub(crate) fn filter(&self) -> ProcessFilter {
        ProcessFilter {
            only: self.only.clone(),
            exclude: self.exclude.clone(),
        }
    }
}

fn parse_process(s: &str) -> Result<ProcessMatch, String> {
    s.parse()
}

/// `--top N`: at least one file, or the listing would show nothing.
fn parse_top(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("--top shows at least 1 file".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a number of files")),
    }
}

/// An executable's name (`--pause-while`): not empty, which would match nothing and leave the
/// watch acting when the user meant it to pause.
fn parse_name(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Err("an empty process name".into()),
        name => Ok(name.to_owned()),
    }
}

impl WatchArgs {
    /// Only serves metrics: an endpoint and no trigger.
    pub(crate) fn metrics_only(&self) -> bool {
        self.metrics_listen.is_some() && !self.config().has_trigger()
    }

    /// The watch these options ask for.
    pub(crate) fn config(&self) -> WatchConfig {
        let mut config = WatchConfig {
            ops: self.ops.clone(),
            standby_above: self.standby_above,
            free_below: self.free_below,
            usage_above: self.usage_above,
            every: self.every,
            pressure_above: self.pressure_above,
            pressure_window: self.pressure_window,
            interval: self.interval,
            cooldown: self.cooldown,
            once: self.once,
            dry_run: self.dry_run,
            processes: self.processes.filter(),
            pause_while: self.pause_while.clone(),
            flush_timeout: self.flush.flush_timeout,
            idle_below: self.idle_below,
            idle_window: memdefrag::watch::IDLE_WINDOW,
            give_back: self.give_back.then_some(self.keep_hot),
        };
        if config.give_back.is_some() && !config.has_trigger() {
            config.idle_below = Some(memdefrag::watch::DEFAULT_IDLE_BELOW);
        }
        config
    }

    /// These options as arguments that parse back to them (what a service records).
    #[cfg_attr(not(windows), allow(dead_code))]
    pub(crate) fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: String| {
            args.push(flag.to_owned());
            args.push(value);
        };
        if !self.ops.is_empty() {
            let ops: Vec<&str> = self.ops.iter().map(|op| op.name()).collect();
            push("--ops", ops.join(","));
        }
        if let Some(bytes) = self.standby_above {
            push("--standby-above", format_size(bytes));
        }
        match self.free_below {
            Some(Threshold::Bytes(bytes)) => push("--free-below", format_size(bytes)),
            Some(Threshold::Percent(p)) => push("--free-below", format!("{p}%")),
            None => {}
        }
        if let Some(p) = self.usage_above {
            push("--usage-above", format!("{p}%"));
        }
        if let Some(every) = self.every {
            push("--every", format_duration(every));
        }
        if let Some(p) = self.pressure_above {
            push("--pressure-above", format!("{p}%"));
            push("--pressure-window", format_duration(self.pressure_window));
        }
        if let Some(p) = self.idle_below {
            push("--idle-below", format!("{p}%"));
        }

        push("--interval", format_duration(self.interval));
        push("--cooldown", format_duration(self.cooldown));
        if self.once {
            args.push("--once".into());
        }
        if self.dry_run {
            args.push("--dry-run".into());
        }
        if self.give_back {
            args.push("--give-back".into());
            args.push("--keep-hot".into());
            args.push(format_duration(self.keep_hot));
        }
        let list = |items: &[ProcessMatch]| {
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        if !self.processes.only.is_empty() {
            args.push("--only".into());
            args.push(list(&self.processes.only));
        }
        if !self.processes.exclude.is_empty() {
            args.push("--exclude".into());
            args.push(list(&self.processes.exclude));
        }
        if !self.pause_while.is_empty() {
            args.push("--pause-while".into());
            args.push(self.pause_while.join(","));
        }
        if self.flush.flush_timeout != memdefrag::DEFAULT_FLUSH_TIMEOUT {
            args.push("--flush-timeout".into());
            args.push(format_duration(self.flush.flush_timeout));
        }
        if let Some(address) = self.metrics_listen {
            args.push("--metrics-listen".into());
            args.push(address.to_string());
        }
        args
    }
}

/// The watch options a service recorded, parsed as `memdefrag watch` parses them.
#[derive(Debug, Parser)]
#[command(name = "memdefrag watch", no_binary_name = true)]
pub(crate) struct RecordedWatch {
    #[command(flatten)]
    pub watch: WatchArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RunOptions {
    /// Show the plan, each kernel call and an estimate of what it would free; change nothing.
    /// Needs no privilege.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub processes: ProcessArgs,
    #[command(flatten)]
    pub flush: FlushArgs,
}

/// Parses an operation name with the library's message for a wrong one, and lists the names
/// for completion (clap_complete asks a value parser for its possible values).
#[derive(Clone, Copy, Debug)]
struct OpParser;

impl clap::builder::TypedValueParser for OpParser {
    type Value = Op;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Op, clap::Error> {
        // As clap reports a function parser's error: with the argument and the usage.
        let parse = |s: &str| s.parse::<Op>().map_err(|e| e.to_string());
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            Op::ALL
                .into_iter()
                .map(|op| clap::builder::PossibleValue::new(op.name())),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn purge_takes_several_ops_and_rejects_unknown_ones() {
        let cli =
            Cli::try_parse_from(["memdefrag", "purge", "standby", "modified", "--json"]).unwrap();
        assert!(cli.json);
        match cli.command {
            Command::Purge { ops, run } => {
                assert_eq!(ops, vec![Op::Standby, Op::Modified]);
                assert!(!run.dry_run);
            }
            other => panic!("{other:?}"),
        }
        let before = Cli::try_parse_from(["memdefrag", "--json", "status"]).unwrap();
        assert!(before.json, "--json before the subcommand");
        let err = Cli::try_parse_from(["memdefrag", "purge", "standby", "bogus"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("unknown operation 'bogus'"),
            "{err}"
        );
        let err = Cli::try_parse_from(["memdefrag", "purge"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn sizes_accept_binary_and_decimal_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        // Found by the property test: whole sizes above 2^53 read back to the byte.
        assert_eq!(parse_size("13940058185694191B"), Ok(13_940_058_185_694_191));
        assert_eq!(parse_size("18446744073709551615B"), Ok(u64::MAX));
        assert!(
            parse_size("16777216TiB").is_err(),
            "2^64 bytes is too large"
        );
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("100 KB"), Ok(100_000));
        assert_eq!(parse_size("7b"), Ok(7));
        assert!(parse_size("12").unwrap_err().contains("no unit"));
        assert!(parse_size("12XB").unwrap_err().contains("not a size unit"));
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("1e30GiB").is_err());
    }

    #[test]
    fn percentages_are_0_to_100() {
        assert_eq!(parse_percent("90%"), Ok(90.0));
        assert_eq!(parse_percent("0"), Ok(0.0));
        assert_eq!(parse_percent("100 %"), Ok(100.0));
        assert!(parse_percent("101%").unwrap_err().contains("0 to 100"));
        assert!(parse_percent("-1").is_err());
        assert_eq!(parse_threshold("10%"), Ok(Threshold::Percent(10.0)));
        assert_eq!(parse_threshold("1GiB"), Ok(Threshold::Bytes(1 << 30)));
    }

    #[test]
    fn durations_take_the_usual_suffixes() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn recorded_watch_options_parse_back_to_the_same_watch() {
        for given in [
            &["--every", "1s", "--ops", "standby"][..],
            &[
                "--standby-above",
                "1536MiB",
                "--free-below",
                "12.5%",
                "--cooldown",
                "1h30m",
            ],
            &[
                "--usage-above",
                "90",
                "--ops",
                "modified,standby",
                "--dry-run",
                "--interval",
                "500ms",
            ],
            &["--standby-above", "1000000007B", "--free-below", "2GB"],
            &[
                "--every",
                "1m",
                "--ops",
                "working-sets",
                "--exclude",
                "game.exe,42",
                "--pause-while",
                "game.exe,steam.exe",
            ],
            &["--metrics-listen", "[::1]:9101"],
            &["--pressure-above", "12.5", "--pressure-window", "4s"],
            &["--give-back"],
            &[
                "--give-back",
                "--keep-hot",
                "2m",
                "--idle-below",
                "5%",
                "--every",
                "1h",
            ],
            &[
                "--every",
                "1m",
                "--ops",
                "modified",
                "--flush-timeout",
                "2m30s",
            ],
        ] {
            let parsed = RecordedWatch::try_parse_from(given).unwrap().watch;
            let recorded = parsed.to_args();
            let again = RecordedWatch::try_parse_from(&recorded).unwrap().watch;
            assert_eq!(again.config(), parsed.config(), "{given:?} -> {recorded:?}");
            assert_eq!(again.metrics_listen, parsed.metrics_listen, "{given:?}");
        }
        let parsed = RecordedWatch::try_parse_from(["--every", "1s", "--ops", "standby"])
            .unwrap()
            .watch;
        assert_eq!(
            parsed.to_args(),
            [
                "--ops",
                "standby",
                "--every",
                "1s",
                "--interval",
                "1s",
                "--cooldown",
                "30s"
            ]
        );
        assert_eq!(format_size(2_000_000_000), "1953125KiB");
        assert_eq!(format_size(2_000_000_001), "2000000001B");
        assert_eq!(format_size(3 << 30), "3GiB");
    }

    #[test]
    fn bad_recorded_options_are_usage_errors() {
        let err = RecordedWatch::try_parse_from(["--every", "soon"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn watch_takes_comma_separated_ops_and_defaults() {
        let cli = Cli::try_parse_from([
            "memdefrag",
            "watch",
            "--ops",
            "modified,standby",
            "--usage-above",
            "90",
        ])
        .unwrap();
        let Command::Watch(w) = cli.command else {
            panic!()
        };
        assert_eq!(w.ops, [Op::Modified, Op::Standby]);
        assert_eq!(w.interval, Duration::from_secs(1));
        assert_eq!(w.cooldown, Duration::from_secs(30));
        assert_eq!(w.usage_above, Some(90.0));
        for bad in [
            &["watch", "--ops", "standby,bogus", "--once"][..],
            &["watch", "--usage-above", "101"],
            &["watch", "--free-below", "5XB"],
            &["watch", "--interval", "soon"],
        ] {
            let err = Cli::try_parse_from(std::iter::once("memdefrag").chain(bad.iter().copied()))
                .unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_flush_timeout_or_process_text_panics(s in ".*") {
            let _ = parse_flush_timeout(&s);
            let _ = parse_process(&s);
            let _ = parse_name(&s);
            let _ = parse_wsl_timeout(&s);
            let _ = parse_wait(&s);
        }
    }
}
