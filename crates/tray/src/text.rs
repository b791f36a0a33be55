//! What the app says: the tooltip and the notifications.

use std::time::SystemTime;

use memdefrag::render::human_bytes;
use memdefrag::watch::usage_percent;
use memdefrag::{Error, Report, Snapshot, Status};

use crate::cleaner::{Cleaned, Reason};

/// The most a notification-area tooltip holds (NOTIFYICONDATAW.szTip, less its NUL).
pub const TOOLTIP_MAX: usize = 127;

/// The last clean, as the tooltip shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastClean {
    /// When it started, as HH:MM (local time is the UI's to format).
    pub at: String,
    /// The operations, comma-separated.
    pub ops: String,
    /// What it freed, or "failed".
    pub outcome: String,
}

impl LastClean {
    /// The summary of `cleaned`, started at `at`.
    pub fn of(cleaned: &Cleaned, at: String) -> LastClean {
        let (ops, outcome) = match &cleaned.result {
            Ok(report) => (ops(report), freed(report)),
            Err(_) => (String::new(), "failed".into()),
        };
        LastClean { at, ops, outcome }
    }
}

fn ops(report: &Report) -> String {
    let names: Vec<&str> = report.operations.iter().map(|o| o.op.name()).collect();
    names.join(",")
}

fn freed(report: &Report) -> String {
    if report.failed() {
        "failed".into()
    } else if report.freed_bytes >= 0 {
        format!("freed {}", human_bytes(report.freed_bytes.unsigned_abs()))
    } else {
        "freed nothing".into()
    }
}

/// `text` cut to at most `max` characters.
fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        text
    } else {
        text.chars().take(max - 1).chain(Some('…')).collect()
    }
}

/// A size in few characters: "5.0 GiB", "120 MiB".
fn short_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let mib = bytes as f64 / MIB;
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// The tooltip: use, free, standby, modified, and the last clean (or that one is running).
pub fn tooltip(snapshot: &Snapshot, last: Option<&LastClean>, cleaning: bool) -> String {
    let mut text = format!(
        "memdefrag: {:.0} % used\nfree {}, standby {}, modified {}",
        usage_percent(snapshot),
        short_size(snapshot.free_bytes),
        short_size(snapshot.cache_bytes),
        short_size(snapshot.modified_bytes)
    );
    if cleaning {
        text.push_str("\nCleaning…");
    } else if let Some(last) = last {
        text.push_str(&format!("\n{} {}: {}", last.at, last.outcome, last.ops));
    }
    cut(text, TOOLTIP_MAX)
}

/// A notification: its title, its text, and whether it reports an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The title.
    pub title: String,
    /// The text (several lines).
    pub text: String,
    /// Shown as an error.
    pub error: bool,
}

/// The notification after a clean: what each operation did, or the error in plain words.
pub fn after_clean(cleaned: &Cleaned) -> Notification {
    let why = match &cleaned.reason {
        Reason::Manual => "Cleaned".to_owned(),
        Reason::Hotkey => "Cleaned (hotkey)".to_owned(),
        Reason::Auto(_) => "Cleaned automatically".to_owned(),
    };
    match &cleaned.result {
        Err(err) => Notification {
            title: "memdefrag could not clean".into(),
            text: plain_error(err),
            error: true,
        },
        Ok(report) => {
            let mut lines = Vec::new();
            for o in &report.operations {
                let line = match o.status {
                    Status::Ok => format!("{}: done in {:.1} ms", o.op, o.duration_ms),
                    Status::Failed => format!(
                        "{}: failed — {}",
                        o.op,
                        o.error
                            .as_ref()
                            .map_or("unknown error".into(), |e| e.message.clone())
                    ),
                    Status::Skipped => format!("{}: skipped", o.op),
                    Status::Interrupted => format!("{}: interrupted", o.op),
                };
                lines.push(line);
            }
            let title = if report.failed() {
                format!("{why}, with an error")
            } else {
                format!("{why}: {}", freed(report))
            };
            Notification {
                title,
                text: lines.join("\n"),
                error: report.failed(),
            }
        }
    }
}

