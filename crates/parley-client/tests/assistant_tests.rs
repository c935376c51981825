//! Assistant tests, their runs and test suites through the SDK, against the real server on
//! SQLite and on PostgreSQL with its job worker on. A scripted model plays the assistant (it
//! echoes what it is told); a local OpenAI-compatible server plays the simulated user (it
//! follows the `SCRIPT:` line of the test's instructions, then ends the conversation) and the
//! judge (`MENTIONS:<text>` passes when the transcript contains `<text>`).

mod common;

use axum::routing::post;
use axum::{Json, Router};
use common::fixtures::{
    chat_completion, create_smoke_test, describe_test, rubric, run_finished, serve, LocalServer,
};
use common::{assert_api_error, Backend, TestServer};
use futures::TryStreamExt;
use parley_client::types::assistant_tests::{
    TestCreateParams, TestListParams, TestRunListParams, TestRunResponse,
};
use parley_client::types::assistants::AssistantCreateParams;
use serde_json::{json, Value};

/// The simulated user and the judge, answering by the request's kind.
async fn answer(Json(body): Json<Value>) -> Json<Value> {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let text_of = |m: &Value| m["content"].as_str().unwrap_or_default().to_owned();
    let content = match body["response_format"]["json_schema"]["name"].as_str() {
        Some("simulated_user_turn") => {
            let system = messages.first().map(text_of).unwrap_or_default();
            let script: Vec<&str> = system
                .lines()
                .find_map(|l| l.strip_prefix("SCRIPT:"))
                .unwrap_or_default()
                .split('|')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let said = messages.iter().filter(|m| m["role"] == "assistant").count();
            match script.get(said) {
                Some(line) => json!({"message": line, "end_conversation": false}),
                None => json!({"message": "", "end_conversation": true}),
            }
            .to_string()
        }
        Some("verdict") => {
            let question = messages.last().map(text_of).unwrap_or_default();
            let criterion = question
                .lines()
                .find_map(|l| l.strip_prefix("Criterion "))
                .and_then(|l| l.split_once(": "))
                .map(|(_, c)| c.to_owned())
                .unwrap_or_default();
            let transcript = question
                .split_once("Transcript:\n")
                .and_then(|(_, rest)| rest.split_once("\n\nCriterion "))
                .map(|(t, _)| t.to_owned())
                .unwrap_or_default();
            let wanted = criterion.strip_prefix("MENTIONS:").unwrap_or_default();
            let passed = transcript.contains(wanted);
            json!({"passed": passed, "reasoning": format!("looked for {wanted:?}: {passed}")})
                .to_string()
        }
        other => format!("unexpected request kind {other:?}"),
    };
    chat_completion("m", content)
}

/// The evaluation server.
async fn eval() -> LocalServer {
    serve(Router::new().route("/v1/chat/completions", post(answer))).await
}

async fn spawn(backend: Backend, eval: &LocalServer) -> TestServer {
    let eval_url = format!("{}/v1", eval.base_url);
    TestServer::spawn_echoing(backend, |settings| {
        settings.llm.timeout_ms = 5_000;
        settings.eval.base_url = Some(eval_url);
        settings.eval.model = Some("judge".into());
        settings.jobs.poll_ms = 50;
    })
    .await
}

