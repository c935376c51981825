//! More client commands as a user runs them — assistant tests (`parley tests … run --wait`),
//! shared tools, imports, scheduled events, SMS, phone numbers and knowledge bases — the
//! built `parley` binary against a `parley serve` child (with local stubs for the model, the
//! judge, the carrier, webhooks and providers). Knowledge bases also run against a stub that
//! answers as the contract says and records what it was sent, for exact requests, progress
//! lines and failures.

mod client_support;

use client_support::{cells, detail, redact, Llm, Seen, Server, Stub, KEY};
use parley_llm::test_support::Reply;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The simulated user (it follows the `SCRIPT:` line of the test's instructions, then ends
/// the conversation) and the judge (`MENTIONS:<text>` passes when the transcript contains
/// `<text>`), as an OpenAI-compatible endpoint answering whole.
fn evaluation(seen: &Seen) -> (u16, Value) {
    let body = seen.json();
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
            let reasoning = if passed {
                format!("The transcript mentions {wanted:?}.")
            } else {
                format!("Nobody said {wanted:?}.")
            };
            json!({"passed": passed, "reasoning": reasoning}).to_string()
        }
        other => format!("unexpected request kind {other:?}"),
    };
    let completion = json!({
        "id": "chatcmpl-eval", "object": "chat.completion", "created": 0, "model": "judge",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    });
    (200, completion)
}

