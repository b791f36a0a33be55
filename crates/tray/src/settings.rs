//! The app's settings: `%APPDATA%\memdefrag\tray.toml`.
//!
//! Loading never fails: a missing file gives the defaults; a file that cannot be read or parsed
//! gives the defaults and is kept beside as `tray.toml.corrupt`; an older one is migrated; each
//! of these comes with one notice for the user. Unknown keys are ignored. Saving writes a
//! temporary file and renames it over the old one, so that a crash never leaves half a file.

use std::io;
use std::path::{Path, PathBuf};

use memdefrag::watch::{Threshold, WatchConfig};
use memdefrag::Op;
use serde::{Deserialize, Serialize};

/// The version of the file format this app writes.
pub const VERSION: u32 = 2;

/// What to clean automatically.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AutoMode {
    /// Never.
    #[default]
    Off,
    /// When the standby list is above `standby_above_mib` and free memory below
    /// `free_below_percent` (as ISLC does).
    Pressure,
    /// When memory use is above `usage_above_percent`.
    Usage,
    /// Every `every_minutes`.
    Every,
}

/// Automatic cleaning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Auto {
    /// Which trigger, if any.
    pub mode: AutoMode,
    /// Pressure: the standby list above this many MiB…
    pub standby_above_mib: u64,
    /// …and free memory below this share of total.
    pub free_below_percent: f64,
    /// Usage: memory in use above this share of total.
    pub usage_above_percent: f64,
    /// Every: the period.
    pub every_minutes: u64,
    /// Quiet time after each clean (doubled while cleaning does not help, as in `watch`).
    pub cooldown_seconds: u64,
}

impl Default for Auto {
    fn default() -> Auto {
        Auto {
            mode: AutoMode::Off,
            standby_above_mib: 4096,
            free_below_percent: 10.0,
            usage_above_percent: 90.0,
            every_minutes: 30,
            cooldown_seconds: 30,
        }
    }
}

/// WSL 2's VM: automatic give-back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Wsl {
    /// Give the VM's memory back automatically.
    pub auto: bool,
    /// …when its working set is above this many MiB…
    pub above_mib: u64,
    /// …and its CPU use, averaged over `idle_seconds`, is below this share of one CPU.
    pub idle_cpu_percent: f64,
    /// The window over which the VM must have been idle.
    pub idle_seconds: u64,
    /// Quiet time after each automatic give-back.
    pub cooldown_minutes: u64,
}

impl Default for Wsl {
    fn default() -> Wsl {
        Wsl {
            auto: false,
            above_mib: 4096,
            idle_cpu_percent: 5.0,
            idle_seconds: 60,
            cooldown_minutes: 30,
        }
    }
}

/// Everything the app remembers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The file format version.
    pub version: u32,
    /// The icon turns amber from this use, in percent.
    pub warning_percent: u8,
    /// The icon turns red from this use, in percent.
    pub danger_percent: u8,
    /// Show a notification after each clean.
    pub notifications: bool,
    /// The global hotkey for Clean now is registered.
    pub hotkey: bool,
    /// The hotkey, e.g. "Ctrl+Alt+M".
    pub hotkey_keys: String,
    /// The app starts at log-on (an elevated log-on task).
    pub start_at_logon: bool,
    /// The operations Clean now runs, by name; empty: the platform's default plan.
    pub clean_ops: Vec<String>,
    /// Processes (executable names or IDs) whose working sets are never emptied.
    pub exclude_processes: Vec<String>,
    /// Automatic cleaning.
    pub auto: Auto,
    /// WSL 2's VM.
    pub wsl: Wsl,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            version: VERSION,
            warning_percent: 70,
            danger_percent: 90,
            notifications: true,
            hotkey: false,
            hotkey_keys: "Ctrl+Alt+M".into(),
            start_at_logon: false,
            clean_ops: Vec::new(),
            exclude_processes: Vec::new(),
            auto: Auto::default(),
            wsl: Wsl::default(),
        }
    }
}

/// Why the settings in use are not (only) what the file said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// There was no file: the defaults are in use, and will be saved there.
    Created(PathBuf),
    /// The file could not be read or parsed; it was kept as `kept`, and the defaults are in use.
    Corrupt {
        /// What was wrong.
        error: String,
        /// Where the old file is now.
        kept: PathBuf,
    },
    /// The file was from an older version and was updated.
    Migrated {
        /// Its version.
        from: u32,
    },
    /// Some values were out of range and were replaced (named).
    Repaired(Vec<&'static str>),
}

