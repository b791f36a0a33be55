//! `memdefrag watch`: purge unattended when memory is under pressure, gently.
//!
//! Triggers, any of which fires an action:
//! - memory pressure: the standby list above a size *and* free memory below a size or a share of
//!   total (as ISLC does); either alone when a library caller gives only one;
//! - usage above a share of total memory ((total − available) ÷ total);
//! - a period since the last action;
//! - tasks stalled on memory for more than a share of a window, as the kernel reports it (a PSI
//!   trigger: the watch sleeps until the kernel wakes it, and looks at memory only then when it
//!   is the only trigger);
//! - the CPUs busy less than a share of the last minute (idle).
//!
//! Each action runs the configured operations, or gives memory back to the hypervisor
//! ([`crate::giveback`]) in a guest.
//!
//! It never loops: every action is followed by a cooldown, and an action that frees less than 1 %
//! of total memory doubles the cooldown (up to 10 minutes) until the triggers clear.
//!
//! - `config`: [`WatchConfig`], [`Threshold`] and the validation;
//! - `trigger`: when an action fires ([`evaluate`]);
//! - `backoff`: the cooldown ([`Backoff`]);
//! - `idle`: the idle trigger's measure;
//! - `event`: what each action reports ([`Event`]);
//! - this module: [`Watch`], the loop.

mod backoff;
mod config;
mod event;
mod idle;
mod trigger;

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

pub use self::backoff::{Backoff, MAX_COOLDOWN};
pub use self::config::{
    ConfigError, Setting, Threshold, WatchConfig, DEFAULT_PRESSURE_WINDOW, MAX_EVERY, MAX_INTERVAL,
    PRESSURE_WINDOWS,
};
pub use self::event::{Event, GivenBack};
use self::idle::IdleWindow;
pub use self::idle::{DEFAULT_IDLE_BELOW, IDLE_WINDOW};
pub use self::trigger::{evaluate, usage_percent, Fired};
use crate::backend::{Backend, StallTrigger};
use crate::giveback::{GiveBackOptions, GiveBackReport};
use crate::op::Op;
use crate::plan::{Plan, ValidatedPlan};
use crate::report::Status;
use crate::snapshot::Snapshot;
use crate::stop::Stop;
use crate::Error;

/// A checked configuration, its action, and its stall trigger if it has one.
type Prepared = (WatchConfig, Action, Option<Box<dyn StallTrigger>>);

/// What each action of a watch does.
enum Action {
    /// Runs the operations.
    Purge(ValidatedPlan),
    /// Gives memory back to the hypervisor.
    GiveBack(GiveBackOptions),
}

/// The operations a watch runs when none are given: the gentlest purge the platform has
/// (`standby-low` where supported, else `standby`).
pub fn default_ops(backend: &dyn Backend) -> Vec<Op> {
    if backend
        .describe(Op::StandbyLow)
        .unsupported_reason()
        .is_none()
    {
        vec![Op::StandbyLow]
    } else {
        vec![Op::Standby]
    }
}

/// Why a watch could not start. Nothing was run.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An operation is unsupported here, or the process may not run it.
    #[error(transparent)]
    Plan(#[from] Error),
}

impl WatchError {
    /// The process exit code: usage (2) for a configuration error, else the plan error's.
    pub fn exit_code(&self) -> i32 {
        match self {
            WatchError::Config(_) => crate::exit::USAGE,
            WatchError::Plan(e) => e.exit_code(),
        }
    }
}

/// A watch that has been checked and is ready to run: its configuration is valid, its plan is
/// supported here and, unless it only previews, this process may run it.
pub struct Watch<'a> {
    backend: &'a dyn Backend,
    config: WatchConfig,
    action: Action,
    /// The kernel's stall trigger, when the configuration has one.
    stall: Option<Mutex<Box<dyn StallTrigger>>>,
}

