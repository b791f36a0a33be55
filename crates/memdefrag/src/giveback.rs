//! Giving memory back to the hypervisor, from inside a virtual machine: reclaim what the guest
//! has not used for a while, keep what it uses, then compact until the free memory lies in
//! blocks the balloon's free page reporting hands to the host.
//!
//! A guest's touched memory stays charged to it on the host until the guest frees it *and* the
//! free memory lies in blocks of `page_reporting_order` (2 MiB on x86-64) or larger. Dropping
//! every cache (the usual recipe, `drop_caches` then `compact_memory`) gets there, but throws
//! the hot cache away with the cold and the guest reads it back from disk. `give-back` pages out
//! only memory not accessed for [`GiveBackOptions::keep_hot`], tracked by the kernel itself.

use std::time::Duration;

use serde::Serialize;

use std::time::Instant;

use crate::backend::{Backend, OsError, Outcome, RunOptions, Support};
pub use crate::backend::{ColdMethod, MigrateTypeBytes, Stranded};
use crate::op::Op;
use crate::platform;
use crate::report::Status;
use crate::snapshot::Snapshot;
use crate::{Error, Native, Stop};

/// What the errors call this command.
const FEATURE: &str = "giving memory back to the hypervisor";
/// Compaction passes at most: one usually does it; another helps when the first freed blocks
/// the next can merge.
const MAX_COMPACTIONS: u64 = 3;

/// The default of [`GiveBackOptions::keep_hot`]: memory untouched for 30 s is taken as cold.
/// Long enough to span what a program touches periodically (a build re-reading its headers, a
/// service's timers, an editor's files), short enough for a command to wait out: the kernel must
/// watch that long before it knows what was not used.
pub const DEFAULT_KEEP_HOT: Duration = Duration::from_secs(30);

/// What to give back, and how carefully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GiveBackOptions {
    /// Memory accessed within this long is kept.
    pub keep_hot: Duration,
    /// Only say what would be done.
    pub dry_run: bool,
}

impl Default for GiveBackOptions {
    fn default() -> GiveBackOptions {
        GiveBackOptions {
            keep_hot: DEFAULT_KEEP_HOT,
            dry_run: false,
        }
    }
}

/// One step of a give-back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// `cold` (reclaim of memory not in use) or `compact`.
    pub step: &'static str,
    /// How it ended.
    pub status: Status,
    /// How long it took.
    pub duration_ms: f64,
    /// The kernel interface it used.
    pub kernel_call: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OsError>,
    /// Named counts: `reclaimed_bytes`, `passes`, …
    #[serde(serialize_with = "crate::report::as_map")]
    pub counts: Vec<(&'static str, u64)>,
    /// Remarks a user should see (why it stopped, what it could not do).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What a give-back did (or, with `dry_run`, would do).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GiveBackReport {
    /// Whether this only says what would be done.
    pub dry_run: bool,
    /// How cold memory is found.
    pub method: ColdMethod,
    /// Why this method, in one line (what the kernel offers, what was already running).
    pub method_reason: String,
    /// Memory accessed within this long is kept, in milliseconds.
    pub keep_hot_ms: u64,
    /// `page_reporting_order`: the smallest block the host takes back.
    pub reportable_order: u32,
    /// Free memory in reportable blocks before, in bytes.
    pub reportable_before_bytes: u64,
    /// The same after (equal to before in a dry run).
    pub reportable_after_bytes: u64,
    /// The steps run (empty in a dry run).
    pub steps: Vec<Step>,
    /// Free memory that stays in blocks too small to report, after the run.
    pub stranded: Stranded,
    /// The whole run, in milliseconds.
    pub duration_ms: f64,
    /// Memory state before and after.
    pub before: Snapshot,
    /// See `before`.
    pub after: Snapshot,
    /// Remarks on the run as a whole.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Whether a stop request (a signal) cut the run short.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl GiveBackReport {
    /// The process exit code: 0, or 1 when a step failed.
    pub fn exit_code(&self) -> i32 {
        if self.steps.iter().any(|s| s.status == Status::Failed) {
            crate::exit::FAILED
        } else {
            crate::exit::OK
        }
    }

    /// Reportable free memory gained (negative when the guest took memory meanwhile).
    pub fn gained_bytes(&self) -> i64 {
        self.reportable_after_bytes as i64 - self.reportable_before_bytes as i64
    }
}

