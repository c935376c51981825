//! The conversations resource end to end over HTTP, on SQLite and on PostgreSQL: create,
//! retrieve, the PostgREST-style list query as the SDK sends it, metadata merges, messages
//! (append, pagination, tool calls), delete, tenancy and malformed input.

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::{assert_error, Backend, Reply, TestApp};
use parley_core::clock::{format_timestamp, Clock, ManualClock};
use parley_store::NewConversation;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// Like `on_both_backends!`, but the application runs on a [`ManualClock`] that the scenario
/// also gets, so timestamps are distinct without sleeping.
macro_rules! on_both_backends_with_clock {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let clock = start_clock();
                    let app = TestApp::spawn_with_clock(Backend::Sqlite, clock.clone()).await;
                    super::$scenario(app, clock).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let clock = start_clock();
                    let app = TestApp::spawn_with_clock(Backend::Postgres, clock.clone()).await;
                    super::$scenario(app, clock).await;
                }
            }
        )*
    };
}

on_both_backends_with_clock!(
    create_and_retrieve,
    list_filters_as_the_sdk_sends_them,
    messages_are_appended_and_paginated_oldest_first,
    put_merges_metadata_and_removes_null_keys,
    delete_takes_the_messages_with_it,
);

on_both_backends!(
    bad_filters_are_400_naming_the_parameter,
    tool_calls_round_trip,
    message_bodies_are_validated_with_pointers,
    create_bodies_are_validated_with_pointers,
    malformed_bodies_are_4xx_envelopes,
    organizations_cannot_see_each_others_conversations,
    unknown_and_invalid_ids_are_404,
);

const CONVERSATIONS: &str = "/v2/ai/conversations";

fn start_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    ))
}

fn path(id: &str) -> String {
    format!("{CONVERSATIONS}/{id}")
}

fn messages_path(id: &str) -> String {
    format!("{CONVERSATIONS}/{id}/messages")
}

fn message_path(id: &str) -> String {
    format!("{CONVERSATIONS}/{id}/message")
}

fn now(clock: &ManualClock) -> String {
    format_timestamp(&clock.now())
}

async fn put(app: &TestApp, path: &str, body: &Value) -> Reply {
    app.send(Method::PUT, path, Some(body), Some(&app.key))
        .await
}

/// Creates a conversation and returns its (bare) wire object.
async fn create(app: &TestApp, body: Value) -> Value {
    let reply = app.post(CONVERSATIONS, &body).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "create failed: {}",
        reply.body
    );
    reply.body
}

fn id_of(conversation: &Value) -> String {
    conversation["id"].as_str().unwrap().to_owned()
}

/// Appends a message and asserts the empty 200.
async fn append(app: &TestApp, id: &str, body: Value) {
    let reply = app.post(&message_path(id), &body).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "append failed: {}",
        reply.body
    );
    assert_eq!(reply.body, Value::Null, "append answers with no body");
}

/// `GET /v2/ai/conversations` with these query pairs, percent-encoded as the SDK does
/// (`metadata->assistant_id` goes out as `metadata-%3Eassistant_id`).
async fn list(app: &TestApp, pairs: &[(&str, &str)]) -> Reply {
    list_with_key(app, pairs, &app.key).await
}

async fn list_with_key(app: &TestApp, pairs: &[(&str, &str)], key: &str) -> Reply {
    let url = reqwest::Url::parse_with_params(&app.url(CONVERSATIONS), pairs).unwrap();
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    app.send(Method::GET, &path, None, Some(key)).await
}

/// The ids of a `{"data": [...]}` list, in order.
fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "list failed: {}", reply.body);
    reply.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array: {}", reply.body))
        .iter()
        .map(id_of)
        .collect()
}

fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

async fn default_org(app: &TestApp) -> parley_core::ids::OrgId {
    app.store
        .ensure_organization(
            parley_server::startup::DEFAULT_ORGANIZATION,
            app.clock.now(),
        )
        .await
        .unwrap()
        .id
}

