//! Assistant tests end to end, on a fresh SQLite file and a fresh PostgreSQL database: the
//! tests API (validation, filters, pagination, suites), runs triggered and carried out by the
//! job worker — a simulated user and a judge played by a local evaluation stub, the assistant
//! by a scripted OpenAI-compatible server — with deterministic verdicts per rubric item, suite
//! runs, version targeting, the duration limit, a judge answering garbage, the SMS and voice
//! channels, and a run whose node died (its job claimed again) ending as `error`.
//!
//! The evaluation stub is deterministic under concurrency: the simulated user follows the
//! script in the test's instructions (`SCRIPT: first | second | …`, then it ends the
//! conversation), and the judge decides from the criterion: `MENTIONS:<text>` passes when the
//! transcript contains `<text>`, `GARBAGE` never answers JSON, `GARBAGE_ONCE` answers JSON on
//! the second try. The assistant echoes (`system: <instructions> | user: <message>`), so what
//! the judge sees depends on what the assistant really said.

mod common;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use common::{assert_error, Backend, TestApp};
use parley_core::assistant_tests::TestStatus;
use parley_llm::test_support::{Reply, ScriptedServer};
use parley_store::{TestRunTransition, TestRunUpdate, TEST_RUN_JOB};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// The evaluation stub
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct EvalState {
    /// Every request body, in order of arrival.
    requests: Vec<Value>,
    /// How often each criterion was judged.
    judged: HashMap<String, usize>,
}

/// An OpenAI-compatible server playing the simulated user and the judge.
struct EvalStub {
    base_url: String,
    state: Arc<Mutex<EvalState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EvalStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EvalStub {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(EvalState::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(eval_answer))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        EvalStub {
            base_url: format!("http://{address}/v1"),
            state,
            task,
        }
    }

    fn judged(&self, criterion: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .judged
            .get(criterion)
            .copied()
            .unwrap_or(0)
    }

    fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-eval", "object": "chat.completion", "created": 0, "model": "eval",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    })
}

