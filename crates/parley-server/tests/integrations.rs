//! The integration catalogue and connections end to end over HTTP, on SQLite and on
//! PostgreSQL.

mod common;

use common::{assert_error, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    catalogue_lists_every_integration_with_the_sdk_fields,
    one_integration_is_a_bare_object,
    connections_path_is_not_taken_for_an_integration_id,
    connection_lifecycle_updates_the_status,
    one_connection_per_integration,
    connection_bodies_are_validated_with_pointers,
    connection_keeps_tools_and_base_url,
    organizations_cannot_see_each_others_connections,
);

const INTEGRATIONS: &str = "/v2/ai/integrations";
const CONNECTIONS: &str = "/v2/ai/integrations/connections";

fn connection(id: &str) -> String {
    format!("{CONNECTIONS}/{id}")
}

async fn create_secret(app: &TestApp, key: &str, identifier: &str) {
    let reply = app
        .send(
            Method::POST,
            "/v2/integration_secrets",
            Some(&json!({"identifier": identifier, "type": "basic",
                         "username": "agent@example.com/token", "password": "pw"})),
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

/// Connects and returns the connection object (inside `data`).
async fn connect(app: &TestApp, body: Value) -> Value {
    let reply = app.post(CONNECTIONS, &body).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "connect failed: {}",
        reply.body
    );
    let keys: Vec<&String> = reply.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["data"], "{}", reply.body);
    reply.body["data"].clone()
}

fn statuses(list: &Value) -> Vec<(String, String)> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn connected(list: &Value) -> Vec<String> {
    statuses(list)
        .into_iter()
        .filter(|(_, status)| status == "connected")
        .map(|(id, _)| id)
        .collect()
}

async fn catalogue_lists_every_integration_with_the_sdk_fields(app: TestApp) {
    let reply = app.get(INTEGRATIONS).await;
    assert_eq!(reply.status, StatusCode::OK);
    let data = reply.body["data"].as_array().expect("{data: [...]}");
    let ids: Vec<&str> = data.iter().map(|i| i["id"].as_str().unwrap()).collect();
    for id in [
        "hubspot",
        "zendesk",
        "salesforce",
        "google_calendar",
        "cal_com",
        "jira",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    for integration in data {
        let mut keys: Vec<&str> = integration
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "available_tools",
                "description",
                "display_name",
                "id",
                "logo_url",
                "name",
                "status"
            ]
        );
        assert_eq!(integration["status"], "disconnected");
        let tools = integration["available_tools"].as_array().unwrap();
        assert!(!tools.is_empty() && tools.iter().all(Value::is_string));
        for field in ["name", "display_name", "description", "logo_url"] {
            assert!(integration[field].as_str().is_some_and(|s| !s.is_empty()));
        }
    }
    let hubspot = data.iter().find(|i| i["id"] == "hubspot").unwrap();
    assert_eq!(hubspot["display_name"], "HubSpot");
    assert!(hubspot["available_tools"]
        .as_array()
        .unwrap()
        .contains(&json!("hubspot_get_contact")));
}

async fn one_integration_is_a_bare_object(app: TestApp) {
    let list = app.get(INTEGRATIONS).await.body;
    let jira = app.get(&format!("{INTEGRATIONS}/jira")).await;
    assert_eq!(jira.status, StatusCode::OK);
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "jira")
        .unwrap();
    assert_eq!(&jira.body, listed, "bare, as listed");
    let missing = app.get(&format!("{INTEGRATIONS}/nope")).await;
    let error = assert_error(&missing, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/integration_id");
    assert_error(
        &app.send(
            Method::DELETE,
            &format!("{INTEGRATIONS}/jira"),
            None,
            Some(&app.key),
        )
        .await,
        405,
        "10011",
    );
}

async fn connections_path_is_not_taken_for_an_integration_id(app: TestApp) {
    // A static segment wins over `{integration_id}`: this is the connections list, not a
    // search for an integration called "connections".
    let reply = app.get(CONNECTIONS).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, json!({"data": []}));
    let missing = app.get(&connection("conn-missing")).await;
    let error = assert_error(&missing, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/user_connection_id");
}

