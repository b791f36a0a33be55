//! WSL 2's VM in the app: its size in the menu, giving its memory back on a worker thread (a
//! give-back inside takes half a minute and more), and the automatic give-back when the VM is
//! large and idle.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use memdefrag::render::human_bytes;
use memdefrag::wsl::{Outcome, VmProcess, WslError, WslGiveBack};

use crate::settings;
use crate::text::Notification;

/// Why a WSL give-back ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WslReason {
    /// From the menu.
    Manual,
    /// The VM was above the size set, and idle.
    Auto,
}

/// A WSL give-back that ended.
#[derive(Debug)]
pub struct GivenBack {
    /// Why it ran.
    pub reason: WslReason,
    /// When it started.
    pub started: SystemTime,
    /// The report, or why nothing ran.
    pub result: Result<WslGiveBack, WslError>,
}

/// What runs a give-back: the real one asks `wsl.exe`; tests give their own.
pub type Run = Box<dyn Fn() -> Result<WslGiveBack, WslError> + Send>;

/// The worker that gives WSL's memory back, and the way to it.
pub struct WslWorker {
    requests: Option<Sender<WslReason>>,
    done: Receiver<GivenBack>,
    busy: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl WslWorker {
    /// Starts the worker. `wake` is called on the worker thread after each give-back.
    pub fn new(run: Run, wake: Box<dyn Fn() + Send>) -> WslWorker {
        let (requests, incoming) = mpsc::channel::<WslReason>();
        let (finished, done) = mpsc::channel();
        let busy = Arc::new(AtomicBool::new(false));
        let worker_busy = busy.clone();
        let worker = std::thread::spawn(move || {
            for reason in incoming {
                let started = SystemTime::now();
                let result = run();
                worker_busy.store(false, Ordering::SeqCst);
                let _ = finished.send(GivenBack {
                    reason,
                    started,
                    result,
                });
                wake();
            }
        });
        WslWorker {
            requests: Some(requests),
            done,
            busy,
            worker: Some(worker),
        }
    }

    /// Starts a give-back; false, and nothing done, while one is in progress.
    pub fn request(&self, reason: WslReason) -> bool {
        if self.busy.swap(true, Ordering::SeqCst) {
            return false;
        }
        let sent = self
            .requests
            .as_ref()
            .is_some_and(|r| r.send(reason).is_ok());
        if !sent {
            self.busy.store(false, Ordering::SeqCst);
        }
        sent
    }

    /// Whether a give-back is in progress.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// A give-back that has ended since the last call, if any. Never blocks.
    pub fn finished(&self) -> Option<GivenBack> {
        self.done.try_recv().ok()
    }
}

impl Drop for WslWorker {
    /// Ends the worker without waiting for a give-back in progress: wsl.exe calls have their
    /// deadlines, and the VM finishes its part whether the app waits or not.
    fn drop(&mut self) {
        self.requests = None;
        drop(self.worker.take());
    }
}

/// The automatic give-back: fires when the VM's working set is above the size set and its CPU
/// use, averaged over the idle window, is below the share set; then not again for the
/// cooldown.
#[derive(Debug)]
pub struct WslAuto {
    above_bytes: u64,
    idle_fraction: f64,
    window: Duration,
    cooldown: Duration,
    /// (when, the VM's PID, its CPU time in ms) readings over the window.
    samples: VecDeque<(Instant, u32, u64)>,
    quiet_until: Option<Instant>,
}

impl WslAuto {
    /// The automatic give-back the settings ask for, if any.
    pub fn new(settings: &settings::Wsl) -> Option<WslAuto> {
        settings.auto.then(|| WslAuto {
            above_bytes: settings.above_mib.saturating_mul(1 << 20),
            idle_fraction: settings.idle_cpu_percent / 100.0,
            window: Duration::from_secs(settings.idle_seconds),
            cooldown: Duration::from_secs(settings.cooldown_minutes * 60),
            samples: VecDeque::new(),
            quiet_until: None,
        })
    }

