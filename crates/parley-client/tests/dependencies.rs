//! The SDK's dependency boundary: wire types and an HTTP client, never the server, a database
//! driver or another Parley crate (ARCHITECTURE.md).

use std::collections::BTreeSet;
use std::process::Command;

/// Packages `parley-client` may never pull in as a normal (non-dev) dependency.
const FORBIDDEN: &[&str] = &[
    "axum",
    "rusqlite",
    "libsqlite3-sys",
    "tokio-postgres",
    "deadpool-postgres",
    "postgres-types",
    "jsonschema",
    "llama-cpp-2",
];

#[test]
fn the_sdk_depends_on_parley_types_and_no_server_or_database_crate() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--package",
            "parley-client",
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--locked",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let packages: BTreeSet<&str> = stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    for required in [
        "parley-client",
        "parley-types",
        "reqwest",
        "serde_json",
        "futures",
    ] {
        assert!(
            packages.contains(required),
            "{required} missing from {packages:?}"
        );
    }
    let forbidden: Vec<&&str> = packages
        .iter()
        .filter(|p| {
            FORBIDDEN.contains(p)
                || (p.starts_with("parley-") && !matches!(**p, "parley-client" | "parley-types"))
        })
        .collect();
    assert!(
        forbidden.is_empty(),
        "parley-client depends on {forbidden:?}"
    );
}
