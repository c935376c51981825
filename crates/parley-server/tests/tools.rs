//! Tools in the chat loop, end to end: a scripted OpenAI-compatible server plays the model
//! (it asks for tool calls, then answers), a local HTTP server plays the owner's webhook.
//! Covers the full loop and what is stored, parallel calls, invalid arguments, timeouts and
//! error statuses as results, `store_fields_as_variables`, `update_dynamic_variables`,
//! `hangup`, `handoff`, the round limit, the outbound-address matrix, and the tool test
//! endpoint. Every scenario runs on a fresh SQLite file and a fresh PostgreSQL database.

mod common;

use axum::extract::{Path as AxumPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::{Json, Router};
use common::{assert_error, Backend, TestApp};
use parley_llm::test_support::{Reply, ScriptedServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the webhook server received.
#[derive(Debug, Clone)]
struct Hit {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone, Default)]
struct Hook {
    hits: Arc<Mutex<Vec<Hit>>>,
    barrier: Arc<Mutex<Option<Arc<tokio::sync::Barrier>>>>,
    release: Arc<tokio::sync::Notify>,
}

/// The owner's API: `/orders/{id}` answers an order (JSON), `/slow` waits 3 s, `/fail`
/// answers 503, `/pair` waits until two requests are in flight together.
async fn webhook_server() -> (String, Hook) {
    let hook = Hook::default();
    async fn handle(
        State(hook): State<Hook>,
        method: axum::http::Method,
        AxumPath(path): AxumPath<String>,
        Query(query): Query<HashMap<String, String>>,
        headers: HeaderMap,
        body: String,
    ) -> axum::response::Response {
        hook.hits.lock().unwrap().push(Hit {
            method: method.to_string(),
            path: path.clone(),
            query,
            headers,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
        });
        match path.as_str() {
            "slow" => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Json(json!({"late": true})).into_response()
            }
            "fail" => (StatusCode::SERVICE_UNAVAILABLE, "booking system down").into_response(),
            "later" => {
                hook.release.notified().await;
                Json(json!({"confirmation": "C-123"})).into_response()
            }
            "pair" => {
                let barrier = hook.barrier.lock().unwrap().clone().unwrap();
                match tokio::time::timeout(Duration::from_secs(5), barrier.wait()).await {
                    Ok(_) => Json(json!({"together": true})).into_response(),
                    Err(_) => (StatusCode::CONFLICT, "alone").into_response(),
                }
            }
            p if p.starts_with("orders/") => Json(json!({
                "order": p.trim_start_matches("orders/"),
                "status": "shipped",
                "customer": {"name": "Ada Lovelace"},
            }))
            .into_response(),
            _ => (StatusCode::NOT_FOUND, "no such route").into_response(),
        }
    }
    let router = Router::new()
        .route("/{*path}", any(handle))
        .with_state(hook.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, hook)
}

fn order_tool(base: &str) -> Value {
    json!({"type": "webhook", "webhook": {
        "name": "get_order",
        "description": "Looks up an order",
        "url": format!("{base}/orders/{{order_id}}"),
        "method": "POST",
        "path_parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        "query_parameters": {"type": "object", "properties": {"verbose": {"type": "string"}}},
        "body_parameters": {"type": "object", "properties": {"note": {"type": "string"}}},
        "preset_query_params": {"caller": "{{caller}}", "phone": "+15551234567"},
        "preset_body_fields": {"source": "parley", "note": "preset wins"},
        "headers": [
            {"name": "Authorization", "value": "Bearer {{#integration_secret}}shop_key{{/integration_secret}}"},
            {"name": "X-Caller", "value": "{{caller}}"},
        ],
        "store_fields_as_variables": [{"name": "customer_name", "value_path": "customer.name"}],
    }})
}

