//! The install, start, stop, status and uninstall flows over a scripted SCM.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::*;

/// A scripted SCM: services and event sources in memory, states that change a few looks after
/// a request, and a record of every change.
#[derive(Default)]
struct FakeScm {
    not_elevated: bool,
    /// How a start ends: running, or stopped with this exit code.
    start_fails_with: Option<ExitCode>,
    /// Looks before a stop, a start or a removal takes effect.
    lag: usize,
    /// The registration fails with this.
    create_fails_with: Option<ScmError>,
    event_source_fails: bool,
    services: RefCell<BTreeMap<String, FakeService>>,
    sources: RefCell<BTreeSet<String>>,
    changes: RefCell<Vec<String>>,
}

struct FakeService {
    spec: ServiceSpec,
    state: ServiceState,
    exit_code: ExitCode,
    /// Looks until the pending change takes effect, and the state it leads to (`None`: gone).
    pending: Option<(usize, Option<ServiceState>)>,
}

impl FakeScm {
    fn change(&self, what: String) {
        self.changes.borrow_mut().push(what);
    }
    fn changes(&self) -> Vec<String> {
        self.changes.borrow().clone()
    }
    fn installed(&self, name: &str) -> bool {
        self.services.borrow().contains_key(name)
    }
    fn with_service(self, name: &str, state: ServiceState) -> FakeScm {
        let spec = ServiceSpec::new(name, "C:\\memdefrag.exe".into(), &[]).unwrap();
        self.services.borrow_mut().insert(
            name.into(),
            FakeService {
                spec,
                state,
                exit_code: ExitCode::Win32(0),
                pending: None,
            },
        );
        self.sources.borrow_mut().insert(name.into());
        self
    }
}

impl Scm for FakeScm {
    fn connect_for_changes(&self) -> Result<(), ScmError> {
        if self.not_elevated {
            Err(ScmError::AccessDenied)
        } else {
            Ok(())
        }
    }
    fn query(&self, name: &str) -> Result<Queried, ScmError> {
        let mut services = self.services.borrow_mut();
        let service = services.get_mut(name).ok_or(ScmError::NotInstalled)?;
        if let Some((looks, next)) = service.pending {
            if looks == 0 {
                service.pending = None;
                match next {
                    Some(state) => service.state = state,
                    None => {
                        services.remove(name);
                        return Err(ScmError::NotInstalled);
                    }
                }
            } else {
                service.pending = Some((looks - 1, next));
            }
        }
        let service = &services[name];
        Ok(Queried {
            state: service.state,
            exit_code: service.exit_code,
        })
    }
    fn registration(&self, name: &str) -> Result<Registration, ScmError> {
        let services = self.services.borrow();
        let spec = &services.get(name).ok_or(ScmError::NotInstalled)?.spec;
        let mut command_line = format!("\"{}\"", spec.executable.display());
        for arg in &spec.arguments {
            command_line.push(' ');
            command_line.push_str(arg);
        }
        Ok(Registration {
            command_line,
            display_name: spec.display_name.clone(),
            start_type: "automatic".into(),
            account: Some("LocalSystem".into()),
        })
    }
    fn create(&self, spec: &ServiceSpec) -> Result<(), ScmError> {
        if let Some(e) = &self.create_fails_with {
            return Err(e.clone());
        }
        if self.installed(&spec.name) {
            return Err(ScmError::Exists);
        }
        self.change(format!("create {}", spec.name));
        self.services.borrow_mut().insert(
            spec.name.clone(),
            FakeService {
                spec: spec.clone(),
                state: ServiceState::Stopped,
                exit_code: ExitCode::Win32(0),
                pending: None,
            },
        );
        Ok(())
    }
    fn delete(&self, name: &str) -> Result<(), ScmError> {
        let mut services = self.services.borrow_mut();
        let service = services.get_mut(name).ok_or(ScmError::NotInstalled)?;
        self.change(format!("delete {name}"));
        service.pending = Some((self.lag, None));
        Ok(())
    }
    fn start(&self, name: &str) -> Result<(), ScmError> {
        let mut services = self.services.borrow_mut();
        let service = services.get_mut(name).ok_or(ScmError::NotInstalled)?;
        if service.state == ServiceState::Running {
            return Err(ScmError::AlreadyRunning);
        }
        self.change(format!("start {name}"));
        service.state = ServiceState::StartPending;
        match self.start_fails_with {
            Some(code) => {
                service.exit_code = code;
                service.pending = Some((self.lag, Some(ServiceState::Stopped)));
            }
            None => service.pending = Some((self.lag, Some(ServiceState::Running))),
        }
        Ok(())
    }
    fn stop(&self, name: &str) -> Result<(), ScmError> {
        let mut services = self.services.borrow_mut();
        let service = services.get_mut(name).ok_or(ScmError::NotInstalled)?;
        if service.state == ServiceState::Stopped {
            return Err(ScmError::NotActive);
        }
        self.change(format!("stop {name}"));
        service.state = ServiceState::StopPending;
        service.pending = Some((self.lag, Some(ServiceState::Stopped)));
        Ok(())
    }
    fn add_event_source(&self, name: &str, _executable: &Path) -> Result<(), ScmError> {
        if self.event_source_fails {
            return Err(ScmError::Os {
                code: 5,
                message: "Access is denied.".into(),
            });
        }
        self.change(format!("add source {name}"));
        self.sources.borrow_mut().insert(name.into());
        Ok(())
    }
    fn remove_event_source(&self, name: &str) -> Result<(), ScmError> {
        self.change(format!("remove source {name}"));
        self.sources.borrow_mut().remove(name);
        Ok(())
    }
    fn pause(&self, _time: Duration) {}
}

