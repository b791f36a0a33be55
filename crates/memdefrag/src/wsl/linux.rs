//! What the Linux side says, read through `wsl.exe`: `/proc/meminfo`, and memdefrag's own
//! `status --json` and `give-back --json` when memdefrag is installed in the distribution.

use serde::{Deserialize, Serialize};

/// Where a distribution's figures came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinuxSource {
    /// `memdefrag status --json`, run inside.
    MemdefragStatus,
    /// `/proc/meminfo`, read with `cat` (memdefrag is not installed inside).
    Meminfo,
}

/// The VM's memory as Linux inside sees it (one kernel for every WSL 2 distribution).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinuxMemory {
    /// Where these figures came from.
    pub source: LinuxSource,
    /// MemTotal: the memory the VM was given.
    pub total_bytes: u64,
    /// MemAvailable.
    pub available_bytes: u64,
    /// MemFree: unused, which WSL's page reporting can hand back to Windows.
    pub free_bytes: u64,
    /// Buffers + Cached: the page cache, which holds VM memory until dropped or reclaimed.
    pub cache_bytes: u64,
    /// Free memory in blocks large enough to be reported to the host (memdefrag only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reportable_free_bytes: Option<u64>,
}

/// Why the Linux side's answer could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// `/proc/meminfo`: `Name:   value kB` lines.
pub fn parse_meminfo(text: &str) -> Result<LinuxMemory, ParseError> {
    let field = |name: &str| -> Result<Option<u64>, ParseError> {
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim() != name {
                continue;
            }
            let mut words = value.split_whitespace();
            let number: u64 = words
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| ParseError(format!("/proc/meminfo: {name} is not a number")))?;
            let scale = match words.next() {
                Some("kB") => 1024,
                None => 1,
                Some(unit) => {
                    return Err(ParseError(format!(
                        "/proc/meminfo: {name} has an unknown unit '{unit}'"
                    )))
                }
            };
            return number
                .checked_mul(scale)
                .map(Some)
                .ok_or_else(|| ParseError(format!("/proc/meminfo: {name} is too large")));
        }
        Ok(None)
    };
    let needed =
        |name: &str| field(name)?.ok_or_else(|| ParseError(format!("/proc/meminfo has no {name}")));
    let total = needed("MemTotal")?;
    let free = needed("MemFree")?;
    Ok(LinuxMemory {
        source: LinuxSource::Meminfo,
        total_bytes: total,
        // Kernels before 3.14 have no MemAvailable; WSL 2's are far newer.
        available_bytes: field("MemAvailable")?.unwrap_or(free),
        free_bytes: free,
        cache_bytes: field("Buffers")?
            .unwrap_or(0)
            .saturating_add(field("Cached")?.unwrap_or(0)),
        reportable_free_bytes: None,
    })
}

/// The fields of `memdefrag status --json` read here (the snapshot's JSON contract).
#[derive(Deserialize)]
struct StatusJson {
    total_bytes: u64,
    available_bytes: u64,
    free_bytes: u64,
    cache_bytes: u64,
    reportable_free_bytes: Option<u64>,
}

/// `memdefrag status --json`, as printed inside.
pub fn parse_status(text: &str) -> Result<LinuxMemory, ParseError> {
    let status: StatusJson = serde_json::from_str(text)
        .map_err(|e| ParseError(format!("memdefrag status --json: {e}")))?;
    Ok(LinuxMemory {
        source: LinuxSource::MemdefragStatus,
        total_bytes: status.total_bytes,
        available_bytes: status.available_bytes,
        free_bytes: status.free_bytes,
        cache_bytes: status.cache_bytes,
        reportable_free_bytes: status.reportable_free_bytes,
    })
}

/// One step of a give-back run inside, as its JSON reports it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct InsideStep {
    /// `cold` or `compact`.
    pub step: String,
    /// `ok`, `failed`, `skipped` or `interrupted`.
    pub status: String,
    /// What the step's error said, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<InsideError>,
}

/// An error in a report from inside.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct InsideError {
    /// Its message.
    pub message: String,
}

/// What `memdefrag give-back --json` inside reported, in brief.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct InsideGiveBack {
    /// How cold memory was found (`damon`, `reclaim-steps`, `none`).
    pub method: String,
    /// Free memory in reportable blocks before, in bytes.
    pub reportable_before_bytes: u64,
    /// The same after.
    pub reportable_after_bytes: u64,
    /// The whole run, in milliseconds.
    pub duration_ms: f64,
    /// Its steps.
    pub steps: Vec<InsideStep>,
    /// Its remarks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What `memdefrag … --json` prints when it fails before reporting.
