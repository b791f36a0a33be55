//! `memdefrag service`: the watch as a Windows service. The work is in the memdefrag-service
//! crate; this module adds the command line's words. Elsewhere the command explains where to
//! look instead (exit 3).

#[cfg(not(windows))]
pub(crate) fn run(
    _system: &memdefrag::Native,
    _command: crate::cli::ServiceCommand,
    _json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    Err(crate::Exit {
        code: memdefrag::exit::UNSUPPORTED,
        message: "memdefrag service runs the watch as a Windows service; on Linux, run \
                  `memdefrag watch` under systemd with contrib/systemd/memdefrag-watch.service \
                  (see docs/watch.md)"
            .into(),
    }
    .into())
}

#[cfg(windows)]
pub(crate) use self::windows::run;

#[cfg(windows)]
mod windows {
    use std::process::ExitCode;

    use anyhow::Context;
    use clap::Parser;
    use memdefrag::watch::{Watch, WatchError};
    use memdefrag::{Error, Native, Stop};
    use memdefrag_service::manage::{self, ServiceState, Waits};
    use memdefrag_service::spec::{self, ServiceSpec};
    use memdefrag_service::windows::{
        self as service, Body, Failure, RunError, Session, WindowsScm,
    };
    use memdefrag_service::ServiceError;
    use serde_json::json;

    use crate::cli::{RecordedWatch, ServiceCommand};
    use crate::{messages, show, usage_error, Exit};

    /// A service error in the command line's words, with its exit code.
    fn explain(err: &ServiceError) -> anyhow::Error {
        let code = err.exit_code();
        let message = match err {
            ServiceError::NotElevated => "managing services needs an elevated prompt: right-click \
                 the terminal and choose \"Run as administrator\", then run this again (`memdefrag \
                 service status` works without)"
                .to_owned(),
            ServiceError::AlreadyInstalled(name) => {
                format!("{err}; add --force to replace it, or give another --name (now: {name})")
            }
            ServiceError::NotInstalled(_) => {
                format!("{err}; install it with `memdefrag service install [WATCH OPTIONS]`")
            }
            _ => err.to_string(),
        };
        Exit { code, message }.into()
    }

    fn log_path(name: &str) -> std::path::PathBuf {
        spec::log_path(&service::program_data(), name)
    }

