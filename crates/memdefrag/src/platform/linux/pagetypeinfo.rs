//! /proc/pagetypeinfo: free blocks per order for each zone and migrate type, and how many
//! pageblocks each migrate type holds (root only; the `procfs` crate has no parser for it).
//!
//! ```text
//! Page block order: 9
//! Pages per block:  512
//!
//! Free pages count per migrate type at order       0      1      2 …
//! Node    0, zone   Normal, type    Unmovable   1391   1150    796 …
//! Node    0, zone   Normal, type      Movable  16154   7260   1663 …
//!
//! Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate
//! Node 0, zone   Normal          111         3158          123            0            0
//! ```
//!
//! A free block lies on the free list of its pageblock's migrate type. Compaction moves only
//! movable pages, so small free blocks inside unmovable or reclaimable pageblocks stay small:
//! that is the free memory no compaction can turn into blocks a hypervisor takes back.
//!
//! # References
//! - [mm/vmstat.c](https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/mm/vmstat.c),
//!   `pagetypeinfo_show` (the format)
//! - [Documentation/admin-guide/mm/concepts.rst](https://docs.kernel.org/admin-guide/mm/concepts.html)

pub(crate) const PATH: &str = "/proc/pagetypeinfo";

/// As in buddyinfo: more orders than this mean the file is not what we think.
const MAX_ORDERS: usize = 32;

/// /proc/pagetypeinfo, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PageTypeInfo {
    /// The order of a pageblock (9 on x86-64: 2 MiB).
    pub pageblock_order: u32,
    /// Free blocks per order, for each zone and migrate type.
    pub free: Vec<FreeByType>,
    /// Pageblocks per migrate type, for each zone.
    pub blocks: Vec<BlocksByType>,
}

/// One row of the free-pages table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FreeByType {
    pub node: u32,
    pub zone: String,
    pub migrate_type: String,
    /// `free_blocks[i]` is the number of free blocks of 2^i pages.
    pub free_blocks: Vec<u64>,
}

/// One row of the pageblock table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlocksByType {
    pub node: u32,
    pub zone: String,
    /// (migrate type, pageblocks), in the header's order.
    pub blocks: Vec<(String, u64)>,
}

impl PageTypeInfo {
    /// Free memory in blocks smaller than 2^`order` pages, summed per migrate type over every
    /// zone, in pages, in the order the types first appear.
    pub(crate) fn free_pages_below_order(&self, order: usize) -> Vec<(String, u64)> {
        let mut sums: Vec<(String, u64)> = Vec::new();
        for row in &self.free {
            let pages = row
                .free_blocks
                .iter()
                .take(order)
                .enumerate()
                .map(|(i, &n)| n.saturating_mul(1 << i))
                .fold(0u64, u64::saturating_add);
            match sums.iter_mut().find(|(t, _)| *t == row.migrate_type) {
                Some((_, sum)) => *sum = sum.saturating_add(pages),
                None => sums.push((row.migrate_type.clone(), pages)),
            }
        }
        sums
    }
}

/// Parses the text of /proc/pagetypeinfo. Malformed input is an error, never a panic.
pub(crate) fn parse(text: &str) -> Result<PageTypeInfo, String> {
    let mut pageblock_order = None;
    let mut free = Vec::new();
    let mut blocks = Vec::new();
    let mut block_types: Option<Vec<String>> = None;
    for (i, line) in text.lines().enumerate() {
        let fail = |e: &str| format!("line {}: {e}: {line:?}", i + 1);
        if let Some(rest) = line.strip_prefix("Page block order:") {
            let order = rest.trim().parse::<u32>().map_err(|_| fail("bad order"))?;
            if order as usize >= MAX_ORDERS {
                return Err(fail("a pageblock order no kernel has"));
            }
            pageblock_order = Some(order);
        } else if let Some(rest) = line.strip_prefix("Number of blocks type") {
            block_types = Some(rest.split_whitespace().map(str::to_owned).collect());
        } else if line.starts_with("Node") {
            let (node, zone, rest) =
                node_and_zone(line).ok_or_else(|| fail("expected 'Node N, zone NAME'"))?;
            match (rest.strip_prefix(", type"), &block_types) {
                (Some(rest), _) => {
                    let mut words = rest.split_whitespace();
                    let migrate_type = words.next().ok_or_else(|| fail("no migrate type"))?;
                    let free_blocks = words
                        .map(str::parse::<u64>)
                        .collect::<Result<Vec<u64>, _>>()
                        .map_err(|_| fail("expected counts of free blocks"))?;
                    if free_blocks.is_empty() || free_blocks.len() > MAX_ORDERS {
                        return Err(fail("expected one count per order"));
                    }
                    free.push(FreeByType {
                        node,
                        zone,
                        migrate_type: migrate_type.to_owned(),
                        free_blocks,
                    });
                }
                (None, Some(types)) => {
                    let counts = rest
                        .split_whitespace()
                        .map(str::parse::<u64>)
                        .collect::<Result<Vec<u64>, _>>()
                        .map_err(|_| fail("expected counts of pageblocks"))?;
                    if counts.len() != types.len() {
                        return Err(fail("not one count per migrate type"));
                    }
                    blocks.push(BlocksByType {
                        node,
                        zone,
                        blocks: types.iter().cloned().zip(counts).collect(),
                    });
                }
                (None, None) => return Err(fail("a pageblock count before its header")),
            }
        }
    }
    let pageblock_order = pageblock_order.ok_or("no 'Page block order' line")?;
    if free.is_empty() {
        return Err("no free-pages table".into());
    }
    Ok(PageTypeInfo {
        pageblock_order,
        free,
        blocks,
    })
}

