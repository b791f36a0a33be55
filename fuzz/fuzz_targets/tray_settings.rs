//! Any settings file and hotkey text: settings in range, never a panic.
#![no_main]

use std::sync::OnceLock;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = memdefrag_tray::hotkey::parse(text);
    let path = DIR
        .get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
        .join("tray.toml");
    std::fs::write(&path, text).expect("write the settings file");
    let (settings, _) = memdefrag_tray::settings::Settings::load(&path);
    assert!(settings.warning_percent <= 100 && settings.danger_percent <= 100);
});
