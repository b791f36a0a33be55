//! The service's own process: the dispatcher, the control handler, the status it reports to
//! the SCM, and its log (the action log file and the event log).
//!
//! The status goes START_PENDING → RUNNING once the watch is checked and ready, then
//! STOP_PENDING → STOPPED when a stop, shutdown or pre-shutdown control arrives (the operation
//! in progress finishes first). A watch that cannot start (bad recorded options, an unsupported
//! operation) reports STOPPED at once with a service-specific exit code (the one `memdefrag
//! watch` would exit with) and says why in both logs, rather than hanging in START_PENDING.
//!
//! # References
//! - [Service entry point](https://learn.microsoft.com/windows/win32/services/service-servicemain-function),
//!   [HandlerEx](https://learn.microsoft.com/windows/win32/api/winsvc/nc-winsvc-lphandler_function_ex)

use std::ffi::OsString;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use memdefrag::watch::Event;
use memdefrag::{render, Status, Stop};
use serde_json::json;
use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::{define_windows_service, service_dispatcher};

use super::console;
use super::eventlog::{self, EventLog};
use crate::control::{respond, Control, Response};
use memdefrag::log::{ActionLog, DEFAULT_MAX_BYTES};

/// Why the service could not run or went on no longer: the exit code `memdefrag watch` would
/// give, reported as the service-specific exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, for the logs.
    pub message: String,
    /// The service-specific exit code (2: bad options, 3: unsupported, 77: not privileged, 1:
    /// failed).
    pub exit_code: u32,
}

/// What the service runs: checks its options, calls [`Session::running`], and watches until
/// the stop handle is requested, reporting each action to the session.
pub type Body = Box<dyn FnOnce(&Stop, &mut Session) -> Result<(), Failure> + Send>;

/// Why the dispatcher could not run the service.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The process was not started by the service control manager.
    #[error("this process was not started by the service control manager")]
    NotFromScm,
    /// The dispatcher failed.
    #[error("the service dispatcher failed: {0}")]
    Dispatcher(std::io::Error),
}

/// How long the SCM is told to wait for a start or a stop: an operation in progress (a purge
/// can take seconds) finishes first.
const WAIT_HINT: Duration = Duration::from_secs(30);

/// The service, handed from [`run`] to the service main function the dispatcher calls.
static SERVICE: Mutex<Option<(String, Body)>> = Mutex::new(None);

/// Runs the service `name`: connects this process to the SCM, which then calls `body` on a
/// thread of its own. Returns when the service has stopped.
pub fn run(name: &str, body: Body) -> Result<(), RunError> {
    *SERVICE.lock().unwrap_or_else(PoisonError::into_inner) = Some((name.to_owned(), body));
    service_dispatcher::start(name, ffi_service_main).map_err(|e| match e {
        windows_service::Error::Winapi(io)
            // ERROR_FAILED_SERVICE_CONTROLLER_CONNECT
            if io.raw_os_error() == Some(1063) =>
        {
            RunError::NotFromScm
        }
        windows_service::Error::Winapi(io) => RunError::Dispatcher(io),
        other => RunError::Dispatcher(std::io::Error::other(other.to_string())),
    })
}

define_windows_service!(ffi_service_main, service_main);

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn status(
    state: ServiceState,
    accept: ServiceControlAccept,
    exit: ServiceExitCode,
) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code: exit,
        checkpoint: 0,
        wait_hint: if matches!(
            state,
            ServiceState::StartPending | ServiceState::StopPending
        ) {
            WAIT_HINT
        } else {
            Duration::ZERO
        },
        process_id: None,
    }
}

