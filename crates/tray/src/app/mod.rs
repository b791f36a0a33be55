//! The Win32 side of memdefrag-tray: a hidden window that owns the notification-area icon, a
//! one-second timer that redraws the icon when the shown value or colour changes and drives
//! auto-clean, the menu, the hotkey, the notifications and the status window. Cleaning runs on
//! the worker thread ([`memdefrag_tray::cleaner`]); the worker wakes this window when it is done.
//!
//! # References
//! - [Notification area](https://learn.microsoft.com/windows/win32/shell/notification-area)
//!   (NOTIFYICON_VERSION_4 callbacks, and "TaskbarCreated" to re-add the icon when Explorer
//!   restarts)

#[allow(unsafe_code)]
mod image;
#[allow(unsafe_code)]
mod instance;
#[allow(unsafe_code)]
mod notify;
#[allow(unsafe_code)]
mod popup;
#[allow(unsafe_code)]
mod status;
#[allow(unsafe_code)]
mod system;
mod win;
#[allow(unsafe_code)]
mod window;

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use memdefrag::log::{ActionLog, DEFAULT_MAX_BYTES};
use memdefrag::watch::usage_percent;
use memdefrag::{render, Backend, Native, Op, OpInfo, Plan, Report, Snapshot};
use memdefrag_tray::auto::AutoClean;
use memdefrag_tray::cleaner::{Cleaned, Cleaner, Reason};
use memdefrag_tray::icon::{self, Face};
use memdefrag_tray::menu::{self, Action, Entry, MenuState};
use memdefrag_tray::settings::{Notice, Settings};
use memdefrag_tray::text::{self, LastClean};
use memdefrag_tray::wsl::{self as tray_wsl, GivenBack, WslAuto, WslReason, WslWorker};
use serde_json::json;
use windows_sys::Win32::Foundation::HWND;

use self::image::Icon;

/// Where the app keeps its files.
struct Paths {
    settings: PathBuf,
    log: PathBuf,
}

impl Paths {
    /// `%APPDATA%\memdefrag\tray.toml` and `%LOCALAPPDATA%\memdefrag\tray.log`, or both in
    /// `--data-dir DIR` (a portable install keeps them beside the program).
    fn new() -> Paths {
        let mut args = std::env::args();
        if let Some(dir) = args.by_ref().skip_while(|a| a != "--data-dir").nth(1) {
            let dir = PathBuf::from(dir);
            return Paths {
                settings: dir.join("tray.toml"),
                log: dir.join("tray.log"),
            };
        }
        let dir = |var: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .or_else(|| std::env::current_exe().ok()?.parent().map(PathBuf::from))
                .unwrap_or_default()
                .join("memdefrag")
        };
        Paths {
            settings: dir("APPDATA").join("tray.toml"),
            log: dir("LOCALAPPDATA").join("tray.log"),
        }
    }
}

/// The app's state, owned by the UI thread.
struct App {
    hwnd: HWND,
    paths: Paths,
    settings: Settings,
    backend: Arc<Native>,
    infos: Vec<OpInfo>,
    default_plan: Vec<Op>,
    elevated: bool,
    cleaner: Cleaner,
    auto: Option<AutoClean>,
    icon_added: bool,
    face: Option<Face>,
    icon: Option<Icon>,
    tip: String,
    snapshot: Option<Snapshot>,
    last_clean: Option<LastClean>,
    last_report: Option<Report>,
    log: Option<ActionLog>,
    status_window: HWND,
    hotkey_registered: bool,
    /// WSL 2's VM, as last read (`None` while it does not run).
    wsl_vm: Option<memdefrag::wsl::VmProcess>,
    wsl: WslWorker,
    wsl_auto: Option<WslAuto>,
    last_wsl: Option<memdefrag::wsl::WslGiveBack>,
}

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
}