async fn assistant(app: &TestApp, body: Value) -> String {
    let mut body = body;
    let map = body.as_object_mut().unwrap();
    map.entry("name").or_insert(json!("Tools"));
    map.entry("model").or_insert(json!("scripted/model"));
    map.entry("instructions").or_insert(json!("Help."));
    app.create_assistant(body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn chat(app: &TestApp, assistant: &str, conversation: &str, content: &str) -> common::Reply {
    app.post(
        &format!("/v2/ai/assistants/{assistant}/chat"),
        &json!({"content": content, "conversation_id": conversation}),
    )
    .await
}

/// The `tool` messages of the `index`th model request.
fn tool_results(llm: &ScriptedServer, index: usize) -> Vec<String> {
    llm.requests()[index].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

on_both!(
    a_webhook_round_trip_is_sent_and_stored,
    calls_of_one_round_run_concurrently,
    invalid_arguments_timeouts_and_errors_become_results,
    variables_flow_into_later_turns,
    hangup_ends_and_handoff_switches,
    the_round_limit_is_told_to_the_model,
    private_addresses_are_refused,
    the_tool_test_endpoint_runs_a_webhook_once,
    async_webhook_results_arrive_later,
    integration_tools_call_the_connected_api,
    shared_tools_are_offered_live_and_testable,
);

async fn a_webhook_round_trip_is_sent_and_stored(backend: Backend) {
    let (base, hook) = webhook_server().await;
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::tool_call(
                "get_order",
                json!({"order_id": "A 42", "verbose": "yes", "note": "from model"}),
            ),
            Reply::text("Order A 42 has shipped."),
        ],
    )
    .await;
    let secret = app
        .post(
            "/v2/integration_secrets",
            &json!({"identifier": "shop_key", "type": "bearer", "token": "sk-shop-1"}),
        )
        .await;
    assert_eq!(secret.status, 201, "{}", secret.body);
    let id = assistant(
        &app,
        json!({"tools": [order_tool(&base)], "dynamic_variables": {"caller": "+15550001111"}}),
    )
    .await;
    let reply = chat(&app, &id, "conv-order", "Where is order A 42?").await;
    assert_eq!(
        reply.body,
        json!({"content": "Order A 42 has shipped."}),
        "{}",
        reply.body
    );

    // The model was offered the function with the merged parameters.
    let offered = &llm.requests()[0].body["tools"][0]["function"];
    assert_eq!(offered["name"], "get_order");
    let properties = offered["parameters"]["properties"].as_object().unwrap();
    assert_eq!(
        properties.keys().collect::<Vec<_>>(),
        ["order_id", "verbose", "note"]
    );

    // The webhook got the path, query, presets, headers and body.
    let hits = hook.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(hit.method, "POST");
    assert_eq!(hit.path, "orders/A 42");
    assert_eq!(hit.query["verbose"], "yes");
    assert_eq!(
        hit.query["phone"], "+15551234567",
        "preset query values are encoded"
    );
    assert_eq!(hit.query["caller"], "+15550001111");
    assert_eq!(hit.headers["authorization"], "Bearer sk-shop-1");
    assert_eq!(hit.headers["x-caller"], "+15550001111");
    assert_eq!(hit.headers["x-telnyx-conversation-id"], "conv-order");
    assert_eq!(hit.body, json!({"note": "preset wins", "source": "parley"}));

    // The second model request carries the call and its result.
    let second = &llm.requests()[1].body["messages"];
    let messages = second.as_array().unwrap();
    let call = messages.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(call["tool_calls"][0]["function"]["name"], "get_order");
    assert!(tool_results(&llm, 1)[0].contains("\"status\":\"shipped\""));

    // Stored: user, assistant with the call, tool result, answer.
    let stored = app
        .get("/v2/ai/conversations/conv-order/messages")
        .await
        .body;
    let data = stored["data"].as_array().unwrap();
    let roles: Vec<&str> = data.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    assert_eq!(data[1]["tool_calls"][0]["type"], "function");
    assert_eq!(data[1]["tool_calls"][0]["function"]["name"], "get_order");
    let call_id = data[1]["tool_calls"][0]["id"].as_str().unwrap();
    assert_eq!(data[2]["tool_call_id"], call_id);
    assert!(data[2]["text"].as_str().unwrap().contains("Ada Lovelace"));
    assert_eq!(data[3]["metadata"]["tool_calls"], 1);
    assert_eq!(data[3]["metadata"]["llm_rounds"], 2);
    app.stop().await;
}

async fn calls_of_one_round_run_concurrently(backend: Backend) {
    let (base, hook) = webhook_server().await;
    *hook.barrier.lock().unwrap() = Some(Arc::new(tokio::sync::Barrier::new(2)));
    let pair = |name: &str| json!({"type": "webhook", "webhook": {"name": name, "description": "d", "url": format!("{base}/pair"), "method": "GET"}});
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::ToolCalls(vec![
                ("first".into(), "{}".into()),
                ("second".into(), "{}".into()),
            ]),
            Reply::text("Both done."),
        ],
    )
    .await;
    let id = assistant(&app, json!({"tools": [pair("first"), pair("second")]})).await;
    let reply = chat(&app, &id, "conv-pair", "do both").await;
    assert_eq!(reply.body["content"], "Both done.");
    let results = tool_results(&llm, 1);
    assert_eq!(results.len(), 2);
    for result in results {
        assert_eq!(
            result, "{\"together\":true}",
            "each call waited for the other"
        );
    }
    app.stop().await;
}

