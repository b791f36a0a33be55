//! The state of physical memory at one instant, in platform-neutral terms with a platform detail.

use serde::Serialize;

/// Memory state at one instant. All sizes are in bytes.
///
/// The five headline figures mean the same on every platform:
///
/// | field | Linux | Windows |
/// |---|---|---|
/// | `free_bytes` | MemFree | zeroed + free lists |
/// | `cache_bytes` | Cached + Buffers − Shmem | the standby lists |
/// | `modified_bytes` | Dirty + Writeback | the modified list |
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    /// "linux", "windows", or the name of an unsupported OS.
    pub platform: &'static str,
    /// Usable physical memory.
    pub total_bytes: u64,
    /// Memory available for new work without swapping (includes reclaimable cache).
    pub available_bytes: u64,
    /// Memory that holds nothing at all.
    pub free_bytes: u64,
    /// File cache that can be dropped or repurposed.
    pub cache_bytes: u64,
    /// File data changed in memory and not yet written back.
    pub modified_bytes: u64,
    /// Free blocks by size, where the platform exposes them (Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fragmentation: Option<Fragmentation>,
    /// Memory stall (pressure stall information), where the kernel has it (Linux 4.20+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressure: Option<Pressure>,
    /// Free memory the hypervisor can take back, in a VM guest with free page reporting
    /// (in JSON: `reportable_free_bytes` and `reportable_free_order`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub reportable_free: Option<ReportableFree>,
    /// The platform's own figures behind the headline ones.
    pub detail: Detail,
}

/// The share of time tasks stalled on memory (/proc/pressure/memory).
///
/// # References
/// - [PSI](https://docs.kernel.org/accounting/psi.html)
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Pressure {
    /// Some tasks stalled, over the last 10 s, in percent.
    pub some_avg10: f64,
    /// All non-idle tasks stalled, over the last 10 s, in percent.
    pub full_avg10: f64,
    /// Total time some tasks stalled since boot, in microseconds.
    pub some_total_us: u64,
    /// Total time all non-idle tasks stalled since boot, in microseconds.
    pub full_total_us: u64,
}

/// Free memory in blocks the guest reports to its hypervisor (virtio-balloon free page
/// reporting): blocks of 2^`order` pages or larger, which the host can take back.
///
/// # References
/// - [Free page reporting](https://docs.kernel.org/mm/free_page_reporting.html)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ReportableFree {
    /// `page_reporting_order`: the smallest block reported.
    #[serde(rename = "reportable_free_order")]
    pub order: u32,
    /// Free memory in blocks of that order or larger.
    #[serde(rename = "reportable_free_bytes")]
    pub bytes: u64,
}

/// The platform's own figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Detail {
    /// Figures from Linux's /proc/meminfo.
    Linux(LinuxMemory),
    /// Windows' memory lists and documented counters, with their sources.
    Windows(Box<WindowsMemory>),
    /// The platform gives nothing beyond the headline figures (serialized as `{}`).
    HeadlineOnly {},
}

/// Selected /proc/meminfo fields, in bytes.
///
/// # References
/// - [proc_meminfo(5)](https://man7.org/linux/man-pages/man5/proc_meminfo.5.html)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinuxMemory {
    /// MemTotal.
    pub mem_total: u64,
    /// MemFree.
    pub mem_free: u64,
    /// MemAvailable.
    pub mem_available: u64,
    /// Buffers.
    pub buffers: u64,
    /// Cached.
    pub cached: u64,
    /// Shmem.
    pub shmem: u64,
    /// Active(file).
    pub active_file: u64,
    /// Inactive(file).
    pub inactive_file: u64,
    /// Dirty.
    pub dirty: u64,
    /// Writeback.
    pub writeback: u64,
    /// Mapped.
    pub mapped: u64,
    /// AnonPages.
    pub anon_pages: u64,
    /// SReclaimable.
    pub slab_reclaimable: u64,
    /// SwapTotal.
    pub swap_total: u64,
    /// SwapFree.
    pub swap_free: u64,
}

impl LinuxMemory {
    /// File cache that `drop_caches` may free: the page cache without shmem (which is never
    /// dropped) and without dirty or in-flight pages (which must be written first).
    pub fn clean_cache(&self) -> u64 {
        (self.cached + self.buffers)
            .saturating_sub(self.shmem)
            .saturating_sub(self.dirty + self.writeback)
    }
}