/// Runs `f` on the app, unless it is already in use further up the stack (a modal loop
/// dispatched a message meanwhile): then the message is skipped, never handled twice at once.
fn with_app<R>(f: impl FnOnce(&mut App) -> R) -> Option<R> {
    APP.with(|app| {
        let mut app = app.try_borrow_mut().ok()?;
        app.as_mut().map(f)
    })
}

pub(crate) fn main() -> ExitCode {
    let restarted = std::env::args().any(|a| a == "--restarted");
    // A second instance exits at once (an instance restarting itself waits for the first).
    let wait = if restarted {
        Duration::from_secs(10)
    } else {
        Duration::ZERO
    };
    let Some(_instance) = instance::take(wait) else {
        return ExitCode::SUCCESS;
    };
    let Some(hwnd) = window::create(procedure) else {
        return ExitCode::FAILURE;
    };
    let paths = Paths::new();
    let (settings, notice) = Settings::load(&paths.settings);
    if notice.is_some() {
        // Write the settings as they are now in use (defaults, migrated or repaired).
        let _ = settings.save(&paths.settings);
    }
    let backend = Arc::new(Native::new());
    let infos = Op::ALL.map(|op| backend.describe(op)).to_vec();
    let default_plan = backend.default_plan();
    let elevated = Plan::default_for(&*backend)
        .validate(&*backend)
        .and_then(|plan| plan.check_privilege(&*backend))
        .is_ok();
    let wake_target = win::handle_value(hwnd);
    let cleaner = Cleaner::new(
        backend.clone(),
        Box::new(move || window::post(win::handle_from(wake_target), window::CLEANED)),
    );
    let wsl = WslWorker::new(
        Box::new(|| {
            let host = memdefrag::wsl::NativeHost::find()?;
            memdefrag::wsl::give_back(&host, &memdefrag::wsl::GiveBackOptions::default())
        }),
        Box::new(move || window::post(win::handle_from(wake_target), window::WSL_GIVEN_BACK)),
    );
    let wsl_auto = WslAuto::new(&settings.wsl);
    let log = ActionLog::open(&paths.log, DEFAULT_MAX_BYTES).ok();
    let mut app = App {
        hwnd,
        paths,
        settings,
        backend,
        infos,
        default_plan,
        elevated,
        cleaner,
        auto: None,
        icon_added: false,
        face: None,
        icon: None,
        tip: String::new(),
        snapshot: None,
        last_clean: None,
        last_report: None,
        log,
        status_window: std::ptr::null_mut(),
        hotkey_registered: false,
        wsl_vm: None,
        wsl,
        wsl_auto,
        last_wsl: None,
    };
    app.restart_auto();
    app.apply_hotkey();
    app.tick();
    if let Some(notice) = notice {
        app.notify(
            "memdefrag",
            &notice_text(&notice),
            matches!(notice, Notice::Corrupt { .. }),
        );
    }
    if !app.elevated {
        app.notify(
            "memdefrag shows memory, but cannot clean",
            "Cleaning needs administrator rights: choose \"Restart as administrator\" in the menu.",
            false,
        );
    }
    APP.with(|slot| *slot.borrow_mut() = Some(app));
    window::start_timer(hwnd, 1000);
    window::run_message_loop();
    // The window is gone; let a clean in progress finish, then leave.
    APP.with(|slot| slot.borrow_mut().take());
    ExitCode::SUCCESS
}

fn notice_text(notice: &Notice) -> String {
    match notice {
        Notice::Created(_) => format!("memdefrag is in the notification area. {}", notice.text()),
        _ => notice.text(),
    }
}

/// The local time as HH:MM.
fn local_clock() -> String {
    let now = window::local_time();
    format!("{:02}:{:02}", now.0, now.1)
}

