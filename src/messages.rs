//! The library's typed errors in the command line's words: which flag to change, what to run
//! instead.

use memdefrag::watch::{ConfigError, Setting};
use memdefrag::{Error, Remedy};

/// What to do about missing privilege, from a shell.
pub(crate) fn remedy(remedy: Remedy) -> &'static str {
    match remedy {
        Remedy::RunAsRoot => {
            "Run memdefrag as root (for example: sudo memdefrag …), or add --dry-run to see the \
             plan without privilege."
        }
        Remedy::Elevate => {
            "Run memdefrag from an elevated prompt (right-click the terminal, \"Run as \
             administrator\"), or add --dry-run to see the plan without privilege."
        }
        Remedy::PrivilegedContainer => {
            "memdefrag runs in a container, where even root cannot write /proc/sys (the runtime \
             mounts it read-only) and lacks capabilities: run the container privileged \
             (podman run --privileged, docker run --privileged; in Kubernetes, \
             securityContext.privileged: true, as contrib/kubernetes does), or add --dry-run to \
             see the plan without privilege."
        }
        // A remedy the library adds later, until this says more about it.
        _ => "Run memdefrag with more privilege, or add --dry-run to see the plan without it.",
    }
}

/// A library error as memdefrag prints it.
pub(crate) fn error(err: &Error) -> String {
    match err {
        Error::NotPrivileged {
            op,
            needs,
            remedy: r,
        } => {
            format!("operation '{op}' needs {needs}.\n{}", remedy(*r))
        }
        Error::FeatureNotPrivileged {
            feature,
            needs,
            remedy: r,
        } => format!("{feature} needs {needs}.\n{}", remedy(*r)),
        Error::FilterWithoutWorkingSets => "--only and --exclude choose the processes of \
             working-sets, which this plan does not run (add working-sets to it)"
            .into(),
        other => other.to_string(),
    }
}

/// The flag behind a watch setting.
fn flag(setting: Setting) -> &'static str {
    match setting {
        Setting::Interval => "--interval",
        Setting::Cooldown => "--cooldown",
        Setting::Every => "--every",
        Setting::FlushTimeout => "--flush-timeout",
        Setting::KeepHot => "--keep-hot",
        // Not a flag: memdefrag watch measures a minute.
        Setting::IdleWindow => "the idle window",
    }
}

/// A watch configuration error in terms of `memdefrag watch`'s flags.
pub(crate) fn watch_config(err: &ConfigError) -> String {
    match err {
        ConfigError::NoTrigger => {
            "no trigger: give --standby-above with --free-below, --usage-above, --every, \
             --pressure-above or --idle-below"
                .into()
        }
        ConfigError::HalfPressure => {
            "--standby-above and --free-below go together: both must hold".into()
        }
        ConfigError::Zero(setting) => format!("{} must be more than 0", flag(*setting)),
        ConfigError::TooLong { setting, max } => format!(
            "{} must be at most {}",
            flag(*setting),
            humantime::format_duration(*max)
        ),
        ConfigError::OnceWithEvery => {
            "--every cannot fire with --once: there is no previous action to time from".into()
        }
        ConfigError::PercentOutOfRange(p) => {
            format!("a percentage must be from 0 to 100, not {p}")
        }
        ConfigError::OnceWithPressure => {
            "--pressure-above cannot fire with --once: it waits for the kernel to report a stall"
                .into()
        }
        ConfigError::PressureWindow(window) => format!(
            "--pressure-window must be from 500ms to 10s, not {}",
            humantime::format_duration(*window)
        ),
        ConfigError::OnceWithIdle => {
            "--idle-below cannot fire with --once: it measures the last minute".into()
        }
        ConfigError::IdleOutOfRange(p) => {
            format!("--idle-below must be more than 0 and at most 100, not {p}")
        }
        ConfigError::GiveBackWithOps => {
            "--give-back runs its own plan (reclaim what is not in use, then compact): \
             --ops, --only and --exclude cannot go with it"
                .into()
        }
        ConfigError::PressureOutOfRange(p) => {
            format!("--pressure-above must be more than 0 and at most 100, not {p}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use memdefrag::Op;

    #[test]
    fn watch_errors_name_the_flags() {
        assert_eq!(
            watch_config(&ConfigError::Zero(Setting::Interval)),
            "--interval must be more than 0"
        );
        assert_eq!(
            watch_config(&ConfigError::TooLong {
                setting: Setting::Cooldown,
                max: Duration::from_secs(86_400)
            }),
            "--cooldown must be at most 1day"
        );
        assert!(
            watch_config(&ConfigError::NoTrigger).starts_with("no trigger: give --standby-above")
        );
        assert!(watch_config(&ConfigError::OnceWithEvery).contains("--once"));
    }

    #[test]
    fn missing_privilege_says_what_to_run() {
        let err = Error::NotPrivileged {
            op: Op::Standby,
            needs: "write access to /proc/sys/vm/drop_caches (Permission denied)".into(),
            remedy: Remedy::RunAsRoot,
        };
        assert_eq!(
            error(&err),
            "operation 'standby' needs write access to /proc/sys/vm/drop_caches (Permission \
             denied).\nRun memdefrag as root (for example: sudo memdefrag …), or add --dry-run \
             to see the plan without privilege."
        );
        let elevate = Error::NotPrivileged {
            op: Op::Standby,
            needs: "SeProfileSingleProcessPrivilege in its token".into(),
            remedy: Remedy::Elevate,
        };
        assert!(error(&elevate).contains("\"Run as administrator\""));
    }
}