async fn tests_runs_and_suites(server: TestServer, _eval: &LocalServer) {
    let client = &server.client;
    let assistant = client
        .ai()
        .assistants()
        .create(&AssistantCreateParams {
            name: "Support".into(),
            instructions: "Help customers.".into(),
            model: Some("scripted/model".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let tests = client.ai().assistants().tests();
    let greeting = create_smoke_test(
        &server,
        "Greeting",
        &assistant.id,
        "You are a customer.\nSCRIPT: hello there | thanks",
        &[("Echo", "MENTIONS:hello there")],
    )
    .await;
    assert_eq!(greeting.telnyx_conversation_channel, "web_chat");
    assert_eq!(greeting.rubric[0].name, "Echo");
    let refund = create_smoke_test(
        &server,
        "Refund",
        &assistant.id,
        "You are a customer.\nSCRIPT: where is my parcel",
        &[
            ("Parcel", "MENTIONS:parcel"),
            ("Refund offered", "MENTIONS:refund"),
        ],
    )
    .await;
    let other = tests
        .create(&TestCreateParams {
            name: "Other".into(),
            destination: assistant.id.clone(),
            instructions: "SCRIPT: hi".into(),
            rubric: rubric(&[("Any", "MENTIONS:hi")]),
            ..Default::default()
        })
        .await
        .unwrap();

    // Reading: one page, a filter, every page, one test, the suites.
    assert_eq!(tests.list().await.unwrap().meta.total_results, 3);
    let smoke = tests
        .list_with(&TestListParams {
            test_suite: Some("smoke".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(smoke.data.len(), 2);
    let mut names: Vec<String> = tests
        .list_all(&one_per_page!(TestListParams))
        .map_ok(|t| t.name)
        .try_collect()
        .await
        .unwrap();
    names.sort();
    assert_eq!(names, ["Greeting", "Other", "Refund"]);
    assert_eq!(tests.retrieve(&greeting.test_id).await.unwrap(), greeting);
    let updated = describe_test(&server, &other.test_id, "Says hi.").await;
    assert_eq!(updated.name, "Other");
    assert_eq!(tests.test_suites().list().await.unwrap().data, ["smoke"]);

    // One run, carried out by the worker: the simulated user talks, the judge grades.
    let run = tests.runs().trigger(&greeting.test_id).await.unwrap();
    assert_eq!(run.status, "pending");
    assert_eq!(run.triggered_by, "api");
    let run = run_finished(client, &run).await;
    assert_eq!(run.status, "passed", "{:?}", run.logs);
    let details = run.detail_status.clone().unwrap();
    assert_eq!(details[0].name, "Echo");
    assert_eq!(details[0].status, "passed");
    assert!(
        run.logs.as_deref().unwrap().contains("[passed] Echo"),
        "{:?}",
        run.logs
    );
    assert!(run.conversation_id.is_some());
    let history = tests.runs().list(&greeting.test_id).await.unwrap();
    assert_eq!(history.data[0].run_id, run.run_id);

    // The suite: one run per test, sharing a suite run id.
    let suite_runs = tests.test_suites().runs().trigger("smoke").await.unwrap();
    assert_eq!(suite_runs.len(), 2);
    let suite_run_id = suite_runs[0].test_suite_run_id.clone().unwrap();
    assert!(suite_runs
        .iter()
        .all(|r| r.test_suite_run_id.as_deref() == Some(suite_run_id.as_str())));
    let mut outcomes = Vec::new();
    for run in &suite_runs {
        let done = run_finished(client, run).await;
        outcomes.push((done.test_id.clone(), done.status.clone()));
    }
    outcomes.sort();
    let mut expected = vec![
        (greeting.test_id.clone(), "passed".to_owned()),
        (refund.test_id.clone(), "failed".to_owned()),
    ];
    expected.sort();
    assert_eq!(outcomes, expected);
    let listed: Vec<TestRunResponse> = tests
        .test_suites()
        .runs()
        .list_all(
            "smoke",
            &TestRunListParams {
                test_suite_run_id: Some(suite_run_id),
                page_size: Some(1),
                ..Default::default()
            },
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    let failed = tests
        .test_suites()
        .runs()
        .list_with(
            "smoke",
            &TestRunListParams {
                status: Some("failed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.data.len(), 1);
    assert_eq!(failed.data[0].test_id, refund.test_id);

    // Deleting a test deletes its runs.
    tests.delete(&refund.test_id).await.unwrap();
    assert_api_error(tests.retrieve(&refund.test_id).await, 404, "10005");
    assert_api_error(tests.runs().trigger(&refund.test_id).await, 404, "10005");
    assert_eq!(
        tests
            .runs()
            .list(&refund.test_id)
            .await
            .map(|p| p.data.len())
            .unwrap_or(0),
        0
    );
}

on_both_backends_with!(eval, spawn: tests_runs_and_suites);
