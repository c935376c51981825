//! One tour through every operation the SDK offers, against the real server on SQLite and on
//! PostgreSQL, each result checked; then the server's `/metrics` shows which routes the tour
//! reached. Every operation of the contract (`parley_core::schema::OPENAPI_YAML`) and every
//! other route the server mounts under `/v2` must have been answered by its route with a
//! status below 500 — so an endpoint without an SDK method fails this test with its name.
//!
//! The outside world is one local server: the scripted model behind the assistants, the
//! simulated user and judge of test runs, an OpenAI-compatible `/embeddings`, Telnyx's
//! messaging API, Vapi's assistants API, a webhook tool's endpoint and a page to crawl.

mod common;

use axum::extract::Path;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::fixtures::{
    assign_agent_number, chat_completion, connect_hubspot, create_docs_mcp_server,
    create_order_tool, create_smoke_test, describe_test, disconnect, embed_support_kb,
    import_from_vapi, order_status, page_of_one, read_and_edit_draft, read_and_regreet,
    recording_post, rename_tool, restore_then_hard_delete, rollout_to, run_finished, save_draft,
    scheduled_text, search_support_kb, serve, soft_delete, store_crm_and_ftp_secrets,
    task_finished, telnyx_message, test_order_tool, text_order_shipped, vapi_agent, LocalServer,
    Recorded, AGENT, VAPI_AGENT,
};
use common::{assert_api_error, Backend, TestServer};
use futures::{StreamExt, TryStreamExt};
use parley_client::resources::ai::conversations::{ConversationListParams, Filter};
use parley_client::types::assistant_tests::{RunTriggerParams, TestListParams, TestRunListParams};
use parley_client::types::assistants::{
    AssistantCreateParams, AssistantMcpServer, AssistantUpdateParams, InferenceEmbedding,
};
use parley_client::types::canary_deploys::{CanaryDeployParams, CanaryRule, CanaryServe};
use parley_client::types::chat::AssistantChatParams;
use parley_client::types::conversations::{
    ConversationCreateParams, ConversationUpdateParams, MessageCreateParams, MessageRole,
};
use parley_client::types::embeddings::EmbeddingUrlParams;
use parley_client::types::mcp_servers::{McpServerListParams, McpServerUpdateParams};
use parley_client::types::scheduled_events::ScheduledEventListParams;
use parley_client::types::tools::SharedToolListParams;
use parley_client::types::PageParams;
use parley_client::{new_conversation_id, ChatEvent};
use parley_server::settings::ModelRoute;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The embedding model buckets are embedded with (the contract's default), served here by the
/// local `/v1/embeddings`.
const EMBEDDING_MODEL: &str = "thenlper/gte-large";

/// Routes the server mounts under `/v2` that the SDK deliberately has no method for, and why.
const NOT_IN_THE_SDK: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/v2/ai/openai/models",
        "the same list as GET /ai/models, under the path OpenAI clients ask",
    ),
    (
        "PATCH",
        "/v2/ai/assistants/{assistant_id}",
        "an alias of POST /ai/assistants/{assistant_id} (update), which the SDK calls",
    ),
];

// ---------------------------------------------------------------------------------------
// The outside world.

/// The local server standing in for everything Parley talks to, and what it has been sent.
struct World {
    base_url: String,
    texts: Recorded,
    webhook_bodies: Recorded,
    _server: LocalServer,
}

/// A vector per text: words hashed into 64 dimensions, so texts sharing words are near.
fn bag_of_words(text: &str) -> Vec<f32> {
    let mut vector = vec![0.0f32; 64];
    vector[0] = 0.1;
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
    {
        let word = word.to_lowercase();
        let hash = word.bytes().fold(5381u32, |h, b| {
            h.wrapping_mul(33).wrapping_add(u32::from(b))
        });
        vector[1 + (hash as usize % 63)] += 1.0;
    }
    vector
}

