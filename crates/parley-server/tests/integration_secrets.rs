//! Integration secrets end to end over HTTP, on SQLite and on PostgreSQL: create, list,
//! delete, validation, tenancy, encryption at rest, and the resolver other features call.

mod common;

use common::{assert_error, Backend, TestApp};
use parley_core::ids::OrgId;
use parley_core::secrets::{MasterKey, SecretId};
use parley_server::secrets::{check_refs_exist, resolve_secret, SecretValue, MASTER_KEY_FILE};
use parley_store::{CreateSecretOutcome, NewSecretRecord, SecretKind};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;

const PATH: &str = "/v2/integration_secrets";

on_both_backends!(
    create_bearer_and_basic_secrets,
    list_filters_by_type_and_paginates_with_meta,
    duplicate_identifier_is_422_at_identifier,
    invalid_bodies_point_at_each_field_and_write_nothing,
    delete_then_404_and_no_retrieve_or_update,
    organizations_are_isolated,
    values_never_appear_in_any_response,
    values_are_encrypted_at_rest,
    resolver_returns_values_per_organization,
    check_refs_exist_points_at_every_missing_ref,
    a_ciphertext_moved_to_another_row_does_not_open,
);

/// The `default` organization, which `app.key` belongs to.
async fn default_org(app: &TestApp) -> OrgId {
    app.store
        .ensure_organization("default", app.clock.now())
        .await
        .unwrap()
        .id
}

/// A new organization: its key and its id.
async fn new_org(app: &TestApp, name: &str) -> (String, OrgId) {
    let key = app.key_for_new_org(name).await;
    let org = app
        .store
        .ensure_organization(name, app.clock.now())
        .await
        .unwrap()
        .id;
    (key, org)
}

async fn create_as(app: &TestApp, key: &str, body: Value) -> Value {
    let reply = app.send(Method::POST, PATH, Some(&body), Some(key)).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "create failed: {}",
        reply.body
    );
    reply.body["data"].clone()
}

async fn create(app: &TestApp, body: Value) -> Value {
    create_as(app, &app.key, body).await
}

fn bearer(identifier: &str, token: &str) -> Value {
    json!({"identifier": identifier, "type": "bearer", "token": token})
}

fn basic(identifier: &str, username: &str, password: &str) -> Value {
    json!({"identifier": identifier, "type": "basic", "username": username, "password": password})
}

fn identifiers(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {list}"))
        .iter()
        .map(|s| s["identifier"].as_str().unwrap())
        .collect()
}

fn pointers(reply: &common::Reply) -> Vec<&str> {
    reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap_or_default())
        .collect()
}

async fn create_bearer_and_basic_secrets(app: TestApp) {
    let reply = app
        .post(PATH, &bearer("stripe_key", "sk_live_abc123"))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let keys: Vec<&str> = reply
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["data"], "create answers {{data}}");
    let data = &reply.body["data"];
    let mut fields: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "created_at",
            "id",
            "identifier",
            "record_type",
            "updated_at"
        ]
    );
    assert_eq!(data["record_type"], "integration_secret");
    assert_eq!(data["identifier"], "stripe_key");
    let id = data["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "id {id} is a UUID");
    let created = chrono::DateTime::parse_from_rfc3339(data["created_at"].as_str().unwrap())
        .expect("created_at is RFC 3339");
    assert!((chrono::Utc::now() - created.to_utc()).num_seconds().abs() < 60);
    assert_eq!(data["updated_at"], data["created_at"]);

    let basic = create(&app, basic("crm.login", "alice", "hunter2")).await;
    assert_eq!(basic["identifier"], "crm.login");
    assert_ne!(basic["id"], data["id"]);

    // Unknown fields and the fields the type does not use are ignored.
    let extra = create(
        &app,
        json!({"identifier": "x-1", "type": "bearer", "token": "t", "username": 7, "color": "red"}),
    )
    .await;
    assert_eq!(extra["identifier"], "x-1");

    let list = app.get(PATH).await;
    assert_eq!(identifiers(&list.body), ["stripe_key", "crm.login", "x-1"]);
    assert_eq!(
        list.body["data"][0], *data,
        "the list shows what create returned"
    );
}

