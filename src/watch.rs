//! `memdefrag watch`: purge unattended when memory is under pressure, gently.
//!
//! Triggers, any of which fires an action:
//! - memory pressure: the standby list (cache) above a size *and* free memory below a size or a
//!   share of total (as ISLC does); either alone when only one is given;
//! - usage above a share of total memory ((total − available) ÷ total);
//! - a period since the last action.
//!
//! It never loops: every action is followed by a cooldown, and an action that frees less than 1 %
//! of total memory doubles the cooldown (up to 10 minutes) until the triggers clear.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::backend::Backend;
use crate::op::Op;
use crate::plan::Plan;
use crate::snapshot::Snapshot;
use crate::{Error, OsError, Status};

/// The longest cooldown the back-off reaches.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(600);
/// The longest interval or base cooldown accepted: a day.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// The longest `--every` accepted: a year.
const MAX_EVERY: Duration = Duration::from_secs(365 * 86_400);

/// A free-memory threshold: bytes, or a percentage of total memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    Bytes(u64),
    Percent(f64),
}

impl Threshold {
    fn bytes(self, total: u64) -> u64 {
        match self {
            Threshold::Bytes(b) => b,
            Threshold::Percent(p) => (total as f64 * p / 100.0) as u64,
        }
    }
}

/// What to watch for and what to do.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchConfig {
    /// The operations of each action, in canonical order.
    pub ops: Vec<Op>,
    pub standby_above: Option<u64>,
    pub free_below: Option<Threshold>,
    /// Percent of total memory in use.
    pub usage_above: Option<f64>,
    pub every: Option<Duration>,
    pub interval: Duration,
    pub cooldown: Duration,
    pub once: bool,
    pub dry_run: bool,
}

impl WatchConfig {
    /// Checks the configuration as a whole; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.standby_above.is_none()
            && self.free_below.is_none()
            && self.usage_above.is_none()
            && self.every.is_none()
        {
            return Err(
                "no trigger: give --standby-above with --free-below, --usage-above, or --every"
                    .into(),
            );
        }
        if self.standby_above.is_some() != self.free_below.is_some() {
            return Err("--standby-above and --free-below go together: both must hold".into());
        }
        for (name, value, max) in [
            ("--interval", Some(self.interval), MAX_INTERVAL),
            ("--cooldown", Some(self.cooldown), MAX_INTERVAL),
            ("--every", self.every, MAX_EVERY),
        ] {
            match value {
                Some(d) if d.is_zero() => return Err(format!("{name} must be more than 0")),
                Some(d) if d > max => {
                    return Err(format!(
                        "{name} must be at most {}",
                        humantime::format_duration(max)
                    ))
                }
                _ => {}
            }
        }
        if self.once && self.every.is_some() {
            return Err(
                "--every cannot fire with --once: there is no previous action to time from".into(),
            );
        }
        let percents = [
            self.usage_above,
            match self.free_below {
                Some(Threshold::Percent(p)) => Some(p),
                _ => None,
            },
        ];
        if let Some(p) = percents
            .into_iter()
            .flatten()
            .find(|p| !(0.0..=100.0).contains(p))
        {
            return Err(format!("a percentage must be from 0 to 100, not {p}"));
        }
        if self.ops.is_empty() {
            return Err("no operation to run".into());
        }
        Ok(())
    }
}

/// Why an action fired, with the values that fired it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "trigger", rename_all = "kebab-case")]
pub enum Fired {
    /// Standby above its threshold and free below its (whichever were given).
    Pressure {
        cache_bytes: u64,
        free_bytes: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        standby_above_bytes: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        free_below_bytes: Option<u64>,
    },
    Usage {
        usage_percent: f64,
        usage_above_percent: f64,
    },
    Every {
        every_ms: u64,
    },
}

impl Fired {
    fn describe(&self) -> String {
        use crate::report::human_bytes as h;
        match self {
            Fired::Pressure {
                cache_bytes,
                free_bytes,
                standby_above_bytes,
                free_below_bytes,
            } => {
                let mut parts = Vec::new();
                if let Some(t) = standby_above_bytes {
                    parts.push(format!("standby {} > {}", h(*cache_bytes), h(*t)));
                }
                if let Some(t) = free_below_bytes {
                    parts.push(format!("free {} < {}", h(*free_bytes), h(*t)));
                }
                parts.join(" and ")
            }
            Fired::Usage {
                usage_percent,
                usage_above_percent,
            } => format!("usage {usage_percent:.1} % > {usage_above_percent} %"),
            Fired::Every { every_ms } => format!("every {} s", *every_ms as f64 / 1000.0),
        }
    }
}

