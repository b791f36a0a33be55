//! Installing, controlling and inspecting the service, over the [`Scm`] seam: the real service
//! control manager on Windows (`crate::windows::scm`), a scripted one in tests.
//!
//! Every change needs an elevated process; the first thing each change does is to ask for the
//! rights it needs, so that without them nothing changes and the error says why.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use crate::error::{ExitCode, ScmError, ServiceError, ServiceState};
use crate::spec::{self, ServiceSpec};

/// A service's state and how it last ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queried {
    /// Its state.
    pub state: ServiceState,
    /// How it last ended.
    pub exit_code: ExitCode,
}

/// A service's registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Its command line (the executable and its arguments).
    pub command_line: String,
    /// What services.msc shows.
    pub display_name: String,
    /// "automatic", "manual", "disabled", …
    pub start_type: String,
    /// The account it runs as ("LocalSystem", …).
    pub account: Option<String>,
}

/// The service control manager, as far as memdefrag uses it.
pub trait Scm {
    /// Asks for the rights to change services (an elevated process has them).
    fn connect_for_changes(&self) -> Result<(), ScmError>;
    /// The state of the service `name`.
    fn query(&self, name: &str) -> Result<Queried, ScmError>;
    /// The registration of the service `name`.
    fn registration(&self, name: &str) -> Result<Registration, ScmError>;
    /// Registers `spec`: start type automatic, account LocalSystem, restarted on failure.
    fn create(&self, spec: &ServiceSpec) -> Result<(), ScmError>;
    /// Removes the service `name` (it goes once nothing has it open).
    fn delete(&self, name: &str) -> Result<(), ScmError>;
    /// Starts the service `name`.
    fn start(&self, name: &str) -> Result<(), ScmError>;
    /// Sends the service `name` SERVICE_CONTROL_STOP.
    fn stop(&self, name: &str) -> Result<(), ScmError>;
    /// Registers `name` as an Application event log source whose messages are in `executable`.
    fn add_event_source(&self, name: &str, executable: &std::path::Path) -> Result<(), ScmError>;
    /// Removes the event log source `name`; removing one that is not there is not an error.
    fn remove_event_source(&self, name: &str) -> Result<(), ScmError>;
    /// Waits `time` before the next look (a test's SCM does not wait).
    fn pause(&self, time: Duration) {
        std::thread::sleep(time);
    }
}

/// How long to wait for a state change, and how often to look.
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    /// The longest wait for start, stop or removal.
    pub timeout: Duration,
    /// The time between looks.
    pub poll: Duration,
}

impl Default for Waits {
    /// 30 s (the SCM's own start timeout), looking every 100 ms.
    fn default() -> Waits {
        Waits {
            timeout: Duration::from_secs(30),
            poll: Duration::from_millis(100),
        }
    }
}

fn scm_error(name: &str, action: &'static str, e: ScmError) -> ServiceError {
    match e {
        ScmError::AccessDenied => ServiceError::NotElevated,
        ScmError::NotInstalled => ServiceError::NotInstalled(name.to_owned()),
        ScmError::Exists => ServiceError::AlreadyInstalled(name.to_owned()),
        ScmError::MarkedForDelete => ServiceError::MarkedForDelete(name.to_owned()),
        source => ServiceError::Scm { action, source },
    }
}

/// Looks at the service until `done` holds for its state (or it is gone, with `gone_ok`), up to
/// `waits.timeout`. Returns the last state seen (`None`: gone).
fn wait_for(
    scm: &dyn Scm,
    name: &str,
    waits: Waits,
    wanted: &'static str,
    done: impl Fn(ServiceState) -> bool,
) -> Result<Option<Queried>, ServiceError> {
    let polls = (waits.timeout.as_millis() / waits.poll.as_millis().max(1)).max(1);
    let mut last = None;
    for _ in 0..=polls {
        match scm.query(name) {
            Ok(q) if done(q.state) => return Ok(Some(q)),
            Ok(q) => last = Some(q.state),
            Err(ScmError::NotInstalled) if wanted == "removed" => return Ok(None),
            Err(e) => return Err(scm_error(name, "query the service", e)),
        }
        scm.pause(waits.poll);
    }
    Err(ServiceError::Timeout {
        name: name.to_owned(),
        wanted,
        state: last.unwrap_or(ServiceState::Stopped),
        waited: waits.timeout,
    })
}

/// Stops the service if it runs, and waits until it has stopped.
fn stop_and_wait(scm: &dyn Scm, name: &str, waits: Waits) -> Result<(), ServiceError> {
    let state = scm
        .query(name)
        .map_err(|e| scm_error(name, "query the service", e))?
        .state;
    if state == ServiceState::Stopped {
        return Ok(());
    }
    match scm.stop(name) {
        Ok(()) | Err(ScmError::NotActive) => {}
        Err(e) => return Err(scm_error(name, "stop the service", e)),
    }
    wait_for(scm, name, waits, "stopped", |s| s == ServiceState::Stopped).map(drop)
}

