//! Windows resources of memdefrag.exe: the message table the event log reads the service's
//! events with (each event ID's message is "%1", the text reported), and the version
//! information Explorer shows. Nothing to do for other targets.
//!
//! # References
//! - [Message Text Files](https://learn.microsoft.com/windows/win32/eventlog/message-text-files),
//!   MESSAGE_RESOURCE_DATA / MESSAGE_RESOURCE_BLOCK / MESSAGE_RESOURCE_ENTRY (winnt.h)
//! - [VERSIONINFO resource](https://learn.microsoft.com/windows/win32/menurc/versioninfo-resource)

use std::path::Path;

/// The event IDs the service reports (memdefrag-service's `eventlog::Event`).
const EVENT_IDS: std::ops::RangeInclusive<u32> = 1..=4;

/// MESSAGE_RESOURCE_DATA with one block of `EVENT_IDS`, each message "%1\r\n" in UTF-16.
fn message_table() -> Vec<u8> {
    let mut entry: Vec<u8> = Vec::new();
    let text: Vec<u16> = "%1\r\n\0".encode_utf16().collect();
    let mut text_bytes: Vec<u8> = text.iter().flat_map(|c| c.to_le_bytes()).collect();
    while !text_bytes.len().is_multiple_of(4) {
        text_bytes.push(0);
    }
    // MESSAGE_RESOURCE_ENTRY: Length (of the whole entry), Flags (1: Unicode), Text.
    let length = u16::try_from(4 + text_bytes.len()).expect("a short entry");
    entry.extend(length.to_le_bytes());
    entry.extend(1u16.to_le_bytes());
    entry.extend(&text_bytes);

    let mut data = Vec::new();
    // NumberOfBlocks, then one MESSAGE_RESOURCE_BLOCK: LowId, HighId, OffsetToEntries.
    data.extend(1u32.to_le_bytes());
    data.extend(EVENT_IDS.start().to_le_bytes());
    data.extend(EVENT_IDS.end().to_le_bytes());
    data.extend(16u32.to_le_bytes());
    for _ in EVENT_IDS {
        data.extend(&entry);
    }
    data
}

/// A path as an .rc string literal.
fn rc_string(path: &Path) -> String {
    format!("\"{}\"", path.display().to_string().replace('\\', "\\\\"))
}

/// The commit this is built from (12 hex digits, with `-dirty` for uncommitted changes), or
/// `unknown` outside a git checkout (a crate from a registry).
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    // Rebuilt when HEAD moves or the index changes (a commit, a checkout, a staged change).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // `memdefrag --version`: the version, the commit and the target.
    println!("cargo:rustc-env=MEMDEFRAG_COMMIT={}", commit());
    println!(
        "cargo:rustc-env=MEMDEFRAG_TARGET={}",
        std::env::var("TARGET").expect("TARGET")
    );
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let table = out.join("messages.bin");
    std::fs::write(&table, message_table()).expect("write the message table");

    let version = std::env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION");
    let numbers: Vec<u16> = version
        .split(['.', '-'])
        .take(3)
        .map(|n| n.parse().unwrap_or(0))
        .collect();
    let (major, minor, patch) = (numbers[0], numbers[1], numbers[2]);
    let rc = format!(
        r#"#include <winver.h>
1 MESSAGETABLE {table}

1 VERSIONINFO
FILEVERSION {major},{minor},{patch},0
PRODUCTVERSION {major},{minor},{patch},0
FILEOS VOS_NT_WINDOWS32
FILETYPE VFT_APP
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904B0"
    BEGIN
      VALUE "FileDescription", "memdefrag: free and defragment memory by asking the kernel"
      VALUE "FileVersion", "{version}"
      VALUE "InternalName", "memdefrag"
      VALUE "OriginalFilename", "memdefrag.exe"
      VALUE "ProductName", "memdefrag"
      VALUE "ProductVersion", "{version}"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"#,
        table = rc_string(&table),
    );
    let rc_file = out.join("memdefrag.rc");
    std::fs::write(&rc_file, rc).expect("write memdefrag.rc");
    embed_resource::compile(&rc_file, embed_resource::NONE)
        .manifest_optional()
        .expect("compile memdefrag.rc");
}
