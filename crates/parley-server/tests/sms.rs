//! SMS end to end, against a local server playing the Telnyx API and a scripted LLM:
//! `POST /v2/ai/assistants/{id}/chat/sms` (the text given, the greeting, a model-written
//! message; the conversation it records; carrier errors as 502 leaving nothing), inbound texts
//! through `POST /v2/webhooks/messaging` answered by a durable job (replies in the same
//! conversation, duplicates ignored, assigned numbers, lapsed conversations, human takeover),
//! delivery reports forwarded, webhook signatures, and the phone-number assignments. Every
//! scenario runs on SQLite and PostgreSQL.

mod common;
mod fake_telnyx;

use base64::Engine;
use common::{assert_error, Backend, TestApp};
use fake_telnyx::{message_received, message_status, FakeTelnyx, Recorder};
use parley_core::clock::{Clock, ManualClock};
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
}

async fn harness(backend: Backend, replies: Vec<LlmReply>) -> Harness {
    harness_with(backend, replies, |_| {}).await
}

async fn harness_with(
    backend: Backend,
    replies: Vec<LlmReply>,
    tweak: impl FnOnce(&mut parley_server::Settings),
) -> Harness {
    let carrier = FakeTelnyx::start().await;
    let llm = ScriptedServer::start(replies).await;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let (api_url, llm_url) = (carrier.api_url(), llm.base_url());
    let app = TestApp::spawn_with(backend, clock.clone(), |settings| {
        settings.llm.embedded = false;
        settings.llm.upstream_base_url = Some(llm_url);
        settings.llm.timeout_ms = 2_000;
        settings.allow_private_network = true;
        settings.carrier.api_url = api_url;
        settings.carrier.api_key = Some("KEY-telnyx".into());
        settings.carrier.messaging_profile_id = Some("profile-default".into());
        tweak(settings);
    })
    .await;
    Harness {
        app,
        llm,
        carrier,
        clock,
    }
}

async fn assistant(app: &TestApp, extra: Value) -> String {
    let mut body =
        json!({"name": "Texter", "instructions": "Be brief.", "model": "scripted/model"});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    app.create_assistant(body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn send_sms(app: &TestApp, assistant: &str, body: &Value) -> common::Reply {
    app.post(&format!("/v2/ai/assistants/{assistant}/chat/sms"), body)
        .await
}

async fn messages(app: &TestApp, conversation: &str) -> Vec<(String, String)> {
    let reply = app
        .get(&format!("/v2/ai/conversations/{conversation}/messages"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn conversation(app: &TestApp, id: &str) -> Value {
    let reply = app.get(&format!("/v2/ai/conversations/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["data"].clone()
}

async fn webhook(app: &TestApp, path: &str, body: &Value) -> common::Reply {
    app.send(Method::POST, path, Some(body), None).await
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
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
    sending_a_text_records_it_in_an_sms_conversation,
    without_text_the_greeting_opens_and_the_model_follows_up,
    carrier_errors_are_502_and_leave_nothing,
    send_bodies_are_validated,
    an_inbound_text_is_answered_in_its_conversation_once,
    a_reply_the_carrier_could_not_take_is_resent_not_rewritten,
    an_assigned_number_answers_strangers,
    a_lapsed_conversation_starts_a_new_one,
    human_takeover_records_without_replying,
    delivery_reports_update_and_forward,
    webhook_signatures_are_checked,
    phone_number_assignments,
);

async fn sending_a_text_records_it_in_an_sms_conversation(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let id = assistant(&h.app, json!({})).await;
    let reply = send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "Your order shipped.", "conversation_metadata": {"order": 42, "vip": true}}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let conversation_id = reply.body["conversation_id"].as_str().unwrap().to_owned();

    let sent = h.carrier.requests_to("/v2/messages");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body,
        json!({"from": AGENT, "to": USER, "text": "Your order shipped.", "type": "SMS", "messaging_profile_id": "profile-default"})
    );
    assert_eq!(sent[0].authorization.as_deref(), Some("Bearer KEY-telnyx"));
    assert!(
        sent[0].idempotency_key.is_some(),
        "carrier POSTs carry an idempotency key"
    );

    let conversation = conversation(&h.app, &conversation_id).await;
    let metadata = &conversation["metadata"];
    assert_eq!(metadata["telnyx_conversation_channel"], "sms_chat");
    assert_eq!(metadata["telnyx_agent_target"], AGENT);
    assert_eq!(metadata["telnyx_end_user_target"], USER);
    assert_eq!(metadata["assistant_id"], id.as_str());
    assert_eq!(metadata["order"], "42");
    assert_eq!(metadata["vip"], "true");
    assert_eq!(
        messages(&h.app, &conversation_id).await,
        pairs(&[("assistant", "Your order shipped.")])
    );

    // The same two numbers continue the conversation; should_create_conversation starts one.
    let again = send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "Tracking: 1Z"}),
    )
    .await;
    assert_eq!(again.body["conversation_id"], conversation_id.as_str());
    let fresh = send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "New topic", "should_create_conversation": true}),
    )
    .await;
    assert_eq!(fresh.status, 200);
    assert_ne!(fresh.body["conversation_id"], conversation_id.as_str());
    assert_eq!(
        messages(&h.app, &conversation_id).await,
        pairs(&[
            ("assistant", "Your order shipped."),
            ("assistant", "Tracking: 1Z")
        ])
    );
    assert!(h.llm.requests().is_empty(), "a given text needs no model");
}