/// Windows' figures, in bytes unless named otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WindowsMemory {
    /// The page size the list counts are multiplied by.
    pub page_size: u64,
    /// The memory lists, from NtQuerySystemInformation(SystemMemoryListInformation); absent when
    /// that query failed (not elevated, WOW64, Wine).
    pub memory_lists: Option<MemoryLists>,
    /// Why the memory-list query failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_lists_error: Option<String>,
    /// Committed memory and its limit (GetPerformanceInfo).
    pub commit_total_bytes: u64,
    /// The commit limit (GetPerformanceInfo).
    pub commit_limit_bytes: u64,
    /// The system cache: standby plus the system cache working set (GetPerformanceInfo).
    pub system_cache_bytes: u64,
    /// The system file cache working set (NtQuerySystemInformation(SystemFileCacheInformation)).
    pub file_cache_bytes: Option<u64>,
    /// Where each headline figure came from.
    pub sources: Sources,
}

/// The API each headline figure of a snapshot came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sources {
    /// The source of `total_bytes`.
    pub total_bytes: &'static str,
    /// The source of `available_bytes`.
    pub available_bytes: &'static str,
    /// The source of `free_bytes`.
    pub free_bytes: &'static str,
    /// The source of `cache_bytes`.
    pub cache_bytes: &'static str,
    /// The source of `modified_bytes`.
    pub modified_bytes: &'static str,
}

/// Windows' physical memory lists (SYSTEM_MEMORY_LIST_INFORMATION), in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoryLists {
    /// The zeroed page list.
    pub zeroed_bytes: u64,
    /// The free page list.
    pub free_bytes: u64,
    /// The modified page list.
    pub modified_bytes: u64,
    /// Modified pages that are not to be written.
    pub modified_no_write_bytes: u64,
    /// Modified pages bound for the page file.
    pub modified_page_file_bytes: u64,
    /// Pages marked bad.
    pub bad_bytes: u64,
    /// The standby list by priority, 0 (repurposed first) to 7.
    pub standby_bytes_by_priority: [u64; 8],
    /// Standby pages repurposed since boot, by priority (a count of pages).
    pub repurposed_pages_by_priority: [u64; 8],
}

impl MemoryLists {
    /// The whole standby list.
    pub fn standby_bytes(&self) -> u64 {
        // Saturating: the figures come from the kernel, and a sum must not panic on any.
        self.standby_bytes_by_priority
            .iter()
            .fold(0, |sum, &b| sum.saturating_add(b))
    }
}

/// Free memory by block size: how much of it can serve a large contiguous allocation.
///
/// # References
/// - [proc_buddyinfo(5)](https://man7.org/linux/man-pages/man5/proc_buddyinfo.5.html)
/// - Mel Gorman, "Measuring the impact of external fragmentation" (unusable free space index).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fragmentation {
    /// Fraction of free memory (0..1) that cannot serve an order-9 (2 MiB with 4 KiB pages)
    /// allocation, over all zones.
    pub unusable_index_order9: f64,
    /// Size of an order-0 block.
    pub page_size: u64,
    /// Free blocks per order, per zone.
    pub zones: Vec<ZoneFreeBlocks>,
}

/// One row of /proc/buddyinfo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneFreeBlocks {
    /// The NUMA node.
    pub node: u32,
    /// The zone: DMA, DMA32, Normal, Movable, …
    pub zone: String,
    /// `free_blocks[i]` is the number of free blocks of 2^i pages.
    pub free_blocks: Vec<u64>,
}

impl Fragmentation {
    /// How many orders the zones list (11 on most kernels: 0 to 10).
    pub fn orders(&self) -> usize {
        self.zones
            .iter()
            .map(|z| z.free_blocks.len())
            .max()
            .unwrap_or(0)
    }

    /// Builds the summary for `zones`, computing the order-9 index.
    pub fn new(page_size: u64, zones: Vec<ZoneFreeBlocks>) -> Fragmentation {
        let unusable_index_order9 = unusable_free_index(&zones, 9);
        Fragmentation {
            unusable_index_order9,
            page_size,
            zones,
        }
    }