async fn create_and_retrieve(app: TestApp, clock: Arc<ManualClock>) {
    let created = create(
        &app,
        json!({"name": "Support chat",
               "metadata": {"assistant_id": "a1", "count": 3, "ratio": 1.5, "vip": true},
               "id": "chosen-by-client", "unknown": [1]}),
    )
    .await;
    assert_eq!(
        keys(&created),
        ["created_at", "id", "last_message_at", "metadata", "name"]
    );
    let id = id_of(&created);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "id is a UUID: {id}");
    assert_eq!(created["name"], "Support chat");
    assert_eq!(created["created_at"], now(&clock));
    assert_eq!(created["last_message_at"], now(&clock));
    assert_eq!(
        created["metadata"],
        json!({"assistant_id": "a1", "count": "3", "ratio": "1.5", "vip": "true"}),
        "numbers and booleans are stored as their JSON text"
    );

    let fetched = app.get(&path(&id)).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, json!({ "data": created }));

    // Everything is optional: no name → omitted, no metadata → {}.
    clock.advance(Duration::seconds(1));
    for body in [json!({}), json!({"name": null, "metadata": null})] {
        let bare = create(&app, body).await;
        assert_eq!(
            keys(&bare),
            ["created_at", "id", "last_message_at", "metadata"]
        );
        assert_eq!(bare["metadata"], json!({}));
        assert_eq!(bare["created_at"], now(&clock));
        assert_ne!(id_of(&bare), id);
    }
    // A POST without any body at all, as the SDK sends `create()` with no arguments.
    let empty = app
        .http
        .post(app.url(CONVERSATIONS))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let empty = TestApp::reply(empty).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body["metadata"], json!({}));

    // A conversation created by a chat turn (any client-chosen id) is served the same way.
    let org = default_org(&app).await;
    app.store
        .create_conversation(
            &org,
            "conv-1",
            &NewConversation {
                name: None,
                metadata: [(
                    "telnyx_conversation_channel".to_owned(),
                    "web_chat".to_owned(),
                )]
                .into(),
                variables: [("secret_variable".to_owned(), "hidden".to_owned())].into(),
            },
            clock.now(),
        )
        .await
        .unwrap();
    let chat = app.get(&path("conv-1")).await;
    assert_eq!(chat.status, StatusCode::OK, "{}", chat.body);
    assert_eq!(
        chat.body,
        json!({"data": {"id": "conv-1", "created_at": now(&clock),
                        "last_message_at": now(&clock),
                        "metadata": {"telnyx_conversation_channel": "web_chat"}}}),
        "variables are never exposed"
    );
    assert_eq!(ids(&list(&app, &[]).await).len(), 5);
}