impl<'a> Watch<'a> {
    /// Checks everything once, before watching starts: the configuration, that every operation
    /// is supported here, and (unless `dry_run`) the privilege they need. Empty `ops` become the
    /// platform's [`default_ops`].
    pub fn new(backend: &'a dyn Backend, config: WatchConfig) -> Result<Watch<'a>, WatchError> {
        let (config, action, stall) = Watch::prepare(backend, config)?;
        if !config.dry_run {
            match &action {
                Action::Purge(plan) => plan.check_privilege(backend)?,
                Action::GiveBack(_) => {
                    crate::giveback::check(false)?;
                }
            }
        }
        Ok(Watch {
            backend,
            config,
            action,
            stall: stall.map(Mutex::new),
        })
    }

    /// Checks a configuration as [`Watch::new`] does, privilege apart, for a watch that will run
    /// elsewhere (a service, under another account). Returns it with its operations filled in.
    pub fn check(backend: &dyn Backend, config: WatchConfig) -> Result<WatchConfig, WatchError> {
        Watch::prepare(backend, config).map(|(config, _, _)| config)
    }

    /// The configuration checked, its action, and its stall trigger (set up now, so that a
    /// kernel without one, or a window this process may not ask for, stops the watch here).
    /// The idle trigger's CPU times are read once, for the same reason.
    fn prepare(backend: &dyn Backend, mut config: WatchConfig) -> Result<Prepared, WatchError> {
        config.validate()?;
        let action = if let Some(keep_hot) = config.give_back {
            crate::giveback::check(true)?;
            Action::GiveBack(GiveBackOptions {
                keep_hot,
                dry_run: config.dry_run,
            })
        } else {
            if config.ops.is_empty() {
                config.ops = default_ops(backend);
            }
            config.ops = Op::canonical(config.ops);
            Action::Purge(
                Plan::canonical(config.ops.iter().copied())
                    .with_processes(config.processes.clone())
                    .with_flush_timeout(config.flush_timeout)
                    .validate(backend)?,
            )
        };
        if config.idle_below.is_some() {
            backend.cpu_times()?;
        }
        let stall = match config.pressure_stall() {
            Some(stall) => Some(backend.stall_trigger(stall, config.pressure_window)?),
            None => None,
        };
        Ok((config, action, stall))
    }

    /// The configuration, with the operations it runs filled in (none for a give-back watch).
    pub fn config(&self) -> &WatchConfig {
        &self.config
    }

    /// Watches until `stop` is requested (or once, with `config.once`), calling `emit` for each
    /// action. Between looks it sleeps on `stop`, so it wakes once per interval and answers a
    /// stop at once; an operation in progress finishes first (it is marked busy on `stop`),
    /// except a flush, which stops being waited for.
    ///
    /// Only snapshot errors end it early; a failed action is reported and watching goes on.
    pub fn run(&self, stop: &Stop, emit: &mut dyn FnMut(&Event)) -> Result<(), Error> {
        let config = &self.config;
        let mut backoff = Backoff::new(config.cooldown);
        let mut last_action = Instant::now();
        let mut quiet_until = Instant::now();
        // Set when the kernel reported a stall since the last look.
        let mut stalled = false;
        let mut last_stall = Instant::now();
        let mut idle = IdleWindow::new(config.idle_window);
        loop {
            // With only the stall trigger, memory is looked at only when the kernel reports.
            if stalled || !config.pressure_only() {
                let snapshot = self.backend.snapshot()?;
                let idle_fired = match config.idle_below {
                    Some(below) => {
                        idle.push(Instant::now(), self.backend.cpu_times()?);
                        idle.busy_percent()
                            .filter(|&busy| busy < below)
                            .map(|busy_percent| Fired::Idle {
                                busy_percent,
                                idle_below_percent: below,
                                window_ms: u64::try_from(config.idle_window.as_millis())
                                    .unwrap_or(u64::MAX),
                            })
                    }
                    None => None,
                };
                let fired = evaluate(config, &snapshot, last_action.elapsed())
                    .or_else(|| stalled.then(|| self.stall_fired(&snapshot)))
                    .or(idle_fired);
                match fired {
                    None => backoff.cleared(),
                    Some(_) if Instant::now() < quiet_until => {}
                    // A stop that came while looking: do not start another operation.
                    Some(_) if stop.is_requested() => return Ok(()),
                    // Paused while one of the named processes runs; looked at only when a
                    // trigger fires, so that a quiet watch costs nothing more.
                    Some(_)
                        if !config.pause_while.is_empty()
                            && !self.backend.running(&config.pause_while).is_empty() => {}
                    Some(fired) => {
                        let event = {
                            let _busy = stop.busy();
                            self.act(&snapshot, fired, &mut backoff, stop)?
                        };
                        last_action = Instant::now();
                        quiet_until = last_action + Duration::from_millis(event.cooldown_ms);
                        // Idleness is measured afresh, without the action's own work.
                        idle.clear();
                        emit(&event);
                    }
                }
            }
            if config.once {
                return Ok(());
            }
            stalled = match &self.stall {
                // The kernel's event wakes it at once; the interval only bounds how late a
                // stop is noticed.
                Some(trigger) => {
                    let reported = trigger
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .wait(config.interval)
                        .map_err(|e| Error::Stats {
                            source_name: "the memory stall trigger".into(),
                            message: e.to_string(),
                        })?;
                    if stop.is_requested() {
                        return Ok(());
                    }
                    if reported {
                        last_stall = Instant::now();
                    } else if config.pressure_only()
                        && last_stall.elapsed() > 2 * config.pressure_window
                    {
                        // No stall for two windows: the trigger has cleared.
                        backoff.cleared();
                    }
                    reported
                }
                None => {
                    if stop.wait(config.interval) {
                        return Ok(());
                    }
                    false
                }
            };
        }
    }

    fn stall_fired(&self, snapshot: &Snapshot) -> Fired {
        Fired::Stall {
            stall_above_percent: self.config.pressure_above.unwrap_or_default(),
            window_ms: u64::try_from(self.config.pressure_window.as_millis()).unwrap_or(u64::MAX),
            some_avg10_percent: snapshot.pressure.map(|p| p.some_avg10),
        }
    }

    /// One action. A stop requested meanwhile cuts a flush that waits short (the kernel goes
    /// on flushing; a service must report stopped within its wait hint) and starts nothing more.
    fn act(
        &self,
        snapshot: &Snapshot,
        fired: Fired,
        backoff: &mut Backoff,
        stop: &Stop,
    ) -> Result<Event, Error> {
        let config = &self.config;
        let time = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let start = Instant::now();
        let (freed, error, give_back) = match &self.action {
            Action::Purge(plan) if config.dry_run => {
                let dry = plan.preview(self.backend)?;
                let estimate = i64::try_from(dry.estimated_bytes).unwrap_or(i64::MAX);
                (estimate, None, None)
            }
            Action::Purge(plan) => {
                let report = plan.run_until(self.backend, stop)?;
                let error = report.failure().map(|(_, e)| e.clone());
                (report.freed_bytes, error, None)
            }
            Action::GiveBack(options) => {
                let report = crate::giveback::give_back(options, stop)?;
                let error = report.steps.iter().find_map(|s| s.error.clone());
                let freed = report.after.free_bytes as i64 - report.before.free_bytes as i64;
                (freed, error, Some(given_back(&report)))
            }
        };
        let status = if error.is_some() {
            Status::Failed
        } else {
            Status::Ok
        };
        let duration_ms = start.elapsed().as_micros() as f64 / 1000.0;
        // A give-back helps by what the host could take, not by what is free.
        let helped = give_back.as_ref().map_or(freed, |g| g.given_back_bytes);
        let cooldown = if config.dry_run {
            config.cooldown
        } else {
            backoff.after_action(helped, snapshot.total_bytes)
        };
        let ops = match &self.action {
            Action::Purge(plan) => plan.ops(),
            Action::GiveBack(_) => Vec::new(),
        };
        Ok(Event {
            time,
            fired,
            ops,
            dry_run: config.dry_run,
            status,
            duration_ms,
            freed_bytes: freed,
            cooldown_ms: u64::try_from(cooldown.as_millis()).unwrap_or(u64::MAX),
            give_back,
            error,
        })
    }
}

fn given_back(report: &GiveBackReport) -> GivenBack {
    GivenBack {
        method: report.method,
        reportable_before_bytes: report.reportable_before_bytes,
        reportable_after_bytes: report.reportable_after_bytes,
        given_back_bytes: report.gained_bytes(),
    }
}

/// Has a closing console window or a shutdown (Windows) stop `stop`'s run and wait, as long as
/// Windows allows, for the operation in progress to finish; a user's log-off (which processes in
/// session 0, such as a task run as SYSTEM, receive for every user) no longer stops anything.
/// Elsewhere it does nothing: SIGTERM and SIGINT reach the process's own handlers, which request
/// the stop.
pub fn hold_console_close(stop: &Stop) -> std::io::Result<()> {
    let stop = stop.clone();
    crate::platform::on_console_close(move |grace| {
        stop.request();
        stop.wait_idle(grace);
    })
}

#[cfg(test)]
mod tests;