async fn list_filters_by_type_and_paginates_with_meta(app: TestApp) {
    let empty = app.get(PATH).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(
        empty.body,
        json!({"data": [], "meta": {"page_number": 1, "page_size": 20, "total_pages": 0, "total_results": 0}})
    );
    for (i, kind) in ["bearer", "basic", "bearer", "bearer", "basic"]
        .iter()
        .enumerate()
    {
        let body = if *kind == "bearer" {
            bearer(&format!("s{i}"), "tok")
        } else {
            basic(&format!("s{i}"), "u", "p")
        };
        create(&app, body).await;
    }
    let all = app.get(PATH).await;
    assert_eq!(identifiers(&all.body), ["s0", "s1", "s2", "s3", "s4"]);
    assert_eq!(
        all.body["meta"],
        json!({"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 5})
    );

    let basic = app.get(&format!("{PATH}?filter[type]=basic")).await;
    assert_eq!(identifiers(&basic.body), ["s1", "s4"]);
    assert_eq!(basic.body["meta"]["total_results"], 2);
    let bearer = app.get(&format!("{PATH}?filter%5Btype%5D=bearer")).await;
    assert_eq!(identifiers(&bearer.body), ["s0", "s2", "s3"]);

    let page = app
        .get(&format!("{PATH}?page[number]=2&page[size]=2"))
        .await;
    assert_eq!(identifiers(&page.body), ["s2", "s3"]);
    assert_eq!(
        page.body["meta"],
        json!({"page_number": 2, "page_size": 2, "total_pages": 3, "total_results": 5})
    );
    let last = app
        .get(&format!("{PATH}?page[number]=3&page[size]=2"))
        .await;
    assert_eq!(identifiers(&last.body), ["s4"]);
    let past = app
        .get(&format!("{PATH}?page[number]=9&page[size]=2"))
        .await;
    assert_eq!(identifiers(&past.body), Vec::<&str>::new());
    assert_eq!(
        past.body["meta"]["page_number"], 9,
        "meta echoes the page served"
    );
    let filtered_page = app
        .get(&format!(
            "{PATH}?filter[type]=bearer&page[size]=2&page[number]=2"
        ))
        .await;
    assert_eq!(identifiers(&filtered_page.body), ["s3"]);
    assert_eq!(
        filtered_page.body["meta"],
        json!({"page_number": 2, "page_size": 2, "total_pages": 2, "total_results": 3})
    );

    let bad = app.get(&format!("{PATH}?filter[type]=oauth")).await;
    let error = assert_error(&bad, 400, "10003");
    assert_eq!(error["source"]["parameter"], "filter[type]");
    let bad = app.get(&format!("{PATH}?page[size]=0")).await;
    assert_eq!(
        assert_error(&bad, 400, "10003")["source"]["parameter"],
        "page[size]"
    );
    let bad = app.get(&format!("{PATH}?page[size]=101")).await;
    assert_error(&bad, 400, "10003");
}

async fn duplicate_identifier_is_422_at_identifier(app: TestApp) {
    let first = create(&app, bearer("shared", "first-token")).await;
    for body in [bearer("shared", "second-token"), basic("shared", "u", "p")] {
        let reply = app.post(PATH, &body).await;
        let error = assert_error(&reply, 422, "10016");
        assert_eq!(error["source"]["pointer"], "/identifier");
        assert!(error["detail"].as_str().unwrap().contains("shared"));
    }
    // Identifiers are case-sensitive.
    create(&app, bearer("SHARED", "t")).await;
    let list = app.get(PATH).await;
    assert_eq!(identifiers(&list.body), ["shared", "SHARED"]);
    assert_eq!(list.body["data"][0], first, "the first secret is untouched");
    let org = default_org(&app).await;
    assert_eq!(
        resolve_secret(&app.state, &org, "shared").await.unwrap(),
        Some(SecretValue::Bearer {
            token: "first-token".into()
        })
    );
}

async fn invalid_bodies_point_at_each_field_and_write_nothing(app: TestApp) {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["/identifier", "/type"]),
        (json!({"type": "bearer", "token": "t"}), vec!["/identifier"]),
        (json!({"identifier": "a", "token": "t"}), vec!["/type"]),
        (
            json!({"identifier": "a", "type": "oauth", "token": "t"}),
            vec!["/type"],
        ),
        (json!({"identifier": "a", "type": "bearer"}), vec!["/token"]),
        (
            json!({"identifier": "a", "type": "bearer", "token": ""}),
            vec!["/token"],
        ),
        (
            json!({"identifier": "a", "type": "bearer", "token": 42}),
            vec!["/token"],
        ),
        (
            json!({"identifier": "a", "type": "basic", "token": "t"}),
            vec!["/username", "/password"],
        ),
        (
            json!({"identifier": "a", "type": "basic", "username": "u"}),
            vec!["/password"],
        ),
        (
            json!({"identifier": "a", "type": "basic", "username": null, "password": "p"}),
            vec!["/username"],
        ),
        (
            json!({"identifier": "", "type": "bearer", "token": "t"}),
            vec!["/identifier"],
        ),
        (
            json!({"identifier": "with space", "type": "bearer", "token": "t"}),
            vec!["/identifier"],
        ),
        (
            json!({"identifier": "x".repeat(256), "type": "bearer", "token": "t"}),
            vec!["/identifier"],
        ),
        (
            json!({"identifier": "ünïcode", "type": "bearer", "token": "t"}),
            vec!["/identifier"],
        ),
        (
            json!({"identifier": 5, "type": true, "token": "t"}),
            vec!["/identifier", "/type"],
        ),
        (
            json!({"identifier": "nul\u{0}", "type": "bearer", "token": "t"}),
            vec!["/identifier"],
        ),
        (
            json!({"identifier": "a", "type": "bearer", "token": "to\u{0}ken"}),
            vec!["/token"],
        ),
        (
            json!({"identifier": "a", "type": "basic", "username": "u\u{0}", "password": "p\u{0}"}),
            vec!["/username", "/password"],
        ),
    ];
    for (body, expected) in cases {
        let reply = app.post(PATH, &body).await;
        assert_error(&reply, 422, "10016");
        assert_eq!(pointers(&reply), expected, "body {body}");
    }
    // The longest identifier is fine.
    create(&app, bearer(&"x".repeat(255), "t")).await;

    for raw in ["[1, 2]", "\"text\"", "{not json"] {
        let reply = app
            .http
            .post(app.url(PATH))
            .bearer_auth(&app.key)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_error(&TestApp::reply(reply).await, 400, "10002");
    }
    let list = app.get(PATH).await;
    assert_eq!(
        list.body["meta"]["total_results"], 1,
        "only the valid secret was written"
    );
}

