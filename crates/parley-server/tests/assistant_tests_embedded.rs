//! An assistant test run with the real embedded model (SmolLM2-135M-Instruct through
//! llama.cpp) playing everything: the assistant, the simulated user and the judge. The model
//! is pulled into the models directory (`PARLEY_MODELS_DIR`, else the user's cache) when it is
//! missing — never skipped. A 135M model makes a weak judge: the verdict is not checked, only
//! that the flow and the format are exact (a conversation, a `passed`/`failed` verdict read
//! from the grammar-constrained JSON, the logs).

mod common;

use common::{Backend, TestApp};
use parley_core::clock::SystemClock;
use parley_llm::models::{self, PullOptions, Quiet, SMOLLM2_135M_INSTRUCT};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_model_plays_user_assistant_and_judge() {
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
        settings.llm.context_tokens = 2048;
        settings.llm.max_output_tokens = 48;
        settings.eval.max_turns = 2;
    })
    .await;
    let assistant = app
        .create_assistant(json!({
            "name": "Shoe shop",
            "instructions": "You help customers of a shoe shop. Refunds are possible within 30 days. Answer in one short sentence.",
        }))
        .await;
    let test = app
        .post(
            "/v2/ai/assistants/tests",
            &json!({
                "name": "Refund",
                "destination": assistant["id"],
                "instructions": "You bought shoes last week that do not fit. Ask for a refund.",
                "rubric": [{"name": "Refund policy", "criteria": "The assistant says whether a refund is possible."}],
                "max_duration_seconds": 300,
            }),
        )
        .await;
    assert_eq!(test.status, 201, "{}", test.body);
    let test_id = test.body["test_id"].as_str().unwrap();
    let run = app
        .post(
            &format!("/v2/ai/assistants/tests/{test_id}/runs"),
            &json!({}),
        )
        .await;
    assert_eq!(run.status, 201, "{}", run.body);
    let run_id = run.body["run_id"].as_str().unwrap();

    let started = Instant::now();
    assert_eq!(app.tick_jobs(app.clock.now()).await, 1);
    eprintln!(
        "one test run with the embedded model: {} ms",
        started.elapsed().as_millis()
    );
    let done = app
        .get(&format!("/v2/ai/assistants/tests/{test_id}/runs/{run_id}"))
        .await
        .body;
    let logs = done["logs"].as_str().unwrap_or_default();
    eprintln!("{logs}");
    assert!(
        ["passed", "failed"].contains(&done["status"].as_str().unwrap()),
        "the run was carried out and graded: {done}"
    );
    let item = &done["detail_status"][0];
    assert_eq!(item["name"], "Refund policy");
    assert!(
        ["passed", "failed"].contains(&item["status"].as_str().unwrap()),
        "{done}"
    );
    assert!(
        logs.contains("evaluation model: HuggingFaceTB/SmolLM2-135M-Instruct (the default model)"),
        "{logs}"
    );
    assert!(
        logs.contains("--- verdicts ---") && logs.contains("user: "),
        "{logs}"
    );
    let conversation_id = done["conversation_id"].as_str().unwrap();
    let messages = app
        .get(&format!("/v2/ai/conversations/{conversation_id}/messages"))
        .await
        .body;
    let total = messages["meta"]["total_results"].as_u64().unwrap();
    assert!((2..=4).contains(&total), "one or two exchanges: {messages}");
    app.stop().await;
}