impl Notice {
    /// The notice for people.
    pub fn text(&self) -> String {
        match self {
            Notice::Created(path) => format!("Settings will be kept in {}", path.display()),
            Notice::Corrupt { error, kept } => format!(
                "The settings could not be read ({error}); the defaults are in use, and the old \
                 file is kept as {}",
                kept.display()
            ),
            Notice::Migrated { from } => {
                format!("Settings from version {from} were updated to version {VERSION}")
            }
            Notice::Repaired(fields) => format!(
                "Some settings were out of range and were reset: {}",
                fields.join(", ")
            ),
        }
    }
}

impl Settings {
    /// The settings at `path`, and what the user should be told about them. Never fails.
    pub fn load(path: &Path) -> (Settings, Option<Notice>) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return (Settings::default(), Some(Notice::Created(path.to_owned())));
            }
            Err(e) => {
                return (
                    Settings::default(),
                    Some(keep_corrupt(path, &e.to_string())),
                )
            }
        };
        let mut settings: Settings = match toml::from_str(&text) {
            Ok(settings) => settings,
            Err(e) => {
                let error = e.message().to_owned();
                return (Settings::default(), Some(keep_corrupt(path, &error)));
            }
        };
        // A file without a version is version 1, the first format.
        let from = toml::from_str::<toml::Table>(&text)
            .ok()
            .and_then(|table| table.get("version")?.as_integer())
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(1);
        let repaired = settings.repair();
        let notice = if !repaired.is_empty() {
            Some(Notice::Repaired(repaired))
        } else if from < VERSION {
            Some(Notice::Migrated { from })
        } else {
            None
        };
        settings.migrate(from);
        (settings, notice)
    }

    /// Version 1 kept the hotkey off and had no cooldown setting: both defaults fit. Only the
    /// version number changes.
    fn migrate(&mut self, _from: u32) {
        self.version = VERSION;
    }

    /// Resets out-of-range values; returns the names of the ones reset.
    fn repair(&mut self) -> Vec<&'static str> {
        let defaults = Settings::default();
        let mut repaired = Vec::new();
        if self.warning_percent > 100
            || self.danger_percent > 100
            || self.warning_percent >= self.danger_percent
        {
            self.warning_percent = defaults.warning_percent;
            self.danger_percent = defaults.danger_percent;
            repaired.push("warning_percent/danger_percent");
        }
        let auto = &mut self.auto;
        if !(0.0..=100.0).contains(&auto.free_below_percent) {
            auto.free_below_percent = defaults.auto.free_below_percent;
            repaired.push("auto.free_below_percent");
        }
        if !(0.0..=100.0).contains(&auto.usage_above_percent) {
            auto.usage_above_percent = defaults.auto.usage_above_percent;
            repaired.push("auto.usage_above_percent");
        }
        if auto.every_minutes == 0 || auto.every_minutes > 365 * 24 * 60 {
            auto.every_minutes = defaults.auto.every_minutes;
            repaired.push("auto.every_minutes");
        }
        if auto.cooldown_seconds == 0 || auto.cooldown_seconds > 86_400 {
            auto.cooldown_seconds = defaults.auto.cooldown_seconds;
            repaired.push("auto.cooldown_seconds");
        }
        let wsl = &mut self.wsl;
        if wsl.above_mib == 0 || wsl.above_mib > 1 << 30 {
            wsl.above_mib = defaults.wsl.above_mib;
            repaired.push("wsl.above_mib");
        }
        if !(0.0..=100.0).contains(&wsl.idle_cpu_percent) {
            wsl.idle_cpu_percent = defaults.wsl.idle_cpu_percent;
            repaired.push("wsl.idle_cpu_percent");
        }
        if wsl.idle_seconds < 5 || wsl.idle_seconds > 86_400 {
            wsl.idle_seconds = defaults.wsl.idle_seconds;
            repaired.push("wsl.idle_seconds");
        }
        if wsl.cooldown_minutes == 0 || wsl.cooldown_minutes > 24 * 60 {
            wsl.cooldown_minutes = defaults.wsl.cooldown_minutes;
            repaired.push("wsl.cooldown_minutes");
        }
        let before = self.clean_ops.len();
        self.clean_ops.retain(|name| name.parse::<Op>().is_ok());
        if self.clean_ops.len() != before {
            repaired.push("clean_ops");
        }
        repaired
    }

    /// Writes the settings to `path` atomically: a temporary file beside it, then a rename.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = toml::to_string_pretty(self).map_err(io::Error::other)?;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        std::fs::write(&temporary, text)?;
        std::fs::rename(&temporary, path)
    }

    /// The operations Clean now runs: the chosen ones, or the platform's default plan.
    pub fn clean_ops(&self, default_plan: &[Op]) -> Vec<Op> {
        let chosen: Vec<Op> = self
            .clean_ops
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        if chosen.is_empty() {
            default_plan.to_vec()
        } else {
            Op::canonical(chosen)
        }
    }

    /// The processes Clean now and auto-clean trim: all but the excluded ones. Applies only to a
    /// plan with `working-sets`.
    pub fn process_filter(&self, ops: &[Op]) -> memdefrag::ProcessFilter {
        if !ops.contains(&Op::WorkingSets) {
            return memdefrag::ProcessFilter::default();
        }
        memdefrag::ProcessFilter {
            only: Vec::new(),
            exclude: self
                .exclude_processes
                .iter()
                .filter_map(|name| name.parse().ok())
                .collect(),
        }
    }

    /// The automatic cleaning as a watch configuration (`None` when it is off).
    pub fn watch_config(&self, ops: Vec<Op>) -> Option<WatchConfig> {
        let auto = &self.auto;
        let mut config = WatchConfig {
            processes: self.process_filter(&ops),
            ops,
            cooldown: std::time::Duration::from_secs(auto.cooldown_seconds),
            ..WatchConfig::default()
        };
        match auto.mode {
            AutoMode::Off => return None,
            AutoMode::Pressure => {
                config.standby_above = Some(auto.standby_above_mib << 20);
                config.free_below = Some(Threshold::Percent(auto.free_below_percent));
            }
            AutoMode::Usage => config.usage_above = Some(auto.usage_above_percent),
            AutoMode::Every => {
                config.every = Some(std::time::Duration::from_secs(auto.every_minutes * 60));
            }
        }
        Some(config)
    }
}