fn service_main(_arguments: Vec<OsString>) {
    let Some((name, body)) = SERVICE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    else {
        return;
    };
    // A user's log-off or a console event must not end the service.
    let _ = console::ignore_events();
    let stop = Stop::new();
    let reason: Arc<Mutex<Option<&'static str>>> = Arc::default();
    let handle: Arc<OnceLock<ServiceStatusHandle>> = Arc::default();
    let handler = {
        let (stop, reason, handle) = (stop.clone(), reason.clone(), handle.clone());
        move |control: ServiceControl| -> ServiceControlHandlerResult {
            let control = match control {
                ServiceControl::Stop => Control::Stop,
                ServiceControl::Shutdown => Control::Shutdown,
                ServiceControl::Preshutdown => Control::Preshutdown,
                ServiceControl::Interrogate => Control::Interrogate,
                _ => Control::Other,
            };
            match respond(control) {
                Response::Stop(why) => {
                    reason
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_or_insert(why);
                    if let Some(handle) = handle.get() {
                        let pending = status(
                            ServiceState::StopPending,
                            ServiceControlAccept::empty(),
                            ServiceExitCode::NO_ERROR,
                        );
                        let _ = handle.set_service_status(pending);
                    }
                    stop.request();
                    ServiceControlHandlerResult::NoError
                }
                Response::Answer => ServiceControlHandlerResult::NoError,
                Response::Ignore => ServiceControlHandlerResult::NotImplemented,
            }
        }
    };
    let Ok(status_handle) = service_control_handler::register(&name, handler) else {
        return;
    };
    let _ = handle.set(status_handle);
    let _ = status_handle.set_service_status(status(
        ServiceState::StartPending,
        ServiceControlAccept::empty(),
        ServiceExitCode::NO_ERROR,
    ));

    let mut session = Session::open(&name, status_handle);
    let result = body(&stop, &mut session);
    let exit = match result {
        Ok(()) => {
            let why = reason
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unwrap_or("the watch ended");
            session.stopped(why);
            ServiceExitCode::NO_ERROR
        }
        Err(failure) => {
            session.failed(&failure);
            ServiceExitCode::ServiceSpecific(failure.exit_code)
        }
    };
    let _ = status_handle.set_service_status(status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        exit,
    ));
}

/// The running service's side of the SCM and its logs, handed to the [`Body`].
pub struct Session {
    name: String,
    status: ServiceStatusHandle,
    log: Option<ActionLog>,
    events: Option<EventLog>,
    running: bool,
}

impl Session {
    fn open(name: &str, status: ServiceStatusHandle) -> Session {
        let events = EventLog::open(name).ok();
        let log = ActionLog::open(
            crate::spec::log_path(&super::program_data(), name),
            DEFAULT_MAX_BYTES,
        );
        let log = match log {
            Ok(log) => Some(log),
            Err(e) => {
                if let Some(events) = &events {
                    let _ = events.report(
                        eventlog::Event::Failed,
                        &format!("memdefrag service '{name}' cannot write its log: {e}"),
                    );
                }
                None
            }
        };
        Session {
            name: name.to_owned(),
            status,
            log,
            events,
            running: false,
        }
    }

    fn record(&self, entry: &serde_json::Value, event: eventlog::Event, text: &str) {
        // Logging must never stop the service: a full disk or a missing event log only loses
        // the line.
        if let Some(log) = &self.log {
            let _ = log.append(entry);
        }
        if let Some(events) = &self.events {
            let _ = events.report(event, text);
        }
    }

    /// The watch is checked and ready: reports RUNNING, and logs the start with `options`.
    pub fn running(&mut self, options: &[String]) {
        self.running = true;
        let _ = self.status.set_service_status(status(
            ServiceState::Running,
            ServiceControlAccept::STOP
                | ServiceControlAccept::SHUTDOWN
                | ServiceControlAccept::PRESHUTDOWN,
            ServiceExitCode::NO_ERROR,
        ));
        let entry = json!({
            "time": now(),
            "service": "start",
            "name": self.name,
            "pid": std::process::id(),
            "options": options,
        });
        let text = format!(
            "memdefrag service '{}' started, watching with: {}",
            self.name,
            options.join(" ")
        );
        self.record(&entry, eventlog::Event::Lifecycle, &text);
    }

    /// Logs one action, as `watch --json` prints it.
    pub fn action(&mut self, event: &Event) {
        let entry =
            serde_json::to_value(event).unwrap_or_else(|e| json!({ "error": e.to_string() }));
        let kind = if event.status == Status::Failed {
            eventlog::Event::ActionFailed
        } else {
            eventlog::Event::Action
        };
        self.record(&entry, kind, &render::watch_event(event));
    }

    fn stopped(&self, reason: &str) {
        let entry =
            json!({ "time": now(), "service": "stop", "name": self.name, "reason": reason });
        let text = format!("memdefrag service '{}' stopped ({reason})", self.name);
        self.record(&entry, eventlog::Event::Lifecycle, &text);
    }

    fn failed(&self, failure: &Failure) {
        let what = if self.running {
            "failed"
        } else {
            "start-failed"
        };
        let entry = json!({
            "time": now(),
            "service": what,
            "name": self.name,
            "error": failure.message,
            "exit_code": failure.exit_code,
        });
        let text = if self.running {
            format!(
                "memdefrag service '{}' stopped on an error: {}",
                self.name, failure.message
            )
        } else {
            format!(
                "memdefrag service '{}' could not start: {}",
                self.name, failure.message
            )
        };
        self.record(&entry, eventlog::Event::Failed, &text);
    }
}