async fn connection_lifecycle_updates_the_status(app: TestApp) {
    create_secret(&app, &app.key, "hubspot_token").await;
    let created = connect(
        &app,
        json!({"integration_id": "hubspot", "api_key_ref": "hubspot_token"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("conn-"), "{id}");
    assert_eq!(created["integration_id"], "hubspot");
    assert_eq!(created["api_key_ref"], "hubspot_token");
    assert!(created.get("base_url").is_none());
    assert!(chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).is_ok());
    let hubspot = app.get(&format!("{INTEGRATIONS}/hubspot")).await.body;
    assert_eq!(
        created["allowed_tools"], hubspot["available_tools"],
        "every tool by default"
    );
    assert_eq!(hubspot["status"], "connected");
    assert_eq!(connected(&app.get(INTEGRATIONS).await.body), ["hubspot"]);
    assert_eq!(
        app.get(&format!("{INTEGRATIONS}/jira")).await.body["status"],
        "disconnected"
    );

    let fetched = app.get(&connection(id)).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, json!({"data": created}));
    assert_eq!(app.get(CONNECTIONS).await.body, json!({"data": [created]}));

    let deleted = app.delete(&connection(id)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, Value::Null);
    assert_error(&app.get(&connection(id)).await, 404, "10005");
    assert_error(&app.delete(&connection(id)).await, 404, "10005");
    assert_eq!(app.get(CONNECTIONS).await.body, json!({"data": []}));
    assert!(connected(&app.get(INTEGRATIONS).await.body).is_empty());
    assert_eq!(
        app.get(&format!("{INTEGRATIONS}/hubspot")).await.body["status"],
        "disconnected"
    );
}

async fn one_connection_per_integration(app: TestApp) {
    create_secret(&app, &app.key, "cal").await;
    let first = connect(
        &app,
        json!({"integration_id": "cal_com", "api_key_ref": "cal"}),
    )
    .await;
    let again = app
        .post(
            CONNECTIONS,
            &json!({"integration_id": "cal_com", "api_key_ref": "cal"}),
        )
        .await;
    let error = assert_error(&again, 422, "10016");
    assert_eq!(error["source"]["pointer"], "/integration_id");
    assert!(error["detail"]
        .as_str()
        .unwrap()
        .contains(first["id"].as_str().unwrap()));
    // Another integration is fine; deleting frees the first one.
    connect(
        &app,
        json!({"integration_id": "google_calendar", "api_key_ref": "cal"}),
    )
    .await;
    app.delete(&connection(first["id"].as_str().unwrap())).await;
    connect(
        &app,
        json!({"integration_id": "cal_com", "api_key_ref": "cal"}),
    )
    .await;
    let list = app.get(CONNECTIONS).await.body;
    let integrations: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["integration_id"].as_str().unwrap())
        .collect();
    assert_eq!(integrations, ["google_calendar", "cal_com"], "oldest first");
}

async fn connection_bodies_are_validated_with_pointers(app: TestApp) {
    create_secret(&app, &app.key, "k").await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["/integration_id", "/api_key_ref"]),
        (
            json!({"integration_id": null, "api_key_ref": null}),
            vec!["/integration_id", "/api_key_ref"],
        ),
        (
            json!({"integration_id": "nope", "api_key_ref": "k"}),
            vec!["/integration_id"],
        ),
        (
            json!({"integration_id": 3, "api_key_ref": "k"}),
            vec!["/integration_id"],
        ),
        (
            json!({"integration_id": "hubspot", "api_key_ref": ""}),
            vec!["/api_key_ref"],
        ),
        (
            json!({"integration_id": "hubspot", "api_key_ref": "k\u{0}"}),
            vec!["/api_key_ref"],
        ),
        (
            json!({"integration_id": "hubspot", "api_key_ref": "k",
                   "allowed_tools": ["hubspot_get_contact", "jira_get_issue", ""]}),
            vec!["/allowed_tools/1", "/allowed_tools/2"],
        ),
        (
            json!({"integration_id": "hubspot", "api_key_ref": "k", "allowed_tools": []}),
            vec!["/allowed_tools"],
        ),
        (
            json!({"integration_id": "hubspot", "api_key_ref": "k", "allowed_tools": "all"}),
            vec!["/allowed_tools"],
        ),
        (
            json!({"integration_id": "hubspot", "api_key_ref": "k", "base_url": "ftp://h.example"}),
            vec!["/base_url"],
        ),
        (
            json!({"integration_id": "hubspot", "api_key_ref": "k", "base_url": "https://h.example/?x=1"}),
            vec!["/base_url"],
        ),
        (
            json!({"integration_id": "zendesk", "api_key_ref": "k"}),
            vec!["/base_url"],
        ),
        // The secret must exist (checked once the body is otherwise valid).
        (
            json!({"integration_id": "hubspot", "api_key_ref": "missing"}),
            vec!["/api_key_ref"],
        ),
    ];
    for (body, expected) in &cases {
        let reply = app.post(CONNECTIONS, body).await;
        assert_error(&reply, 422, "10016");
        let pointers: Vec<&str> = reply.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["source"]["pointer"].as_str().unwrap())
            .collect();
        assert_eq!(&pointers, expected, "body {body}");
    }
    assert_error(&app.post(CONNECTIONS, &json!([1])).await, 400, "10002");
    assert_eq!(
        app.get(CONNECTIONS).await.body,
        json!({"data": []}),
        "nothing was written"
    );
}

