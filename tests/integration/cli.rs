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