#[test]
fn tests_are_created_run_and_waited_for_from_the_command_line() {
    let llm = Llm::start(vec![]);
    llm.server.repeat(Reply::Echo);
    let eval = Stub::start(evaluation);
    let eval_url = format!("{}/v1", eval.base_url);
    let server = Server::start_with(&[
        ("PARLEY_LLM_BASE_URL", &llm.server.base_url()),
        ("PARLEY_EMBEDDED_MODEL", "false"),
        ("PARLEY_LLM_TIMEOUT_MS", "5000"),
        ("PARLEY_EVAL_BASE_URL", &eval_url),
        ("PARLEY_EVAL_MODEL", "judge"),
        ("PARLEY_JOBS_POLL_MS", "50"),
    ]);
    let assistant = server
        .parley(&[
            "assistants",
            "create",
            "--name",
            "Support",
            "--instructions",
            "Help customers.",
            "--model",
            "scripted/model",
            "--output",
            "json",
        ])
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = server
        .parley(&[
            "tests",
            "create",
            "--name",
            "Greeting",
            "--destination",
            &assistant,
            "--instructions",
            "You are a customer.\nSCRIPT: hello there | thanks",
            "--rubric",
            "Echo=MENTIONS:hello there",
            "--suite",
            "smoke",
        ])
        .out();
    let greeting = detail(&out, "test_id");
    assert_eq!(detail(&out, "rubric"), "Echo: MENTIONS:hello there");
    assert_eq!(detail(&out, "telnyx_conversation_channel"), "web_chat");
    let body = json!({
        "name": "Refund",
        "destination": assistant,
        "instructions": "You are a customer.\nSCRIPT: where is my parcel",
        "rubric": [{"name": "Parcel", "criteria": "MENTIONS:parcel"},
                   {"name": "Refund offered", "criteria": "MENTIONS:refund"}],
        "test_suite": "smoke",
    });
    let refund = server
        .parley_with(
            &["tests", "create", "--json", "-", "--output", "json"],
            &[("PARLEY_API_KEY", KEY)],
            Some(&body.to_string()),
        )
        .json()["test_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids = [
        (greeting.as_str(), "<greeting>"),
        (refund.as_str(), "<refund>"),
        (assistant.as_str(), "<assistant>"),
    ];

    let listed = redact(
        &server.parley(&["tests", "list", "--suite", "smoke"]).out(),
        &ids,
    );
    let mut rows = cells(&listed);
    rows[1..].sort();
    assert_eq!(
        rows,
        [
            vec![
                "test_id",
                "name",
                "test_suite",
                "telnyx_conversation_channel",
                "destination",
                "rubric"
            ],
            vec![
                "<greeting>",
                "Greeting",
                "smoke",
                "web_chat",
                "<assistant>",
                "Echo"
            ],
            vec![
                "<refund>",
                "Refund",
                "smoke",
                "web_chat",
                "<assistant>",
                "Parcel, Refund offered"
            ],
        ]
    );
    assert_eq!(server.parley(&["tests", "suites"]).out(), "suite\nsmoke\n");

    // The suite, followed to the end: a status line per change, then the verdicts and the
    // judge's reasons; one test failed, so the command fails.
    let run = server.parley(&[
        "tests",
        "run",
        "--suite",
        "smoke",
        "--wait",
        "--poll-ms",
        "100",
    ]);
    assert!(!run.ok, "{run:?}");
    assert_eq!(run.code, Some(1));
    let header = "test      status  rubric          result  reason\n";
    let greeting_row =
        "Greeting  passed  Echo            passed  The transcript mentions \"hello there\".\n";
    let refund_rows =
        "Refund    failed  Parcel          passed  The transcript mentions \"parcel\".\n\
                       \x20                 Refund offered  failed  Nobody said \"refund\".\n";
    let summary = "\n1 passed, 1 failed\n";
    // In the order the server listed the suite's tests.
    assert!(
        run.stdout == format!("{header}{greeting_row}{refund_rows}{summary}")
            || run.stdout == format!("{header}{refund_rows}{greeting_row}{summary}"),
        "{}",
        run.stdout
    );
    let status_lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        status_lines.contains(&"Greeting: ✓ passed"),
        "{}",
        run.stderr
    );
    assert!(status_lines.contains(&"Refund: ✗ failed"), "{}", run.stderr);
    assert_eq!(
        status_lines.last(),
        Some(&"error: 1 of 2 tests did not pass"),
        "{}",
        run.stderr
    );

    // One test, as JSON; without --wait, the triggered run.
    let runs = server
        .parley(&[
            "tests",
            "run",
            &greeting,
            "--wait",
            "--poll-ms",
            "100",
            "--output",
            "json",
        ])
        .json();
    assert_eq!(runs[0]["status"], "passed");
    assert_eq!(
        runs[0]["detail_status"],
        json!([{"name": "Echo", "status": "passed"}])
    );
    let out = server.parley(&["tests", "run", &greeting]).out();
    let triggered = cells(&out);
    assert_eq!(triggered[0], ["run_id", "test", "status"]);
    assert_eq!(triggered[1][1..], ["Greeting", "pending"]);
    let history = server
        .parley(&["tests", "runs", &greeting, "--output", "json"])
        .json();
    assert_eq!(history.as_array().unwrap().len(), 3);
    let failed = server
        .parley(&[
            "tests", "runs", "--suite", "smoke", "--status", "failed", "--output", "json",
        ])
        .json();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["test_id"], refund.as_str());

    let out = server
        .parley(&[
            "tests",
            "update",
            &refund,
            "--description",
            "Parcel questions",
            "--max-duration",
            "60",
        ])
        .out();
    assert_eq!(detail(&out, "description"), "Parcel questions");
    assert_eq!(detail(&out, "max_duration_seconds"), "60");
    assert_eq!(
        detail(&server.parley(&["tests", "get", &refund]).out(), "name"),
        "Refund"
    );
    assert_eq!(
        server.parley(&["tests", "delete", &refund]).out(),
        format!("deleted {refund}\n")
    );
    let error = server.parley(&["tests", "get", &refund]).error();
    assert!(error.starts_with("error: 404 "), "{error}");
    let error = server.parley(&["tests", "run"]).error();
    assert_eq!(error, "error: give test ids or --suite NAME");
    let error = server
        .parley(&[
            "tests",
            "create",
            "--name",
            "x",
            "--destination",
            "y",
            "--instructions",
            "z",
        ])
        .error();
    assert_eq!(
        error,
        "error: --rubric NAME=CRITERIA is required (or `rubric` in --json)"
    );
    let error = server
        .parley(&[
            "tests",
            "create",
            "--name",
            "x",
            "--destination",
            "no-such-assistant",
            "--instructions",
            "z",
            "--rubric",
            "A=b",
        ])
        .error();
    assert!(
        error.starts_with("error: 422 ") && error.contains("(at /destination)"),
        "{error}"
    );
}

/// A webhook answering `POST /orders` with the order's status.
fn orders(seen: &Seen) -> (u16, Value) {
    let order = seen.json()["order_id"].clone();
    (200, json!({"order_id": order, "status": "shipped"}))
}

