//! The menu, as data: built from the operations the platform supports, the settings, whether the
//! app runs elevated and whether a clean is in progress. The Win32 side turns it into a popup
//! menu and sends the chosen [`Action`] back.

use memdefrag::{Op, OpInfo};

use crate::settings::{AutoMode, Settings};

/// What a menu item does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Clean now, with the chosen areas.
    CleanNow,
    /// Add or remove an operation from Clean now.
    ToggleArea(Op),
    /// Choose the automatic cleaning.
    Auto(AutoMode),
    /// Notifications on or off.
    ToggleNotifications,
    /// The global hotkey on or off.
    ToggleHotkey,
    /// Start at log-on on or off.
    ToggleStartAtLogon,
    /// Open the status window.
    OpenStatus,
    /// Start again as administrator.
    RestartElevated,
    /// Give WSL 2's memory back.
    WslGiveBack,
    /// The automatic WSL give-back on or off.
    ToggleWslAuto,
    /// The WSL 2 VM's size (a line to read, not a command).
    WslInfo,
    /// Quit.
    Exit,
}

impl Action {
    /// A menu command ID for the action (never 0, which means "nothing chosen").
    pub fn id(self) -> u16 {
        match self {
            Action::CleanNow => 1,
            Action::ToggleNotifications => 2,
            Action::ToggleHotkey => 3,
            Action::ToggleStartAtLogon => 4,
            Action::OpenStatus => 5,
            Action::RestartElevated => 6,
            Action::Exit => 7,
            Action::WslGiveBack => 8,
            Action::ToggleWslAuto => 9,
            Action::WslInfo => 10,
            Action::Auto(mode) => 20 + mode as u16,
            Action::ToggleArea(op) => {
                100 + Op::ALL
                    .iter()
                    .position(|&o| o == op)
                    .expect("every op is in ALL") as u16
            }
        }
    }

    /// The action of a menu command ID.
    pub fn from_id(id: u16) -> Option<Action> {
        let modes = [
            AutoMode::Off,
            AutoMode::Pressure,
            AutoMode::Usage,
            AutoMode::Every,
        ];
        Some(match id {
            1 => Action::CleanNow,
            2 => Action::ToggleNotifications,
            3 => Action::ToggleHotkey,
            4 => Action::ToggleStartAtLogon,
            5 => Action::OpenStatus,
            6 => Action::RestartElevated,
            7 => Action::Exit,
            8 => Action::WslGiveBack,
            9 => Action::ToggleWslAuto,
            10 => Action::WslInfo,
            20..=23 => Action::Auto(modes[usize::from(id - 20)]),
            100.. => Action::ToggleArea(*Op::ALL.get(usize::from(id - 100))?),
            _ => return None,
        })
    }
}

/// One line of the menu.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// A command.
    Item {
        /// What it says.
        label: String,
        /// What it does.
        action: Action,
        /// Shown with a check mark.
        checked: bool,
        /// Can be chosen (else greyed).
        enabled: bool,
    },
    /// A submenu.
    Submenu {
        /// What it says.
        label: String,
        /// Its lines.
        entries: Vec<Entry>,
    },
    /// A line between groups.
    Separator,
}

/// What the menu is built from.
pub struct MenuState<'a> {
    /// The settings.
    pub settings: &'a Settings,
    /// What the platform says of every operation.
    pub infos: &'a [OpInfo],
    /// The platform's default plan (Clean now without chosen areas).
    pub default_plan: &'a [Op],
    /// Whether this process may clean (elevated).
    pub elevated: bool,
    /// Whether a clean is in progress.
    pub cleaning: bool,
    /// WSL 2's VM, while it runs: its menu line.
    pub wsl_vm: Option<String>,
    /// Whether a WSL give-back is in progress.
    pub giving_back: bool,
}

const NEEDS_ADMIN: &str = " (needs administrator)";