async fn without_text_the_greeting_opens_and_the_model_follows_up(backend: Backend) {
    let h = harness(backend, vec![LlmReply::text("Just checking in!")]).await;
    let id = assistant(
        &h.app,
        json!({"greeting": "Hi, this is {{telnyx_agent_target}}.", "messaging_settings": {"default_messaging_profile_id": "profile-assistant"}}),
    )
    .await;
    let first = send_sms(&h.app, &id, &json!({"from": AGENT, "to": USER})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let conversation_id = first.body["conversation_id"].as_str().unwrap().to_owned();
    let second = send_sms(&h.app, &id, &json!({"from": AGENT, "to": USER})).await;
    assert_eq!(second.body["conversation_id"], conversation_id.as_str());

    let sent = h.carrier.requests_to("/v2/messages");
    assert_eq!(sent[0].body["text"], format!("Hi, this is {AGENT}."));
    assert_eq!(sent[0].body["messaging_profile_id"], "profile-assistant");
    assert_eq!(sent[1].body["text"], "Just checking in!");
    // The model was asked for the next message, with the history and no user turn.
    let asked = &h.llm.requests()[0].body["messages"];
    let roles: Vec<&str> = asked
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "assistant", "system"]);
    assert_eq!(
        messages(&h.app, &conversation_id).await,
        pairs(&[
            ("assistant", &format!("Hi, this is {AGENT}.")),
            ("assistant", "Just checking in!")
        ])
    );
}

async fn carrier_errors_are_502_and_leave_nothing(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let id = assistant(&h.app, json!({})).await;
    h.carrier.fail_next(
        "/v2/messages",
        422,
        json!({"errors": [{"code": "40310", "title": "Invalid 'to' address", "detail": "The destination number is not valid."}]}),
    );
    let reply = send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "Hello"}),
    )
    .await;
    let error = assert_error(&reply, 502, "10019");
    let detail = error["detail"].as_str().unwrap();
    assert!(
        detail.contains("40310") && detail.contains("The destination number is not valid."),
        "{detail}"
    );
    let listed = h.app.get("/v2/ai/conversations").await;
    assert_eq!(listed.body["data"], json!([]), "nothing was recorded");

    // The carrier is down: also a 502, and the next send works.
    h.carrier.fail_next("/v2/messages", 503, json!({}));
    let reply = send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "Hello"}),
    )
    .await;
    assert_error(&reply, 502, "10019");
    let reply = send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "Hello"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

async fn send_bodies_are_validated(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let id = assistant(&h.app, json!({})).await;
    let error = assert_error(
        &send_sms(&h.app, &id, &json!({"to": USER, "text": "x"})).await,
        422,
        "10016",
    );
    assert_eq!(error["source"]["pointer"], "/from");
    let error = assert_error(
        &send_sms(&h.app, &id, &json!({"from": "3125550100", "to": USER})).await,
        422,
        "10016",
    );
    assert_eq!(error["source"]["pointer"], "/from");
    let error = assert_error(
        &send_sms(
            &h.app,
            &id,
            &json!({"from": AGENT, "to": USER, "text": "  "}),
        )
        .await,
        422,
        "10016",
    );
    assert_eq!(error["source"]["pointer"], "/text");
    let error = assert_error(
        &send_sms(
            &h.app,
            &id,
            &json!({"from": AGENT, "to": USER, "conversation_metadata": {"assistant_id": "x"}}),
        )
        .await,
        400,
        "10015",
    );
    assert_eq!(
        error["source"]["pointer"],
        "/conversation_metadata/assistant_id"
    );
    assert_error(
        &send_sms(
            &h.app,
            "assistant-missing",
            &json!({"from": AGENT, "to": USER, "text": "x"}),
        )
        .await,
        404,
        "10005",
    );
    assert!(
        h.carrier.requests().is_empty(),
        "nothing invalid reached the carrier"
    );
}