impl App {
    /// Once a second: the memory state, the icon and tooltip when they change, and auto-clean.
    fn tick(&mut self) {
        self.tick_wsl();
        let Ok(snapshot) = self.backend.snapshot() else {
            return;
        };
        let face = Face::new(
            usage_percent(&snapshot),
            self.settings.warning_percent,
            self.settings.danger_percent,
        );
        let tip = text::tooltip(&snapshot, self.last_clean.as_ref(), self.cleaner.is_busy());
        if !self.icon_added || self.face != Some(face) {
            let size = window::small_icon_size();
            if let Some(icon) = image::icon(&icon::draw(face, size)) {
                if self.icon_added {
                    notify::update(self.hwnd, icon.0, &tip);
                } else {
                    // The shell may not be up yet (at log-on): try again next second.
                    self.icon_added = notify::add(self.hwnd, window::ICON_EVENT, icon.0, &tip);
                }
                self.icon = Some(icon);
                self.face = Some(face);
                self.tip = tip;
            }
        } else if self.tip != tip {
            if let Some(icon) = &self.icon {
                notify::update(self.hwnd, icon.0, &tip);
            }
            self.tip = tip;
        }
        if let Some(auto) = &mut self.auto {
            if let Some(fired) = auto.tick(&snapshot, Instant::now(), self.cleaner.is_busy()) {
                self.snapshot = Some(snapshot);
                self.clean(Reason::Auto(fired));
                return;
            }
        }
        self.snapshot = Some(snapshot);
    }

    /// WSL 2's VM: read from the process list (cheap, no wsl.exe), and the automatic give-back.
    fn tick_wsl(&mut self) {
        // A list that cannot be read leaves the last reading.
        if let Ok(vm) = memdefrag::wsl::vm_process() {
            self.wsl_vm = vm;
        }
        if let Some(auto) = &mut self.wsl_auto {
            if auto.tick(self.wsl_vm.as_ref(), Instant::now(), self.wsl.is_busy()) {
                self.wsl.request(WslReason::Auto);
            }
        }
    }

    /// The WSL worker finished: log it and tell the user.
    fn wsl_given_back(&mut self) {
        while let Some(given) = self.wsl.finished() {
            self.record_wsl(&given);
            if self.settings.notifications || given.reason == WslReason::Manual {
                let n = tray_wsl::after_give_back(&given);
                self.notify(&n.title, &n.text, n.error);
            }
            if let Ok(report) = given.result {
                self.last_wsl = Some(report);
            }
        }
        self.tick_wsl();
    }

    fn record_wsl(&self, given: &GivenBack) {
        let Some(log) = &self.log else {
            return;
        };
        let reason = match given.reason {
            WslReason::Manual => "wsl-manual",
            WslReason::Auto => "wsl-auto",
        };
        let time = humantime::format_rfc3339_seconds(given.started).to_string();
        let entry = match &given.result {
            Ok(report) => json!({ "time": time, "reason": reason, "wsl_give_back": report }),
            Err(e) => json!({ "time": time, "reason": reason, "error": e.to_string() }),
        };
        let _ = log.append(&entry);
    }

    /// Starts a clean on the worker; a second request while one runs is ignored (the tooltip
    /// says a clean is in progress).
    fn clean(&mut self, reason: Reason) {
        if !self.elevated {
            self.notify(
                "memdefrag cannot clean",
                "Cleaning needs administrator rights: choose \"Restart as administrator\" in the menu.",
                true,
            );
            return;
        }
        let ops = self.settings.clean_ops(&self.default_plan);
        let processes = self.settings.process_filter(&ops);
        if self.cleaner.request(ops, processes, reason) {
            // Show "Cleaning…" at once.
            self.tip.clear();
            self.tick_tooltip();
        }
    }

    fn tick_tooltip(&mut self) {
        if let (Some(snapshot), Some(icon)) = (&self.snapshot, &self.icon) {
            let tip = text::tooltip(snapshot, self.last_clean.as_ref(), self.cleaner.is_busy());
            notify::update(self.hwnd, icon.0, &tip);
            self.tip = tip;
        }
    }

