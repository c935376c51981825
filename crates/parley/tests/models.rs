//! `parley models` as a user runs it: list, an idempotent pull into the real models directory,
//! and the embedded-model benchmark.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_parley");

fn parley(args: &[&str]) -> Output {
    let output = Command::new(BIN).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "parley {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn list_shows_missing_files_in_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap();
    let listed = stdout(&parley(&["models", "list", "--models-dir", dir]));
    assert!(
        listed.contains(&format!("models directory: {dir}")),
        "{listed}"
    );
    for file in [
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "model.safetensors",
        "tokenizer.json",
    ] {
        let line = listed
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} not listed: {listed}"));
        assert!(line.ends_with("missing"), "{line}");
    }
}

/// Pulls into the default models directory (as the embedded-model tests do): downloads what is
/// missing once per machine; the second pull only verifies.
#[test]
fn a_second_pull_verifies_and_downloads_nothing() {
    parley(&["models", "pull"]);
    let again = stdout(&parley(&["models", "pull"]));
    for id in ["smollm2-135m-instruct", "all-minilm-l6-v2"] {
        let line = again
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} not reported: {again}"));
        assert!(line.ends_with("already present, verified"), "{line}");
    }
    let listed = stdout(&parley(&["models", "list"]));
    assert_eq!(
        listed.matches("ok (sha256 verified)").count(),
        3,
        "{listed}"
    );

    let bench = stdout(&parley(&[
        "models",
        "bench",
        "--prompt-tokens",
        "64",
        "--max-tokens",
        "8",
        "--runs",
        "1",
    ]));
    for label in ["load:", "prompt:", "time to first token:", "generation:"] {
        assert!(bench.contains(label), "{label} missing: {bench}");
    }
}
