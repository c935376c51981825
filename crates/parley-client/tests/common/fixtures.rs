//! What more than one scenario builds the same way: local HTTP servers standing in for the
//! outside world and the wire bodies they answer with, request parameters, polling until the
//! worker is done, and short runs of SDK calls made and checked alike wherever they appear.

use super::{assert_api_error, TestServer};
use axum::routing::{post, MethodRouter};
use axum::{Json, Router};
use futures::TryStreamExt;
use parley_client::resources::ai::assistants::tests::is_finished;
use parley_client::resources::ai::assistants::ImportOutcome;
use parley_client::types::assistant_tests::{
    AssistantTest, Rubric, TestCreateParams, TestRunResponse, TestUpdateParams,
};
use parley_client::types::assistants::{
    AssistantDeleteParams, AssistantRetrieveParams, AssistantUpdateParams, InferenceEmbedding,
    VersionRetrieveParams, VersionUpdateParams,
};
use parley_client::types::canary_deploys::{
    CanaryDeployParams, CanaryRule, CanaryServe, RolloutSlot,
};
use parley_client::types::embeddings::{
    EmbeddingCreateParams, EmbeddingListParams, EmbeddingTask, SimilaritySearchParams,
    SimilaritySearchResult,
};
use parley_client::types::imports::AssistantImportParams;
use parley_client::types::integration_secrets::{
    IntegrationSecret, IntegrationSecretCreateParams, IntegrationSecretListParams, SecretType,
};
use parley_client::types::integrations::{
    Integration, IntegrationConnection, IntegrationConnectionCreateParams,
};
use parley_client::types::mcp_servers::{McpServer, McpServerCreateParams};
use parley_client::types::messaging::{
    AssistantSendSmsParams, PhoneNumberAssignParams, PhoneNumberAssignment,
};
use parley_client::types::scheduled_events::ScheduledEventCreateParams;
use parley_client::types::tools::{
    SharedTool, SharedToolCreateParams, SharedToolUpdateParams, ToolTestParams, ToolTestResult,
};
use parley_client::types::PageParams;
use parley_client::Client;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Local servers and what they answer.

