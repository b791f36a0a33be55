//! The page cache of given files: how much of each is cached (and dirty, or under writeback),
//! and dropping it — for a cold cache of one data set, without root and without touching
//! anyone else's cache (what `fincore` and `vmtouch -e` are used for).
//!
//! Paths are walked only when asked (`recursive`), without following symbolic links (so a
//! link loop cannot trap the walk), and optionally without crossing into other filesystems.
//! Only regular files are looked at. A file that cannot be opened, or that vanishes during the
//! walk, becomes an entry of `errors`, and the rest goes on.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::platform;
use crate::Error;

/// How to walk the paths given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    /// Descend into directories (else a directory is an error entry).
    pub recursive: bool,
    /// Do not cross into other filesystems while descending.
    pub one_file_system: bool,
}

/// One file's pages in the page cache, in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileCache {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// Its pages in the cache (whole pages: the last one counts whole, as in `fincore`).
    pub cached_bytes: u64,
    /// Of those, dirty (0 where the platform cannot tell: see the report's `source`).
    pub dirty_bytes: u64,
    /// Of those, being written back.
    pub writeback_bytes: u64,
}

/// A path that could not be looked at, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileError {
    /// The path.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// The sums over every file looked at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Files looked at.
    pub files: u64,
    /// Their sizes.
    pub size_bytes: u64,
    /// Their cached pages.
    pub cached_bytes: u64,
    /// Their dirty pages.
    pub dirty_bytes: u64,
    /// Their pages under writeback.
    pub writeback_bytes: u64,
}

/// `memdefrag files`: each file's cache, most cached first, with the totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FilesReport {
    /// The files, most cached first (the top N when asked; the totals count them all).
    pub files: Vec<FileCache>,
    /// Sums over every file looked at.
    pub total: Totals,
    /// Paths that could not be looked at.
    pub errors: Vec<FileError>,
    /// The call that counted the pages: "cachestat" (cached, dirty and writeback pages) or
    /// "mincore" (resident pages only, before Linux 6.5).
    pub source: &'static str,
}

/// One file of `memdefrag evict`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evicted {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// Its cached pages before; null when the kernel would not tell (see `unmeasured`).
    pub cached_before_bytes: Option<u64>,
    /// Its cached pages after (the same as before in a dry run); null when not told.
    pub cached_after_bytes: Option<u64>,
    /// Why pages stayed, when some did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stayed: Option<Stayed>,
    /// Why the file's cache could not be measured (it was evicted all the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmeasured: Option<String>,
}

/// The cached pages that stayed after an eviction, by reason, in bytes: the kernel keeps dirty
/// pages and pages under writeback until they are written, and pages mapped or locked by a
/// process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stayed {
    /// Dirty: without --flush they are not written, so they stay.
    pub dirty_bytes: u64,
    /// Being written back: under writeback when measured, or dirty or under writeback when the
    /// eviction ran and written back since (the kernel starts writing a file's dirty pages when
    /// asked to drop them, and cannot drop them until that ends).
    pub writeback_bytes: u64,
    /// Neither: mapped or locked by a process.
    pub mapped_or_locked_bytes: u64,
    /// Where the kernel cannot tell dirty pages apart (no cachestat): all of them.
    pub unknown_bytes: u64,
}

/// The sums of an eviction (over the files whose cache could be measured).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EvictTotals {
    /// Files evicted.
    pub files: u64,
    /// Of those, files whose cache the kernel would not tell.
    pub unmeasured: u64,
    /// Their cached pages before.
    pub cached_before_bytes: u64,
    /// Their cached pages after.
    pub cached_after_bytes: u64,
}

/// `memdefrag evict`: each file's cache before and after, with the totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EvictReport {
    /// Nothing was dropped: `cached_after_bytes` repeats `cached_before_bytes`.
    pub dry_run: bool,
    /// Dirty pages were written first, so that they could go too.
    pub flush: bool,
    /// The files, in the order walked.
    pub files: Vec<Evicted>,
    /// Sums over every file.
    pub total: EvictTotals,
    /// Paths that could not be looked at or evicted.
    pub errors: Vec<FileError>,
}

impl FilesReport {
    /// Whether some path could not be looked at (the command then exits 1).
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }
}

