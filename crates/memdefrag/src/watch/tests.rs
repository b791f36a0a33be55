//! The watch loop over the scripted backend.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::*;
use crate::backend::OsError;
use crate::testing::{snapshot, Scripted};

const GIB: u64 = 1 << 30;

/// A backend whose memory is always fully used (so a usage trigger always holds), which frees
/// nothing, and which requests `stop` after `stop_after` looks.
fn pressured(stop: &Stop, stop_after: usize) -> Scripted {
    let stopper = stop.clone();
    Scripted {
        memory: snapshot(16 * GIB, 0, 0, 0, 0),
        frees_per_run: 0,
        on_look: Some(Box::new(move |looks| {
            if looks == stop_after {
                stopper.request();
            }
        })),
        ..Scripted::default()
    }
}

fn config() -> WatchConfig {
    WatchConfig {
        ops: vec![Op::Standby],
        usage_above: Some(50.0),
        interval: Duration::from_millis(1),
        cooldown: Duration::from_secs(60),
        ..WatchConfig::default()
    }
}

fn watch(backend: &Scripted, stop: &Stop) -> Vec<Event> {
    let mut events = Vec::new();
    Watch::new(backend, config())
        .unwrap()
        .run(stop, &mut |e| events.push(e.clone()))
        .unwrap();
    events
}

#[test]
fn acts_once_then_stays_quiet_through_the_cooldown() {
    let stop = Stop::new();
    let backend = pressured(&stop, 50);
    let events = watch(&backend, &stop);
    assert_eq!(backend.ran(), [Op::Standby]);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.status, Status::Ok);
    assert_eq!(e.ops, [Op::Standby]);
    // It freed nothing: the cooldown after it doubled.
    assert_eq!(e.cooldown_ms, 120_000);
    assert!(matches!(e.fired, Fired::Usage { .. }));
    // Each look takes one snapshot, and the action two (before and after): the run ended at the
    // 50th snapshot, when the stop was requested.
    assert_eq!(backend.looks(), 50, "kept looking until stopped");
}

#[test]
fn a_failed_action_is_reported_and_watching_goes_on() {
    let stop = Stop::new();
    let backend = Scripted {
        failing: HashMap::from([(Op::Standby, OsError::new(5, "refused"))]),
        ..pressured(&stop, 20)
    };
    let events = watch(&backend, &stop);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status, Status::Failed);
    assert_eq!(events[0].error.as_ref().unwrap().code, Some(5));
    assert_eq!(backend.looks(), 20);
}

#[test]
fn a_stop_that_came_while_looking_starts_nothing() {
    let stop = Stop::new();
    stop.request();
    let backend = pressured(&stop, 1000);
    let events = watch(&backend, &stop);
    assert!(events.is_empty());
    assert!(backend.ran().is_empty());
    assert_eq!(backend.looks(), 1);
}

