//! `POST /v2/ai/assistants/{id}/chat` end to end, against a scripted OpenAI-compatible server
//! on 127.0.0.1 that plays the LLM: history across turns, dynamic variables (assistant
//! defaults, the webhook, its timeout), upstream failures and recovery, fallback, streaming,
//! the external LLM wire format, history trimming and the 4xx paths. Every scenario runs on a
//! fresh SQLite file and a fresh PostgreSQL database.

mod common;

use axum::routing::post;
use axum::{Json, Router};
use common::{assert_error, Backend, TestApp};
use parley_llm::test_support::{Reply, ScriptedServer};
use parley_server::settings::ModelRoute;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn assistant(app: &TestApp, body: Value) -> String {
    let mut body = body;
    body.as_object_mut()
        .unwrap()
        .entry("name")
        .or_insert(json!("Chat test"));
    body.as_object_mut()
        .unwrap()
        .entry("model")
        .or_insert(json!("scripted/model"));
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

fn messages_sent(llm: &ScriptedServer, index: usize) -> Vec<(String, String)> {
    llm.requests()[index].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

on_both!(
    history_is_sent_and_stored_across_turns,
    variables_from_the_assistant_render_and_unknown_ones_stay,
    variables_from_the_webhook_override_defaults_once_per_conversation,
    webhook_timeout_and_errors_fall_back_to_defaults,
    upstream_failures_are_gateway_errors_and_leave_nothing_behind,
    fallback_model_answers_when_the_primary_fails,
    streaming_sends_deltas_then_done,
    refusals,
    external_llm_gets_the_key_and_forwarded_metadata,
    long_histories_drop_the_oldest_turns,
    unservable_models_are_refused_when_saved,
    canary_splits_new_conversations_and_each_stays_on_its_version,
);

async fn history_is_sent_and_stored_across_turns(backend: Backend) {
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![Reply::text("Hi Ada!"), Reply::text("You said hi.")],
    )
    .await;
    let id = assistant(&app, json!({"instructions": "Be brief."})).await;

    let first = chat(&app, &id, "conv-1", "Hello, I am Ada").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body, json!({"content": "Hi Ada!"}));
    let second = chat(&app, &id, "conv-1", "What did I say?").await;
    assert_eq!(second.body, json!({"content": "You said hi."}));

    assert_eq!(
        messages_sent(&llm, 1),
        pairs(&[
            ("system", "Be brief."),
            ("user", "Hello, I am Ada"),
            ("assistant", "Hi Ada!"),
            ("user", "What did I say?"),
        ])
    );
    assert_eq!(llm.requests()[1].body["model"], "scripted/model");

    let conversation = app.get("/v2/ai/conversations/conv-1").await;
    assert_eq!(conversation.status, 200, "{}", conversation.body);
    let metadata = &conversation.body["data"]["metadata"];
    assert_eq!(metadata["assistant_id"], id);
    assert_eq!(metadata["telnyx_conversation_channel"], "web_chat");
    let main = app.get(&format!("/v2/ai/assistants/{id}")).await.body;
    let version = metadata["assistant_version_id"].as_str().unwrap();
    assert!(!version.is_empty());
    assert!(
        main.to_string().contains(version),
        "the version is the assistant's main one"
    );

    let messages = app
        .get("/v2/ai/conversations/conv-1/messages?page[size]=10")
        .await;
    assert_eq!(messages.status, 200, "{}", messages.body);
    let data = messages.body["data"].as_array().unwrap();
    let roles: Vec<&str> = data.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert_eq!(data[1]["text"], "Hi Ada!");
    let trace = &data[3]["metadata"];
    assert_eq!(trace["model"], "scripted/model");
    assert_eq!(trace["assistant_version_id"], version);
    assert_eq!(trace["prompt_tokens"], 11);
    assert_eq!(trace["completion_tokens"], 7);
    assert_eq!(trace["fallback_used"], false);
    assert_eq!(messages.body["meta"]["total_results"], 4);
    app.stop().await;
}