async fn list_filters_as_the_sdk_sends_them(app: TestApp, clock: Arc<ManualClock>) {
    let t0 = clock.now();
    let c1 = id_of(
        &create(
            &app,
            json!({"name": "Alpha support", "metadata": {"assistant_id": "a1"}}),
        )
        .await,
    );
    clock.advance(Duration::minutes(1));
    let c2 = id_of(
        &create(
            &app,
            json!({"name": "beta FOO bar", "metadata": {"assistant_id": "a2", "channel": "sms"}}),
        )
        .await,
    );
    clock.advance(Duration::minutes(1));
    let c3 = id_of(
        &create(
            &app,
            json!({"name": "Gamma", "metadata": {"assistant_id": "a1"}}),
        )
        .await,
    );
    clock.advance(Duration::minutes(1));
    let c4 = id_of(&create(&app, json!({"name": "foo"})).await);
    // Messages move last_message_at: c1 at t0+10m, c3 at t0+20m; c2 and c4 keep their
    // creation time (t0+1m and t0+3m).
    clock.advance(Duration::minutes(7));
    append(&app, &c1, json!({"role": "user", "content": "hi"})).await;
    clock.advance(Duration::minutes(10));
    append(&app, &c3, json!({"role": "user", "content": "hello"})).await;
    let at = |minutes: i64| format_timestamp(&(t0 + Duration::minutes(minutes)));
    let listed = list(&app, &[("id", &format!("eq.{c1}"))]).await;
    assert_eq!(listed.body["data"][0]["last_message_at"], at(10));
    assert_eq!(listed.body["data"][0]["created_at"], at(0));
    assert!(
        listed.body.get("meta").is_none(),
        "the list has no meta: {}",
        listed.body
    );

    // Default order: newest first.
    assert_eq!(
        ids(&list(&app, &[]).await),
        [&c4, &c3, &c2, &c1].map(String::clone)
    );
    // Exactly as the SDK encodes `conversations.list(metadata_assistant_id="eq.a1")`.
    let raw = app
        .get(&format!("{CONVERSATIONS}?metadata-%3Eassistant_id=eq.a1"))
        .await;
    assert_eq!(ids(&raw), [&c3, &c1].map(String::clone));
    type Case<'a> = (Vec<(&'a str, String)>, Vec<&'a String>);
    let cases: Vec<Case> = vec![
        (vec![("metadata->assistant_id", "eq.a2".into())], vec![&c2]),
        (vec![("metadata->assistant_id", "eq.x".into())], vec![]),
        (vec![("metadata->channel", "eq.sms".into())], vec![&c2]),
        (
            vec![("metadata->assistant_id", "is.null".into())],
            vec![&c4],
        ),
        (vec![("metadata->assistant_id", "neq.a1".into())], vec![&c2]),
        (
            vec![("created_at", format!("gte.{}", at(1)))],
            vec![&c4, &c3, &c2],
        ),
        (vec![("created_at", format!("lt.{}", at(1)))], vec![&c1]),
        // An offset other than Z, percent-encoded `+`.
        (
            vec![("created_at", "gt.2026-03-01T13:01:00+01:00".into())],
            vec![&c4, &c3],
        ),
        (
            vec![("last_message_at", format!("lt.{}", at(10)))],
            vec![&c4, &c2],
        ),
        (
            vec![("last_message_at", format!("gte.{}", at(10)))],
            vec![&c3, &c1],
        ),
        (vec![("name", "ilike.*foo*".into())], vec![&c4, &c2]),
        (vec![("name", "like.*foo*".into())], vec![&c4]),
        (vec![("name", "eq.Gamma".into())], vec![&c3]),
        (vec![("name", "not.ilike.*foo*".into())], vec![&c3, &c1]),
        (vec![("id", format!("in.({c1},{c3})"))], vec![&c3, &c1]),
        (
            vec![("or", "(name.eq.Gamma,metadata->assistant_id.eq.a2)".into())],
            vec![&c3, &c2],
        ),
        (
            vec![(
                "or",
                format!(
                    "(and(metadata->assistant_id.eq.a1,last_message_at.gt.{}),name.eq.foo)",
                    at(15)
                ),
            )],
            vec![&c4, &c3],
        ),
        (
            vec![("order", "last_message_at.asc".into())],
            vec![&c2, &c4, &c1, &c3],
        ),
        (
            vec![("order", "last_message_at.desc".into())],
            vec![&c3, &c1, &c4, &c2],
        ),
        (
            vec![("order", "created_at.asc".into())],
            vec![&c1, &c2, &c3, &c4],
        ),
        (vec![("limit", "2".into())], vec![&c4, &c3]),
        (
            vec![
                ("metadata->assistant_id", "eq.a1".into()),
                ("order", "created_at.asc".into()),
                ("limit", "1".into()),
            ],
            vec![&c1],
        ),
        // Filters combine (all must hold); page parameters are ignored.
        (
            vec![
                ("name", "ilike.*a*".into()),
                ("created_at", format!("lte.{}", at(2))),
                ("page[number]", "3".into()),
            ],
            vec![&c3, &c2, &c1],
        ),
    ];
    for (pairs, expected) in cases {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(
            ids(&list(&app, &borrowed).await),
            expected,
            "query {borrowed:?}"
        );
    }
}

