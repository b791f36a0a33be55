//! Running `wsl.exe` with a deadline: its output is read on threads of their own (a full pipe
//! must not stall it), and it is killed when the deadline passes, so that no call hangs.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Output, WslError};

/// How often a running call is checked for its end.
const POLL: Duration = Duration::from_millis(20);

/// Runs `program` with `args`, no input, and waits at most `deadline` for it to end.
pub(super) fn run(program: &Path, args: &[&str], deadline: Duration) -> Result<Output, WslError> {
    let mut command = Command::new(program);
    command
        .args(args.iter().map(OsStr::new))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        // CREATE_NO_WINDOW: a console program started from the notification-area app (which
        // has no console) would otherwise flash a console window.
        command.creation_flags(0x0800_0000);
    }
    let mut child = command.spawn().map_err(|e| WslError::Spawn {
        program: program.display().to_string(),
        message: e.to_string(),
    })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                // The readers end when the pipes close; a grandchild holding them open would
                // keep them, so they are not waited for.
                return Err(WslError::Timeout {
                    command: command_line(args),
                    deadline,
                });
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                let _ = child.kill();
                return Err(WslError::Spawn {
                    program: program.display().to_string(),
                    message: e.to_string(),
                });
            }
        }
    };
    Ok(Output {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// `wsl.exe ARGS` as a user would type it, for messages: arguments with spaces quoted.
pub fn command_line(args: &[&str]) -> String {
    let mut line = String::from("wsl.exe");
    for arg in args {
        line.push(' ');
        if arg.is_empty() || arg.contains(char::is_whitespace) || arg.contains('"') {
            line.push('"');
            line.push_str(&arg.replace('"', "\\\""));
            line.push('"');
        } else {
            line.push_str(arg);
        }
    }
    line
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn output_and_exit_code_are_collected() {
        let out = run(
            Path::new("/bin/sh"),
            &["-c", "printf out; printf err >&2; exit 3"],
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, b"out");
        assert_eq!(out.stderr, b"err");
    }

    #[test]
    fn a_call_past_its_deadline_is_stopped() {
        let start = Instant::now();
        let err = run(Path::new("/bin/sleep"), &["30"], Duration::from_millis(300)).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert!(matches!(err, WslError::Timeout { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "'wsl.exe 30' did not finish within 300ms; it was stopped"
        );
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let err = run(
            Path::new("/nonexistent/wsl.exe"),
            &[],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, WslError::Spawn { .. }), "{err}");
    }

    #[test]
    fn command_lines_quote_names_with_spaces() {
        assert_eq!(
            command_line(&["-d", "Ubuntu 22.04 Ä", "-e", "cat", "/proc/meminfo"]),
            "wsl.exe -d \"Ubuntu 22.04 Ä\" -e cat /proc/meminfo"
        );
    }
}
