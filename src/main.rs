//! `memdefrag`: parse the command line, run the request, print, and map the outcome to an exit
//! code. The engine, the platforms and the renderings live in the `memdefrag` library; this
//! binary adds the command line's words and its process-wide concerns (signals, stdout).

mod cli;
mod interrupt;
mod messages;
mod service;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use memdefrag::watch::{self, Watch, WatchError};
use memdefrag::{exit, render, Backend, Error, Native, Op, Plan, Stop};
use memdefrag_metrics::{Format, WatchCounters};

use crate::cli::{Cli, Command, RunOptions, WatchArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli.command, json) {
        Ok(code) => code,
        Err(err) => {
            let (message, code) = if let Some(e) = err.downcast_ref::<Error>() {
                (messages::error(e), e.exit_code())
            } else if let Some(e) = err.downcast_ref::<memdefrag::wsl::WslError>() {
                (e.to_string(), e.exit_code())
            } else if let Some(e) = err.downcast_ref::<Exit>() {
                (e.message.clone(), e.code)
            } else {
                (format!("{err:#}"), exit::FAILED)
            };
            if json {
                // One line, so that it also fits `watch --json`'s one object per line.
                let value =
                    serde_json::json!({ "error": { "message": message, "exit_code": code } });
                let _ = emit(&format!("{value}\n"));
            }
            eprintln!("memdefrag: {message}");
            exit_code(code)
        }
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    let system = Native::new();
    match command {
        Command::Status => {
            show(json, &system.snapshot()?, render::status)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Metrics { output } => {
            let text = memdefrag_metrics::encode(&system.snapshot()?, None, Format::Text);
            match output {
                Some(path) => memdefrag_metrics::write_atomically(&path, &text)
                    .with_context(|| format!("write {}", path.display()))?,
                None => emit(&text)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ops => {
            let infos: Vec<_> = Op::ALL.map(|op| system.describe(op)).to_vec();
            show(json, &infos, |infos| render::ops(system.platform(), infos))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Defrag { run } => {
            let plan = Plan::default_for(&system)
                .with_processes(run.processes.filter())
                .with_flush_timeout(run.flush.flush_timeout);
            execute(&system, &plan, &run, json)
        }
        Command::Purge { ops, run } => {
            let plan = Plan::canonical(ops)
                .with_processes(run.processes.filter())
                .with_flush_timeout(run.flush.flush_timeout);
            execute(&system, &plan, &run, json)
        }
        Command::Watch(args) => watch(&system, &args, json),
        Command::Files { paths, walk, top } => {
            let report = memdefrag::files::files(&paths, walk.walk(), top)?;
            show(json, &report, render::files)?;
            failed_paths(&report.errors);
            Ok(exit_code(if report.failed() {
                exit::FAILED
            } else {
                exit::OK
            }))
        }
        Command::Evict {
            paths,
            walk,
            flush,
            dry_run,
        } => {
            let report = memdefrag::files::evict(&paths, walk.walk(), flush, dry_run)?;
            show(json, &report, render::evict)?;
            failed_paths(&report.errors);
            Ok(exit_code(if report.failed() {
                exit::FAILED
            } else {
                exit::OK
            }))
        }
        Command::GiveBack { keep_hot, dry_run } => give_back(keep_hot, dry_run, json),
        Command::Wsl(args) => wsl(&args, json),
        Command::Service(command) => service::run(&system, command, json),
        Command::Generate(what) => generate(what),
    }
}

/// Writes completions or man pages, from the command line's own definitions.
fn generate(what: cli::Generate) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    match what {
        cli::Generate::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "memdefrag", &mut out);
            emit(&String::from_utf8(out).context("completions are UTF-8")?)?;
        }
        cli::Generate::Man { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("write the man pages into {}", dir.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr that some paths failed (they are listed in the report).
fn failed_paths(errors: &[memdefrag::files::FileError]) {
    if !errors.is_empty() {
        eprintln!(
            "memdefrag: {} path{} could not be read (listed under errors)",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
    }
}

/// Exits as clap does for a usage error (exit 2), under the subcommand at `path`.
pub(crate) fn usage_error(path: &[&str], message: &str) -> ! {
    let mut command = Cli::command();
    let mut sub = &mut command;
    for name in path {
        sub = sub.find_subcommand_mut(name).expect("a subcommand");
    }
    sub.clone()
        .bin_name(format!("memdefrag {}", path.join(" ")))
        .error(clap::error::ErrorKind::InvalidValue, message)
        .exit()
}

/// An error with its own exit code and message, from the command line itself.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Exit {
    pub code: i32,
    pub message: String,
}

fn execute(
    system: &Native,
    plan: &Plan,
    options: &RunOptions,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if plan.ops().is_empty() {
        return Err(Error::UnsupportedPlatform(system.platform()).into());
    }
    if options.dry_run {
        show(json, &plan.preview(system)?, render::dry_run)?;
        return Ok(ExitCode::SUCCESS);
    }
    let stop = Stop::new();
    let interrupts = interrupt::catch(stop.clone()).context("install the signal handlers")?;
    let result = plan.execute_until(system, &stop)?;
    show(json, &result, render::report)?;
    if let Some(code) = interrupts.exit_code() {
        eprintln!("memdefrag: interrupted; the report above shows what ran");
        return Ok(exit_code(code));
    }
    if let Some((op, err)) = result.failure() {
        eprintln!("memdefrag: operation '{op}' failed: {err}");
    }
    Ok(exit_code(result.exit_code()))
}

fn give_back(keep_hot: Duration, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let options = memdefrag::giveback::GiveBackOptions { keep_hot, dry_run };
    let stop = Stop::new();
    let interrupts = interrupt::catch(stop.clone()).context("install the signal handlers")?;
    let report = memdefrag::giveback::give_back(&options, &stop)?;
    show(json, &report, render::give_back)?;
    if let Some(code) = interrupts.exit_code() {
        eprintln!("memdefrag: interrupted; the report above shows what ran");
        return Ok(exit_code(code));
    }
    if let Some(step) = report.steps.iter().find(|s| s.error.is_some()) {
        eprintln!(
            "memdefrag: give-back's {} step failed: {}",
            step.step,
            step.error.as_ref().expect("an error")
        );
    }
    Ok(exit_code(report.exit_code()))
}

/// One stderr line per distribution that failed, e.g. `memdefrag: cannot read 'Debian': …`.
fn tell_distribution_errors<'a>(
    distributions: impl Iterator<Item = (&'a String, &'a Option<String>)>,
    what: impl Fn(&str) -> String,
) {
    for (name, error) in distributions {
        if let Some(error) = error {
            eprintln!("memdefrag: {}: {error}", what(name));
        }
    }
}

/// `memdefrag wsl` and `memdefrag wsl give-back`, from Windows.
fn wsl(args: &cli::WslArgs, json: bool) -> anyhow::Result<ExitCode> {
    use memdefrag::wsl;
    let host = wsl::NativeHost::find()?;
    match &args.command {
        None => {
            let status = wsl::status(&host, args.timeout)?;
            show(json, &status, render::wsl_status)?;
            let errors = status.distributions.iter().map(|d| (&d.name, &d.error));
            tell_distribution_errors(errors, |name| format!("cannot read '{name}'"));
            Ok(exit_code(status.exit_code()))
        }
        Some(cli::WslCommand::GiveBack {
            distro,
            wait,
            keep_hot,
            dry_run,
        }) => {
            let options = wsl::GiveBackOptions {
                distro: distro.clone(),
                timeout: args.timeout,
                wait: *wait,
                keep_hot: *keep_hot,
                dry_run: *dry_run,
            };
            let report = wsl::give_back(&host, &options)?;
            show(json, &report, render::wsl_give_back)?;
            let errors = report.distributions.iter().map(|d| (&d.name, &d.error));
            tell_distribution_errors(errors, |name| format!("give-back in '{name}' failed"));
            Ok(exit_code(report.exit_code()))
        }
    }
}

fn watch(system: &Native, args: &WatchArgs, json: bool) -> anyhow::Result<ExitCode> {
    // Everything is checked once, before watching starts.
    let watch = if args.metrics_only() {
        if args.once {
            usage_error(
                &["watch"],
                "--once with only --metrics-listen: nothing would scrape it",
            );
        }
        None
    } else {
        match Watch::new(system, args.config()) {
            Ok(watch) => Some(watch),
            Err(WatchError::Config(e)) => usage_error(&["watch"], &messages::watch_config(&e)),
            Err(WatchError::Plan(e)) => return Err(e.into()),
        }
    };
    let counters = Arc::new(WatchCounters::default());
    // Listening is the last check: an address in use ends it before anything is watched.
    let endpoint = args
        .metrics_listen
        .map(|address| serve_metrics(address, watch.is_some().then(|| counters.clone())))
        .transpose()?;
    let stop = Stop::new();
    let stopping = AtomicBool::new(false);
    let stopper = stop.clone();
    ctrlc::set_handler(move || {
        // The first signal lets the operation in progress finish; a second one does not wait.
        if stopping.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        stopper.request();
    })
    .context("install the signal handler")?;
    // Installed after the signal handler, so that on Windows it runs first on a console close.
    watch::hold_console_close(&stop).context("install the console close handler")?;
    if let Some(endpoint) = &endpoint {
        eprintln!(
            "memdefrag: serving metrics on http://{}/metrics",
            endpoint.address()
        );
    }
    let Some(watch) = watch else {
        while !stop.wait(Duration::from_secs(3600)) {}
        return Ok(ExitCode::SUCCESS);
    };
    watch.run(&stop, &mut |event| {
        counters.record(event);
        let line = if json {
            serde_json::to_string(event).expect("event serializes")
        } else {
            render::watch_event(event)
        };
        let _ = emit(&format!("{line}\n"));
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Serves `/metrics` on `address`: a fresh snapshot per scrape, with the watch's counters when
/// there is a watch.
pub(crate) fn serve_metrics(
    address: SocketAddr,
    counters: Option<Arc<WatchCounters>>,
) -> anyhow::Result<memdefrag_metrics::Server> {
    let scrape = move |format| {
        Native::new()
            .snapshot()
            .map(|snapshot| memdefrag_metrics::encode(&snapshot, counters.as_deref(), format))
            .map_err(|e| messages::error(&e))
    };
    memdefrag_metrics::serve(address, Arc::new(scrape)).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "the address is in use (by another memdefrag, or an exporter?)".to_owned()
        } else {
            e.to_string()
        };
        anyhow::anyhow!("cannot listen on {address} for metrics: {why}")
    })
}

/// Prints `value` as JSON or, for people, as `human` renders it.
pub(crate) fn show<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        emit(&render::json(value))
    } else {
        emit(&human(value))
    }
}

/// Writes to stdout; a closed pipe (`memdefrag status | head -1`) is not an error.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("write to stdout"),
    }
}