async fn connection_keeps_tools_and_base_url(app: TestApp) {
    create_secret(&app, &app.key, "zendesk_agent").await;
    let created = connect(
        &app,
        json!({"integration_id": "zendesk", "api_key_ref": "zendesk_agent",
               "allowed_tools": ["zendesk_get_ticket", "zendesk_create_ticket", "zendesk_get_ticket"],
               "base_url": "https://acme.zendesk.com/"}),
    )
    .await;
    assert_eq!(
        created["allowed_tools"],
        json!(["zendesk_get_ticket", "zendesk_create_ticket"])
    );
    assert_eq!(created["base_url"], "https://acme.zendesk.com");
    let fetched = app.get(&connection(created["id"].as_str().unwrap())).await;
    assert_eq!(fetched.body["data"], created);
}

async fn organizations_cannot_see_each_others_connections(app: TestApp) {
    let other = app.key_for_new_org("integrations-other").await;
    create_secret(&app, &app.key, "mine").await;
    create_secret(&app, &other, "theirs").await;
    let mine = connect(
        &app,
        json!({"integration_id": "jira", "api_key_ref": "mine",
                                    "base_url": "https://acme.atlassian.net"}),
    )
    .await;
    let id = mine["id"].as_str().unwrap();
    for method in [Method::GET, Method::DELETE] {
        let reply = app.send(method, &connection(id), None, Some(&other)).await;
        let error = assert_error(&reply, 404, "10005");
        assert_eq!(error["source"]["pointer"], "/user_connection_id");
    }
    let their_list = app.send(Method::GET, CONNECTIONS, None, Some(&other)).await;
    assert_eq!(their_list.body, json!({"data": []}));
    let their_catalogue = app
        .send(Method::GET, INTEGRATIONS, None, Some(&other))
        .await;
    assert!(connected(&their_catalogue.body).is_empty());
    let their_jira = app
        .send(
            Method::GET,
            &format!("{INTEGRATIONS}/jira"),
            None,
            Some(&other),
        )
        .await;
    assert_eq!(their_jira.body["status"], "disconnected");
    // They cannot use this organization's secret, but may connect the same integration.
    let borrowed = app
        .send(
            Method::POST,
            CONNECTIONS,
            Some(&json!({"integration_id": "hubspot", "api_key_ref": "mine"})),
            Some(&other),
        )
        .await;
    let error = assert_error(&borrowed, 422, "10016");
    assert_eq!(error["source"]["pointer"], "/api_key_ref");
    let theirs = app
        .send(
            Method::POST,
            CONNECTIONS,
            Some(&json!({"integration_id": "jira", "api_key_ref": "theirs",
                         "base_url": "https://other.atlassian.net"})),
            Some(&other),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.body);
    assert_eq!(
        app.get(&connection(id)).await.body["data"],
        mine,
        "untouched"
    );
    assert_eq!(app.get(CONNECTIONS).await.body, json!({"data": [mine]}));
}