async fn invalid_arguments_timeouts_and_errors_become_results(backend: Backend) {
    let (base, hook) = webhook_server().await;
    let slow = json!({"type": "webhook", "timeout_ms": 150, "webhook": {"name": "slow", "description": "d", "url": format!("{base}/slow")}});
    let fail = json!({"type": "webhook", "webhook": {"name": "fail", "description": "d", "url": format!("{base}/fail")}});
    let dead = json!({"type": "webhook", "webhook": {"name": "dead", "description": "d", "url": "http://127.0.0.1:9/x"}});
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::tool_call("get_order", json!({"order_id": 42})),
            Reply::ToolCalls(vec![
                ("slow".into(), "{}".into()),
                ("fail".into(), "{}".into()),
                ("dead".into(), "{}".into()),
                ("nonexistent".into(), "{}".into()),
                ("get_order".into(), "{not json".into()),
            ]),
            Reply::text("Sorry, the services are down."),
        ],
    )
    .await;
    let id = assistant(
        &app,
        json!({"tools": [order_tool(&base), slow, fail, dead]}),
    )
    .await;
    let reply = chat(&app, &id, "conv-bad", "go").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["content"], "Sorry, the services are down.");
    let first = tool_results(&llm, 1);
    assert!(first[0].starts_with("Invalid arguments:"), "{first:?}");
    assert!(first[0].contains("/order_id"), "{first:?}");
    let second = tool_results(&llm, 2);
    assert_eq!(second.len(), 6, "{second:?}");
    assert_eq!(second[1], "The slow service did not answer within 150 ms");
    assert_eq!(
        second[2],
        "The fail service answered HTTP 503: booking system down"
    );
    assert!(
        second[3].starts_with("The dead service could not be reached"),
        "{second:?}"
    );
    assert!(
        second[4].starts_with("There is no tool named \"nonexistent\""),
        "{second:?}"
    );
    assert!(second[5].contains("not valid JSON"), "{second:?}");
    let hit_paths: Vec<String> = hook
        .hits
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.path.clone())
        .collect();
    assert!(
        !hit_paths.iter().any(|p| p.starts_with("orders")),
        "invalid calls never reach the webhook"
    );
    app.stop().await;
}

async fn variables_flow_into_later_turns(backend: Backend) {
    let (base, _hook) = webhook_server().await;
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::tool_call("get_order", json!({"order_id": "7"})),
            Reply::text("Found it."),
            Reply::tool_call("remember", json!({"city": "Oslo", "mood": "ignored"})),
            Reply::text("Noted."),
            Reply::Echo,
        ],
    )
    .await;
    let remember = json!({"type": "update_dynamic_variables", "update_dynamic_variables": {
        "name": "remember", "description": "Remember facts about the user",
        "updatable_variables": [{"name": "city", "description": "Where the user lives"}]}});
    let id = assistant(
        &app,
        json!({
            "instructions": "Customer {{customer_name}} in {{city}}",
            "tools": [order_tool(&base), remember],
            "dynamic_variables": {"city": "unknown"},
        }),
    )
    .await;
    assert_eq!(chat(&app, &id, "conv-vars", "order 7").await.status, 200);
    assert_eq!(
        chat(&app, &id, "conv-vars", "I live in Oslo").await.status,
        200
    );
    let third = chat(&app, &id, "conv-vars", "who am I?").await;
    assert_eq!(
        third.body["content"],
        "system: Customer Ada Lovelace in Oslo | user: who am I?"
    );
    let offered = &llm.requests()[2].body["tools"];
    let remember_tool = offered
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "remember")
        .unwrap();
    assert_eq!(
        remember_tool["function"]["parameters"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["city"]
    );
    app.stop().await;
}