async fn delete_then_404_and_no_retrieve_or_update(app: TestApp) {
    let keep = create(&app, bearer("keep", "k")).await;
    let gone = create(&app, bearer("gone", "g")).await;
    let path = format!("{PATH}/{}", gone["id"].as_str().unwrap());

    // There is no retrieve or update.
    assert_error(&app.get(&path).await, 405, "10011");
    assert_error(&app.post(&path, &json!({"token": "x"})).await, 405, "10011");
    assert_error(
        &app.send(Method::PATCH, &path, Some(&json!({})), Some(&app.key))
            .await,
        405,
        "10011",
    );

    let reply = app.delete(&path).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.body, Value::Null, "204 has no body");
    let again = app.delete(&path).await;
    let error = assert_error(&again, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/id");
    assert!(error["detail"]
        .as_str()
        .unwrap()
        .contains("Integration secret"));
    assert_error(
        &app.delete(&format!("{PATH}/not-an-id")).await,
        404,
        "10005",
    );

    let list = app.get(PATH).await;
    assert_eq!(list.body["data"], json!([keep]));
    let org = default_org(&app).await;
    assert_eq!(
        resolve_secret(&app.state, &org, "gone").await.unwrap(),
        None
    );
    // The identifier is free again.
    create(&app, bearer("gone", "new")).await;
    assert_eq!(
        resolve_secret(&app.state, &org, "gone").await.unwrap(),
        Some(SecretValue::Bearer {
            token: "new".into()
        })
    );
}

