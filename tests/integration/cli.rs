//! The command-line contract: arguments, exit codes, JSON keys. Nothing here changes the system.

use crate::util::{assert_exit, memdefrag, memdefrag_json, stderr, unsupported_op};

const ALL_OPS: [&str; 9] = [
    "working-sets",
    "system-working-set",
    "flush-volumes",
    "modified",
    "standby",
    "standby-low",
    "registry",
    "combine",
    "compact",
];

#[test]
fn ops_json_lists_every_operation_in_canonical_order() {
    let (out, ops) = memdefrag_json(&["ops", "--json"]);
    assert_exit(&out, 0);
    let ops = ops.as_array().expect("array");
    let names: Vec<&str> = ops.iter().map(|o| o["op"].as_str().unwrap()).collect();
    assert_eq!(names, ALL_OPS);
    for o in ops {
        assert!(o["supported"].is_boolean(), "{o}");
        assert!(
            o["kernel_call"].as_str().is_some_and(|s| !s.is_empty()),
            "{o}"
        );
        assert!(o["privilege"].is_string(), "{o}");
        if o["supported"] == false {
            assert!(o["reason"].as_str().is_some_and(|s| !s.is_empty()), "{o}");
        }
    }
}

#[test]
fn status_json_has_the_contract_keys_with_consistent_values() {
    let (out, s) = memdefrag_json(&["status", "--json"]);
    assert_exit(&out, 0);
    let get = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {s}"));
    let total = get("total_bytes");
    assert!(total > 0);
    for key in [
        "available_bytes",
        "free_bytes",
        "cache_bytes",
        "modified_bytes",
    ] {
        assert!(get(key) <= total, "{key} exceeds total: {s}");
    }
    assert_eq!(s["platform"], std::env::consts::OS);
}

#[test]
fn help_names_every_subcommand() {
    let out = memdefrag(&["--help"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["status", "defrag", "purge", "ops"] {
        assert!(text.contains(sub), "{sub}: {text}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["purge"][..],
        &["purge", "no-such-op"],
        &["purge", "standby", "--no-such-flag"],
        &["frobnicate"],
        &[],
    ] {
        let out = memdefrag(args);
        assert_exit(&out, 2);
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
    let out = memdefrag(&["purge", "standby", "no-such-op"]);
    let err = stderr(&out);
    assert!(err.contains("unknown operation 'no-such-op'"), "{err}");
    assert!(err.contains("working-sets"), "lists the valid names: {err}");
}

#[test]
fn an_unsupported_op_exits_3_with_a_json_error_when_asked() {
    let op = unsupported_op();
    let (out, v) = memdefrag_json(&["purge", &op, "--json"]);
    assert_exit(&out, 3);
    assert_eq!(v["error"]["exit_code"], 3);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&format!("'{op}'")), "{msg}");
    assert!(stderr(&out).contains(&format!("'{op}' is not supported here")));
}

#[test]
fn version_names_the_commit_and_the_target() {
    let out = memdefrag(&["--version"]);
    assert_exit(&out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    let expected_start = format!("memdefrag {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&expected_start), "{text}");
    assert!(
        text.trim_end()
            .ends_with(&format!(", {})", env!("MEMDEFRAG_TARGET"))),
        "{text}"
    );
    // Built from a git checkout, the commit is HEAD's (marked -dirty with uncommitted changes).
    #[cfg(target_os = "linux")]
    if let Ok(head) = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    {
        if head.status.success() {
            let head = String::from_utf8(head.stdout).unwrap();
            assert!(
                text.contains(&format!("(commit {}", head.trim())),
                "{text} is not HEAD {head}"
            );
        }
    }
}

#[test]
fn man_pages_cover_every_visible_subcommand_and_name_the_operations() {
    let dir = tempfile::tempdir().unwrap();
    let out = memdefrag(&["generate", "man", dir.path().to_str().unwrap()]);
    assert_exit(&out, 0);
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for page in [
        "memdefrag.1",
        "memdefrag-status.1",
        "memdefrag-purge.1",
        "memdefrag-watch.1",
        "memdefrag-metrics.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "{page} missing: {pages:?}");
    }
    assert!(
        !pages
            .iter()
            .any(|p| p.contains("generate") || p.contains("-run")),
        "hidden commands got pages: {pages:?}"
    );
    let purge = std::fs::read_to_string(dir.path().join("memdefrag-purge.1")).unwrap();
    assert!(purge.contains("standby\\-low"), "{purge}");
}

#[cfg(target_os = "linux")]
#[test]
fn bash_completes_operation_names_after_purge_and_in_ops() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("memdefrag.bash");
    let out = memdefrag(&["generate", "completions", "bash"]);
    assert_exit(&out, 0);
    std::fs::write(&script, &out.stdout).unwrap();
    // Drive the completion function as bash's programmable completion calls it.
    let complete = |words: &[&str]| -> Vec<String> {
        let line = words.join(" ");
        let program = format!(
            "source {}; COMP_WORDS=({line}); COMP_CWORD={}; COMP_LINE='{line}'; \
             COMP_POINT=${{#COMP_LINE}}; _memdefrag memdefrag {} {}; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        );
        crate::util::run_ok("bash", &["--norc", "-c", &program])
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        complete(&["memdefrag", "purge", "st"]),
        ["standby", "standby-low"]
    );
    assert_eq!(
        complete(&["memdefrag", "watch", "--ops", "st"]),
        ["standby", "standby-low"]
    );
    let commands = complete(&["memdefrag", "me"]);
    assert_eq!(commands, ["metrics"]);
}
