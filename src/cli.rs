//! The command line: what the user can ask for. Parsing only; nothing platform-specific.

use clap::{Args, Parser, Subcommand};
use memdefrag::Op;

/// Free and defragment physical memory by asking the kernel to do it.
///
/// memdefrag makes the kernel's own calls (the NT memory-list API on Windows; sync, drop_caches,
/// memory.reclaim, process_madvise and compact_memory on Linux) instead of allocating memory
/// until the system evicts everything else.
#[derive(Debug, Parser)]
#[command(name = "memdefrag", version, max_term_width = 100)]
pub(crate) struct Cli {
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show the memory state now.
    Status,
    /// Run this platform's default plan (Linux: modified, standby, system-working-set, compact).
    Defrag {
        #[command(flatten)]
        run: RunOptions,
    },
    /// Run the given operations, in canonical order.
    Purge {
        /// Operations to run; `memdefrag ops` lists them.
        #[arg(value_name = "OP", required = true, value_parser = parse_op)]
        ops: Vec<Op>,
        #[command(flatten)]
        run: RunOptions,
    },
    /// List every operation: whether it is supported here, its kernel call and its privilege.
    Ops,
}

#[derive(Debug, Args)]
pub(crate) struct RunOptions {
    /// Show the plan, each kernel call and an estimate of what it would release; change nothing.
    /// Needs no privilege.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_op(s: &str) -> Result<Op, String> {
    s.parse::<Op>().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn purge_takes_several_ops_and_rejects_unknown_ones() {
        let cli =
            Cli::try_parse_from(["memdefrag", "purge", "standby", "modified", "--json"]).unwrap();
        assert!(cli.json);
        match cli.command {
            Command::Purge { ops, run } => {
                assert_eq!(ops, vec![Op::Standby, Op::Modified]);
                assert!(!run.dry_run);
            }
            other => panic!("{other:?}"),
        }
        let before = Cli::try_parse_from(["memdefrag", "--json", "status"]).unwrap();
        assert!(before.json, "--json before the subcommand");
        let err = Cli::try_parse_from(["memdefrag", "purge", "standby", "bogus"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("unknown operation 'bogus'"),
            "{err}"
        );
        let err = Cli::try_parse_from(["memdefrag", "purge"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