/// Removes the service `name` and waits until the SCM no longer has it.
fn delete_and_wait(scm: &dyn Scm, name: &str, waits: Waits) -> Result<(), ServiceError> {
    scm.delete(name)
        .map_err(|e| scm_error(name, "remove the service", e))?;
    scm.remove_event_source(name)
        .map_err(|e| scm_error(name, "remove the event log source", e))?;
    wait_for(scm, name, waits, "removed", |_| false).map(drop)
}

/// Registers `spec`, its event log source too. An existing service of that name is an error,
/// unless `force`: then it is stopped and removed first.
pub fn install(
    scm: &dyn Scm,
    spec: &ServiceSpec,
    force: bool,
    waits: Waits,
) -> Result<(), ServiceError> {
    let name = spec.name.as_str();
    scm.connect_for_changes()
        .map_err(|e| scm_error(name, "connect to the service control manager", e))?;
    match scm.query(name) {
        Ok(_) if !force => return Err(ServiceError::AlreadyInstalled(name.to_owned())),
        Ok(_) => {
            stop_and_wait(scm, name, waits)?;
            delete_and_wait(scm, name, waits)?;
        }
        Err(ScmError::NotInstalled) => {}
        Err(e) => return Err(scm_error(name, "query the service", e)),
    }
    scm.create(spec)
        .map_err(|e| scm_error(name, "create the service", e))?;
    if let Err(e) = scm.add_event_source(name, &spec.executable) {
        // Leave nothing half-installed.
        let _ = scm.delete(name);
        return Err(scm_error(name, "register the event log source", e));
    }
    Ok(())
}

/// Stops the service if it runs, then removes it and its event log source.
pub fn uninstall(scm: &dyn Scm, name: &str, waits: Waits) -> Result<(), ServiceError> {
    scm.connect_for_changes()
        .map_err(|e| scm_error(name, "connect to the service control manager", e))?;
    stop_and_wait(scm, name, waits)?;
    delete_and_wait(scm, name, waits)
}

/// Starts the service and waits until it runs. A service that stops while starting is an
/// error that carries its exit code and the last line of its log.
pub fn start(
    scm: &dyn Scm,
    name: &str,
    log: &std::path::Path,
    waits: Waits,
) -> Result<ServiceState, ServiceError> {
    scm.connect_for_changes()
        .map_err(|e| scm_error(name, "connect to the service control manager", e))?;
    match scm.start(name) {
        Ok(()) | Err(ScmError::AlreadyRunning) => {}
        Err(e) => return Err(scm_error(name, "start the service", e)),
    }
    let q = wait_for(scm, name, waits, "running", |s| {
        matches!(s, ServiceState::Running | ServiceState::Stopped)
    })?
    .expect("a started service is not removed");
    if q.state == ServiceState::Stopped {
        let last_log = memdefrag::log::tail(log, 1)
            .ok()
            .and_then(|mut v| v.pop())
            .map(|v| v.to_string());
        return Err(ServiceError::StartFailed {
            name: name.to_owned(),
            exit_code: q.exit_code,
            last_log,
        });
    }
    Ok(q.state)
}

/// Stops the service and waits until it has stopped (the operation in progress finishes first).
pub fn stop(scm: &dyn Scm, name: &str, waits: Waits) -> Result<(), ServiceError> {
    scm.connect_for_changes()
        .map_err(|e| scm_error(name, "connect to the service control manager", e))?;
    stop_and_wait(scm, name, waits)
}

/// What `memdefrag service status` shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceStatus {
    /// The service name.
    pub name: String,
    /// Whether the SCM has it.
    pub installed: bool,
    /// Its state, when installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ServiceState>,
    /// How it last ended, when installed and stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<ExitCode>,
    /// What services.msc shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Its start type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_type: Option<String>,
    /// The account it runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The watch options it was installed with; `None` when its command line is not one
    /// memdefrag wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    /// Its registered command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    /// Its action log.
    pub log: PathBuf,
    /// The last entries of its log, oldest first.
    pub last_actions: Vec<serde_json::Value>,
}

/// The status of the service `name`, with the last `last` entries of its log. Needs no
/// elevation.
pub fn status(
    scm: &dyn Scm,
    name: &str,
    log: PathBuf,
    last: usize,
) -> Result<ServiceStatus, ServiceError> {
    spec::validate_name(name)?;
    let last_actions = memdefrag::log::tail(&log, last).unwrap_or_default();
    let mut status = ServiceStatus {
        name: name.to_owned(),
        installed: false,
        state: None,
        exit_code: None,
        display_name: None,
        start_type: None,
        account: None,
        options: None,
        command_line: None,
        log,
        last_actions,
    };
    let queried = match scm.query(name) {
        Ok(q) => q,
        Err(ScmError::NotInstalled) => return Ok(status),
        Err(e) => return Err(scm_error(name, "query the service", e)),
    };
    let registration = scm
        .registration(name)
        .map_err(|e| scm_error(name, "read the service's configuration", e))?;
    status.installed = true;
    status.state = Some(queried.state);
    status.exit_code = (queried.state == ServiceState::Stopped).then_some(queried.exit_code);
    status.options = spec::recorded_options(&registration.command_line);
    status.display_name = Some(registration.display_name);
    status.start_type = Some(registration.start_type);
    status.account = registration.account;
    status.command_line = Some(registration.command_line);
    Ok(status)
}

#[cfg(test)]
mod tests;
