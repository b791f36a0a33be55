//! `standby-low` on Linux: proactive reclaim of file pages through the root cgroup's
//! `memory.reclaim` with `swappiness=0`, the closest kernel equivalent of Windows' purge of the
//! low-priority standby list: it takes the coldest file pages (the inactive list) first and never
//! swaps anything out.
//!
//! # References
//! - [Documentation/admin-guide/cgroup-v2.rst](https://docs.kernel.org/admin-guide/cgroup-v2.html),
//!   `memory.reclaim` (Linux 5.19; the `swappiness=` argument since 6.11)

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use procfs::process::{MountInfos, Process};

use crate::backend::{OsError, Outcome};

/// Linux version that accepts `swappiness=` in memory.reclaim.
const SWAPPINESS_ARG_SINCE: (u32, u32) = (6, 11);

/// The root cgroup's `memory.reclaim`, or why there is none usable. Looked up once a run:
/// `describe`, `check_privilege` and `run` all ask.
pub(crate) fn reclaim_file() -> Result<PathBuf, String> {
    static FILE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FILE.get_or_init(|| {
        let mounts = Process::myself()
            .and_then(|p| p.mountinfo())
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        reclaim_file_in(&mounts, super::kernel_version())
    })
    .clone()
}

/// The root cgroup's `memory.reclaim` whatever the kernel's version (without `swappiness=`
/// before 6.11), for give-back's steps.
pub(crate) fn reclaim_file_any_version() -> Result<PathBuf, String> {
    let mounts = Process::myself()
        .and_then(|p| p.mountinfo())
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    reclaim_file_in(&mounts, None)
}

fn reclaim_file_in(mounts: &MountInfos, kernel: Option<(u32, u32)>) -> Result<PathBuf, String> {
    let Some(v2) = mounts.iter().find(|m| m.fs_type == "cgroup2") else {
        return Err("cgroup v2 is not mounted".into());
    };
    if v2.root != "/" {
        // A container sees its own cgroup as the root: reclaim there would reach only it.
        return Err(format!(
            "cgroup v2 is mounted from the cgroup {} (a container), not the root of the hierarchy",
            v2.root
        ));
    }
    let controllers_file = v2.mount_point.join("cgroup.controllers");
    let controllers = std::fs::read_to_string(&controllers_file)
        .map_err(|e| format!("cannot read {}: {e}", controllers_file.display()))?;
    if !controllers.split_whitespace().any(|c| c == "memory") {
        let v1 = mounts
            .iter()
            .find(|m| m.fs_type == "cgroup" && m.super_options.contains_key("memory"));
        return Err(match v1 {
            Some(m) => format!(
                "the memory controller is bound to cgroup v1 (at {}), and memory.reclaim exists only on cgroup v2",
                m.mount_point.display()
            ),
            None => format!(
                "the memory controller is not enabled on cgroup v2 (not listed in {}/cgroup.controllers)",
                v2.mount_point.display()
            ),
        });
    }
    match kernel {
        Some(v) if v < SWAPPINESS_ARG_SINCE => {
            return Err(format!(
                "memory.reclaim with swappiness=0 needs Linux {}.{} or later; this is {}.{}",
                SWAPPINESS_ARG_SINCE.0, SWAPPINESS_ARG_SINCE.1, v.0, v.1
            ))
        }
        _ => {}
    }
    let file = v2.mount_point.join("memory.reclaim");
    if !file.exists() {
        return Err(format!("{} does not exist (Linux 5.19+)", file.display()));
    }
    Ok(file)
}

/// Asks the kernel to reclaim `bytes` of file pages, swapping nothing.
pub(crate) fn reclaim(file: &Path, bytes: u64) -> Result<Outcome, OsError> {
    let mut outcome = Outcome {
        counts: vec![("requested_bytes", bytes)],
        ..Outcome::default()
    };
    if bytes == 0 {
        outcome
            .notes
            .push("no inactive file pages to reclaim".into());
        return Ok(outcome);
    }
    if !reclaim_step(file, bytes, Some(0))? {
        outcome
            .notes
            .push("the kernel reclaimed less than requested (EAGAIN)".into());
    }
    Ok(outcome)
}

/// Asks the kernel to reclaim `bytes` through `file`, with `swappiness` where given. Whether it
/// reclaimed all of it: the kernel answers EAGAIN when it reclaimed less than asked, which is
/// not a failure, since the request is an upper bound.
pub(crate) fn reclaim_step(
    file: &Path,
    bytes: u64,
    swappiness: Option<u32>,
) -> Result<bool, OsError> {
    let value = match swappiness {
        Some(s) => format!("{bytes} swappiness={s}"),
        None => bytes.to_string(),
    };
    match std::fs::write(file, &value) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => Ok(false),
        Err(e) => Err(OsError::from_io(
            &format!("write \"{value}\" to {}", file.display()),
            &e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use procfs::FromBufRead;

    fn mounts(text: &str) -> MountInfos {
        MountInfos::from_buf_read(text.as_bytes()).unwrap()
    }

    #[test]
    fn hybrid_hierarchy_with_memory_on_v1_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cgroup.controllers"), "hugetlb\n").unwrap();
        let text = format!(
            "30 25 0:26 / {} rw,relatime shared:9 - cgroup2 cgroup2 rw\n\
             33 25 0:29 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory\n",
            dir.path().display()
        );
        let err = reclaim_file_in(&mounts(&text), Some((6, 18))).unwrap_err();
        assert!(
            err.contains("cgroup v1 (at /sys/fs/cgroup/memory)"),
            "{err}"
        );
    }

    #[test]
    fn a_containers_cgroup_is_not_taken_for_the_root() {
        let text = "30 25 0:26 /system.slice/box /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let err = reclaim_file_in(&mounts(text), Some((6, 18))).unwrap_err();
        assert!(
            err.contains("/system.slice/box") && err.contains("container"),
            "{err}"
        );
    }

    #[test]
    fn missing_v2_is_explained() {
        let text = "33 25 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let err = reclaim_file_in(&mounts(text), Some((6, 18))).unwrap_err();
        assert_eq!(err, "cgroup v2 is not mounted");
    }

    #[test]
    fn old_kernels_are_refused_and_new_ones_find_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cgroup.controllers"),
            "cpu io memory pids\n",
        )
        .unwrap();
        let text = format!(
            "30 25 0:26 / {} rw - cgroup2 cgroup2 rw\n",
            dir.path().display()
        );
        let err = reclaim_file_in(&mounts(&text), Some((6, 1))).unwrap_err();
        assert!(
            err.contains("needs Linux 6.11 or later; this is 6.1"),
            "{err}"
        );

        let err = reclaim_file_in(&mounts(&text), Some((6, 12))).unwrap_err();
        assert!(err.contains("memory.reclaim does not exist"), "{err}");

        std::fs::write(dir.path().join("memory.reclaim"), "").unwrap();
        let file = reclaim_file_in(&mounts(&text), Some((6, 12))).unwrap();
        assert_eq!(file, dir.path().join("memory.reclaim"));
    }
}
