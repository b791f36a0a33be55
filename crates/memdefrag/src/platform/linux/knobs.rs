//! The kernel's write-only memory knobs under /proc/sys/vm.
//!
//! # References
//! - [Documentation/admin-guide/sysctl/vm.rst](https://docs.kernel.org/admin-guide/sysctl/vm.html):
//!   `drop_caches`, `compact_memory`

use std::io::Write;
use std::path::Path;

use rustix::fs::{accessat, Access, AtFlags, CWD};

use crate::backend::{NotPrivileged, OsError};
use crate::error::Remedy;

/// 1 drops clean page cache, 2 drops reclaimable slab (dentries and inodes).
pub(crate) const DROP_CACHES: &str = "/proc/sys/vm/drop_caches";
/// Writing 1 compacts every zone of every node (CONFIG_COMPACTION).
pub(crate) const COMPACT_MEMORY: &str = "/proc/sys/vm/compact_memory";

/// Writes `value` to the knob at `path` in one write(2), as `echo value > path` does.
pub(crate) fn write(path: &str, value: &str) -> Result<(), OsError> {
    let context = format!("write \"{value}\" to {path}");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| OsError::from_io(&context, &e))?;
    file.write_all(value.as_bytes())
        .map_err(|e| OsError::from_io(&context, &e))
}

/// Checks, with the effective IDs and without opening it, that this process may write `path`.
pub(crate) fn check_writable(path: impl AsRef<Path>) -> Result<(), NotPrivileged> {
    let path = path.as_ref();
    accessat(CWD, path, Access::WRITE_OK, AtFlags::EACCESS).map_err(|e| {
        if e == rustix::io::Errno::ROFS {
            // Root or not, a read-only /proc/sys is a container's doing.
            return NotPrivileged {
                needs: format!(
                    "write access to {}, which is on a read-only file system (a container's \
                     /proc/sys)",
                    path.display()
                ),
                remedy: Remedy::PrivilegedContainer,
            };
        }
        NotPrivileged {
            needs: format!(
                "write access to {} ({})",
                path.display(),
                std::io::Error::from(e)
            ),
            remedy: super::remedy_here(),
        }
    })
}

/// Whether the knob exists on this kernel. A path this process may not look up (EACCES on a
/// directory on the way) counts as present: the privilege check then says what is missing,
/// instead of calling the operation unsupported.
pub(crate) fn exists(path: &str) -> bool {
    !matches!(Path::new(path).try_exists(), Ok(false))
}