async fn hangup_ends_and_handoff_switches(backend: Backend) {
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::tool_call("hangup", json!({})),
            Reply::text("Goodbye!"),
            Reply::tool_call("handoff", json!({"assistant": "Billing"})),
            Reply::Echo,
            Reply::Echo,
        ],
    )
    .await;
    let id = assistant(&app, json!({"tools": [{"type": "hangup", "hangup": {}}]})).await;
    let bye = chat(&app, &id, "conv-bye", "that's all").await;
    assert_eq!(bye.body["content"], "Goodbye!");
    assert!(
        llm.requests()[1].body.get("tools").is_none(),
        "no tools after a hangup"
    );
    let after = chat(&app, &id, "conv-bye", "one more thing").await;
    let error = assert_error(&after, 400, "10018");
    assert!(
        error["detail"].as_str().unwrap().contains("ended"),
        "{error}"
    );
    let metadata = app.get("/v2/ai/conversations/conv-bye").await.body["data"]["metadata"].clone();
    assert!(metadata["ended_at"].is_string(), "{metadata}");

    let billing = assistant(
        &app,
        json!({"name": "Billing", "instructions": "I am billing"}),
    )
    .await;
    let front = assistant(
        &app,
        json!({"instructions": "I am the front desk",
               "tools": [{"type": "handoff", "handoff": {"ai_assistants": [{"id": billing, "name": "Billing"}]}}]}),
    )
    .await;
    let handed = chat(&app, &front, "conv-hand", "I have a billing question").await;
    assert_eq!(
        handed.body["content"],
        "system: I am billing | user: I have a billing question"
    );
    let next = chat(&app, &front, "conv-hand", "and another").await;
    assert_eq!(
        next.body["content"],
        "system: I am billing | user: and another"
    );
    let metadata = app.get("/v2/ai/conversations/conv-hand").await.body["data"]["metadata"].clone();
    assert_eq!(metadata["handoff_assistant_id"], billing);
    assert_eq!(metadata["assistant_id"], front);
    app.stop().await;
}

async fn the_round_limit_is_told_to_the_model(backend: Backend) {
    let (base, _hook) = webhook_server().await;
    let call = || Reply::tool_call("get_order", json!({"order_id": "1"}));
    let (app, llm) = TestApp::spawn_with_llm_and(
        backend,
        vec![call(), call(), Reply::text("Stopping here.")],
        |s| s.llm.max_tool_rounds = 2,
    )
    .await;
    let id = assistant(&app, json!({"tools": [order_tool(&base)]})).await;
    let reply = chat(&app, &id, "conv-limit", "loop").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let requests = llm.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests[1].body.get("tools").is_some());
    let last = &requests[2].body;
    assert!(
        last.get("tools").is_none(),
        "the last round offers no tools"
    );
    let notes: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "system")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("maximum number of tool calls")),
        "{notes:?}"
    );
    let stored = app
        .get("/v2/ai/conversations/conv-limit/messages?page[size]=50")
        .await
        .body;
    let answer = stored["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(answer["text"], "Stopping here.");
    assert_eq!(answer["metadata"]["tool_limit_reached"], true);
    app.stop().await;
}

async fn private_addresses_are_refused(backend: Backend) {
    let (app, llm) =
        TestApp::spawn_with_llm_and(backend, vec![], |s| s.allow_private_network = false).await;
    // Static private URLs are refused when saved.
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://localhost/hook",
    ] {
        let refused = app
            .post(
                "/v2/ai/assistants",
                &json!({"name": "x", "instructions": "x", "model": "scripted/model",
                        "tools": [{"type": "webhook", "webhook": {"name": "h", "description": "d", "url": url}}]}),
            )
            .await;
        let error = assert_error(&refused, 422, "10016");
        assert_eq!(error["source"]["pointer"], "/tools/0/webhook/url", "{url}");
    }
    // Hosts that come from variables, or resolve to loopback, are refused when called.
    let tool = |name: &str, url: &str| json!({"type": "webhook", "webhook": {"name": name, "description": "d", "url": url}});
    let id = assistant(
        &app,
        json!({
            "tools": [tool("templated", "http://{{host}}/hook"), tool("loopback_name", "http://{{loop}}:9/hook")],
            "dynamic_variables": {"host": "169.254.169.254", "loop": "localhost"},
        }),
    )
    .await;
    llm.push(Reply::ToolCalls(vec![
        ("templated".into(), "{}".into()),
        ("loopback_name".into(), "{}".into()),
    ]));
    llm.push(Reply::text("Cannot reach them."));
    let reply = chat(&app, &id, "conv-ssrf", "call them").await;
    assert_eq!(reply.body["content"], "Cannot reach them.");
    for result in tool_results(&llm, 1) {
        assert!(result.contains("cannot be called"), "{result}");
        assert!(result.contains("not a public address"), "{result}");
    }
    app.stop().await;
}