#[derive(Deserialize)]
struct ErrorJson {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    message: String,
    exit_code: i32,
}

/// `memdefrag give-back --json`'s output: its report, or the error it printed instead
/// (message, exit code).
pub fn parse_give_back(text: &str) -> Result<Result<InsideGiveBack, (String, i32)>, ParseError> {
    if let Ok(error) = serde_json::from_str::<ErrorJson>(text.trim()) {
        return Ok(Err((error.error.message, error.error.exit_code)));
    }
    serde_json::from_str::<InsideGiveBack>(text)
        .map(Ok)
        .map_err(|e| ParseError(format!("memdefrag give-back --json: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:        8039572 kB\n\
                           MemFree:         6118240 kB\n\
                           MemAvailable:    7364100 kB\n\
                           Buffers:           34660 kB\n\
                           Cached:          1306152 kB\n\
                           HugePages_Total:       0\n\
                           Hugepagesize:       2048 kB\n";

    #[test]
    fn meminfo_gives_the_vm_figures() {
        let m = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(
            m,
            LinuxMemory {
                source: LinuxSource::Meminfo,
                total_bytes: 8_039_572 * 1024,
                available_bytes: 7_364_100 * 1024,
                free_bytes: 6_118_240 * 1024,
                cache_bytes: (34_660 + 1_306_152) * 1024,
                reportable_free_bytes: None,
            }
        );
        assert_eq!(parse_meminfo(&MEMINFO.replace('\n', "\r\n")).unwrap(), m);
    }

    #[test]
    fn bad_meminfo_says_what_is_wrong() {
        assert_eq!(
            parse_meminfo("MemFree: 1 kB\n").unwrap_err().0,
            "/proc/meminfo has no MemTotal"
        );
        assert_eq!(
            parse_meminfo("MemTotal: x kB\nMemFree: 1 kB\n")
                .unwrap_err()
                .0,
            "/proc/meminfo: MemTotal is not a number"
        );
        assert!(parse_meminfo("MemTotal: 1 MB\nMemFree: 1 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: 18446744073709551615 kB\nMemFree: 1 kB\n").is_err());
        assert!(parse_meminfo("").is_err());
    }

    #[test]
    fn status_json_is_read_from_the_snapshot_contract() {
        let json = r#"{"platform":"linux","total_bytes":100,"available_bytes":60,
            "free_bytes":40,"cache_bytes":20,"modified_bytes":0,
            "reportable_free_order":9,"reportable_free_bytes":30,"detail":{}}"#;
        let m = parse_status(json).unwrap();
        assert_eq!(m.source, LinuxSource::MemdefragStatus);
        assert_eq!(
            (
                m.total_bytes,
                m.available_bytes,
                m.free_bytes,
                m.cache_bytes
            ),
            (100, 60, 40, 20)
        );
        assert_eq!(m.reportable_free_bytes, Some(30));
        assert!(parse_status("{}").is_err());
        assert!(parse_status("sh: memdefrag: not found").is_err());
    }

    #[test]
    fn give_back_json_or_its_error() {
        let report = r#"{"dry_run":false,"method":"damon","method_reason":"x","keep_hot_ms":30000,
            "reportable_order":9,"reportable_before_bytes":1048576,"reportable_after_bytes":3145728,
            "steps":[{"step":"cold","status":"ok","duration_ms":1.0,"kernel_call":"k","counts":{}},
                     {"step":"compact","status":"failed","duration_ms":1.0,"kernel_call":"k",
                      "error":{"code":1,"message":"denied"},"counts":{}}],
            "stranded":{},"duration_ms":31000.5,"before":{},"after":{}}"#;
        let parsed = parse_give_back(report).unwrap().unwrap();
        assert_eq!(parsed.method, "damon");
        assert_eq!(parsed.reportable_after_bytes, 3 << 20);
        assert_eq!(parsed.steps[1].error.as_ref().unwrap().message, "denied");
        let error = r#"{"error":{"message":"not a guest","exit_code":3}}"#;
        assert_eq!(
            parse_give_back(error).unwrap(),
            Err(("not a guest".to_owned(), 3))
        );
        assert!(parse_give_back("garbage").is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_text_panics_the_parsers(s in ".*") {
            let _ = parse_meminfo(&s);
            let _ = parse_status(&s);
            let _ = parse_give_back(&s);
        }
    }
}