async fn eval_answer(
    State(state): State<Arc<Mutex<EvalState>>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let schema = body["response_format"]["json_schema"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let text_of = |m: &Value| m["content"].as_str().unwrap_or_default().to_owned();
    let mut state = state.lock().unwrap();
    state.requests.push(body.clone());
    let content = match schema.as_str() {
        "simulated_user_turn" => {
            let system = messages.first().map(text_of).unwrap_or_default();
            let script: Vec<String> = system
                .lines()
                .find_map(|l| l.strip_prefix("SCRIPT:"))
                .unwrap_or_default()
                .split('|')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            let said = messages.iter().filter(|m| m["role"] == "assistant").count();
            match script.get(said) {
                Some(line) if line.starts_with("BYE:") => {
                    json!({"message": line["BYE:".len()..].trim(), "end_conversation": true})
                        .to_string()
                }
                Some(line) => json!({"message": line, "end_conversation": false}).to_string(),
                None => json!({"message": "", "end_conversation": true}).to_string(),
            }
        }
        "verdict" => {
            let question = messages.last().map(text_of).unwrap_or_default();
            let criterion = question
                .lines()
                .find_map(|l| l.strip_prefix("Criterion "))
                .and_then(|l| l.split_once(": "))
                .map(|(_, c)| c.to_owned())
                .unwrap_or_default();
            let count = {
                let n = state.judged.entry(criterion.clone()).or_default();
                *n += 1;
                *n
            };
            let transcript = question
                .split_once("Transcript:\n")
                .and_then(|(_, rest)| rest.split_once("\n\nCriterion "))
                .map(|(t, _)| t.to_owned())
                .unwrap_or_default();
            if criterion == "GARBAGE" || (criterion == "GARBAGE_ONCE" && count == 1) {
                "I would rather not answer in JSON.".to_owned()
            } else if let Some(wanted) = criterion.strip_prefix("MENTIONS:") {
                let passed = transcript.contains(wanted);
                json!({"passed": passed, "reasoning": format!("looked for {wanted:?}: {passed}")})
                    .to_string()
            } else {
                json!({"passed": true, "reasoning": "fine"}).to_string()
            }
        }
        other => format!("unexpected request kind {other:?}"),
    };
    Json(completion(&content))
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The app with the assistant played by a scripted server (echoing unless `replies` say
/// otherwise) and the evaluation by the stub.
async fn spawn(
    backend: Backend,
    replies: Vec<Reply>,
    tweak: impl FnOnce(&mut parley_server::Settings),
) -> (TestApp, ScriptedServer, EvalStub) {
    let eval = EvalStub::start().await;
    let eval_url = eval.base_url.clone();
    let (app, llm) = TestApp::spawn_with_llm_and(backend, replies, |settings| {
        settings.eval.base_url = Some(eval_url);
        settings.eval.model = Some("judge-model".into());
        tweak(settings);
    })
    .await;
    llm.repeat(Reply::Echo);
    (app, llm, eval)
}

async fn assistant(app: &TestApp, instructions: &str) -> String {
    app.create_assistant(json!({
        "name": "Support",
        "model": "scripted/model",
        "instructions": instructions,
    }))
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn test_body(name: &str, destination: &str, script: &str, rubric: Value) -> Value {
    json!({
        "name": name,
        "destination": destination,
        "instructions": format!("You are a customer.\nSCRIPT: {script}"),
        "rubric": rubric,
    })
}

async fn create_test(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/v2/ai/assistants/tests", &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

async fn put(app: &TestApp, path: &str, body: &Value) -> common::Reply {
    app.send(Method::PUT, path, Some(body), Some(&app.key))
        .await
}

async fn trigger(app: &TestApp, test_id: &str, body: Value) -> Value {
    let reply = app
        .post(&format!("/v2/ai/assistants/tests/{test_id}/runs"), &body)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

async fn run_of(app: &TestApp, test_id: &str, run_id: &str) -> Value {
    let reply = app
        .get(&format!("/v2/ai/assistants/tests/{test_id}/runs/{run_id}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Runs the due jobs and returns the run afterwards.
async fn carry_out(app: &TestApp, test_id: &str, run_id: &str) -> Value {
    app.tick_jobs(app.clock.now()).await;
    run_of(app, test_id, run_id).await
}

fn statuses(run: &Value) -> Vec<(String, String)> {
    run["detail_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
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

fn logs(run: &Value) -> &str {
    run["logs"].as_str().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

on_both!(
    tests_crud_validation_filters_and_pagination,
    a_run_converses_and_grades_each_item,
    suites_run_every_test_under_one_suite_run,
    runs_target_a_version,
    the_duration_limit_stops_the_conversation,
    a_judge_answering_garbage_is_asked_once_more_then_the_item_is_error,
    sms_tests_run_through_an_assigned_number_and_voice_tests_error,
    an_interrupted_run_is_not_left_running,
    a_user_leaving_with_its_first_message_is_still_answered,
);

async fn a_user_leaving_with_its_first_message_is_still_answered(backend: Backend) {
    let (app, _llm, _eval) = spawn(backend, vec![], |_| {}).await;
    let support = assistant(&app, "Hi.").await;
    let test = create_test(
        &app,
        test_body(
            "Hit and run",
            &support,
            "BYE:Are you open on Sundays? Thanks, bye.",
            json!([{"name": "Answers", "criteria": "anything"}]),
        ),
    )
    .await;
    let test_id = test["test_id"].as_str().unwrap();
    let run = trigger(&app, test_id, json!({})).await;
    let done = carry_out(&app, test_id, run["run_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "passed", "{}", logs(&done));
    assert_eq!(statuses(&done), pairs(&[("Answers", "passed")]));
    assert!(
        logs(&done).contains("user: Are you open on Sundays? Thanks, bye."),
        "the farewell is delivered as the first message: {}",
        logs(&done)
    );
    assert!(logs(&done).contains("assistant: "), "{}", logs(&done));
    app.stop().await;
}

async fn tests_crud_validation_filters_and_pagination(backend: Backend) {
    let (app, _llm, _eval) = spawn(backend, vec![], |_| {}).await;
    let support = assistant(&app, "Be kind.").await;
    let rubric = json!([{"name": "Kind", "criteria": "The agent is kind."}]);

    // The static path is not read as an assistant id, and assistants still list.
    let empty = app.get("/v2/ai/assistants/tests").await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(
        empty.body,
        json!({"data": [], "meta": {"page_number": 1, "page_size": 20, "total_pages": 0, "total_results": 0}})
    );
    assert_eq!(app.get("/v2/ai/assistants").await.status, 200);

    let mut full = test_body("Refund", &support, "hi", rubric.clone());
    full["description"] = json!("Asks for a refund");
    full["max_duration_seconds"] = json!(120);
    full["test_suite"] = json!("billing");
    let created = create_test(&app, full).await;
    let id = created["test_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "test ids are UUIDs");
    assert_eq!(created["telnyx_conversation_channel"], "web_chat");
    assert_eq!(created["rubric"], rubric);
    assert_eq!(created["max_duration_seconds"], 120);
    assert_eq!(created["destination"], support);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        app.get(&format!("/v2/ai/assistants/tests/{id}")).await.body,
        created
    );

    // Validation: ranges of the contract, 422 with a pointer; nothing written.
    for (field, value, pointer) in [
        ("name", json!(""), "/name"),
        ("name", json!("x".repeat(256)), "/name"),
        ("instructions", json!("x".repeat(5001)), "/instructions"),
        ("rubric", json!([]), "/rubric"),
        ("rubric", json!([{"name": "x"}]), "/rubric/0/criteria"),
        ("max_duration_seconds", json!(0), "/max_duration_seconds"),
        ("max_duration_seconds", json!(3601), "/max_duration_seconds"),
        ("description", json!("x".repeat(1001)), "/description"),
        ("test_suite", json!("x".repeat(101)), "/test_suite"),
        (
            "telnyx_conversation_channel",
            json!("fax"),
            "/telnyx_conversation_channel",
        ),
        ("destination", json!("assistant-nope"), "/destination"),
    ] {
        let mut body = test_body("Bad", &support, "hi", rubric.clone());
        body[field] = value;
        let reply = app.post("/v2/ai/assistants/tests", &body).await;
        let error = assert_error(&reply, 422, "10016");
        assert_eq!(
            error["source"]["pointer"], pointer,
            "{field}: {}",
            reply.body
        );
    }
    let missing = app.post("/v2/ai/assistants/tests", &json!({})).await;
    assert_error(&missing, 422, "10016");

    // More tests for filters and pages.
    let mut sms = test_body("Texting", "+15550001111", "hi", rubric.clone());
    sms["telnyx_conversation_channel"] = json!("sms_chat");
    sms["test_suite"] = json!("texting");
    let sms = create_test(&app, sms).await;
    let mut ids = vec![id.clone(), sms["test_id"].as_str().unwrap().to_owned()];
    for n in 0..3 {
        let mut body = test_body(&format!("Billing {n}"), &support, "hi", rubric.clone());
        body["test_suite"] = json!("billing");
        ids.push(
            create_test(&app, body).await["test_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let page = app
        .get("/v2/ai/assistants/tests?page[number]=2&page[size]=2")
        .await;
    assert_eq!(
        page.body["meta"],
        json!({"page_number": 2, "page_size": 2, "total_pages": 3, "total_results": 5})
    );
    let listed: Vec<&str> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["test_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[3].as_str()], "oldest first");
    let billing = app.get("/v2/ai/assistants/tests?test_suite=billing").await;
    assert_eq!(billing.body["meta"]["total_results"], 4);
    let texting = app
        .get("/v2/ai/assistants/tests?telnyx_conversation_channel=sms_chat")
        .await;
    assert_eq!(texting.body["data"][0]["test_id"], sms["test_id"]);
    assert_eq!(texting.body["meta"]["total_results"], 1);
    let by_destination = app
        .get("/v2/ai/assistants/tests?destination=%2B15550001111")
        .await;
    assert_eq!(by_destination.body["meta"]["total_results"], 1);
    let bad_page = app.get("/v2/ai/assistants/tests?page[size]=101").await;
    assert_error(&bad_page, 400, "10003");

    let suites = app.get("/v2/ai/assistants/tests/test-suites").await;
    assert_eq!(suites.body, json!({"data": ["billing", "texting"]}));

    // Partial update: sent fields replace, null clears, the rest stays.
    let updated = put(
        &app,
        &format!("/v2/ai/assistants/tests/{id}"),
        &json!({"name": "Refund v2", "description": null, "max_duration_seconds": 30}),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["name"], "Refund v2");
    assert!(updated.body.get("description").is_none());
    assert_eq!(updated.body["max_duration_seconds"], 30);
    assert_eq!(updated.body["test_suite"], "billing");
    let bad = put(
        &app,
        &format!("/v2/ai/assistants/tests/{id}"),
        &json!({"rubric": []}),
    )
    .await;
    assert_error(&bad, 422, "10016");
    let bad = put(
        &app,
        &format!("/v2/ai/assistants/tests/{id}"),
        &json!({"destination": "assistant-gone"}),
    )
    .await;
    assert_error(&bad, 422, "10016");

    // Tenancy and 404s.
    let other = app.key_for_new_org("other").await;
    let hidden = app
        .send(
            Method::GET,
            &format!("/v2/ai/assistants/tests/{id}"),
            None,
            Some(&other),
        )
        .await;
    assert_error(&hidden, 404, "10005");
    let theirs = app
        .send(Method::GET, "/v2/ai/assistants/tests", None, Some(&other))
        .await;
    assert_eq!(theirs.body["meta"]["total_results"], 0);
    let unknown = uuid::Uuid::new_v4();
    assert_error(
        &app.get(&format!("/v2/ai/assistants/tests/{unknown}")).await,
        404,
        "10005",
    );
    assert_error(
        &app.get(&format!("/v2/ai/assistants/tests/{unknown}/runs"))
            .await,
        404,
        "10005",
    );
    let no_suite = app
        .get("/v2/ai/assistants/tests/test-suites/nope/runs")
        .await;
    assert_error(&no_suite, 404, "10005");
    let no_suite = app
        .post("/v2/ai/assistants/tests/test-suites/nope/runs", &json!({}))
        .await;
    assert_error(&no_suite, 404, "10005");
    let bad_status = app
        .get(&format!("/v2/ai/assistants/tests/{id}/runs?status=done"))
        .await;
    assert_error(&bad_status, 400, "10003");

    // Delete: 200 with no body, then 404.
    let deleted = app.delete(&format!("/v2/ai/assistants/tests/{id}")).await;
    assert_eq!(
        (deleted.status.as_u16(), &deleted.body),
        (200, &Value::Null)
    );
    assert_error(
        &app.delete(&format!("/v2/ai/assistants/tests/{id}")).await,
        404,
        "10005",
    );
    app.stop().await;
}

async fn a_run_converses_and_grades_each_item(backend: Backend) {
    let (app, llm, eval) = spawn(backend, vec![], |_| {}).await;
    let support = assistant(&app, "You are Acme support.").await;
    let test = create_test(
        &app,
        test_body(
            "Refund",
            &support,
            "I want a refund | Order 42",
            json!([
                {"name": "Heard the order", "criteria": "MENTIONS:Order 42"},
                {"name": "Knows its role", "criteria": "MENTIONS:Acme support"},
                {"name": "Offered a voucher", "criteria": "MENTIONS:voucher"},
            ]),
        ),
    )
    .await;
    let test_id = test["test_id"].as_str().unwrap();

    let run = trigger(&app, test_id, json!({})).await;
    assert_eq!(
        run["status"], "pending",
        "the run is created pending and returned at once"
    );
    assert_eq!(run["test_id"], test_id);
    assert_eq!(run["triggered_by"], "api");
    assert!(run.get("completed_at").is_none() && run.get("conversation_id").is_none());
    assert_eq!(
        statuses(&run),
        pairs(&[
            ("Heard the order", "pending"),
            ("Knows its role", "pending"),
            ("Offered a voucher", "pending"),
        ])
    );
    let run_id = run["run_id"].as_str().unwrap();
    assert!(
        llm.requests().is_empty(),
        "nothing ran before the worker did"
    );

    let done = carry_out(&app, test_id, run_id).await;
    assert_eq!(done["status"], "failed", "{}", logs(&done));
    assert_eq!(
        statuses(&done),
        pairs(&[
            ("Heard the order", "passed"),
            ("Knows its role", "passed"),
            ("Offered a voucher", "failed"),
        ])
    );
    assert!(done["completed_at"].as_str().is_some());
    let log = logs(&done);
    for expected in [
        "user: I want a refund",
        "assistant: system: You are Acme support. | user: Order 42",
        "the simulated user ended the conversation after 2 exchanges",
        "[passed] Heard the order: looked for \"Order 42\": true",
        "[failed] Offered a voucher",
        "evaluation model: judge-model at",
        "result: failed (2 of 3 rubric items passed)",
    ] {
        assert!(log.contains(expected), "logs lack {expected:?}:\n{log}");
    }
    // The user asked with the schema as response_format; the judge at temperature 0.
    let requests = eval.requests();
    assert_eq!(
        requests.len(),
        3 + 3,
        "three user turns (the last ends) and three verdicts"
    );
    assert_eq!(requests[0]["response_format"]["type"], "json_schema");
    let verdict = requests.last().unwrap();
    assert_eq!(
        verdict["response_format"]["json_schema"]["schema"]["required"],
        json!(["passed", "reasoning"])
    );
    assert_eq!(verdict["temperature"], 0.0);

    // The transcript is a normal conversation of the assistant.
    let conversation_id = done["conversation_id"].as_str().unwrap();
    let conversation = app
        .get(&format!("/v2/ai/conversations/{conversation_id}"))
        .await;
    assert_eq!(conversation.status, 200, "{}", conversation.body);
    let metadata = &conversation.body["data"]["metadata"];
    assert_eq!(metadata["assistant_id"], support);
    assert_eq!(metadata["test_run_id"], run_id);
    assert_eq!(metadata["telnyx_conversation_channel"], "web_chat");
    let messages = app
        .get(&format!("/v2/ai/conversations/{conversation_id}/messages"))
        .await;
    let texts: Vec<(String, String)> = messages.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        pairs(&[
            ("user", "I want a refund"),
            (
                "assistant",
                "system: You are Acme support. | user: I want a refund"
            ),
            ("user", "Order 42"),
            (
                "assistant",
                "system: You are Acme support. | user: Order 42"
            ),
        ])
    );

    // History: newest first, status filter; a second tick does nothing more.
    assert_eq!(app.tick_jobs(app.clock.now()).await, 0);
    let second = trigger(&app, test_id, json!({"destination_version_id": null})).await;
    let runs = app
        .get(&format!("/v2/ai/assistants/tests/{test_id}/runs"))
        .await;
    assert_eq!(runs.body["meta"]["total_results"], 2);
    assert_eq!(runs.body["data"][0]["run_id"], second["run_id"]);
    let failed = app
        .get(&format!(
            "/v2/ai/assistants/tests/{test_id}/runs?status=failed,error"
        ))
        .await;
    assert_eq!(failed.body["meta"]["total_results"], 1);
    assert_eq!(failed.body["data"][0]["run_id"], run_id);
    let pending = app
        .get(&format!(
            "/v2/ai/assistants/tests/{test_id}/runs?status=pending"
        ))
        .await;
    assert_eq!(pending.body["data"][0]["run_id"], second["run_id"]);

    // Another test's path does not show this run; another organization sees nothing.
    let other_test = create_test(
        &app,
        test_body(
            "Other",
            &support,
            "x",
            json!([{"name": "a", "criteria": "b"}]),
        ),
    )
    .await;
    let wrong = app
        .get(&format!(
            "/v2/ai/assistants/tests/{}/runs/{run_id}",
            other_test["test_id"].as_str().unwrap()
        ))
        .await;
    assert_error(&wrong, 404, "10005");
    let other = app.key_for_new_org("other").await;
    let hidden = app
        .send(
            Method::GET,
            &format!("/v2/ai/assistants/tests/{test_id}/runs/{run_id}"),
            None,
            Some(&other),
        )
        .await;
    assert_error(&hidden, 404, "10005");

    // Idempotent trigger: the same key gives the same run.
    let url = app.url(&format!("/v2/ai/assistants/tests/{test_id}/runs"));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = app
            .http
            .post(&url)
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "run-once")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let reply = TestApp::reply(response).await;
        assert_eq!(reply.status, 201);
        ids.push(reply.body["run_id"].clone());
    }
    assert_eq!(ids[0], ids[1]);

    // Deleting the test deletes its runs; their jobs find nothing to do.
    assert_eq!(
        app.delete(&format!("/v2/ai/assistants/tests/{test_id}"))
            .await
            .status,
        200
    );
    app.tick_jobs(app.clock.now()).await;
    app.stop().await;
}

async fn suites_run_every_test_under_one_suite_run(backend: Backend) {
    let (app, _llm, eval) = spawn(backend, vec![], |_| {}).await;
    let support = assistant(&app, "You are Acme support.").await;
    let mut test_ids = Vec::new();
    for n in 0..10 {
        let criteria = if n % 3 == 0 {
            "MENTIONS:nothing like this"
        } else {
            "MENTIONS:Acme"
        };
        let mut body = test_body(
            &format!("Case {n}"),
            &support,
            &format!("Hello from case {n}"),
            json!([{"name": "Mentions Acme", "criteria": criteria}]),
        );
        body["test_suite"] = json!("nightly");
        test_ids.push(
            create_test(&app, body).await["test_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut outsider = test_body(
        "Outsider",
        &support,
        "hi",
        json!([{"name": "a", "criteria": "b"}]),
    );
    outsider["test_suite"] = json!("weekly");
    create_test(&app, outsider).await;

    let reply = app
        .post(
            "/v2/ai/assistants/tests/test-suites/nightly/runs",
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let runs = reply.body.as_array().expect("a bare array").clone();
    assert_eq!(runs.len(), 10);
    let suite_run = runs[0]["test_suite_run_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&suite_run).is_ok());
    let mut covered: Vec<String> = runs
        .iter()
        .map(|r| {
            assert_eq!(r["test_suite_run_id"], suite_run.as_str());
            assert_eq!(r["status"], "pending");
            r["test_id"].as_str().unwrap().to_owned()
        })
        .collect();
    covered.sort();
    let mut expected = test_ids.clone();
    expected.sort();
    assert_eq!(covered, expected, "one run per test of the suite");

    // All ten run (up to the worker's concurrency at once); time the whole suite.
    let started = Instant::now();
    let ran = app.tick_jobs(app.clock.now()).await;
    let elapsed = started.elapsed();
    eprintln!(
        "10-test suite with scripted models: {} ms",
        elapsed.as_millis()
    );
    assert_eq!(ran, 10);
    assert_eq!(
        eval.requests().len(),
        10 * 3,
        "per run: a message, the end, one verdict"
    );

    let list = app
        .get(&format!(
            "/v2/ai/assistants/tests/test-suites/nightly/runs?test_suite_run_id={suite_run}&page[size]=4"
        ))
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(
        list.body["meta"],
        json!({"page_number": 1, "page_size": 4, "total_pages": 3, "total_results": 10})
    );
    let failed = app
        .get("/v2/ai/assistants/tests/test-suites/nightly/runs?status=failed&page[size]=100")
        .await;
    assert_eq!(
        failed.body["meta"]["total_results"], 4,
        "cases 0, 3, 6 and 9 fail"
    );
    let passed = app
        .get("/v2/ai/assistants/tests/test-suites/nightly/runs?status=passed&page[size]=100")
        .await;
    assert_eq!(passed.body["meta"]["total_results"], 6);
    for run in passed.body["data"].as_array().unwrap() {
        assert!(logs(run).contains("user: Hello from case"), "{}", logs(run));
    }

    // A second suite run gets its own id; the suite lists both; other suites stay apart.
    let again = app
        .post(
            "/v2/ai/assistants/tests/test-suites/nightly/runs",
            &json!({}),
        )
        .await;
    assert_ne!(again.body[0]["test_suite_run_id"], suite_run.as_str());
    let all = app
        .get("/v2/ai/assistants/tests/test-suites/nightly/runs")
        .await;
    assert_eq!(all.body["meta"]["total_results"], 20);
    let weekly = app
        .get("/v2/ai/assistants/tests/test-suites/weekly/runs")
        .await;
    assert_eq!(
        weekly.status, 200,
        "a suite with tests but no runs lists nothing"
    );
    assert_eq!(weekly.body["meta"]["total_results"], 0);
    app.stop().await;
}

async fn runs_target_a_version(backend: Backend) {
    let (app, _llm, _eval) = spawn(backend, vec![], |_| {}).await;
    let support = assistant(&app, "Main instructions.").await;
    // A draft version that is not main.
    let draft = app
        .post(
            &format!("/v2/ai/assistants/{support}"),
            &json!({"instructions": "Draft instructions.", "promote_to_main": false}),
        )
        .await;
    assert_eq!(draft.status, 200, "{}", draft.body);
    let versions = app
        .get(&format!("/v2/ai/assistants/{support}/versions"))
        .await;
    let draft_id = versions.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["instructions"] == "Draft instructions.")
        .and_then(|v| v["version_id"].as_str().or_else(|| v["id"].as_str()))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no draft version in {}", versions.body));
    let mut body = test_body(
        "Versions",
        &support,
        "hi",
        json!([{"name": "Draft", "criteria": "MENTIONS:Draft instructions."}]),
    );
    body["test_suite"] = json!("versions");
    let test = create_test(&app, body).await;
    let test_id = test["test_id"].as_str().unwrap();

    let on_main = trigger(&app, test_id, json!({})).await;
    let on_draft = trigger(&app, test_id, json!({"destination_version_id": draft_id})).await;
    app.tick_jobs(app.clock.now()).await;
    let on_main = run_of(&app, test_id, on_main["run_id"].as_str().unwrap()).await;
    let on_draft = run_of(&app, test_id, on_draft["run_id"].as_str().unwrap()).await;
    assert_eq!(on_main["status"], "failed", "{}", logs(&on_main));
    assert_eq!(on_draft["status"], "passed", "{}", logs(&on_draft));
    assert!(logs(&on_draft).contains(&format!("version {draft_id}")));
    let conversation = app
        .get(&format!(
            "/v2/ai/conversations/{}",
            on_draft["conversation_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        conversation.body["data"]["metadata"]["assistant_version_id"],
        draft_id
    );

    // An unknown version is 400, for a test and for a suite; nothing is created.
    let bad = app
        .post(
            &format!("/v2/ai/assistants/tests/{test_id}/runs"),
            &json!({"destination_version_id": "version-nope"}),
        )
        .await;
    let error = assert_error(&bad, 400, "10018");
    assert_eq!(error["source"]["pointer"], "/destination_version_id");
    let bad = app
        .post(
            "/v2/ai/assistants/tests/test-suites/versions/runs",
            &json!({"destination_version_id": "version-nope"}),
        )
        .await;
    assert_error(&bad, 400, "10018");
    let bad = app
        .post(
            &format!("/v2/ai/assistants/tests/{test_id}/runs"),
            &json!({"destination_version_id": 7}),
        )
        .await;
    assert_error(&bad, 422, "10016");
    let runs = app
        .get(&format!("/v2/ai/assistants/tests/{test_id}/runs"))
        .await;
    assert_eq!(runs.body["meta"]["total_results"], 2);
    let suite = app
        .post(
            "/v2/ai/assistants/tests/test-suites/versions/runs",
            &json!({"destination_version_id": draft_id}),
        )
        .await;
    assert_eq!(suite.status, 201, "{}", suite.body);
    app.stop().await;
}

async fn the_duration_limit_stops_the_conversation(backend: Backend) {
    // The first answer comes at once, the second after 5 s: a 1 s limit stops the
    // conversation after one exchange, which is then graded.
    let replies = vec![
        Reply::text("Right away."),
        Reply::delayed(Duration::from_secs(5), Reply::text("Too late.")),
    ];
    let (app, llm, _eval) = spawn(backend, replies, |settings| {
        settings.llm.timeout_ms = 20_000;
    })
    .await;
    let support = assistant(&app, "Be quick.").await;
    let mut body = test_body(
        "Slow",
        &support,
        "first | second | third",
        json!([{"name": "Quick", "criteria": "MENTIONS:Right away."}]),
    );
    body["max_duration_seconds"] = json!(1);
    let test = create_test(&app, body).await;
    let test_id = test["test_id"].as_str().unwrap();
    let run = trigger(&app, test_id, json!({})).await;
    let started = Instant::now();
    let done = carry_out(&app, test_id, run["run_id"].as_str().unwrap()).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the limit cut the slow turn"
    );
    assert_eq!(done["status"], "passed", "{}", logs(&done));
    assert!(
        logs(&done).contains("max_duration_seconds (1 s) passed after 1 exchanges"),
        "{}",
        logs(&done)
    );
    // The abandoned turn left nothing behind.
    let conversation_id = done["conversation_id"].as_str().unwrap();
    let messages = app
        .get(&format!("/v2/ai/conversations/{conversation_id}/messages"))
        .await;
    assert_eq!(messages.body["meta"]["total_results"], 2);

    // Nothing answered in time: the run is an error.
    let mut body = test_body(
        "Slower",
        &support,
        "first",
        json!([{"name": "Quick", "criteria": "x"}]),
    );
    body["max_duration_seconds"] = json!(1);
    let slower = create_test(&app, body).await;
    let slower_id = slower["test_id"].as_str().unwrap();
    let run = trigger(&app, slower_id, json!({})).await;
    // This run's first turn gets a late answer.
    llm.push(Reply::delayed(
        Duration::from_secs(5),
        Reply::text("Too late."),
    ));
    let done = carry_out(&app, slower_id, run["run_id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "error");
    assert!(
        logs(&done).contains("no exchange completed within max_duration_seconds (1 s)"),
        "{}",
        logs(&done)
    );
    assert_eq!(statuses(&done), pairs(&[("Quick", "error")]));
    app.stop().await;
}

async fn a_judge_answering_garbage_is_asked_once_more_then_the_item_is_error(backend: Backend) {
    let (app, _llm, eval) = spawn(backend, vec![], |_| {}).await;
    let support = assistant(&app, "Hi.").await;
    let test = create_test(
        &app,
        test_body(
            "Garbage",
            &support,
            "hello",
            json!([
                {"name": "Fine", "criteria": "anything"},
                {"name": "Flaky", "criteria": "GARBAGE_ONCE"},
                {"name": "Broken", "criteria": "GARBAGE"},
            ]),
        ),
    )
    .await;
    let test_id = test["test_id"].as_str().unwrap();
    let run = trigger(&app, test_id, json!({})).await;
    let done = carry_out(&app, test_id, run["run_id"].as_str().unwrap()).await;
    assert_eq!(
        statuses(&done),
        pairs(&[("Fine", "passed"), ("Flaky", "passed"), ("Broken", "error")])
    );
    assert_eq!(
        done["status"], "error",
        "an item that could not be graded makes the run an error"
    );
    assert_eq!(
        (eval.judged("GARBAGE_ONCE"), eval.judged("GARBAGE")),
        (2, 2)
    );
    assert_eq!(eval.judged("anything"), 1);
    assert!(
        logs(&done).contains("[error] Broken: not graded after two attempts: unreadable verdict"),
        "{}",
        logs(&done)
    );
    app.stop().await;
}

async fn sms_tests_run_through_an_assigned_number_and_voice_tests_error(backend: Backend) {
    let (app, _llm, _eval) = spawn(backend, vec![], |_| {}).await;
    let support = assistant(&app, "Texting support.").await;
    let org = app
        .store
        .ensure_organization("default", app.clock.now())
        .await
        .unwrap()
        .id;
    app.store
        .assign_phone_number(
            &org,
            "+15550001111",
            &parley_core::ids::AssistantId::from_string(&support),
            app.clock.now(),
        )
        .await
        .unwrap();
    let rubric = json!([{"name": "Answered", "criteria": "MENTIONS:Texting support."}]);
    let mut sms = test_body("SMS", "+15550001111", "hello by text", rubric.clone());
    sms["telnyx_conversation_channel"] = json!("sms_chat");
    let sms = create_test(&app, sms).await;
    let mut unassigned = test_body("Unassigned", "+15550002222", "hi", rubric.clone());
    unassigned["telnyx_conversation_channel"] = json!("sms_chat");
    let unassigned = create_test(&app, unassigned).await;
    let mut call = test_body("Call", &support, "hi", rubric.clone());
    call["telnyx_conversation_channel"] = json!("phone_call");
    let call = create_test(&app, call).await;

    let mut runs = Vec::new();
    for test in [&sms, &unassigned, &call] {
        let test_id = test["test_id"].as_str().unwrap().to_owned();
        let run = trigger(&app, &test_id, json!({})).await;
        runs.push((test_id, run["run_id"].as_str().unwrap().to_owned()));
    }
    app.tick_jobs(app.clock.now()).await;

    let sms_run = run_of(&app, &runs[0].0, &runs[0].1).await;
    assert_eq!(sms_run["status"], "passed", "{}", logs(&sms_run));
    let conversation = app
        .get(&format!(
            "/v2/ai/conversations/{}",
            sms_run["conversation_id"].as_str().unwrap()
        ))
        .await;
    let metadata = &conversation.body["data"]["metadata"];
    assert_eq!(metadata["telnyx_conversation_channel"], "sms_chat");
    assert_eq!(metadata["telnyx_agent_target"], "+15550001111");
    assert_eq!(metadata["assistant_id"], support);

    let unassigned_run = run_of(&app, &runs[1].0, &runs[1].1).await;
    assert_eq!(unassigned_run["status"], "error");
    assert!(logs(&unassigned_run).contains("is not a phone number assigned to an assistant"));

    let call_run = run_of(&app, &runs[2].0, &runs[2].1).await;
    assert_eq!(call_run["status"], "error");
    assert!(
        logs(&call_run).contains("the voice channel (phone_call) is not available on this server"),
        "{}",
        logs(&call_run)
    );
    assert_eq!(statuses(&call_run), pairs(&[("Answered", "error")]));
    assert!(call_run.get("conversation_id").is_none());
    app.stop().await;
}

async fn an_interrupted_run_is_not_left_running(backend: Backend) {
    let (app, _llm, eval) = spawn(backend, vec![], |_| {}).await;
    let support = assistant(&app, "Hi.").await;
    let test = create_test(
        &app,
        test_body(
            "Crash",
            &support,
            "hello",
            json!([{"name": "A", "criteria": "x"}]),
        ),
    )
    .await;
    let test_id = test["test_id"].as_str().unwrap();
    let run = trigger(&app, test_id, json!({})).await;
    let run_id = run["run_id"].as_str().unwrap();
    let org = app
        .store
        .ensure_organization("default", app.clock.now())
        .await
        .unwrap()
        .id;

    // Another node claims the job, starts the run, and dies: its lease runs out in 30 s.
    let now = app.clock.now();
    let claimed = app
        .store
        .claim_jobs("dead-node", now, now + chrono::Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    for status in [TestStatus::Starting, TestStatus::Running] {
        let outcome = app
            .store
            .update_test_run(
                &org,
                run_id,
                &[],
                &TestRunUpdate {
                    status: Some(status),
                    logs: Some("[   0.00s] started on dead-node\n".into()),
                    ..TestRunUpdate::default()
                },
                now,
            )
            .await
            .unwrap();
        assert!(matches!(outcome, TestRunTransition::Updated(_)));
    }
    assert_eq!(app.tick_jobs(now).await, 0, "the lease still holds");
    assert_eq!(run_of(&app, test_id, run_id).await["status"], "running");

    // Once the lease has run out, this node claims the job again and ends the run.
    assert_eq!(app.tick_jobs(now + chrono::Duration::seconds(31)).await, 1);
    let done = run_of(&app, test_id, run_id).await;
    assert_eq!(done["status"], "error");
    assert!(done["completed_at"].as_str().is_some());
    assert!(
        logs(&done).starts_with("[   0.00s] started on dead-node"),
        "{}",
        logs(&done)
    );
    assert!(logs(&done).contains("[interrupted]"), "{}", logs(&done));
    assert_eq!(statuses(&done), pairs(&[("A", "error")]));
    assert!(eval.requests().is_empty(), "it was not run again");
    assert!(app
        .store
        .get_job(&org, TEST_RUN_JOB, run_id)
        .await
        .unwrap()
        .is_none());
    app.stop().await;
}