#[test]
fn a_stop_waits_for_the_operation_in_progress() {
    let stop = Stop::new();
    let backend = Arc::new(Scripted {
        run_time: Duration::from_millis(300),
        ..pressured(&stop, usize::MAX)
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let worker = {
        let (backend, stop, events) = (backend.clone(), stop.clone(), events.clone());
        std::thread::spawn(move || {
            Watch::new(&*backend, config())
                .unwrap()
                .run(&stop, &mut |e| events.lock().unwrap().push(e.clone()))
                .unwrap();
        })
    };
    while backend.ran().is_empty() {
        std::thread::sleep(Duration::from_millis(5));
    }
    // As a console close does: stop, then wait for the operation in progress.
    stop.request();
    assert!(stop.wait_idle(Duration::from_secs(30)));
    worker.join().unwrap();
    assert_eq!(backend.ran(), [Op::Standby]);
    assert_eq!(events.lock().unwrap().len(), 1, "the action was reported");
}

#[test]
fn once_looks_once() {
    let stop = Stop::new();
    let backend = pressured(&stop, usize::MAX);
    let mut events = Vec::new();
    let watch = Watch::new(
        &backend,
        WatchConfig {
            once: true,
            ..config()
        },
    )
    .unwrap();
    watch.run(&stop, &mut |e| events.push(e.clone())).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        backend.looks(),
        3,
        "one look, and the action's before and after"
    );
}

#[test]
fn a_dry_run_previews_and_needs_no_privilege() {
    let stop = Stop::new();
    let backend = Scripted {
        unprivileged: HashSet::from([Op::Standby]),
        memory: snapshot(16 * GIB, 0, 0, 2 * GIB, 0),
        ..Scripted::default()
    };
    let dry = WatchConfig {
        once: true,
        dry_run: true,
        ..config()
    };
    let mut events = Vec::new();
    Watch::new(&backend, dry.clone())
        .unwrap()
        .run(&stop, &mut |e| events.push(e.clone()))
        .unwrap();
    assert!(backend.ran().is_empty());
    assert_eq!(events.len(), 1);
    assert!(events[0].dry_run);
    assert_eq!(events[0].freed_bytes, 2 * GIB as i64, "the estimate");
    assert_eq!(events[0].cooldown_ms, 60_000, "no back-off for a preview");

    let err = Watch::new(
        &backend,
        WatchConfig {
            dry_run: false,
            ..dry
        },
    )
    .err()
    .unwrap();
    assert_eq!(err.exit_code(), crate::exit::NOT_PRIVILEGED);
}

#[test]
fn everything_is_checked_before_watching_starts() {
    let backend = Scripted {
        unsupported: HashMap::from([(Op::Compact, "no".into())]),
        ..Scripted::default()
    };
    let bad = WatchConfig {
        interval: Duration::ZERO,
        ..config()
    };
    let err = Watch::new(&backend, bad).err().unwrap();
    assert!(matches!(
        err,
        WatchError::Config(ConfigError::Zero(Setting::Interval))
    ));
    assert_eq!(err.exit_code(), crate::exit::USAGE);
    let unsupported = WatchConfig {
        ops: vec![Op::Compact],
        ..config()
    };
    let err = Watch::new(&backend, unsupported).err().unwrap();
    assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED);
    assert_eq!(backend.looks(), 0);
    assert!(backend.ran().is_empty());
}

#[test]
fn it_pauses_while_a_named_process_runs_and_acts_after_it_exits() {
    let stop = Stop::new();
    let backend = Arc::new(Scripted {
        running: Mutex::new(vec!["game".to_owned()]),
        ..pressured(&stop, usize::MAX)
    });
    let config = WatchConfig {
        pause_while: vec!["game".into(), "build".into()],
        ..config()
    };
    let worker = {
        let (backend, stop) = (backend.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut events = Vec::new();
            Watch::new(&*backend, config)
                .unwrap()
                .run(&stop, &mut |e| events.push(e.clone()))
                .unwrap();
            events
        })
    };
    // Looks go on while the game runs, and nothing is done.
    while backend.looks() < 30 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(backend.ran().is_empty(), "acted while the game ran");
    backend.running.lock().unwrap().clear();
    let start = Instant::now();
    while backend.ran().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never acted after the game"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.request();
    let events = worker.join().unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn a_process_filter_needs_working_sets() {
    let backend = Scripted::default();
    let filtered = WatchConfig {
        processes: crate::ProcessFilter {
            only: vec!["game".parse().unwrap()],
            exclude: Vec::new(),
        },
        ..config()
    };
    let err = Watch::new(&backend, filtered.clone()).err().unwrap();
    assert_eq!(err.exit_code(), crate::exit::USAGE);
    let with_working_sets = WatchConfig {
        ops: vec![Op::WorkingSets, Op::Standby],
        ..filtered
    };
    assert!(Watch::new(&backend, with_working_sets).is_ok());
}

#[test]
fn without_ops_it_runs_the_gentlest_purge_here() {
    let backend = Scripted::default();
    let watch = Watch::new(
        &backend,
        WatchConfig {
            ops: Vec::new(),
            ..config()
        },
    )
    .unwrap();
    assert_eq!(watch.config().ops, [Op::StandbyLow]);
    let no_low = Scripted {
        unsupported: HashMap::from([(Op::StandbyLow, "no".into())]),
        ..Scripted::default()
    };
    assert_eq!(default_ops(&no_low), [Op::Standby]);
}

#[test]
fn check_validates_everything_but_privilege() {
    let backend = Scripted {
        unprivileged: HashSet::from([Op::Standby]),
        unsupported: HashMap::from([(Op::Compact, "no".into())]),
        ..Scripted::default()
    };
    let checked = Watch::check(&backend, config()).unwrap();
    assert_eq!(checked.ops, [Op::Standby]);
    assert!(
        Watch::new(&backend, config()).is_err(),
        "new checks privilege"
    );
    let unsupported = WatchConfig {
        ops: vec![Op::Compact],
        ..config()
    };
    let err = Watch::check(&backend, unsupported).err().unwrap();
    assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED);
    assert!(backend.ran().is_empty());
}