impl EvictReport {
    /// Whether some path could not be looked at or evicted (the command then exits 1).
    pub fn failed(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// An error entry for `path`.
fn error(path: &Path, message: impl std::fmt::Display) -> FileError {
    FileError {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Calls `visit` with every regular file the paths name (walking directories when asked), or
/// with the error of a path that cannot be walked.
fn walk(paths: &[PathBuf], how: Walk, visit: &mut dyn FnMut(Result<&Path, FileError>)) {
    for path in paths {
        let metadata = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                visit(Err(error(path, e)));
                continue;
            }
        };
        if metadata.is_file() {
            visit(Ok(path));
            continue;
        }
        if !metadata.is_dir() {
            visit(Err(error(path, "not a regular file or a directory")));
            continue;
        }
        if !how.recursive {
            visit(Err(error(
                path,
                "is a directory (add --recursive to walk it)",
            )));
            continue;
        }
        let walker = walkdir::WalkDir::new(path)
            .follow_links(false)
            .same_file_system(how.one_file_system);
        for entry in walker {
            match entry {
                Ok(entry) if entry.file_type().is_file() => visit(Ok(entry.path())),
                // Directories are walked; links, sockets, pipes and devices are not files.
                Ok(_) => {}
                Err(e) => {
                    let at = e.path().unwrap_or(path).to_owned();
                    let message = e
                        .io_error()
                        .map_or_else(|| e.to_string(), ToString::to_string);
                    visit(Err(error(&at, message)));
                }
            }
        }
    }
}

/// Opens a regular file for reading only: never following a link the walk did not follow, and
/// never blocking on a file that turned into a pipe meanwhile.
fn open(path: &Path) -> std::io::Result<(File, u64)> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, open_flags::O_NONBLOCK);
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((file, metadata.len()))
}

/// The flag `open` adds, by value: this module is platform-neutral but for it.
#[cfg(unix)]
mod open_flags {
    /// O_NONBLOCK of `<fcntl.h>` on Linux (x86, ARM and most others; FreeBSD's is 4).
    #[cfg(target_os = "linux")]
    pub(super) const O_NONBLOCK: i32 = 0o4000;
    #[cfg(not(target_os = "linux"))]
    pub(super) const O_NONBLOCK: i32 = 0x4;
}

/// The platform's refusal, as an error: file-level cache commands do not exist here.
fn unsupported(e: &std::io::Error, feature: &'static str) -> Option<Error> {
    (e.kind() == std::io::ErrorKind::Unsupported).then(|| Error::UnsupportedFeature {
        feature,
        reason: e.to_string(),
    })
}

/// The cache state of every regular file the paths name, most cached first; `top` keeps that
/// many files in the list (the totals count them all). Needs no privilege: only read access
/// to the files.
pub fn files(paths: &[PathBuf], how: Walk, top: Option<usize>) -> Result<FilesReport, Error> {
    let mut errors = Vec::new();
    let mut files = Vec::new();
    let mut total = Totals::default();
    let mut source = "cachestat";
    let mut refusal = None;
    walk(paths, how, &mut |item| {
        let path = match item {
            Ok(path) if refusal.is_none() => path,
            Ok(_) => return,
            Err(e) => return errors.push(e),
        };
        let result = open(path)
            .and_then(|(file, size)| platform::file_pages(&file, size).map(|pages| (size, pages)));
        match result {
            Ok((size, pages)) => {
                source = pages.source;
                let entry = FileCache {
                    path: path.to_owned(),
                    size_bytes: size,
                    cached_bytes: pages.cached_bytes,
                    dirty_bytes: pages.dirty_bytes.unwrap_or(0),
                    writeback_bytes: pages.writeback_bytes.unwrap_or(0),
                };
                total.files += 1;
                total.size_bytes += entry.size_bytes;
                total.cached_bytes += entry.cached_bytes;
                total.dirty_bytes += entry.dirty_bytes;
                total.writeback_bytes += entry.writeback_bytes;
                files.push(entry);
            }
            Err(e) => match unsupported(&e, "per-file cache residency") {
                Some(err) => refusal = Some(err),
                None => errors.push(error(path, e)),
            },
        }
    });
    if let Some(err) = refusal {
        return Err(err);
    }
    files.sort_by(|a, b| {
        b.cached_bytes
            .cmp(&a.cached_bytes)
            .then(a.path.cmp(&b.path))
    });
    if let Some(top) = top {
        files.truncate(top);
    }
    Ok(FilesReport {
        files,
        total,
        errors,
        source,
    })
}

