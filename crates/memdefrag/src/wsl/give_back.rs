//! `memdefrag wsl give-back`: in each running WSL 2 distribution, as root, memdefrag's own
//! give-back or the kernel's recipe, with the VM's size on Windows before and after.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{
    command_line, installed_path, linux, running, text, version_of, versions, InsideGiveBack,
    Output, VmProcess, WslError, WslHost, DEFAULT_TIMEOUT, DEFAULT_WAIT, GIVE_BACK_DEADLINE,
    PROBE_ROOT, RECIPE, SAMPLE,
};
use crate::exit;

/// How a distribution's memory was given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GiveBackMethod {
    /// memdefrag's own give-back, inside: the hot cache stays.
    Memdefrag,
    /// drop_caches then compact_memory: every clean cache goes.
    DropCachesCompact,
}

/// How a distribution's give-back ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It ran.
    Ok,
    /// It ran, and failed.
    Failed,
    /// Root was not available, so nothing ran.
    NoRoot,
}

/// One distribution's give-back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistroGiveBack {
    /// Its name.
    pub name: String,
    /// How (`None` when nothing ran).
    pub method: Option<GiveBackMethod>,
    /// How it ended.
    pub outcome: Outcome,
    /// The command run inside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// memdefrag's report from inside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inside: Option<InsideGiveBack>,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Remarks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What to give back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GiveBackOptions {
    /// Only this distribution (it must be running); else every running WSL 2 distribution.
    pub distro: Option<String>,
    /// The deadline of each query.
    pub timeout: Duration,
    /// How long to wait, at most, for the VM to hand the memory back to Windows.
    pub wait: Duration,
    /// memdefrag's `--keep-hot` inside (its default when `None`); the recipe keeps nothing.
    pub keep_hot: Option<Duration>,
    /// Check everything and say what would run; change nothing (memdefrag inside runs with
    /// `--dry-run`, the recipe not at all).
    pub dry_run: bool,
}

impl Default for GiveBackOptions {
    fn default() -> GiveBackOptions {
        GiveBackOptions {
            distro: None,
            timeout: DEFAULT_TIMEOUT,
            wait: DEFAULT_WAIT,
            keep_hot: None,
            dry_run: false,
        }
    }
}

/// `memdefrag wsl give-back`: the VM's size on Windows before and after, and each
/// distribution's run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WslGiveBack {
    /// Whether this only says what would run.
    pub dry_run: bool,
    /// The VM's process before.
    pub before: Option<VmProcess>,
    /// The VM's process after the wait.
    pub after: Option<VmProcess>,
    /// How long the VM was watched for the memory to come back, in milliseconds.
    pub waited_ms: u64,
    /// Each distribution's run.
    pub distributions: Vec<DistroGiveBack>,
    /// Remarks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl WslGiveBack {
    /// 0 when every run succeeded; 77 when root was not available in every one that failed;
    /// else 1.
    pub fn exit_code(&self) -> i32 {
        let failed: Vec<_> = self
            .distributions
            .iter()
            .filter(|d| d.outcome != Outcome::Ok)
            .collect();
        if failed.is_empty() {
            exit::OK
        } else if failed.iter().all(|d| d.outcome == Outcome::NoRoot) {
            exit::NOT_PRIVILEGED
        } else {
            exit::FAILED
        }
    }
}

/// Gives one distribution's memory back, as root inside it.
fn give_back_one(host: &dyn WslHost, name: &str, options: &GiveBackOptions) -> DistroGiveBack {
    let timeout = options.timeout;
    let start = Instant::now();
    let mut report = DistroGiveBack {
        name: name.to_owned(),
        method: None,
        outcome: Outcome::Ok,
        command: None,
        inside: None,
        duration_ms: 0.0,
        error: None,
        notes: Vec::new(),
    };
    let probe_args = ["-d", name, "-u", "root", "-e", "sh", "-c", PROBE_ROOT];
    let probe = match host.wsl(&probe_args, timeout) {
        Ok(out) => out,
        Err(e) => {
            report.outcome = Outcome::Failed;
            report.error = Some(e.to_string());
            return report;
        }
    };
    let said = text::decode(&probe.stdout);
    let mut lines = text::lines(&said);
    if probe.code != Some(0) || lines.next() != Some("0") {
        report.outcome = Outcome::NoRoot;
        let why = text::first_line(&probe.stdout, &probe.stderr)
            .unwrap_or_else(|| "it printed nothing".into());
        report.error = Some(format!(
            "cannot run as root in '{name}' ({}: {why})",
            command_line(&probe_args)
        ));
        return report;
    }
    let path = installed_path(lines);
    let recipe_args = ["-d", name, "-u", "root", "-e", "sh", "-c", RECIPE];
    let mut args: Vec<&str> = recipe_args.to_vec();
    let keep_hot = options
        .keep_hot
        .map(|d| humantime::format_duration(d).to_string());
    if let Some(path) = &path {
        args = vec!["-d", name, "-u", "root", "-e", path, "give-back", "--json"];
        if let Some(keep_hot) = &keep_hot {
            args.extend(["--keep-hot", keep_hot]);
        }
        if options.dry_run {
            args.push("--dry-run");
        }
        report.method = Some(GiveBackMethod::Memdefrag);
    } else {
        report.method = Some(GiveBackMethod::DropCachesCompact);
        let verb = if options.dry_run { "would be" } else { "was" };
        report.notes.push(format!(
            "memdefrag is not installed in '{name}': every cache {verb} dropped, the hot cache \
             too (it is read back from disk); memdefrag inside keeps it"
        ));
        if keep_hot.is_some() {
            report
                .notes
                .push("--keep-hot applies to memdefrag inside; the recipe keeps nothing".into());
        }
    }
    report.command = Some(command_line(&args));
    if options.dry_run && path.is_none() {
        // The recipe has no dry run: it is not run at all.
        report.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
        return report;
    }
    let result = host.wsl(&args, GIVE_BACK_DEADLINE);
    report.duration_ms = start.elapsed().as_secs_f64() * 1000.0;
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            report.outcome = Outcome::Failed;
            report.error = Some(e.to_string());
            return report;
        }
    };
    let failure = |out: &Output| {
        format!(
            "{}{}",
            out.code
                .map(|c| format!("exit code {c}: "))
                .unwrap_or_default(),
            text::first_line(&out.stdout, &out.stderr)
                .unwrap_or_else(|| "it printed nothing".into())
        )
    };
    if path.is_none() {
        if out.code != Some(0) {
            report.outcome = Outcome::Failed;
            report.error = Some(failure(&out));
        }
        return report;
    }
    match linux::parse_give_back(&text::decode(&out.stdout)) {
        Ok(Ok(inside)) => {
            if out.code != Some(0) {
                report.outcome = Outcome::Failed;
                report.error = Some(
                    inside
                        .steps
                        .iter()
                        .find_map(|s| {
                            s.error
                                .as_ref()
                                .map(|e| format!("{}: {}", s.step, e.message))
                        })
                        .unwrap_or_else(|| failure(&out)),
                );
            }
            report.inside = Some(inside);
        }
        Ok(Err((message, code))) => {
            report.outcome = Outcome::Failed;
            report.error = Some(format!(
                "memdefrag give-back inside (exit code {code}): {message}"
            ));
        }
        Err(e) => {
            report.outcome = Outcome::Failed;
            report.error = Some(if out.code == Some(0) {
                e.0
            } else {
                failure(&out)
            });
        }
    }
    report
}