fn stall_config() -> WatchConfig {
    WatchConfig {
        ops: vec![Op::Standby],
        pressure_above: Some(10.0),
        interval: Duration::from_millis(1),
        cooldown: Duration::from_secs(60),
        ..WatchConfig::default()
    }
}

#[test]
fn a_stall_trigger_looks_only_when_the_kernel_reports_and_cools_down() {
    let stop = Stop::new();
    let stopper = stop.clone();
    // Reports on the 3rd and 5th waits; the 5th comes during the cooldown.
    let backend = Scripted {
        memory: snapshot(16 * GIB, 8 * GIB, 8 * GIB, GIB, 0),
        stalls: Some(vec![false, false, true, false, true, false]),
        on_stall_wait: Some(Arc::new(move |waits| {
            if waits == 8 {
                stopper.request();
            }
        })),
        ..Scripted::default()
    };
    let mut events = Vec::new();
    Watch::new(&backend, stall_config())
        .unwrap()
        .run(&stop, &mut |e| events.push(e.clone()))
        .unwrap();
    assert_eq!(backend.ran(), [Op::Standby]);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].fired,
        Fired::Stall {
            stall_above_percent: 10.0,
            window_ms: 2000,
            some_avg10_percent: None,
        }
    );
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["trigger"], "stall");
    // Memory was looked at only after each of the two reports, never between them, and by
    // the action itself (before and after).
    assert_eq!(backend.looks(), 2 + 2);
}

#[test]
fn a_stall_trigger_needs_the_kernels_support_and_a_window_it_accepts() {
    let backend = Scripted::default();
    let err = Watch::new(&backend, stall_config()).err().unwrap();
    let WatchError::Plan(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.exit_code(), crate::exit::UNSUPPORTED, "{e}");
    for (config, expected) in [
        (
            WatchConfig {
                pressure_window: Duration::from_millis(100),
                ..stall_config()
            },
            ConfigError::PressureWindow(Duration::from_millis(100)),
        ),
        (
            WatchConfig {
                pressure_above: Some(0.0),
                ..stall_config()
            },
            ConfigError::PressureOutOfRange(0.0),
        ),
        (
            WatchConfig {
                once: true,
                ..stall_config()
            },
            ConfigError::OnceWithPressure,
        ),
    ] {
        assert_eq!(config.validate(), Err(expected));
    }
    assert_eq!(
        stall_config().pressure_stall(),
        Some(Duration::from_millis(200))
    );
}

fn idle_config(busy_below: f64) -> WatchConfig {
    WatchConfig {
        ops: vec![Op::Standby],
        idle_below: Some(busy_below),
        idle_window: Duration::from_millis(30),
        interval: Duration::from_millis(5),
        cooldown: Duration::from_millis(20),
        ..WatchConfig::default()
    }
}

#[test]
fn an_idle_trigger_fires_after_a_whole_quiet_window_and_not_when_busy() {
    let run = |busy_percent, busy_below| {
        let stop = Stop::new();
        let stopper = stop.clone();
        let backend = Scripted {
            busy_percent: Some(busy_percent),
            on_look: Some(Box::new(move |looks| {
                if looks >= 60 {
                    stopper.request();
                }
            })),
            ..Scripted::default()
        };
        let mut events = Vec::new();
        let started = Instant::now();
        Watch::new(&backend, idle_config(busy_below))
            .unwrap()
            .run(&stop, &mut |e| events.push((started.elapsed(), e.clone())))
            .unwrap();
        events
    };
    let events = run(4, 10.0);
    assert!(!events.is_empty());
    let (at, first) = &events[0];
    // Not before a whole window was watched.
    assert!(*at >= Duration::from_millis(30), "{at:?}");
    assert_eq!(
        first.fired,
        Fired::Idle {
            busy_percent: 4.0,
            idle_below_percent: 10.0,
            window_ms: 30,
        }
    );
    assert_eq!(serde_json::to_value(first).unwrap()["trigger"], "idle");
    // Busy 40 % of the time: never idle below 10 %.
    assert!(run(40, 10.0).is_empty());
}

#[test]
fn an_idle_trigger_needs_cpu_times() {
    let err = Watch::new(&Scripted::default(), idle_config(10.0))
        .err()
        .unwrap();
    let WatchError::Plan(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.exit_code(), crate::exit::UNSUPPORTED, "{e}");
    assert!(e.to_string().contains("--idle-below"), "{e}");
}