async fn organizations_are_isolated(app: TestApp) {
    let mine = create(&app, bearer("api", "mine-token")).await;
    let my_id = mine["id"].as_str().unwrap();
    let (other_key, other_org) = new_org(&app, "other").await;

    let list = app.send(Method::GET, PATH, None, Some(&other_key)).await;
    assert_eq!(
        list.body,
        json!({"data": [], "meta": {"page_number": 1, "page_size": 20, "total_pages": 0, "total_results": 0}})
    );
    let reply = app
        .send(
            Method::DELETE,
            &format!("{PATH}/{my_id}"),
            None,
            Some(&other_key),
        )
        .await;
    let theirs_404 = assert_error(&reply, 404, "10005");
    let missing_404 = assert_error(
        &app.send(
            Method::DELETE,
            &format!("{PATH}/{}", SecretId::generate()),
            None,
            Some(&other_key),
        )
        .await,
        404,
        "10005",
    );
    assert_eq!(
        theirs_404["title"], missing_404["title"],
        "another organization's id looks like a missing one"
    );

    // The same identifier is allowed in another organization, and each sees its own.
    let theirs = create_as(&app, &other_key, bearer("api", "their-token")).await;
    assert_ne!(theirs["id"], mine["id"]);
    assert_eq!(identifiers(&app.get(PATH).await.body), ["api"]);
    assert_eq!(app.get(PATH).await.body["data"][0], mine);
    let their_list = app.send(Method::GET, PATH, None, Some(&other_key)).await;
    assert_eq!(their_list.body["data"], json!([theirs]));

    let org = default_org(&app).await;
    assert_eq!(
        resolve_secret(&app.state, &org, "api").await.unwrap(),
        Some(SecretValue::Bearer {
            token: "mine-token".into()
        })
    );
    assert_eq!(
        resolve_secret(&app.state, &other_org, "api").await.unwrap(),
        Some(SecretValue::Bearer {
            token: "their-token".into()
        })
    );

    // Deleting theirs leaves mine.
    let reply = app
        .send(
            Method::DELETE,
            &format!("{PATH}/{}", theirs["id"].as_str().unwrap()),
            None,
            Some(&other_key),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(PATH).await.body["data"], json!([mine]));
}

async fn values_never_appear_in_any_response(app: TestApp) {
    let token = "tok-Never-Shown-4f1e9a";
    let username = "user-Never-Shown-77";
    let password = "pass-Never-Shown-9b2c";
    let mut bodies: Vec<String> = Vec::new();
    let mut record = |reply: &common::Reply| bodies.push(reply.body.to_string());

    let created = app.post(PATH, &bearer("b", token)).await;
    record(&created);
    record(&app.post(PATH, &basic("c", username, password)).await);
    // A duplicate, and invalid bodies that carry values.
    record(&app.post(PATH, &bearer("b", token)).await);
    record(&app.post(PATH, &basic("c", username, password)).await);
    record(
        &app.post(
            PATH,
            &json!({"identifier": "bad id", "type": "bearer", "token": token}),
        )
        .await,
    );
    record(
        &app.post(
            PATH,
            &json!({"identifier": "n", "type": "basic", "username": format!("{username}\u{0}"), "password": password}),
        )
        .await,
    );
    record(
        &app.post(
            PATH,
            &json!({"identifier": "n", "type": "bearer", "token": format!("{token}\u{0}")}),
        )
        .await,
    );
    // Idempotent create, then its replay.
    for _ in 0..2 {
        let reply = app
            .http
            .post(app.url(PATH))
            .bearer_auth(&app.key)
            .header("idempotency-key", "secret-create-1")
            .json(&bearer("idem", token))
            .send()
            .await
            .unwrap();
        let reply = TestApp::reply(reply).await;
        assert_eq!(reply.status, StatusCode::CREATED);
        record(&reply);
    }
    record(&app.get(PATH).await);
    record(&app.get(&format!("{PATH}?filter[type]=basic")).await);
    let id = created.body["data"]["id"].as_str().unwrap();
    record(&app.get(&format!("{PATH}/{id}")).await);
    record(&app.delete(&format!("{PATH}/{id}")).await);
    assert!(bodies.len() > 10);
    for body in &bodies {
        for value in [token, username, password] {
            assert!(!body.contains(value), "{value} leaked in {body}");
        }
    }
}

