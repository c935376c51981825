//! Chat with the real embedded model (SmolLM2-135M-Instruct through llama.cpp), end to end:
//! an assistant with the default model answers, streams, remembers the conversation and
//! reports its trace. The model is pulled into the models directory (`PARLEY_MODELS_DIR`,
//! else the user's cache) when it is missing — never skipped — and loaded once, by the one
//! server of this binary. The 135M model's answers are not judged, only their shape.

mod common;

use common::{Backend, TestApp};
use parley_core::clock::SystemClock;
use parley_llm::models::{self, PullOptions, Quiet, SMOLLM2_135M_INSTRUCT};
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_model_answers_streams_and_remembers() {
    let dir = models::default_models_dir(std::env::vars())
        .expect("PARLEY_MODELS_DIR, XDG_CACHE_HOME or HOME must be set");
    let pull_dir = dir.clone();
    tokio::task::spawn_blocking(move || {
        models::pull(
            &SMOLLM2_135M_INSTRUCT,
            &pull_dir,
            &PullOptions::default(),
            &Quiet,
        )
    })
    .await
    .unwrap()
    .expect("pull SmolLM2-135M-Instruct");

    let app = TestApp::spawn_with(Backend::Sqlite, Arc::new(SystemClock), |settings| {
        settings.llm.models_dir = Some(dir);
        settings.llm.embedded = true;
        settings.llm.upstream_base_url = None;
        settings.llm.contexts = 1;
        settings.llm.context_tokens = 1024;
        settings.llm.max_output_tokens = 24;
    })
    .await;
    let created = app
        .create_assistant(json!({
            "name": "Embedded",
            "instructions": "You are a helpful assistant for {{company}}. Answer in one short sentence.",
            "dynamic_variables": {"company": "Acme"},
        }))
        .await;
    assert_eq!(created["model"], "HuggingFaceTB/SmolLM2-135M-Instruct");
    let id = created["id"].as_str().unwrap();
    let url = format!("/v2/ai/assistants/{id}/chat");

    let first = app
        .post(
            &url,
            &json!({"content": "What is the capital of France?", "conversation_id": "emb-1"}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        !first.body["content"].as_str().unwrap().trim().is_empty(),
        "{}",
        first.body
    );

    let response = app
        .http
        .post(app.url(&url))
        .bearer_auth(&app.key)
        .json(&json!({"content": "And of Italy?", "conversation_id": "emb-1", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let mut deltas = String::new();
    let mut done: Option<Value> = None;
    for block in body.split("\n\n") {
        let event = block.lines().find_map(|l| l.strip_prefix("event:"));
        let data = block.lines().find_map(|l| l.strip_prefix("data:"));
        match (event.map(str::trim), data) {
            (Some("delta"), Some(data)) => {
                let data: Value = serde_json::from_str(data.trim()).unwrap();
                deltas.push_str(data["content"].as_str().unwrap());
            }
            (Some("done"), Some(data)) => done = Some(serde_json::from_str(data.trim()).unwrap()),
            (Some(other), _) => panic!("unexpected event {other}: {body}"),
            _ => {}
        }
    }
    let done = done.unwrap_or_else(|| panic!("no done event: {body}"));
    assert!(!deltas.is_empty(), "{body}");
    assert_eq!(done["content"].as_str().unwrap(), deltas.trim());

    let messages = app.get("/v2/ai/conversations/emb-1/messages").await.body;
    assert_eq!(messages["meta"]["total_results"], 4, "{messages}");
    let trace = &messages["data"][3]["metadata"];
    assert_eq!(trace["model"], "HuggingFaceTB/SmolLM2-135M-Instruct");
    let completion = trace["completion_tokens"].as_u64().unwrap();
    assert!((1..=24).contains(&completion), "{trace}");
    let prompt = trace["prompt_tokens"].as_u64().unwrap();
    let first_prompt = messages["data"][1]["metadata"]["prompt_tokens"]
        .as_u64()
        .unwrap();
    assert!(
        prompt > first_prompt,
        "the second prompt carries the first turn: {first_prompt} then {prompt}"
    );
    assert!(
        trace["time_to_first_token_ms"].as_u64().is_some(),
        "{trace}"
    );

    // With a tool on offer the grammar keeps any call valid: a call of the one tool with a
    // JSON object of arguments, or plain text.
    let with_tool = app
        .create_assistant(json!({
            "name": "Embedded tools",
            "instructions": "Remember facts the user tells you with the remember tool.",
            "tools": [{"type": "update_dynamic_variables", "update_dynamic_variables": {
                "name": "remember", "description": "Stores the user's city",
                "updatable_variables": [{"name": "city", "description": "The user's city"}]}}],
        }))
        .await;
    let tool_url = format!(
        "/v2/ai/assistants/{}/chat",
        with_tool["id"].as_str().unwrap()
    );
    let reply = app
        .post(
            &tool_url,
            &json!({"content": "I live in Oslo. Remember my city.", "conversation_id": "emb-tool"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let stored = app.get("/v2/ai/conversations/emb-tool/messages").await.body;
    for message in stored["data"].as_array().unwrap() {
        for call in message["tool_calls"].as_array().into_iter().flatten() {
            assert_eq!(call["function"]["name"], "remember", "{stored}");
            let arguments: Value =
                serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
            assert!(arguments.is_object(), "{arguments}");
        }
    }

    let models = app.get("/v2/ai/models").await.body;
    assert_eq!(
        models["data"][0]["id"],
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    );
    app.stop().await;
}
