//! Cleaning on a worker thread: the UI thread asks and goes on drawing and answering; the worker
//! runs the plan (a purge can take seconds) and tells the UI when it is done. A request while a
//! clean runs is refused at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use memdefrag::watch::Fired;
use memdefrag::{Backend, Error, Op, Plan, ProcessFilter, Report};

/// Why a clean ran.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// Clean now, from the menu or a click.
    Manual,
    /// The hotkey.
    Hotkey,
    /// Automatic cleaning, and the trigger that fired.
    Auto(Fired),
}

/// A clean that ended.
#[derive(Debug)]
pub struct Cleaned {
    /// Why it ran.
    pub reason: Reason,
    /// When it started.
    pub started: SystemTime,
    /// The report, or why nothing ran.
    pub result: Result<Report, Error>,
}

struct Request {
    ops: Vec<Op>,
    processes: ProcessFilter,
    reason: Reason,
}

/// The worker and the way to it.
pub struct Cleaner {
    requests: Option<Sender<Request>>,
    done: Receiver<Cleaned>,
    busy: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl Cleaner {
    /// Starts the worker over `backend`. `wake` is called on the worker thread after each clean,
    /// to wake the UI (which then calls [`Cleaner::finished`]).
    pub fn new(backend: Arc<dyn Backend>, wake: Box<dyn Fn() + Send>) -> Cleaner {
        let (requests, incoming) = mpsc::channel::<Request>();
        let (finished, done) = mpsc::channel();
        let busy = Arc::new(AtomicBool::new(false));
        let worker_busy = busy.clone();
        let worker = std::thread::spawn(move || {
            for request in incoming {
                let started = SystemTime::now();
                let result = Plan::canonical(request.ops)
                    .with_processes(request.processes)
                    .execute(&*backend);
                // Free before the result is out: whoever reads it may clean again at once.
                worker_busy.store(false, Ordering::SeqCst);
                let _ = finished.send(Cleaned {
                    reason: request.reason,
                    started,
                    result,
                });
                wake();
            }
        });
        Cleaner {
            requests: Some(requests),
            done,
            busy,
            worker: Some(worker),
        }
    }

    /// Starts a clean of `ops` (`working-sets` on the processes `processes` lets through);
    /// returns false, and does nothing, while one is in progress.
    pub fn request(&self, ops: Vec<Op>, processes: ProcessFilter, reason: Reason) -> bool {
        if self.busy.swap(true, Ordering::SeqCst) {
            return false;
        }
        let sent = self.requests.as_ref().is_some_and(|r| {
            r.send(Request {
                ops,
                processes,
                reason,
            })
            .is_ok()
        });
        if !sent {
            self.busy.store(false, Ordering::SeqCst);
        }
        sent
    }

    /// Whether a clean is in progress.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// A clean that has ended since the last call, if any. Never blocks.
    pub fn finished(&self) -> Option<Cleaned> {
        self.done.try_recv().ok()
    }
}

impl Drop for Cleaner {
    /// Lets a clean in progress finish (a purge cannot be cut short), then ends the worker.
    fn drop(&mut self) {
        self.requests = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use memdefrag::testing::Scripted;

    use super::*;

    #[test]
    fn a_slow_clean_never_blocks_the_caller_and_a_second_request_is_refused() {
        let backend = Arc::new(Scripted {
            run_time: Duration::from_secs(2),
            ..Scripted::default()
        });
        let (wake_tx, woken) = mpsc::channel();
        let cleaner = Cleaner::new(
            backend.clone(),
            Box::new(move || {
                let _ = wake_tx.send(());
            }),
        );
        let start = Instant::now();
        assert!(cleaner.request(vec![Op::Standby], ProcessFilter::default(), Reason::Manual));
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "request returns at once"
        );
        assert!(cleaner.is_busy());
        assert!(
            !cleaner.request(vec![Op::Standby], ProcessFilter::default(), Reason::Hotkey),
            "one at a time"
        );
        // The UI loop keeps answering while the worker cleans.
        let mut answered = 0;
        let cleaned = loop {
            if let Some(cleaned) = cleaner.finished() {
                break cleaned;
            }
            answered += 1;
            let tick = Instant::now();
            std::thread::sleep(Duration::from_millis(10));
            assert!(tick.elapsed() < Duration::from_millis(500));
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the clean never ended"
            );
        };
        assert!(cleaned.result.is_ok());
        assert!(
            answered > 50,
            "the loop ran {answered} times during a 2 s clean"
        );
        woken
            .recv_timeout(Duration::from_secs(5))
            .expect("the UI is woken");
        assert!(!cleaner.is_busy());
        assert_eq!(
            backend.ran(),
            [Op::Standby],
            "the refused request ran nothing"
        );
        assert!(
            cleaner.request(vec![Op::Standby], ProcessFilter::default(), Reason::Manual),
            "free again"
        );
    }

    #[test]
    fn the_result_says_why_it_ran_and_what_it_did() {
        let backend = Arc::new(Scripted::default());
        let cleaner = Cleaner::new(backend, Box::new(|| {}));
        assert!(cleaner.request(
            vec![Op::Standby, Op::Modified],
            ProcessFilter::default(),
            Reason::Hotkey
        ));
        let start = Instant::now();
        let cleaned = loop {
            if let Some(c) = cleaner.finished() {
                break c;
            }
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(cleaned.reason, Reason::Hotkey);
        let report = cleaned.result.unwrap();
        let ops: Vec<Op> = report.operations.iter().map(|o| o.op).collect();
        assert_eq!(ops, [Op::Modified, Op::Standby]);
        assert_eq!(report.freed_bytes, 200);
    }
}