/// `memdefrag wsl give-back`: gives the memory of one or every running WSL 2 distribution back
/// to Windows, and watches the VM's size on Windows fall (at most `options.wait`). Checks the
/// request before running anything; starts no distribution.
pub fn give_back(host: &dyn WslHost, options: &GiveBackOptions) -> Result<WslGiveBack, WslError> {
    let names = running(host, options.timeout)?;
    let listed = versions(host, options.timeout);
    let mut notes = Vec::new();
    let targets: Vec<String> = match &options.distro {
        Some(name) => {
            if !names.contains(name) {
                return Err(WslError::UnknownDistro {
                    name: name.clone(),
                    running: names,
                });
            }
            if version_of(&listed, name) == Some(1) {
                return Err(WslError::Wsl1Distro(name.clone()));
            }
            vec![name.clone()]
        }
        None => {
            let (wsl1, wsl2): (Vec<String>, Vec<String>) = names
                .iter()
                .cloned()
                .partition(|n| version_of(&listed, n) == Some(1));
            if wsl2.is_empty() {
                return Err(WslError::Wsl1Only(wsl1));
            }
            if !wsl1.is_empty() {
                notes.push(format!(
                    "skipped WSL 1 distributions (no VM): {}",
                    wsl1.join(", ")
                ));
            }
            // Every WSL 2 distribution shares the VM's kernel: the cache is one; each run
            // gives back what its own processes and mounts left.
            wsl2
        }
    };
    let before = host.vm()?;
    let distributions: Vec<DistroGiveBack> = targets
        .iter()
        .map(|name| give_back_one(host, name, options))
        .collect();
    let wait = if options.dry_run {
        Duration::ZERO
    } else {
        options.wait
    };
    let (after, waited) = settle(host, before.as_ref(), wait)?;
    if before.is_none() {
        notes.push("no VmmemWSL or vmmem process was found: Windows' figures are missing".into());
    } else if !wait.is_zero() {
        notes.push(format!(
            "WSL's page reporting hands freed memory back to Windows after a few seconds: the \
             VM was watched for {} after the run",
            humantime::format_duration(Duration::from_millis(waited.as_millis() as u64))
        ));
    }
    Ok(WslGiveBack {
        dry_run: options.dry_run,
        before,
        after,
        waited_ms: waited.as_millis() as u64,
        distributions,
        notes,
    })
}

/// Reads the VM's size every second until it stops falling (two readings without a fall of
/// 1 MiB or more) or `wait` has passed; the last reading, and how long it watched.
fn settle(
    host: &dyn WslHost,
    before: Option<&VmProcess>,
    wait: Duration,
) -> Result<(Option<VmProcess>, Duration), WslError> {
    let mut last = host.vm()?;
    if before.is_none() || wait.is_zero() {
        return Ok((last, Duration::ZERO));
    }
    let mut waited = Duration::ZERO;
    let mut steady = 0;
    while waited < wait && last.is_some() {
        let step = SAMPLE.min(wait - waited);
        host.sleep(step);
        waited += step;
        let now = host.vm()?;
        let size = |p: &Option<VmProcess>| p.as_ref().map_or(0, |p| p.working_set_bytes);
        if size(&now) + (1 << 20) <= size(&last) {
            steady = 0;
        } else {
            steady += 1;
        }
        last = now;
        if steady >= 2 {
            break;
        }
    }
    Ok((last, waited))
}