/// Every byte of the database (the SQLite file with its WAL, or every row of every
/// PostgreSQL table as text) is free of the values, in clear or in hex.
async fn values_are_encrypted_at_rest(app: TestApp) {
    let token = "tok-AtRest-Plaintext-31c7";
    let password = "pass-AtRest-Plaintext-8d20";
    create(&app, bearer("stored.bearer", token)).await;
    create(&app, basic("stored.basic", "someone", password)).await;
    let needles: Vec<Vec<u8>> = [token, password]
        .iter()
        .flat_map(|v| [v.as_bytes().to_vec(), hex::encode(v).into_bytes()])
        .collect();
    let contains =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    match app.state.settings.database_url.as_deref() {
        None => {
            let dir = &app.state.settings.data_dir;
            let mut all = Vec::new();
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                // parley.db, parley.db-wal, parley.db-shm
                if name.starts_with("parley.db") {
                    all.extend(std::fs::read(&path).unwrap());
                }
            }
            for needle in &needles {
                assert!(!contains(&all, needle), "plaintext in the database files");
            }
            assert!(
                contains(&all, b"stored.bearer"),
                "the scan covers the rows it should"
            );
        }
        Some(url) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let sealed: Vec<Vec<u8>> = client
                .query("select sealed from integration_secrets", &[])
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            assert_eq!(sealed.len(), 2);
            for bytes in &sealed {
                for needle in &needles {
                    assert!(!contains(bytes, needle), "plaintext in a sealed value");
                }
            }
            let tables: Vec<String> = client
                .query(
                    "select table_name::text from information_schema.tables where table_schema = 'public'",
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            let mut all = String::new();
            for table in tables {
                let rows = client
                    .query(&format!("select t::text from \"{table}\" t"), &[])
                    .await
                    .unwrap();
                for row in rows {
                    all.push_str(row.get::<_, &str>(0));
                    all.push('\n');
                }
            }
            for needle in &needles {
                assert!(!contains(all.as_bytes(), needle), "plaintext in a row");
            }
            assert!(all.contains("stored.bearer"), "the scan covers the rows");
        }
    }
}

async fn resolver_returns_values_per_organization(app: TestApp) {
    create(&app, bearer("gh", "ghp_token_1")).await;
    create(&app, basic("jira", "bob", "pa:ss wörd")).await;
    let org = default_org(&app).await;
    let gh = resolve_secret(&app.state, &org, "gh")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        gh,
        SecretValue::Bearer {
            token: "ghp_token_1".into()
        }
    );
    assert_eq!(gh.kind(), SecretKind::Bearer);
    assert_eq!(gh.authorization(), "Bearer ghp_token_1");
    assert!(!format!("{gh:?}").contains("ghp_token_1"));
    let jira = resolve_secret(&app.state, &org, "jira")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        jira,
        SecretValue::Basic {
            username: "bob".into(),
            password: "pa:ss wörd".into()
        }
    );
    assert_eq!(
        resolve_secret(&app.state, &org, "nope").await.unwrap(),
        None
    );
    assert_eq!(resolve_secret(&app.state, &org, "GH").await.unwrap(), None);
    let (_, other) = new_org(&app, "other").await;
    assert_eq!(
        resolve_secret(&app.state, &other, "gh").await.unwrap(),
        None
    );
}