#[test]
fn shared_tools_are_managed_attached_and_tested_from_the_command_line() {
    let hook = Stub::start(orders);
    let server = Server::start_with(&[("PARLEY_ALLOW_PRIVATE_NETWORK", "true")]);
    let config = json!({
        "name": "order_status",
        "description": "Looks up an order.",
        "url": format!("{}/orders", hook.base_url),
        "method": "POST",
        "body_parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
    });
    let out = server
        .parley_with(
            &[
                "tools",
                "create",
                "--name",
                "Order status",
                "--type",
                "webhook",
                "--config",
                "-",
                "--timeout-ms",
                "4000",
            ],
            &[("PARLEY_API_KEY", KEY)],
            Some(&config.to_string()),
        )
        .out();
    let tool = detail(&out, "id");
    assert_eq!(detail(&out, "name"), "order_status");
    assert_eq!(detail(&out, "timeout_ms"), "4000");
    let hangup = server
        .parley(&[
            "tools", "create", "--name", "Hang up", "--type", "hangup", "--output", "json",
        ])
        .json();
    assert_eq!(
        hangup["tool_definition"],
        json!({"type": "hangup", "hangup": {}})
    );
    let hangup = hangup["id"].as_str().unwrap().to_owned();

    let listed = redact(
        &server.parley(&["tools", "list", "--page-size", "1"]).out(),
        &[(&tool, "<order>"), (&hangup, "<hangup>")],
    );
    let rows: Vec<Vec<String>> = cells(&listed)
        .into_iter()
        .map(|r| r[..r.len() - 1].to_vec())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["id", "display_name", "type", "name", "timeout_ms"],
            vec!["<order>", "Order status", "webhook", "order_status", "4000"],
            vec!["<hangup>", "Hang up", "hangup"],
        ]
    );
    let only = server
        .parley(&["tools", "list", "--type", "hangup", "--output", "json"])
        .json();
    assert_eq!(only.as_array().unwrap().len(), 1);

    let assistant = server
        .parley(&[
            "assistants",
            "create",
            "--name",
            "Orders",
            "--instructions",
            "Help.",
            "--output",
            "json",
        ])
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = server.parley(&["tools", "attach", &assistant, &tool]).out();
    assert_eq!(
        redact(&out, &[(&tool, "<order>"), (&assistant, "<assistant>")]),
        "attached <order> to <assistant>\n\ntype     name          shared  id\nwebhook  order_status  yes     <order>\n"
    );

    let out = server
        .parley(&["tools", "test", &assistant, &tool, "--arg", "order_id=42"])
        .out();
    let url = format!("{}/orders", hook.base_url);
    assert_eq!(
        cells(&out),
        [
            vec!["success".to_owned(), "yes".into()],
            vec!["status_code".into(), "200".into()],
            vec!["content_type".into(), "application/json".into()],
            vec!["request".into(), format!("POST {url}")],
            vec!["request_body".into(), r#"{"order_id":42}"#.into()],
            vec![
                "response".into(),
                r#"{"order_id":42,"status":"shipped"}"#.into()
            ],
        ]
    );
    assert_eq!(hook.seen()[0].json(), json!({"order_id": 42}));

    let out = server
        .parley(&["tools", "update", &tool, "--name", "Order lookup"])
        .out();
    assert_eq!(detail(&out, "display_name"), "Order lookup");
    let out = server.parley(&["tools", "detach", &assistant, &tool]).out();
    assert_eq!(
        redact(&out, &[(&tool, "<order>"), (&assistant, "<assistant>")]),
        "detached <order> from <assistant>\n\ntype  name  shared  id\n"
    );
    assert_eq!(
        server.parley(&["tools", "delete", &tool]).out(),
        format!("deleted {tool}\n")
    );
    let error = server.parley(&["tools", "get", &tool]).error();
    assert!(error.starts_with("error: 404 "), "{error}");
    let error = server.parley(&["tools", "update", &hangup]).error();
    assert!(error.starts_with("error: nothing to change"), "{error}");
    let error = server
        .parley(&["tools", "create", "--name", "x", "--config", "-"])
        .error();
    assert_eq!(
        error,
        "error: --config needs --type: the configuration goes under the type's key"
    );
}

const VAPI_KEY: &str = "vapi-test-key";
const VAPI_AGENT: &str = "6f1c0c1e-3b7a-4d2e-9a55-0b8f2c1d4e01";

/// Vapi's API with one assistant.
fn vapi(seen: &Seen) -> (u16, Value) {
    if seen.header("authorization") != Some(&format!("Bearer {VAPI_KEY}")) {
        return (401, json!({"message": "Invalid Key"}));
    }
    let agent = json!({
        "id": VAPI_AGENT, "orgId": "org-1", "name": "Booking Bot",
        "createdAt": "2024-06-03T09:00:00.000Z", "updatedAt": "2024-06-04T09:00:00.000Z",
        "firstMessage": "Hi, this is Bella.",
        "model": {"provider": "openai", "model": "gpt-4o",
                  "messages": [{"role": "system", "content": "You take table bookings."}]}
    });
    let path = seen.path.split('?').next().unwrap_or_default();
    match path {
        "/assistant" if seen.path.contains("createdAtLt") => (200, json!([])),
        "/assistant" => (200, json!([agent])),
        _ if path == format!("/assistant/{VAPI_AGENT}") => (200, agent),
        _ => (404, json!({"message": "Assistant Not Found"})),
    }
}

