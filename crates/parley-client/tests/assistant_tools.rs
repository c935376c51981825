//! Shared tools, attaching them, testing webhook tools, and importing assistants, through the
//! SDK against the real server on SQLite and on PostgreSQL. The webhook and the provider
//! (Vapi) are local HTTP servers speaking their wire format.

mod common;

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::fixtures::{
    create_order_tool, import_from_vapi, order_status, order_webhook, recording_post, rename_tool,
    serve, test_order_tool, tool_arguments, vapi_agent, LocalServer, Recorded, VAPI_AGENT,
    VAPI_KEY,
};
use common::{assert_api_error, Backend, TestServer};
use futures::TryStreamExt;
use parley_client::types::assistants::{AssistantCreateParams, InferenceEmbedding};
use parley_client::types::imports::{AssistantImportParams, ImportFailure};
use parley_client::types::tools::{SharedToolCreateParams, SharedToolListParams, ToolTestParams};
use serde_json::json;
use std::collections::HashMap;

/// A local HTTP server and the bodies it has been sent.
struct Stub {
    base_url: String,
    seen: Recorded,
    _server: LocalServer,
}

async fn stub(app: Router, seen: Recorded) -> Stub {
    let server = serve(app).await;
    Stub {
        base_url: server.base_url.clone(),
        seen,
        _server: server,
    }
}

/// A webhook answering `POST /orders` with the order's status, recording each body.
async fn orders_stub() -> Stub {
    let seen = Recorded::default();
    let app = Router::new()
        .route("/orders", recording_post(seen.clone(), order_status))
        .route(
            "/broken",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance") }),
        );
    stub(app, seen).await
}

/// Vapi's API with one assistant (`GET /assistant`, `GET /assistant/{id}`).
async fn vapi() -> Stub {
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
                        json!([vapi_agent()])
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
                        Json(vapi_agent()).into_response()
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
    stub(app, Recorded::default()).await
}

async fn spawn(backend: Backend, vapi: &Stub) -> TestServer {
    let vapi_url = vapi.base_url.clone();
    TestServer::spawn_with(backend, |settings| {
        settings.allow_private_network = true;
        settings.import.vapi_url = vapi_url;
        // Imported assistants name `openai/gpt-4o`: something must serve it.
        settings.llm.upstream_base_url = Some("http://127.0.0.1:9/v1".into());
    })
    .await
}

async fn shared_tools_are_managed_attached_and_tested(server: TestServer, _vapi: &Stub) {
    let hook = orders_stub().await;
    let tools = server.client.ai().tools();
    let tool = create_order_tool(&server, &format!("{}/orders", hook.base_url)).await;
    assert_eq!(tool.display_name.as_deref(), Some("Order status"));
    assert_eq!(tool.tool_definition["webhook"]["name"], "order_status");

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
        .list_all(&one_per_page!(SharedToolListParams))
        .map_ok(|t| t.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all, [tool.id.clone(), hangup.id.clone()]);

    let renamed = rename_tool(&server, &tool.id).await;
    assert_eq!(renamed.tool_definition, tool.tool_definition);

    // Attached, the tool shows in the assistant's tools; testing it calls the webhook.
    let assistants = server.client.ai().assistants();
    let assistant = assistants
        .create(&AssistantCreateParams {
            name: "Orders".into(),
            instructions: "Help with orders.".into(),
            tools: Some(vec![json!({"type": "webhook", "webhook": order_webhook(
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

    let result = test_order_tool(&server, &assistant.id, &tool.id).await;
    assert_eq!(result.status_code, Some(200));
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
            &tool_arguments(json!({"order_id": "7"})),
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

async fn assistants_are_imported_with_their_failures(server: TestServer, _vapi: &Stub) {
    let assistants = server.client.ai().assistants();
    let (booking, outcome) = import_from_vapi(&server).await;
    let metadata = booking.import_metadata.as_ref().unwrap();
    assert_eq!(metadata.import_provider.as_deref(), Some("vapi"));
    assert_eq!(metadata.import_id.as_deref(), Some(VAPI_AGENT));

    // Re-importing updates the same assistant; an agent Vapi cannot return is a failure.
    assert_eq!(outcome.assistants.data.len(), 1);
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

on_both_backends_with!(
    vapi,
    spawn: shared_tools_are_managed_attached_and_tested,
    assistants_are_imported_with_their_failures,
);