async fn an_inbound_text_is_answered_in_its_conversation_once(backend: Backend) {
    let h = harness(backend, vec![LlmReply::text("Tomorrow at 9.")]).await;
    let id = assistant(&h.app, json!({})).await;
    let sent = send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "Your table is booked."}),
    )
    .await;
    let conversation_id = sent.body["conversation_id"].as_str().unwrap().to_owned();

    let event = message_received("event-1", "inbound-1", USER, AGENT, "When exactly?");
    let accepted = webhook(&h.app, "/v2/webhooks/messaging", &event).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.body, json!({"status": "accepted"}));
    // Telnyx redelivers: the event is ignored.
    let again = webhook(&h.app, "/v2/webhooks/messaging", &event).await;
    assert_eq!(again.body, json!({"status": "duplicate"}));

    assert_eq!(
        h.app.tick_jobs(h.clock.now()).await,
        1,
        "one job for the event"
    );
    assert_eq!(h.app.tick_jobs(h.clock.now()).await, 0);
    let sent = h.carrier.requests_to("/v2/messages");
    assert_eq!(sent.len(), 2, "one reply: {sent:?}");
    assert_eq!(sent[1].body["from"], AGENT);
    assert_eq!(sent[1].body["to"], USER);
    assert_eq!(sent[1].body["text"], "Tomorrow at 9.");
    assert_eq!(
        sent[1].idempotency_key.as_deref(),
        Some("parley-reply-inbound-1")
    );
    // The model saw the conversation so far.
    let asked: Vec<(String, String)> = h.llm.requests()[0].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        asked,
        pairs(&[
            ("system", "Be brief."),
            ("assistant", "Your table is booked."),
            ("user", "When exactly?")
        ])
    );
    assert_eq!(
        messages(&h.app, &conversation_id).await,
        pairs(&[
            ("assistant", "Your table is booked."),
            ("user", "When exactly?"),
            ("assistant", "Tomorrow at 9.")
        ])
    );
    // A text to a number nobody answers is acknowledged and dropped.
    let stranger = message_received("event-2", "inbound-2", USER, "+13125550999", "hello?");
    let ignored = webhook(&h.app, "/v2/webhooks/messaging", &stranger).await;
    assert_eq!(ignored.body, json!({"status": "ignored"}));
    // Malformed events are 400.
    let bad = webhook(
        &h.app,
        "/v2/webhooks/messaging",
        &json!({"data": {"event_type": "message.received", "payload": {}}}),
    )
    .await;
    assert_error(&bad, 400, "10002");
}

async fn an_assigned_number_answers_strangers(backend: Backend) {
    let h = harness(backend, vec![LlmReply::text("Hello! How can I help?")]).await;
    let id = assistant(&h.app, json!({})).await;
    let assigned = h
        .app
        .post(
            "/v2/ai/phone_numbers",
            &json!({"phone_number": AGENT, "assistant_id": id}),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    let event = message_received("event-a", "inbound-a", USER, AGENT, "Hi there");
    assert_eq!(
        webhook(&h.app, "/v2/webhooks/messaging", &event).await.body,
        json!({"status": "accepted"})
    );
    assert_eq!(h.app.tick_jobs(h.clock.now()).await, 1);
    let sent = h.carrier.requests_to("/v2/messages");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["text"], "Hello! How can I help?");
    let listed = h.app.get("/v2/ai/conversations").await;
    let conversations = listed.body["data"].as_array().unwrap();
    assert_eq!(conversations.len(), 1);
    let metadata = &conversations[0]["metadata"];
    assert_eq!(metadata["telnyx_conversation_channel"], "sms_chat");
    assert_eq!(metadata["telnyx_agent_target"], AGENT);
    assert_eq!(metadata["telnyx_end_user_target"], USER);
    let id = conversations[0]["id"].as_str().unwrap();
    assert_eq!(
        messages(&h.app, id).await,
        pairs(&[
            ("user", "Hi there"),
            ("assistant", "Hello! How can I help?")
        ])
    );
}

