//! Versions, promotion, retention, canary deploys and TeXML, on SQLite and on PostgreSQL.

mod common;

use common::{assert_error, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    versions_are_listed_retrieved_and_scoped,
    drafts_are_edited_in_place_main_is_not,
    promote_makes_main_and_removes_the_canary,
    retention_keeps_ten_versions_never_main_nor_canary_served,
    canary_deploys_are_validated_saved_and_removed,
    texml_connects_a_call_to_the_assistant,
);

async fn assistant(app: &TestApp, name: &str) -> (String, Value) {
    let created = app
        .create_assistant(json!({"name": name, "instructions": "v1"}))
        .await;
    (created["id"].as_str().unwrap().to_owned(), created)
}

async fn draft(app: &TestApp, id: &str, instructions: &str) -> String {
    let reply = app
        .post(&format!("/v2/ai/assistants/{id}"), &json!({"instructions": instructions, "promote_to_main": false, "version_name": instructions}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["version_id"].as_str().unwrap().to_owned()
}

async fn versions_are_listed_retrieved_and_scoped(app: TestApp) {
    let (id, created) = assistant(&app, "Versioned").await;
    let v2 = app
        .post(
            &format!("/v2/ai/assistants/{id}"),
            &json!({"instructions": "v2", "version_name": "second"}),
        )
        .await
        .body;
    let v3 = draft(&app, &id, "v3").await;
    let list = app.get(&format!("/v2/ai/assistants/{id}/versions")).await;
    assert_eq!(list.status, StatusCode::OK);
    let data = list.body["data"].as_array().unwrap();
    let ids: Vec<&str> = data
        .iter()
        .map(|v| v["version_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            v3.as_str(),
            v2["version_id"].as_str().unwrap(),
            created["version_id"].as_str().unwrap()
        ]
    );
    assert_eq!(data[0]["instructions"], "v3");
    assert_eq!(data[1]["version_name"], "second");
    assert_eq!(data[2]["instructions"], "v1");
    assert!(data
        .iter()
        .all(|v| v["id"] == id.as_str() && v["version_created_at"].is_string()));

    let one = app
        .get(&format!(
            "/v2/ai/assistants/{id}/versions/{}",
            created["version_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body, created);
    let error = assert_error(
        &app.get(&format!("/v2/ai/assistants/{id}/versions/version-nope"))
            .await,
        404,
        "10005",
    );
    assert_eq!(error["source"]["pointer"], "/version_id");
    // A version of another assistant is not a version of this one.
    let (other, _) = assistant(&app, "Other").await;
    assert_error(
        &app.get(&format!("/v2/ai/assistants/{other}/versions/{v3}"))
            .await,
        404,
        "10005",
    );
    assert_error(
        &app.delete(&format!("/v2/ai/assistants/{other}/versions/{v3}"))
            .await,
        404,
        "10005",
    );
    assert_error(
        &app.post(
            &format!("/v2/ai/assistants/{other}/versions/{v3}/promote"),
            &json!({}),
        )
        .await,
        404,
        "10005",
    );
    // Nor of another organization's.
    let stranger = app.key_for_new_org("stranger").await;
    let reply = app
        .send(
            Method::GET,
            &format!("/v2/ai/assistants/{id}/versions"),
            None,
            Some(&stranger),
        )
        .await;
    let error = assert_error(&reply, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/assistant_id");
    let reply = app
        .send(
            Method::GET,
            &format!("/v2/ai/assistants/{id}/versions/{v3}"),
            None,
            Some(&stranger),
        )
        .await;
    assert_error(&reply, 404, "10005");
    assert_error(
        &app.get("/v2/ai/assistants/assistant-nope/versions").await,
        404,
        "10005",
    );
    assert_error(
        &app.get(&format!(
            "/v2/ai/assistants/{id}/versions/{v3}?include_mcp_servers=perhaps"
        ))
        .await,
        400,
        "10003",
    );
}

async fn drafts_are_edited_in_place_main_is_not(app: TestApp) {
    let (id, created) = assistant(&app, "Drafty").await;
    let v2 = draft(&app, &id, "v2").await;
    let edited = app
        .post(
            &format!("/v2/ai/assistants/{id}/versions/{v2}"),
            &json!({"greeting": "Hello", "version_name": "Edited draft"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(edited.body["version_id"], v2.as_str());
    assert_eq!(edited.body["greeting"], "Hello");
    assert_eq!(edited.body["instructions"], "v2");
    assert_eq!(edited.body["version_name"], "Edited draft");
    assert_eq!(
        app.get(&format!("/v2/ai/assistants/{id}/versions/{v2}"))
            .await
            .body,
        edited.body
    );
    // The live assistant did not move.
    assert_eq!(
        app.get(&format!("/v2/ai/assistants/{id}")).await.body,
        created
    );
    let main = created["version_id"].as_str().unwrap();
    let error = assert_error(
        &app.post(
            &format!("/v2/ai/assistants/{id}/versions/{main}"),
            &json!({"greeting": "x"}),
        )
        .await,
        400,
        "10018",
    );
    assert!(error["detail"].as_str().unwrap().contains("main"));
    assert_error(
        &app.post(
            &format!("/v2/ai/assistants/{id}/versions/{v2}"),
            &json!({"name": 5}),
        )
        .await,
        422,
        "10016",
    );
    assert_error(
        &app.delete(&format!("/v2/ai/assistants/{id}/versions/{main}"))
            .await,
        400,
        "10018",
    );
    let deleted = app
        .delete(&format!("/v2/ai/assistants/{id}/versions/{v2}"))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get(&format!("/v2/ai/assistants/{id}/versions/{v2}"))
            .await,
        404,
        "10005",
    );
    assert_error(
        &app.delete(&format!("/v2/ai/assistants/{id}/versions/{v2}"))
            .await,
        404,
        "10005",
    );
}

async fn promote_makes_main_and_removes_the_canary(app: TestApp) {
    let (id, created) = assistant(&app, "Promoted").await;
    let v2 = draft(&app, &id, "v2").await;
    let canary = app
        .post(
            &format!("/v2/ai/assistants/{id}/canary-deploys"),
            &json!({"rules": [{"serve": {"rollout": [{"version_id": v2, "weight": 10}]}}]}),
        )
        .await;
    assert_eq!(canary.status, StatusCode::OK, "{}", canary.body);
    let promoted = app
        .post(
            &format!("/v2/ai/assistants/{id}/versions/{v2}/promote"),
            &json!({}),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.body["version_id"], v2.as_str());
    assert_eq!(promoted.body["instructions"], "v2");
    let live = app.get(&format!("/v2/ai/assistants/{id}")).await.body;
    assert_eq!(live["version_id"], v2.as_str());
    assert_error(
        &app.get(&format!("/v2/ai/assistants/{id}/canary-deploys"))
            .await,
        404,
        "10005",
    );
    // The old main is now a draft: editable and deletable.
    let old = created["version_id"].as_str().unwrap();
    assert_eq!(
        app.post(
            &format!("/v2/ai/assistants/{id}/versions/{old}"),
            &json!({"greeting": "old"})
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("/v2/ai/assistants/{id}/versions/{old}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &app.post(
            &format!("/v2/ai/assistants/{id}/versions/version-nope/promote"),
            &json!({}),
        )
        .await,
        404,
        "10005",
    );
}

async fn retention_keeps_ten_versions_never_main_nor_canary_served(app: TestApp) {
    let (id, created) = assistant(&app, "Retained").await;
    let first = created["version_id"].as_str().unwrap().to_owned();
    let second = draft(&app, &id, "draft-2").await;
    app.post(
        &format!("/v2/ai/assistants/{id}/canary-deploys"),
        &json!({"rules": [{"serve": {"version_id": second}}]}),
    )
    .await;
    let mut written = vec![first.clone(), second.clone()];
    for n in 3..=14 {
        written.push(draft(&app, &id, &format!("draft-{n}")).await);
    }
    let kept: Vec<String> = app
        .get(&format!("/v2/ai/assistants/{id}/versions"))
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kept.len(), 10, "{kept:?}");
    assert!(kept.contains(&first), "main is never pruned");
    assert!(
        kept.contains(&second),
        "a canary-served version is never pruned"
    );
    // The eight newest drafts are kept; drafts 3..=6 (the oldest unprotected) were pruned.
    for newest in &written[6..] {
        assert!(kept.contains(newest));
    }
    for pruned in &written[2..6] {
        assert!(!kept.contains(pruned));
        assert_error(
            &app.get(&format!("/v2/ai/assistants/{id}/versions/{pruned}"))
                .await,
            404,
            "10005",
        );
    }
}

async fn canary_deploys_are_validated_saved_and_removed(app: TestApp) {
    let (id, created) = assistant(&app, "Canary").await;
    let path = format!("/v2/ai/assistants/{id}/canary-deploys");
    let error = assert_error(&app.get(&path).await, 404, "10005");
    assert!(error["detail"].as_str().unwrap().contains("Canary"));
    let v2 = draft(&app, &id, "v2").await;
    let v3 = draft(&app, &id, "v3").await;
    let cases = vec![
        (json!({"rules": []}), "/rules"),
        (json!({"rules": [{"serve": {}}]}), "/rules/0/serve"),
        (
            json!({"rules": [{"serve": {"rollout": [{"version_id": v2, "weight": 101}]}}]}),
            "/rules/0/serve/rollout/0/weight",
        ),
        (
            json!({"rules": [{"serve": {"rollout": [{"version_id": v2, "weight": 60}, {"version_id": v3, "weight": 41}]}}]}),
            "/rules/0/serve/rollout",
        ),
        (
            json!({"rules": [{"serve": {"rollout": [{"version_id": v2, "weight": -1}]}}]}),
            "/rules/0/serve/rollout/0/weight",
        ),
        (
            json!({"rules": [{"match": [{"attribute": "x", "operator": "equals", "values": ["a"]}], "serve": {"version_id": v2}}]}),
            "/rules/0/match/0/operator",
        ),
        (
            json!({"rules": [{"serve": {"version_id": "version-unknown"}}]}),
            "/rules/0/serve/version_id",
        ),
        (
            json!({"rules": [{"serve": {"version_id": v2}}, {"serve": {"rollout": [{"version_id": "version-gone", "weight": 5}]}}]}),
            "/rules/1/serve/rollout/0/version_id",
        ),
    ];
    for (body, pointer) in cases {
        let reply = app.post(&path, &body).await;
        assert_eq!(reply.status.as_u16(), 422, "{body}: {}", reply.body);
        let pointers: Vec<&str> = reply.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["source"]["pointer"].as_str())
            .collect();
        assert!(pointers.contains(&pointer), "{body} -> {pointers:?}");
    }
    assert_error(&app.get(&path).await, 404, "10005");

    let rules = json!([
        {"match": [{"attribute": "telnyx_end_user_target", "operator": "starts_with", "values": ["+44"]}], "serve": {"version_id": v3}},
        {"serve": {"rollout": [{"version_id": v2, "weight": 25}]}}
    ]);
    let saved = app.post(&path, &json!({"rules": rules})).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["assistant_id"], id.as_str());
    assert_eq!(saved.body["rules"], rules);
    assert_eq!(saved.body["created_at"], saved.body["updated_at"]);
    assert_eq!(app.get(&path).await.body, saved.body);
    // Versions the canary serves cannot be deleted.
    assert_error(
        &app.delete(&format!("/v2/ai/assistants/{id}/versions/{v2}"))
            .await,
        400,
        "10018",
    );
    // PUT replaces all rules; created_at stays.
    let replaced = app
        .send(
            Method::PUT,
            &path,
            Some(&json!({"rules": [{"serve": {"version_id": v3}}]})),
            Some(&app.key),
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(
        replaced.body["rules"],
        json!([{"serve": {"version_id": v3}}])
    );
    assert_eq!(replaced.body["created_at"], saved.body["created_at"]);
    assert_eq!(
        app.delete(&format!("/v2/ai/assistants/{id}/versions/{v2}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // The live assistant is untouched by canary changes.
    assert_eq!(
        app.get(&format!("/v2/ai/assistants/{id}")).await.body["version_id"],
        created["version_id"]
    );
    // Another organization sees none of it.
    let stranger = app.key_for_new_org("canary-stranger").await;
    assert_error(
        &app.send(Method::GET, &path, None, Some(&stranger)).await,
        404,
        "10005",
    );
    assert_error(
        &app.send(Method::DELETE, &path, None, Some(&stranger)).await,
        404,
        "10005",
    );
    assert_error(
        &app.send(
            Method::POST,
            &path,
            Some(&json!({"rules": [{"serve": {"version_id": v3}}]})),
            Some(&stranger),
        )
        .await,
        404,
        "10005",
    );
    let removed = app.delete(&path).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&path).await, 404, "10005");
    assert_error(&app.delete(&path).await, 404, "10005");
    assert_error(
        &app.post(
            "/v2/ai/assistants/assistant-nope/canary-deploys",
            &json!({"rules": [{"serve": {"version_id": v3}}]}),
        )
        .await,
        404,
        "10005",
    );
}

async fn texml_connects_a_call_to_the_assistant(app: TestApp) {
    let (id, _) = assistant(&app, "Caller").await;
    let reply = app.get(&format!("/v2/ai/assistants/{id}/texml")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    let xml = reply.body.as_str().unwrap();
    assert_eq!(
        xml,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><AIAssistant id=\"{id}\"/></Connect></Response>")
    );
    assert_error(
        &app.get("/v2/ai/assistants/assistant-nope/texml").await,
        404,
        "10005",
    );
}
