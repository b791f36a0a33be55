//! WSL 2's VM, as seen from Windows, for people.

use std::fmt::Write;

use super::{human_bytes, trim_line_ends};
use crate::wsl::{GiveBackMethod, LinuxSource, Outcome, VmProcess, WslGiveBack, WslStatus};

/// The VM's process in one line.
fn vm_line(vm: Option<&VmProcess>) -> String {
    match vm {
        Some(vm) => format!(
            "WSL 2 VM ({}, PID {}): working set {}, private {}",
            vm.name,
            vm.pid,
            human_bytes(vm.working_set_bytes),
            human_bytes(vm.private_bytes)
        ),
        None => "WSL 2 VM: no VmmemWSL or vmmem process".to_owned(),
    }
}

/// `memdefrag wsl` for people.
pub fn wsl_status(s: &WslStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", vm_line(s.vm.as_ref()));
    if !s.distributions.is_empty() {
        let width = s
            .distributions
            .iter()
            .map(|d| d.name.chars().count())
            .max()
            .unwrap_or(0)
            .max("distribution".len());
        let _ = writeln!(
            out,
            "\n  {:<width$} {:>11} {:>11} {:>11} {:>11}  from",
            "distribution", "total", "available", "free", "cache"
        );
        for d in &s.distributions {
            // Padding counts characters, not bytes: names may be non-ASCII.
            let pad = width - d.name.chars().count();
            let name = format!("{}{}", d.name, " ".repeat(pad));
            match (&d.memory, &d.error, d.version) {
                (Some(m), _, _) => {
                    let from = match m.source {
                        LinuxSource::MemdefragStatus => "memdefrag status",
                        LinuxSource::Meminfo => "/proc/meminfo",
                    };
                    let _ = writeln!(
                        out,
                        "  {name} {:>11} {:>11} {:>11} {:>11}  {from}",
                        human_bytes(m.total_bytes),
                        human_bytes(m.available_bytes),
                        human_bytes(m.free_bytes),
                        human_bytes(m.cache_bytes)
                    );
                }
                (None, Some(error), _) => {
                    let _ = writeln!(out, "  {name} FAILED: {error}");
                }
                (None, None, Some(1)) => {
                    let _ = writeln!(out, "  {name} WSL 1: not in the VM");
                }
                (None, None, _) => {
                    let _ = writeln!(out, "  {name} -");
                }
            }
        }
    }
    for note in &s.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    trim_line_ends(&out)
}

/// `memdefrag wsl give-back` for people.
pub fn wsl_give_back(r: &WslGiveBack) -> String {
    let mut out = String::new();
    for d in &r.distributions {
        let method = match d.method {
            Some(GiveBackMethod::Memdefrag) => "memdefrag give-back",
            Some(GiveBackMethod::DropCachesCompact) => "drop_caches + compact_memory",
            None => "nothing ran",
        };
        let outcome = match d.outcome {
            Outcome::Ok if r.dry_run => "would run",
            Outcome::Ok => "ok",
            Outcome::Failed => "FAILED",
            Outcome::NoRoot => "NOT ROOT",
        };
        let time = if d.duration_ms >= 1000.0 {
            format!("{:.1} s", d.duration_ms / 1000.0)
        } else {
            format!("{:.0} ms", d.duration_ms)
        };
        let _ = writeln!(out, "{}: {method}: {outcome} in {time}", d.name);
        if r.dry_run {
            if let Some(command) = &d.command {
                let _ = writeln!(out, "  command: {command}");
            }
        }
        if let Some(inside) = &d.inside {
            let _ = writeln!(
                out,
                "  cold memory: {}; free in reportable blocks {} -> {}",
                inside.method,
                human_bytes(inside.reportable_before_bytes),
                human_bytes(inside.reportable_after_bytes)
            );
        }
        if let Some(error) = &d.error {
            let _ = writeln!(out, "  error: {error}");
        }
        for note in &d.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    match (&r.before, &r.after) {
        (before, _) if r.dry_run => {
            let _ = writeln!(
                out,
                "\n{}\ndry run: nothing was changed",
                vm_line(before.as_ref())
            );
        }
        (Some(before), Some(after)) => {
            let _ = writeln!(out, "\n{} (PID {}) on Windows:", before.name, before.pid);
            super::change_table(
                &mut out,
                11,
                &[
                    (
                        "working set",
                        before.working_set_bytes,
                        after.working_set_bytes,
                    ),
                    ("private", before.private_bytes, after.private_bytes),
                ],
            );
            let fall = before
                .working_set_bytes
                .saturating_sub(after.working_set_bytes);
            let _ = if fall > 0 {
                writeln!(out, "\nWindows got {} back", human_bytes(fall))
            } else {
                writeln!(out, "\nthe VM's working set did not fall")
            };
        }
        (Some(before), None) => {
            let _ = writeln!(
                out,
                "\n{}\nthe VM stopped during the run",
                vm_line(Some(before))
            );
        }
        _ => {}
    }
    for note in &r.notes {
        let _ = writeln!(out, "note: {note}");
    }
    trim_line_ends(&out)
}
