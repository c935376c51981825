//! The assistants resource end to end over HTTP, on SQLite and on PostgreSQL.

mod common;

use common::{assert_error, Backend, TestApp};
use parley_core::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

/// The fixture with every documented field, after creating what it refers to: the
/// integration secrets its `*_ref` fields name and the MCP server it attaches.
async fn full_body(app: &TestApp) -> Value {
    let mut body: Value =
        serde_json::from_str(include_str!("fixtures/assistant_full.json")).unwrap();
    for identifier in [
        "openai_key",
        "ext_key",
        "fallback_key",
        "lf_pub",
        "lf_sec",
        "ws_secret",
    ] {
        let reply = app
            .post(
                "/v2/integration_secrets",
                &json!({"identifier": identifier, "type": "bearer", "token": "t0k3n"}),
            )
            .await;
        assert!(
            reply.status.is_success() || reply.status.as_u16() == 422,
            "{}",
            reply.body
        );
    }
    let server = app
        .post(
            "/v2/ai/mcp_servers",
            &json!({"name": "Search", "type": "http", "url": "https://mcp.example.com/mcp"}),
        )
        .await;
    assert_eq!(server.status, StatusCode::OK, "{}", server.body);
    body["mcp_servers"][0]["id"] = server.body["id"].clone();
    body
}

/// Every field sent comes back as sent (nulls excepted: they mean "unset").
fn assert_round_trips(sent: &Value, got: &Value) {
    for (field, value) in sent.as_object().unwrap() {
        if value.is_null() {
            assert!(got.get(field).is_none(), "{field} should be unset");
            continue;
        }
        let got_value = &got[field];
        if field == "tools" {
            let tools = got_value.as_array().unwrap();
            for (i, tool) in value.as_array().unwrap().iter().enumerate() {
                let mut expected = tool.clone();
                expected["shared"] = json!(false);
                assert_eq!(tools[i], expected, "tool {i}");
            }
        } else {
            assert_eq!(got_value, value, "field {field}");
        }
    }
}

on_both_backends!(
    every_field_round_trips_through_create_get_and_list,
    server_fields_and_defaults_are_filled,
    update_is_partial_and_writes_a_new_version,
    update_with_promote_to_main_false_leaves_main_alone,
    invalid_bodies_get_the_envelope_with_a_pointer,
    unknown_ids_and_routes_are_404_and_wrong_methods_405,
    authentication_is_required_and_checked,
    organizations_cannot_see_each_other,
    soft_delete_restore_and_hard_delete,
    delete_is_refused_while_another_assistant_hands_off_to_it,
    clone_copies_all_but_telephony_and_messaging,
    tags_are_added_listed_and_removed,
    deleted_list_paginates_with_meta,
    idempotency_key_replays_and_refuses_a_different_body,
    concurrent_updates_lose_nothing,
    concurrent_creates_get_distinct_ids,
    list_paginates_when_asked,
    references_must_exist_in_the_organization,
);