/// A local HTTP server on 127.0.0.1:0; aborted when dropped.
pub struct LocalServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` until the returned server is dropped.
pub async fn serve(app: Router) -> LocalServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    LocalServer { base_url, task }
}

/// JSON bodies a stand-in has been sent, in order.
pub type Recorded = Arc<Mutex<Vec<Value>>>;

/// A `POST` route recording each JSON body in `into` and answering `answer(body)`.
pub fn recording_post(into: Recorded, answer: fn(&Value) -> Json<Value>) -> MethodRouter {
    post(move |Json(body): Json<Value>| {
        let into = into.clone();
        async move {
            into.lock().unwrap().push(body.clone());
            answer(&body)
        }
    })
}

/// The agent's number and the user's, for texts and scheduled events.
pub const AGENT: &str = "+13125550100";
pub const USER: &str = "+13125550199";

/// Telnyx's answer to `POST /v2/messages` with `body`.
pub fn telnyx_message(body: &Value) -> Json<Value> {
    Json(json!({"data": {
        "record_type": "message", "direction": "outbound",
        "id": format!("msg-{}", uuid::Uuid::new_v4()), "type": "SMS",
        "from": {"phone_number": body["from"]},
        "to": [{"phone_number": body["to"], "status": "queued"}],
        "text": body["text"], "parts": 1,
    }}))
}

/// An OpenAI-compatible `chat.completion` saying `content`.
pub fn chat_completion(model: &str, content: String) -> Json<Value> {
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }))
}

/// The key Vapi's stand-in accepts, and its one assistant.
pub const VAPI_KEY: &str = "vapi-test-key";
pub const VAPI_AGENT: &str = "6f1c0c1e-3b7a-4d2e-9a55-0b8f2c1d4e01";

/// Vapi's assistant [`VAPI_AGENT`], as `GET /assistant/{id}` returns it.
pub fn vapi_agent() -> Value {
    json!({
        "id": VAPI_AGENT,
        "orgId": "9b1d4c2e-0000-4000-8000-000000000001",
        "name": "Booking Bot",
        "createdAt": "2024-06-03T09:00:00.000Z",
        "updatedAt": "2024-06-04T09:00:00.000Z",
        "firstMessage": "Hi, this is Bella from Bistro Nord.",
        "model": {"provider": "openai", "model": "gpt-4o",
                  "messages": [{"role": "system", "content": "You take table bookings."}]}
    })
}

/// The order webhook's answer to a body naming an order.
pub fn order_status(body: &Value) -> Json<Value> {
    Json(json!({"order_id": body["order_id"], "status": "shipped"}))
}

/// A webhook tool's definition: `POST url` with an `order_id`.
pub fn order_webhook(name: &str, url: &str) -> Value {
    json!({
        "name": name,
        "description": "Looks up an order.",
        "url": url,
        "method": "POST",
        "body_parameters": {"type": "object",
                            "properties": {"order_id": {"type": "string"}},
                            "required": ["order_id"]},
    })
}

// ---------------------------------------------------------------------------------------
// Parameters.

/// Pages of one item, for `list_all`.
pub fn page_of_one() -> PageParams {
    PageParams {
        page_size: Some(1),
        ..Default::default()
    }
}

/// `$params { page_size: Some(1), ..Default::default() }`, for the `list_all` of a list
/// with filters.
#[macro_export]
macro_rules! one_per_page {
    ($params:ident) => {
        $params {
            page_size: Some(1),
            ..Default::default()
        }
    };
}

/// A rubric of `(name, criteria)` items.
pub fn rubric(items: &[(&str, &str)]) -> Vec<Rubric> {
    items
        .iter()
        .map(|(name, criteria)| Rubric {
            name: (*name).into(),
            criteria: (*criteria).into(),
        })
        .collect()
}

/// A text from [`AGENT`] to [`USER`] scheduled at `at`.
pub fn scheduled_text(at: &str) -> ScheduledEventCreateParams {
    ScheduledEventCreateParams {
        scheduled_at_fixed_datetime: at.into(),
        telnyx_agent_target: AGENT.into(),
        telnyx_conversation_channel: "sms_chat".into(),
        telnyx_end_user_target: USER.into(),
        text: Some("See you tomorrow".into()),
        ..Default::default()
    }
}

/// A text from [`AGENT`] to `to` saying `text`.
pub fn text_to(to: &str, text: &str) -> AssistantSendSmsParams {
    AssistantSendSmsParams {
        from: AGENT.into(),
        to: to.into(),
        text: Some(text.into()),
        ..Default::default()
    }
}

/// Arguments for testing a tool.
pub fn tool_arguments(value: Value) -> ToolTestParams {
    ToolTestParams {
        arguments: value.as_object().cloned(),
        ..Default::default()
    }
}

/// A canary deploy sending `weight` percent of conversations to `version_id`.
pub fn rollout_to(version_id: &str, weight: f64) -> CanaryDeployParams {
    CanaryDeployParams {
        rules: vec![CanaryRule {
            matches: vec![],
            serve: CanaryServe::rollout(vec![RolloutSlot {
                version_id: version_id.into(),
                weight,
            }]),
        }],
    }
}

// ---------------------------------------------------------------------------------------
// Polling the worker's progress.

/// Polls an embedding task until it has ended, for at most `within`.
pub async fn task_finished(
    client: &Client,
    task: EmbeddingTask,
    within: Duration,
) -> EmbeddingTask {
    let deadline = Instant::now() + within;
    let mut task = task;
    while !task.is_finished() {
        assert!(Instant::now() < deadline, "task still {:?}", task.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
        task = client
            .ai()
            .embeddings()
            .retrieve(&task.task_id)
            .await
            .unwrap();
    }
    task
}

/// Polls a test run until it has ended.
pub async fn run_finished(client: &Client, run: &TestRunResponse) -> TestRunResponse {
    let runs = client.ai().assistants().tests().runs();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = runs.retrieve(&run.test_id, &run.run_id).await.unwrap();
        if is_finished(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "run still {}", now.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Runs of calls, each checked.

/// Soft-deletes an assistant: the answer says so, and it can no longer be read.
pub async fn soft_delete(server: &TestServer, assistant_id: &str) {
    let assistants = server.client.ai().assistants();
    let deleted = assistants.delete(assistant_id).await.unwrap();
    assert!(deleted.deleted && deleted.id == assistant_id && deleted.object == "assistant");
    assert_api_error(assistants.retrieve(assistant_id).await, 404, "10005");
}

/// Restores a soft-deleted assistant, then deletes it for good: it is gone, from the deleted
/// ones too, and cannot be restored again.
pub async fn restore_then_hard_delete(server: &TestServer, assistant_id: &str) {
    let assistants = server.client.ai().assistants();
    let restored = assistants.restore(assistant_id).await.unwrap();
    assert_eq!(restored.id, assistant_id);
    assert_eq!(
        assistants.retrieve(assistant_id).await.unwrap().id,
        assistant_id
    );
    let hard = AssistantDeleteParams {
        hard_delete: Some(true),
    };
    assistants.delete_with(assistant_id, &hard).await.unwrap();
    assert_api_error(assistants.retrieve(assistant_id).await, 404, "10005");
    assert_api_error(
        assistants.deleted().retrieve(assistant_id).await,
        404,
        "10005",
    );
    assert_api_error(assistants.restore(assistant_id).await, 404, "10005");
}

/// Creates a test of the assistant in the suite "smoke", playing a customer told
/// `instructions` and graded by `rubric_items`.
pub async fn create_smoke_test(
    server: &TestServer,
    name: &str,
    assistant_id: &str,
    instructions: &str,
    rubric_items: &[(&str, &str)],
) -> AssistantTest {
    let test = server
        .client
        .ai()
        .assistants()
        .tests()
        .create(&TestCreateParams {
            name: name.into(),
            destination: assistant_id.into(),
            instructions: instructions.into(),
            rubric: rubric(rubric_items),
            test_suite: Some("smoke".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(test.destination.as_deref(), Some(assistant_id));
    assert_eq!(test.rubric, rubric(rubric_items));
    test
}

/// Creates the MCP server "Docs" (streamable HTTP, authorized by the secret "crm-token"), with
/// whatever `change` adds, and reads it back.
pub async fn create_docs_mcp_server(
    server: &TestServer,
    change: impl FnOnce(&mut McpServerCreateParams),
) -> McpServer {
    let mcp = server.client.ai().mcp_servers();
    let mut params = McpServerCreateParams {
        name: "Docs".into(),
        server_type: "streamable-http".into(),
        url: "https://mcp.example.com/mcp".into(),
        api_key_ref: Some("crm-token".into()),
        ..Default::default()
    };
    change(&mut params);
    let docs = mcp.create(&params).await.unwrap();
    assert_eq!(docs.server_type, "streamable-http");
    assert_eq!(docs.api_key_ref.as_deref(), Some("crm-token"));
    assert_eq!(mcp.retrieve(&docs.id).await.unwrap(), docs);
    docs
}

/// Gives a test `description`.
pub async fn describe_test(server: &TestServer, test_id: &str, description: &str) -> AssistantTest {
    let updated = server
        .client
        .ai()
        .assistants()
        .tests()
        .update(
            test_id,
            &TestUpdateParams {
                description: Some(description.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some(description));
    updated
}

/// Embeds the bucket "support-kb" (with `model`, or the default) and waits, at most
/// `within`, for the task to succeed; it is then listed among the successful ones.
pub async fn embed_support_kb(
    client: &Client,
    model: Option<&str>,
    within: Duration,
) -> EmbeddingTask {
    let embeddings = client.ai().embeddings();
    let task = embeddings
        .create(&EmbeddingCreateParams {
            bucket_name: "support-kb".into(),
            embedding_model: model.map(Into::into),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!task.task_id.is_empty());
    let task = task_finished(client, task, within).await;
    assert_eq!(task.status.as_deref(), Some("success"), "{task:?}");
    let done = embeddings
        .list_with(&EmbeddingListParams {
            status: Some(vec!["success".into()]),
        })
        .await
        .unwrap();
    assert!(done.data.iter().any(|t| t.task_id == task.task_id));
    task
}

/// Asks the bucket "support-kb" `query` for one document: the refunds page.
pub async fn search_support_kb(client: &Client, query: &str) -> Vec<SimilaritySearchResult> {
    let found = client
        .ai()
        .embeddings()
        .similarity_search(&SimilaritySearchParams {
            bucket_name: "support-kb".into(),
            query: query.into(),
            num_of_docs: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.data[0].metadata.filename, "refunds.md");
    found.data
}

/// Reads `created` back plainly and with query parameters, then changes only its greeting
/// (to "Hi again!", plus whatever `change` adds): a new version, the rest kept.
pub async fn read_and_regreet(
    server: &TestServer,
    created: &InferenceEmbedding,
    change: impl FnOnce(&mut AssistantUpdateParams),
) -> InferenceEmbedding {
    let assistants = server.client.ai().assistants();
    assert_eq!(assistants.retrieve(&created.id).await.unwrap(), *created);
    let with_query = assistants
        .retrieve_with(
            &created.id,
            &AssistantRetrieveParams {
                fetch_dynamic_variables_from_webhook: Some(false),
                from: Some("+15550001111".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(with_query.id, created.id);
    let mut update = AssistantUpdateParams {
        greeting: Some("Hi again!".into()),
        ..Default::default()
    };
    change(&mut update);
    let updated = assistants.update(&created.id, &update).await.unwrap();
    assert_eq!(updated.greeting.as_deref(), Some("Hi again!"));
    assert_eq!(updated.instructions, created.instructions);
    assert_ne!(updated.version_id, created.version_id);
    updated
}

/// Saves a draft version of the assistant ("Draft instructions.", named "draft one") without
/// promoting it; returns its version id.
pub async fn save_draft(server: &TestServer, assistant_id: &str) -> String {
    let draft = server
        .client
        .ai()
        .assistants()
        .update(
            assistant_id,
            &AssistantUpdateParams {
                instructions: Some("Draft instructions.".into()),
                promote_to_main: Some(false),
                version_name: Some("draft one".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    draft.version_id.unwrap()
}

/// Reads the draft [`save_draft`] saved, plainly and with its MCP servers, then gives it the
/// greeting "Draft greeting"; returns the draft as read and as edited.
pub async fn read_and_edit_draft(
    server: &TestServer,
    assistant_id: &str,
    draft_id: &str,
) -> (InferenceEmbedding, InferenceEmbedding) {
    let versions = server.client.ai().assistants().versions();
    let fetched = versions.retrieve(assistant_id, draft_id).await.unwrap();
    assert_eq!(fetched.instructions, "Draft instructions.");
    let with_mcp = versions
        .retrieve_with(
            assistant_id,
            draft_id,
            &VersionRetrieveParams {
                include_mcp_servers: Some(true),
            },
        )
        .await
        .unwrap();
    assert_eq!(with_mcp.version_id.as_deref(), Some(draft_id));
    let edited = versions
        .update(
            assistant_id,
            draft_id,
            &VersionUpdateParams {
                greeting: Some("Draft greeting".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.greeting.as_deref(), Some("Draft greeting"));
    (fetched, edited)
}

/// Creates the shared webhook tool "Order status" calling `url` (4 s timeout) and reads it back.
pub async fn create_order_tool(server: &TestServer, url: &str) -> SharedTool {
    let tools = server.client.ai().tools();
    let mut params = SharedToolCreateParams::new(
        "Order status",
        "webhook",
        order_webhook("order_status", url),
    );
    params.timeout_ms = Some(4000);
    let tool = tools.create(&params).await.unwrap();
    assert_eq!(tool.tool_type, "webhook");
    assert_eq!(tool.timeout_ms, Some(4000));
    assert_eq!(tools.retrieve(&tool.id).await.unwrap(), tool);
    tool
}

/// Renames a shared tool "Order lookup".
pub async fn rename_tool(server: &TestServer, tool_id: &str) -> SharedTool {
    let renamed = server
        .client
        .ai()
        .tools()
        .update(
            tool_id,
            &SharedToolUpdateParams {
                display_name: Some("Order lookup".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.display_name.as_deref(), Some("Order lookup"));
    renamed
}

/// Tests the order tool attached to the assistant with order 42: the webhook says "shipped".
pub async fn test_order_tool(
    server: &TestServer,
    assistant_id: &str,
    tool_id: &str,
) -> ToolTestResult {
    let result = server
        .client
        .ai()
        .assistants()
        .tools()
        .test(
            assistant_id,
            tool_id,
            &tool_arguments(json!({"order_id": "42"})),
        )
        .await
        .unwrap();
    assert!(result.success, "{result:?}");
    assert!(result.response.contains("shipped"), "{}", result.response);
    result
}

/// Imports Vapi's assistants with the key stored as the secret "vapi-key": all of them (one,
/// "Booking Bot"), then [`VAPI_AGENT`] again with an agent Vapi does not have (one failure).
pub async fn import_from_vapi(server: &TestServer) -> (InferenceEmbedding, ImportOutcome) {
    server
        .client
        .integration_secrets()
        .create(&IntegrationSecretCreateParams::bearer("vapi-key", VAPI_KEY))
        .await
        .unwrap();
    let assistants = server.client.ai().assistants();
    let imported = assistants
        .imports(&AssistantImportParams {
            provider: "vapi".into(),
            api_key_ref: "vapi-key".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(imported.data.len(), 1);
    let booking = imported.data.into_iter().next().unwrap();
    assert_eq!(booking.name, "Booking Bot");
    let outcome = assistants
        .imports_with_failures(&AssistantImportParams {
            provider: "vapi".into(),
            api_key_ref: "vapi-key".into(),
            import_ids: Some(vec![VAPI_AGENT.into(), "missing-agent".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(outcome.assistants.data[0].id, booking.id);
    assert_eq!(outcome.failures.len(), 1);
    assert_eq!(outcome.failures[0].import_id, "missing-agent");
    (booking, outcome)
}

/// Texts "Your order shipped." from [`AGENT`] to [`USER`]; returns the conversation's id.
pub async fn text_order_shipped(server: &TestServer, assistant_id: &str) -> String {
    let sent = server
        .client
        .ai()
        .assistants()
        .send_sms(assistant_id, &text_to(USER, "Your order shipped."))
        .await
        .unwrap();
    sent.conversation_id.unwrap()
}

/// Assigns [`AGENT`] to the assistant and reads the assignment back.
pub async fn assign_agent_number(server: &TestServer, assistant_id: &str) -> PhoneNumberAssignment {
    let numbers = server.client.ai().phone_numbers();
    let assigned = numbers
        .assign(&PhoneNumberAssignParams {
            phone_number: AGENT.into(),
            assistant_id: assistant_id.into(),
        })
        .await
        .unwrap();
    assert_eq!(assigned.assistant_id, assistant_id);
    assert_eq!(numbers.retrieve(AGENT).await.unwrap(), assigned);
    assigned
}

/// Stores the bearer secret "crm-token" (`token`) and the basic secret "ftp", then lists the
/// basic ones (just "ftp") and every identifier page by page; returns both secrets and the
/// identifiers.
pub async fn store_crm_and_ftp_secrets(
    server: &TestServer,
    token: &str,
) -> (IntegrationSecret, IntegrationSecret, Vec<String>) {
    let secrets = server.client.integration_secrets();
    let bearer = secrets
        .create(&IntegrationSecretCreateParams::bearer("crm-token", token))
        .await
        .unwrap();
    assert_eq!(bearer.identifier, "crm-token");
    let basic = secrets
        .create(&IntegrationSecretCreateParams::basic("ftp", "user", "pa55"))
        .await
        .unwrap();
    let only_basic = secrets
        .list_with(&IntegrationSecretListParams {
            filter_type: Some(SecretType::Basic),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(only_basic.data.len(), 1);
    assert_eq!(only_basic.data[0].id, basic.id);
    let identifiers: Vec<String> = secrets
        .list_all(&one_per_page!(IntegrationSecretListParams))
        .map_ok(|s| s.identifier)
        .try_collect()
        .await
        .unwrap();
    (bearer, basic, identifiers)
}

/// Connects HubSpot with the secret "crm-token" and its first tool, and reads the connection
/// back; HubSpot goes from disconnected to connected.
pub async fn connect_hubspot(server: &TestServer) -> (Integration, IntegrationConnection) {
    let integrations = server.client.ai().integrations();
    let hubspot = integrations.retrieve("hubspot").await.unwrap();
    assert_eq!(hubspot.status, "disconnected");
    assert!(!hubspot.available_tools.is_empty());
    let connections = integrations.connections();
    let connection = connections
        .create(&IntegrationConnectionCreateParams {
            integration_id: "hubspot".into(),
            api_key_ref: "crm-token".into(),
            allowed_tools: Some(vec![hubspot.available_tools[0].clone()]),
            base_url: None,
        })
        .await
        .unwrap();
    assert_eq!(connection.integration_id, "hubspot");
    assert_eq!(
        connections.retrieve(&connection.id).await.unwrap(),
        connection
    );
    assert_eq!(
        connections.list().await.unwrap().data,
        std::slice::from_ref(&connection)
    );
    assert_eq!(
        integrations.retrieve("hubspot").await.unwrap().status,
        "connected"
    );
    (hubspot, connection)
}

/// Deletes a connection; it is gone.
pub async fn disconnect(server: &TestServer, connection_id: &str) {
    let connections = server.client.ai().integrations().connections();
    connections.delete(connection_id).await.unwrap();
    assert_api_error(connections.retrieve(connection_id).await, 404, "10005");
}
