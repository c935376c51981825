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
    run_at(&server.base_url, &server.key, example, args)
}

/// Runs an example against the API at `base_url` with this key.
fn run_at(base_url: &str, key: &str, example: &str, args: &[&str]) -> (bool, String, String) {
    ensure_examples_built();
    let output = Command::new(examples_dir().join(example))
        .args(args)
        .env("TELNYX_API_KEY", key)
        .env("TELNYX_BASE_URL", base_url)
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
    let second_version = updated["version_id"].as_str().unwrap().to_owned();
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
    let replaced = run_json(&server, "update_canary_deploy", &[&id, &first_version]);
    assert_eq!(
        replaced["rules"][0]["serve"]["rollout"][0]["version_id"],
        first_version.as_str()
    );
    let (ok, stdout, stderr) = run(&server, "delete_canary_deploy", &[&id]);
    assert!(
        ok && stdout.contains("deleted the canary deploy"),
        "{stderr}"
    );

    // The former main version is a draft: edited in place, promoted, and the other deleted.
    let edited = run_json(&server, "update_version", &[&id, &first_version]);
    assert_eq!(edited["version_id"], first_version.as_str());
    let promoted = run_json(&server, "promote_version", &[&id, &first_version]);
    assert_eq!(promoted["version_id"], first_version.as_str());
    let (ok, _, stderr) = run(&server, "delete_version", &[&id, &second_version]);
    assert!(ok, "{stderr}");
    assert_eq!(
        run_json(&server, "list_versions", &[&id])["data"]
            .as_array()
            .unwrap()
            .len(),
        1
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
    let connection = runtime
        .block_on(async {
            use parley_client::types::integration_secrets::IntegrationSecretCreateParams;
            use parley_client::types::integrations::IntegrationConnectionCreateParams;
            server
                .client
                .integration_secrets()
                .create(&IntegrationSecretCreateParams::bearer("crm-token", "t"))
                .await?;
            server
                .client
                .ai()
                .integrations()
                .connections()
                .create(&IntegrationConnectionCreateParams {
                    integration_id: "hubspot".into(),
                    api_key_ref: "crm-token".into(),
                    ..Default::default()
                })
                .await
        })
        .unwrap();
    assert_eq!(
        run_json(&server, "retrieve_connection", &[&connection.id])["integration_id"],
        "hubspot"
    );
    let (ok, _, stderr) = run(&server, "delete_connection", &[&connection.id]);
    assert!(ok, "{stderr}");

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
        run_json(&server, "retrieve_mcp_server", &[&mcp_id])["url"],
        "https://mcp.example.com/sse"
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

/// A local server playing Vapi (one assistant), the carrier's messaging API and an order
/// webhook, for the examples that reach outside Parley.
async fn outside_world() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::json;

    let agent = json!({
        "id": "vapi-agent-1", "orgId": "org-1", "name": "Booking Bot",
        "createdAt": "2024-06-03T09:00:00.000Z", "updatedAt": "2024-06-04T09:00:00.000Z",
        "firstMessage": "Hi, this is Bella.",
        "model": {"provider": "openai", "model": "gpt-4o",
                  "messages": [{"role": "system", "content": "You take table bookings."}]}
    });
    let listed = agent.clone();
    let app = Router::new()
        .route(
            "/assistant",
            get(move |uri: axum::http::Uri| {
                let listed = listed.clone();
                async move {
                    let older = uri.query().unwrap_or_default().contains("createdAtLt");
                    Json(if older { json!([]) } else { json!([listed]) })
                }
            }),
        )
        .route(
            "/assistant/vapi-agent-1",
            get(move || async move { Json(agent) }),
        )
        .route(
            "/v2/messages",
            post(|Json(body): Json<Value>| async move {
                Json(
                    json!({"data": {"id": "msg-1", "type": "SMS", "text": body["text"],
                                     "to": [{"phone_number": body["to"], "status": "queued"}]}}),
                )
            }),
        )
        .route(
            "/orders",
            post(|| async { Json(json!({"order": "42", "status": "shipped"})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[test]
fn the_sms_import_events_tests_and_tools_examples_work_against_parley() {
    use parley_client::types::assistant_tests::TestUpdateParams;
    use parley_client::types::assistants::AssistantCreateParams;
    use parley_client::types::integration_secrets::IntegrationSecretCreateParams;
    use parley_llm::test_support::{Reply, ScriptedServer};
    use serde_json::json;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (outside, _task) = runtime.block_on(outside_world());
    let llm = runtime.block_on(ScriptedServer::start(vec![]));
    llm.repeat(Reply::Echo);
    let llm_url = llm.base_url();
    let server = runtime.block_on(TestServer::spawn_with(Backend::Sqlite, |settings| {
        settings.llm.embedded = false;
        settings.llm.upstream_base_url = Some(llm_url);
        settings.allow_private_network = true;
        settings.import.vapi_url = outside.clone();
        settings.carrier.api_url = format!("{outside}/v2");
        settings.carrier.api_key = Some("KEY-telnyx".into());
        settings.carrier.messaging_profile_id = Some("profile-default".into());
    }));
    let client = &server.client;
    let assistant = runtime
        .block_on(client.ai().assistants().create(&AssistantCreateParams {
            name: "Shop".into(),
            instructions: "Help with orders.".into(),
            model: Some("scripted/model".into()),
            tools: Some(vec![json!({"type": "webhook", "webhook": {
                "name": "order_status", "description": "Looks up an order.",
                "url": format!("{outside}/orders"), "method": "POST"}})]),
            ..Default::default()
        }))
        .unwrap()
        .id;
    runtime
        .block_on(
            client
                .integration_secrets()
                .create(&IntegrationSecretCreateParams::bearer("vapi-key", "k")),
        )
        .unwrap();
    let (agent, user) = ("+13125550100", "+13125550199");

    let sent = run_json(&server, "send_sms", &[&assistant, agent, user]);
    assert!(sent["conversation_id"].is_string(), "{sent}");
    let imported = run_json(&server, "import_assistants", &["vapi-key", "vapi"]);
    assert_eq!(imported["data"][0]["name"], "Booking Bot");

    let event = run_json(
        &server,
        "create_scheduled_event",
        &[&assistant, "2099-04-15T13:00:00Z", "sms_chat", agent, user],
    );
    let event_id = event["scheduled_event_id"].as_str().unwrap().to_owned();
    assert_eq!(event["text"], "Your appointment is tomorrow at 10.");
    assert_eq!(
        run_json(&server, "list_scheduled_events", &[&assistant])["data"][0]["scheduled_event_id"],
        event_id.as_str()
    );
    assert_eq!(
        run_json(
            &server,
            "retrieve_scheduled_event",
            &[&assistant, &event_id]
        )["status"],
        "pending"
    );
    let (ok, stdout, stderr) = run(&server, "delete_scheduled_event", &[&assistant, &event_id]);
    assert!(ok && stdout.contains(&event_id), "{stderr}");

    let test = run_json(&server, "create_test", &[&assistant]);
    assert_eq!(test["name"], "Customer Support Bot Test");
    assert_eq!(test["rubric"].as_array().unwrap().len(), 2);
    let test_id = test["test_id"].as_str().unwrap().to_owned();
    assert_eq!(
        run_json(&server, "list_tests", &[])["data"][0]["test_id"],
        test_id.as_str()
    );
    assert_eq!(
        run_json(&server, "retrieve_test", &[&test_id])["test_id"],
        test_id.as_str()
    );
    assert_eq!(
        run_json(&server, "update_test", &[&test_id])["name"],
        "Customer Support Bot Test"
    );
    assert_eq!(
        run_json(&server, "list_test_suites", &[])["data"],
        json!([])
    );
    runtime
        .block_on(client.ai().assistants().tests().update(
            &test_id,
            &TestUpdateParams {
                test_suite: Some("smoke".into()),
                ..Default::default()
            },
        ))
        .unwrap();
    assert_eq!(
        run_json(&server, "list_test_suites", &[])["data"],
        json!(["smoke"])
    );
    let suite_runs = run_json(&server, "trigger_test_suite_runs", &["smoke"]);
    assert_eq!(suite_runs[0]["test_id"], test_id.as_str());
    assert_eq!(
        run_json(&server, "list_test_suite_runs", &["smoke"])["data"][0]["test_id"],
        test_id.as_str()
    );
    let run_id = run_json(&server, "trigger_test_run", &[&test_id])["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        run_json(&server, "list_test_runs", &[&test_id])["meta"]["total_results"],
        2
    );
    assert_eq!(
        run_json(&server, "retrieve_test_run", &[&test_id, &run_id])["run_id"],
        run_id.as_str()
    );
    let (ok, stdout, stderr) = run(&server, "delete_test", &[&test_id]);
    assert!(ok && stdout.contains(&test_id), "{stderr}");

    let tested = run_json(&server, "test_tool", &[&assistant, "order_status"]);
    assert_eq!(tested["success"], true, "{tested}");
    assert_eq!(tested["status_code"], 200);
    let (ok, stdout, stderr) = run(
        &server,
        "shared_tools",
        &[&assistant, &format!("{outside}/orders")],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("{assistant} now has 2 tool(s)")),
        "{stdout}"
    );
    assert!(stdout.contains("deleted shared tool tool-"), "{stdout}");

    // The seed's placeholders fail with the status.
    let (ok, _, stderr) = run(&server, "retrieve_test", &[]);
    assert!(!ok && stderr.contains("404"), "{stderr}");
    drop(server);
    drop(runtime);
}

#[test]
fn the_embeddings_example_works_against_parley() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The local embedding model, pulled into the models directory if missing.
    let server = runtime.block_on(TestServer::spawn_with(Backend::Sqlite, |settings| {
        settings.llm.models_dir = parley_llm::models::default_models_dir(std::env::vars());
        settings.llm.pull_models = true;
        settings.jobs.poll_ms = 50;
    }));
    let (ok, stdout, stderr) = run(&server, "embeddings", &[]);
    assert!(ok, "{stderr}");
    let (documents, rest) = json_documents(&stdout);
    assert_eq!(rest, "");
    let [task, files, found] = &documents[..] else {
        panic!("three documents expected: {stdout}");
    };
    assert_eq!(task["status"], "success");
    assert_eq!(files["data"][0]["filename"], "refunds.md");
    assert_eq!(found["data"][0]["metadata"]["filename"], "refunds.md");
    assert!(found["data"][0]["document_chunk"]
        .as_str()
        .unwrap()
        .contains("5 business days"));
    drop(server);
    drop(runtime);
}
