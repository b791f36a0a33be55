//! The library's layers depend on each other in one direction only: each top-level module names
//! only modules of lower layers, so there is no circle between files, and the platform layer never
//! reaches up into the engine. Tests (files named `tests.rs`, modules under `tests/`, and the
//! scripted fakes) may name anything.

// The sources are read at run time; checking them once, on the build host, is enough.
#![cfg(not(windows))]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each top-level module and its layer: a module may name only modules of lower layers.
const LAYERS: &[(&str, u8)] = &[
    ("op", 0),
    ("log", 0),
    ("snapshot", 0),
    ("stop", 0),
    ("error", 1),
    ("backend", 2),
    ("platform", 3),
    ("testing", 3),
    ("report", 3),
    ("plan", 4),
    ("files", 4),
    ("giveback", 4),
    ("wsl", 4),
    ("watch", 5),
    ("render", 6),
    ("units", 6),
    ("fuzzing", 7),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether a file is test code, which may name any layer.
fn is_test_code(relative: &Path) -> bool {
    relative
        .components()
        .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "tests.rs")
        || relative.ends_with("fake.rs")
}

/// The module behind a re-export at the crate root (`crate::Error` is `crate::error::Error`).
fn reexported_from(name: &str) -> Option<&'static str> {
    Some(match name {
        "Backend"
        | "NotPrivileged"
        | "OpInfo"
        | "OsError"
        | "Outcome"
        | "Support"
        | "RunOptions"
        | "DEFAULT_FLUSH_TIMEOUT" => "backend",
        "Error" | "exit" | "Remedy" => "error",
        "Op" => "op",
        "Plan" | "ValidatedPlan" => "plan",
        "Native" => "platform",
        "DryRun" | "OpResult" | "PlannedOp" | "Report" | "Status" => "report",
        "Fragmentation" | "Snapshot" => "snapshot",
        "Busy" | "Stop" => "stop",
        _ => return None,
    })
}

/// The top-level modules a file names through `crate::`, outside its `mod tests { … }`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text);
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let group = if let Some(inner) = rest.strip_prefix('{') {
            &inner[..inner.find('}').unwrap_or(inner.len())]
        } else {
            rest
        };
        for word in group.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let module = reexported_from(word).unwrap_or(word);
            if layer(module).is_some() {
                names.insert(module.to_owned());
            }
            if !rest.starts_with('{') {
                break;
            }
        }
    }
    names
}

#[test]
fn each_module_names_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 20, "{files:?}");
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || is_test_code(relative) {
            continue;
        }
        let own = layer(&top).unwrap_or_else(|| panic!("{top} has no layer in LAYERS"));
        seen.insert(top.clone());
        let text = std::fs::read_to_string(file).unwrap();
        for named in named_modules(&text) {
            if named != top && layer(&named).unwrap() >= own {
                violations.push(format!("{} names {named}", relative.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
    assert_eq!(seen.len(), LAYERS.len(), "every layer has a module");
}

#[test]
fn the_check_sees_what_a_file_names() {
    let text = "use crate::backend::Backend;\nuse crate::{Error, watch::Event};\n\
                let s = crate::Status::Ok;\n\
                #[cfg(test)]\nmod tests {\n use crate::render;\n}";
    let names: Vec<String> = named_modules(text).into_iter().collect();
    assert_eq!(names, ["backend", "error", "report", "watch"]);
}
