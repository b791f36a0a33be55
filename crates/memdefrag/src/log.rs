//! An action log for front ends that run unattended (the service, the desktop app): one JSON
//! object per line (the objects `watch --json` prints, and the front end's own lines), capped in
//! size. When a line would take the file past the cap, the
//! file becomes `<file>.1` (replacing the one before) and a new file starts: at most two files,
//! the newest entries always kept.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The size a log file may reach before it is rotated.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;

/// An append-only JSON-lines log with one rotated predecessor.
#[derive(Debug)]
pub struct ActionLog {
    path: PathBuf,
    max_bytes: u64,
}

impl ActionLog {
    /// The log at `path`, rotated past `max_bytes`. Creates its folder.
    pub fn open(path: impl Into<PathBuf>, max_bytes: u64) -> io::Result<ActionLog> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(ActionLog { path, max_bytes })
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `value` as one line, rotating first if the line would take the file past the cap.
    pub fn append(&self, value: &serde_json::Value) -> io::Result<()> {
        let mut line = value.to_string();
        line.push('\n');
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            std::fs::rename(&self.path, rotated(&self.path))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        // One write per line, so that a reader never sees half of one.
        file.write_all(line.as_bytes())
    }
}

/// The rotated predecessor of the log at `path`.
pub fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// The last `n` entries of the log at `path` (and its predecessor), oldest first. Lines that are
/// not JSON objects (a torn write, a hand edit) are skipped. A missing log has no entries.
pub fn tail(path: &Path, n: usize) -> io::Result<Vec<serde_json::Value>> {
    let mut entries = Vec::new();
    for file in [rotated(path), path.to_path_buf()] {
        let reader = match File::open(&file) {
            Ok(f) => BufReader::new(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in reader.lines() {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line?) {
                if value.is_object() {
                    entries.push(value);
                }
            }
        }
    }
    let skip = entries.len().saturating_sub(n);
    Ok(entries.split_off(skip))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(i: usize) -> serde_json::Value {
        json!({ "n": i, "pad": "x".repeat(40) })
    }

    #[test]
    fn lines_append_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = ActionLog::open(dir.path().join("memdefrag/watch.log"), 1 << 20).unwrap();
        for i in 0..5 {
            log.append(&entry(i)).unwrap();
        }
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 5);
        assert!(text.lines().all(|l| l.starts_with('{') && l.ends_with('}')));
        let last: Vec<_> = tail(log.path(), 2).unwrap();
        assert_eq!(last, [entry(3), entry(4)]);
        assert_eq!(tail(log.path(), 100).unwrap().len(), 5);
    }

    #[test]
    fn past_the_cap_the_file_rotates_and_one_old_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch.log");
        let line_len = entry(0).to_string().len() as u64 + 1;
        // Room for four lines a file.
        let log = ActionLog::open(&path, 4 * line_len + 3).unwrap();
        for i in 0..10 {
            log.append(&entry(i)).unwrap();
            let size = std::fs::metadata(&path).unwrap().len();
            assert!(size <= 4 * line_len + 3, "{size}");
        }
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        // 0-3 went to the first .1, which 4-7 replaced; 8-9 are in the current file.
        let old = std::fs::read_to_string(rotated(&path)).unwrap();
        assert_eq!(old.lines().count(), 4);
        assert!(old.starts_with("{\"n\":4"), "{old}");
        let all = tail(&path, 100).unwrap();
        let numbers: Vec<u64> = all.iter().map(|v| v["n"].as_u64().unwrap()).collect();
        assert_eq!(numbers, [4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn a_line_longer_than_the_cap_is_still_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch.log");
        let log = ActionLog::open(&path, 10).unwrap();
        log.append(&entry(1)).unwrap();
        log.append(&entry(2)).unwrap();
        assert_eq!(tail(&path, 10).unwrap(), [entry(1), entry(2)]);
    }

    #[test]
    fn broken_lines_are_skipped_and_a_missing_log_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch.log");
        assert!(tail(&path, 5).unwrap().is_empty());
        std::fs::write(&path, "{\"n\":1}\nnot json\n[1]\n{\"n\":2}\n{\"n\":3").unwrap();
        let entries = tail(&path, 5).unwrap();
        assert_eq!(entries, [json!({"n": 1}), json!({"n": 2})]);
    }
}