/// Checks, changing nothing, that memory can be given back here and (unless `dry_run`) that
/// this process may; returns the page reporting order. [`give_back`] checks this itself; a watch
/// checks it once before it starts.
pub fn check(dry_run: bool) -> Result<u32, Error> {
    let order = platform::give_back_support().map_err(|reason| Error::UnsupportedFeature {
        feature: FEATURE,
        reason,
    })?;
    if !dry_run {
        platform::check_give_back_privilege().map_err(|np| Error::FeatureNotPrivileged {
            feature: FEATURE,
            needs: np.needs,
            remedy: np.remedy,
        })?;
    }
    Ok(order)
}

/// Gives memory back to the hypervisor (Linux guests with free page reporting). Validates and
/// checks privilege before it changes anything: [`Error::UnsupportedFeature`] (exit 3) where
/// there is no hypervisor to give to or the platform has no way, [`Error::FeatureNotPrivileged`]
/// (exit 77) without root.
pub fn give_back(options: &GiveBackOptions, stop: &Stop) -> Result<GiveBackReport, Error> {
    let order = check(options.dry_run)?;
    let backend = Native::new();
    let (method, method_reason) = platform::cold_method();
    let started = Instant::now();
    let before = backend.snapshot()?;
    let reportable = |s: &Snapshot| s.reportable_free.as_ref().map_or(0, |r| r.bytes);
    let mut report = GiveBackReport {
        dry_run: options.dry_run,
        method,
        method_reason,
        keep_hot_ms: options.keep_hot.as_millis() as u64,
        reportable_order: order,
        reportable_before_bytes: reportable(&before),
        reportable_after_bytes: reportable(&before),
        steps: Vec::new(),
        stranded: Stranded::default(),
        duration_ms: 0.0,
        after: before.clone(),
        before,
        notes: Vec::new(),
        interrupted: false,
    };
    if options.dry_run {
        match platform::stranded(order) {
            Ok(stranded) => report.stranded = stranded,
            Err(e) => report
                .notes
                .push(format!("stranded memory not measured: {e}")),
        }
        report.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        return Ok(report);
    }

    let cold_started = Instant::now();
    let cold = platform::reclaim_cold(method, options.keep_hot, stop);
    report.steps.push(step(
        "cold",
        platform::cold_kernel_call(method, options.keep_hot),
        cold_started,
        cold,
    ));

    let compact_info = backend.describe(Op::Compact);
    if report.steps[0].status != Status::Ok || stop.is_requested() {
        // Nothing more after a failure or a stop.
    } else if let Support::No { reason } = &compact_info.support {
        report.notes.push(format!("no compaction: {reason}"));
    } else {
        let compact_started = Instant::now();
        let mut passes = 0;
        let mut last = reportable(&backend.snapshot()?);
        let enough = (report.before.total_bytes / 100).max(16 << 20);
        let outcome = loop {
            passes += 1;
            if let Err(e) = backend.run(Op::Compact, &RunOptions::default(), stop) {
                break Err(e);
            }
            let now = reportable(&backend.snapshot()?);
            let gained = now.saturating_sub(last);
            last = now;
            if passes >= MAX_COMPACTIONS || gained < enough || stop.is_requested() {
                break Ok(Outcome {
                    counts: vec![("passes", passes)],
                    ..Outcome::default()
                });
            }
        };
        report.steps.push(step(
            "compact",
            compact_info.kernel_call,
            compact_started,
            outcome,
        ));
    }

    report.after = backend.snapshot()?;
    report.reportable_after_bytes = reportable(&report.after);
    match platform::stranded(order) {
        Ok(stranded) => report.stranded = stranded,
        Err(e) => report
            .notes
            .push(format!("stranded memory not measured: {e}")),
    }
    report.interrupted = stop.is_requested();
    report.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(report)
}

fn step(
    name: &'static str,
    kernel_call: String,
    started: Instant,
    result: Result<Outcome, OsError>,
) -> Step {
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(outcome) => Step {
            step: name,
            status: Status::Ok,
            duration_ms,
            kernel_call,
            error: None,
            counts: outcome.counts,
            notes: outcome.notes,
        },
        Err(error) => Step {
            step: name,
            status: Status::Failed,
            duration_ms,
            kernel_call,
            error: Some(error),
            counts: Vec::new(),
            notes: Vec::new(),
        },
    }
}
