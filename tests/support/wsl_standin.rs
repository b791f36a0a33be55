//! Stand-ins for WSL on Windows, for the tests under Wine. What it is depends on its own name:
//!
//! - `wsl.exe`: answers as the real `wsl.exe` does, from `scenario.json` in the folder that
//!   `STANDIN_WSL_DIR` names, and appends its arguments to `calls.jsonl` there (one JSON array
//!   a line). Its own messages and lists are UTF-16LE, as the real one's, unless `WSL_UTF8=1`;
//!   a Linux command's output passes through as UTF-8. A distribution that is not running is
//!   "started" (recorded in `started`), so that the tests can prove nothing was.
//! - any other name (`VmmemWSL.exe`): holds `STANDIN_VMMEM_MIB` MiB (64 by default), every page
//!   touched, prints `ready` and waits (10 minutes at most).
//!
//! `scenario.json`:
//!
//! ```json
//! { "running": ["Ubuntu 22.04 Ä"],          // null: none runs
//!   "verbose": [["Ubuntu 22.04 Ä", "Running", 2]],
//!   "hang_list": false,                    // --list --running never answers
//!   "distros": { "Ubuntu 22.04 Ä": {
//!       "root": true, "memdefrag": "/usr/bin/memdefrag",   // or null
//!       "meminfo": "…", "status": "…", "give_back": "…", "give_back_exit": 0,
//!       "recipe_exit": 0, "hang": false } } }
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

fn main() {
    let me = std::env::current_exe().expect("own path");
    let stem = me
        .file_stem()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if stem == "wsl" {
        std::process::exit(wsl());
    }
    vmmem();
}

fn vmmem() {
    let mib: usize = std::env::var("STANDIN_VMMEM_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let mut memory = vec![0u8; mib << 20];
    for page in memory.chunks_mut(4096) {
        page[0] = 1;
    }
    std::hint::black_box(&memory);
    println!("ready");
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(600));
    std::hint::black_box(&memory);
}

/// The real wsl.exe's encoding of its own messages.
fn own(text: &str) -> Vec<u8> {
    if std::env::var("WSL_UTF8").as_deref() == Ok("1") {
        text.as_bytes().to_vec()
    } else {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }
}

fn out(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

fn hang() -> ! {
    std::thread::sleep(Duration::from_secs(600));
    std::process::exit(1)
}

fn wsl() -> i32 {
    let dir = PathBuf::from(std::env::var_os("STANDIN_WSL_DIR").expect("STANDIN_WSL_DIR"));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut calls = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("calls.jsonl"))
        .expect("calls.jsonl");
    writeln!(calls, "{}", serde_json::to_string(&args).unwrap()).unwrap();
    drop(calls);
    let scenario: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("scenario.json")).unwrap())
            .expect("scenario.json");
    let running: Vec<String> = scenario["running"]
        .as_array()
        .map(|a| a.iter().map(|n| n.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["--list", "--running", "--quiet"] => {
            if scenario["hang_list"] == true {
                hang();
            }
            if running.is_empty() {
                out(&own("There are no running distributions.\r\n"));
                return -1;
            }
            let names: String = running.iter().map(|n| format!("{n}\r\n")).collect();
            out(&own(&names));
            0
        }
        ["--list", "--verbose"] => {
            let mut table = String::from("  NAME                   STATE           VERSION\r\n");
            for (i, row) in scenario["verbose"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                table.push_str(&format!(
                    "{} {:<22} {:<15} {}\r\n",
                    if i == 0 { '*' } else { ' ' },
                    row[0].as_str().unwrap(),
                    row[1].as_str().unwrap(),
                    row[2]
                ));
            }
            out(&own(&table));
            0
        }
        ["-d", name, rest @ ..] => {
            let Some(distro) = scenario["distros"].get(*name) else {
                out(&own("There is no distribution with the supplied name.\r\nError code: Wsl/Service/WSL_E_DISTRO_NOT_FOUND\r\n"));
                return -1;
            };
            if !running.iter().any(|n| n == name) {
                let _ = std::fs::write(dir.join("started"), name);
            }
            let (root, command) = match rest {
                ["-u", "root", "-e", command @ ..] => (true, command),
                ["-e", command @ ..] => (false, command),
                _ => {
                    // Without -e the real one starts a shell: never wanted here.
                    let _ = std::fs::write(dir.join("started"), format!("{name}: a shell"));
                    return 1;
                }
            };
            if root && distro["root"] == false {
                out(&own(
                    "<3>WSL (12) ERROR: CreateProcessParseCommon:863: getpwnam(root) failed 5\r\n",
                ));
                return 1;
            }
            if distro["hang"] == true {
                hang();
            }
            let path = distro["memdefrag"].as_str();
            let text = |key: &str| distro[key].as_str().unwrap_or("").as_bytes().to_vec();
            match command {
                ["sh", "-c", script] if script.contains("command -v memdefrag") => {
                    let mut said = String::new();
                    if script.starts_with("id -u") {
                        said.push_str("0\n");
                    }
                    if let Some(path) = path {
                        said.push_str(path);
                        said.push('\n');
                    }
                    out(said.as_bytes());
                    0
                }
                ["sh", "-c", script] if script.contains("drop_caches") => {
                    let _ = std::fs::write(dir.join("recipe"), script);
                    distro["recipe_exit"].as_i64().unwrap_or(0) as i32
                }
                ["cat", "/proc/meminfo"] => {
                    out(&text("meminfo"));
                    0
                }
                [program, "status", "--json"] if Some(*program) == path => {
                    out(&text("status"));
                    0
                }
                // Any further options (--keep-hot, --dry-run): the recorded call shows them.
                [program, "give-back", "--json", ..] if Some(*program) == path => {
                    out(&text("give_back"));
                    distro["give_back_exit"].as_i64().unwrap_or(0) as i32
                }
                [program, ..] => {
                    out(format!("<3>WSL (9) ERROR: CreateProcessCommon:559: execvpe({program}) failed: No such file or directory\n").as_bytes());
                    1
                }
                [] => 1,
            }
        }
        _ => {
            out(&own("Invalid command line argument.\r\n"));
            -1
        }
    }
}