/// Drops the clean cached pages of every regular file the paths name (`posix_fadvise`
/// DONTNEED); with `flush`, writes their dirty pages first so that those can go too. Needs only
/// read access to the files. Each file is measured before and after as [`files`] measures it,
/// and the report says why pages stayed.
pub fn evict(
    paths: &[PathBuf],
    how: Walk,
    flush: bool,
    dry_run: bool,
) -> Result<EvictReport, Error> {
    let mut errors = Vec::new();
    let mut evicted = Vec::new();
    let mut total = EvictTotals::default();
    let mut refusal = None;
    walk(paths, how, &mut |item| {
        let path = match item {
            Ok(path) if refusal.is_none() => path,
            Ok(_) => return,
            Err(e) => return errors.push(e),
        };
        match evict_one(path, flush, dry_run) {
            Ok(entry) => {
                total.files += 1;
                total.unmeasured += u64::from(entry.unmeasured.is_some());
                total.cached_before_bytes += entry.cached_before_bytes.unwrap_or(0);
                total.cached_after_bytes += entry.cached_after_bytes.unwrap_or(0);
                evicted.push(entry);
            }
            Err(e) => match unsupported(&e, "per-file cache eviction") {
                Some(err) => refusal = Some(err),
                None => errors.push(error(path, e)),
            },
        }
    });
    if let Some(err) = refusal {
        return Err(err);
    }
    Ok(EvictReport {
        dry_run,
        flush,
        files: evicted,
        total,
        errors,
    })
}

/// The cache state of `file`, or why the kernel would not tell: it reports a file's cache only
/// to its owner and to who may write it (cachestat answers EPERM; mincore would pretend every
/// page is resident, so it is not asked).
fn measure(file: &File, size: u64) -> std::io::Result<Result<platform::FilePages, String>> {
    match platform::file_pages(file, size) {
        Ok(pages) => Ok(Ok(pages)),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Ok(Err(format!("{e}; it was evicted all the same")))
        }
        Err(e) => Err(e),
    }
}

fn evict_one(path: &Path, flush: bool, dry_run: bool) -> std::io::Result<Evicted> {
    let (file, size) = open(path)?;
    let before = measure(&file, size)?;
    let mut entry = Evicted {
        path: path.to_owned(),
        size_bytes: size,
        cached_before_bytes: before.as_ref().ok().map(|p| p.cached_bytes),
        cached_after_bytes: None,
        stayed: None,
        unmeasured: before.as_ref().err().cloned(),
    };
    if dry_run {
        entry.cached_after_bytes = entry.cached_before_bytes;
        return Ok(entry);
    }
    platform::drop_pages(&file, flush)?;
    if let Ok(after) = measure(&file, size)? {
        entry.cached_after_bytes = Some(after.cached_bytes);
        let before = before.as_ref().ok();
        entry.stayed = (after.cached_bytes > 0).then(|| why_stayed(before, &after, flush));
    }
    Ok(entry)
}

/// Why cached pages stayed after DONTNEED, from the counts before and after it.
///
/// DONTNEED starts writeback of the dirty pages it cannot drop, and a page whose writeback ends
/// before the second count is clean and cached by then, though nothing maps it: without
/// `--flush`, as many clean pages as were dirty or under writeback before (and no longer are)
/// are counted as written back meanwhile, and only the rest as mapped or locked.
fn why_stayed(
    before: Option<&platform::FilePages>,
    after: &platform::FilePages,
    flush: bool,
) -> Stayed {
    let (Some(dirty), Some(writeback)) = (after.dirty_bytes, after.writeback_bytes) else {
        return Stayed {
            unknown_bytes: after.cached_bytes,
            ..Stayed::default()
        };
    };
    let clean = after.cached_bytes.saturating_sub(dirty + writeback);
    let unwritten_before = match before {
        Some(&platform::FilePages {
            dirty_bytes: Some(d),
            writeback_bytes: Some(w),
            ..
        }) if !flush => d + w,
        _ => 0,
    };
    let written_meanwhile = clean.min(unwritten_before.saturating_sub(dirty + writeback));
    Stayed {
        dirty_bytes: dirty,
        writeback_bytes: writeback + written_meanwhile,
        mapped_or_locked_bytes: clean - written_meanwhile,
        unknown_bytes: 0,
    }
}