async fn bad_filters_are_400_naming_the_parameter(app: TestApp) {
    create(&app, json!({"name": "x"})).await;
    for (pairs, parameter) in [
        (vec![("colour", "eq.red")], "colour"),
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "many")], "limit"),
        (vec![("limit", "1001")], "limit"),
        (vec![("created_at", "gte.yesterday")], "created_at"),
        (vec![("last_message_at", "like.2026*")], "last_message_at"),
        (vec![("order", "colour.asc")], "order"),
        (
            vec![("order", "created_at.asc"), ("order", "id.desc")],
            "order",
        ),
        (vec![("or", "name.eq.x")], "or"),
        (vec![("or", "(colour.eq.x)")], "or"),
        (
            vec![("metadata->assistant_id", "regex.a")],
            "metadata->assistant_id",
        ),
        (vec![("name", "eq")], "name"),
        (vec![("id", "in.a,b")], "id"),
        (vec![("id", "is.true")], "id"),
    ] {
        let reply = list(&app, &pairs).await;
        let error = assert_error(&reply, 400, "10003");
        assert_eq!(
            error["source"]["parameter"], parameter,
            "query {pairs:?}: {}",
            reply.body
        );
        assert!(error["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

async fn messages_are_appended_and_paginated_oldest_first(app: TestApp, clock: Arc<ManualClock>) {
    let created = create(&app, json!({"name": "Paged"})).await;
    let id = id_of(&created);

    let empty = app.get(&messages_path(&id)).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(
        empty.body,
        json!({"data": [], "meta": {"page_number": 1, "page_size": 20,
                                    "total_pages": 0, "total_results": 0}})
    );

    let mut times = Vec::new();
    for n in 1..=5 {
        clock.advance(Duration::seconds(30));
        times.push(now(&clock));
        append(
            &app,
            &id,
            json!({"role": if n % 2 == 1 { "user" } else { "assistant" },
                   "content": format!("message {n}")}),
        )
        .await;
    }
    // A user message with every optional field.
    clock.advance(Duration::seconds(30));
    let last = now(&clock);
    append(
        &app,
        &id,
        json!({"role": "user", "content": "the sixth", "name": "Ada",
               "sent_at": "2026-03-01T11:59:00.123456+02:00",
               "metadata": {"channel": "web", "nested": {"a": [1, 2]}, "n": 3},
               "tool_choice": "auto"}),
    )
    .await;

    let conversation = app.get(&path(&id)).await.body["data"].clone();
    assert_eq!(conversation["last_message_at"], last);
    assert_eq!(conversation["created_at"], created["created_at"]);

    let all = app.get(&messages_path(&id)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(
        all.body["meta"],
        json!({"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 6})
    );
    let data = all.body["data"].as_array().unwrap();
    let texts: Vec<&str> = data.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "message 1",
            "message 2",
            "message 3",
            "message 4",
            "message 5",
            "the sixth"
        ]
    );
    assert_eq!(
        data[0],
        json!({"role": "user", "text": "message 1", "created_at": times[0], "metadata": {}})
    );
    assert_eq!(data[1]["role"], "assistant");
    assert_eq!(data[1]["created_at"], times[1]);
    assert_eq!(
        data[5],
        json!({"role": "user", "text": "the sixth", "created_at": last,
               "sent_at": "2026-03-01T09:59:00.123456Z", "name": "Ada",
               "metadata": {"channel": "web", "nested": {"a": [1, 2]}, "n": 3}})
    );

    let page = app
        .get(&format!(
            "{}?page%5Bsize%5D=2&page%5Bnumber%5D=2",
            messages_path(&id)
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.body["meta"],
        json!({"page_number": 2, "page_size": 2, "total_pages": 3, "total_results": 6})
    );
    let texts: Vec<&str> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["message 3", "message 4"]);
    let third = app
        .get(&format!(
            "{}?page[size]=4&page[number]=2",
            messages_path(&id)
        ))
        .await;
    assert_eq!(third.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(third.body["meta"]["total_pages"], 2);
    let past = app
        .get(&format!(
            "{}?page[size]=2&page[number]=9",
            messages_path(&id)
        ))
        .await;
    assert_eq!(past.status, StatusCode::OK);
    assert_eq!(past.body["data"], json!([]));
    assert_eq!(
        past.body["meta"]["page_number"], 9,
        "meta echoes the page served"
    );

    for (query, parameter) in [
        ("page[size]=101", "page[size]"),
        ("page[size]=0", "page[size]"),
        ("page[number]=0", "page[number]"),
        ("page[number]=x", "page[number]"),
    ] {
        let reply = app.get(&format!("{}?{query}", messages_path(&id))).await;
        let error = assert_error(&reply, 400, "10003");
        assert_eq!(error["source"]["parameter"], parameter);
    }

    let missing = app.get(&messages_path("no-such-conversation")).await;
    let error = assert_error(&missing, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/conversation_id");
    let missing = app
        .post(
            &message_path("no-such-conversation"),
            &json!({"role": "user", "content": "hi"}),
        )
        .await;
    assert_error(&missing, 404, "10005");
    assert_error(&app.get(&path("no-such-conversation")).await, 404, "10005");
}

async fn tool_calls_round_trip(app: TestApp) {
    let id = id_of(&create(&app, json!({})).await);
    append(
        &app,
        &id,
        json!({"role": "system", "content": "A human took over."}),
    )
    .await;
    append(
        &app,
        &id,
        json!({"role": "assistant", "content": null, "tool_choice": {"type": "auto"},
        "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup_order", "arguments": "{\"order\":\"42\"}"}},
            {"id": "call_2",
             "function": {"name": "weather", "arguments": ""}}
        ]}),
    )
    .await;
    append(
        &app,
        &id,
        json!({"role": "tool", "tool_call_id": "call_1", "name": "lookup_order",
               "content": "{\"status\":\"shipped\"}"}),
    )
    .await;
    append(
        &app,
        &id,
        json!({"role": "assistant", "content": "It shipped.", "tool_calls": []}),
    )
    .await;
    let reply = app.get(&messages_path(&id)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let data = reply.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 4);
    assert_eq!(keys(&data[0]), ["created_at", "metadata", "role", "text"]);
    assert_eq!(data[0]["role"], "system");
    assert_eq!(
        keys(&data[1]),
        ["created_at", "metadata", "role", "text", "tool_calls"]
    );
    assert_eq!(data[1]["role"], "assistant");
    assert_eq!(data[1]["text"], "");
    assert_eq!(
        data[1]["tool_calls"],
        json!([
            {"id": "call_1", "type": "function",
             "function": {"name": "lookup_order", "arguments": "{\"order\":\"42\"}"}},
            {"id": "call_2", "type": "function",
             "function": {"name": "weather", "arguments": ""}}
        ])
    );
    assert_eq!(
        keys(&data[2]),
        [
            "created_at",
            "metadata",
            "name",
            "role",
            "text",
            "tool_call_id"
        ]
    );
    assert_eq!(data[2]["role"], "tool");
    assert_eq!(data[2]["tool_call_id"], "call_1");
    assert_eq!(data[2]["name"], "lookup_order");
    assert_eq!(data[2]["text"], "{\"status\":\"shipped\"}");
    assert!(
        data[3].get("tool_calls").is_none(),
        "an empty tool_calls is omitted"
    );
}

async fn message_bodies_are_validated_with_pointers(app: TestApp) {
    let id = id_of(&create(&app, json!({})).await);
    let call = |extra: Value| {
        let mut call = json!({"id": "c1", "type": "function",
                              "function": {"name": "f", "arguments": "{}"}});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                call.as_object_mut().unwrap().remove(k);
            } else {
                call[k] = v.clone();
            }
        }
        call
    };
    let cases = vec![
        (json!({"content": "no role"}), "/role"),
        (json!({"role": null, "content": "x"}), "/role"),
        (json!({"role": "bot", "content": "x"}), "/role"),
        (json!({"role": "User", "content": "x"}), "/role"),
        (json!({"role": 1, "content": "x"}), "/role"),
        (json!({"role": "user", "content": 5}), "/content"),
        (json!({"role": "user", "content": "x", "name": 5}), "/name"),
        (json!({"role": "tool", "content": "42"}), "/tool_call_id"),
        (
            json!({"role": "tool", "content": "42", "tool_call_id": ""}),
            "/tool_call_id",
        ),
        (
            json!({"role": "tool", "content": "42", "tool_call_id": 7}),
            "/tool_call_id",
        ),
        (
            json!({"role": "user", "content": "x", "tool_call_id": "c1"}),
            "/tool_call_id",
        ),
        (
            json!({"role": "user", "content": "x", "sent_at": "yesterday"}),
            "/sent_at",
        ),
        (
            json!({"role": "user", "content": "x", "sent_at": 1_700_000_000}),
            "/sent_at",
        ),
        (
            json!({"role": "user", "content": "x", "metadata": "web"}),
            "/metadata",
        ),
        (
            json!({"role": "user", "content": "x", "metadata": [1]}),
            "/metadata",
        ),
        (
            json!({"role": "assistant", "tool_calls": "lookup"}),
            "/tool_calls",
        ),
        (
            json!({"role": "assistant", "tool_calls": [5]}),
            "/tool_calls/0",
        ),
        (
            json!({"role": "assistant", "tool_calls": [call(json!({"id": null}))]}),
            "/tool_calls/0/id",
        ),
        (
            json!({"role": "assistant", "tool_calls": [call(json!({"id": 3}))]}),
            "/tool_calls/0/id",
        ),
        (
            json!({"role": "assistant", "tool_calls": [call(json!({"type": "retrieval"}))]}),
            "/tool_calls/0/type",
        ),
        (
            json!({"role": "assistant", "tool_calls": [call(json!({"function": null}))]}),
            "/tool_calls/0/function",
        ),
        (
            json!({"role": "assistant", "tool_calls": [call(json!({"function": "f"}))]}),
            "/tool_calls/0/function",
        ),
        (
            json!({"role": "assistant",
                   "tool_calls": [call(json!({"function": {"arguments": "{}"}}))]}),
            "/tool_calls/0/function/name",
        ),
        (
            json!({"role": "assistant",
                   "tool_calls": [call(json!({"function": {"name": "f"}}))]}),
            "/tool_calls/0/function/arguments",
        ),
        (
            json!({"role": "assistant",
                   "tool_calls": [call(json!({"function": {"name": "f", "arguments": {"a": 1}}}))]}),
            "/tool_calls/0/function/arguments",
        ),
        (
            json!({"role": "assistant", "tool_calls": [call(json!({})), call(json!({}))]}),
            "/tool_calls/1/id",
        ),
        (
            json!({"role": "user", "content": "x", "tool_calls": [call(json!({}))]}),
            "/tool_calls",
        ),
    ];
    for (body, pointer) in cases {
        let reply = app.post(&message_path(&id), &body).await;
        let error = assert_error(&reply, 422, "10016");
        let pointers: Vec<&str> = reply.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["source"]["pointer"].as_str().unwrap())
            .collect();
        assert!(
            pointers.contains(&pointer),
            "{body}: expected {pointer} in {pointers:?}"
        );
        assert!(error["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // Several problems are reported together.
    let reply = app
        .post(
            &message_path(&id),
            &json!({"role": "tool", "sent_at": "soon", "metadata": 1}),
        )
        .await;
    assert_error(&reply, 422, "10016");
    assert_eq!(reply.body["errors"].as_array().unwrap().len(), 3);
    // Nothing was written, and the conversation did not move.
    let messages = app.get(&messages_path(&id)).await;
    assert_eq!(messages.body["meta"]["total_results"], 0);
}

async fn create_bodies_are_validated_with_pointers(app: TestApp) {
    for (body, pointer) in [
        (json!({"name": 5}), "/name"),
        (json!({"name": ["a"]}), "/name"),
        (json!({"metadata": "a1"}), "/metadata"),
        (json!({"metadata": ["a1"]}), "/metadata"),
        (
            json!({"metadata": {"assistant_id": null}}),
            "/metadata/assistant_id",
        ),
        (json!({"metadata": {"tags": ["a"]}}), "/metadata/tags"),
        (
            json!({"metadata": {"nested": {"a": 1}}}),
            "/metadata/nested",
        ),
        (json!({"metadata": {"a/b~c": {}}}), "/metadata/a~1b~0c"),
    ] {
        let reply = app.post(CONVERSATIONS, &body).await;
        let error = assert_error(&reply, 422, "10016");
        assert_eq!(
            error["source"]["pointer"], pointer,
            "{body}: {}",
            reply.body
        );
    }
    assert_eq!(ids(&list(&app, &[]).await).len(), 0, "nothing was created");
}

async fn put_merges_metadata_and_removes_null_keys(app: TestApp, clock: Arc<ManualClock>) {
    let created = create(
        &app,
        json!({"name": "Merge", "metadata": {"a": "1", "b": "x", "keep": "k"}}),
    )
    .await;
    let id = id_of(&created);
    clock.advance(Duration::minutes(5));

    let updated = put(
        &app,
        &path(&id),
        &json!({"metadata": {"a": 2, "b": null, "c": "new", "flag": false, "gone": null}}),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        updated.body,
        json!({"data": {"id": id, "name": "Merge", "created_at": created["created_at"],
                        "last_message_at": created["last_message_at"],
                        "metadata": {"a": "2", "c": "new", "flag": "false", "keep": "k"}}})
    );
    assert_eq!(app.get(&path(&id)).await.body, updated.body);

    // No metadata (or null) changes nothing; other fields are ignored.
    for body in [
        json!({}),
        json!({"metadata": null}),
        json!({"metadata": {}, "name": "ignored"}),
    ] {
        let same = put(&app, &path(&id), &body).await;
        assert_eq!(same.status, StatusCode::OK, "{}", same.body);
        assert_eq!(same.body, updated.body, "{body}");
    }

    // The merged value is what filters see.
    assert_eq!(
        ids(&list(&app, &[("metadata->c", "eq.new")]).await),
        [id.as_str()]
    );
    assert!(ids(&list(&app, &[("metadata->b", "eq.x")]).await).is_empty());

    for (body, pointer) in [
        (json!({"metadata": "x"}), "/metadata"),
        (json!({"metadata": [["a", "1"]]}), "/metadata"),
        (json!({"metadata": {"k": {}}}), "/metadata/k"),
        (json!({"metadata": {"a/b": []}}), "/metadata/a~1b"),
    ] {
        let reply = put(&app, &path(&id), &body).await;
        let error = assert_error(&reply, 422, "10016");
        assert_eq!(error["source"]["pointer"], pointer, "{body}");
    }
    assert_eq!(
        app.get(&path(&id)).await.body,
        updated.body,
        "refused updates change nothing"
    );

    let missing = put(&app, &path("nope"), &json!({"metadata": {"a": "1"}})).await;
    let error = assert_error(&missing, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/conversation_id");
}

async fn delete_takes_the_messages_with_it(app: TestApp, clock: Arc<ManualClock>) {
    let kept = id_of(&create(&app, json!({"name": "Kept"})).await);
    let id = id_of(&create(&app, json!({"name": "Doomed"})).await);
    for n in 0..3 {
        clock.advance(Duration::seconds(1));
        append(
            &app,
            &id,
            json!({"role": "user", "content": format!("m{n}")}),
        )
        .await;
    }
    append(&app, &kept, json!({"role": "user", "content": "stays"})).await;

    let deleted = app.delete(&path(&id)).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body, Value::Null, "DELETE answers with no body");

    let gone = app.get(&path(&id)).await;
    let error = assert_error(&gone, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/conversation_id");
    assert!(error["detail"].as_str().unwrap().contains(&id));
    assert_error(&app.get(&messages_path(&id)).await, 404, "10005");
    assert_error(&app.delete(&path(&id)).await, 404, "10005");
    assert_error(
        &app.post(
            &message_path(&id),
            &json!({"role": "user", "content": "late"}),
        )
        .await,
        404,
        "10005",
    );
    assert_error(
        &put(&app, &path(&id), &json!({"metadata": {}})).await,
        404,
        "10005",
    );
    assert_eq!(ids(&list(&app, &[]).await), [kept.as_str()]);

    // The messages went with it: a conversation created again under the same id is empty.
    let org = default_org(&app).await;
    app.store
        .create_conversation(&org, &id, &NewConversation::default(), clock.now())
        .await
        .unwrap();
    let fresh = app.get(&messages_path(&id)).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_eq!(fresh.body["data"], json!([]));
    assert_eq!(fresh.body["meta"]["total_results"], 0);
    // And the other conversation still has its message.
    let other = app.get(&messages_path(&kept)).await;
    assert_eq!(other.body["meta"]["total_results"], 1);
    assert_eq!(other.body["data"][0]["text"], "stays");
}

async fn malformed_bodies_are_4xx_envelopes(app: TestApp) {
    let id = id_of(&create(&app, json!({})).await);
    let raw = |method: Method, path: String, body: &'static str| {
        let request = app
            .http
            .request(method, app.url(&path))
            .bearer_auth(&app.key)
            .header("content-type", "application/json")
            .body(body);
        async move { TestApp::reply(request.send().await.unwrap()).await }
    };
    for (method, target) in [
        (Method::POST, CONVERSATIONS.to_owned()),
        (Method::PUT, path(&id)),
        (Method::POST, message_path(&id)),
    ] {
        let reply = raw(method.clone(), target.clone(), "{\"metadata\": ").await;
        assert_error(&reply, 400, "10002");
        for body in ["[]", "\"text\"", "42", "null"] {
            let reply = raw(method.clone(), target.clone(), body).await;
            let error = assert_error(&reply, 400, "10002");
            assert_eq!(error["source"]["pointer"], "/", "{method} {target} {body}");
        }
    }
    // An empty body is `{}`: fine for create and PUT, a missing role for a message.
    assert_eq!(raw(Method::PUT, path(&id), "").await.status, StatusCode::OK);
    let reply = raw(Method::POST, message_path(&id), "").await;
    let error = assert_error(&reply, 422, "10016");
    assert_eq!(error["source"]["pointer"], "/role");
    // Without a key: 401.
    let anonymous = app.send(Method::GET, CONVERSATIONS, None, None).await;
    assert_error(&anonymous, 401, "10009");
}

async fn organizations_cannot_see_each_others_conversations(app: TestApp) {
    let ours = id_of(
        &create(
            &app,
            json!({"name": "Ours", "metadata": {"assistant_id": "a1"}}),
        )
        .await,
    );
    append(&app, &ours, json!({"role": "user", "content": "private"})).await;
    let other = app.key_for_new_org("conversations-other").await;

    for (method, target, body) in [
        (Method::GET, path(&ours), None),
        (Method::GET, messages_path(&ours), None),
        (
            Method::PUT,
            path(&ours),
            Some(json!({"metadata": {"assistant_id": "hijacked"}})),
        ),
        (
            Method::POST,
            message_path(&ours),
            Some(json!({"role": "user", "content": "intruder"})),
        ),
        (Method::DELETE, path(&ours), None),
    ] {
        let reply = app
            .send(method.clone(), &target, body.as_ref(), Some(&other))
            .await;
        let error = assert_error(&reply, 404, "10005");
        assert_eq!(
            error["source"]["pointer"], "/conversation_id",
            "{method} {target}"
        );
    }
    assert!(ids(&list_with_key(&app, &[], &other).await).is_empty());
    assert!(
        ids(&list_with_key(&app, &[("metadata->assistant_id", "eq.a1")], &other).await).is_empty()
    );

    let theirs = app
        .send(
            Method::POST,
            CONVERSATIONS,
            Some(&json!({"name": "Theirs", "metadata": {"assistant_id": "a1"}})),
            Some(&other),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::OK);
    let theirs = id_of(&theirs.body);
    assert_eq!(
        ids(&list_with_key(&app, &[], &other).await),
        [theirs.as_str()]
    );
    assert_eq!(
        ids(&list(&app, &[("metadata->assistant_id", "eq.a1")]).await),
        [ours.as_str()]
    );
    assert_error(&app.get(&path(&theirs)).await, 404, "10005");

    // Ours is untouched.
    let mine = app.get(&path(&ours)).await;
    assert_eq!(mine.body["data"]["metadata"], json!({"assistant_id": "a1"}));
    let messages = app.get(&messages_path(&ours)).await;
    assert_eq!(messages.body["meta"]["total_results"], 1);
    assert_eq!(messages.body["data"][0]["text"], "private");
}

async fn unknown_and_invalid_ids_are_404(app: TestApp) {
    let long = "x".repeat(201);
    for id in ["missing", "a%20b", "%E2%9C%93", long.as_str()] {
        for (method, target) in [
            (Method::GET, path(id)),
            (Method::GET, messages_path(id)),
            (Method::DELETE, path(id)),
        ] {
            let reply = app
                .send(method.clone(), &target, None, Some(&app.key))
                .await;
            let error = assert_error(&reply, 404, "10005");
            assert_eq!(
                error["source"]["pointer"], "/conversation_id",
                "{method} {target}"
            );
        }
        let reply = put(&app, &path(id), &json!({"metadata": {}})).await;
        assert_error(&reply, 404, "10005");
        let reply = app
            .post(&message_path(id), &json!({"role": "user", "content": "x"}))
            .await;
        assert_error(&reply, 404, "10005");
    }
    // Wrong methods on real routes are 405 envelopes.
    let id = id_of(&create(&app, json!({})).await);
    for (method, target) in [
        (Method::PATCH, path(&id)),
        (Method::POST, messages_path(&id)),
        (Method::GET, message_path(&id)),
        (Method::DELETE, CONVERSATIONS.to_owned()),
    ] {
        let reply = app
            .send(method.clone(), &target, Some(&json!({})), Some(&app.key))
            .await;
        assert_error(&reply, 405, "10011");
    }
}