#[test]
fn assistants_are_imported_from_the_command_line() {
    let provider = Stub::start(vapi);
    let llm = Llm::start(vec![]);
    let server = Server::start_with(&[
        ("PARLEY_IMPORT_VAPI_URL", &provider.base_url),
        ("PARLEY_LLM_BASE_URL", &llm.server.base_url()),
        ("PARLEY_EMBEDDED_MODEL", "false"),
    ]);
    server
        .parley(&[
            "secrets",
            "create",
            "--identifier",
            "vapi-key",
            "--type",
            "bearer",
            "--token",
            VAPI_KEY,
        ])
        .out();
    let run = server.parley(&[
        "assistants",
        "import",
        "--provider",
        "vapi",
        "--api-key-ref",
        "vapi-key",
        "--import-id",
        VAPI_AGENT,
        "--import-id",
        "missing-agent",
    ]);
    assert!(run.ok, "{}", run.stderr);
    let rows = cells(&run.stdout);
    assert_eq!(rows[0], ["id", "name", "model", "created_at"]);
    assert_eq!(rows[1][1..3], ["Booking Bot", "openai/gpt-4o"]);
    assert_eq!(rows.len(), 2);
    let failures: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(failures.len(), 1, "{}", run.stderr);
    assert!(
        failures[0].starts_with("not imported: missing-agent: "),
        "{}",
        run.stderr
    );

    let again = server
        .parley(&[
            "assistants",
            "import",
            "--provider",
            "vapi",
            "--api-key-ref",
            "vapi-key",
            "--output",
            "json",
        ])
        .json();
    assert_eq!(again["data"][0]["id"], rows[1][0].as_str());
    assert_eq!(again["failures"], json!([]));
    let run = server.parley(&[
        "assistants",
        "import",
        "--provider",
        "bland",
        "--api-key-ref",
        "k",
    ]);
    assert!(
        !run.ok && run.stderr.contains("invalid value 'bland'"),
        "{}",
        run.stderr
    );
    let texml = server.parley(&["assistants", "texml", &rows[1][0]]).out();
    assert!(
        texml.starts_with("<?xml") && texml.contains(&rows[1][0]),
        "{texml}"
    );
}

/// The carrier's messaging API (`POST /v2/messages`), answering as Telnyx does.
fn carrier(seen: &Seen) -> (u16, Value) {
    let body = seen.json();
    (
        200,
        json!({"data": {
            "record_type": "message", "direction": "outbound", "id": "msg-1", "type": "SMS",
            "from": {"phone_number": body["from"]},
            "to": [{"phone_number": body["to"], "status": "queued"}],
            "text": body["text"], "parts": 1,
        }}),
    )
}

const AGENT: &str = "+13125550100";
const USER: &str = "+13125550199";