fn spec(name: &str) -> ServiceSpec {
    ServiceSpec::new(
        name,
        "C:\\memdefrag.exe".into(),
        &[
            "--every".into(),
            "1s".into(),
            "--ops".into(),
            "standby".into(),
        ],
    )
    .unwrap()
}

const WAITS: Waits = Waits {
    timeout: Duration::from_secs(3),
    poll: Duration::from_millis(100),
};

#[test]
fn install_registers_the_service_and_its_event_source() {
    let scm = FakeScm::default();
    install(&scm, &spec("memdefrag"), false, WAITS).unwrap();
    assert_eq!(scm.changes(), ["create memdefrag", "add source memdefrag"]);
    assert!(scm.sources.borrow().contains("memdefrag"));
}

#[test]
fn installing_over_an_existing_service_needs_force() {
    let scm = FakeScm {
        lag: 2,
        ..FakeScm::default()
    }
    .with_service("memdefrag", ServiceState::Running);
    let err = install(&scm, &spec("memdefrag"), false, WAITS).unwrap_err();
    assert!(matches!(err, ServiceError::AlreadyInstalled(_)), "{err}");
    assert_eq!(err.exit_code(), 1);
    assert!(scm.changes().is_empty(), "nothing changed");

    install(&scm, &spec("memdefrag"), true, WAITS).unwrap();
    assert_eq!(
        scm.changes(),
        [
            "stop memdefrag",
            "delete memdefrag",
            "remove source memdefrag",
            "create memdefrag",
            "add source memdefrag"
        ]
    );
}

#[test]
fn without_elevation_nothing_changes_and_the_exit_code_is_77() {
    let scm = FakeScm {
        not_elevated: true,
        ..FakeScm::default()
    }
    .with_service("other", ServiceState::Running);
    let errors = [
        install(&scm, &spec("memdefrag"), false, WAITS).unwrap_err(),
        uninstall(&scm, "other", WAITS).unwrap_err(),
        start(&scm, "other", Path::new("/nowhere"), WAITS).unwrap_err(),
        stop(&scm, "other", WAITS).unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, ServiceError::NotElevated), "{err}");
        assert_eq!(err.exit_code(), 77);
    }
    assert!(scm.changes().is_empty());
    // Status needs no elevation.
    let s = status(&scm, "other", "/nowhere/watch.log".into(), 5).unwrap();
    assert!(s.installed);
}

#[test]
fn a_failed_event_source_leaves_no_service_behind() {
    let scm = FakeScm {
        event_source_fails: true,
        ..FakeScm::default()
    };
    let err = install(&scm, &spec("memdefrag"), false, WAITS).unwrap_err();
    assert!(err.to_string().contains("event log source"), "{err}");
    assert_eq!(scm.changes(), ["create memdefrag", "delete memdefrag"]);
}