async fn references_must_exist_in_the_organization(app: TestApp) {
    let reply = app
        .post(
            "/v2/ai/assistants",
            &json!({"name": "Refs", "instructions": "x", "llm_api_key_ref": "nope",
                    "voice_settings": {"voice": "v", "api_key_ref": "nope-either"},
                    "mcp_servers": [{"id": "mcp-unknown"}], "integrations": [{"integration_id": "not-a-thing"}]}),
        )
        .await;
    assert_error(&reply, 422, "10016");
    let mut pointers: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["source"]["pointer"].as_str())
        .collect();
    pointers.sort();
    assert_eq!(
        pointers,
        vec![
            "/integrations/0/integration_id",
            "/llm_api_key_ref",
            "/mcp_servers/0/id",
            "/voice_settings/api_key_ref"
        ]
    );
    // Another organization's secret does not count.
    let other = app.key_for_new_org("ref-other").await;
    let made = app
        .send(
            Method::POST,
            "/v2/integration_secrets",
            Some(&json!({"identifier": "theirs", "type": "bearer", "token": "x"})),
            Some(&other),
        )
        .await;
    assert!(made.status.is_success(), "{}", made.body);
    let reply = app
        .post(
            "/v2/ai/assistants",
            &json!({"name": "Refs", "instructions": "x", "llm_api_key_ref": "theirs"}),
        )
        .await;
    assert_error(&reply, 422, "10016");
    // Once the secret exists, the same body is accepted; updates are checked too.
    app.post(
        "/v2/integration_secrets",
        &json!({"identifier": "theirs", "type": "bearer", "token": "mine"}),
    )
    .await;
    let created = app
        .create_assistant(json!({"name": "Refs", "instructions": "x", "llm_api_key_ref": "theirs"}))
        .await;
    let path = format!("/v2/ai/assistants/{}", created["id"].as_str().unwrap());
    let error = assert_error(
        &app.post(
            &path,
            &json!({"fallback_config": {"llm_api_key_ref": "missing"}}),
        )
        .await,
        422,
        "10016",
    );
    assert_eq!(
        error["source"]["pointer"],
        "/fallback_config/llm_api_key_ref"
    );
    assert!(!serde_json::to_string(&created).unwrap().contains("mine"));
    assert_eq!(
        app.get("/v2/ai/assistants").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn every_field_round_trips_through_create_get_and_list(app: TestApp) {
    let sent = full_body(&app).await;
    let created = app.create_assistant(sent.clone()).await;
    assert_round_trips(&sent, &created);
    let id = created["id"].as_str().unwrap();
    let fetched = app.get(&format!("/v2/ai/assistants/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, created);
    let list = app.get("/v2/ai/assistants").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["data"][0], created);
    assert_eq!(list.body["meta"]["total_results"], 1);
}

async fn server_fields_and_defaults_are_filled(app: TestApp) {
    let created = app
        .create_assistant(json!({"name": "Min", "instructions": "Be brief.", "id": "mine", "created_at": "never"}))
        .await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("assistant-") && id != "mine");
    assert_ne!(created["created_at"], "never");
    assert_eq!(created["model"], "HuggingFaceTB/SmolLM2-135M-Instruct");
    assert_eq!(created["dynamic_variables_webhook_timeout_ms"], 1500);
    assert_eq!(created["tags"], json!([]));
    assert_eq!(created["tools"], json!([]));
    assert_eq!(created["integrations"], json!([]));
    assert_eq!(created["mcp_servers"], json!([]));
    assert_eq!(created["version_name"], "New assistant");
    assert!(created["version_id"]
        .as_str()
        .unwrap()
        .starts_with("version-"));
    assert_eq!(created["version_created_at"], created["created_at"]);
}

async fn update_is_partial_and_writes_a_new_version(app: TestApp) {
    let created = app.create_assistant(full_body(&app).await).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v2/ai/assistants/{id}");
    let reply = app
        .post(
            &path,
            &json!({"greeting": "Hi again", "description": null, "tools": [{"type": "hangup", "hangup": {}}],
                    "tags": ["vip"], "version_name": "Shorter tools"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let updated = reply.body;
    assert_eq!(updated["greeting"], "Hi again");
    assert!(updated.get("description").is_none());
    assert_eq!(
        updated["tools"],
        json!([{"type": "hangup", "hangup": {}, "shared": false}])
    );
    assert_eq!(updated["tags"], json!(["vip"]));
    assert_eq!(updated["version_name"], "Shorter tools");
    assert_ne!(updated["version_id"], created["version_id"]);
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["created_at"], created["created_at"]);
    // Untouched fields are as they were.
    for field in [
        "instructions",
        "voice_settings",
        "telephony_settings",
        "conversation_flow",
        "model",
    ] {
        assert_eq!(updated[field], created[field], "{field}");
    }
    assert_eq!(app.get(&path).await.body, updated);
    // `{}` is a valid update; PATCH is accepted as an alias.
    let empty = app.post(&path, &json!({})).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["greeting"], "Hi again");
    let patched = app
        .send(
            Method::PATCH,
            &path,
            Some(&json!({"name": "Renamed"})),
            Some(&app.key),
        )
        .await;
    assert_eq!(patched.body["name"], "Renamed");
}

async fn update_with_promote_to_main_false_leaves_main_alone(app: TestApp) {
    let created = app
        .create_assistant(json!({"name": "A", "instructions": "one"}))
        .await;
    let path = format!("/v2/ai/assistants/{}", created["id"].as_str().unwrap());
    let draft = app
        .post(
            &path,
            &json!({"instructions": "two", "promote_to_main": false}),
        )
        .await;
    assert_eq!(draft.status, StatusCode::OK);
    assert_eq!(draft.body["instructions"], "two");
    assert_ne!(draft.body["version_id"], created["version_id"]);
    let main = app.get(&path).await.body;
    assert_eq!(main["instructions"], "one");
    assert_eq!(main["version_id"], created["version_id"]);
}

async fn invalid_bodies_get_the_envelope_with_a_pointer(app: TestApp) {
    let create = "/v2/ai/assistants";
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "a"}), "/instructions"),
        (json!({"name": 7, "instructions": "b"}), "/name"),
        (
            json!({"name": "a", "instructions": "b", "dynamic_variables_webhook_timeout_ms": 10001}),
            "/dynamic_variables_webhook_timeout_ms",
        ),
        (
            json!({"name": "a", "instructions": "b", "enabled_features": ["fax"]}),
            "/enabled_features/0",
        ),
        (
            json!({"name": "a", "instructions": "b", "telephony_settings": {"time_limit_secs": 5}}),
            "/telephony_settings/time_limit_secs",
        ),
        (
            json!({"name": "a", "instructions": "b", "tools": [{"type": "webhook", "webhook": {"name": "w", "url": "https://x"}}]}),
            "/tools/0/webhook/description",
        ),
        (
            json!({"name": "a", "instructions": "b", "tools": [{"type": "warp"}]}),
            "/tools/0/type",
        ),
        (
            json!({"name": "a", "instructions": "b", "tools": "none"}),
            "/tools",
        ),
    ];
    for (body, pointer) in cases {
        let reply = app.post(create, &body).await;
        let error = assert_error(&reply, 422, "10016");
        let pointers: Vec<&str> = reply.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["source"]["pointer"].as_str())
            .collect();
        assert!(pointers.contains(&pointer), "{body} -> {pointers:?}");
        assert!(error["detail"].as_str().unwrap().contains(pointer));
    }
    // A second tool of a single-instance type.
    let reply = app
        .post(create, &json!({"name": "a", "instructions": "b", "tools": [{"type": "hangup", "hangup": {}}, {"type": "hangup", "hangup": {}}]}))
        .await;
    let error = assert_error(&reply, 400, "10015");
    assert_eq!(error["source"]["pointer"], "/tools/1");
    // Malformed JSON, and JSON that is not an object.
    let raw = app
        .http
        .post(app.url(create))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_error(&TestApp::reply(raw).await, 400, "10002");
    assert_error(&app.post(create, &json!(["a"])).await, 400, "10002");
    // Update: a field of the wrong type, clearing a required field.
    let created = app
        .create_assistant(json!({"name": "a", "instructions": "b"}))
        .await;
    let path = format!("/v2/ai/assistants/{}", created["id"].as_str().unwrap());
    let error = assert_error(
        &app.post(
            &path,
            &json!({"voice_settings": {"voice": "v", "speed": "fast"}}),
        )
        .await,
        422,
        "10016",
    );
    assert_eq!(error["source"]["pointer"], "/voice_settings/speed");
    let error = assert_error(
        &app.post(&path, &json!({"instructions": null})).await,
        422,
        "10016",
    );
    assert_eq!(error["source"]["pointer"], "/instructions");
    // Query parameters.
    let error = assert_error(
        &app.get(&format!(
            "{path}?fetch_dynamic_variables_from_webhook=maybe"
        ))
        .await,
        400,
        "10003",
    );
    assert_eq!(
        error["source"]["parameter"],
        "fetch_dynamic_variables_from_webhook"
    );
    assert_error(
        &app.get("/v2/ai/assistants?page%5Bsize%5D=1000").await,
        400,
        "10003",
    );
    // Nothing was written by any refused request.
    assert_eq!(
        app.get("/v2/ai/assistants").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn unknown_ids_and_routes_are_404_and_wrong_methods_405(app: TestApp) {
    let error = assert_error(
        &app.get("/v2/ai/assistants/assistant-missing").await,
        404,
        "10005",
    );
    assert_eq!(error["source"]["pointer"], "/assistant_id");
    assert!(error["detail"]
        .as_str()
        .unwrap()
        .contains("assistant-missing"));
    assert_error(
        &app.post("/v2/ai/assistants/assistant-missing", &json!({}))
            .await,
        404,
        "10005",
    );
    assert_error(
        &app.delete("/v2/ai/assistants/assistant-missing").await,
        404,
        "10005",
    );
    assert_error(
        &app.post("/v2/ai/assistants/assistant-missing/clone", &json!({}))
            .await,
        404,
        "10005",
    );
    assert_error(&app.get("/v2/ai/nothing-here").await, 404, "10005");
    assert_error(&app.get("/elsewhere").await, 404, "10005");
    let reply = app
        .send(Method::PUT, "/v2/ai/assistants", None, Some(&app.key))
        .await;
    assert_error(&reply, 405, "10011");
    let health = app.send(Method::GET, "/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    // Every response carries a request id; one the client sends is echoed.
    assert_eq!(health.headers["x-request-id"].len(), 36);
    let traced = app
        .http
        .get(app.url("/v2/ai/assistants/assistant-missing"))
        .bearer_auth(&app.key)
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "trace-me-1");
}

async fn authentication_is_required_and_checked(app: TestApp) {
    let reply = app.send(Method::GET, "/v2/ai/assistants", None, None).await;
    assert_error(&reply, 401, "10009");
    assert_eq!(reply.headers["www-authenticate"], "Bearer");
    assert_error(
        &app.send(Method::GET, "/v2/ai/assistants", None, Some("KEYnot-a-key"))
            .await,
        401,
        "10009",
    );
    let basic = app
        .http
        .get(app.url("/v2/ai/assistants"))
        .header("authorization", format!("Basic {}", app.key))
        .send()
        .await
        .unwrap();
    assert_error(&TestApp::reply(basic).await, 401, "10009");
}

/// A revoked key stops working once the node's key cache (`auth_cache_ms`, 1 s) lets go of
/// it.
async fn a_revoked_key_stops_working_within_the_cache_time(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let list = |key: String| {
        let app = &app;
        async move {
            app.send(Method::GET, "/v2/ai/assistants", None, Some(&key))
                .await
        }
    };
    let key = app.key_for_new_org("revoking").await;
    assert_eq!(list(key.clone()).await.status, StatusCode::OK);
    let prefix = parley_core::apikey::display_prefix(&key);
    assert!(app
        .store
        .revoke_api_key(&prefix, app.clock.now())
        .await
        .unwrap());
    // Verified 0.9 s ago: still remembered.
    clock.advance(chrono::Duration::milliseconds(900));
    assert_eq!(list(key.clone()).await.status, StatusCode::OK);
    // A second after it was verified the node asks the database again.
    clock.advance(chrono::Duration::milliseconds(100));
    assert_error(&list(key.clone()).await, 401, "10009");
    clock.advance(chrono::Duration::seconds(5));
    assert_error(&list(key).await, 401, "10009");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_working_within_the_cache_time_sqlite() {
    a_revoked_key_stops_working_within_the_cache_time(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_working_within_the_cache_time_postgres() {
    a_revoked_key_stops_working_within_the_cache_time(Backend::Postgres).await;
}

async fn organizations_cannot_see_each_other(app: TestApp) {
    let mine = app
        .create_assistant(json!({"name": "Mine", "instructions": "x", "tags": ["secret-tag"]}))
        .await;
    let id = mine["id"].as_str().unwrap();
    let other = app.key_for_new_org("other").await;
    let as_other = |method: Method, path: String, body: Option<Value>| {
        let other = other.clone();
        let app = &app;
        async move { app.send(method, &path, body.as_ref(), Some(&other)).await }
    };
    let path = format!("/v2/ai/assistants/{id}");
    assert_error(
        &as_other(Method::GET, path.clone(), None).await,
        404,
        "10005",
    );
    assert_error(
        &as_other(Method::POST, path.clone(), Some(json!({"name": "Stolen"}))).await,
        404,
        "10005",
    );
    assert_error(
        &as_other(Method::DELETE, path.clone(), None).await,
        404,
        "10005",
    );
    assert_error(
        &as_other(Method::DELETE, format!("{path}?hard_delete=true"), None).await,
        404,
        "10005",
    );
    assert_error(
        &as_other(Method::POST, format!("{path}/clone"), None).await,
        404,
        "10005",
    );
    assert_error(
        &as_other(
            Method::POST,
            format!("{path}/tags"),
            Some(json!({"tag": "x"})),
        )
        .await,
        404,
        "10005",
    );
    assert_error(
        &as_other(Method::DELETE, format!("{path}/tags/secret-tag"), None).await,
        404,
        "10005",
    );
    let list = as_other(Method::GET, "/v2/ai/assistants".into(), None).await;
    assert_eq!(list.body["data"], json!([]));
    assert_eq!(
        as_other(Method::GET, "/v2/ai/assistants/tags".into(), None)
            .await
            .body["tags"],
        json!([])
    );
    // The other organization's own assistant is equally invisible to us.
    let theirs = as_other(
        Method::POST,
        "/v2/ai/assistants".into(),
        Some(json!({"name": "Theirs", "instructions": "y"})),
    )
    .await;
    let their_id = theirs.body["id"].as_str().unwrap();
    assert_error(
        &app.get(&format!("/v2/ai/assistants/{their_id}")).await,
        404,
        "10005",
    );
    // Soft-deleted ones too.
    assert_eq!(app.delete(&path).await.status, StatusCode::OK);
    assert_error(
        &as_other(Method::POST, format!("{path}/restore"), None).await,
        404,
        "10005",
    );
    assert_error(
        &as_other(Method::GET, format!("{path}/deleted"), None).await,
        404,
        "10005",
    );
    assert_eq!(
        as_other(Method::GET, "/v2/ai/assistants/deleted".into(), None)
            .await
            .body["data"],
        json!([])
    );
    // Our assistant is unchanged.
    let restored = app.post(&format!("{path}/restore"), &json!({})).await;
    assert_eq!(restored.body["name"], "Mine");
}

async fn soft_delete_restore_and_hard_delete(app: TestApp) {
    let created = app
        .create_assistant(json!({"name": "Temp", "instructions": "x"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v2/ai/assistants/{id}");
    let deleted = app.delete(&path).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(
        deleted.body,
        json!({"id": id, "object": "assistant", "deleted": true})
    );
    assert_error(&app.get(&path).await, 404, "10005");
    assert_error(&app.delete(&path).await, 404, "10005");
    assert_eq!(app.get("/v2/ai/assistants").await.body["data"], json!([]));
    let view = app.get(&format!("{path}/deleted")).await;
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(view.body["name"], "Temp");
    let deleted_at =
        chrono::DateTime::parse_from_rfc3339(view.body["deleted_at"].as_str().unwrap()).unwrap();
    let purge_at =
        chrono::DateTime::parse_from_rfc3339(view.body["permanently_deleted_at"].as_str().unwrap())
            .unwrap();
    assert_eq!(purge_at - deleted_at, chrono::Duration::days(30));
    let restored = app.post(&format!("{path}/restore"), &json!({})).await;
    assert_eq!(restored.status, StatusCode::OK);
    assert_eq!(restored.body, created);
    assert_error(
        &app.post(&format!("{path}/restore"), &json!({})).await,
        404,
        "10005",
    );
    let hard = app
        .send(
            Method::DELETE,
            &format!("{path}?hard_delete=true"),
            None,
            Some(&app.key),
        )
        .await;
    assert_eq!(hard.status, StatusCode::OK);
    assert_error(&app.get(&format!("{path}/deleted")).await, 404, "10005");
    assert_error(
        &app.post(&format!("{path}/restore"), &json!({})).await,
        404,
        "10005",
    );
}

async fn delete_is_refused_while_another_assistant_hands_off_to_it(app: TestApp) {
    let target = app
        .create_assistant(json!({"name": "Sales", "instructions": "sell"}))
        .await;
    let target_id = target["id"].as_str().unwrap();
    let front = app
        .create_assistant(json!({"name": "Front", "instructions": "route",
            "tools": [{"type": "handoff", "handoff": {"ai_assistants": [{"id": target_id, "name": "Sales"}]}}]}))
        .await;
    let path = format!("/v2/ai/assistants/{target_id}");
    let error = assert_error(&app.delete(&path).await, 400, "10018");
    assert!(error["detail"]
        .as_str()
        .unwrap()
        .contains(front["id"].as_str().unwrap()));
    assert_error(
        &app.delete(&format!("{path}?hard_delete=true")).await,
        400,
        "10018",
    );
    assert_eq!(app.get(&path).await.status, StatusCode::OK);
    // Once the reference is gone, the delete goes through.
    let front_path = format!("/v2/ai/assistants/{}", front["id"].as_str().unwrap());
    assert_eq!(
        app.post(&front_path, &json!({"tools": []})).await.status,
        StatusCode::OK
    );
    assert_eq!(app.delete(&path).await.status, StatusCode::OK);
}

async fn clone_copies_all_but_telephony_and_messaging(app: TestApp) {
    let original = app.create_assistant(full_body(&app).await).await;
    let id = original["id"].as_str().unwrap();
    let reply = app
        .http
        .post(app.url(&format!("/v2/ai/assistants/{id}/clone")))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    let clone = TestApp::reply(reply).await;
    assert_eq!(clone.status, StatusCode::OK, "{}", clone.body);
    let copy = clone.body;
    assert_ne!(copy["id"], original["id"]);
    assert_ne!(copy["version_id"], original["version_id"]);
    assert_eq!(copy["name"], "Full Assistant (Clone)");
    assert!(copy.get("telephony_settings").is_none());
    assert!(copy.get("messaging_settings").is_none());
    for (field, value) in original.as_object().unwrap() {
        if matches!(
            field.as_str(),
            "id" | "name"
                | "created_at"
                | "version_id"
                | "version_created_at"
                | "telephony_settings"
                | "messaging_settings"
        ) {
            continue;
        }
        assert_eq!(&copy[field], value, "{field}");
    }
    assert_eq!(
        app.get("/v2/ai/assistants").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn tags_are_added_listed_and_removed(app: TestApp) {
    let a = app
        .create_assistant(json!({"name": "A", "instructions": "x", "tags": ["b"]}))
        .await;
    let b = app
        .create_assistant(json!({"name": "B", "instructions": "x", "tags": ["a", "b"]}))
        .await;
    let a_path = format!("/v2/ai/assistants/{}", a["id"].as_str().unwrap());
    let added = app
        .post(&format!("{a_path}/tags"), &json!({"tag": " c "}))
        .await;
    assert_eq!(added.status, StatusCode::OK);
    assert_eq!(added.body, json!({"tags": ["b", "c"]}));
    assert_eq!(
        app.post(&format!("{a_path}/tags"), &json!({"tag": "c"}))
            .await
            .body,
        json!({"tags": ["b", "c"]})
    );
    assert_eq!(
        app.get("/v2/ai/assistants/tags").await.body,
        json!({"tags": ["a", "b", "c"]})
    );
    assert_eq!(app.get(&a_path).await.body["tags"], json!(["b", "c"]));
    let removed = app.delete(&format!("{a_path}/tags/b")).await;
    assert_eq!(removed.body, json!({"tags": ["c"]}));
    assert_eq!(
        app.delete(&format!("{a_path}/tags/zzz")).await.body,
        json!({"tags": ["c"]})
    );
    let error = assert_error(
        &app.post(&format!("{a_path}/tags"), &json!({"tag": ""}))
            .await,
        422,
        "10016",
    );
    assert_eq!(error["source"]["pointer"], "/tag");
    assert_error(
        &app.post(&format!("{a_path}/tags"), &json!({"tag": 5}))
            .await,
        422,
        "10016",
    );
    assert_error(
        &app.post(&format!("{a_path}/tags"), &json!({})).await,
        422,
        "10016",
    );
    // Tags of deleted assistants are not listed.
    app.delete(&format!("/v2/ai/assistants/{}", b["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        app.get("/v2/ai/assistants/tags").await.body,
        json!({"tags": ["c"]})
    );
}

async fn deleted_list_paginates_with_meta(app: TestApp) {
    for i in 0..5 {
        let created = app
            .create_assistant(json!({"name": format!("A{i}"), "instructions": "x"}))
            .await;
        app.delete(&format!(
            "/v2/ai/assistants/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    }
    let page = app
        .get("/v2/ai/assistants/deleted?page%5Bnumber%5D=2&page%5Bsize%5D=2")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.body["meta"],
        json!({"page_number": 2, "page_size": 2, "total_pages": 3, "total_results": 5})
    );
    assert_eq!(page.body["data"].as_array().unwrap().len(), 2);
    let last = app
        .get("/v2/ai/assistants/deleted?page[number]=3&page[size]=2")
        .await;
    assert_eq!(last.body["data"].as_array().unwrap().len(), 1);
    let past = app
        .get("/v2/ai/assistants/deleted?page[number]=4&page[size]=2")
        .await;
    assert_eq!(past.body["data"], json!([]));
    assert_eq!(past.body["meta"]["page_number"], 4);
    let all = app.get("/v2/ai/assistants/deleted").await;
    assert_eq!(
        all.body["meta"],
        json!({"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 5})
    );
    // Most recently deleted first.
    assert_eq!(all.body["data"][0]["name"], "A4");
}

async fn idempotency_key_replays_and_refuses_a_different_body(app: TestApp) {
    let send = |body: Value, key: &'static str| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url("/v2/ai/assistants"))
                .bearer_auth(&app.key)
                .header("idempotency-key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            TestApp::reply(response).await
        }
    };
    let body = json!({"name": "Once", "instructions": "x"});
    let first = send(body.clone(), "idem-1").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let second = send(body.clone(), "idem-1").await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(second.body, first.body);
    assert_eq!(
        app.get("/v2/ai/assistants").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let different = send(json!({"name": "Twice", "instructions": "x"}), "idem-1").await;
    assert_error(&different, 422, "10017");
    // Refusals are remembered too: the same invalid request replays its 422.
    let invalid = send(json!({"name": "x"}), "idem-2").await;
    assert_error(&invalid, 422, "10016");
    let again = send(json!({"name": "x"}), "idem-2").await;
    assert_eq!(again.headers["idempotent-replayed"], "true");
    // Keys belong to an organization: another organization's identical key is independent.
    let other = app.key_for_new_org("idem-other").await;
    let response = app
        .http
        .post(app.url("/v2/ai/assistants"))
        .bearer_auth(&other)
        .header("idempotency-key", "idem-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let theirs = TestApp::reply(response).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(theirs.headers.get("idempotent-replayed").is_none());
    assert_ne!(theirs.body["id"], first.body["id"]);
}

async fn concurrent_updates_lose_nothing(app: TestApp) {
    let created = app
        .create_assistant(json!({"name": "Busy", "instructions": "x"}))
        .await;
    let path = format!("/v2/ai/assistants/{}", created["id"].as_str().unwrap());
    let updates = vec![
        json!({"greeting": "g"}),
        json!({"description": "d"}),
        json!({"model": "openai/gpt-4o"}),
        json!({"dynamic_variables": {"a": 1}}),
        json!({"dynamic_variables_webhook_url": "https://example.com/v"}),
        json!({"enabled_features": ["messaging"]}),
        json!({"privacy_settings": {"data_retention": false}}),
        json!({"post_conversation_settings": {"enabled": true}}),
        json!({"insight_settings": {"insight_group_id": "g"}}),
        json!({"widget_settings": {"theme": "light"}}),
    ];
    let replies = futures::future::join_all(updates.iter().map(|u| app.post(&path, u))).await;
    let mut versions = std::collections::HashSet::new();
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        versions.insert(reply.body["version_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(versions.len(), updates.len());
    let last = app.get(&path).await.body;
    for update in &updates {
        for (field, value) in update.as_object().unwrap() {
            assert_eq!(&last[field], value, "{field} was lost");
        }
    }
}

async fn concurrent_creates_get_distinct_ids(app: TestApp) {
    let bodies: Vec<Value> = (0..25)
        .map(|i| json!({"name": format!("N{i}"), "instructions": "x"}))
        .collect();
    let replies =
        futures::future::join_all(bodies.iter().map(|b| app.post("/v2/ai/assistants", b))).await;
    let ids: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 25);
    assert_eq!(
        app.get("/v2/ai/assistants").await.body["meta"]["total_results"],
        25
    );
}

async fn list_paginates_when_asked(app: TestApp) {
    for i in 0..3 {
        app.create_assistant(json!({"name": format!("P{i}"), "instructions": "x"}))
            .await;
    }
    let page = app
        .get("/v2/ai/assistants?page[number]=2&page[size]=2")
        .await;
    assert_eq!(
        page.body["meta"],
        json!({"page_number": 2, "page_size": 2, "total_pages": 2, "total_results": 3})
    );
    assert_eq!(page.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["data"][0]["name"], "P2");
}

/// Bodies over the limit are refused with 413 before anything is parsed.
async fn oversized_body_is_413(backend: Backend) {
    let app = TestApp::spawn_with(backend, Arc::new(parley_core::clock::SystemClock), |s| {
        s.max_body_bytes = 4096
    })
    .await;
    let body = json!({"name": "big", "instructions": "x".repeat(10_000)});
    assert_error(&app.post("/v2/ai/assistants", &body).await, 413, "10012");
    let response = app
        .http
        .post(app.url("/v2/ai/assistants"))
        .bearer_auth(&app.key)
        .header("idempotency-key", "big-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(&TestApp::reply(response).await, 413, "10012");
    assert_eq!(app.get("/v2/ai/assistants").await.body["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413_sqlite() {
    oversized_body_is_413(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413_postgres() {
    oversized_body_is_413(Backend::Postgres).await;
}

/// Deleted assistants are purged after 30 days; idempotency keys expire after 24 hours.
async fn time_driven_expiry(backend: Backend) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
    let kept = app
        .create_assistant(json!({"name": "Kept", "instructions": "x"}))
        .await;
    let gone = app
        .create_assistant(json!({"name": "Gone", "instructions": "x"}))
        .await;
    let gone_path = format!("/v2/ai/assistants/{}", gone["id"].as_str().unwrap());
    app.delete(&gone_path).await;
    clock.advance(chrono::Duration::days(29));
    assert_eq!(
        parley_server::startup::purge_expired(app.store.as_ref(), app.clock.as_ref())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.get(&format!("{gone_path}/deleted")).await.status,
        StatusCode::OK
    );
    clock.advance(chrono::Duration::days(2));
    assert_eq!(
        parley_server::startup::purge_expired(app.store.as_ref(), app.clock.as_ref())
            .await
            .unwrap(),
        1
    );
    assert_error(
        &app.get(&format!("{gone_path}/deleted")).await,
        404,
        "10005",
    );
    assert_eq!(
        app.get(&format!(
            "/v2/ai/assistants/{}",
            kept["id"].as_str().unwrap()
        ))
        .await
        .status,
        StatusCode::OK
    );

    let send = || async {
        let response = app
            .http
            .post(app.url("/v2/ai/assistants"))
            .bearer_auth(&app.key)
            .header("idempotency-key", "daily")
            .json(&json!({"name": "Daily", "instructions": "x"}))
            .send()
            .await
            .unwrap();
        TestApp::reply(response).await
    };
    let first = send().await;
    clock.advance(chrono::Duration::hours(23));
    assert_eq!(send().await.body["id"], first.body["id"]);
    clock.advance(chrono::Duration::hours(2));
    assert_ne!(send().await.body["id"], first.body["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_driven_expiry_sqlite() {
    time_driven_expiry(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_driven_expiry_postgres() {
    time_driven_expiry(Backend::Postgres).await;
}

/// A stopped server finishes and releases its socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = app.base.clone();
    app.create_assistant(json!({"name": "S", "instructions": "x"}))
        .await;
    app.stop().await;
    assert!(reqwest::get(format!("{base}/health")).await.is_err());
}
