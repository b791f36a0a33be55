//! `memdefrag`: parse the command line, run the request, print, and map the outcome to an exit
//! code. Everything platform-specific lives in the library.

mod cli;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use memdefrag::watch::{self, WatchConfig};
use memdefrag::{exit, report, Backend, Error, Native, Op, Plan};

use crate::cli::{Cli, Command, RunOptions, WatchArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli.command, json) {
        Ok(code) => code,
        Err(err) => {
            let code = err
                .downcast_ref::<Error>()
                .map_or(exit::FAILED, Error::exit_code);
            if json {
                // One line, so that it also fits `watch --json`'s one object per line.
                let value = serde_json::json!({ "error": { "message": format!("{err:#}"), "exit_code": code } });
                let _ = emit(&format!("{value}\n"));
            }
            eprintln!("memdefrag: {err:#}");
            ExitCode::from(code as u8)
        }
    }
}

fn run(command: Command, json: bool) -> anyhow::Result<ExitCode> {
    let system = Native::new();
    match command {
        Command::Status => {
            show(json, &system.snapshot()?, report::render_status)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ops => {
            let infos: Vec<_> = Op::ALL.map(|op| system.describe(op)).to_vec();
            show(json, &infos, |infos| {
                report::render_ops(system.platform(), infos)
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Defrag { run } => execute(&system, Plan::default_for(&system), &run, json),
        Command::Purge { ops, run } => execute(&system, Plan::canonical(ops), &run, json),
        Command::Watch(args) => watch(&system, args, json),
    }
}

fn execute(
    system: &Native,
    plan: Plan,
    options: &RunOptions,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if plan.ops().is_empty() {
        return Err(Error::UnsupportedPlatform(system.platform()).into());
    }
    if options.dry_run {
        show(json, &plan.preview(system)?, report::render_dry_run)?;
        return Ok(ExitCode::SUCCESS);
    }
    let result = plan.execute(system)?;
    show(json, &result, report::render_report)?;
    if let Some((op, err)) = result.failure() {
        eprintln!("memdefrag: operation '{op}' failed: {err}");
    }
    Ok(ExitCode::from(result.exit_code() as u8))
}

fn watch(system: &Native, args: WatchArgs, json: bool) -> anyhow::Result<ExitCode> {
    let ops = if !args.ops.is_empty() {
        Op::canonical(args.ops)
    } else if system
        .describe(Op::StandbyLow)
        .unsupported_reason()
        .is_none()
    {
        vec![Op::StandbyLow]
    } else {
        vec![Op::Standby]
    };
    let config = WatchConfig {
        ops,
        standby_above: args.standby_above,
        free_below: args.free_below,
        usage_above: args.usage_above,
        every: args.every,
        interval: args.interval,
        cooldown: args.cooldown,
        once: args.once,
        dry_run: args.dry_run,
    };
    if let Err(message) = config.validate() {
        let mut command = Cli::command();
        let watch = command
            .find_subcommand_mut("watch")
            .expect("watch subcommand");
        watch
            .clone()
            .bin_name("memdefrag watch")
            .error(clap::error::ErrorKind::InvalidValue, message)
            .exit();
    }
    // Everything is checked once, before watching starts.
    let plan = Plan::canonical(config.ops.iter().copied());
    plan.validate(system)?;
    if !config.dry_run {
        plan.check_privilege(system)?;
    }
    let (stop_tx, stop) = mpsc::channel();
    let stopping = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        // The first signal lets the operation in progress finish; a second one does not wait.
        if stopping.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        let _ = stop_tx.send(());
    })
    .context("install the signal handler")?;
    // Installed after the signal handler, so that on Windows it runs first on a console close.
    watch::hold_console_close().context("install the console close handler")?;
    watch::run(system, &config, &stop, &mut |event| {
        let line = if json {
            serde_json::to_string(event).expect("event serializes")
        } else {
            event.line()
        };
        let _ = emit(&format!("{line}\n"));
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Prints `value` as JSON or, for people, as `human` renders it.
fn show<T: serde::Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        emit(&report::to_json(value))
    } else {
        emit(&human(value))
    }
}

/// Writes to stdout; a closed pipe (`memdefrag status | head -1`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("write to stdout"),
    }
}