/// The first trigger that holds for `snapshot`, `since_action` after the last action (or start).
pub fn evaluate(
    config: &WatchConfig,
    snapshot: &Snapshot,
    since_action: Duration,
) -> Option<Fired> {
    let total = snapshot.total_bytes;
    if config.standby_above.is_some() || config.free_below.is_some() {
        let free_below = config.free_below.map(|t| t.bytes(total));
        // Validation requires both; a library caller may give one, which then holds alone.
        let standby_holds = config
            .standby_above
            .is_none_or(|t| snapshot.cache_bytes > t);
        let free_holds = free_below.is_none_or(|t| snapshot.free_bytes < t);
        if standby_holds && free_holds {
            return Some(Fired::Pressure {
                cache_bytes: snapshot.cache_bytes,
                free_bytes: snapshot.free_bytes,
                standby_above_bytes: config.standby_above,
                free_below_bytes: free_below,
            });
        }
    }
    if let Some(above) = config.usage_above {
        let usage = usage_percent(snapshot);
        if usage > above {
            return Some(Fired::Usage {
                usage_percent: usage,
                usage_above_percent: above,
            });
        }
    }
    if let Some(every) = config.every {
        if since_action >= every {
            return Some(Fired::Every {
                every_ms: every.as_millis() as u64,
            });
        }
    }
    None
}

/// (total − available) ÷ total, in percent.
pub fn usage_percent(snapshot: &Snapshot) -> f64 {
    if snapshot.total_bytes == 0 {
        return 0.0;
    }
    let used = snapshot
        .total_bytes
        .saturating_sub(snapshot.available_bytes);
    used as f64 * 100.0 / snapshot.total_bytes as f64
}

/// The cooldown after each action, doubling while actions do not help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(base: Duration) -> Backoff {
        Backoff {
            base,
            current: base,
        }
    }

    /// The cooldown after an action that freed `freed` bytes of `total`: the base when it freed at
    /// least 1 % of total, else double the last one (up to [`MAX_COOLDOWN`]).
    pub fn after_action(&mut self, freed: i64, total: u64) -> Duration {
        if freed >= 0 && (freed as u64).saturating_mul(100) >= total {
            self.current = self.base;
        } else {
            self.current = (self.current * 2).min(MAX_COOLDOWN.max(self.base));
        }
        self.current
    }

    /// The triggers no longer hold: the next action starts from the base cooldown again.
    pub fn cleared(&mut self) {
        self.current = self.base;
    }
}

/// One action, as printed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// When the action started, RFC 3339 UTC.
    pub time: String,
    #[serde(flatten)]
    pub fired: Fired,
    pub ops: Vec<Op>,
    pub dry_run: bool,
    /// ok | failed (for a dry run: what it would have done is "ok").
    pub status: Status,
    pub duration_ms: f64,
    /// Free memory after minus before (for a dry run: the estimate).
    pub freed_bytes: i64,
    /// How long before the triggers are looked at again.
    pub cooldown_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<OsError>,
}

impl Event {
    /// One line for people.
    pub fn line(&self) -> String {
        let ops: Vec<&str> = self.ops.iter().map(|o| o.name()).collect();
        let verb = if self.dry_run {
            "would purge"
        } else {
            "purged"
        };
        let outcome = match (&self.error, self.dry_run) {
            (Some(e), _) => format!("FAILED: {e}"),
            (None, true) => format!(
                "would free ~{}",
                crate::report::human_bytes(self.freed_bytes.max(0) as u64)
            ),
            (None, false) => format!(
                "freed {}{} in {:.1} ms",
                if self.freed_bytes < 0 { "-" } else { "" },
                crate::report::human_bytes(self.freed_bytes.unsigned_abs()),
                self.duration_ms
            ),
        };
        format!(
            "{} {verb} {} ({}): {outcome}; cooldown {} s",
            self.time,
            ops.join(","),
            self.fired.describe(),
            self.cooldown_ms as f64 / 1000.0
        )
    }
}

/// Set when the console is being closed (Windows): no new action starts.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
/// An action is in progress.
static BUSY: AtomicBool = AtomicBool::new(false);

/// Marks an action in progress for as long as it lives (also when the action panics).
struct Busy;

