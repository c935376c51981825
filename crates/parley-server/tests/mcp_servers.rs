//! The MCP servers resource end to end over HTTP, on SQLite and on PostgreSQL.

mod common;

use common::{assert_error, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    create_retrieve_update_delete,
    optional_fields_are_omitted_until_set,
    every_validation_rule_answers_422_with_a_pointer,
    the_four_transport_types_are_accepted_as_spelled,
    api_key_ref_must_name_an_integration_secret,
    list_is_a_bare_array_paginated_and_filtered,
    organizations_cannot_see_each_others_servers,
    delete_is_refused_while_an_assistant_uses_the_server,
    unknown_ids_are_404_and_wrong_methods_405,
    create_honours_idempotency_keys,
);

const SERVERS: &str = "/v2/ai/mcp_servers";

fn path(id: &str) -> String {
    format!("{SERVERS}/{id}")
}

async fn put(app: &TestApp, path: &str, body: &Value) -> common::Reply {
    app.send(Method::PUT, path, Some(body), Some(&app.key))
        .await
}

/// Creates a server and returns its wire object.
async fn create(app: &TestApp, body: Value) -> Value {
    let reply = app.post(SERVERS, &body).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "create failed: {}",
        reply.body
    );
    reply.body
}

async fn create_secret(app: &TestApp, key: &str, identifier: &str) {
    let reply = app
        .send(
            Method::POST,
            "/v2/integration_secrets",
            Some(&json!({"identifier": identifier, "type": "bearer", "token": "t0ken"})),
            Some(key),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "secret create failed: {}",
        reply.body
    );
}

fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a bare array: {list}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn create_retrieve_update_delete(app: TestApp) {
    create_secret(&app, &app.key, "docs_key").await;
    let created = create(
        &app,
        json!({"name": "Docs", "type": "streamable-http", "url": "https://mcp.example.com/mcp",
               "allowed_tools": ["search", "fetch"], "api_key_ref": "docs_key",
               "id": "mine", "created_at": "2000-01-01T00:00:00Z", "unknown": true}),
    )
    .await;
    assert_eq!(
        keys(&created),
        [
            "allowed_tools",
            "api_key_ref",
            "created_at",
            "id",
            "name",
            "type",
            "url"
        ]
    );
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("mcp-") && id != "mine", "{id}");
    assert_ne!(created["created_at"], "2000-01-01T00:00:00Z");
    assert!(chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).is_ok());
    assert_eq!(created["name"], "Docs");
    assert_eq!(created["type"], "streamable-http");
    assert_eq!(created["url"], "https://mcp.example.com/mcp");
    assert_eq!(created["allowed_tools"], json!(["search", "fetch"]));
    assert_eq!(created["api_key_ref"], "docs_key");

    let fetched = app.get(&path(id)).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, created);

    // PUT is partial: sent fields replace, null clears, id/created_at are ignored.
    let updated = put(
        &app,
        &path(id),
        &json!({"url": "https://mcp.example.com/v2", "allowed_tools": null,
                "id": "other", "created_at": "2000-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["id"], created["id"]);
    assert_eq!(updated.body["created_at"], created["created_at"]);
    assert_eq!(updated.body["url"], "https://mcp.example.com/v2");
    assert!(updated.body.get("allowed_tools").is_none());
    assert_eq!(updated.body["name"], "Docs");
    assert_eq!(updated.body["api_key_ref"], "docs_key");
    assert_eq!(app.get(&path(id)).await.body, updated.body);
    let unchanged = put(&app, &path(id), &json!({})).await;
    assert_eq!(unchanged.body, updated.body, "an empty PUT changes nothing");
    let renamed = put(
        &app,
        &path(id),
        &json!({"name": "Renamed", "type": "sse", "api_key_ref": null}),
    )
    .await;
    assert_eq!(renamed.body["name"], "Renamed");
    assert_eq!(renamed.body["type"], "sse");
    assert!(renamed.body.get("api_key_ref").is_none());

    let deleted = app.delete(&path(id)).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body, Value::Null, "DELETE answers with no body");
    let gone = app.get(&path(id)).await;
    let error = assert_error(&gone, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/mcp_server_id");
    assert!(error["detail"].as_str().unwrap().contains(id));
    assert_error(&app.delete(&path(id)).await, 404, "10005");
    assert_eq!(app.get(SERVERS).await.body, json!([]));
}

async fn optional_fields_are_omitted_until_set(app: TestApp) {
    let created = create(
        &app,
        json!({"name": "Plain", "type": "http", "url": "http://localhost:9000/mcp",
               "allowed_tools": null, "api_key_ref": null}),
    )
    .await;
    assert_eq!(keys(&created), ["created_at", "id", "name", "type", "url"]);
    let id = created["id"].as_str().unwrap();
    let updated = put(&app, &path(id), &json!({"allowed_tools": []})).await;
    assert_eq!(
        updated.body["allowed_tools"],
        json!([]),
        "an empty list is kept"
    );
}

async fn every_validation_rule_answers_422_with_a_pointer(app: TestApp) {
    let valid = json!({"name": "N", "type": "http", "url": "https://e.example/mcp"});
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("name"), "/name"),
        (without("type"), "/type"),
        (without("url"), "/url"),
        (with("name", json!(null)), "/name"),
        (with("name", json!("")), "/name"),
        (with("name", json!("   ")), "/name"),
        (with("name", json!(7)), "/name"),
        (with("name", json!("a\u{0}b")), "/name"),
        (with("name", json!("x".repeat(256))), "/name"),
        (with("type", json!("websocket")), "/type"),
        (with("type", json!("HTTP")), "/type"),
        (with("type", json!(["http"])), "/type"),
        (with("url", json!("mcp.example.com")), "/url"),
        (with("url", json!("ftp://e.example")), "/url"),
        (with("url", json!("https://")), "/url"),
        (with("url", json!("https://e.example/a b")), "/url"),
        (with("url", json!("https://e.example:70000/")), "/url"),
        (with("url", json!("https://e.example/\u{0}")), "/url"),
        (with("allowed_tools", json!("search")), "/allowed_tools"),
        (with("allowed_tools", json!(["ok", ""])), "/allowed_tools/1"),
        (with("allowed_tools", json!(["ok", 3])), "/allowed_tools/1"),
        (with("allowed_tools", json!(["a\u{0}"])), "/allowed_tools/0"),
        (with("api_key_ref", json!("")), "/api_key_ref"),
        (with("api_key_ref", json!({"id": "x"})), "/api_key_ref"),
    ];
    for (body, pointer) in &cases {
        let reply = app.post(SERVERS, body).await;
        let error = assert_error(&reply, 422, "10016");
        assert_eq!(error["source"]["pointer"], *pointer, "body {body}");
    }
    // Every problem is reported, each with its pointer.
    let reply = app
        .post(SERVERS, &json!({"type": "x", "allowed_tools": [""]}))
        .await;
    assert_error(&reply, 422, "10016");
    let pointers: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/name", "/type", "/url", "/allowed_tools/0"]);
    // Not an object: 400.
    assert_error(&app.post(SERVERS, &json!(["x"])).await, 400, "10002");
    assert_eq!(
        app.get(SERVERS).await.body,
        json!([]),
        "nothing was written"
    );

    // PUT: the same rules, and the required fields cannot be cleared.
    let id = create(&app, valid.clone()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let put_cases: Vec<(Value, &str)> = vec![
        (json!({"name": null}), "/name"),
        (json!({"type": null}), "/type"),
        (json!({"url": null}), "/url"),
        (json!({"name": ""}), "/name"),
        (json!({"type": "grpc"}), "/type"),
        (json!({"url": "not a url"}), "/url"),
        (json!({"allowed_tools": [1]}), "/allowed_tools/0"),
        (json!({"api_key_ref": 5}), "/api_key_ref"),
    ];
    for (body, pointer) in &put_cases {
        let reply = put(&app, &path(&id), body).await;
        let error = assert_error(&reply, 422, "10016");
        assert_eq!(error["source"]["pointer"], *pointer, "body {body}");
    }
    assert_error(&put(&app, &path(&id), &json!("x")).await, 400, "10002");
    let unchanged = app.get(&path(&id)).await.body;
    assert_eq!(unchanged["name"], "N");
    assert_eq!(unchanged["url"], "https://e.example/mcp");
}

async fn the_four_transport_types_are_accepted_as_spelled(app: TestApp) {
    for server_type in ["http", "streamable-http", "streamable_http", "sse"] {
        let created = create(
            &app,
            json!({"name": server_type, "type": server_type, "url": "https://e.example/mcp"}),
        )
        .await;
        assert_eq!(created["type"], server_type);
    }
}

async fn api_key_ref_must_name_an_integration_secret(app: TestApp) {
    let body =
        json!({"name": "S", "type": "sse", "url": "https://e.example/sse", "api_key_ref": "later"});
    let error = assert_error(&app.post(SERVERS, &body).await, 422, "10016");
    assert_eq!(error["source"]["pointer"], "/api_key_ref");
    assert!(error["detail"].as_str().unwrap().contains("later"));
    // Another organization's secret does not count.
    let other = app.key_for_new_org("mcp-secrets-other").await;
    create_secret(&app, &other, "later").await;
    assert_error(&app.post(SERVERS, &body).await, 422, "10016");
    assert_eq!(app.get(SERVERS).await.body, json!([]));

    create_secret(&app, &app.key, "later").await;
    let created = create(&app, body).await;
    assert_eq!(created["api_key_ref"], "later");
    let id = created["id"].as_str().unwrap();
    let error = assert_error(
        &put(&app, &path(id), &json!({"api_key_ref": "missing"})).await,
        422,
        "10016",
    );
    assert_eq!(error["source"]["pointer"], "/api_key_ref");
    assert_eq!(app.get(&path(id)).await.body["api_key_ref"], "later");
    create_secret(&app, &app.key, "rotated").await;
    let rotated = put(&app, &path(id), &json!({"api_key_ref": "rotated"})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["api_key_ref"], "rotated");
}

async fn list_is_a_bare_array_paginated_and_filtered(app: TestApp) {
    assert_eq!(app.get(SERVERS).await.body, json!([]), "empty list");
    let specs = [
        ("a", "http", "https://one.example/mcp"),
        ("b", "sse", "https://one.example/sse"),
        ("c", "http", "https://two.example/mcp"),
        ("d", "streamable-http", "https://one.example/mcp"),
        ("e", "http", "https://one.example/mcp"),
    ];
    let mut all = Vec::new();
    for (name, server_type, url) in specs {
        let created = create(&app, json!({"name": name, "type": server_type, "url": url})).await;
        all.push(created["id"].as_str().unwrap().to_owned());
    }
    let list = app.get(SERVERS).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(ids(&list.body), all, "oldest first, one default page");
    assert_eq!(list.body[0], app.get(&path(&all[0])).await.body);

    // Pages of two, then [] past the end (what stops the SDK's auto-pagination).
    let page = |n: u32, size: u32| format!("{SERVERS}?page%5Bnumber%5D={n}&page%5Bsize%5D={size}");
    assert_eq!(ids(&app.get(&page(1, 2)).await.body), all[0..2]);
    assert_eq!(ids(&app.get(&page(2, 2)).await.body), all[2..4]);
    assert_eq!(ids(&app.get(&page(3, 2)).await.body), all[4..5]);
    assert_eq!(app.get(&page(4, 2)).await.body, json!([]));
    assert_eq!(app.get(&page(1000, 100)).await.body, json!([]));
    assert_eq!(
        app.get(&format!("{SERVERS}?page[number]=2")).await.body,
        json!([]),
        "default page size is 20"
    );
    assert_eq!(
        ids(&app.get(&format!("{SERVERS}?page[size]=3")).await.body),
        all[0..3]
    );

    // Filters match exactly, combine with each other and with pages.
    let app = &app;
    let filtered = |query: &'static str| async move {
        ids(&app.get(&format!("{SERVERS}?{query}")).await.body)
    };
    assert_eq!(
        filtered("type=http").await,
        [all[0].clone(), all[2].clone(), all[4].clone()]
    );
    assert_eq!(filtered("type=sse").await, [all[1].clone()]);
    assert_eq!(filtered("type=HTTP").await, Vec::<String>::new());
    assert_eq!(
        filtered("url=https%3A%2F%2Fone.example%2Fmcp").await,
        [all[0].clone(), all[3].clone(), all[4].clone()]
    );
    assert_eq!(
        filtered("url=https://one.example").await,
        Vec::<String>::new()
    );
    assert_eq!(
        filtered("type=http&url=https://one.example/mcp").await,
        [all[0].clone(), all[4].clone()]
    );
    assert_eq!(
        filtered("type=http&page[size]=2&page[number]=2").await,
        [all[4].clone()]
    );

    // Bad page parameters name themselves.
    for (query, parameter) in [
        ("page[size]=0", "page[size]"),
        ("page[size]=101", "page[size]"),
        ("page[number]=0", "page[number]"),
        ("page[number]=x", "page[number]"),
    ] {
        let reply = app.get(&format!("{SERVERS}?{query}")).await;
        let error = assert_error(&reply, 400, "10003");
        assert_eq!(error["source"]["parameter"], parameter, "{query}");
    }
}

