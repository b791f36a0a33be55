//! The vocabulary: every memory operation memdefrag knows, its CLI name and its canonical order.
//!
//! The names are part of the command-line contract and of the JSON report. Each platform decides
//! for itself whether it supports an operation and which kernel call implements it
//! (the backend's `describe`).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// One memory operation.
///
/// The declaration order is the canonical order: trim working sets first (pages move to the
/// modified and standby lists), then flush modified pages (they become clean standby pages),
/// then purge the standby lists, and finally combine and compact what is left. `Ord` follows
/// it, so sorting a list of operations puts it in canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// Empty the working set of every process.
    WorkingSets,
    /// Trim the system working set (Windows: the system file cache; Linux: reclaimable slab).
    SystemWorkingSet,
    /// Flush the buffers of every volume.
    FlushVolumes,
    /// Write the modified (dirty) page list back to disk.
    Modified,
    /// Purge the standby list (clean page cache).
    Standby,
    /// Purge only the lowest-priority standby pages.
    StandbyLow,
    /// Flush the registry cache.
    Registry,
    /// Combine identical physical pages.
    Combine,
    /// Compact physical memory so that free memory forms large contiguous blocks.
    Compact,
}

impl Op {
    /// Every operation, in canonical order.
    pub const ALL: [Op; 9] = [
        Op::WorkingSets,
        Op::SystemWorkingSet,
        Op::FlushVolumes,
        Op::Modified,
        Op::Standby,
        Op::StandbyLow,
        Op::Registry,
        Op::Combine,
        Op::Compact,
    ];

    /// The name used on the command line and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Op::WorkingSets => "working-sets",
            Op::SystemWorkingSet => "system-working-set",
            Op::FlushVolumes => "flush-volumes",
            Op::Modified => "modified",
            Op::Standby => "standby",
            Op::StandbyLow => "standby-low",
            Op::Registry => "registry",
            Op::Combine => "combine",
            Op::Compact => "compact",
        }
    }

    /// One line on what the operation does, independent of the platform.
    pub const fn summary(self) -> &'static str {
        match self {
            Op::WorkingSets => "empty the working set of every process",
            Op::SystemWorkingSet => "trim the system working set / reclaimable kernel caches",
            Op::FlushVolumes => "flush the buffers of every volume",
            Op::Modified => "write modified (dirty) pages back to disk",
            Op::Standby => "purge the standby list (clean page cache)",
            Op::StandbyLow => "purge the lowest-priority standby pages",
            Op::Registry => "flush the registry cache",
            Op::Combine => "combine identical memory pages",
            Op::Compact => "compact free memory into large contiguous blocks",
        }
    }

    /// Sorts `ops` into canonical order and drops repeats.
    pub fn canonical(ops: impl IntoIterator<Item = Op>) -> Vec<Op> {
        let mut ops: Vec<Op> = ops.into_iter().collect();
        ops.sort_unstable();
        ops.dedup();
        ops
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl Serialize for Op {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// The error for a name that is not an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation '{name}'; expected one of: {}", Op::ALL.map(Op::name).join(", "))]
pub struct UnknownOp {
    /// The name that was given.
    pub name: String,
}

impl FromStr for Op {
    type Err = UnknownOp;

    fn from_str(s: &str) -> Result<Op, UnknownOp> {
        Op::ALL
            .into_iter()
            .find(|op| op.name() == s)
            .ok_or_else(|| UnknownOp { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for op in Op::ALL {
            assert_eq!(op.name().parse::<Op>(), Ok(op));
            assert_eq!(op.to_string(), op.name());
        }
    }

    #[test]
    fn all_is_in_declaration_order() {
        let mut sorted = Op::ALL;
        sorted.sort();
        assert_eq!(sorted, Op::ALL);
    }

    #[test]
    fn canonical_sorts_and_dedups() {
        let ops = Op::canonical([Op::Compact, Op::Standby, Op::WorkingSets, Op::Standby]);
        assert_eq!(ops, vec![Op::WorkingSets, Op::Standby, Op::Compact]);
    }

    #[test]
    fn unknown_names_are_rejected_with_the_list() {
        let err = "standby-list".parse::<Op>().unwrap_err();
        assert_eq!(err.name, "standby-list");
        let msg = err.to_string();
        assert!(msg.contains("'standby-list'"), "{msg}");
        assert!(msg.contains("working-sets, system-working-set"), "{msg}");
        assert!("Standby".parse::<Op>().is_err(), "names are case-sensitive");
    }

    #[test]
    fn serializes_as_its_name() {
        assert_eq!(
            serde_json::to_string(&Op::StandbyLow).unwrap(),
            "\"standby-low\""
        );
    }
}
