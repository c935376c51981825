//! The examples, run as a user runs them (`TELNYX_API_KEY`, `TELNYX_BASE_URL`, ids as
//! arguments) against a spawned server.
//!
//! `cargo test` builds the examples next to the tests; when this test is run alone and the
//! example binaries are missing or older than the sources, it builds them first.

mod common;

use common::{Backend, TestServer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

/// `target/<profile>/examples`, next to `target/<profile>/deps` where this test runs from.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .join("examples")
}

fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let modified = if path.is_dir() {
            newest_source(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH)
        };
        newest = newest.max(modified);
    }
    newest
}

/// Builds the examples unless every binary is newer than every source it is built from.
fn ensure_examples_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let sources = [
            crate_dir.join("src"),
            crate_dir.join("examples"),
            crate_dir.join("../parley-types/src"),
        ]
        .iter()
        .map(|d| newest_source(d))
        .max()
        .unwrap();
        let fresh = std::fs::read_dir(crate_dir.join("examples"))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e
                    .file_name()
                    .to_string_lossy()
                    .strip_suffix(".rs")?
                    .to_owned();
                Some(name)
            })
            .all(|name| {
                std::fs::metadata(examples_dir().join(name))
                    .and_then(|m| m.modified())
                    .is_ok_and(|built| built >= sources)
            });
        if !fresh {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-p", "parley-client", "--examples"])
                .current_dir(crate_dir)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "the examples build");
        }
    });
}

