//! `memdefrag`: parse the command line, run the request, print, and map the outcome to an exit
//! code. Everything platform-specific lives in the library.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use memdefrag::{exit, report, Backend, Error, Native, Plan};

use crate::cli::{Cli, Command, RunOptions};

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
                let value = serde_json::json!({ "error": { "message": format!("{err:#}"), "exit_code": code } });
                let _ = emit(&report::to_json(&value));
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
            let snapshot = system.snapshot()?;
            if json {
                emit(&report::to_json(&snapshot))?;
            } else {
                emit(&report::render_status(&snapshot))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ops => {
            let infos: Vec<_> = memdefrag::Op::ALL.map(|op| system.describe(op)).to_vec();
            if json {
                emit(&report::to_json(&infos))?;
            } else {
                emit(&report::render_ops(system.platform(), &infos))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Defrag { run } => execute(&system, Plan::default_for(&system), &run, json),
        Command::Purge { ops, run } => execute(&system, Plan::canonical(ops), &run, json),
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
        let dry = plan.preview(system)?;
        if json {
            emit(&report::to_json(&dry))?;
        } else {
            emit(&report::render_dry_run(&dry))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let result = plan.execute(system)?;
    if json {
        emit(&report::to_json(&result))?;
    } else {
        emit(&report::render_report(&result))?;
    }
    if let Some((op, err)) = result.failure() {
        eprintln!("memdefrag: operation '{op}' failed: {err}");
    }
    Ok(ExitCode::from(result.exit_code() as u8))
}

/// Writes to stdout; a closed pipe (`memdefrag status | head -1`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("write to stdout"),
    }
}