/// A library error in the app's words.
pub fn plain_error(err: &Error) -> String {
    match err {
        Error::NotPrivileged { op, .. } => format!(
            "'{op}' needs administrator rights: choose \"Restart as administrator\" in the menu"
        ),
        Error::Unsupported { op, reason } => format!("'{op}' does not work here: {reason}"),
        other => other.to_string(),
    }
}

/// HH:MM of `time` in UTC (the Win32 side shows local time).
pub fn clock(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60)
}

#[cfg(test)]
mod tests {
    use memdefrag::testing::{refusal, snapshot, Scripted};
    use memdefrag::{Op, Plan, Remedy};

    use super::*;

    const GIB: u64 = 1 << 30;

    fn cleaned(result: Result<Report, Error>, reason: Reason) -> Cleaned {
        Cleaned {
            reason,
            started: SystemTime::UNIX_EPOCH,
            result,
        }
    }

    #[test]
    fn the_tooltip_fits_and_says_what_matters() {
        let s = snapshot(16 * GIB, 4 * GIB, 2 * GIB, 5 * GIB, 120 << 20);
        let text = tooltip(&s, None, false);
        assert_eq!(
            text,
            "memdefrag: 75 % used\nfree 2.0 GiB, standby 5.0 GiB, modified 120 MiB"
        );
        let last = LastClean {
            at: "14:02".into(),
            ops: "working-sets,modified,standby".into(),
            outcome: "freed 1.20 GiB".into(),
        };
        let text = tooltip(&s, Some(&last), false);
        assert!(
            text.ends_with("\n14:02 freed 1.20 GiB: working-sets,modified,standby"),
            "{text}"
        );
        assert!(text.chars().count() <= TOOLTIP_MAX);
        assert!(tooltip(&s, Some(&last), true).ends_with("Cleaning…"));
        let long = LastClean {
            ops: "x".repeat(200),
            ..last
        };
        assert_eq!(tooltip(&s, Some(&long), false).chars().count(), TOOLTIP_MAX);
    }

    #[test]
    fn a_notification_lists_each_operation() {
        let backend = Scripted::default();
        let report = Plan::canonical([Op::Modified, Op::Standby])
            .execute(&backend)
            .unwrap();
        let n = after_clean(&cleaned(Ok(report), Reason::Manual));
        assert!(!n.error);
        assert_eq!(n.title, "Cleaned: freed 0.0 MiB");
        assert!(n.text.starts_with("modified: done in"), "{}", n.text);
        assert!(n.text.contains("\nstandby: done in"), "{}", n.text);
    }

    #[test]
    fn errors_are_said_in_plain_words() {
        let backend = Scripted {
            failing: std::collections::HashMap::from([(Op::Standby, refusal())]),
            ..Scripted::default()
        };
        let report = Plan::canonical([Op::Standby, Op::Combine])
            .execute(&backend)
            .unwrap();
        let n = after_clean(&cleaned(Ok(report), Reason::Hotkey));
        assert!(n.error);
        assert_eq!(n.title, "Cleaned (hotkey), with an error");
        assert!(
            n.text.contains("standby: failed — A required privilege"),
            "{}",
            n.text
        );
        assert!(n.text.contains("combine: skipped"), "{}", n.text);
        let refused = Error::NotPrivileged {
            op: Op::Standby,
            needs: "SeProfileSingleProcessPrivilege in its token".into(),
            remedy: Remedy::Elevate,
        };
        let n = after_clean(&cleaned(Err(refused), Reason::Manual));
        assert!(n.error);
        assert!(n.text.contains("Restart as administrator"), "{}", n.text);
    }

    #[test]
    fn the_clock_shows_hours_and_minutes() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(14 * 3600 + 2 * 60 + 59);
        assert_eq!(clock(t), "14:02");
    }
}