async fn a_lapsed_conversation_starts_a_new_one(backend: Backend) {
    let h = harness(backend, vec![LlmReply::text("a"), LlmReply::text("b")]).await;
    let id = assistant(
        &h.app,
        json!({"messaging_settings": {"conversation_inactivity_minutes": 10}}),
    )
    .await;
    let sent = send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "Hi"}),
    )
    .await;
    let first = sent.body["conversation_id"].as_str().unwrap().to_owned();
    h.clock.advance(chrono::Duration::minutes(5));
    webhook(
        &h.app,
        "/v2/webhooks/messaging",
        &message_received("e1", "m1", USER, AGENT, "within"),
    )
    .await;
    h.app.tick_jobs(h.clock.now()).await;
    assert_eq!(
        messages(&h.app, &first).await.len(),
        3,
        "within the window: same conversation"
    );
    h.clock.advance(chrono::Duration::minutes(11));
    webhook(
        &h.app,
        "/v2/webhooks/messaging",
        &message_received("e2", "m2", USER, AGENT, "later"),
    )
    .await;
    h.app.tick_jobs(h.clock.now()).await;
    assert_eq!(
        messages(&h.app, &first).await.len(),
        3,
        "the lapsed one is untouched"
    );
    let listed = h.app.get("/v2/ai/conversations").await;
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        2,
        "a new conversation"
    );
    assert_eq!(h.carrier.requests_to("/v2/messages").len(), 3);
}

async fn human_takeover_records_without_replying(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let id = assistant(&h.app, json!({})).await;
    let sent = send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "Hi"}),
    )
    .await;
    let conversation_id = sent.body["conversation_id"].as_str().unwrap().to_owned();
    let reply = h
        .app
        .send(
            Method::PUT,
            &format!("/v2/ai/conversations/{conversation_id}"),
            Some(&json!({"metadata": {"ai_disabled": "true"}})),
            Some(&h.app.key),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    webhook(
        &h.app,
        "/v2/webhooks/messaging",
        &message_received("e1", "m1", USER, AGENT, "Is a human there?"),
    )
    .await;
    assert_eq!(h.app.tick_jobs(h.clock.now()).await, 1);
    assert_eq!(
        messages(&h.app, &conversation_id).await,
        pairs(&[("assistant", "Hi"), ("user", "Is a human there?")])
    );
    assert_eq!(h.carrier.requests_to("/v2/messages").len(), 1, "no reply");
    assert!(h.llm.requests().is_empty());
}

async fn delivery_reports_update_and_forward(backend: Backend) {
    let recorder = Recorder::start().await;
    let h = harness(backend, vec![]).await;
    let id = assistant(
        &h.app,
        json!({"messaging_settings": {"delivery_status_webhook_url": recorder.url}}),
    )
    .await;
    send_sms(
        &h.app,
        &id,
        &json!({"from": AGENT, "to": USER, "text": "Hi"}),
    )
    .await;
    let message_id = h.carrier.requests_to("/v2/messages")[0].body.clone();
    assert_eq!(message_id["text"], "Hi");
    // The carrier's id comes back in the stored answer's metadata.
    let listed = h.app.get("/v2/ai/conversations").await;
    let conversation_id = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    let stored = h
        .app
        .get(&format!("/v2/ai/conversations/{conversation_id}/messages"))
        .await;
    let carrier_id = stored.body["data"][0]["metadata"]["carrier_message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = message_status(
        "message.finalized",
        "event-d",
        &carrier_id,
        "delivered",
        json!([]),
    );
    let answer = webhook(&h.app, "/v2/webhooks/messaging", &report).await;
    assert_eq!(answer.body, json!({"status": "accepted"}));
    let forwarded = recorder.wait_for(1).await;
    assert_eq!(forwarded[0], report, "forwarded as the carrier sent it");
    let unknown = message_status(
        "message.finalized",
        "event-e",
        "msg-unknown",
        "delivered",
        json!([]),
    );
    assert_eq!(
        webhook(&h.app, "/v2/webhooks/messaging", &unknown)
            .await
            .body,
        json!({"status": "ignored"})
    );
}

async fn webhook_signatures_are_checked(backend: Backend) {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    let h = harness_with(backend, vec![], move |settings| {
        settings.carrier.public_key = Some(public);
    })
    .await;
    let body = message_received("event-s", "m-s", USER, "+13125550999", "hi").to_string();
    let post = |signature: Option<String>, timestamp: Option<String>| {
        let mut request = h
            .app
            .http
            .post(h.app.url("/v2/webhooks/messaging"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("telnyx-signature-ed25519", signature);
        }
        if let Some(timestamp) = timestamp {
            request = request.header("telnyx-timestamp", timestamp);
        }
        async move { TestApp::reply(request.send().await.unwrap()).await }
    };
    let sign = |timestamp: &str| {
        let message = [timestamp.as_bytes(), b"|", body.as_bytes()].concat();
        base64::engine::general_purpose::STANDARD.encode(pair.sign(&message))
    };
    let now = h.clock.now().timestamp().to_string();
    assert_error(&post(None, None).await, 401, "10009");
    let forged = sign("1");
    assert_error(&post(Some(forged), Some(now.clone())).await, 401, "10009");
    let stale = (h.clock.now().timestamp() - 3600).to_string();
    assert_error(&post(Some(sign(&stale)), Some(stale)).await, 401, "10009");
    let ok = post(Some(sign(&now)), Some(now.clone())).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body, json!({"status": "ignored"}));
}