/// Moves an unreadable file aside, so that saving the defaults does not destroy it.
fn keep_corrupt(path: &Path, error: &str) -> Notice {
    let mut kept = path.as_os_str().to_owned();
    kept.push(".corrupt");
    let kept = PathBuf::from(kept);
    let _ = std::fs::rename(path, &kept);
    Notice::Corrupt {
        error: error.to_owned(),
        kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn a_missing_file_gives_the_defaults_and_one_notice() {
        let dir = dir();
        let path = dir.path().join("memdefrag/tray.toml");
        let (settings, notice) = Settings::load(&path);
        assert_eq!(settings, Settings::default());
        assert_eq!(notice, Some(Notice::Created(path.clone())));
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path), (Settings::default(), None));
    }

    #[test]
    fn saved_settings_load_back_the_same() {
        let dir = dir();
        let path = dir.path().join("tray.toml");
        let settings = Settings {
            warning_percent: 60,
            danger_percent: 80,
            hotkey: true,
            clean_ops: vec!["standby".into(), "modified".into()],
            auto: Auto {
                mode: AutoMode::Pressure,
                standby_above_mib: 2048,
                ..Auto::default()
            },
            wsl: Wsl {
                auto: true,
                above_mib: 6144,
                idle_cpu_percent: 2.5,
                ..Wsl::default()
            },
            ..Settings::default()
        };
        settings.save(&path).unwrap();
        assert!(
            !dir.path().join("tray.toml.tmp").exists(),
            "the temporary file is renamed"
        );
        assert_eq!(Settings::load(&path), (settings, None));
    }

    #[test]
    fn a_corrupt_file_is_kept_aside_and_the_defaults_used() {
        let dir = dir();
        let path = dir.path().join("tray.toml");
        std::fs::write(&path, "warning_percent = \"lots\"\n[[[").unwrap();
        let (settings, notice) = Settings::load(&path);
        assert_eq!(settings, Settings::default());
        let Some(Notice::Corrupt { kept, .. }) = &notice else {
            panic!("{notice:?}")
        };
        assert!(kept.ends_with("tray.toml.corrupt"));
        assert!(kept.exists() && !path.exists());
        assert!(notice.unwrap().text().contains("defaults are in use"));
    }

    #[test]
    fn unknown_keys_are_ignored_and_an_old_file_is_migrated() {
        let dir = dir();
        let path = dir.path().join("tray.toml");
        std::fs::write(
            &path,
            "notifications = false\nfuture_setting = 3\n[auto]\nmode = \"usage\"\nusage_above_percent = 85.0\n",
        )
        .unwrap();
        let (settings, notice) = Settings::load(&path);
        assert!(!settings.notifications);
        assert_eq!(settings.auto.mode, AutoMode::Usage);
        assert_eq!(settings.auto.usage_above_percent, 85.0);
        assert_eq!(settings.version, VERSION);
        assert_eq!(notice, Some(Notice::Migrated { from: 1 }));
    }

    #[test]
    fn out_of_range_values_are_reset_and_named() {
        let dir = dir();
        let path = dir.path().join("tray.toml");
        std::fs::write(
            &path,
            format!(
                "version = {VERSION}\nwarning_percent = 95\ndanger_percent = 90\nclean_ops = [\"standby\", \"bogus\"]\n[auto]\nevery_minutes = 0\n"
            ),
        )
        .unwrap();
        let (settings, notice) = Settings::load(&path);
        assert_eq!(
            (settings.warning_percent, settings.danger_percent),
            (70, 90)
        );
        assert_eq!(settings.auto.every_minutes, 30);
        assert_eq!(settings.clean_ops, ["standby"]);
        assert_eq!(
            notice,
            Some(Notice::Repaired(vec![
                "warning_percent/danger_percent",
                "auto.every_minutes",
                "clean_ops"
            ]))
        );
    }

    #[test]
    fn wsl_settings_default_when_absent_and_are_repaired_when_out_of_range() {
        let dir = dir();
        let path = dir.path().join("tray.toml");
        std::fs::write(&path, format!("version = {VERSION}\n")).unwrap();
        assert_eq!(Settings::load(&path), (Settings::default(), None));
        std::fs::write(
            &path,
            format!(
                "version = {VERSION}\n[wsl]\nauto = true\nabove_mib = 0\nidle_cpu_percent = 150.0\nidle_seconds = 1\ncooldown_minutes = 0\n"
            ),
        )
        .unwrap();
        let (settings, notice) = Settings::load(&path);
        assert_eq!(
            settings.wsl,
            Wsl {
                auto: true,
                ..Wsl::default()
            }
        );
        assert_eq!(
            notice,
            Some(Notice::Repaired(vec![
                "wsl.above_mib",
                "wsl.idle_cpu_percent",
                "wsl.idle_seconds",
                "wsl.cooldown_minutes"
            ]))
        );
    }

    #[test]
    fn clean_ops_default_to_the_platform_plan() {
        let default_plan = [Op::WorkingSets, Op::Modified, Op::Standby];
        let mut settings = Settings::default();
        assert_eq!(settings.clean_ops(&default_plan), default_plan);
        settings.clean_ops = vec!["standby".into(), "modified".into()];
        assert_eq!(
            settings.clean_ops(&default_plan),
            [Op::Modified, Op::Standby]
        );
    }

    #[test]
    fn excluded_processes_apply_to_working_sets_only() {
        let settings = Settings {
            exclude_processes: vec!["game.exe".into(), "1234".into()],
            ..Settings::default()
        };
        let filter = settings.process_filter(&[Op::WorkingSets, Op::Standby]);
        assert_eq!(
            filter.exclude,
            [
                memdefrag::ProcessMatch::Name("game.exe".into()),
                memdefrag::ProcessMatch::Pid(1234)
            ]
        );
        assert!(settings.process_filter(&[Op::Standby]).is_all());
    }

    #[test]
    fn auto_modes_become_watch_triggers() {
        let mut settings = Settings::default();
        assert!(settings.watch_config(vec![Op::Standby]).is_none());
        settings.auto.mode = AutoMode::Pressure;
        let config = settings.watch_config(vec![Op::Standby]).unwrap();
        assert_eq!(config.standby_above, Some(4096 << 20));
        assert_eq!(config.free_below, Some(Threshold::Percent(10.0)));
        assert_eq!(config.validate(), Ok(()));
        settings.auto.mode = AutoMode::Every;
        let config = settings.watch_config(vec![Op::Standby]).unwrap();
        assert_eq!(config.every, Some(std::time::Duration::from_secs(1800)));
        assert_eq!(config.validate(), Ok(()));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// A settings file is outside input (edited by hand, half written): any text loads
            /// as settings in range, with a notice when it was not as written, never a panic.
            #[test]
            fn any_settings_file_loads_in_range(
                text in prop_oneof![
                    any::<String>(),
                    "(version|warning_percent|danger_percent|hotkey|notifications|[a-z_]{1,10}) = (-?[0-9]{1,22}|\"[^\"\n]{0,12}\"|true|false|\\[[0-9, ]{0,10}\\])\n{1,2}",
                    "((version|warning_percent|danger_percent|hotkey|notifications|[a-z_]{1,10}) = (-?[0-9]{1,22}|\"[^\"\n]{0,12}\"|true|false)\n){0,8}",
                ]
            ) {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("tray.toml");
                std::fs::write(&path, &text).unwrap();
                let (settings, _) = Settings::load(&path);
                prop_assert!(settings.warning_percent <= 100);
                prop_assert!(settings.danger_percent <= 100);
            }
        }
    }
}