#[test]
fn start_waits_until_running_and_stop_until_stopped() {
    let scm = FakeScm {
        lag: 3,
        ..FakeScm::default()
    }
    .with_service("memdefrag", ServiceState::Stopped);
    let state = start(&scm, "memdefrag", Path::new("/nowhere"), WAITS).unwrap();
    assert_eq!(state, ServiceState::Running);
    // Starting a running service is not an error.
    start(&scm, "memdefrag", Path::new("/nowhere"), WAITS).unwrap();
    stop(&scm, "memdefrag", WAITS).unwrap();
    assert_eq!(scm.query("memdefrag").unwrap().state, ServiceState::Stopped);
    // Stopping a stopped service is not an error either.
    stop(&scm, "memdefrag", WAITS).unwrap();
    assert_eq!(scm.changes(), ["start memdefrag", "stop memdefrag"]);
}

#[test]
fn a_service_that_never_gets_there_times_out() {
    let scm = FakeScm {
        lag: 1000,
        ..FakeScm::default()
    }
    .with_service("memdefrag", ServiceState::Running);
    let err = stop(&scm, "memdefrag", WAITS).unwrap_err();
    match err {
        ServiceError::Timeout {
            wanted,
            state,
            waited,
            ..
        } => {
            assert_eq!(wanted, "stopped");
            assert_eq!(state, ServiceState::StopPending);
            assert_eq!(waited, Duration::from_secs(3));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_start_failure_carries_the_exit_code_and_the_last_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("watch.log");
    std::fs::write(
        &log,
        "{\"service\":\"start-failed\",\"error\":\"no trigger\",\"exit_code\":2}\n",
    )
    .unwrap();
    let scm = FakeScm {
        start_fails_with: Some(ExitCode::ServiceSpecific(2)),
        lag: 2,
        ..FakeScm::default()
    }
    .with_service("memdefrag", ServiceState::Stopped);
    let err = start(&scm, "memdefrag", &log, WAITS).unwrap_err();
    let ServiceError::StartFailed {
        exit_code,
        last_log,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*exit_code, ExitCode::ServiceSpecific(2));
    assert!(last_log.as_deref().unwrap().contains("no trigger"));
    assert!(err.to_string().contains("no trigger"), "{err}");
}

#[test]
fn uninstall_stops_removes_and_waits_until_it_is_gone() {
    let scm = FakeScm {
        lag: 2,
        ..FakeScm::default()
    }
    .with_service("memdefrag", ServiceState::Running);
    uninstall(&scm, "memdefrag", WAITS).unwrap();
    assert_eq!(
        scm.changes(),
        [
            "stop memdefrag",
            "delete memdefrag",
            "remove source memdefrag"
        ]
    );
    assert!(!scm.installed("memdefrag"));
    assert!(scm.sources.borrow().is_empty());
    let err = uninstall(&scm, "memdefrag", WAITS).unwrap_err();
    assert!(matches!(err, ServiceError::NotInstalled(_)), "{err}");
}

#[test]
fn status_shows_the_recorded_options_and_the_last_actions() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("watch.log");
    let scm = FakeScm::default();
    install(&scm, &spec("memdefrag"), false, WAITS).unwrap();
    std::fs::write(
        &log,
        "{\"service\":\"start\"}\n{\"trigger\":\"every\",\"status\":\"ok\"}\n",
    )
    .unwrap();
    let s = status(&scm, "memdefrag", log.clone(), 1).unwrap();
    assert!(s.installed);
    assert_eq!(s.state, Some(ServiceState::Stopped));
    assert_eq!(s.exit_code, Some(ExitCode::Win32(0)));
    assert_eq!(
        s.options.as_deref().unwrap(),
        ["--every", "1s", "--ops", "standby"]
    );
    assert_eq!(s.account.as_deref(), Some("LocalSystem"));
    assert_eq!(s.last_actions.len(), 1);
    assert_eq!(s.last_actions[0]["trigger"], "every");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["state"], "stopped");
    assert_eq!(json["exit_code"]["kind"], "win32");

    let none = status(&scm, "absent", dir.path().join("x.log"), 5).unwrap();
    assert!(!none.installed);
    let json = serde_json::to_value(&none).unwrap();
    assert!(json.get("state").is_none());
    assert!(matches!(
        status(&scm, "bad name", log, 5),
        Err(ServiceError::InvalidName(_))
    ));
}