#[test]
fn scheduled_events_sms_and_numbers_from_the_command_line() {
    let telnyx = Stub::start(carrier);
    let llm = Llm::start(vec![]);
    llm.server.repeat(Reply::Echo);
    let server = Server::start_with(&[
        ("PARLEY_LLM_BASE_URL", &llm.server.base_url()),
        ("PARLEY_EMBEDDED_MODEL", "false"),
        ("PARLEY_TELNYX_API_URL", &format!("{}/v2", telnyx.base_url)),
        ("PARLEY_TELNYX_API_KEY", "KEY-telnyx"),
        ("PARLEY_TELNYX_MESSAGING_PROFILE_ID", "profile-default"),
    ]);
    let assistant = server
        .parley(&[
            "assistants",
            "create",
            "--name",
            "Texter",
            "--instructions",
            "Be brief.",
            "--model",
            "scripted/model",
            "--output",
            "json",
        ])
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = server
        .parley(&[
            "events",
            "create",
            &assistant,
            "--at",
            "2099-04-15T13:00:00Z",
            "--channel",
            "sms",
            "--from",
            AGENT,
            "--to",
            USER,
            "--text",
            "See you tomorrow",
            "--variable",
            "name=Ada",
            "--metadata",
            "visit=3",
        ])
        .out();
    let first = detail(&out, "scheduled_event_id");
    let rows = cells(&redact(
        &out,
        &[(&first, "<first>"), (&assistant, "<assistant>")],
    ));
    assert_eq!(
        rows[..8],
        [
            ["scheduled_event_id", "<first>"],
            ["assistant_id", "<assistant>"],
            ["channel", "sms"],
            ["scheduled_at_fixed_datetime", "2099-04-15T13:00:00.000000Z"],
            ["telnyx_agent_target", AGENT],
            ["telnyx_end_user_target", USER],
            ["status", "pending"],
            ["text", "See you tomorrow"],
        ]
    );
    let json = server
        .parley(&["events", "get", &assistant, &first, "--output", "json"])
        .json();
    assert_eq!(json["dynamic_variables"], json!({"name": "Ada"}));
    assert_eq!(json["conversation_metadata"], json!({"visit": 3}));
    let call = server
        .parley(&[
            "events",
            "create",
            &assistant,
            "--at",
            "2099-05-01T09:30:00Z",
            "--channel",
            "call",
            "--from",
            AGENT,
            "--to",
            USER,
            "--output",
            "json",
        ])
        .json();
    let second = call["scheduled_event_id"].as_str().unwrap().to_owned();
    let error = server
        .parley(&[
            "events",
            "create",
            &assistant,
            "--at",
            "2099-04-15T13:00:00Z",
            "--channel",
            "sms",
            "--from",
            AGENT,
            "--to",
            USER,
        ])
        .error();
    assert!(
        error.starts_with("error: 4") && error.contains("(at /text)"),
        "{error}"
    );
    let error = server
        .parley(&["events", "create", &assistant, "--channel", "call"])
        .error();
    assert_eq!(
        error,
        "error: --at is required (or `scheduled_at_fixed_datetime` in --json)"
    );

    // Every page, one event per page.
    let out = server
        .parley(&["events", "list", &assistant, "--page-size", "1"])
        .out();
    assert_eq!(
        cells(&redact(&out, &[(&first, "<first>"), (&second, "<second>")])),
        [
            vec![
                "scheduled_event_id",
                "channel",
                "scheduled_at_fixed_datetime",
                "telnyx_end_user_target",
                "status",
                "text"
            ],
            vec![
                "<first>",
                "sms",
                "2099-04-15T13:00:00.000000Z",
                USER,
                "pending",
                "See you tomorrow"
            ],
            vec![
                "<second>",
                "call",
                "2099-05-01T09:30:00.000000Z",
                USER,
                "pending"
            ],
        ]
    );
    let calls = server
        .parley(&[
            "events",
            "list",
            &assistant,
            "--channel",
            "call",
            "--output",
            "json",
        ])
        .json();
    assert_eq!(calls.as_array().unwrap().len(), 1);
    assert_eq!(calls[0]["scheduled_event_id"], second.as_str());
    assert_eq!(
        server
            .parley(&["events", "delete", &assistant, &first])
            .out(),
        format!("deleted scheduled event {first}\n")
    );
    let error = server
        .parley(&["events", "get", &assistant, &first])
        .error();
    assert!(error.starts_with("error: 404 "), "{error}");

    // A text now, through the carrier.
    let out = server
        .parley(&[
            "assistants",
            "send-sms",
            &assistant,
            "--from",
            AGENT,
            "--to",
            USER,
            "--text",
            "Hello!",
        ])
        .out();
    let conversation = out
        .trim_end()
        .strip_prefix(&format!("sent from {AGENT} to {USER} (conversation "))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let sent = telnyx.seen();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v2/messages");
    assert_eq!(sent[0].json()["text"], "Hello!");
    let messages = server
        .parley(&[
            "conversations",
            "messages",
            &conversation,
            "--output",
            "json",
        ])
        .json();
    assert_eq!(messages[0]["text"], "Hello!");

    // Which assistant answers texts to a number.
    let out = server
        .parley(&["numbers", "assign", AGENT, &assistant])
        .out();
    assert_eq!(detail(&out, "assistant_id"), assistant);
    let listed = cells(&server.parley(&["numbers", "list"]).out());
    assert_eq!(listed[1][..2], [AGENT, assistant.as_str()]);
    assert_eq!(
        detail(
            &server.parley(&["numbers", "get", AGENT]).out(),
            "phone_number"
        ),
        AGENT
    );
    assert_eq!(
        server.parley(&["numbers", "delete", AGENT]).out(),
        format!("{AGENT} is no longer assigned\n")
    );
    let error = server.parley(&["numbers", "get", AGENT]).error();
    assert!(error.starts_with("error: 404 "), "{error}");
}