async fn variables_from_the_assistant_render_and_unknown_ones_stay(backend: Backend) {
    let (app, llm) = TestApp::spawn_with_llm(backend, vec![Reply::Echo]).await;
    let id = assistant(
        &app,
        json!({
            "instructions": "Hello {{name}} on {{telnyx_conversation_channel}} in {{conversation}}: {{unknown}} {{telnyx_agent_target}}",
            "dynamic_variables": {"name": "Ada", "telnyx_agent_target": "spoofed"},
        }),
    )
    .await;
    let reply = chat(&app, &id, "conv-vars", "hi").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let system = &messages_sent(&llm, 0)[0].1;
    assert_eq!(
        system, "Hello Ada on web_chat in {{conversation}}: {{unknown}} {{telnyx_agent_target}}",
        "reserved telnyx_ names cannot be set by the assistant"
    );
    assert_eq!(
        reply.body["content"],
        format!("system: {system} | user: hi")
    );
    app.stop().await;
}

/// A webhook server answering with `answer` after `delay`; counts its calls and keeps the
/// last body.
async fn webhook(delay: Duration, answer: Value) -> (String, Arc<Mutex<Vec<Value>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let router = Router::new().route(
        "/variables",
        post(move |Json(body): Json<Value>| {
            let seen = seen.clone();
            let answer = answer.clone();
            async move {
                seen.lock().unwrap().push(body);
                tokio::time::sleep(delay).await;
                Json(answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/variables", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, calls)
}

async fn variables_from_the_webhook_override_defaults_once_per_conversation(backend: Backend) {
    let (app, llm) = TestApp::spawn_with_llm(backend, vec![Reply::Echo, Reply::Echo]).await;
    let (url, calls) = webhook(
        Duration::ZERO,
        json!({"dynamic_variables": {"name": "Grace", "tier": 3},
               "conversation": {"metadata": {"crm_id": "c-9", "assistant_id": "spoof"}}}),
    )
    .await;
    let id = assistant(
        &app,
        json!({
            "instructions": "Hello {{name}} ({{tier}}, {{city}})",
            "dynamic_variables": {"name": "Ada", "city": "Paris"},
            "dynamic_variables_webhook_url": url,
        }),
    )
    .await;
    assert_eq!(chat(&app, &id, "conv-hook", "one").await.status, 200);
    assert_eq!(chat(&app, &id, "conv-hook", "two").await.status, 200);
    assert_eq!(messages_sent(&llm, 0)[0].1, "Hello Grace (3, Paris)");
    assert_eq!(messages_sent(&llm, 1)[0].1, "Hello Grace (3, Paris)");
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls.len(),
        1,
        "called once, at the start of the conversation"
    );
    let data = &calls[0]["data"];
    assert_eq!(data["event_type"], "assistant.initialization");
    assert_eq!(data["record_type"], "event");
    assert_eq!(data["payload"]["assistant_id"], id);
    assert_eq!(data["payload"]["telnyx_conversation_channel"], "web_chat");
    assert_eq!(data["payload"]["conversation_id"], "conv-hook");
    let conversation = app.get("/v2/ai/conversations/conv-hook").await.body;
    assert_eq!(conversation["data"]["metadata"]["crm_id"], "c-9");
    assert_eq!(
        conversation["data"]["metadata"]["assistant_id"], id,
        "the webhook cannot overwrite reserved metadata"
    );
    app.stop().await;
}

async fn webhook_timeout_and_errors_fall_back_to_defaults(backend: Backend) {
    let (app, llm) =
        TestApp::spawn_with_llm(backend, vec![Reply::Echo, Reply::Echo, Reply::Echo]).await;
    let (slow, _) = webhook(
        Duration::from_secs(5),
        json!({"dynamic_variables": {"name": "Late"}}),
    )
    .await;
    let slow_id = assistant(
        &app,
        json!({
            "instructions": "Hello {{name}}",
            "dynamic_variables": {"name": "Ada"},
            "dynamic_variables_webhook_url": slow,
            "dynamic_variables_webhook_timeout_ms": 100,
        }),
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(chat(&app, &slow_id, "conv-slow", "hi").await.status, 200);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(messages_sent(&llm, 0)[0].1, "Hello Ada");

    // A flat object (not under dynamic_variables) is ignored.
    let (flat, _) = webhook(Duration::ZERO, json!({"name": "Flat"})).await;
    let flat_id = assistant(
        &app,
        json!({"instructions": "Hello {{name}}", "dynamic_variables": {"name": "Ada"},
               "dynamic_variables_webhook_url": flat}),
    )
    .await;
    assert_eq!(chat(&app, &flat_id, "conv-flat", "hi").await.status, 200);
    assert_eq!(messages_sent(&llm, 1)[0].1, "Hello Ada");

    // Nothing listens there.
    let dead_id = assistant(
        &app,
        json!({"instructions": "Hello {{name}}", "dynamic_variables": {"name": "Ada"},
               "dynamic_variables_webhook_url": "http://127.0.0.1:9/variables"}),
    )
    .await;
    assert_eq!(chat(&app, &dead_id, "conv-dead", "hi").await.status, 200);
    assert_eq!(messages_sent(&llm, 2)[0].1, "Hello Ada");
    app.stop().await;
}

async fn upstream_failures_are_gateway_errors_and_leave_nothing_behind(backend: Backend) {
    let (app, llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::Status(500, r#"{"error":{"message":"boom"}}"#.into()),
            Reply::Garbage("<html>not json</html>".into()),
            Reply::delayed(Duration::from_secs(5), Reply::text("too late")),
            Reply::text("Recovered."),
        ],
    )
    .await;
    let id = assistant(&app, json!({"instructions": "x"})).await;
    let failed = chat(&app, &id, "conv-fail", "hello").await;
    let error = assert_error(&failed, 502, "10019");
    assert!(
        !error["detail"].as_str().unwrap().contains("boom"),
        "no upstream detail leaks: {error}"
    );
    assert_error(
        &app.get("/v2/ai/conversations/conv-fail").await,
        404,
        "10005",
    );
    assert_error(&chat(&app, &id, "conv-fail", "hello").await, 502, "10019");
    assert_error(&chat(&app, &id, "conv-fail", "hello").await, 504, "10021");
    assert_error(
        &app.get("/v2/ai/conversations/conv-fail").await,
        404,
        "10005",
    );
    let ok = chat(&app, &id, "conv-fail", "hello").await;
    assert_eq!(ok.body, json!({"content": "Recovered."}));
    let messages = app.get("/v2/ai/conversations/conv-fail/messages").await;
    assert_eq!(messages.body["meta"]["total_results"], 2);
    assert_eq!(llm.requests().len(), 4);

    // Connection refused.
    let (dead, _llm) = TestApp::spawn_with_llm_and(backend, vec![], |settings| {
        settings.llm.upstream_base_url = Some("http://127.0.0.1:9/v1".into());
    })
    .await;
    let id = assistant(&dead, json!({"instructions": "x"})).await;
    assert_error(&chat(&dead, &id, "c", "hello").await, 502, "10019");
    dead.stop().await;
    app.stop().await;
}

async fn fallback_model_answers_when_the_primary_fails(backend: Backend) {
    let primary = ScriptedServer::start(vec![Reply::Status(503, "overloaded".into())]).await;
    let primary_url = primary.base_url();
    let (app, fallback) =
        TestApp::spawn_with_llm_and(backend, vec![Reply::text("From the fallback.")], |s| {
            s.llm.models.push(ModelRoute {
                name: "primary/model".into(),
                base_url: primary_url,
                model: Some("big".into()),
                api_key: None,
                context_tokens: None,
            });
        })
        .await;
    let id = assistant(
        &app,
        json!({"instructions": "x", "model": "primary/model",
               "fallback_config": {"model": "backup/model"}}),
    )
    .await;
    let reply = chat(&app, &id, "conv-fb", "hello").await;
    assert_eq!(reply.body, json!({"content": "From the fallback."}));
    assert_eq!(primary.requests()[0].body["model"], "big");
    assert_eq!(fallback.requests()[0].body["model"], "backup/model");
    let messages = app.get("/v2/ai/conversations/conv-fb/messages").await.body;
    assert_eq!(messages["data"][1]["metadata"]["fallback_used"], true);
    assert_eq!(messages["data"][1]["metadata"]["model"], "backup/model");
    app.stop().await;
}

/// `(event, data)` pairs of a server-sent events body.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = Some(name.trim().to_owned());
                } else if let Some(text) = line.strip_prefix("data:") {
                    data = Some(serde_json::from_str(text.trim()).unwrap());
                }
            }
            Some((event?, data?))
        })
        .collect()
}