async fn the_tool_test_endpoint_runs_a_webhook_once(backend: Backend) {
    let (base, hook) = webhook_server().await;
    let (app, _llm) = TestApp::spawn_with_llm(backend, vec![]).await;
    app.post(
        "/v2/integration_secrets",
        &json!({"identifier": "shop_key", "type": "bearer", "token": "sk-shop-2"}),
    )
    .await;
    let fail = json!({"type": "webhook", "webhook": {"name": "fail", "description": "d", "url": format!("{base}/fail")}});
    let id = assistant(
        &app,
        json!({"tools": [order_tool(&base), fail, {"type": "hangup", "hangup": {}}],
               "dynamic_variables": {"caller": "default"}}),
    )
    .await;
    let tested = app
        .post(
            &format!("/v2/ai/assistants/{id}/tools/get_order/test"),
            &json!({"arguments": {"order_id": "9"}, "dynamic_variables": {"caller": "+1999"}}),
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    let data = &tested.body["data"];
    assert_eq!(data["success"], true);
    assert_eq!(data["status_code"], 200);
    assert_eq!(data["content_type"], "application/json");
    let response: Value = serde_json::from_str(data["response"].as_str().unwrap()).unwrap();
    assert_eq!(response["order"], "9");
    assert_eq!(data["request"]["method"], "POST");
    assert!(data["request"]["url"]
        .as_str()
        .unwrap()
        .contains("/orders/9?"));
    assert!(data["request"]["url"]
        .as_str()
        .unwrap()
        .contains("caller=%2B1999"));
    assert_eq!(data["request"]["headers"]["Authorization"], "***");
    assert!(
        !tested.body.to_string().contains("sk-shop-2"),
        "the secret never shows"
    );
    let hit = hook.hits.lock().unwrap().last().unwrap().clone();
    assert_eq!(hit.headers["authorization"], "Bearer sk-shop-2");

    let failed = app
        .post(
            &format!("/v2/ai/assistants/{id}/tools/fail/test"),
            &json!({}),
        )
        .await;
    assert_eq!(failed.status, 200);
    assert_eq!(failed.body["data"]["success"], false);
    assert_eq!(failed.body["data"]["status_code"], 503);

    assert_error(
        &app.post(
            &format!("/v2/ai/assistants/{id}/tools/nope/test"),
            &json!({}),
        )
        .await,
        404,
        "10005",
    );
    assert_error(
        &app.post(
            &format!("/v2/ai/assistants/{id}/tools/get_order/test"),
            &json!({"arguments": [1]}),
        )
        .await,
        422,
        "10016",
    );
    assert_error(
        &app.post(
            "/v2/ai/assistants/assistant-00000000-0000-4000-8000-000000000000/tools/get_order/test",
            &json!({}),
        )
        .await,
        404,
        "10005",
    );
    app.stop().await;
}

async fn async_webhook_results_arrive_later(backend: Backend) {
    let (base, hook) = webhook_server().await;
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::tool_call("book", json!({})),
            Reply::text("I have submitted your booking."),
            Reply::Echo,
        ],
    )
    .await;
    let book = json!({"type": "webhook", "webhook": {
        "name": "book", "description": "Books", "url": format!("{base}/later"),
        "async": true, "async_timeout_ms": 50,
        "store_fields_as_variables": [{"name": "confirmation", "value_path": "confirmation"}]}});
    let id = assistant(
        &app,
        json!({"tools": [book], "instructions": "Confirmation {{confirmation}}"}),
    )
    .await;
    let reply = chat(&app, &id, "conv-async", "book it").await;
    assert_eq!(reply.body["content"], "I have submitted your booking.");
    assert!(tool_results(&llm, 1)[0].starts_with("Submitted."));

    // The webhook answers now; its result is appended to the conversation.
    hook.release.notify_one();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let late = loop {
        let messages = app
            .get("/v2/ai/conversations/conv-async/messages?page[size]=50")
            .await
            .body;
        let found = messages["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "system")
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no late result: {messages}"
        );
        tokio::task::yield_now().await;
    };
    assert!(late["text"].as_str().unwrap().contains("C-123"), "{late}");
    assert_eq!(late["metadata"]["async"], true);
    assert_eq!(late["metadata"]["tool_name"], "book");

    // The next turn sees the stored variable and the late result.
    let next = chat(&app, &id, "conv-async", "status?").await;
    assert_eq!(
        next.body["content"],
        "system: Confirmation C-123 | user: status?"
    );
    let sent = llm.requests()[2].body["messages"].to_string();
    assert!(sent.contains("Result of book"), "{sent}");
    app.stop().await;
}