async fn organizations_cannot_see_each_others_servers(app: TestApp) {
    let other = app.key_for_new_org("mcp-other").await;
    let created = create(
        &app,
        json!({"name": "Private", "type": "http", "url": "https://private.example/mcp"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let as_other = |method: Method, body: Option<Value>| {
        let path = path(id);
        let other = other.clone();
        let app = &app;
        async move { app.send(method, &path, body.as_ref(), Some(&other)).await }
    };
    for reply in [
        as_other(Method::GET, None).await,
        as_other(Method::PUT, Some(json!({"name": "Hijacked"}))).await,
        as_other(Method::DELETE, None).await,
    ] {
        let error = assert_error(&reply, 404, "10005");
        assert_eq!(error["source"]["pointer"], "/mcp_server_id");
    }
    let their_list = app.send(Method::GET, SERVERS, None, Some(&other)).await;
    assert_eq!(their_list.body, json!([]));
    let their_filtered = app
        .send(
            Method::GET,
            &format!("{SERVERS}?url=https://private.example/mcp"),
            None,
            Some(&other),
        )
        .await;
    assert_eq!(their_filtered.body, json!([]));
    assert_eq!(app.get(&path(id)).await.body, created, "nothing changed");
    // Their own servers are theirs alone.
    let theirs = app
        .send(
            Method::POST,
            SERVERS,
            Some(&json!({"name": "Theirs", "type": "sse", "url": "https://t.example/sse"})),
            Some(&other),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert_eq!(ids(&app.get(SERVERS).await.body), [id.to_owned()]);
}

async fn delete_is_refused_while_an_assistant_uses_the_server(app: TestApp) {
    let server = create(
        &app,
        json!({"name": "Used", "type": "http", "url": "https://used.example/mcp"}),
    )
    .await;
    let id = server["id"].as_str().unwrap();
    let assistant = app
        .create_assistant(json!({"name": "Agent", "instructions": "Use the tools.",
                                 "mcp_servers": [{"id": id, "allowed_tools": ["search"]}]}))
        .await;
    let assistant_id = assistant["id"].as_str().unwrap();

    let refused = app.delete(&path(id)).await;
    let error = assert_error(&refused, 400, "10018");
    assert_eq!(error["source"]["pointer"], "/mcp_server_id");
    assert!(
        error["detail"].as_str().unwrap().contains(assistant_id),
        "{error}"
    );
    assert_eq!(app.get(&path(id)).await.body, server, "still there");

    // Once the assistant's main version no longer names it, it can go.
    let updated = app
        .post(
            &format!("/v2/ai/assistants/{assistant_id}"),
            &json!({"mcp_servers": []}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let deleted = app.delete(&path(id)).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_error(&app.get(&path(id)).await, 404, "10005");
}

async fn unknown_ids_are_404_and_wrong_methods_405(app: TestApp) {
    for reply in [
        app.get(&path("mcp-00000000-0000-0000-0000-000000000000"))
            .await,
        put(&app, &path("nope"), &json!({"name": "x"})).await,
        app.delete(&path("nope")).await,
    ] {
        let error = assert_error(&reply, 404, "10005");
        assert_eq!(error["source"]["pointer"], "/mcp_server_id");
    }
    let patch = app
        .send(
            Method::PATCH,
            &path("nope"),
            Some(&json!({})),
            Some(&app.key),
        )
        .await;
    assert_error(&patch, 405, "10011");
    assert_error(
        &app.send(Method::DELETE, SERVERS, None, Some(&app.key))
            .await,
        405,
        "10011",
    );
    assert_error(
        &app.send(Method::GET, SERVERS, None, None).await,
        401,
        "10009",
    );
}

async fn create_honours_idempotency_keys(app: TestApp) {
    let body = json!({"name": "Once", "type": "http", "url": "https://once.example/mcp"});
    let send = || {
        app.http
            .post(app.url(SERVERS))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "mcp-create-1")
            .json(&body)
            .send()
    };
    let first = TestApp::reply(send().await.unwrap()).await;
    let second = TestApp::reply(send().await.unwrap()).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(second.body, first.body);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(ids(&app.get(SERVERS).await.body).len(), 1);
}
