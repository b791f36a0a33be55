//! `memdefrag ops` for people: every operation, whether it runs here, its call and privilege.

use std::fmt::Write as _;

use crate::backend::OpInfo;

/// `memdefrag ops` for people.
pub fn ops(platform: &str, infos: &[OpInfo]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "operations on {platform} (canonical order)");
    for info in infos {
        let state = match info.unsupported_reason() {
            None => "supported".to_string(),
            Some(reason) => format!("unsupported: {reason}"),
        };
        let _ = writeln!(out, "\n  {:<19} {}", info.op, info.op.summary());
        let _ = writeln!(out, "  {:<19} {state}", "");
        let _ = writeln!(out, "  {:<19} call: {}", "", info.kernel_call);
        let _ = writeln!(out, "  {:<19} privilege: {}", "", info.privilege);
    }
    out
}