/// The simulated user says one line and ends; the judge passes every criterion.
async fn evaluate(Json(body): Json<Value>) -> Json<Value> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let content = match body["response_format"]["json_schema"]["name"].as_str() {
        Some("simulated_user_turn") => {
            if messages.iter().any(|m| m["role"] == "assistant") {
                json!({"message": "", "end_conversation": true})
            } else {
                json!({"message": "Where is my parcel?", "end_conversation": false})
            }
        }
        Some("verdict") => json!({"passed": true, "reasoning": "The assistant answered."}),
        other => json!({"unexpected": other}),
    };
    chat_completion("judge", content.to_string())
}

async fn embed(Json(body): Json<Value>) -> Json<Value> {
    let data: Vec<Value> = body["input"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, text)| {
            json!({"object": "embedding", "index": index,
                   "embedding": bag_of_words(text.as_str().unwrap_or_default())})
        })
        .collect();
    Json(json!({"object": "list", "data": data, "model": body["model"]}))
}

async fn world() -> World {
    let texts = Recorded::default();
    let webhook_bodies = Recorded::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(evaluate))
        .route("/v1/embeddings", post(embed))
        .route(
            "/v2/messages",
            recording_post(texts.clone(), telnyx_message),
        )
        .route(
            "/assistant",
            get(|query: axum::extract::RawQuery| async move {
                let later = query.0.unwrap_or_default().contains("createdAtLt");
                Json(if later {
                    json!([])
                } else {
                    json!([vapi_agent()])
                })
            }),
        )
        .route(
            "/assistant/{id}",
            get(|Path(id): Path<String>| async move {
                if id == VAPI_AGENT {
                    Json(vapi_agent()).into_response()
                } else {
                    axum::http::StatusCode::NOT_FOUND.into_response()
                }
            }),
        )
        .route(
            "/orders",
            recording_post(webhook_bodies.clone(), order_status),
        )
        .route(
            "/site",
            get(|| async {
                Html(
                    "<html><head><title>Returns</title></head><body><h1>Returns</h1>\
                     <p>Parcels go back through the blue lockers at every train station.</p>\
                     </body></html>",
                )
            }),
        );
    let server = serve(app).await;
    World {
        base_url: server.base_url.clone(),
        texts,
        webhook_bodies,
        _server: server,
    }
}

async fn spawn(backend: Backend, world: &World) -> TestServer {
    let base = world.base_url.clone();
    TestServer::spawn_echoing(backend, |settings| {
        settings.llm.timeout_ms = 5_000;
        settings.jobs.poll_ms = 50;
        settings.eval.base_url = Some(format!("{base}/v1"));
        settings.eval.model = Some("judge".into());
        settings.carrier.api_url = format!("{base}/v2");
        settings.carrier.api_key = Some("KEY-telnyx".into());
        settings.carrier.messaging_profile_id = Some("profile-default".into());
        settings.import.vapi_url = base.clone();
        settings.knowledge.embedding_models = vec![ModelRoute {
            name: EMBEDDING_MODEL.into(),
            base_url: format!("{base}/v1"),
            model: Some("bag-of-words".into()),
            api_key: None,
            context_tokens: None,
        }];
    })
    .await
}

// ---------------------------------------------------------------------------------------
// The tour, one resource after another.

