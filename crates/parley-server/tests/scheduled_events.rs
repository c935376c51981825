//! Scheduled events end to end, against a local server playing the Telnyx API: the CRUD
//! routes (201, validation as 400/422, list filters and pages, 404s, delete cancelling the
//! job), an SMS dispatched when the worker ticks at its due time (and completed by the
//! delivery report), a call dialled, retried after no answer, answered (the assistant started
//! with the event's variables) and completed, a retry budget spent, carrier failures retried
//! then failing with the carrier's reason. Time is a manual clock; the worker is ticked, never
//! waited for. Every scenario runs on SQLite and PostgreSQL.

mod common;
mod fake_telnyx;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use common::{assert_error, Backend, TestApp};
use fake_telnyx::{call_event, message_received, message_status, FakeTelnyx};
use parley_core::clock::{format_timestamp, Clock, ManualClock};
use parley_llm::test_support::{Reply as LlmReply, ScriptedServer};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const AGENT: &str = "+13125550100";
const USER: &str = "+13125550101";

struct Harness {
    app: TestApp,
    llm: ScriptedServer,
    carrier: FakeTelnyx,
    clock: Arc<ManualClock>,
    assistant: String,
}

async fn harness(backend: Backend, replies: Vec<LlmReply>) -> Harness {
    let carrier = FakeTelnyx::start().await;
    let llm = ScriptedServer::start(replies).await;
    let clock = Arc::new(ManualClock::new(Utc::now().trunc_subsecs(3)));
    let (api_url, llm_url) = (carrier.api_url(), llm.base_url());
    let app = TestApp::spawn_with(backend, clock.clone(), |settings| {
        settings.llm.embedded = false;
        settings.llm.upstream_base_url = Some(llm_url);
        settings.llm.timeout_ms = 2_000;
        settings.allow_private_network = true;
        settings.carrier.api_url = api_url;
        settings.carrier.api_key = Some("KEY-telnyx".into());
        settings.carrier.connection_id = Some("connection-1".into());
        settings.carrier.public_url = Some("https://parley.example.com".into());
    })
    .await;
    let assistant = app
        .create_assistant(
            json!({"name": "Caller", "instructions": "Be brief.", "model": "scripted/model"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Harness {
        app,
        llm,
        carrier,
        clock,
        assistant,
    }
}

impl Harness {
    fn path(&self, rest: &str) -> String {
        format!(
            "/v2/ai/assistants/{}/scheduled_events{rest}",
            self.assistant
        )
    }

    fn at(&self, offset: Duration) -> String {
        format_timestamp(&(self.clock.now() + offset))
    }

    async fn create(&self, body: Value) -> common::Reply {
        self.app.post(&self.path(""), &body).await
    }

    async fn created(&self, body: Value) -> Value {
        let reply = self.create(body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }

    async fn event(&self, id: &str) -> Value {
        let reply = self.app.get(&self.path(&format!("/{id}"))).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    fn sms(&self, offset: Duration) -> Value {
        json!({
            "telnyx_conversation_channel": "sms_chat",
            "telnyx_agent_target": AGENT,
            "telnyx_end_user_target": USER,
            "scheduled_at_fixed_datetime": self.at(offset),
            "text": "Reminder: your appointment is tomorrow.",
        })
    }

    fn call(&self, offset: Duration, retries: u32) -> Value {
        let mut body = json!({
            "telnyx_conversation_channel": "phone_call",
            "telnyx_agent_target": AGENT,
            "telnyx_end_user_target": USER,
            "scheduled_at_fixed_datetime": self.at(offset),
            "dynamic_variables": {"customer": "Ada"},
            "conversation_metadata": {"campaign": "spring"},
            "call_settings": {"sip_region": "Europe"},
        });
        if retries > 0 {
            body["max_retries_client_errors"] = json!(retries);
            body["retry_interval_secs"] = json!(60);
        }
        body
    }

    async fn tick(&self) -> usize {
        self.app.tick_jobs(self.clock.now()).await
    }

    async fn webhook(&self, path: &str, body: &Value) -> Value {
        let reply = self.app.send(Method::POST, path, Some(body), None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }
}

fn time(value: &Value) -> DateTime<Utc> {
    parley_core::clock::parse_timestamp(value.as_str().unwrap()).unwrap()
}

macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(super::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario(super::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both!(
    create_bodies_are_validated,
    create_get_list_delete,
    a_scheduled_sms_is_sent_when_due_and_completed_when_delivered,
    a_call_is_retried_after_no_answer_then_answered_and_completed,
    a_call_fails_when_its_retries_are_spent,
    carrier_failures_are_retried_then_fail_with_the_reason,
    deleting_a_pending_event_cancels_it,
);

async fn create_bodies_are_validated(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let check = |body: Value, status: u16, code: &'static str, pointer: &'static str| {
        let h = &h;
        async move {
            let reply = h.create(body).await;
            let error = assert_error(&reply, status, code);
            assert_eq!(error["source"]["pointer"], pointer, "{}", reply.body);
        }
    };
    let mut past = h.sms(Duration::zero());
    past["scheduled_at_fixed_datetime"] = json!(h.at(Duration::hours(-1)));
    check(past, 400, "10015", "/scheduled_at_fixed_datetime").await;
    let mut no_text = h.sms(Duration::hours(1));
    no_text.as_object_mut().unwrap().remove("text");
    check(no_text, 400, "10015", "/text").await;
    let mut fax = h.sms(Duration::hours(1));
    fax["telnyx_conversation_channel"] = json!("fax");
    check(fax, 422, "10016", "/telnyx_conversation_channel").await;
    let mut sms_retries = h.sms(Duration::hours(1));
    sms_retries["max_retries_client_errors"] = json!(2);
    sms_retries["retry_interval_secs"] = json!(60);
    let reply = h.create(sms_retries).await;
    assert_error(&reply, 400, "10015");
    let mut short = h.call(Duration::hours(1), 2);
    short["retry_interval_secs"] = json!(30);
    check(short, 422, "10016", "/retry_interval_secs").await;
    let mut many = h.call(Duration::hours(1), 2);
    many["max_retries_client_errors"] = json!(11);
    check(many, 422, "10016", "/max_retries_client_errors").await;
    let mut no_interval = h.call(Duration::hours(1), 2);
    no_interval
        .as_object_mut()
        .unwrap()
        .remove("retry_interval_secs");
    check(no_interval, 400, "10015", "/retry_interval_secs").await;
    let mut bad_time = h.sms(Duration::hours(1));
    bad_time["scheduled_at_fixed_datetime"] = json!("tomorrow");
    check(bad_time, 422, "10016", "/scheduled_at_fixed_datetime").await;
    check(json!({}), 422, "10016", "/telnyx_conversation_channel").await;
    let reply = h
        .app
        .post(
            "/v2/ai/assistants/assistant-missing/scheduled_events",
            &h.sms(Duration::hours(1)),
        )
        .await;
    assert_error(&reply, 404, "10005");
    let listed = h.app.get(&h.path("")).await;
    assert_eq!(
        listed.body["meta"]["total_results"], 0,
        "nothing invalid was stored"
    );
}

async fn create_get_list_delete(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let sms = h.created(h.sms(Duration::hours(2))).await;
    assert_eq!(sms["status"], "pending");
    assert_eq!(sms["assistant_id"], h.assistant.as_str());
    assert_eq!(sms["telnyx_conversation_channel"], "sms_chat");
    assert_eq!(sms["text"], "Reminder: your appointment is tomorrow.");
    assert_eq!(sms["retry_count"], 0);
    assert_eq!(sms["errors"], json!([]));
    assert!(
        sms.get("call_attempts").is_none(),
        "no phone fields on an SMS event"
    );
    let id = sms["scheduled_event_id"].as_str().unwrap().to_owned();
    assert_eq!(h.event(&id).await, sms);

    let call = h.created(h.call(Duration::hours(1), 3)).await;
    assert_eq!(call["call_attempts"], json!([]));
    assert_eq!(call["max_retries_client_errors"], 3);
    assert_eq!(call["retry_interval_secs"], 60);
    assert_eq!(call["call_settings"], json!({"sip_region": "Europe"}));
    assert_eq!(call["dynamic_variables"], json!({"customer": "Ada"}));
    assert!(call.get("text").is_none());
    let third = h.created(h.sms(Duration::hours(3))).await;

    let ids = |reply: &common::Reply| -> Vec<String> {
        reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["scheduled_event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = h.app.get(&h.path("")).await;
    assert_eq!(
        ids(&all),
        [
            call["scheduled_event_id"].as_str().unwrap(),
            id.as_str(),
            third["scheduled_event_id"].as_str().unwrap()
        ],
        "earliest due first"
    );
    assert_eq!(
        all.body["meta"],
        json!({"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 3})
    );
    let page = h
        .app
        .get(&h.path("?page%5Bnumber%5D=2&page%5Bsize%5D=2"))
        .await;
    assert_eq!(ids(&page), [third["scheduled_event_id"].as_str().unwrap()]);
    assert_eq!(page.body["meta"]["page_number"], 2);
    assert_eq!(page.body["meta"]["total_pages"], 2);
    let sms_only = h.app.get(&h.path("?conversation_channel=sms_chat")).await;
    assert_eq!(sms_only.body["meta"]["total_results"], 2);
    let from = urlencode(sms["scheduled_at_fixed_datetime"].as_str().unwrap());
    let to = urlencode(third["scheduled_at_fixed_datetime"].as_str().unwrap());
    let range = h
        .app
        .get(&h.path(&format!("?from_date={from}&to_date={to}")))
        .await;
    assert_eq!(
        range.body["meta"]["total_results"], 2,
        "inclusive at both ends"
    );
    let days = h
        .app
        .get(&h.path("?from_date=2000-01-01&to_date=2999-12-31"))
        .await;
    assert_eq!(
        days.body["meta"]["total_results"], 3,
        "dates alone are whole days"
    );
    let bad = h.app.get(&h.path("?conversation_channel=fax")).await;
    assert_error(&bad, 400, "10003");
    let bad = h.app.get(&h.path("?from_date=soon")).await;
    assert_error(&bad, 400, "10003");

    assert_error(&h.app.get(&h.path("/no-such-event")).await, 404, "10005");
    let deleted = h.app.delete(&h.path(&format!("/{id}"))).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body, Value::Null, "an empty body");
    assert_error(&h.app.get(&h.path(&format!("/{id}"))).await, 404, "10005");
    assert_error(
        &h.app.delete(&h.path(&format!("/{id}"))).await,
        404,
        "10005",
    );
    // Another organization sees none of it.
    let other = h.app.key_for_new_org("other").await;
    let reply = h
        .app
        .send(Method::GET, &h.path(""), None, Some(&other))
        .await;
    assert_error(&reply, 404, "10005");
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace('+', "%2B")
}

async fn a_scheduled_sms_is_sent_when_due_and_completed_when_delivered(backend: Backend) {
    let h = harness(backend, vec![LlmReply::text("See you then!")]).await;
    let mut body = h.sms(Duration::hours(1));
    body["conversation_metadata"] = json!({"campaign": "reminders", "wave": 2});
    body["dynamic_variables"] = json!({"customer": "Ada"});
    body["text"] = json!("Reminder, {{customer}}: your appointment is tomorrow. {{unknown}}");
    let event = h.created(body).await;
    let id = event["scheduled_event_id"].as_str().unwrap().to_owned();

    assert_eq!(h.tick().await, 0, "not due yet");
    assert!(h.carrier.requests().is_empty());
    h.clock.advance(Duration::hours(1));
    assert_eq!(h.tick().await, 1);
    let sent = h.carrier.requests_to("/v2/messages");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["from"], AGENT);
    assert_eq!(sent[0].body["to"], USER);
    assert_eq!(
        sent[0].body["text"], "Reminder, Ada: your appointment is tomorrow. {{unknown}}",
        "the event's variables are filled in; unknown ones stay as written"
    );
    assert_eq!(
        sent[0].idempotency_key.as_deref(),
        Some(format!("parley-scheduled-event-{id}").as_str())
    );
    let event = h.event(&id).await;
    assert_eq!(event["status"], "in_progress");
    assert_eq!(time(&event["dispatched_at"]), h.clock.now());
    let conversation_id = event["conversation_id"].as_str().unwrap().to_owned();
    let conversation = h
        .app
        .get(&format!("/v2/ai/conversations/{conversation_id}"))
        .await;
    let metadata = &conversation.body["data"]["metadata"];
    assert_eq!(metadata["telnyx_conversation_channel"], "sms_chat");
    assert_eq!(metadata["campaign"], "reminders");
    assert_eq!(metadata["wave"], "2");
    assert_eq!(metadata["telnyx_end_user_target"], USER);
    assert_eq!(h.tick().await, 0, "dispatched once");

    // The delivery report completes it.
    let messages = h
        .app
        .get(&format!("/v2/ai/conversations/{conversation_id}/messages"))
        .await;
    let carrier_id = messages.body["data"][0]["metadata"]["carrier_message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.webhook(
        "/v2/webhooks/messaging",
        &message_status("message.sent", "d-1", &carrier_id, "sent", json!([])),
    )
    .await;
    assert_eq!(h.event(&id).await["status"], "in_progress");
    h.webhook(
        "/v2/webhooks/messaging",
        &message_status(
            "message.finalized",
            "d-2",
            &carrier_id,
            "delivered",
            json!([]),
        ),
    )
    .await;
    assert_eq!(h.event(&id).await["status"], "completed");

    // A reply continues the event's conversation, with its variables.
    h.webhook(
        "/v2/webhooks/messaging",
        &message_received("r-1", "in-1", USER, AGENT, "Thanks!"),
    )
    .await;
    assert_eq!(h.tick().await, 1);
    let messages = h
        .app
        .get(&format!("/v2/ai/conversations/{conversation_id}/messages"))
        .await;
    let texts: Vec<&str> = messages.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Reminder, Ada: your appointment is tomorrow. {{unknown}}",
            "Thanks!",
            "See you then!"
        ]
    );
    assert_eq!(h.llm.requests().len(), 1);
}

async fn a_call_is_retried_after_no_answer_then_answered_and_completed(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let event = h.created(h.call(Duration::minutes(10), 2)).await;
    let id = event["scheduled_event_id"].as_str().unwrap().to_owned();
    h.clock.advance(Duration::minutes(10));
    assert_eq!(h.tick().await, 1);
    let dials = h.carrier.requests_to("/v2/calls");
    assert_eq!(dials.len(), 1);
    let dial = &dials[0];
    assert_eq!(dial.body["connection_id"], "connection-1");
    assert_eq!(dial.body["from"], AGENT);
    assert_eq!(dial.body["to"], USER);
    assert_eq!(
        dial.body["webhook_url"],
        "https://parley.example.com/v2/webhooks/call-control"
    );
    assert_eq!(
        dial.idempotency_key.as_deref(),
        Some(format!("parley-scheduled-event-{id}-dial-1").as_str())
    );
    let client_state = dial.body["client_state"].clone();
    let event = h.event(&id).await;
    assert_eq!(event["status"], "in_progress");
    assert_eq!(event["call_status"], "ringing");
    assert_eq!(event["retry_attempts"], 1);
    // Which call: the fake answered with its id; the webhook names it.
    let first_call = call_id_of(&h, &id).await;

    let answer = h
        .webhook(
            "/v2/webhooks/call-control",
            &call_event(
                "call.hangup",
                "h-1",
                &first_call,
                &client_state,
                Some("timeout"),
            ),
        )
        .await;
    assert_eq!(answer, json!({"status": "accepted"}));
    let event = h.event(&id).await;
    assert_eq!(event["status"], "pending");
    assert_eq!(event["retry_count"], 1);
    assert_eq!(event["call_status"], "no-answer");
    assert_eq!(event["call_attempts"][0]["call_status"], "no-answer");
    assert_eq!(event["call_attempts"][0]["attempt_number"], 1);
    assert_eq!(
        event["call_attempts"][0]["telnyx_call_control_id"],
        first_call.as_str()
    );
    assert_eq!(
        time(&event["scheduled_at_fixed_datetime"]),
        h.clock.now() + Duration::seconds(60),
        "retried retry_interval_secs after the outcome"
    );
    // A redelivered hangup changes nothing.
    assert_eq!(
        h.webhook(
            "/v2/webhooks/call-control",
            &call_event(
                "call.hangup",
                "h-1",
                &first_call,
                &client_state,
                Some("timeout")
            ),
        )
        .await,
        json!({"status": "duplicate"})
    );

    assert_eq!(h.tick().await, 0, "not before the interval");
    h.clock.advance(Duration::seconds(60));
    assert_eq!(h.tick().await, 1);
    let dials = h.carrier.requests_to("/v2/calls");
    assert_eq!(dials.len(), 2);
    assert_eq!(
        dials[1].idempotency_key.as_deref(),
        Some(format!("parley-scheduled-event-{id}-dial-2").as_str())
    );
    let second_call = call_id_of(&h, &id).await;
    assert_ne!(second_call, first_call);

    h.webhook(
        "/v2/webhooks/call-control",
        &call_event("call.answered", "a-2", &second_call, &client_state, None),
    )
    .await;
    let event = h.event(&id).await;
    assert_eq!(event["call_status"], "in-progress");
    let conversation_id = event["conversation_id"].as_str().unwrap().to_owned();
    let started = h.carrier.wait_for("/actions/ai_assistant_start", 1).await;
    assert_eq!(
        started[0].path,
        format!("/v2/calls/{second_call}/actions/ai_assistant_start")
    );
    assert_eq!(started[0].body["assistant"]["id"], h.assistant.as_str());
    assert_eq!(
        started[0].body["assistant"]["dynamic_variables"],
        json!({"customer": "Ada"})
    );
    assert!(started[0].body["command_id"].is_string());
    let conversation = h
        .app
        .get(&format!("/v2/ai/conversations/{conversation_id}"))
        .await;
    let metadata = &conversation.body["data"]["metadata"];
    assert_eq!(metadata["telnyx_conversation_channel"], "phone_call");
    assert_eq!(metadata["call_control_id"], second_call.as_str());
    assert_eq!(metadata["campaign"], "spring");
    assert_eq!(metadata["assistant_id"], h.assistant.as_str());

    h.webhook(
        "/v2/webhooks/call-control",
        &call_event(
            "call.hangup",
            "h-2",
            &second_call,
            &client_state,
            Some("normal_clearing"),
        ),
    )
    .await;
    let event = h.event(&id).await;
    assert_eq!(event["status"], "completed");
    assert_eq!(event["call_status"], "completed");
    assert_eq!(event["call_duration"], 42);
    assert_eq!(event["retry_attempts"], 2);
    let attempts = event["call_attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1]["call_status"], "completed");
    assert_eq!(attempts[1]["call_duration"], 42);
    assert_eq!(h.tick().await, 0);
}

/// The current call of event `id`, as the carrier named it (the fake's answer to the dial).
async fn call_id_of(h: &Harness, id: &str) -> String {
    // The event does not show the live call's id, but the store has it.
    let org = h
        .app
        .store
        .list_api_keys()
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .org_id;
    let event = h
        .app
        .store
        .get_scheduled_event(
            &org,
            &parley_core::ids::AssistantId::from_string(&h.assistant),
            id,
        )
        .await
        .unwrap()
        .unwrap();
    event.call_control_id.unwrap()
}

async fn a_call_fails_when_its_retries_are_spent(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let event = h.created(h.call(Duration::zero(), 1)).await;
    let id = event["scheduled_event_id"].as_str().unwrap().to_owned();
    for (n, cause) in [(1, "user_busy"), (2, "call_rejected")] {
        assert_eq!(h.tick().await, 1, "dial {n}");
        let call = call_id_of(&h, &id).await;
        let state = h.carrier.requests_to("/v2/calls")[n - 1].body["client_state"].clone();
        h.webhook(
            "/v2/webhooks/call-control",
            &call_event("call.hangup", &format!("h-{n}"), &call, &state, Some(cause)),
        )
        .await;
        h.clock.advance(Duration::seconds(60));
    }
    let event = h.event(&id).await;
    assert_eq!(event["status"], "failed");
    let statuses: Vec<&str> = event["call_attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["call_status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["busy", "failed"]);
    let errors = event["errors"].as_array().unwrap();
    assert!(
        errors
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("retry budget exhausted"),
        "{errors:?}"
    );
    assert_eq!(h.tick().await, 0);
    assert_eq!(h.carrier.requests_to("/v2/calls").len(), 2);
}

async fn carrier_failures_are_retried_then_fail_with_the_reason(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let event = h.created(h.sms(Duration::zero())).await;
    let id = event["scheduled_event_id"].as_str().unwrap().to_owned();
    h.carrier.fail_next(
        "/v2/messages",
        503,
        json!({"errors": [{"title": "Service unavailable"}]}),
    );
    assert_eq!(h.tick().await, 1);
    let event = h.event(&id).await;
    assert_eq!(event["status"], "pending");
    assert_eq!(event["retry_count"], 1);
    assert!(event["errors"][0]
        .as_str()
        .unwrap()
        .contains("Service unavailable"));
    assert_eq!(h.tick().await, 0, "backing off");
    h.carrier.fail_next(
        "/v2/messages",
        422,
        json!({"errors": [{"code": "40008", "title": "Empty message body"}]}),
    );
    h.clock.advance(Duration::seconds(10));
    assert_eq!(h.tick().await, 1);
    let event = h.event(&id).await;
    assert_eq!(event["status"], "failed");
    assert!(
        event["errors"][1]
            .as_str()
            .unwrap()
            .contains("40008 Empty message body"),
        "{}",
        event["errors"]
    );
    let sent = h.carrier.requests_to("/v2/messages");
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].idempotency_key, sent[1].idempotency_key,
        "a retried dispatch carries the same idempotency key"
    );
    let listed = h.app.get("/v2/ai/conversations").await;
    assert_eq!(
        listed.body["data"],
        json!([]),
        "no conversation for an unsent text"
    );
    h.clock.advance(Duration::hours(1));
    assert_eq!(h.tick().await, 0);
}

async fn deleting_a_pending_event_cancels_it(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let sms = h.created(h.sms(Duration::minutes(5))).await;
    let call = h.created(h.call(Duration::minutes(5), 0)).await;
    for event in [&sms, &call] {
        let id = event["scheduled_event_id"].as_str().unwrap();
        assert_eq!(h.app.delete(&h.path(&format!("/{id}"))).await.status, 200);
    }
    h.clock.advance(Duration::minutes(10));
    assert_eq!(h.tick().await, 0, "no job is left");
    assert!(
        h.carrier.requests().is_empty(),
        "nothing was sent or dialled"
    );
}