/// `Node    0, zone   Normal` and what follows the zone name.
fn node_and_zone(line: &str) -> Option<(u32, String, &str)> {
    let rest = line.strip_prefix("Node")?.trim_start();
    let (node, rest) = rest.split_once(',')?;
    let node = node.trim().parse::<u32>().ok()?;
    let rest = rest.trim_start().strip_prefix("zone")?.trim_start();
    let end = rest
        .find(|c: char| c == ',' || c.is_whitespace())
        .unwrap_or(rest.len());
    let (zone, rest) = rest.split_at(end);
    if zone.is_empty() {
        return None;
    }
    Some((node, zone.to_owned(), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($dir:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/proc/",
                $dir,
                "/pagetypeinfo"
            ))
        };
    }

    #[test]
    fn every_kernels_file_parses_and_agrees_with_its_block_table() {
        for (kernel, text, zones) in [
            ("6.1", fixture!("linux-6.1-x86_64-debian"), 2),
            ("6.12", fixture!("linux-6.12-x86_64-debian"), 2),
            ("6.18", fixture!("linux-6.18-x86_64"), 3),
        ] {
            let info = parse(text).unwrap_or_else(|e| panic!("{kernel}: {e}"));
            assert_eq!(info.pageblock_order, 9, "{kernel}");
            assert_eq!(info.blocks.len(), zones, "{kernel}");
            assert_eq!(
                info.free.len(),
                zones * 5,
                "{kernel}: five migrate types a zone"
            );
            for row in &info.free {
                assert_eq!(row.free_blocks.len(), 11, "{kernel}: orders 0 to 10");
            }
            let types: Vec<&str> = info.blocks[0]
                .blocks
                .iter()
                .map(|(t, _)| t.as_str())
                .collect();
            assert_eq!(
                types,
                [
                    "Unmovable",
                    "Movable",
                    "Reclaimable",
                    "HighAtomic",
                    "Isolate"
                ]
            );
        }
    }

    #[test]
    fn free_memory_below_an_order_is_summed_per_migrate_type() {
        let info = parse(fixture!("linux-6.18-x86_64")).unwrap();
        let below = info.free_pages_below_order(9);
        let unmovable = below.iter().find(|(t, _)| t == "Unmovable").unwrap().1;
        // DMA 1 block of order 8; DMA32 1 of order 0 and one each of orders 6, 7, 8; Normal
        // 1328·1 + 1150·2 + 796·4 + 751·8 + 342·16 + 75·32 + 65·64 + 58·128 + 20·256.
        let normal = 1328
            + 1150 * 2
            + 796 * 4
            + 751 * 8
            + 342 * 16
            + 75 * 32
            + 65 * 64
            + 58 * 128
            + 20 * 256;
        assert_eq!(unmovable, 256 + (1 + 64 + 128 + 256) + normal);
        assert_eq!(
            below.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
            [
                "Unmovable",
                "Movable",
                "Reclaimable",
                "HighAtomic",
                "Isolate"
            ]
        );
        // Order 0: nothing lies below it.
        assert!(info.free_pages_below_order(0).iter().all(|&(_, p)| p == 0));
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        for text in [
            "",
            "Page block order: x\n",
            "Page block order: 99\n",
            "Page block order: 9\n",
            "Page block order: 9\nNode 0, zone DMA, type Movable 1 two\n",
            "Page block order: 9\nNode 0, zone DMA, type Movable\n",
            "Page block order: 9\nNode x, zone DMA, type Movable 1\n",
            "Page block order: 9\nNode 0, zone DMA 1 2\n",
            "Page block order: 9\nNode 0, zone DMA, type Movable 1\nNumber of blocks type A B\nNode 0, zone DMA 1\n",
            "Page block order: 9\nNode 0,\n",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }
}