/// Runs an example; its success, stdout and stderr.
fn run(server: &TestServer, example: &str, args: &[&str]) -> (bool, String, String) {
    ensure_examples_built();
    let output = Command::new(examples_dir().join(example))
        .args(args)
        .env("TELNYX_API_KEY", &server.key)
        .env("TELNYX_BASE_URL", &server.base_url)
        .env_remove("TELNYX_CUSTOM_HEADERS")
        .output()
        .unwrap_or_else(|e| panic!("example {example} runs: {e}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs an example that must succeed and print JSON.
fn run_json(server: &TestServer, example: &str, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = run(server, example, args);
    assert!(ok, "{example} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{example} printed {stdout:?}: {e}"))
}

#[test]
fn the_examples_work_against_parley() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // With an upstream for every model name: the guide's assistant names the model "model",
    // which the server refuses unless something serves it.
    let server = runtime.block_on(TestServer::spawn_with_llm(Backend::Sqlite, vec![]));

    let created = run_json(&server, "create_assistant", &[]);
    assert_eq!(created["name"], "name");
    assert_eq!(created["model"], "model");
    let id = created["id"].as_str().unwrap().to_owned();
    let first_version = created["version_id"].as_str().unwrap().to_owned();

    let listed = run_json(&server, "list_assistants", &[]);
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(
        run_json(&server, "retrieve_assistant", &[&id])["id"],
        id.as_str()
    );
    let updated = run_json(&server, "update_assistant", &[&id]);
    assert_ne!(updated["version_id"], first_version.as_str());
    let versions = run_json(&server, "list_versions", &[&id]);
    assert_eq!(versions["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        run_json(&server, "retrieve_version", &[&id, &first_version])["version_id"],
        first_version.as_str()
    );

    // The canary deploy serves the former main version to 1 % of conversations.
    let canary = run_json(&server, "create_canary_deploy", &[&id, &first_version]);
    assert_eq!(canary["rules"][0]["serve"]["rollout"][0]["weight"], 1.0);
    assert_eq!(
        run_json(&server, "retrieve_canary_deploy", &[&id])["assistant_id"],
        id.as_str()
    );
    let (ok, stdout, stderr) = run(&server, "delete_canary_deploy", &[&id]);
    assert!(
        ok && stdout.contains("deleted the canary deploy"),
        "{stderr}"
    );

    let clone = run_json(&server, "clone_assistant", &[&id]);
    assert_eq!(clone["name"], "name (Clone)");
    let (ok, texml, stderr) = run(&server, "get_texml", &[&id]);
    assert!(
        ok && texml.contains(&format!("<AIAssistant id=\"{id}\"/>")),
        "{stderr}"
    );

    let integrations = run_json(&server, "list_integrations", &[]);
    assert!(integrations["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["id"] == "hubspot"));
    assert_eq!(
        run_json(&server, "retrieve_integration", &["hubspot"])["status"],
        "disconnected"
    );
    assert_eq!(
        run_json(&server, "list_connections", &[])["data"],
        serde_json::json!([])
    );

    let mcp = run_json(
        &server,
        "create_mcp_server",
        &["Docs", "sse", "https://mcp.example.com/sse"],
    );
    let mcp_id = mcp["id"].as_str().unwrap().to_owned();
    assert_eq!(
        run_json(&server, "list_mcp_servers", &[])[0]["id"],
        mcp_id.as_str()
    );
    assert_eq!(
        run_json(&server, "update_mcp_server", &[&mcp_id])["name"],
        "Docs"
    );
    let (ok, _, stderr) = run(&server, "delete_mcp_server", &[&mcp_id]);
    assert!(ok, "{stderr}");

    let deleted = run_json(&server, "delete_assistant", &[&id]);
    assert_eq!(deleted["deleted"], true);

    // Errors: a missing assistant, and the seed's placeholder values, fail with the status.
    let (ok, _, stderr) = run(&server, "retrieve_assistant", &[&id]);
    assert!(!ok && stderr.contains("404"), "{stderr}");
    let (ok, _, stderr) = run(&server, "create_mcp_server", &[]);
    assert!(!ok && stderr.contains("422"), "{stderr}");
    drop(server);
}

/// The JSON documents an example printed one after the other, and the text after them.
fn json_documents(stdout: &str) -> (Vec<Value>, String) {
    let mut documents = serde_json::Deserializer::from_str(stdout).into_iter::<Value>();
    let mut values = Vec::new();
    let mut rest = 0;
    while let Some(Ok(value)) = documents.next() {
        values.push(value);
        rest = documents.byte_offset();
    }
    (values, stdout[rest..].trim().to_owned())
}

#[test]
fn the_chat_and_conversations_examples_work_against_parley() {
    use parley_client::types::assistants::AssistantCreateParams;
    use parley_llm::test_support::Reply;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::spawn_with_llm(
        Backend::Sqlite,
        vec![
            Reply::text("Why did the cat sit on the computer?"),
            Reply::text("To keep an eye on the mouse."),
        ],
    ));
    let assistant = runtime
        .block_on(
            server
                .client
                .ai()
                .assistants()
                .create(&AssistantCreateParams {
                    name: "Jester".into(),
                    instructions: "Tell jokes.".into(),
                    model: Some("scripted/model".into()),
                    ..Default::default()
                }),
        )
        .unwrap();
    let conversation = parley_client::new_conversation_id();

    let (ok, stdout, stderr) = run(&server, "chat", &[&assistant.id, &conversation]);
    assert!(ok, "chat failed: {stderr}");
    let (documents, streamed) = json_documents(&stdout);
    assert_eq!(
        documents,
        [serde_json::json!({"content": "Why did the cat sit on the computer?"})]
    );
    assert_eq!(
        streamed,
        format!("To keep an eye on the mouse.\n(conversation {conversation})")
    );

    let (ok, stdout, stderr) = run(&server, "conversations", &[&assistant.id]);
    assert!(ok, "conversations failed: {stderr}");
    let (documents, rest) = json_documents(&stdout);
    assert_eq!(rest, "");
    let [listed, messages] = &documents[..] else {
        panic!("two documents expected: {stdout}");
    };
    assert_eq!(listed["data"][0]["id"], conversation.as_str());
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    let texts: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Where is my order?", "It ships tomorrow."]);
    // The imported conversation was deleted again.
    let all = runtime
        .block_on(server.client.ai().conversations().list(&Default::default()))
        .unwrap();
    assert_eq!(all.data.len(), 1);

    // A missing assistant fails with the status.
    let (ok, _, stderr) = run(&server, "chat", &["assistant-missing"]);
    assert!(!ok && stderr.contains("404"), "{stderr}");
    drop(server);
    drop(runtime);
}
