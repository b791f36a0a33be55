//! Asking a running job to stop, from another thread: a signal handler, a console handler, a
//! service control handler, a menu.
//!
//! A [`Stop`] is created for one run and handed to whoever may end it. The job waits on it
//! between steps ([`Stop::wait`]) and marks the step in progress ([`Stop::busy`]), so that a
//! stopper that must not cut an operation short can wait for it ([`Stop::wait_idle`]).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A stop request and the "an operation is in progress" mark of one run. Clones share them.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    requested: bool,
    busy: bool,
}

impl Stop {
    /// A new run's handle: no stop requested, nothing in progress.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Asks the run to stop: it starts nothing new and returns after the step in progress.
    pub fn request(&self) {
        self.state().requested = true;
        self.shared.changed.notify_all();
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.state().requested
    }

    /// Sleeps until a stop is requested or `timeout` passes; returns whether one was requested.
    pub fn wait(&self, timeout: Duration) -> bool {
        let state = self.state();
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, timeout, |s| !s.requested)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.requested
    }

    /// Marks an operation in progress for as long as the guard lives (also when it panics).
    pub fn busy(&self) -> Busy<'_> {
        self.state().busy = true;
        Busy { stop: self }
    }

    /// Waits, up to `limit`, until no operation is in progress; returns whether none is.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.state();
        while state.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is two flags, valid whatever a panicking holder left: keep using it.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An operation in progress; see [`Stop::busy`].
#[derive(Debug)]
pub struct Busy<'a> {
    stop: &'a Stop,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.stop.state().busy = false;
        self.stop.shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_wakes_a_waiter_at_once() {
        let stop = Stop::new();
        let stopper = stop.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            stopper.request();
        });
        assert!(stop.wait(Duration::from_secs(30)));
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(stop.is_requested());
        t.join().unwrap();
        // Once requested, it stays requested.
        assert!(stop.wait(Duration::ZERO));
    }

    #[test]
    fn without_a_request_wait_times_out() {
        let stop = Stop::new();
        let start = Instant::now();
        assert!(!stop.wait(Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!stop.is_requested());
    }

    #[test]
    fn waiting_for_idle_returns_when_the_operation_ends_or_the_limit_passes() {
        let stop = Stop::new();
        let worker = stop.clone();
        let (started_tx, started) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let _busy = worker.busy();
            started_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        });
        started.recv().unwrap();
        let start = Instant::now();
        assert!(stop.wait_idle(Duration::from_secs(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
        t.join().unwrap();

        let busy = stop.busy();
        assert!(
            !stop.wait_idle(Duration::from_millis(30)),
            "gives up at the limit"
        );
        drop(busy);
        assert!(stop.wait_idle(Duration::ZERO));
    }

    #[test]
    fn runs_do_not_share_their_handles() {
        let first = Stop::new();
        let second = Stop::new();
        first.request();
        let _busy = first.busy();
        assert!(!second.is_requested());
        assert!(second.wait_idle(Duration::ZERO));
    }
}