    pub(crate) fn run(
        system: &Native,
        command: ServiceCommand,
        json: bool,
    ) -> anyhow::Result<ExitCode> {
        let scm = WindowsScm;
        let waits = Waits::default();
        match command {
            ServiceCommand::Install { name, force, watch } => {
                let name = name.name;
                if let Err(e) = spec::validate_name(&name) {
                    usage_error(&["service", "install"], &e.to_string());
                }
                if watch.once {
                    usage_error(
                        &["service", "install"],
                        "--once cannot be used by a service: it watches until it is stopped",
                    );
                }
                // Checked as `watch` checks it (the service's own account holds the privileges).
                match Watch::check(system, watch.config()) {
                    Ok(_) => {}
                    Err(WatchError::Config(e)) => {
                        usage_error(&["service", "install"], &messages::watch_config(&e))
                    }
                    Err(WatchError::Plan(e)) => return Err(e.into()),
                }
                let options = watch.to_args();
                let executable = std::env::current_exe().context("find memdefrag.exe")?;
                let spec =
                    ServiceSpec::new(&name, executable, &options).map_err(|e| explain(&e))?;
                manage::install(&scm, &spec, force, waits).map_err(|e| explain(&e))?;
                let log = log_path(&name);
                let value =
                    json!({ "name": name, "installed": true, "options": options, "log": log });
                show(json, &value, |_| {
                    format!(
                        "installed the service '{name}' ({}): automatic start, LocalSystem, \
                         restarted on failure\n  watch options: {}\n  log: {}\nstart it with: \
                         memdefrag service start{}\n",
                        spec.display_name,
                        options.join(" "),
                        log.display(),
                        name_flag(&name)
                    )
                })?;
                Ok(ExitCode::SUCCESS)
            }
            ServiceCommand::Start(name) => {
                let name = name.name;
                let state =
                    manage::start(&scm, &name, &log_path(&name), waits).map_err(|e| explain(&e))?;
                report_state(json, &name, state)
            }
            ServiceCommand::Stop(name) => {
                let name = name.name;
                manage::stop(&scm, &name, waits).map_err(|e| explain(&e))?;
                report_state(json, &name, ServiceState::Stopped)
            }
            ServiceCommand::Uninstall(name) => {
                let name = name.name;
                manage::uninstall(&scm, &name, waits).map_err(|e| explain(&e))?;
                let log = log_path(&name);
                let value = json!({ "name": name, "installed": false });
                show(json, &value, |_| {
                    format!(
                        "removed the service '{name}' and its event log source (its log stays in {})\n",
                        log.display()
                    )
                })?;
                Ok(ExitCode::SUCCESS)
            }
            ServiceCommand::Status { name, last } => {
                let name = name.name;
                let status =
                    manage::status(&scm, &name, log_path(&name), last).map_err(|e| explain(&e))?;
                show(json, &status, render_status)?;
                Ok(ExitCode::SUCCESS)
            }
            ServiceCommand::Run { name, options } => {
                service::run(&name.name, body(options)).map_err(|e| match e {
                    RunError::NotFromScm => Exit {
                        code: memdefrag::exit::USAGE,
                        message: "`memdefrag service run` is what the service control manager \
                                  starts; use `memdefrag service start` (or `memdefrag watch` in \
                                  a console)"
                            .into(),
                    }
                    .into(),
                    other => anyhow::Error::new(other),
                })?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    fn name_flag(name: &str) -> String {
        if name == spec::DEFAULT_NAME {
            String::new()
        } else {
            format!(" --name {name}")
        }
    }

    fn report_state(json: bool, name: &str, state: ServiceState) -> anyhow::Result<ExitCode> {
        let value = json!({ "name": name, "state": state });
        show(json, &value, |_| {
            format!("the service '{name}' is {}\n", state_word(state))
        })?;
        Ok(ExitCode::SUCCESS)
    }

    fn state_word(state: ServiceState) -> &'static str {
        match state {
            ServiceState::Stopped => "stopped",
            ServiceState::StartPending => "starting",
            ServiceState::StopPending => "stopping",
            ServiceState::Running => "running",
            ServiceState::Paused => "paused",
        }
    }

    /// What the service runs: the recorded options, checked as `watch` checks them, then the
    /// watch itself until the service is stopped.
    fn body(options: Vec<String>) -> Body {
        Box::new(move |stop: &Stop, session: &mut Session| {
            let failure = |message: String, exit_code: i32| Failure {
                message,
                exit_code: u32::try_from(exit_code).unwrap_or(1),
            };
            let recorded = RecordedWatch::try_parse_from(&options).map_err(|e| {
                let text = e.to_string();
                let first = text
                    .lines()
                    .next()
                    .unwrap_or("bad options")
                    .trim_start_matches("error: ");
                failure(
                    format!("the recorded options are wrong: {first}"),
                    e.exit_code(),
                )
            })?;
            if recorded.watch.once {
                return Err(failure(
                    "the recorded options are wrong: --once cannot be used by a service".into(),
                    memdefrag::exit::USAGE,
                ));
            }
            let system = Native::new();
            let watch = Watch::new(&system, recorded.watch.config()).map_err(|e| match e {
                WatchError::Config(c) => {
                    failure(messages::watch_config(&c), memdefrag::exit::USAGE)
                }
                WatchError::Plan(e) => failure(in_service(&e), e.exit_code()),
            })?;
            let counters = std::sync::Arc::new(memdefrag_metrics::WatchCounters::default());
            let _endpoint = recorded
                .watch
                .metrics_listen
                .map(|address| crate::serve_metrics(address, Some(counters.clone())))
                .transpose()
                .map_err(|e| failure(format!("{e:#}"), memdefrag::exit::FAILED))?;
            session.running(&options);
            watch
                .run(stop, &mut |event| {
                    counters.record(event);
                    session.action(event);
                })
                .map_err(|e| failure(in_service(&e), e.exit_code()))
        })
    }

    /// A library error as the service reports it (no prompt to elevate, no flags to add).
    fn in_service(err: &Error) -> String {
        match err {
            Error::NotPrivileged { op, needs, .. } => format!(
                "operation '{op}' needs {needs}; the service's account lacks it (memdefrag \
                 installs it as LocalSystem, which holds it)"
            ),
            other => other.to_string(),
        }
    }

    /// `memdefrag service status` for people.
    fn render_status(status: &manage::ServiceStatus) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        if !status.installed {
            let _ = writeln!(out, "service {}: not installed", status.name);
        } else {
            let state = status.state.map_or("unknown", state_word);
            let _ = writeln!(
                out,
                "service {} ({}): {state}",
                status.name,
                status.display_name.as_deref().unwrap_or("")
            );
            if let Some(code) = status.exit_code {
                let _ = writeln!(out, "  last exit    {code:?}");
            }
            let _ = writeln!(
                out,
                "  start type   {}, account {}",
                status.start_type.as_deref().unwrap_or("?"),
                status.account.as_deref().unwrap_or("?")
            );
            match &status.options {
                Some(options) => {
                    let _ = writeln!(out, "  options      {}", options.join(" "));
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  command      {} (not one memdefrag registered)",
                        status.command_line.as_deref().unwrap_or("?")
                    );
                }
            }
        }
        let _ = writeln!(out, "  log          {}", status.log.display());
        if status.last_actions.is_empty() {
            let _ = writeln!(out, "no actions logged");
        } else {
            let _ = writeln!(out, "last actions");
            for entry in &status.last_actions {
                let _ = writeln!(out, "  {}", describe_entry(entry));
            }
        }
        out
    }

    /// One log entry in a line.
    fn describe_entry(entry: &serde_json::Value) -> String {
        let time = entry["time"].as_str().unwrap_or("?");
        if let Some(what) = entry["service"].as_str() {
            let detail = entry["reason"]
                .as_str()
                .or_else(|| entry["error"].as_str())
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            return format!("{time} service {what}{detail}");
        }
        let ops: Vec<&str> = entry["ops"]
            .as_array()
            .map(|a| a.iter().filter_map(|o| o.as_str()).collect())
            .unwrap_or_default();
        let freed = entry["freed_bytes"].as_i64().unwrap_or(0);
        let outcome = match entry["error"]["message"].as_str() {
            Some(error) => format!("FAILED: {error}"),
            None => format!(
                "freed {}{}",
                if freed < 0 { "-" } else { "" },
                memdefrag::render::human_bytes(freed.unsigned_abs())
            ),
        };
        format!(
            "{time} {} ({}): {outcome}",
            ops.join(","),
            entry["trigger"].as_str().unwrap_or("?")
        )
    }
}
