//! A memory cgroup of the benchmark's own (v2 where the memory controller is there, else v1),
//! limited in size, removed on drop — also when the benchmark fails.

use std::path::{Path, PathBuf};

pub struct MemoryCgroup {
    path: PathBuf,
    version: u8,
    /// The root's `cgroup.subtree_control` had no memory controller and we enabled it.
    enabled_controller: bool,
}

/// Where the benchmark's cgroups live; `scripts/bench` removes leftovers after a crash.
pub const NAME_PREFIX: &str = "memdefrag-bench-";

impl MemoryCgroup {
    /// Creates a cgroup limited to `limit` bytes of memory.
    pub fn create(limit: u64) -> Result<MemoryCgroup, String> {
        let name = format!("{NAME_PREFIX}{}", std::process::id());
        let v2_root = Path::new("/sys/fs/cgroup");
        let v2_controllers =
            std::fs::read_to_string(v2_root.join("cgroup.controllers")).unwrap_or_default();
        let mut enabled_controller = false;
        let (path, version, limit_file) =
            if v2_controllers.split_whitespace().any(|c| c == "memory") {
                let subtree = std::fs::read_to_string(v2_root.join("cgroup.subtree_control"))
                    .unwrap_or_default();
                if !subtree.split_whitespace().any(|c| c == "memory") {
                    std::fs::write(v2_root.join("cgroup.subtree_control"), "+memory")
                        .map_err(|e| format!("enable the memory controller: {e}"))?;
                    enabled_controller = true;
                }
                (v2_root.join(&name), 2, "memory.max")
            } else if Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
                (
                    Path::new("/sys/fs/cgroup/memory").join(&name),
                    1,
                    "memory.limit_in_bytes",
                )
            } else {
                return Err("no memory cgroup controller (v1 or v2) is mounted".into());
            };
        std::fs::create_dir(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
        let cgroup = MemoryCgroup {
            path,
            version,
            enabled_controller,
        };
        if version == 2 {
            // Without swap this is moot, but keep the squeezer honest where swap exists.
            let _ = std::fs::write(cgroup.path.join("memory.swap.max"), "0");
        }
        std::fs::write(cgroup.path.join(limit_file), limit.to_string())
            .map_err(|e| format!("set {limit_file}: {e}"))?;
        Ok(cgroup)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn version(&self) -> u8 {
        self.version
    }

    /// Moves the calling process into the cgroup at `path`.
    pub fn join(path: &Path) {
        std::fs::write(path.join("cgroup.procs"), std::process::id().to_string())
            .unwrap_or_else(|e| panic!("join {}: {e}", path.display()));
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // Its processes have exited by now; the cache charged to it is moved to the parent.
        let removed = (0..50).any(|_| {
            let gone = std::fs::remove_dir(&self.path).is_ok() || !self.path.exists();
            if !gone {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            gone
        });
        if !removed {
            eprintln!("memdefrag-bench: could not remove {}", self.path.display());
        }
        if self.enabled_controller {
            // Put the root back as it was (this fails harmlessly if other cgroups use it now).
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "-memory");
        }
    }
}