/// Object storage and the embeddings endpoints: the task is `processing` for its first two
/// reads, then `success`.
fn knowledge(reads: &AtomicUsize, seen: &Seen) -> (u16, Value) {
    let path = seen.path.split('?').next().unwrap_or_default();
    let task = |status: &str| {
        json!({"data": {"task_id": "task-1", "task_name": "create_embeddings_from_bucket",
                        "status": status, "created_at": "2030-01-01T00:00:00Z"}})
    };
    let files = json!({"data": [
        {"filename": "faq.md", "status": "success", "created_at": "2030-01-01T00:00:00Z"},
        {"filename": "guides/setup.txt", "status": "success", "created_at": "2030-01-01T00:00:00Z"},
        {"filename": "broken.pdf", "status": "failed", "created_at": "2030-01-01T00:00:00Z",
         "error_reason": "not a PDF"}]});
    match (seen.method.as_str(), path) {
        ("PUT", "/s3/kb" | "/s3/archive") => (200, Value::Null),
        ("GET", "/s3/kb") => (
            200,
            Value::String(
                "<ListBucketResult><Name>kb</Name><IsTruncated>false</IsTruncated>\
                 <Contents><Key>broken.pdf</Key><Size>10</Size></Contents>\
                 <Contents><Key>faq.md</Key><LastModified>2030-01-01T00:00:00.000Z</LastModified>\
                 <Size>46</Size></Contents>\
                 <Contents><Key>guides/setup.txt</Key><Size>220000</Size></Contents>\
                 </ListBucketResult>"
                    .into(),
            ),
        ),
        ("PUT", p) if p.starts_with("/s3/kb/") => (200, Value::Null),
        ("PUT", _) => (
            403,
            Value::String(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
                 <Message>Access Denied</Message></Error>"
                    .into(),
            ),
        ),
        ("POST", "/v2/ai/embeddings") => (200, task("queued")),
        ("GET", "/v2/ai/embeddings/task-1") => {
            let n = reads.fetch_add(1, Ordering::SeqCst);
            (200, task(if n < 2 { "processing" } else { "success" }))
        }
        ("GET", "/v2/ai/embeddings/buckets/kb") => (200, files),
        ("GET", "/v2/ai/embeddings/buckets") => (200, json!({"data": {"buckets": ["kb"]}})),
        ("GET", "/v2/ai/embeddings") => (
            200,
            json!({"data": [
            {"task_id": "task-1", "task_name": "n", "status": "processing", "user_id": "u",
             "created_at": "2030-01-01T00:00:00Z", "bucket": "kb"}]}),
        ),
        ("POST", "/v2/ai/embeddings/similarity-search") => (
            200,
            json!({"data": [
            {"distance": 0.1234, "document_chunk": "Refunds reach your card\nwithin 5 days.",
             "metadata": {"checksum": "c", "embedding": "thenlper/gte-large",
                          "filename": "faq.md", "source": "kb/faq.md"}}]}),
        ),
        ("DELETE", "/v2/ai/embeddings/buckets/kb") => (200, Value::Null),
        _ => (
            404,
            json!({"errors": [{"code": "10005", "title": "Resource not found"}]}),
        ),
    }
}

