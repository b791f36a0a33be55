//! memdefrag-tray.exe's resources: its manifest (per-monitor DPI awareness, runs as invoker,
//! Windows 10) and version information. Nothing to do for other targets.
//!
//! # References
//! - [Application manifests](https://learn.microsoft.com/windows/win32/sbscs/application-manifests)

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=tray.manifest");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let manifest = dir
        .join("tray.manifest")
        .display()
        .to_string()
        .replace('\\', "\\\\");
    let version = std::env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION");
    let rc = format!(
        r#"#include <winver.h>
1 24 "{manifest}"

1 VERSIONINFO
FILEOS VOS_NT_WINDOWS32
FILETYPE VFT_APP
BEGIN
  BLOCK "StringFileInfo"
  BEGIN
    BLOCK "040904B0"
    BEGIN
      VALUE "FileDescription", "memdefrag in the notification area"
      VALUE "FileVersion", "{version}"
      VALUE "OriginalFilename", "memdefrag-tray.exe"
      VALUE "ProductName", "memdefrag"
      VALUE "ProductVersion", "{version}"
    END
  END
  BLOCK "VarFileInfo"
  BEGIN
    VALUE "Translation", 0x409, 1200
  END
END
"#
    );
    let rc_file = out.join("memdefrag-tray.rc");
    std::fs::write(&rc_file, rc).expect("write memdefrag-tray.rc");
    embed_resource::compile(&rc_file, embed_resource::NONE)
        .manifest_optional()
        .expect("compile memdefrag-tray.rc");
}