    /// Free memory in blocks of 2^`order` pages or larger, over all zones, in bytes.
    pub fn free_bytes_from_order(&self, order: usize) -> u64 {
        let pages = sum(self.zones.iter().map(|z| free_pages(&z.free_blocks, order)));
        pages.saturating_mul(self.page_size)
    }

    /// Free memory over all zones, in bytes.
    pub fn free_bytes(&self) -> u64 {
        let pages = sum(self.zones.iter().map(|z| free_pages(&z.free_blocks, 0)));
        pages.saturating_mul(self.page_size)
    }
}

/// Pages held in free blocks of order `min_order` or larger.
fn free_pages(free_blocks: &[u64], min_order: usize) -> u64 {
    free_blocks
        .iter()
        .enumerate()
        .skip(min_order)
        .map(|(order, &n)| n.saturating_mul(1u64.checked_shl(order as u32).unwrap_or(u64::MAX)))
        .fold(0, u64::saturating_add)
}

fn sum(pages: impl Iterator<Item = u64>) -> u64 {
    pages.fold(0, u64::saturating_add)
}

/// The unusable free space index at `order` over `zones`: the share of free pages that sit in
/// blocks too small for an allocation of 2^order pages. With no free memory at all, every
/// allocation fails, so the index is 1 (as the kernel's own computation gives).
pub fn unusable_free_index(zones: &[ZoneFreeBlocks], order: usize) -> f64 {
    let free = sum(zones.iter().map(|z| free_pages(&z.free_blocks, 0)));
    if free == 0 {
        return 1.0;
    }
    let suitable = sum(zones.iter().map(|z| free_pages(&z.free_blocks, order)));
    (free - suitable) as f64 / free as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(blocks: &[u64]) -> ZoneFreeBlocks {
        ZoneFreeBlocks {
            node: 0,
            zone: "Normal".into(),
            free_blocks: blocks.to_vec(),
        }
    }

    #[test]
    fn index_is_zero_when_all_free_memory_is_in_large_blocks() {
        let zones = [zone(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5])];
        assert_eq!(unusable_free_index(&zones, 9), 0.0);
    }

    #[test]
    fn index_is_one_when_all_free_memory_is_in_small_blocks() {
        let zones = [zone(&[100, 50, 7, 0, 0, 0, 0, 0, 1, 0, 0])];
        assert_eq!(unusable_free_index(&zones, 9), 1.0);
    }

    #[test]
    fn index_weighs_blocks_by_their_size_across_zones() {
        // 512 single pages in one zone, one order-9 block (512 pages) in another: half unusable.
        let zones = [zone(&[512]), zone(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1])];
        assert_eq!(unusable_free_index(&zones, 9), 0.5);
        assert_eq!(unusable_free_index(&zones, 0), 0.0);
    }

    #[test]
    fn index_with_no_free_memory_is_one() {
        assert_eq!(unusable_free_index(&[zone(&[0, 0, 0])], 9), 1.0);
        assert_eq!(unusable_free_index(&[], 9), 1.0);
    }

    #[test]
    fn free_bytes_sums_every_order() {
        let f = Fragmentation::new(4096, vec![zone(&[1, 1, 1]), zone(&[0, 0, 0, 2])]);
        assert_eq!(f.free_bytes(), (1 + 2 + 4 + 16) * 4096);
    }

    #[test]
    fn free_bytes_from_an_order_count_only_large_blocks() {
        let f = Fragmentation::new(4096, vec![zone(&[5, 0, 1, 0]), zone(&[0, 0, 0, 2])]);
        assert_eq!(f.free_bytes_from_order(2), (4 + 16) * 4096);
        assert_eq!(f.free_bytes_from_order(0), (5 + 4 + 16) * 4096);
        assert_eq!(f.free_bytes_from_order(9), 0);
    }

    #[test]
    fn clean_cache_excludes_shmem_and_dirty_pages() {
        let m = LinuxMemory {
            cached: 1000,
            buffers: 100,
            shmem: 200,
            dirty: 50,
            writeback: 10,
            ..LinuxMemory::default()
        };
        assert_eq!(m.clean_cache(), 840);
        let odd = LinuxMemory {
            cached: 10,
            shmem: 20,
            ..LinuxMemory::default()
        };
        assert_eq!(odd.clean_cache(), 0);
    }
}