#[test]
fn knowledge_bases_are_uploaded_embedded_and_searched_from_the_command_line() {
    let reads = AtomicUsize::new(0);
    let api = Stub::start(move |seen| knowledge(&reads, seen));
    let base_url = format!("{}/v2", api.base_url);
    let parley = |args: &[&str]| {
        let env = [
            ("TELNYX_API_KEY", "stub-key"),
            ("TELNYX_BASE_URL", base_url.as_str()),
        ];
        client_support::run(args, &env, None)
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("guides")).unwrap();
    std::fs::write(
        dir.path().join("faq.md"),
        "# FAQ\n\nRefunds reach your card within 5 days.\n",
    )
    .unwrap();
    let big = "setup step\n".repeat(20_000);
    std::fs::write(dir.path().join("guides/setup.txt"), &big).unwrap();

    let run = parley(&["kb", "upload", "kb", dir.path().to_str().unwrap()]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "key               size\nfaq.md            46 B\nguides/setup.txt  214.84 KiB\n\
         uploaded 2 file(s), 214.89 KiB to kb; embed them with `parley kb embed kb`\n"
    );
    assert_eq!(
        run.stderr,
        "uploaded faq.md (46 B)\nuploaded guides/setup.txt (214.84 KiB)\n"
    );
    let puts = api.seen();
    assert_eq!(puts[0].path, "/s3/kb", "the bucket is created first");
    let puts = &puts[1..];
    assert_eq!(puts[0].path, "/s3/kb/faq.md");
    assert_eq!(puts[0].header("content-type"), Some("text/markdown"));
    assert!(
        puts[0]
            .header("authorization")
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=stub-key/")),
        "{:?}",
        puts[0].headers
    );
    assert_eq!(puts[1].path, "/s3/kb/guides/setup.txt");
    assert_eq!(puts[1].body.len(), big.len());
    assert_eq!(
        puts[1].header("content-length"),
        Some(big.len().to_string().as_str())
    );
    let error = parley(&[
        "kb",
        "upload",
        "archive",
        dir.path().join("faq.md").to_str().unwrap(),
    ])
    .error();
    assert_eq!(
        error,
        format!(
            "error: uploading {}: 403 AccessDenied: Access Denied",
            dir.path().join("faq.md").display()
        )
    );

    // Embedding, followed to the end.
    let run = parley(&[
        "kb",
        "embed",
        "kb",
        "--chunk-size",
        "512",
        "--poll-ms",
        "20",
    ]);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "task task-1 success\n\nfile              status   error\nfaq.md            success\n\
         guides/setup.txt  success\nbroken.pdf        failed   not a PDF\n"
    );
    assert_eq!(
        run.stderr,
        "task task-1: queued\ntask task-1: processing\ntask task-1: success\n"
    );
    let create = api
        .seen()
        .into_iter()
        .find(|s| s.method == "POST" && s.path == "/v2/ai/embeddings")
        .unwrap();
    assert_eq!(
        create.json(),
        json!({"bucket_name": "kb", "document_chunk_size": 512})
    );
    let out = parley(&["kb", "embed", "kb", "--no-wait"]).out();
    assert_eq!(
        cells(&out)[..3],
        [
            ["task_id", "task-1"],
            ["task_name", "create_embeddings_from_bucket"],
            ["status", "queued"]
        ]
    );

    assert_eq!(
        parley(&["kb", "objects", "kb"]).out(),
        "key               size        last_modified\nbroken.pdf        10 B\n\
         faq.md            46 B        2030-01-01T00:00:00.000Z\nguides/setup.txt  214.84 KiB\n"
    );
    assert!(api.calls().contains(&"GET /s3/kb?list-type=2".to_owned()));
    let out = parley(&["kb", "search", "kb", "refund", "-n", "1"]).out();
    assert_eq!(
        out,
        "distance  file    chunk\n0.123     faq.md  Refunds reach your card within 5 days.\n"
    );
    let search = api.seen().into_iter().last().unwrap();
    assert_eq!(
        search.json(),
        json!({"bucket_name": "kb", "query": "refund", "num_of_docs": 1})
    );
    assert_eq!(parley(&["kb", "buckets"]).out(), "bucket\nkb\n");
    let files = parley(&["kb", "files", "kb", "--output", "json"]).json();
    assert_eq!(files[2]["error_reason"], "not a PDF");
    let tasks = cells(
        &parley(&[
            "kb",
            "tasks",
            "--status",
            "queued",
            "--status",
            "processing",
        ])
        .out(),
    );
    assert_eq!(
        tasks[1],
        ["task-1", "kb", "processing", "2030-01-01T00:00:00Z"]
    );
    assert!(api
        .calls()
        .contains(&"GET /v2/ai/embeddings?status=queued%2Cprocessing".to_owned()));
    assert_eq!(
        parley(&["kb", "delete", "kb"]).out(),
        "deleted the embeddings of kb\n"
    );
    let error = parley(&["kb", "files", "other"]).error();
    assert_eq!(error, "error: 404 Resource not found");
}