    /// The worker finished a clean: log it, tell the user, feed auto-clean's back-off.
    fn cleaned(&mut self) {
        while let Some(cleaned) = self.cleaner.finished() {
            self.record(&cleaned);
            if let (Reason::Auto(_), Some(auto)) = (&cleaned.reason, &mut self.auto) {
                let (freed, total) = match &cleaned.result {
                    Ok(report) => (report.freed_bytes, report.before.total_bytes),
                    Err(_) => (0, 1),
                };
                auto.cleaned(freed, total, Instant::now());
            }
            if self.settings.notifications {
                let n = text::after_clean(&cleaned);
                self.notify(&n.title, &n.text, n.error);
            }
            self.last_clean = Some(LastClean::of(&cleaned, local_clock()));
            if let Ok(report) = cleaned.result {
                self.last_report = Some(report);
            }
        }
        self.face = None;
        self.tick();
    }

    fn record(&self, cleaned: &Cleaned) {
        let Some(log) = &self.log else {
            return;
        };
        let reason = match &cleaned.reason {
            Reason::Manual => json!("manual"),
            Reason::Hotkey => json!("hotkey"),
            Reason::Auto(fired) => json!({ "auto": fired }),
        };
        let time = humantime::format_rfc3339_seconds(cleaned.started).to_string();
        let entry = match &cleaned.result {
            Ok(report) => json!({ "time": time, "reason": reason, "report": report }),
            Err(e) => json!({ "time": time, "reason": reason, "error": text::plain_error(e) }),
        };
        let _ = log.append(&entry);
    }

    fn notify(&self, title: &str, text: &str, error: bool) {
        if self.icon_added {
            notify::notify(self.hwnd, title, text, error);
        }
    }

    fn menu_entries(&self) -> Vec<Entry> {
        menu::build(&MenuState {
            settings: &self.settings,
            infos: &self.infos,
            default_plan: &self.default_plan,
            elevated: self.elevated,
            cleaning: self.cleaner.is_busy(),
            wsl_vm: self.wsl_vm.as_ref().map(tray_wsl::menu_line),
            giving_back: self.wsl.is_busy(),
        })
    }

    fn save(&self) {
        if let Err(e) = self.settings.save(&self.paths.settings) {
            self.notify(
                "memdefrag could not save its settings",
                &format!("{}: {e}", self.paths.settings.display()),
                true,
            );
        }
    }

    fn restart_auto(&mut self) {
        let ops = self.settings.clean_ops(&self.default_plan);
        self.auto = self
            .settings
            .watch_config(ops)
            .filter(|c| c.validate().is_ok() && self.elevated)
            .map(|c| AutoClean::new(c, Instant::now()));
    }