async fn check_refs_exist_points_at_every_missing_ref(app: TestApp) {
    create(&app, bearer("present", "t")).await;
    create(&app, basic("also.present", "u", "p")).await;
    let org = default_org(&app).await;
    let refs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(p, i)| ((*p).to_owned(), (*i).to_owned()))
            .collect()
    };
    check_refs_exist(&app.state, &org, &[]).await.unwrap();
    check_refs_exist(
        &app.state,
        &org,
        &refs(&[
            ("/voice_settings/api_key_ref", "present"),
            ("/tools/0/webhook/headers/0/value", "also.present"),
            ("/tools/1/webhook/headers/0/value", "present"),
        ]),
    )
    .await
    .unwrap();
    let err = check_refs_exist(
        &app.state,
        &org,
        &refs(&[
            ("/voice_settings/api_key_ref", "missing"),
            ("/tools/0/x", "present"),
            ("/tools/1/y", "Present"),
            ("/tools/2/z", "missing"),
        ]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status().as_u16(), 422);
    let envelope = serde_json::to_value(err.envelope()).unwrap();
    let errors = envelope["errors"].as_array().unwrap();
    let got: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["source"]["pointer"].as_str().unwrap(),
                e["detail"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "/voice_settings/api_key_ref",
                "/voice_settings/api_key_ref: integration secret \"missing\" not found"
            ),
            (
                "/tools/1/y",
                "/tools/1/y: integration secret \"Present\" not found"
            ),
            (
                "/tools/2/z",
                "/tools/2/z: integration secret \"missing\" not found"
            ),
        ]
    );
    assert!(errors.iter().all(|e| e["code"] == "10016"));
    // Another organization's secrets do not count.
    let (_, other) = new_org(&app, "other").await;
    assert!(
        check_refs_exist(&app.state, &other, &refs(&[("/a", "present")]))
            .await
            .is_err()
    );
}

async fn a_ciphertext_moved_to_another_row_does_not_open(app: TestApp) {
    create(&app, bearer("origin", "moved-token")).await;
    let org = default_org(&app).await;
    let (_, other) = new_org(&app, "other").await;
    let sealed = app
        .store
        .get_secret_by_identifier(&org, "origin")
        .await
        .unwrap()
        .unwrap()
        .sealed;
    for (target, identifier) in [(&org, "copy"), (&other, "origin")] {
        let outcome = app
            .store
            .create_secret(
                target,
                NewSecretRecord {
                    id: SecretId::generate(),
                    identifier: identifier.into(),
                    kind: SecretKind::Bearer,
                    sealed: sealed.clone(),
                },
                app.clock.now(),
            )
            .await
            .unwrap();
        assert!(matches!(outcome, CreateSecretOutcome::Created(_)));
        let err = resolve_secret(&app.state, target, identifier)
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), 500);
        assert!(!err.to_string().contains("moved-token"), "{err}");
    }
    assert!(resolve_secret(&app.state, &org, "origin").await.is_ok());
}

async fn with_configured_master_key(backend: Backend) {
    let key = MasterKey::generate();
    let configured = key.clone();
    let app = TestApp::spawn_with(backend, Arc::new(parley_core::clock::SystemClock), |s| {
        s.master_key = Some(configured);
    })
    .await;
    create(&app, bearer("k", "value-under-configured-key")).await;
    assert!(
        !app.state.settings.data_dir.join(MASTER_KEY_FILE).exists(),
        "no key file is written when the key is configured"
    );
    let org = default_org(&app).await;
    let sealed = app
        .store
        .get_secret_by_identifier(&org, "k")
        .await
        .unwrap()
        .unwrap()
        .sealed;
    let opened = parley_core::secrets::SecretCipher::new(&key)
        .open(&org, "k", &sealed)
        .unwrap();
    assert_eq!(opened["token"], "value-under-configured-key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_master_key_is_used_sqlite() {
    with_configured_master_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_master_key_is_used_postgres() {
    with_configured_master_key(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_key_file_is_private() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let path = app.state.settings.data_dir.join(MASTER_KEY_FILE);
    let text = std::fs::read_to_string(&path).expect("master.key written at first start");
    assert!(MasterKey::parse(&text).is_ok());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