#[test]
fn knowledge_bases_against_parley_from_the_command_line() {
    // The local embedding model: pulled into the models directory if missing.
    let server = Server::start_with(&[
        ("PARLEY_PULL_MODELS", "true"),
        ("PARLEY_JOBS_POLL_MS", "50"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("refunds.md"),
        "# Refunds\n\nRefunds reach your card within 5 business days of the return.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("shipping.txt"),
        "Shipping\n\nParcels leave our warehouse every weekday at noon.\n",
    )
    .unwrap();

    let out = server
        .parley(&[
            "kb",
            "upload",
            "support-kb",
            dir.path().to_str().unwrap(),
            "--prefix",
            "docs",
        ])
        .out();
    assert_eq!(
        cells(&out)[1..3],
        [["docs/refunds.md", "73 B"], ["docs/shipping.txt", "61 B"]]
    );
    let run = server.parley(&["kb", "embed", "support-kb", "--poll-ms", "100"]);
    assert!(run.ok, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("task ") && lines[0].ends_with(" success"),
        "{}",
        run.stdout
    );
    let mut files = cells(&run.stdout)[3..].to_vec();
    files.sort();
    assert_eq!(
        files,
        [
            ["docs/refunds.md", "success"],
            ["docs/shipping.txt", "success"]
        ],
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.lines().last().unwrap().ends_with(": success"),
        "{}",
        run.stderr
    );

    let found = server
        .parley(&[
            "kb",
            "search",
            "support-kb",
            "When is my refund paid back?",
            "-n",
            "1",
        ])
        .out();
    let rows = cells(&found);
    assert_eq!(rows[0], ["distance", "file", "chunk"]);
    assert_eq!(rows[1][1], "docs/refunds.md", "{found}");
    assert_eq!(
        server.parley(&["kb", "buckets"]).out(),
        "bucket\nsupport-kb\n"
    );
    let objects = server
        .parley(&["kb", "objects", "support-kb", "--output", "json"])
        .json();
    assert_eq!(objects[0]["key"], "docs/refunds.md");
    assert_eq!(objects[1]["size"], 61);
    assert_eq!(
        server.parley(&["kb", "delete", "support-kb"]).out(),
        "deleted the embeddings of support-kb\n"
    );
    let error = server.parley(&["kb", "files", "support-kb"]).error();
    assert!(error.starts_with("error: 404 "), "{error}");
}

#[test]
fn versions_mcp_servers_and_integrations_are_edited_from_the_command_line() {
    let server = Server::start();
    let created = server
        .parley(&[
            "assistants",
            "create",
            "--name",
            "Edited",
            "--instructions",
            "Be kind.",
            "--output",
            "json",
        ])
        .json();
    let id = created["id"].as_str().unwrap().to_owned();
    let first = created["version_id"].as_str().unwrap().to_owned();
    server
        .parley(&["assistants", "update", &id, "--greeting", "Hello!"])
        .out();
    // The first version is a draft now: edited in place.
    let out = server
        .parley(&[
            "versions",
            "update",
            &id,
            &first,
            "--description",
            "the first one",
        ])
        .out();
    assert_eq!(detail(&out, "version_id"), first);
    assert_eq!(detail(&out, "description"), "the first one");
    let error = server
        .parley(&[
            "versions",
            "update",
            &id,
            "no-such-version",
            "--description",
            "x",
        ])
        .error();
    assert!(error.starts_with("error: 404 "), "{error}");

    let mcp = server
        .parley(&[
            "mcp",
            "create",
            "--name",
            "Docs",
            "--type",
            "sse",
            "--url",
            "https://mcp.example.com/sse",
            "--output",
            "json",
        ])
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = server
        .parley(&[
            "mcp",
            "update",
            &mcp,
            "--name",
            "Docs v2",
            "--allowed-tool",
            "search",
        ])
        .out();
    assert_eq!(detail(&out, "name"), "Docs v2");
    assert_eq!(detail(&out, "allowed_tools"), "search");
    assert_eq!(detail(&out, "url"), "https://mcp.example.com/sse");
    let error = server.parley(&["mcp", "update", &mcp]).error();
    assert_eq!(
        error,
        "error: nothing to change: give a field flag or --json"
    );

    let out = server.parley(&["integrations", "get", "hubspot"]).out();
    assert_eq!(detail(&out, "status"), "disconnected");
    server
        .parley(&[
            "secrets",
            "create",
            "--identifier",
            "crm",
            "--type",
            "bearer",
            "--token",
            "t",
        ])
        .out();
    let out = server
        .parley(&["integrations", "connect", "hubspot", "--api-key-ref", "crm"])
        .out();
    let connection = detail(&out, "id");
    assert_eq!(detail(&out, "integration_id"), "hubspot");
    assert_eq!(
        detail(
            &server
                .parley(&["integrations", "connection", &connection])
                .out(),
            "api_key_ref"
        ),
        "crm"
    );
    assert_eq!(
        detail(
            &server.parley(&["integrations", "get", "hubspot"]).out(),
            "status"
        ),
        "connected"
    );
    assert_eq!(
        server
            .parley(&["integrations", "disconnect", &connection])
            .out(),
        format!("deleted connection {connection}\n")
    );
    let error = server
        .parley(&["integrations", "connection", &connection])
        .error();
    assert!(error.starts_with("error: 404 "), "{error}");
}
