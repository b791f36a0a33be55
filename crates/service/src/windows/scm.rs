//! The real service control manager, through the windows-service crate.
//!
//! # References
//! - [Service control manager](https://learn.microsoft.com/windows/win32/services/service-control-manager)
//! - [SERVICE_FAILURE_ACTIONSW](https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actionsw)

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use windows_service::service::{
    Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::eventlog;
use crate::manage::{ExitCode, Queried, Registration, Scm, ScmError, ServiceState};
use crate::spec::ServiceSpec;

/// The local computer's service control manager.
#[derive(Debug, Default)]
pub struct WindowsScm;

fn scm_error(e: &windows_service::Error) -> ScmError {
    let windows_service::Error::Winapi(io) = e else {
        return ScmError::Os {
            code: 0,
            message: e.to_string(),
        };
    };
    match io.raw_os_error().map(|c| c as u32) {
        Some(5) => ScmError::AccessDenied,
        Some(1060) => ScmError::NotInstalled,
        Some(1073) => ScmError::Exists,
        Some(1072) => ScmError::MarkedForDelete,
        Some(1062) => ScmError::NotActive,
        Some(1056) => ScmError::AlreadyRunning,
        code => ScmError::Os {
            code: code.unwrap_or(0),
            message: io.to_string(),
        },
    }
}

fn manager(access: ServiceManagerAccess) -> Result<ServiceManager, ScmError> {
    ServiceManager::local_computer(None::<&str>, access).map_err(|e| scm_error(&e))
}

fn open(name: &str, access: ServiceAccess) -> Result<Service, ScmError> {
    manager(ServiceManagerAccess::CONNECT)?
        .open_service(name, access)
        .map_err(|e| scm_error(&e))
}

/// Restart after 10 s, then after 60 s; after that, leave it stopped until the count resets a day
/// later (a service that fails at every start would otherwise restart forever).
fn failure_actions() -> ServiceFailureActions {
    let restart = |secs| ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(secs),
    };
    ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![
            restart(10),
            restart(60),
            ServiceAction {
                action_type: ServiceActionType::None,
                delay: Duration::ZERO,
            },
        ]),
    }
}

impl Scm for WindowsScm {
    fn connect_for_changes(&self) -> Result<(), ScmError> {
        manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE).map(drop)
    }

    fn query(&self, name: &str) -> Result<Queried, ScmError> {
        let status = open(name, ServiceAccess::QUERY_STATUS)?
            .query_status()
            .map_err(|e| scm_error(&e))?;
        use windows_service::service::ServiceState as S;
        let state = match status.current_state {
            S::Stopped => ServiceState::Stopped,
            S::StartPending => ServiceState::StartPending,
            S::StopPending => ServiceState::StopPending,
            S::Running => ServiceState::Running,
            S::ContinuePending | S::PausePending | S::Paused => ServiceState::Paused,
        };
        let exit_code = match status.exit_code {
            windows_service::service::ServiceExitCode::Win32(c) => ExitCode::Win32(c),
            windows_service::service::ServiceExitCode::ServiceSpecific(c) => {
                ExitCode::ServiceSpecific(c)
            }
        };
        Ok(Queried { state, exit_code })
    }

    fn registration(&self, name: &str) -> Result<Registration, ScmError> {
        let config = open(name, ServiceAccess::QUERY_CONFIG)?
            .query_config()
            .map_err(|e| scm_error(&e))?;
        let start_type = match config.start_type {
            ServiceStartType::AutoStart => "automatic",
            ServiceStartType::OnDemand => "manual",
            ServiceStartType::Disabled => "disabled",
            ServiceStartType::SystemStart | ServiceStartType::BootStart => "driver",
        };
        Ok(Registration {
            // For a service, lpBinaryPathName is the whole command line.
            command_line: config.executable_path.to_string_lossy().into_owned(),
            display_name: config.display_name.to_string_lossy().into_owned(),
            start_type: start_type.into(),
            account: config
                .account_name
                .map(|a| a.to_string_lossy().into_owned()),
        })
    }

    fn create(&self, spec: &ServiceSpec) -> Result<(), ScmError> {
        let info = ServiceInfo {
            name: OsString::from(&spec.name),
            display_name: OsString::from(&spec.display_name),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: spec.executable.clone(),
            launch_arguments: spec.arguments.iter().map(OsString::from).collect(),
            dependencies: Vec::new(),
            // LocalSystem: it holds SeProfileSingleProcessPrivilege and
            // SeIncreaseQuotaPrivilege, which the operations need.
            account_name: None,
            account_password: None,
        };
        let service =
            manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?
                .create_service(&info, ServiceAccess::CHANGE_CONFIG | ServiceAccess::DELETE)
                .map_err(|e| scm_error(&e))?;
        let configured = service
            .set_description(&spec.description)
            .and_then(|()| service.update_failure_actions(failure_actions()))
            // A service that stops with an error exit code (not only a crash) is restarted too.
            // Every Windows memdefrag runs on has this setting; a service manager without it
            // (ERROR_INVALID_LEVEL: Wine) restarts only after crashes.
            .and_then(
                |()| match service.set_failure_actions_on_non_crash_failures(true) {
                    Err(windows_service::Error::Winapi(e)) if e.raw_os_error() == Some(124) => {
                        Ok(())
                    }
                    other => other,
                },
            );
        if let Err(e) = configured {
            let _ = service.delete();
            return Err(scm_error(&e));
        }
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), ScmError> {
        open(name, ServiceAccess::DELETE)?
            .delete()
            .map_err(|e| scm_error(&e))
    }

    fn start(&self, name: &str) -> Result<(), ScmError> {
        open(name, ServiceAccess::START)?
            .start::<&str>(&[])
            .map_err(|e| scm_error(&e))
    }

    fn stop(&self, name: &str) -> Result<(), ScmError> {
        open(name, ServiceAccess::STOP)?
            .stop()
            .map(drop)
            .map_err(|e| scm_error(&e))
    }

    fn add_event_source(&self, name: &str, executable: &Path) -> Result<(), ScmError> {
        eventlog::add_source(name, executable)
    }

    fn remove_event_source(&self, name: &str) -> Result<(), ScmError> {
        eventlog::remove_source(name)
    }
}