impl Busy {
    fn start() -> Busy {
        BUSY.store(true, Ordering::SeqCst);
        Busy
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.store(false, Ordering::SeqCst);
    }
}

/// Installs, where the platform needs one, a handler that lets an action in progress finish when
/// the console window is closed (Windows ends the process as soon as console handlers return;
/// this one holds the close until the action is done, for up to 4.5 s of the 5 s Windows allows).
/// Elsewhere SIGTERM and SIGINT already wait for it, and this does nothing.
pub fn hold_console_close() -> std::io::Result<()> {
    crate::platform::hold_console_close()
}

/// Called when the console is closing: starts no new action and waits, up to `limit`, for the
/// one in progress. Returns whether none is left running.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn stop_and_wait_idle(limit: Duration) -> bool {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
    wait_until_idle(&BUSY, limit)
}

fn wait_until_idle(busy: &AtomicBool, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while busy.load(Ordering::SeqCst) {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Watches until a message arrives on `stop` (or once, with `config.once`), calling `emit` for
/// each action. Between looks it blocks on `stop`, so it wakes once per interval and answers a
/// stop at once (an operation in progress finishes first).
///
/// Only snapshot errors end it early; a failed action is reported and watching goes on.
pub fn run(
    backend: &dyn Backend,
    config: &WatchConfig,
    stop: &Receiver<()>,
    emit: &mut dyn FnMut(&Event),
) -> Result<(), Error> {
    let plan = Plan::canonical(config.ops.iter().copied());
    let mut backoff = Backoff::new(config.cooldown);
    let mut last_action = Instant::now();
    let mut quiet_until = Instant::now();
    loop {
        let snapshot = backend.snapshot()?;
        match evaluate(config, &snapshot, last_action.elapsed()) {
            None => backoff.cleared(),
            Some(_) if Instant::now() < quiet_until => {}
            // A stop that came while looking: do not start another operation.
            Some(_) if STOP_REQUESTED.load(Ordering::SeqCst) || stop.try_recv().is_ok() => {
                return Ok(())
            }
            Some(fired) => {
                let busy = Busy::start();
                let event = act(backend, &plan, config, &snapshot, fired, &mut backoff);
                drop(busy);
                let event = event?;
                last_action = Instant::now();
                quiet_until = last_action + Duration::from_millis(event.cooldown_ms);
                emit(&event);
            }
        }
        if config.once {
            return Ok(());
        }
        match stop.recv_timeout(config.interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

fn act(
    backend: &dyn Backend,
    plan: &Plan,
    config: &WatchConfig,
    snapshot: &Snapshot,
    fired: Fired,
    backoff: &mut Backoff,
) -> Result<Event, Error> {
    let time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let start = Instant::now();
    let (status, freed, error) = if config.dry_run {
        let dry = plan.preview(backend)?;
        (Status::Ok, dry.estimated_bytes as i64, None)
    } else {
        let report = plan.execute_checked(backend)?;
        let error = report.failure().map(|(_, e)| e.clone());
        let status = if error.is_some() {
            Status::Failed
        } else {
            Status::Ok
        };
        (status, report.freed_bytes, error)
    };
    let duration_ms = start.elapsed().as_micros() as f64 / 1000.0;
    let cooldown = if config.dry_run {
        config.cooldown
    } else {
        backoff.after_action(freed, snapshot.total_bytes)
    };
    Ok(Event {
        time,
        fired,
        ops: plan.ops().to_vec(),
        dry_run: config.dry_run,
        status,
        duration_ms,
        freed_bytes: freed,
        cooldown_ms: cooldown.as_millis() as u64,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Detail;

    const GIB: u64 = 1 << 30;

    fn snap(cache: u64, free: u64, available: u64) -> Snapshot {
        Snapshot {
            platform: "test",
            total_bytes: 16 * GIB,
            available_bytes: available,
            free_bytes: free,
            cache_bytes: cache,
            modified_bytes: 0,
            fragmentation: None,
            detail: Detail::None {},
        }
    }

    fn config() -> WatchConfig {
        WatchConfig {
            ops: vec![Op::Standby],
            standby_above: None,
            free_below: None,
            usage_above: None,
            every: None,
            interval: Duration::from_secs(1),
            cooldown: Duration::from_secs(30),
            once: false,
            dry_run: false,
        }
    }

    #[test]
    fn standby_and_free_must_both_hold() {
        let c = WatchConfig {
            standby_above: Some(2 * GIB),
            free_below: Some(Threshold::Bytes(GIB)),
            ..config()
        };
        let zero = Duration::ZERO;
        assert!(evaluate(&c, &snap(3 * GIB, GIB / 2, 4 * GIB), zero).is_some());
        assert!(
            evaluate(&c, &snap(3 * GIB, 2 * GIB, 4 * GIB), zero).is_none(),
            "free enough"
        );
        assert!(
            evaluate(&c, &snap(GIB, GIB / 2, 4 * GIB), zero).is_none(),
            "standby small"
        );
        let fired = evaluate(&c, &snap(3 * GIB, GIB / 2, 4 * GIB), zero).unwrap();
        assert_eq!(
            fired,
            Fired::Pressure {
                cache_bytes: 3 * GIB,
                free_bytes: GIB / 2,
                standby_above_bytes: Some(2 * GIB),
                free_below_bytes: Some(GIB),
            }
        );
        assert_eq!(
            fired.describe(),
            "standby 3.00 GiB > 2.00 GiB and free 512.0 MiB < 1.00 GiB"
        );
    }

    #[test]
    fn free_below_a_percentage_of_total() {
        let c = WatchConfig {
            free_below: Some(Threshold::Percent(10.0)),
            ..config()
        };
        assert!(
            evaluate(&c, &snap(0, GIB, GIB), Duration::ZERO).is_some(),
            "1 of 16 GiB"
        );
        assert!(evaluate(&c, &snap(0, 2 * GIB, GIB), Duration::ZERO).is_none());
    }

    #[test]
    fn usage_is_total_minus_available() {
        let c = WatchConfig {
            usage_above: Some(75.0),
            ..config()
        };
        let fired = evaluate(&c, &snap(0, 0, 2 * GIB), Duration::ZERO).unwrap();
        assert_eq!(
            fired,
            Fired::Usage {
                usage_percent: 87.5,
                usage_above_percent: 75.0
            }
        );
        assert!(
            evaluate(&c, &snap(0, 0, 8 * GIB), Duration::ZERO).is_none(),
            "50 %"
        );
    }

    #[test]
    fn every_fires_after_its_period() {
        let c = WatchConfig {
            every: Some(Duration::from_secs(600)),
            ..config()
        };
        let s = snap(0, 0, 0);
        assert!(evaluate(&c, &s, Duration::from_secs(599)).is_none());
        assert_eq!(
            evaluate(&c, &s, Duration::from_secs(600)),
            Some(Fired::Every { every_ms: 600_000 })
        );
    }

    #[test]
    fn backoff_doubles_while_useless_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(30));
        let total = 16 * GIB;
        assert_eq!(b.after_action(0, total), Duration::from_secs(60));
        assert_eq!(b.after_action(-5, total), Duration::from_secs(120));
        assert_eq!(
            b.after_action((total / 100 - 1) as i64, total),
            Duration::from_secs(240)
        );
        for _ in 0..10 {
            b.after_action(0, total);
        }
        assert_eq!(
            b.after_action(0, total),
            MAX_COOLDOWN,
            "capped at 10 minutes"
        );
        assert_eq!(
            b.after_action((total / 100 + 1) as i64, total),
            Duration::from_secs(30)
        );
        b.after_action(0, total);
        b.after_action(0, total);
        b.cleared();
        assert_eq!(
            b.after_action(0, total),
            Duration::from_secs(60),
            "doubling restarts"
        );
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(config().validate().unwrap_err().contains("no trigger"));
        let ok = WatchConfig {
            usage_above: Some(90.0),
            ..config()
        };
        assert_eq!(ok.validate(), Ok(()));
        let zero = WatchConfig {
            interval: Duration::ZERO,
            ..ok.clone()
        };
        assert!(zero.validate().unwrap_err().contains("--interval"));
        let over = WatchConfig {
            standby_above: Some(GIB),
            free_below: Some(Threshold::Percent(101.0)),
            ..ok.clone()
        };
        assert!(over.validate().unwrap_err().contains("0 to 100"));
        let every0 = WatchConfig {
            every: Some(Duration::ZERO),
            ..ok.clone()
        };
        assert!(every0.validate().unwrap_err().contains("--every"));
        let cooldown0 = WatchConfig {
            cooldown: Duration::ZERO,
            ..ok.clone()
        };
        assert!(cooldown0.validate().unwrap_err().contains("--cooldown"));
        let huge = WatchConfig {
            cooldown: Duration::from_secs(1 << 40),
            ..ok.clone()
        };
        assert!(huge.validate().unwrap_err().contains("at most 1day"));
        let half = WatchConfig {
            standby_above: Some(GIB),
            ..ok.clone()
        };
        assert!(half.validate().unwrap_err().contains("go together"));
        let once_every = WatchConfig {
            once: true,
            every: Some(Duration::from_secs(60)),
            ..ok
        };
        assert!(once_every.validate().unwrap_err().contains("--once"));
    }

    /// A backend whose memory is always under pressure, which counts looks and runs, and asks
    /// the loop to stop after `stop_after` looks.
    struct Pressured {
        looks: std::cell::Cell<usize>,
        runs: std::cell::Cell<usize>,
        stop_after: usize,
        stop: std::sync::mpsc::Sender<()>,
        fail: bool,
    }

    impl Backend for Pressured {
        fn platform(&self) -> &'static str {
            "test"
        }
        fn default_plan(&self) -> Vec<Op> {
            Vec::new()
        }
        fn describe(&self, op: Op) -> crate::OpInfo {
            crate::OpInfo {
                op,
                support: crate::Support::Yes,
                kernel_call: "call".into(),
                privilege: "none".into(),
            }
        }
        fn check_privilege(&self, _op: Op) -> Result<(), crate::NotPrivileged> {
            Ok(())
        }
        fn snapshot(&self) -> Result<Snapshot, Error> {
            self.looks.set(self.looks.get() + 1);
            if self.looks.get() == self.stop_after {
                self.stop.send(()).unwrap();
            }
            Ok(snap(0, 0, 0))
        }
        fn estimate(&self, _op: Op, _snapshot: &Snapshot) -> Option<u64> {
            None
        }
        fn run(&self, _op: Op) -> Result<crate::Outcome, OsError> {
            self.runs.set(self.runs.get() + 1);
            if self.fail {
                return Err(OsError::new(5, "refused"));
            }
            Ok(crate::Outcome::default())
        }
    }

    fn watch(stop_after: usize, fail: bool, stop_first: bool) -> (Vec<Event>, Pressured) {
        let (tx, rx) = std::sync::mpsc::channel();
        if stop_first {
            tx.send(()).unwrap();
        }
        let backend = Pressured {
            looks: 0.into(),
            runs: 0.into(),
            stop_after,
            stop: tx,
            fail,
        };
        let config = WatchConfig {
            usage_above: Some(50.0),
            interval: Duration::from_millis(1),
            cooldown: Duration::from_secs(60),
            ..config()
        };
        let mut events = Vec::new();
        run(&backend, &config, &rx, &mut |e| events.push(e.clone())).unwrap();
        (events, backend)
    }

    #[test]
    fn acts_once_then_stays_quiet_through_the_cooldown() {
        let (events, backend) = watch(50, false, false);
        assert_eq!(backend.runs.get(), 1);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.status, Status::Ok);
        assert_eq!(e.ops, [Op::Standby]);
        // It freed nothing: the cooldown after it doubled.
        assert_eq!(e.cooldown_ms, 120_000);
        assert!(matches!(e.fired, Fired::Usage { .. }));
        assert!(backend.looks.get() >= 50, "kept looking until stopped");
    }

    #[test]
    fn a_failed_action_is_reported_and_watching_goes_on() {
        let (events, backend) = watch(20, true, false);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].status, Status::Failed);
        assert_eq!(events[0].error.as_ref().unwrap().code, 5);
        assert!(
            events[0].line().contains("FAILED: refused"),
            "{}",
            events[0].line()
        );
        assert!(backend.looks.get() >= 20);
    }

    #[test]
    fn a_stop_that_came_while_looking_starts_nothing() {
        let (events, backend) = watch(1000, false, true);
        assert!(events.is_empty());
        assert_eq!(backend.runs.get(), 0);
    }

    #[test]
    fn waiting_for_idle_returns_when_the_action_ends_or_the_limit_passes() {
        let busy = std::sync::Arc::new(AtomicBool::new(true));
        let flag = std::sync::Arc::clone(&busy);
        let ender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            flag.store(false, Ordering::SeqCst);
        });
        let start = Instant::now();
        assert!(wait_until_idle(&busy, Duration::from_secs(5)));
        assert!(start.elapsed() >= Duration::from_millis(40));
        ender.join().unwrap();

        busy.store(true, Ordering::SeqCst);
        assert!(
            !wait_until_idle(&busy, Duration::from_millis(30)),
            "gives up at the limit"
        );
    }
}