    fn apply_hotkey(&mut self) {
        if self.hotkey_registered {
            window::unregister_hotkey(self.hwnd);
            self.hotkey_registered = false;
        }
        if !self.settings.hotkey {
            return;
        }
        match memdefrag_tray::hotkey::parse(&self.settings.hotkey_keys) {
            Ok(hotkey) if window::register_hotkey(self.hwnd, hotkey) => {
                self.hotkey_registered = true;
            }
            Ok(_) => self.notify(
                "memdefrag: hotkey not available",
                &format!("{} is taken by another program", self.settings.hotkey_keys),
                true,
            ),
            Err(e) => self.notify("memdefrag: hotkey not valid", &e, true),
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::CleanNow => self.clean(Reason::Manual),
            Action::ToggleArea(op) => {
                let mut ops = self.settings.clean_ops(&self.default_plan);
                if let Some(at) = ops.iter().position(|&o| o == op) {
                    ops.remove(at);
                } else {
                    ops.push(op);
                }
                self.settings.clean_ops = Op::canonical(ops)
                    .iter()
                    .map(|o| o.name().to_owned())
                    .collect();
                self.save();
                self.restart_auto();
            }
            Action::Auto(mode) => {
                self.settings.auto.mode = mode;
                self.save();
                self.restart_auto();
            }
            Action::ToggleNotifications => {
                self.settings.notifications = !self.settings.notifications;
                self.save();
            }
            Action::ToggleHotkey => {
                self.settings.hotkey = !self.settings.hotkey;
                self.save();
                self.apply_hotkey();
            }
            Action::ToggleStartAtLogon => {
                let enable = !self.settings.start_at_logon;
                match system::start_at_logon(enable) {
                    Ok(()) => {
                        self.settings.start_at_logon = enable;
                        self.save();
                    }
                    Err(e) => self.notify("memdefrag: start at log-on failed", &e, true),
                }
            }
            Action::OpenStatus => {
                let mut text = String::new();
                if let Some(snapshot) = &self.snapshot {
                    text.push_str(&render::status(snapshot));
                }
                match &self.last_report {
                    Some(report) => {
                        text.push_str("\nlast clean (memory before and after)\n\n");
                        text.push_str(&render::report(report));
                    }
                    None => text.push_str("\nno clean yet\n"),
                }
                if let Some(report) = &self.last_wsl {
                    text.push_str("\nlast WSL give-back\n\n");
                    text.push_str(&render::wsl_give_back(report));
                }
                self.status_window = status::show(self.status_window, &text);
            }
            Action::RestartElevated => {
                if system::restart_elevated() {
                    self.exit();
                }
            }
            Action::WslGiveBack => {
                self.wsl.request(WslReason::Manual);
            }
            Action::ToggleWslAuto => {
                self.settings.wsl.auto = !self.settings.wsl.auto;
                self.save();
                self.wsl_auto = WslAuto::new(&self.settings.wsl);
            }
            Action::WslInfo => {}
            Action::Exit => self.exit(),
        }
        if action != Action::Exit {
            // Settings may have changed the colour thresholds.
            self.face = None;
        }
    }

    /// Removes the icon now (no ghost icon is left behind), then closes the window, which ends
    /// the message loop.
    fn exit(&mut self) {
        self.shutdown();
        window::post(self.hwnd, window::CLOSE);
    }

    fn shutdown(&mut self) {
        if self.icon_added {
            notify::remove(self.hwnd);
            self.icon_added = false;
        }
        if self.hotkey_registered {
            window::unregister_hotkey(self.hwnd);
        }
    }
}

/// The hidden window's message handler.
fn procedure(hwnd: HWND, msg: u32, wparam: usize, lparam: isize) -> Option<isize> {
    use window::Event;
    match window::event(msg, wparam, lparam) {
        Event::Timer => {
            with_app(App::tick);
        }
        Event::Menu => show_menu(hwnd),
        Event::Activate => {
            with_app(|app| app.clean(Reason::Manual));
        }
        Event::Cleaned => {
            with_app(App::cleaned);
        }
        Event::WslGivenBack => {
            with_app(App::wsl_given_back);
        }
        Event::Hotkey => {
            with_app(|app| app.clean(Reason::Hotkey));
        }
        Event::TaskbarCreated => {
            with_app(|app| {
                app.icon_added = false;
                app.tick();
            });
        }
        Event::DisplayChanged => {
            with_app(|app| {
                app.face = None;
                app.tick();
            });
        }
        Event::Destroy => {
            with_app(App::shutdown);
            window::quit();
        }
        Event::Other => return None,
    }
    Some(0)
}

fn show_menu(hwnd: HWND) {
    // Build with the app borrowed, show without: the menu runs a modal loop that dispatches the
    // timer meanwhile.
    let Some(Some(menu)) = with_app(|app| popup::build(&app.menu_entries())) else {
        return;
    };
    let action = popup::show(hwnd, &menu);
    drop(menu);
    if let Some(action) = action {
        with_app(|app| app.act(action));
    }
}