#[cfg(test)]
mod stayed_tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn pages(cached: u64, dirty: u64, writeback: u64) -> platform::FilePages {
        platform::FilePages {
            cached_bytes: cached,
            dirty_bytes: Some(dirty),
            writeback_bytes: Some(writeback),
            source: "cachestat",
        }
    }

    #[test]
    fn pages_written_back_during_the_eviction_are_not_taken_for_mapped_ones() {
        // 8 MiB dirty before; after, 6 MiB still under writeback and 2 MiB already clean.
        let stayed = why_stayed(
            Some(&pages(8 * MIB, 8 * MIB, 0)),
            &pages(8 * MIB, 0, 6 * MIB),
            false,
        );
        assert_eq!(
            stayed,
            Stayed {
                dirty_bytes: 0,
                writeback_bytes: 8 * MIB,
                mapped_or_locked_bytes: 0,
                unknown_bytes: 0,
            }
        );
    }

    #[test]
    fn clean_pages_beyond_what_was_unwritten_are_mapped_or_locked() {
        // 4 MiB clean and mapped, 2 MiB dirty before; after, 1 MiB dirty and all the rest clean.
        let stayed = why_stayed(
            Some(&pages(6 * MIB, 2 * MIB, 0)),
            &pages(6 * MIB, MIB, 0),
            false,
        );
        assert_eq!(
            (
                stayed.dirty_bytes,
                stayed.writeback_bytes,
                stayed.mapped_or_locked_bytes
            ),
            (MIB, MIB, 4 * MIB)
        );
    }

    #[test]
    fn with_flush_clean_pages_that_stay_are_mapped_or_locked() {
        // --flush wrote everything before the drop: what stays clean is held by a process.
        let stayed = why_stayed(
            Some(&pages(4 * MIB, 4 * MIB, 0)),
            &pages(4 * MIB, 0, 0),
            true,
        );
        assert_eq!(stayed.mapped_or_locked_bytes, 4 * MIB);
        assert_eq!(stayed.writeback_bytes, 0);
    }

    #[test]
    fn without_dirty_counts_every_page_is_unknown() {
        let after = platform::FilePages {
            cached_bytes: 3 * MIB,
            dirty_bytes: None,
            writeback_bytes: None,
            source: "mincore",
        };
        assert_eq!(why_stayed(None, &after, false).unknown_bytes, 3 * MIB);
    }
}

#[cfg(all(test, not(target_os = "linux")))]
mod tests {
    use super::*;

    #[test]
    fn elsewhere_the_commands_say_they_are_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, b"hello").unwrap();
        let err = files(std::slice::from_ref(&file), Walk::default(), None).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED, "{err}");
        let err = evict(&[file], Walk::default(), false, false).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::UNSUPPORTED, "{err}");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod linux_tests {
    use super::*;

    #[test]
    fn missing_paths_and_directories_without_recursive_are_errors_and_the_rest_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        std::fs::write(&file, b"hello").unwrap();
        let paths = [
            dir.path().join("missing"),
            dir.path().to_owned(),
            file.clone(),
        ];
        let report = files(&paths, Walk::default(), None).unwrap();
        assert_eq!(report.total.files, 1);
        assert_eq!(report.files[0].path, file);
        assert_eq!(report.files[0].size_bytes, 5);
        assert_eq!(report.errors.len(), 2);
        assert!(
            report.errors[1].message.contains("--recursive"),
            "{:?}",
            report.errors
        );
        assert!(report.failed());
    }

    #[test]
    fn a_walk_follows_no_link_and_so_ends_in_a_loop() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path(), sub.join("loop")).unwrap();
        std::os::unix::fs::symlink(sub.join("f"), sub.join("link-to-f")).unwrap();
        let walk = Walk {
            recursive: true,
            one_file_system: true,
        };
        let report = files(&[dir.path().to_owned()], walk, None).unwrap();
        assert_eq!(report.total.files, 1, "{report:?}");
        assert!(report.errors.is_empty(), "{:?}", report.errors);
    }

    #[test]
    fn top_keeps_the_most_cached_and_the_totals_count_all() {
        let dir = tempfile::tempdir().unwrap();
        for (name, len) in [("small", 10), ("big", 100_000), ("mid", 10_000)] {
            std::fs::write(dir.path().join(name), vec![1u8; len]).unwrap();
        }
        let walk = Walk {
            recursive: true,
            one_file_system: false,
        };
        let report = files(&[dir.path().to_owned()], walk, Some(2)).unwrap();
        assert_eq!(report.total.files, 3);
        assert_eq!(report.total.size_bytes, 110_010);
        assert_eq!(report.files.len(), 2);
        assert!(report.files[0].cached_bytes >= report.files[1].cached_bytes);
    }
}