async fn tour_assistants(server: &TestServer) -> (InferenceEmbedding, String) {
    let assistants = server.client.ai().assistants();
    let created = assistants
        .create(&AssistantCreateParams {
            name: "Support".into(),
            instructions: "You help customers.".into(),
            model: Some("scripted/model".into()),
            greeting: Some("Hello!".into()),
            tags: Some(vec!["billing".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(created.id.starts_with("assistant-"), "{}", created.id);
    assert_eq!(created.tags, ["billing"]);
    let updated = read_and_regreet(server, &created, |_| {}).await;

    let texml = assistants.get_texml(&created.id).await.unwrap();
    assert!(texml.contains(&created.id), "{texml}");

    // Tags.
    let tags = assistants.tags();
    assert_eq!(
        tags.add(&created.id, "vip").await.unwrap().tags,
        ["billing", "vip"]
    );
    assert_eq!(tags.list().await.unwrap().tags, ["billing", "vip"]);
    assert_eq!(
        tags.remove(&created.id, "vip").await.unwrap().tags,
        ["billing"]
    );

    // Clone, lists, soft delete, the deleted views, restore, hard delete.
    let clone = assistants.clone(&created.id).await.unwrap();
    assert_eq!(clone.name, "Support (Clone)");
    let all = assistants.list().await.unwrap();
    let ids: Vec<&str> = all.data.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, [created.id.as_str(), clone.id.as_str()]);
    let second = assistants
        .list_with(&PageParams {
            page_number: Some(2),
            page_size: Some(1),
        })
        .await
        .unwrap();
    assert_eq!(second.data[0].id, clone.id);
    let streamed: Vec<String> = assistants
        .list_all(&page_of_one())
        .map_ok(|a| a.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed, ids);

    soft_delete(server, &clone.id).await;
    let trash = assistants.deleted();
    assert_eq!(trash.list().await.unwrap().data[0].assistant.id, clone.id);
    assert_eq!(trash.list_with(&page_of_one()).await.unwrap().data.len(), 1);
    let every: Vec<_> = trash.list_all(&page_of_one()).try_collect().await.unwrap();
    assert_eq!(every.len(), 1);
    assert_eq!(
        trash.retrieve(&clone.id).await.unwrap().assistant.name,
        "Support (Clone)"
    );
    restore_then_hard_delete(server, &clone.id).await;

    // Versions and the canary deploy.
    let main = updated.version_id.clone().unwrap();
    let draft_id = save_draft(server, &created.id).await;
    let versions = assistants.versions();
    let listed: Vec<String> = versions
        .list(&created.id)
        .await
        .unwrap()
        .data
        .into_iter()
        .filter_map(|v| v.version_id)
        .collect();
    assert!(
        listed.contains(&draft_id) && listed.contains(&main),
        "{listed:?}"
    );
    read_and_edit_draft(server, &created.id, &draft_id).await;

    let canary = assistants.canary_deploys();
    let rollout = rollout_to(&draft_id, 10.0);
    let deploy = canary.create(&created.id, &rollout).await.unwrap();
    assert_eq!(deploy.rules, rollout.rules);
    assert_eq!(canary.retrieve(&created.id).await.unwrap(), deploy);
    let fixed = CanaryDeployParams {
        rules: vec![CanaryRule {
            matches: vec![],
            serve: CanaryServe::version(draft_id.clone()),
        }],
    };
    assert_eq!(
        canary.update(&created.id, &fixed).await.unwrap().rules,
        fixed.rules
    );
    canary.delete(&created.id).await.unwrap();
    assert_api_error(canary.retrieve(&created.id).await, 404, "10005");

    let promoted = versions.promote(&created.id, &draft_id).await.unwrap();
    assert_eq!(promoted.version_id.as_deref(), Some(draft_id.as_str()));
    versions.delete(&created.id, &main).await.unwrap();
    assert_api_error(versions.retrieve(&created.id, &main).await, 404, "10005");
    let current = assistants.retrieve(&created.id).await.unwrap();
    assert_eq!(current.greeting.as_deref(), Some("Draft greeting"));
    (current, draft_id)
}

async fn tour_chat_and_conversations(server: &TestServer, assistant: &str) {
    let assistants = server.client.ai().assistants();
    let conversation = new_conversation_id();
    let reply = assistants
        .chat(
            assistant,
            &AssistantChatParams::new("Hello there", &conversation),
        )
        .await
        .unwrap();
    assert!(
        reply.content.contains("user: Hello there"),
        "{}",
        reply.content
    );
    let events: Vec<ChatEvent> = assistants
        .chat_stream(
            assistant,
            &AssistantChatParams::new("Streamed", &conversation),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let Some(ChatEvent::Done(done)) = events.last() else {
        panic!("the stream did not end with done: {events:?}");
    };
    assert!(done.content.contains("user: Streamed"), "{}", done.content);
    assert_eq!(done.conversation_id, conversation);

    let conversations = server.client.ai().conversations();
    let chatted = conversations.retrieve(&conversation).await.unwrap();
    assert_eq!(chatted.id, conversation);
    let texts: Vec<(MessageRole, String)> = conversations
        .messages(&conversation)
        .list(&PageParams::default())
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|m| (m.role, m.text))
        .collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert_eq!(texts[0], (MessageRole::User, "Hello there".to_owned()));

    let created = conversations
        .create(&ConversationCreateParams {
            name: Some("Written".into()),
            metadata: Some(BTreeMap::from([("tier".to_owned(), "gold".to_owned())])),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.name.as_deref(), Some("Written"));
    let updated = conversations
        .update(
            &created.id,
            &ConversationUpdateParams::default().set("topic", "billing"),
        )
        .await
        .unwrap();
    assert_eq!(updated.metadata["topic"], "billing");
    assert_eq!(updated.metadata["tier"], "gold");
    conversations
        .add_message(&created.id, &MessageCreateParams::user("Written by hand"))
        .await
        .unwrap();
    conversations
        .add_message(&created.id, &MessageCreateParams::assistant("Noted"))
        .await
        .unwrap();
    let written: Vec<String> = conversations
        .messages(&created.id)
        .list_all(&page_of_one())
        .map_ok(|m| m.text)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(written, ["Written by hand", "Noted"]);
    let gold = conversations
        .list(&ConversationListParams::new().metadata("tier", Filter::Eq("gold".into())))
        .await
        .unwrap();
    assert_eq!(gold.data.len(), 1);
    assert_eq!(gold.data[0].id, created.id);
    let of_assistant = conversations
        .list(&ConversationListParams::new().assistant_id(assistant))
        .await
        .unwrap();
    assert_eq!(of_assistant.data[0].id, conversation);
    conversations.delete(&created.id).await.unwrap();
    assert_api_error(conversations.retrieve(&created.id).await, 404, "10005");
}

async fn tour_tools_and_imports(server: &TestServer, world: &World, assistant: &str) {
    let tools = server.client.ai().tools();
    let tool = create_order_tool(server, &format!("{}/orders", world.base_url)).await;
    assert_eq!(tools.list().await.unwrap().data[0].id, tool.id);
    let webhooks = tools
        .list_with(&SharedToolListParams {
            tool_type: Some("webhook".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(webhooks.meta.total_results, 1);
    let every: Vec<String> = tools
        .list_all(&one_per_page!(SharedToolListParams))
        .map_ok(|t| t.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(every, std::slice::from_ref(&tool.id));
    rename_tool(server, &tool.id).await;

    let attached = server
        .client
        .ai()
        .assistants()
        .tools()
        .add(assistant, &tool.id)
        .await
        .unwrap();
    let attached: InferenceEmbedding = serde_json::from_value(attached).unwrap();
    assert!(attached.tools.iter().any(|t| t["id"] == tool.id.as_str()));
    test_order_tool(server, assistant, &tool.id).await;
    assert_eq!(
        world.webhook_bodies.lock().unwrap().as_slice(),
        [json!({"order_id": "42"})]
    );
    let detached = server
        .client
        .ai()
        .assistants()
        .tools()
        .remove(assistant, &tool.id)
        .await
        .unwrap();
    assert!(!detached["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["id"] == tool.id.as_str()));
    tools.delete(&tool.id).await.unwrap();
    assert_api_error(tools.retrieve(&tool.id).await, 404, "10005");

    // Imports, with the provider's key as an integration secret.
    let (imported, _) = import_from_vapi(server).await;
    server
        .client
        .ai()
        .assistants()
        .delete(&imported.id)
        .await
        .unwrap();
}

async fn tour_outreach(server: &TestServer, world: &World, assistant: &str) {
    let assistants = server.client.ai().assistants();
    text_order_shipped(server, assistant).await;
    assert_eq!(
        world.texts.lock().unwrap()[0]["text"],
        "Your order shipped."
    );

    let events = assistants.scheduled_events();
    let first = events
        .create(assistant, &scheduled_text("2099-04-15T13:00:00Z"))
        .await
        .unwrap();
    let first_id = first.scheduled_event_id.clone().unwrap();
    assert_eq!(first.status.as_deref(), Some("pending"));
    let second = events
        .create(assistant, &scheduled_text("2099-05-01T09:30:00Z"))
        .await
        .unwrap();
    assert_eq!(events.list(assistant).await.unwrap().meta.total_results, 2);
    let may = events
        .list_with(
            assistant,
            &ScheduledEventListParams {
                from_date: Some("2099-04-20T00:00:00Z".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(may.data.len(), 1);
    assert_eq!(may.data[0].scheduled_event_id, second.scheduled_event_id);
    let all: Vec<_> = events
        .list_all(assistant, &one_per_page!(ScheduledEventListParams))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(events.retrieve(assistant, &first_id).await.unwrap(), first);
    events.delete(assistant, &first_id).await.unwrap();
    assert_api_error(events.retrieve(assistant, &first_id).await, 404, "10005");

    let numbers = server.client.ai().phone_numbers();
    assign_agent_number(server, assistant).await;
    assert_eq!(numbers.list().await.unwrap().meta.total_results, 1);
    assert_eq!(
        numbers.list_with(&page_of_one()).await.unwrap().data[0].phone_number,
        AGENT
    );
    let listed: Vec<String> = numbers
        .list_all(&page_of_one())
        .map_ok(|n| n.phone_number)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, [AGENT]);
    numbers.delete(AGENT).await.unwrap();
    assert_api_error(numbers.retrieve(AGENT).await, 404, "10005");
}

async fn tour_assistant_tests(server: &TestServer, assistant: &InferenceEmbedding) {
    let client = &server.client;
    let tests = client.ai().assistants().tests();
    let test = create_smoke_test(
        server,
        "Parcel",
        &assistant.id,
        "You are a customer asking about a parcel.",
        &[("Answers", "The assistant answers.")],
    )
    .await;
    assert_eq!(tests.retrieve(&test.test_id).await.unwrap(), test);
    describe_test(server, &test.test_id, "Asks about a parcel.").await;
    assert_eq!(tests.list().await.unwrap().data[0].test_id, test.test_id);
    let smoke = tests
        .list_with(&TestListParams {
            test_suite: Some("smoke".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(smoke.meta.total_results, 1);
    let every: Vec<_> = tests
        .list_all(&one_per_page!(TestListParams))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(every.len(), 1);
    assert_eq!(tests.test_suites().list().await.unwrap().data, ["smoke"]);

    let runs = tests.runs();
    let run = runs.trigger(&test.test_id).await.unwrap();
    assert_eq!(run.triggered_by, "api");
    let run = run_finished(client, &run).await;
    assert_eq!(run.status, "passed", "{:?}", run.logs);
    let on_version = runs
        .trigger_with(
            &test.test_id,
            &RunTriggerParams {
                destination_version_id: assistant.version_id.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(run_finished(client, &on_version).await.status, "passed");
    assert_eq!(
        runs.list(&test.test_id).await.unwrap().meta.total_results,
        2
    );
    let passed = runs
        .list_with(
            &test.test_id,
            &TestRunListParams {
                status: Some("passed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(passed.data.len(), 2);
    let all: Vec<_> = runs
        .list_all(&test.test_id, &one_per_page!(TestRunListParams))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);

    let suite = tests.test_suites().runs();
    let suite_runs = suite.trigger("smoke").await.unwrap();
    assert_eq!(suite_runs.len(), 1);
    assert_eq!(run_finished(client, &suite_runs[0]).await.status, "passed");
    let again = suite
        .trigger_with("smoke", &RunTriggerParams::default())
        .await
        .unwrap();
    run_finished(client, &again[0]).await;
    let suite_run_id = suite_runs[0].test_suite_run_id.clone().unwrap();
    // The suite's runs: the test's two own runs (it was in the suite) and two suite runs.
    assert_eq!(suite.list("smoke").await.unwrap().meta.total_results, 4);
    let one = suite
        .list_with(
            "smoke",
            &TestRunListParams {
                test_suite_run_id: Some(suite_run_id.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(one.data.len(), 1);
    assert_eq!(one.data[0].run_id, suite_runs[0].run_id);
    let streamed: Vec<_> = suite
        .list_all("smoke", &one_per_page!(TestRunListParams))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed.len(), 4);

    tests.delete(&test.test_id).await.unwrap();
    assert_api_error(tests.retrieve(&test.test_id).await, 404, "10005");
}

async fn tour_knowledge(server: &TestServer, world: &World) {
    let client = &server.client;
    let storage = client.storage();
    storage.create_bucket("support-kb").await.unwrap();
    storage
        .put_object(
            "support-kb",
            "refunds.md",
            b"# Refunds\n\nRefunds reach your card within five business days.\n".to_vec(),
            "text/markdown",
        )
        .await
        .unwrap();
    let shipping = b"Shipping: parcels leave the warehouse every weekday at noon.\n".to_vec();
    let length = shipping.len() as u64;
    let chunks = futures::stream::iter(vec![shipping]).map(Ok);
    storage
        .put_object_stream("support-kb", "shipping.txt", chunks, length, "text/plain")
        .await
        .unwrap();
    let keys: Vec<String> = storage
        .list_objects("support-kb")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, ["refunds.md", "shipping.txt"]);
    assert!(storage
        .object_url("support-kb", "refunds.md")
        .unwrap()
        .ends_with("/s3/support-kb/refunds.md"));

    let embeddings = client.ai().embeddings();
    let task = embed_support_kb(client, Some(EMBEDDING_MODEL), Duration::from_secs(30)).await;
    assert!(
        !embeddings
            .list()
            .await
            .unwrap()
            .data
            .iter()
            .any(|t| t.task_id == task.task_id),
        "the default list shows only queued and processing tasks"
    );
    let found = search_support_kb(client, "When do refunds reach my card?").await;
    assert_eq!(found[0].metadata.embedding, EMBEDDING_MODEL);

    // A page crawled into another bucket.
    storage.create_bucket("web").await.unwrap();
    let crawl = embeddings
        .url(&EmbeddingUrlParams {
            bucket_name: "web".into(),
            url: format!("{}/site", world.base_url),
            ..Default::default()
        })
        .await
        .unwrap();
    let crawl = task_finished(client, crawl, Duration::from_secs(30)).await;
    assert_eq!(crawl.status.as_deref(), Some("success"), "{crawl:?}");

    let buckets = embeddings.buckets();
    assert_eq!(buckets.list().await.unwrap().buckets, ["support-kb", "web"]);
    let files: BTreeSet<String> = buckets
        .retrieve("support-kb")
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|f| f.filename)
        .collect();
    assert_eq!(
        files,
        BTreeSet::from(["refunds.md".to_owned(), "shipping.txt".to_owned()])
    );
    buckets.delete("web").await.unwrap();
    assert_api_error(buckets.retrieve("web").await, 404, "10005");
}

async fn tour_integrations(server: &TestServer, assistant: &str) {
    let secrets = server.client.integration_secrets();
    let (_, basic, identifiers) = store_crm_and_ftp_secrets(server, "t0ken").await;
    assert!(secrets.list().await.unwrap().meta.total_results >= 2);
    assert!(identifiers.contains(&"ftp".to_owned()), "{identifiers:?}");

    let mcp = server.client.ai().mcp_servers();
    let docs = create_docs_mcp_server(server, |_| {}).await;
    assert_eq!(mcp.list().await.unwrap(), std::slice::from_ref(&docs));
    let typed = mcp
        .list_with(&McpServerListParams {
            server_type: Some("streamable-http".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(typed.len(), 1);
    let names: Vec<String> = mcp
        .list_all(&one_per_page!(McpServerListParams))
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names, ["Docs"]);
    let renamed = mcp
        .update(
            &docs.id,
            &McpServerUpdateParams {
                name: Some("Docs v2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Docs v2");
    assert_eq!(renamed.url, docs.url);
    let user = server
        .client
        .ai()
        .assistants()
        .update(
            assistant,
            &AssistantUpdateParams {
                mcp_servers: Some(vec![AssistantMcpServer {
                    id: docs.id.clone(),
                    allowed_tools: None,
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(user.mcp_servers[0].id, docs.id);
    assert_api_error(mcp.delete(&docs.id).await, 400, "10018");
    server
        .client
        .ai()
        .assistants()
        .update(
            assistant,
            &AssistantUpdateParams {
                mcp_servers: Some(vec![]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    mcp.delete(&docs.id).await.unwrap();
    assert_api_error(mcp.retrieve(&docs.id).await, 404, "10005");

    let integrations = server.client.ai().integrations();
    let catalogue = integrations.list().await.unwrap();
    assert!(catalogue.data.iter().any(|i| i.id == "hubspot"));
    let (_, connection) = connect_hubspot(server).await;
    disconnect(server, &connection.id).await;

    secrets.delete(&basic.id).await.unwrap();
    assert_api_error(secrets.delete(&basic.id).await, 404, "10005");

    let models = server.client.ai().models().list().await.unwrap();
    assert!(!models.data.is_empty());
    assert!(models.data.iter().all(|m| !m.id.is_empty()));
}

// ---------------------------------------------------------------------------------------
// What the tour reached.

/// `{assistant_id}`, `{id}`, … all become `{}`.
fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Every `(METHOD, /v2 path)` of the contract, normalized.
fn contract_operations() -> BTreeSet<(String, String)> {
    let document: Value = serde_yaml::from_str(parley_core::schema::OPENAPI_YAML).unwrap();
    let paths = document["paths"].as_object().expect("the contract's paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), normalize(&format!("/v2{path}"))));
            }
        }
    }
    assert!(operations.len() > 50, "{operations:?}");
    operations
}

/// The method router of one `.route("PATH", …)` call: the methods it names
/// (`get(a).post(b)`, `axum::routing::get(a)`).
fn methods_of(expression: &str) -> Vec<String> {
    let bytes = expression.as_bytes();
    let mut methods = Vec::new();
    let mut depth = 0usize;
    let mut word = String::new();
    for &b in bytes {
        match b {
            b'(' => {
                if depth == 0
                    && matches!(
                        word.as_str(),
                        "get" | "post" | "put" | "patch" | "delete" | "any"
                    )
                {
                    methods.push(word.to_uppercase());
                }
                depth += 1;
                word.clear();
            }
            b')' => {
                depth = depth.saturating_sub(1);
                word.clear();
            }
            b if b.is_ascii_alphanumeric() || b == b'_' => word.push(char::from(b)),
            _ => word.clear(),
        }
    }
    methods
}

/// Every `(METHOD, /v2 path)` the server mounts under `/v2`, normalized, read from the route
/// modules the `/v2` router merges (`crates/parley-server/src/routes/`).
fn server_operations() -> BTreeSet<(String, String)> {
    let routes =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../parley-server/src/routes");
    let router = std::fs::read_to_string(routes.join("mod.rs")).unwrap();
    let v2 = router
        .split_once("let v2 = Router::new()")
        .and_then(|(_, rest)| rest.split_once(';'))
        .map(|(block, _)| block)
        .expect("the /v2 router in routes/mod.rs");
    let modules: Vec<&str> = v2
        .split(".merge(")
        .skip(1)
        .filter_map(|call| {
            call.split_once("::routes()")
                .map(|(module, _)| module.trim())
        })
        .collect();
    assert!(modules.len() > 10, "{modules:?}");
    let mut operations = BTreeSet::new();
    for module in modules {
        let source = std::fs::read_to_string(routes.join(format!("{module}.rs"))).unwrap();
        let mut found = 0;
        for call in source.split(".route(").skip(1) {
            let call = call.trim_start();
            let Some(rest) = call.strip_prefix('"') else {
                continue;
            };
            let (path, rest) = rest.split_once('"').unwrap();
            // The method router runs to the parenthesis closing `.route(`.
            let mut depth = 1usize;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap_or(rest.len());
            for method in methods_of(&rest[..end]) {
                operations.insert((method, normalize(&format!("/v2{path}"))));
                found += 1;
            }
        }
        assert!(found > 0, "no routes read from routes/{module}.rs");
    }
    operations
}

/// `(METHOD, route)` → statuses, from the `parley_http_requests_total` lines of `/metrics`.
async fn reached(server: &TestServer) -> BTreeMap<(String, String), BTreeSet<u16>> {
    let origin = server.base_url.trim_end_matches("/v2");
    let text = reqwest::get(format!("{origin}/metrics"))
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reached: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    for line in text.lines() {
        let Some(labels) = line
            .strip_prefix("parley_http_requests_total{")
            .and_then(|rest| rest.split_once("} "))
            .map(|(labels, _)| labels)
        else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split_once('"'))
                .map(|(value, _)| value.to_owned())
                .unwrap_or_else(|| panic!("{name} in {line}"))
        };
        reached
            .entry((label("method"), normalize(&label("route"))))
            .or_default()
            .insert(label("status").parse().unwrap());
    }
    reached
}

/// Operations of `wanted` that no request reached through its route with a status below 500
/// (a 405 means the route exists but not with that method).
fn missing(
    wanted: &BTreeSet<(String, String)>,
    reached: &BTreeMap<(String, String), BTreeSet<u16>>,
) -> Vec<String> {
    wanted
        .iter()
        .filter(|operation| {
            !reached
                .get(*operation)
                .is_some_and(|statuses| statuses.iter().any(|s| *s < 500 && *s != 405))
        })
        .map(|(method, path)| format!("{method} {path}"))
        .collect()
}

async fn every_operation_is_reached_through_the_sdk(server: TestServer, world: &World) {
    let (assistant, _) = tour_assistants(&server).await;
    tour_chat_and_conversations(&server, &assistant.id).await;
    tour_tools_and_imports(&server, world, &assistant.id).await;
    tour_outreach(&server, world, &assistant.id).await;
    tour_assistant_tests(&server, &assistant).await;
    tour_knowledge(&server, world).await;
    tour_integrations(&server, &assistant.id).await;

    let reached = reached(&server).await;
    let failures: Vec<String> = reached
        .iter()
        .filter(|(_, statuses)| statuses.iter().any(|s| *s >= 500))
        .map(|((method, route), statuses)| format!("{method} {route} {statuses:?}"))
        .collect();
    assert!(
        failures.is_empty(),
        "server errors during the tour: {failures:?}"
    );
    let unmatched: Vec<&String> = reached
        .keys()
        .filter(|(_, route)| route == "unmatched")
        .map(|(method, _)| method)
        .collect();
    assert!(
        unmatched.is_empty(),
        "the SDK called paths the server does not route, with {unmatched:?}"
    );

    let contract = contract_operations();
    let server_routes = server_operations();
    let unrouted: Vec<String> = contract
        .difference(&server_routes)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        unrouted.is_empty(),
        "contract operations the server does not route: {unrouted:?}"
    );
    let not_through_the_sdk = missing(&contract, &reached);
    assert!(
        not_through_the_sdk.is_empty(),
        "contract operations the SDK tour did not reach: {not_through_the_sdk:?}"
    );

    // Parley's own routes under /v2: every one reached, or named as not in the SDK.
    let excluded: BTreeSet<(String, String)> = NOT_IN_THE_SDK
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), normalize(path)))
        .collect();
    for operation in &excluded {
        assert!(
            server_routes.contains(operation),
            "{operation:?} is excused but not routed"
        );
    }
    let extensions: BTreeSet<(String, String)> = server_routes
        .difference(&contract)
        .filter(|operation| !excluded.contains(*operation))
        .cloned()
        .collect();
    assert!(extensions.len() >= 20, "{extensions:?}");
    let extensions_missed = missing(&extensions, &reached);
    assert!(
        extensions_missed.is_empty(),
        "Parley routes under /v2 the SDK tour did not reach: {extensions_missed:?}"
    );

    // The route list read from the sources holds every /v2 route the tour reached.
    let unread: Vec<&(String, String)> = reached
        .keys()
        .filter(|(_, route)| route.starts_with("/v2/"))
        .filter(|operation| !server_routes.contains(*operation))
        .filter(|operation| {
            // A 405 is a route reached with a method it does not have.
            reached[*operation].iter().any(|s| *s != 405)
        })
        .collect();
    assert!(
        unread.is_empty(),
        "routes missing from the source scan: {unread:?}"
    );
}

on_both_backends_with!(world, spawn: every_operation_is_reached_through_the_sdk);