async fn streaming_sends_deltas_then_done(backend: Backend) {
    let (app, _llm) = TestApp::spawn_with_llm(
        backend,
        vec![
            Reply::text("Hello there friend"),
            Reply::Stalled("Half".into()),
            Reply::Status(500, "x".into()),
        ],
    )
    .await;
    let id = assistant(&app, json!({"instructions": "x"})).await;
    let response = app
        .http
        .post(app.url(&format!("/v2/ai/assistants/{id}/chat")))
        .bearer_auth(&app.key)
        .json(&json!({"content": "hi", "conversation_id": "conv-sse", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let events = sse_events(&response.text().await.unwrap());
    let deltas: String = events
        .iter()
        .filter(|(e, _)| e == "delta")
        .map(|(_, d)| d["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deltas, "Hello there friend");
    assert!(events.iter().filter(|(e, _)| e == "delta").count() >= 3);
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done");
    assert_eq!(done["content"], "Hello there friend");
    assert_eq!(done["conversation_id"], "conv-sse");
    let stored = app.get("/v2/ai/conversations/conv-sse/messages").await.body;
    assert_eq!(stored["data"][1]["text"], "Hello there friend");

    // The upstream stalls after one delta: the deadline ends the stream with an error event
    // and nothing is stored.
    let response = app
        .http
        .post(app.url(&format!("/v2/ai/assistants/{id}/chat")))
        .bearer_auth(&app.key)
        .json(&json!({"content": "again", "conversation_id": "conv-sse", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = sse_events(&response.text().await.unwrap());
    assert_eq!(events[0], ("delta".into(), json!({"content": "Half"})));
    let (last, error) = events.last().unwrap();
    assert_eq!(last, "error");
    assert_eq!(error["errors"][0]["code"], "10021");
    let stored = app.get("/v2/ai/conversations/conv-sse/messages").await.body;
    assert_eq!(stored["meta"]["total_results"], 2);

    // A failure before the first token is a plain JSON error with its status.
    let response = app
        .http
        .post(app.url(&format!("/v2/ai/assistants/{id}/chat")))
        .bearer_auth(&app.key)
        .json(&json!({"content": "again", "conversation_id": "conv-sse", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_error(&TestApp::reply(response).await, 502, "10019");
    app.stop().await;
}

async fn refusals(backend: Backend) {
    let (app, _llm) =
        TestApp::spawn_with_llm(backend, vec![Reply::text("ok"), Reply::text("ok")]).await;
    let id = assistant(&app, json!({"instructions": "x"})).await;
    let other = assistant(&app, json!({"instructions": "y"})).await;
    let url = format!("/v2/ai/assistants/{id}/chat");

    let empty = app
        .post(&url, &json!({"content": "", "conversation_id": "c"}))
        .await;
    assert_eq!(
        assert_error(&empty, 400, "10002")["source"]["pointer"],
        "/content"
    );
    let missing = app.post(&url, &json!({"content": "hi"})).await;
    assert_eq!(
        assert_error(&missing, 422, "10016")["source"]["pointer"],
        "/conversation_id"
    );
    let wrong = app
        .post(&url, &json!({"content": ["hi"], "conversation_id": "c"}))
        .await;
    assert_error(&wrong, 422, "10016");
    let malformed = app
        .http
        .post(app.url(&url))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body("{\"content\":")
        .send()
        .await
        .unwrap();
    assert_error(&TestApp::reply(malformed).await, 400, "10002");
    assert_error(
        &chat(
            &app,
            "assistant-00000000-0000-4000-8000-000000000000",
            "c",
            "hi",
        )
        .await,
        404,
        "10005",
    );
    let stranger = app.key_for_new_org("stranger").await;
    let foreign = app
        .send(
            reqwest::Method::POST,
            &url,
            Some(&json!({"content": "hi", "conversation_id": "c"})),
            Some(&stranger),
        )
        .await;
    assert_error(&foreign, 404, "10005");

    // ai_disabled: human takeover.
    assert_eq!(chat(&app, &id, "conv-human", "hi").await.status, 200);
    let put = app
        .send(
            reqwest::Method::PUT,
            "/v2/ai/conversations/conv-human",
            Some(&json!({"metadata": {"ai_disabled": "true"}})),
            Some(&app.key),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_error(&chat(&app, &id, "conv-human", "hi").await, 400, "10018");
    // A conversation belongs to the assistant that started it.
    assert_error(&chat(&app, &other, "conv-human", "hi").await, 400, "10018");
    app.send(
        reqwest::Method::PUT,
        "/v2/ai/conversations/conv-human",
        Some(&json!({"metadata": {"ai_disabled": "false"}})),
        Some(&app.key),
    )
    .await;
    assert_eq!(chat(&app, &id, "conv-human", "back").await.status, 200);
    app.stop().await;
}

async fn external_llm_gets_the_key_and_forwarded_metadata(backend: Backend) {
    let external = ScriptedServer::start(vec![Reply::text("external answer")]).await;
    let (app, catch_all) = TestApp::spawn_with_llm(backend, vec![]).await;
    let secret = app
        .post(
            "/v2/integration_secrets",
            &json!({"identifier": "ext_key", "type": "bearer", "token": "sk-external-123"}),
        )
        .await;
    assert_eq!(secret.status, 201, "{}", secret.body);
    let id = assistant(
        &app,
        json!({
            "instructions": "Hi {{name}}",
            "dynamic_variables": {"name": "Ada"},
            "external_llm": {"base_url": external.base_url(), "model": "my-model",
                             "llm_api_key_ref": "ext_key", "forward_metadata": true},
        }),
    )
    .await;
    let reply = chat(&app, &id, "conv-ext", "hello").await;
    assert_eq!(
        reply.body,
        json!({"content": "external answer"}),
        "{}",
        reply.body
    );
    let request = &external.requests()[0];
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer sk-external-123")
    );
    assert_eq!(request.body["model"], "my-model");
    assert_eq!(request.body["extra_metadata"]["name"], "Ada");
    assert_eq!(
        request.body["extra_metadata"]["telnyx_conversation_id"],
        "conv-ext"
    );
    assert!(catch_all.requests().is_empty());
    app.stop().await;

    // With private networks refused, an external LLM on loopback is refused: at save time,
    // and (for one saved while it was allowed) at chat time.
    let (strict, _llm) =
        TestApp::spawn_with_llm_and(backend, vec![], |s| s.allow_private_network = false).await;
    let refused = strict
        .post(
            "/v2/ai/assistants",
            &json!({"name": "x", "instructions": "i", "external_llm": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}}),
        )
        .await;
    assert_eq!(
        assert_error(&refused, 422, "10016")["source"]["pointer"],
        "/external_llm/base_url"
    );
    strict.stop().await;
}

async fn long_histories_drop_the_oldest_turns(backend: Backend) {
    let long = "word ".repeat(100); // ~125 tokens at four bytes a token
    let llm = ScriptedServer::start(vec![]).await;
    llm.repeat(Reply::text("ok"));
    let base_url = llm.base_url();
    let app = TestApp::spawn_with_settings(backend, |s| {
        s.llm.embedded = false;
        s.llm.upstream_base_url = None;
        s.llm.max_output_tokens = 50;
        s.default_model = "small/model".into();
        s.llm.models.push(ModelRoute {
            name: "small/model".into(),
            base_url,
            model: None,
            api_key: None,
            context_tokens: Some(400),
        });
    })
    .await;
    let id = assistant(
        &app,
        json!({"instructions": "Be brief.", "model": "small/model"}),
    )
    .await;
    for turn in 0..6 {
        let reply = chat(&app, &id, "conv-long", &format!("{turn} {long}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let sent = messages_sent(&llm, 5);
    assert_eq!(
        sent[0],
        ("system".into(), "Be brief.".into()),
        "the system prompt stays"
    );
    assert_eq!(sent.last().unwrap().1, format!("5 {long}"));
    assert!(sent.len() < 12, "older turns were dropped: {}", sent.len());
    assert_eq!(sent[1].0, "user", "whole turns are dropped");
    let messages = app
        .get("/v2/ai/conversations/conv-long/messages?page[size]=100")
        .await
        .body;
    assert_eq!(
        messages["meta"]["total_results"], 12,
        "storage keeps everything"
    );
    let dropped = messages["data"][11]["metadata"]["history_dropped_messages"]
        .as_u64()
        .unwrap();
    assert!(dropped >= 2, "{dropped}");

    // A single message larger than the whole context is refused with a 422.
    let huge = "word ".repeat(400);
    let reply = chat(&app, &id, "conv-huge", &huge).await;
    assert_eq!(
        assert_error(&reply, 422, "10016")["source"]["pointer"],
        "/content"
    );
    app.stop().await;
}

async fn unservable_models_are_refused_when_saved(backend: Backend) {
    let app = TestApp::spawn_with_settings(backend, |s| {
        s.llm.embedded = true;
        s.llm.upstream_base_url = None;
        s.llm.models.push(ModelRoute {
            name: "openai/*".into(),
            base_url: "https://api.openai.com/v1".into(),
            model: None,
            api_key: None,
            context_tokens: None,
        });
    })
    .await;
    let refused = app
        .post(
            "/v2/ai/assistants",
            &json!({"name": "x", "instructions": "i", "model": "nobody/serves-this"}),
        )
        .await;
    let error = assert_error(&refused, 422, "10016");
    assert_eq!(error["source"]["pointer"], "/model");
    assert!(error["detail"]
        .as_str()
        .unwrap()
        .contains("nobody/serves-this"));
    let fallback = app
        .post(
            "/v2/ai/assistants",
            &json!({"name": "x", "instructions": "i", "fallback_config": {"model": "nobody/either"}}),
        )
        .await;
    assert_eq!(
        assert_error(&fallback, 422, "10016")["source"]["pointer"],
        "/fallback_config/model"
    );
    let served = app
        .post(
            "/v2/ai/assistants",
            &json!({"name": "x", "instructions": "i", "model": "openai/gpt-4o"}),
        )
        .await;
    assert_eq!(served.status, 200, "{}", served.body);
    let default = app
        .post(
            "/v2/ai/assistants",
            &json!({"name": "x", "instructions": "i"}),
        )
        .await;
    assert_eq!(default.body["model"], "HuggingFaceTB/SmolLM2-135M-Instruct");
    let id = served.body["id"].as_str().unwrap();
    let update = app
        .post(
            &format!("/v2/ai/assistants/{id}"),
            &json!({"model": "nope/x"}),
        )
        .await;
    assert_error(&update, 422, "10016");

    let models = app.get("/v2/ai/models").await;
    assert_eq!(models.status, 200);
    assert_eq!(models.body["object"], "list");
    let ids: Vec<&str> = models.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["HuggingFaceTB/SmolLM2-135M-Instruct", "openai/*"]);
    assert_eq!(models.body["data"][0]["recommended_for_assistants"], true);
    app.stop().await;
}

async fn canary_splits_new_conversations_and_each_stays_on_its_version(backend: Backend) {
    let (app, llm) = TestApp::spawn_with_llm(backend, vec![]).await;
    llm.repeat(Reply::Echo);
    let id = assistant(&app, json!({"instructions": "v1"})).await;
    let draft = app
        .post(
            &format!("/v2/ai/assistants/{id}"),
            &json!({"instructions": "v2", "promote_to_main": false}),
        )
        .await;
    assert_eq!(draft.status, 200, "{}", draft.body);
    let v2 = draft.body["version_id"].as_str().unwrap().to_owned();
    let canary = app
        .post(
            &format!("/v2/ai/assistants/{id}/canary-deploys"),
            &json!({"rules": [{"serve": {"rollout": [{"version_id": v2, "weight": 50}]}}]}),
        )
        .await;
    assert_eq!(canary.status, 200, "{}", canary.body);

    let mut served = std::collections::BTreeMap::new();
    for n in 0..40 {
        let conversation = format!("canary-{n}");
        let reply = chat(&app, &id, &conversation, "hi").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let system = reply.body["content"].as_str().unwrap()[8..10].to_owned();
        served.insert(conversation, system);
    }
    let on_v2 = served.values().filter(|v| *v == "v2").count();
    assert!(
        (8..=32).contains(&on_v2),
        "a 50% rollout over 40 conversations: {on_v2} on v2"
    );
    for (conversation, version) in &served {
        let metadata = app
            .get(&format!("/v2/ai/conversations/{conversation}"))
            .await
            .body["data"]["metadata"]
            .clone();
        assert_eq!(
            metadata["assistant_version_id"] == json!(v2),
            version == "v2",
            "{conversation}: {metadata}"
        );
    }

    // Promoting v2 removes the canary; conversations started on v1 stay on v1, new ones get v2.
    let promoted = app
        .post(
            &format!("/v2/ai/assistants/{id}/versions/{v2}/promote"),
            &json!({}),
        )
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.body);
    for (conversation, version) in served.iter().take(10) {
        let reply = chat(&app, &id, conversation, "again").await;
        let system = &reply.body["content"].as_str().unwrap()[8..10];
        assert_eq!(system, version, "{conversation} is sticky");
    }
    let fresh = chat(&app, &id, "after-promotion", "hi").await;
    assert!(fresh.body["content"]
        .as_str()
        .unwrap()
        .starts_with("system: v2 |"));
    app.stop().await;
}
