//! Shared tools, attaching them, testing webhook tools, and importing assistants, through the
//! SDK against the real server on SQLite and on PostgreSQL. The webhook and the provider
//! (Vapi) are local HTTP servers speaking their wire format.

mod common;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{assert_api_error, Backend, TestServer};
use futures::TryStreamExt;
use parley_client::types::assistants::{AssistantCreateParams, InferenceEmbedding};
use parley_client::types::imports::{AssistantImportParams, ImportFailure};
use parley_client::types::integration_secrets::IntegrationSecretCreateParams;
use parley_client::types::tools::{
    SharedToolCreateParams, SharedToolListParams, SharedToolUpdateParams, ToolTestParams,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A local HTTP server; aborted when dropped.
struct Stub {
    base_url: String,
    seen: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(app: Router, seen: Arc<Mutex<Vec<Value>>>) -> Stub {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Stub {
        base_url,
        seen,
        task,
    }
}

/// A webhook answering `POST /orders` with the order's status, recording each body.
async fn order_webhook() -> Stub {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/orders",
            post(
                |State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>| async move {
                    seen.lock().unwrap().push(body.clone());
                    Json(json!({"order_id": body["order_id"], "status": "shipped"}))
                },
            ),
        )
        .route(
            "/broken",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance") }),
        )
        .with_state(seen.clone());
    serve(app, seen).await
}

const VAPI_KEY: &str = "vapi-test-key";
const VAPI_AGENT: &str = "6f1c0c1e-3b7a-4d2e-9a55-0b8f2c1d4e01";

/// Vapi's API with one assistant (`GET /assistant`, `GET /assistant/{id}`).
async fn vapi() -> Stub {
    fn agent() -> Value {
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
    let authorized = |headers: &HeaderMap| {
        headers
            .get("authorization")
            .is_some_and(|v| v == format!("Bearer {VAPI_KEY}").as_str())
    };
    let app = Router::new()
        .route(
            "/assistant",
            get(
                move |headers: HeaderMap, Query(query): Query<HashMap<String, String>>| async move {
                    if !authorized(&headers) {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    let page = if query.contains_key("createdAtLt") {
                        json!([])
                    } else {
                        json!([agent()])
                    };
                    Json(page).into_response()
                },
            ),
        )
        .route(
            "/assistant/{id}",
            get(
                move |headers: HeaderMap, Path(id): Path<String>| async move {
                    if !authorized(&headers) {
                        StatusCode::UNAUTHORIZED.into_response()
                    } else if id == VAPI_AGENT {
                        Json(agent()).into_response()
                    } else {
                        (
                            StatusCode::NOT_FOUND,
                            Json(json!({"message": "Couldn't Get Assistant. Assistant Not Found"})),
                        )
                            .into_response()
                    }
                },
            ),
        );
    serve(app, Arc::default()).await
}

async fn spawn(backend: Backend, vapi_url: String) -> TestServer {
    TestServer::spawn_with(backend, |settings| {
        settings.allow_private_network = true;
        settings.import.vapi_url = vapi_url;
        // Imported assistants name `openai/gpt-4o`: something must serve it.
        settings.llm.upstream_base_url = Some("http://127.0.0.1:9/v1".into());
    })
    .await
}

fn webhook(name: &str, url: &str) -> Value {
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

fn arguments(value: Value) -> ToolTestParams {
    ToolTestParams {
        arguments: value.as_object().cloned(),
        ..Default::default()
    }
}

async fn shared_tools_are_managed_attached_and_tested(server: TestServer) {
    let hook = order_webhook().await;
    let tools = server.client.ai().tools();
    let mut params = SharedToolCreateParams::new(
        "Order status",
        "webhook",
        webhook("order_status", &format!("{}/orders", hook.base_url)),
    );
    params.timeout_ms = Some(4000);
    let tool = tools.create(&params).await.unwrap();
    assert_eq!(tool.tool_type, "webhook");
    assert_eq!(tool.display_name.as_deref(), Some("Order status"));
    assert_eq!(tool.timeout_ms, Some(4000));
    assert_eq!(tool.tool_definition["webhook"]["name"], "order_status");
    assert_eq!(tools.retrieve(&tool.id).await.unwrap(), tool);

    let hangup = tools
        .create(&SharedToolCreateParams::new(
            "Hang up",
            "hangup",
            json!({"description": "Ends the call."}),
        ))
        .await
        .unwrap();

    // One page, a filtered page, and every tool page after page.
    let page = tools.list().await.unwrap();
    assert_eq!(page.meta.total_results, 2);
    let filtered = tools
        .list_with(&SharedToolListParams {
            tool_type: Some("hangup".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.data.len(), 1);
    assert_eq!(filtered.data[0].id, hangup.id);
    let by_name = tools
        .list_with(&SharedToolListParams {
            name: Some("ORDER".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_name.data[0].id, tool.id);
    let all: Vec<String> = tools
        .list_all(&SharedToolListParams {
            page_size: Some(1),
            ..Default::default()
        })
        .map_ok(|t| t.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all, [tool.id.clone(), hangup.id.clone()]);

    let renamed = tools
        .update(
            &tool.id,
            &SharedToolUpdateParams {
                display_name: Some("Order lookup".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.display_name.as_deref(), Some("Order lookup"));
    assert_eq!(renamed.tool_definition, tool.tool_definition);

    // Attached, the tool shows in the assistant's tools; testing it calls the webhook.
    let assistants = server.client.ai().assistants();
    let assistant = assistants
        .create(&AssistantCreateParams {
            name: "Orders".into(),
            instructions: "Help with orders.".into(),
            tools: Some(vec![json!({"type": "webhook", "webhook": webhook(
                "broken_lookup",
                &format!("{}/broken", hook.base_url),
            )})]),
            ..Default::default()
        })
        .await
        .unwrap();
    let attached = assistants
        .tools()
        .add(&assistant.id, &tool.id)
        .await
        .unwrap();
    let attached: InferenceEmbedding = serde_json::from_value(attached).unwrap();
    assert_eq!(attached.tools.len(), 2);
    assert_eq!(attached.tools[1]["shared"], true);
    assert_eq!(attached.tools[1]["id"], tool.id.as_str());

    let result = assistants
        .tools()
        .test(
            &assistant.id,
            &tool.id,
            &arguments(json!({"order_id": "42"})),
        )
        .await
        .unwrap();
    assert!(result.success, "{result:?}");
    assert_eq!(result.status_code, Some(200));
    assert!(result.response.contains("shipped"), "{}", result.response);
    assert_eq!(result.request["method"], "POST");
    assert_eq!(
        hook.seen.lock().unwrap().as_slice(),
        [json!({"order_id": "42"})]
    );

    // An inline webhook tool by name: a failing webhook is a result, not an error.
    let failed = assistants
        .tools()
        .test(
            &assistant.id,
            "broken_lookup",
            &arguments(json!({"order_id": "7"})),
        )
        .await
        .unwrap();
    assert!(!failed.success);
    assert_eq!(failed.status_code, Some(503));
    assert_api_error(
        assistants
            .tools()
            .test(&assistant.id, "no_such_tool", &ToolTestParams::default())
            .await,
        404,
        "10005",
    );

    let detached = assistants
        .tools()
        .remove(&assistant.id, &tool.id)
        .await
        .unwrap();
    assert_eq!(detached["tools"].as_array().unwrap().len(), 1);
    tools.delete(&tool.id).await.unwrap();
    assert_api_error(tools.retrieve(&tool.id).await, 404, "10005");
    assert_api_error(
        assistants.tools().add(&assistant.id, &tool.id).await,
        404,
        "10005",
    );
}

async fn assistants_are_imported_with_their_failures(server: TestServer) {
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
    let booking = &imported.data[0];
    assert_eq!(booking.name, "Booking Bot");
    let metadata = booking.import_metadata.as_ref().unwrap();
    assert_eq!(metadata.import_provider.as_deref(), Some("vapi"));
    assert_eq!(metadata.import_id.as_deref(), Some(VAPI_AGENT));

    // Re-importing updates the same assistant; an agent Vapi cannot return is a failure.
    let outcome = assistants
        .imports_with_failures(&AssistantImportParams {
            provider: "vapi".into(),
            api_key_ref: "vapi-key".into(),
            import_ids: Some(vec![VAPI_AGENT.into(), "missing-agent".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(outcome.assistants.data.len(), 1);
    assert_eq!(outcome.assistants.data[0].id, booking.id);
    let [ImportFailure { import_id, reason }] = outcome.failures.as_slice() else {
        panic!("one failure expected: {:?}", outcome.failures);
    };
    assert_eq!(import_id, "missing-agent");
    assert!(!reason.is_empty());
    assert_eq!(assistants.list().await.unwrap().data.len(), 1);

    // A secret that does not exist is refused before the provider is asked.
    let refused = assistants
        .imports(&AssistantImportParams {
            provider: "vapi".into(),
            api_key_ref: "no-such-secret".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(refused.status(), Some(400 | 404 | 422)),
        "{refused}"
    );
}

macro_rules! with_stubs_on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let vapi = vapi().await;
                    super::$scenario(spawn(Backend::Sqlite, vapi.base_url.clone()).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let vapi = vapi().await;
                    super::$scenario(spawn(Backend::Postgres, vapi.base_url.clone()).await).await;
                }
            }
        )*
    };
}

with_stubs_on_both_backends!(
    shared_tools_are_managed_attached_and_tested,
    assistants_are_imported_with_their_failures,
);