async fn phone_number_assignments(backend: Backend) {
    let h = harness(backend, vec![]).await;
    let a = assistant(&h.app, json!({})).await;
    let b = assistant(&h.app, json!({})).await;
    let assigned = h
        .app
        .post(
            "/v2/ai/phone_numbers",
            &json!({"phone_number": AGENT, "assistant_id": a}),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    assert_eq!(assigned.body["phone_number"], AGENT);
    assert_eq!(assigned.body["assistant_id"], a.as_str());
    let reassigned = h
        .app
        .post(
            "/v2/ai/phone_numbers",
            &json!({"phone_number": AGENT, "assistant_id": b}),
        )
        .await;
    assert_eq!(reassigned.body["assistant_id"], b.as_str());
    assert_eq!(reassigned.body["created_at"], assigned.body["created_at"]);
    let fetched = h.app.get("/v2/ai/phone_numbers/%2B13125550100").await;
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(fetched.body["assistant_id"], b.as_str());
    let listed = h.app.get("/v2/ai/phone_numbers?page%5Bsize%5D=10").await;
    assert_eq!(listed.body["meta"]["total_results"], 1);
    assert_eq!(listed.body["data"][0]["phone_number"], AGENT);

    let error = assert_error(
        &h.app
            .post(
                "/v2/ai/phone_numbers",
                &json!({"phone_number": "555", "assistant_id": a}),
            )
            .await,
        422,
        "10016",
    );
    assert_eq!(error["source"]["pointer"], "/phone_number");
    assert_error(
        &h.app
            .post(
                "/v2/ai/phone_numbers",
                &json!({"phone_number": USER, "assistant_id": "assistant-missing"}),
            )
            .await,
        404,
        "10005",
    );
    // Another organization can neither see nor take it.
    let other = h.app.key_for_new_org("other").await;
    let other_assistant = h
        .app
        .send(
            Method::POST,
            "/v2/ai/assistants",
            Some(&json!({"name": "x", "instructions": "y", "model": "scripted/model"})),
            Some(&other),
        )
        .await;
    let other_id = other_assistant.body["id"].as_str().unwrap();
    assert_error(
        &h.app
            .send(
                Method::GET,
                "/v2/ai/phone_numbers/%2B13125550100",
                None,
                Some(&other),
            )
            .await,
        404,
        "10005",
    );
    assert_error(
        &h.app
            .send(
                Method::POST,
                "/v2/ai/phone_numbers",
                Some(&json!({"phone_number": AGENT, "assistant_id": other_id})),
                Some(&other),
            )
            .await,
        400,
        "10018",
    );
    let deleted = h.app.delete("/v2/ai/phone_numbers/%2B13125550100").await;
    assert_eq!(deleted.status, 200);
    assert_error(
        &h.app.delete("/v2/ai/phone_numbers/%2B13125550100").await,
        404,
        "10005",
    );
}

async fn a_reply_the_carrier_could_not_take_is_resent_not_rewritten(backend: Backend) {
    let h = harness(backend, vec![LlmReply::text("On it.")]).await;
    let id = assistant(&h.app, json!({})).await;
    h.app
        .post(
            "/v2/ai/phone_numbers",
            &json!({"phone_number": AGENT, "assistant_id": id}),
        )
        .await;
    webhook(
        &h.app,
        "/v2/webhooks/messaging",
        &message_received("e1", "m1", USER, AGENT, "Help"),
    )
    .await;
    h.carrier.fail_next(
        "/v2/messages",
        500,
        json!({"errors": [{"title": "Internal error"}]}),
    );
    assert_eq!(h.app.tick_jobs(h.clock.now()).await, 1);
    assert_eq!(h.app.tick_jobs(h.clock.now()).await, 0, "backing off");
    h.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(h.app.tick_jobs(h.clock.now()).await, 1);
    let sent = h.carrier.requests_to("/v2/messages");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body["text"], "On it.");
    assert_eq!(sent[0].idempotency_key, sent[1].idempotency_key);
    assert_eq!(h.llm.requests().len(), 1, "the model wrote the reply once");
    let listed = h.app.get("/v2/ai/conversations").await;
    let conversation = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        messages(&h.app, &conversation).await,
        pairs(&[("user", "Help"), ("assistant", "On it.")])
    );
}