async fn integration_tools_call_the_connected_api(backend: Backend) {
    let (base, hook) = webhook_server().await;
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::tool_call("hubspot_get_contact", json!({"contactId": "77"})),
            Reply::text("Found the contact."),
        ],
    )
    .await;
    let secret = app
        .post(
            "/v2/integration_secrets",
            &json!({"identifier": "hubspot_token", "type": "bearer", "token": "hs-secret"}),
        )
        .await;
    assert_eq!(secret.status, 201, "{}", secret.body);
    let connection = app
        .post(
            "/v2/ai/integrations/connections",
            &json!({"integration_id": "hubspot", "api_key_ref": "hubspot_token", "base_url": base}),
        )
        .await;
    assert!(connection.status.is_success(), "{}", connection.body);
    let id = assistant(
        &app,
        json!({"integrations": [{"integration_id": "hubspot",
                                 "allowed_list": ["hubspot_get_contact", "hubspot_search_contacts"]}]}),
    )
    .await;
    let reply = chat(&app, &id, "conv-hub", "who is contact 77?").await;
    assert_eq!(
        reply.body["content"], "Found the contact.",
        "{}",
        reply.body
    );
    let offered: Vec<String> = llm.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(offered, ["hubspot_search_contacts", "hubspot_get_contact"]);
    let hit = hook.hits.lock().unwrap().last().unwrap().clone();
    assert_eq!(hit.method, "GET");
    assert_eq!(hit.path, "crm/v3/objects/contacts/77");
    assert_eq!(hit.headers["authorization"], "Bearer hs-secret");
    app.stop().await;
}

async fn shared_tools_are_offered_live_and_testable(backend: Backend) {
    let (base, hook) = webhook_server().await;
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::tool_call("lookup_order", json!({"order_id": "5"})),
            Reply::text("Order 5 shipped."),
        ],
    )
    .await;
    let shared = app
        .post(
            "/v2/ai/tools",
            &json!({"display_name": "Orders", "type": "webhook", "timeout_ms": 2000,
                    "webhook": {"name": "old_name", "description": "Looks up an order",
                                "url": format!("{base}/orders/{{order_id}}"), "method": "GET",
                                "path_parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}),
        )
        .await;
    assert_eq!(shared.status, 200, "{}", shared.body);
    let tool_id = shared.body["id"].as_str().unwrap().to_owned();
    let id = assistant(&app, json!({"tool_ids": [tool_id]})).await;
    // A change to the shared tool reaches the assistant.
    let renamed = app
        .send(
            reqwest::Method::PATCH,
            &format!("/v2/ai/tools/{tool_id}"),
            Some(&json!({"webhook": {"name": "lookup_order", "description": "Looks up an order",
                         "url": format!("{base}/orders/{{order_id}}"), "method": "GET",
                         "path_parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}})),
            Some(&app.key),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let reply = chat(&app, &id, "conv-shared", "order 5?").await;
    assert_eq!(reply.body["content"], "Order 5 shipped.", "{}", reply.body);
    assert_eq!(
        llm.requests()[0].body["tools"][0]["function"]["name"],
        "lookup_order"
    );
    assert_eq!(hook.hits.lock().unwrap().last().unwrap().path, "orders/5");

    let tested = app
        .post(
            &format!("/v2/ai/assistants/{id}/tools/{tool_id}/test"),
            &json!({"arguments": {"order_id": "6"}}),
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert_eq!(tested.body["data"]["success"], true);
    assert_eq!(tested.body["data"]["request"]["method"], "GET");
    app.stop().await;
}