fn item(label: impl Into<String>, action: Action, checked: bool, enabled: bool) -> Entry {
    Entry::Item {
        label: label.into(),
        action,
        checked,
        enabled,
    }
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

/// The menu for `state`.
pub fn build(state: &MenuState<'_>) -> Vec<Entry> {
    let settings = state.settings;
    let clean_label = if state.cleaning {
        "Cleaning…".to_owned()
    } else if state.elevated {
        "Clean now".to_owned()
    } else {
        format!("Clean now{NEEDS_ADMIN}")
    };
    let chosen = settings.clean_ops(state.default_plan);
    let areas = state
        .infos
        .iter()
        .map(|info| match info.unsupported_reason() {
            None => item(
                format!("{} — {}", info.op, info.op.summary()),
                Action::ToggleArea(info.op),
                chosen.contains(&info.op),
                true,
            ),
            Some(reason) => item(
                shorten(&format!("{} — unsupported: {reason}", info.op), 70),
                Action::ToggleArea(info.op),
                false,
                false,
            ),
        })
        .collect();
    let auto = &settings.auto;
    let mode_item = |mode: AutoMode, label: String| {
        let needs_admin = mode != AutoMode::Off && !state.elevated;
        let label = if needs_admin {
            format!("{label}{NEEDS_ADMIN}")
        } else {
            label
        };
        item(label, Action::Auto(mode), auto.mode == mode, !needs_admin)
    };
    let auto_entries = vec![
        mode_item(AutoMode::Off, "Off".into()),
        mode_item(
            AutoMode::Pressure,
            format!(
                "When standby > {} MiB and free < {} %",
                auto.standby_above_mib, auto.free_below_percent
            ),
        ),
        mode_item(
            AutoMode::Usage,
            format!("When memory use > {} %", auto.usage_above_percent),
        ),
        mode_item(
            AutoMode::Every,
            format!("Every {} minutes", auto.every_minutes),
        ),
    ];
    let mut entries = vec![
        item(
            clean_label,
            Action::CleanNow,
            false,
            state.elevated && !state.cleaning,
        ),
        Entry::Submenu {
            label: "Clean areas".into(),
            entries: areas,
        },
        Entry::Submenu {
            label: "Auto-clean".into(),
            entries: auto_entries,
        },
        Entry::Separator,
    ];
    if let Some(line) = &state.wsl_vm {
        // WSL's give-back runs as the user (root inside the VM is WSL's, not Windows'): no
        // elevation needed.
        let give_back = if state.giving_back {
            "Giving back WSL memory…"
        } else {
            "Give back WSL memory"
        };
        entries.extend([
            item(line.clone(), Action::WslInfo, false, false),
            item(give_back, Action::WslGiveBack, false, !state.giving_back),
            item(
                format!(
                    "Give back automatically above {} MiB when idle",
                    settings.wsl.above_mib
                ),
                Action::ToggleWslAuto,
                settings.wsl.auto,
                true,
            ),
            Entry::Separator,
        ]);
    }
    entries.extend([
        item(
            "Notifications",
            Action::ToggleNotifications,
            settings.notifications,
            true,
        ),
        item(
            format!("Hotkey {} for Clean now", settings.hotkey_keys),
            Action::ToggleHotkey,
            settings.hotkey,
            true,
        ),
        item(
            "Start at log-on",
            Action::ToggleStartAtLogon,
            settings.start_at_logon,
            state.elevated,
        ),
        item("Open status", Action::OpenStatus, false, true),
    ]);
    if !state.elevated {
        entries.push(item(
            "Restart as administrator",
            Action::RestartElevated,
            false,
            true,
        ));
    }
    entries.push(Entry::Separator);
    entries.push(item("Exit", Action::Exit, false, true));
    entries
}

#[cfg(test)]
mod tests {
    use memdefrag::Support;

    use super::*;

    fn infos() -> Vec<OpInfo> {
        Op::ALL
            .map(|op| OpInfo {
                op,
                support: if op == Op::Compact {
                    Support::No {
                        reason: "Windows offers no call to compact physical memory".into(),
                    }
                } else {
                    Support::Yes
                },
                kernel_call: String::new(),
                privilege: String::new(),
            })
            .to_vec()
    }

    fn find(entries: &[Entry], action: Action) -> Option<&Entry> {
        entries.iter().find_map(|e| match e {
            Entry::Item { action: a, .. } if *a == action => Some(e),
            Entry::Submenu { entries, .. } => find(entries, action),
            _ => None,
        })
    }

    fn enabled(entries: &[Entry], action: Action) -> bool {
        matches!(
            find(entries, action),
            Some(Entry::Item { enabled: true, .. })
        )
    }

    fn checked(entries: &[Entry], action: Action) -> bool {
        matches!(
            find(entries, action),
            Some(Entry::Item { checked: true, .. })
        )
    }

    const PLAN: [Op; 3] = [Op::WorkingSets, Op::Modified, Op::Standby];

    /// The menu with the default settings.
    fn menu(elevated: bool, cleaning: bool) -> Vec<Entry> {
        build(&MenuState {
            settings: &Settings::default(),
            infos: &infos(),
            default_plan: &PLAN,
            elevated,
            cleaning,
            wsl_vm: None,
            giving_back: false,
        })
    }

    #[test]
    fn areas_follow_the_platform_and_the_settings() {
        let menu = menu(true, false);
        assert!(enabled(&menu, Action::CleanNow));
        for op in Op::ALL {
            assert_eq!(
                checked(&menu, Action::ToggleArea(op)),
                PLAN.contains(&op),
                "{op}"
            );
        }
        assert!(
            !enabled(&menu, Action::ToggleArea(Op::Compact)),
            "unsupported is greyed"
        );
        let Some(Entry::Item { label, .. }) = find(&menu, Action::ToggleArea(Op::Compact)) else {
            panic!()
        };
        assert!(label.contains("unsupported: Windows offers"), "{label}");
        assert!(checked(&menu, Action::Auto(AutoMode::Off)));
        assert!(checked(&menu, Action::ToggleNotifications));
        assert!(!checked(&menu, Action::ToggleHotkey), "off by default");
        assert!(find(&menu, Action::RestartElevated).is_none());
        assert!(matches!(
            menu.last(),
            Some(Entry::Item {
                action: Action::Exit,
                ..
            })
        ));
    }

    #[test]
    fn without_elevation_cleaning_says_why_and_offers_a_restart() {
        let menu = menu(false, false);
        let Some(Entry::Item { label, enabled, .. }) = find(&menu, Action::CleanNow) else {
            panic!()
        };
        assert_eq!(label, "Clean now (needs administrator)");
        assert!(!enabled);
        assert!(!self::enabled(&menu, Action::Auto(AutoMode::Usage)));
        assert!(self::enabled(&menu, Action::Auto(AutoMode::Off)));
        assert!(self::enabled(&menu, Action::RestartElevated));
        assert!(
            self::enabled(&menu, Action::OpenStatus),
            "status needs no elevation"
        );
    }

    #[test]
    fn a_clean_in_progress_cannot_be_started_again() {
        let menu = menu(true, true);
        let Some(Entry::Item { label, enabled, .. }) = find(&menu, Action::CleanNow) else {
            panic!()
        };
        assert_eq!((label.as_str(), *enabled), ("Cleaning…", false));
    }

    #[test]
    fn the_wsl_entries_show_only_while_the_vm_runs() {
        let without = menu(false, false);
        assert!(find(&without, Action::WslGiveBack).is_none());
        assert!(find(&without, Action::WslInfo).is_none());
        let settings = Settings::default();
        let state = |giving_back| MenuState {
            settings: &settings,
            infos: &[],
            default_plan: &PLAN,
            elevated: false,
            cleaning: false,
            wsl_vm: Some("WSL 2 VM: 1.50 GiB".into()),
            giving_back,
        };
        let with = build(&state(false));
        assert_eq!(with.len(), without.len() + 4, "three items and a separator");
        assert_eq!(
            find(&with, Action::WslInfo),
            Some(&item("WSL 2 VM: 1.50 GiB", Action::WslInfo, false, false))
        );
        assert!(enabled(&with, Action::WslGiveBack), "needs no elevation");
        assert!(!checked(&with, Action::ToggleWslAuto));
        let Some(Entry::Item { label, .. }) = find(&with, Action::ToggleWslAuto) else {
            panic!()
        };
        assert_eq!(label, "Give back automatically above 4096 MiB when idle");
        let busy = build(&state(true));
        let Some(Entry::Item { label, enabled, .. }) = find(&busy, Action::WslGiveBack) else {
            panic!()
        };
        assert_eq!(
            (label.as_str(), *enabled),
            ("Giving back WSL memory…", false)
        );
    }

    #[test]
    fn command_ids_round_trip() {
        let mut actions = vec![
            Action::CleanNow,
            Action::ToggleNotifications,
            Action::ToggleHotkey,
            Action::ToggleStartAtLogon,
            Action::OpenStatus,
            Action::RestartElevated,
            Action::Exit,
            Action::WslGiveBack,
            Action::ToggleWslAuto,
            Action::WslInfo,
        ];
        actions.extend(
            [
                AutoMode::Off,
                AutoMode::Pressure,
                AutoMode::Usage,
                AutoMode::Every,
            ]
            .map(Action::Auto),
        );
        actions.extend(Op::ALL.map(Action::ToggleArea));
        let mut ids = std::collections::HashSet::new();
        for action in actions {
            let id = action.id();
            assert_ne!(id, 0);
            assert!(ids.insert(id), "{action:?} shares its id");
            assert_eq!(Action::from_id(id), Some(action));
        }
        assert_eq!(Action::from_id(0), None);
        assert_eq!(Action::from_id(999), None);
    }
}