    /// Takes a reading of the VM (`None`: it is not running) at `now`; true when a give-back
    /// should start. Never while one runs (`busy`).
    pub fn tick(&mut self, vm: Option<&VmProcess>, now: Instant, busy: bool) -> bool {
        let Some(vm) = vm else {
            self.samples.clear();
            return false;
        };
        // A new VM (another PID) starts the window again.
        if self
            .samples
            .back()
            .is_some_and(|&(_, pid, _)| pid != vm.pid)
        {
            self.samples.clear();
        }
        self.samples.push_back((now, vm.pid, vm.cpu_time_ms));
        while self
            .samples
            .get(1)
            .is_some_and(|&(at, _, _)| now.duration_since(at) >= self.window)
        {
            self.samples.pop_front();
        }
        let Some(&(first, _, first_cpu)) = self.samples.front() else {
            return false;
        };
        let span = now.duration_since(first);
        if span < self.window || busy || vm.working_set_bytes <= self.above_bytes {
            return false;
        }
        if self.quiet_until.is_some_and(|until| now < until) {
            return false;
        }
        let busy_ms = vm.cpu_time_ms.saturating_sub(first_cpu) as f64;
        if busy_ms > span.as_secs_f64() * 1000.0 * self.idle_fraction {
            return false;
        }
        self.quiet_until = Some(now + self.cooldown);
        true
    }
}

/// The menu's line for the VM.
pub fn menu_line(vm: &VmProcess) -> String {
    format!("WSL 2 VM: {}", human_bytes(vm.working_set_bytes))
}

/// The notification after a give-back.
pub fn after_give_back(given: &GivenBack) -> Notification {
    match &given.result {
        Err(e) => Notification {
            title: "memdefrag could not give WSL memory back".into(),
            text: e.to_string(),
            error: true,
        },
        Ok(report) => {
            let failed: Vec<String> = report
                .distributions
                .iter()
                .filter(|d| d.outcome != Outcome::Ok)
                .map(|d| format!("{}: {}", d.name, d.error.as_deref().unwrap_or("failed")))
                .collect();
            let sizes = match (&report.before, &report.after) {
                (Some(before), Some(after)) => format!(
                    "The VM went from {} to {}.",
                    human_bytes(before.working_set_bytes),
                    human_bytes(after.working_set_bytes)
                ),
                _ => String::new(),
            };
            if failed.is_empty() {
                Notification {
                    title: "WSL memory given back".into(),
                    text: sizes,
                    error: false,
                }
            } else {
                Notification {
                    title: "WSL memory: not everything was given back".into(),
                    text: format!("{}. {sizes}", failed.join("; ")).trim().to_owned(),
                    error: true,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use memdefrag::wsl::DistroGiveBack;

    use super::*;

    const GIB: u64 = 1 << 30;

    fn vm(pid: u32, bytes: u64, cpu_ms: u64) -> VmProcess {
        VmProcess {
            name: "VmmemWSL".into(),
            pid,
            working_set_bytes: bytes,
            private_bytes: bytes,
            cpu_time_ms: cpu_ms,
        }
    }

    fn auto() -> WslAuto {
        WslAuto::new(&settings::Wsl {
            auto: true,
            above_mib: 4096,
            idle_cpu_percent: 5.0,
            idle_seconds: 60,
            cooldown_minutes: 30,
        })
        .unwrap()
    }

    #[test]
    fn off_in_the_settings_means_no_automatic_give_back() {
        assert!(WslAuto::new(&settings::Wsl::default()).is_none());
    }

    #[test]
    fn a_large_idle_vm_fires_once_per_cooldown() {
        let mut auto = auto();
        let t0 = Instant::now();
        // Idle (1 ms of CPU a second), 6 GiB: not before the window has passed.
        for s in 0..60 {
            assert!(!auto.tick(Some(&vm(1, 6 * GIB, s)), t0 + Duration::from_secs(s), false));
        }
        assert!(auto.tick(
            Some(&vm(1, 6 * GIB, 60)),
            t0 + Duration::from_secs(60),
            false
        ));
        // Within the cooldown: no.
        for s in 61..200 {
            assert!(!auto.tick(Some(&vm(1, 6 * GIB, s)), t0 + Duration::from_secs(s), false));
        }
        // After it: again.
        let later = 60 + 30 * 60;
        let mut fired = false;
        for s in 200..=later {
            fired |= auto.tick(Some(&vm(1, 6 * GIB, s)), t0 + Duration::from_secs(s), false);
        }
        assert!(fired);
    }

    #[test]
    fn a_busy_small_or_restarted_vm_does_not_fire() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        // Busy: 200 ms of CPU a second is 20 % of a CPU.
        let mut a = auto();
        for s in 0..=120 {
            assert!(!a.tick(Some(&vm(1, 6 * GIB, s * 200)), at(s), false));
        }
        // Small.
        let mut a = auto();
        for s in 0..=120 {
            assert!(!a.tick(Some(&vm(1, 3 * GIB, s)), at(s), false));
        }
        // A give-back already running.
        let mut a = auto();
        for s in 0..=120 {
            assert!(!a.tick(Some(&vm(1, 6 * GIB, s)), at(s), true));
        }
        // A new VM (PID) at 50 s: its window starts then.
        let mut a = auto();
        for s in 0..50 {
            assert!(!a.tick(Some(&vm(1, 6 * GIB, s)), at(s), false));
        }
        for s in 50..110 {
            assert!(!a.tick(Some(&vm(2, 6 * GIB, s)), at(s), false), "{s}");
        }
        assert!(a.tick(Some(&vm(2, 6 * GIB, 110)), at(110), false));
        // No VM: nothing, and the window starts again.
        let mut a = auto();
        for s in 0..59 {
            a.tick(Some(&vm(1, 6 * GIB, s)), at(s), false);
        }
        assert!(!a.tick(None, at(59), false));
        assert!(!a.tick(Some(&vm(1, 6 * GIB, 60)), at(60), false));
    }

    fn report(outcome: Outcome) -> WslGiveBack {
        WslGiveBack {
            dry_run: false,
            before: Some(vm(1, 6 * GIB, 0)),
            after: Some(vm(1, 2 * GIB, 0)),
            waited_ms: 3000,
            distributions: vec![DistroGiveBack {
                name: "Ubuntu".into(),
                method: None,
                outcome,
                command: None,
                inside: None,
                duration_ms: 1.0,
                error: (outcome != Outcome::Ok).then(|| "cannot run as root".into()),
                notes: Vec::new(),
            }],
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_worker_runs_off_the_caller_and_one_at_a_time() {
        let (wake_tx, woken) = mpsc::channel();
        let worker = WslWorker::new(
            Box::new(|| {
                std::thread::sleep(Duration::from_millis(500));
                Ok(report(Outcome::Ok))
            }),
            Box::new(move || {
                let _ = wake_tx.send(());
            }),
        );
        let start = Instant::now();
        assert!(worker.request(WslReason::Manual));
        assert!(start.elapsed() < Duration::from_millis(200));
        assert!(worker.is_busy());
        assert!(!worker.request(WslReason::Auto));
        woken.recv_timeout(Duration::from_secs(10)).unwrap();
        let given = worker.finished().unwrap();
        assert_eq!(given.reason, WslReason::Manual);
        let n = after_give_back(&given);
        assert_eq!(
            (n.title.as_str(), n.text.as_str(), n.error),
            (
                "WSL memory given back",
                "The VM went from 6.00 GiB to 2.00 GiB.",
                false
            )
        );
        assert!(worker.finished().is_none());
        assert!(!worker.is_busy());
    }

    #[test]
    fn failures_are_notified_as_errors() {
        let given = GivenBack {
            reason: WslReason::Auto,
            started: SystemTime::now(),
            result: Ok(report(Outcome::NoRoot)),
        };
        let n = after_give_back(&given);
        assert!(n.error);
        assert_eq!(
            n.text,
            "Ubuntu: cannot run as root. The VM went from 6.00 GiB to 2.00 GiB."
        );
        let given = GivenBack {
            reason: WslReason::Manual,
            started: SystemTime::now(),
            result: Err(WslError::NotRunning(None)),
        };
        let n = after_give_back(&given);
        assert!(n.error && n.text.starts_with("no WSL distribution is running"));
    }

    #[test]
    fn the_menu_line_shows_the_working_set() {
        assert_eq!(menu_line(&vm(1, 3 * GIB / 2, 0)), "WSL 2 VM: 1.50 GiB");
    }
}
