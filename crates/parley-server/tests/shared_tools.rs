//! Shared tools (`/ai/tools`) and attaching them to assistants, end to end over HTTP, on
//! SQLite and on PostgreSQL.

mod common;

use common::{assert_error, Backend, TestApp};
use parley_core::ids::{AssistantId, OrgId};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_backends!(
    create_retrieve_update_delete,
    create_and_patch_validation_point_at_the_field,
    list_is_paginated_and_filtered,
    attach_and_detach_write_versions_and_render_shared_tools,
    tool_ids_on_create_and_update_replace_the_attached_set,
    a_patch_reaches_every_assistant_using_the_tool,
    single_instance_types_count_inline_and_shared_tools,
    unknown_tool_ids_are_422_with_a_pointer,
    organizations_cannot_see_or_use_each_others_tools,
    deleting_a_tool_detaches_it_everywhere,
    resolve_tools_lists_inline_then_current_shared_definitions,
    create_honours_idempotency_keys,
);

const TOOLS: &str = "/v2/ai/tools";
const ASSISTANTS: &str = "/v2/ai/assistants";

fn tool_path(id: &str) -> String {
    format!("{TOOLS}/{id}")
}

fn attach_path(assistant: &str, tool: &str) -> String {
    format!("{ASSISTANTS}/{assistant}/tools/{tool}")
}

fn webhook_body(display_name: &str, url: &str) -> Value {
    json!({"display_name": display_name, "type": "webhook",
           "webhook": {"name": "lookup", "description": "Looks things up", "url": url}})
}

async fn patch(app: &TestApp, path: &str, body: &Value) -> common::Reply {
    app.send(Method::PATCH, path, Some(body), Some(&app.key))
        .await
}

async fn put(app: &TestApp, path: &str) -> common::Reply {
    app.send(Method::PUT, path, None, Some(&app.key)).await
}

/// Creates a shared tool and returns its wire object.
async fn create_tool(app: &TestApp, body: Value) -> Value {
    let reply = app.post(TOOLS, &body).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "tool create failed: {}",
        reply.body
    );
    reply.body
}

async fn tool_id(app: &TestApp, body: Value) -> String {
    create_tool(app, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
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
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array: {list}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `(shared, id-or-type)` of each tool of an assistant object, in order.
fn tool_summary(assistant: &Value) -> Vec<(bool, String)> {
    assistant["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {assistant}"))
        .iter()
        .map(|t| {
            let shared = t["shared"].as_bool().expect("every tool says shared");
            let label = if shared {
                t["id"].as_str().unwrap().to_owned()
            } else {
                t["type"].as_str().unwrap().to_owned()
            };
            (shared, label)
        })
        .collect()
}

async fn default_org(app: &TestApp) -> OrgId {
    app.store
        .ensure_organization("default", app.clock.now())
        .await
        .unwrap()
        .id
}

async fn create_retrieve_update_delete(app: TestApp) {
    let created = create_tool(
        &app,
        json!({"display_name": "Weather", "type": "webhook", "timeout_ms": 4000, "id": "ignored",
               "webhook": {"name": "weather", "description": "Looks up the weather",
                           "url": "https://api.example.com/weather", "method": "GET"}}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tool-"), "{id}");
    assert_eq!(
        keys(&created),
        [
            "created_at",
            "display_name",
            "id",
            "timeout_ms",
            "tool_definition",
            "type"
        ]
    );
    assert_eq!(created["type"], "webhook");
    assert_eq!(created["display_name"], "Weather");
    assert_eq!(created["timeout_ms"], 4000);
    assert_eq!(
        created["tool_definition"],
        json!({"type": "webhook", "timeout_ms": 4000,
               "webhook": {"name": "weather", "description": "Looks up the weather",
                           "url": "https://api.example.com/weather", "method": "GET"}})
    );
    let fetched = app.get(&tool_path(&id)).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, created, "retrieve is bare and equal");

    // PATCH: sent fields change, null clears the timeout, the rest stays.
    let renamed = patch(
        &app,
        &tool_path(&id),
        &json!({"display_name": "Forecast", "timeout_ms": null}),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["display_name"], "Forecast");
    assert!(renamed.body.get("timeout_ms").is_none(), "unset is omitted");
    assert!(renamed.body["tool_definition"].get("timeout_ms").is_none());
    assert_eq!(
        renamed.body["tool_definition"]["webhook"],
        created["tool_definition"]["webhook"]
    );
    assert_eq!(renamed.body["created_at"], created["created_at"]);

    // A sent configuration replaces the old one; the type may be repeated.
    let replaced = patch(
        &app,
        &tool_path(&id),
        &json!({"type": "webhook", "webhook": {"name": "forecast", "description": "d", "url": "https://new.example"}}),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(
        replaced.body["tool_definition"],
        json!({"type": "webhook", "webhook": {"name": "forecast", "description": "d", "url": "https://new.example"}})
    );
    assert_eq!(app.get(&tool_path(&id)).await.body, replaced.body);

    // An empty PATCH changes nothing.
    let same = patch(&app, &tool_path(&id), &json!({})).await;
    assert_eq!(same.body, replaced.body);

    // Delete: 200 with no body, then gone.
    let deleted = app.delete(&tool_path(&id)).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body, Value::Null);
    let error = assert_error(&app.get(&tool_path(&id)).await, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/tool_id");
    assert_error(&app.delete(&tool_path(&id)).await, 404, "10005");
    assert_error(
        &patch(&app, &tool_path(&id), &json!({"display_name": "x"})).await,
        404,
        "10005",
    );
    // POST on a tool and PUT on the collection are not routes of this resource.
    let reply = app
        .send(Method::PUT, TOOLS, Some(&json!({})), Some(&app.key))
        .await;
    assert_eq!(reply.status.as_u16(), 405);
}

async fn create_and_patch_validation_point_at_the_field(app: TestApp) {
    let cases = [
        (json!({"type": "hangup"}), "/display_name"),
        (
            json!({"display_name": "", "type": "hangup"}),
            "/display_name",
        ),
        (json!({"display_name": "x"}), "/type"),
        (json!({"display_name": "x", "type": "teleport"}), "/type"),
        (
            json!({"display_name": "x", "type": "webhook"}),
            "/webhook/url",
        ),
        (
            json!({"display_name": "x", "type": "webhook", "function": {"name": "f"}}),
            "/function",
        ),
        (
            json!({"display_name": "x", "type": "hangup", "timeout_ms": -5}),
            "/timeout_ms",
        ),
        (
            json!({"display_name": "x", "type": "pay", "pay": {"connector_name": "c", "valid_card_types": ["monopoly"]}}),
            "/pay/valid_card_types/0",
        ),
    ];
    for (body, pointer) in cases {
        let reply = app.post(TOOLS, &body).await;
        let error = assert_error(&reply, 422, "10016");
        let pointers: Vec<&str> = reply.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["source"]["pointer"].as_str())
            .collect();
        assert!(pointers.contains(&pointer), "{body}: {pointers:?} {error}");
    }
    assert_error(&app.post(TOOLS, &json!([1, 2])).await, 400, "10002");

    // Every known type is accepted with a valid configuration.
    let hangup = tool_id(&app, json!({"display_name": "Bye", "type": "hangup"})).await;
    let function = tool_id(
        &app,
        json!({"display_name": "Fn", "type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}),
    )
    .await;
    for (id, body, pointer) in [
        (&hangup, json!({"type": "webhook"}), "/type"),
        (&hangup, json!({"function": {"name": "f"}}), "/function"),
        (&hangup, json!({"display_name": null}), "/display_name"),
        (
            &function,
            json!({"function": {"description": "no name"}}),
            "/function/name",
        ),
        (&function, json!({"timeout_ms": "soon"}), "/timeout_ms"),
    ] {
        let reply = patch(&app, &tool_path(id), &body).await;
        let error = assert_error(&reply, 422, "10016");
        assert_eq!(
            error["source"]["pointer"], pointer,
            "{body}: {}",
            reply.body
        );
    }
    assert_eq!(
        app.get(&tool_path(&function)).await.body["tool_definition"],
        json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}),
        "refused updates wrote nothing"
    );
}

async fn list_is_paginated_and_filtered(app: TestApp) {
    let a = tool_id(&app, webhook_body("Weather lookup", "https://w.example")).await;
    let b = tool_id(
        &app,
        json!({"display_name": "Order LOOKUP", "type": "function", "function": {"name": "order"}}),
    )
    .await;
    let c = tool_id(&app, json!({"display_name": "Hang up", "type": "hangup"})).await;

    let all = app.get(TOOLS).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(ids(&all.body), [a.clone(), b.clone(), c.clone()]);
    assert_eq!(
        all.body["meta"],
        json!({"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 3})
    );
    let page1 = app.get(&format!("{TOOLS}?page[size]=2")).await;
    assert_eq!(ids(&page1.body), [a.clone(), b.clone()]);
    assert_eq!(
        page1.body["meta"],
        json!({"page_number": 1, "page_size": 2, "total_pages": 2, "total_results": 3})
    );
    // Bracketed names arrive percent-encoded from the SDK.
    let page2 = app
        .get(&format!("{TOOLS}?page%5Bnumber%5D=2&page%5Bsize%5D=2"))
        .await;
    assert_eq!(ids(&page2.body), vec![c.clone()]);
    assert_eq!(page2.body["meta"]["page_number"], 2);
    let past = app
        .get(&format!("{TOOLS}?page[number]=3&page[size]=2"))
        .await;
    assert_eq!(ids(&past.body), Vec::<String>::new());
    assert_error(
        &app.get(&format!("{TOOLS}?page[size]=101")).await,
        400,
        "10003",
    );

    let by_name = app.get(&format!("{TOOLS}?filter%5Bname%5D=lookup")).await;
    assert_eq!(
        ids(&by_name.body),
        [a.clone(), b.clone()],
        "part of the name, any case"
    );
    assert_eq!(by_name.body["meta"]["total_results"], 2);
    let by_type = app.get(&format!("{TOOLS}?filter[type]=hangup")).await;
    assert_eq!(ids(&by_type.body), vec![c.clone()]);
    let both = app
        .get(&format!(
            "{TOOLS}?filter[name]=LOOKUP&filter[type]=function"
        ))
        .await;
    assert_eq!(ids(&both.body), vec![b.clone()]);
    let none = app.get(&format!("{TOOLS}?filter[type]=Hangup")).await;
    assert_eq!(
        ids(&none.body),
        Vec::<String>::new(),
        "type matches exactly"
    );
    assert_eq!(none.body["meta"]["total_results"], 0);
}

async fn attach_and_detach_write_versions_and_render_shared_tools(app: TestApp) {
    let hook = tool_id(&app, webhook_body("Hook", "https://hook.example")).await;
    let bye = tool_id(&app, json!({"display_name": "Bye", "type": "hangup"})).await;
    let assistant = app
        .create_assistant(json!({"name": "Attach", "instructions": "x",
                                 "tools": [{"type": "hangup", "hangup": {}}]}))
        .await;
    let id = assistant["id"].as_str().unwrap().to_owned();
    let first_version = assistant["version_id"].clone();

    let attached = put(&app, &attach_path(&id, &hook)).await;
    assert_eq!(attached.status, StatusCode::OK, "{}", attached.body);
    assert_eq!(
        attached.body["id"],
        id.as_str(),
        "answers with the assistant"
    );
    assert_ne!(attached.body["version_id"], first_version, "a new version");
    assert_eq!(
        tool_summary(&attached.body),
        [(false, "hangup".to_owned()), (true, hook.clone())]
    );
    assert_eq!(
        attached.body["tools"][1],
        json!({"type": "webhook", "shared": true, "id": hook,
               "webhook": {"name": "lookup", "description": "Looks things up", "url": "https://hook.example"}})
    );
    assert!(
        attached.body.get("tool_ids").is_none(),
        "tool_ids is request-only"
    );
    let fetched = app.get(&format!("{ASSISTANTS}/{id}")).await;
    assert_eq!(fetched.body, attached.body);
    let versions = app.get(&format!("{ASSISTANTS}/{id}/versions")).await;
    let versions = versions.body["data"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 2);
    assert_eq!(tool_summary(&versions[1]), [(false, "hangup".to_owned())]);

    // Attaching again is a no-op.
    let again = put(&app, &attach_path(&id, &hook)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["version_id"], attached.body["version_id"]);

    // A second hangup (the inline one counts) is refused.
    let error = assert_error(&put(&app, &attach_path(&id, &bye)).await, 400, "10015");
    assert_eq!(error["source"]["pointer"], "/tool_id");

    // Missing tool, missing assistant.
    let error = assert_error(
        &put(&app, &attach_path(&id, "tool-missing")).await,
        404,
        "10005",
    );
    assert_eq!(error["source"]["pointer"], "/tool_id");
    let error = assert_error(
        &put(&app, &attach_path("assistant-missing", &hook)).await,
        404,
        "10005",
    );
    assert_eq!(error["source"]["pointer"], "/assistant_id");

    // Detach: a new version without it; again: unchanged; unknown: 404.
    let detached = app.delete(&attach_path(&id, &hook)).await;
    assert_eq!(detached.status, StatusCode::OK, "{}", detached.body);
    assert_eq!(tool_summary(&detached.body), [(false, "hangup".to_owned())]);
    assert_ne!(detached.body["version_id"], attached.body["version_id"]);
    let unchanged = app.delete(&attach_path(&id, &hook)).await;
    assert_eq!(unchanged.status, StatusCode::OK);
    assert_eq!(unchanged.body["version_id"], detached.body["version_id"]);
    assert_error(
        &app.delete(&attach_path(&id, "tool-missing")).await,
        404,
        "10005",
    );

    // Dropping the inline hangup makes room for the shared one.
    let updated = app
        .post(&format!("{ASSISTANTS}/{id}"), &json!({"tools": []}))
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    let attached = put(&app, &attach_path(&id, &bye)).await;
    assert_eq!(attached.status, StatusCode::OK, "{}", attached.body);
    assert_eq!(tool_summary(&attached.body), [(true, bye.clone())]);
}

async fn tool_ids_on_create_and_update_replace_the_attached_set(app: TestApp) {
    let a = tool_id(&app, webhook_body("A", "https://a.example")).await;
    let b = tool_id(&app, webhook_body("B", "https://b.example")).await;
    let created = app
        .create_assistant(json!({"name": "Ids", "instructions": "x",
                                 "tools": [{"type": "hangup", "hangup": {}}],
                                 "tool_ids": [b, a, b]}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        tool_summary(&created),
        [
            (false, "hangup".to_owned()),
            (true, b.clone()),
            (true, a.clone())
        ],
        "inline first, then shared in tool_ids order, each once"
    );
    assert!(created.get("tool_ids").is_none());
    let listed = app.get(ASSISTANTS).await;
    let in_list = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(in_list, created, "the list renders shared tools too");

    let path = format!("{ASSISTANTS}/{id}");
    // Omitted: unchanged. `tools`: the inline tools only.
    let greeted = app.post(&path, &json!({"greeting": "hi"})).await;
    assert_eq!(tool_summary(&greeted.body), tool_summary(&created));
    let inline_gone = app.post(&path, &json!({"tools": []})).await;
    assert_eq!(
        tool_summary(&inline_gone.body),
        [(true, b.clone()), (true, a.clone())]
    );
    // Sent: replaces the attached set.
    let replaced = app.post(&path, &json!({"tool_ids": [a]})).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(tool_summary(&replaced.body), [(true, a.clone())]);
    let emptied = app.post(&path, &json!({"tool_ids": []})).await;
    assert_eq!(tool_summary(&emptied.body), Vec::<(bool, String)>::new());
    let again = app.post(&path, &json!({"tool_ids": [b]})).await;
    assert_eq!(tool_summary(&again.body), [(true, b.clone())]);
    let cleared = app.post(&path, &json!({"tool_ids": null})).await;
    assert_eq!(tool_summary(&cleared.body), Vec::<(bool, String)>::new());

    // A clone keeps the shared tools; a draft version can carry its own set.
    app.post(&path, &json!({"tool_ids": [a]})).await;
    let clone = app.post(&format!("{path}/clone"), &json!({})).await;
    assert_eq!(tool_summary(&clone.body), [(true, a.clone())]);
    let draft = app
        .post(&path, &json!({"tool_ids": [b], "promote_to_main": false}))
        .await;
    assert_eq!(draft.status, StatusCode::OK);
    let version = draft.body["version_id"].as_str().unwrap().to_owned();
    let main = app.get(&path).await;
    assert_eq!(tool_summary(&main.body), [(true, a.clone())]);
    let draft_view = app.get(&format!("{path}/versions/{version}")).await;
    assert_eq!(tool_summary(&draft_view.body), [(true, b.clone())]);
    let edited = app
        .post(
            &format!("{path}/versions/{version}"),
            &json!({"tool_ids": [a, b]}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(
        tool_summary(&edited.body),
        [(true, a.clone()), (true, b.clone())]
    );
}

async fn a_patch_reaches_every_assistant_using_the_tool(app: TestApp) {
    let hook = tool_id(&app, webhook_body("Hook", "https://old.example")).await;
    let first = app
        .create_assistant(json!({"name": "One", "instructions": "x", "tool_ids": [hook]}))
        .await;
    let second = app
        .create_assistant(json!({"name": "Two", "instructions": "x"}))
        .await;
    let second_id = second["id"].as_str().unwrap();
    put(&app, &attach_path(second_id, &hook)).await;

    let patched = patch(
        &app,
        &tool_path(&hook),
        &json!({"timeout_ms": 2500, "webhook": {"name": "lookup", "description": "New", "url": "https://new.example"}}),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    for id in [first["id"].as_str().unwrap(), second_id] {
        let got = app.get(&format!("{ASSISTANTS}/{id}")).await;
        assert_eq!(
            got.body["tools"],
            json!([{"type": "webhook", "shared": true, "id": hook, "timeout_ms": 2500,
                    "webhook": {"name": "lookup", "description": "New", "url": "https://new.example"}}]),
            "assistant {id} sees the new definition"
        );
    }
    // Older versions read the live definition too.
    let versions = app.get(&format!("{ASSISTANTS}/{second_id}/versions")).await;
    let latest = &versions.body["data"][0];
    assert_eq!(latest["tools"][0]["webhook"]["url"], "https://new.example");
}

async fn single_instance_types_count_inline_and_shared_tools(app: TestApp) {
    let bye = tool_id(&app, json!({"display_name": "Bye", "type": "hangup"})).await;
    let bye2 = tool_id(&app, json!({"display_name": "Bye 2", "type": "hangup"})).await;
    let hook = tool_id(&app, webhook_body("Hook", "https://hook.example")).await;

    // Create: inline hangup + shared hangup.
    let reply = app
        .post(
            ASSISTANTS,
            &json!({"name": "Dup", "instructions": "x",
                    "tools": [{"type": "hangup", "hangup": {}}], "tool_ids": [hook, bye]}),
        )
        .await;
    let error = assert_error(&reply, 400, "10015");
    assert_eq!(error["source"]["pointer"], "/tool_ids/1");
    // Create: two shared hangups.
    let reply = app
        .post(
            ASSISTANTS,
            &json!({"name": "Dup", "instructions": "x", "tool_ids": [bye, bye2]}),
        )
        .await;
    let error = assert_error(&reply, 400, "10015");
    assert_eq!(error["source"]["pointer"], "/tool_ids/1");
    // Webhooks stack.
    let hook2 = tool_id(&app, webhook_body("Hook 2", "https://hook2.example")).await;
    let ok = app
        .create_assistant(json!({"name": "Ok", "instructions": "x",
                                 "tools": [{"type": "webhook", "webhook": {"name": "w", "description": "d", "url": "https://w.example"}}],
                                 "tool_ids": [hook, hook2, bye]}))
        .await;
    let id = ok["id"].as_str().unwrap();
    let path = format!("{ASSISTANTS}/{id}");

    // Update: an inline hangup on top of the shared one, or the other shared one.
    let reply = app
        .post(&path, &json!({"tools": [{"type": "hangup", "hangup": {}}]}))
        .await;
    assert_error(&reply, 400, "10015");
    let reply = app.post(&path, &json!({"tool_ids": [bye, bye2]})).await;
    assert_error(&reply, 400, "10015");
    // A version edit is checked the same way.
    let draft = app
        .post(
            &path,
            &json!({"greeting": "draft", "promote_to_main": false}),
        )
        .await;
    let version = draft.body["version_id"].as_str().unwrap();
    let reply = app
        .post(
            &format!("{path}/versions/{version}"),
            &json!({"tools": [{"type": "hangup", "hangup": {}}]}),
        )
        .await;
    assert_error(&reply, 400, "10015");
    // Swapping the shared hangup for an inline one in one update is fine.
    let swapped = app
        .post(
            &path,
            &json!({"tools": [{"type": "hangup", "hangup": {}}], "tool_ids": [hook]}),
        )
        .await;
    assert_eq!(swapped.status, StatusCode::OK, "{}", swapped.body);
    assert_eq!(
        tool_summary(&swapped.body),
        [(false, "hangup".to_owned()), (true, hook.clone())]
    );
}

async fn unknown_tool_ids_are_422_with_a_pointer(app: TestApp) {
    let hook = tool_id(&app, webhook_body("Hook", "https://hook.example")).await;
    let reply = app
        .post(
            ASSISTANTS,
            &json!({"name": "Unknown", "instructions": "x", "tool_ids": [hook, "tool-nope"]}),
        )
        .await;
    let error = assert_error(&reply, 422, "10016");
    assert_eq!(error["source"]["pointer"], "/tool_ids/1");
    assert!(error["detail"].as_str().unwrap().contains("tool-nope"));
    let reply = app
        .post(
            ASSISTANTS,
            &json!({"name": "Unknown", "instructions": "x", "tool_ids": [""]}),
        )
        .await;
    assert_error(&reply, 422, "10016");

    let assistant = app
        .create_assistant(json!({"name": "Known", "instructions": "x", "tool_ids": [hook]}))
        .await;
    let id = assistant["id"].as_str().unwrap();
    let reply = app
        .post(
            &format!("{ASSISTANTS}/{id}"),
            &json!({"tool_ids": ["tool-gone", hook]}),
        )
        .await;
    let error = assert_error(&reply, 422, "10016");
    assert_eq!(error["source"]["pointer"], "/tool_ids/0");
    let reply = app
        .post(
            &format!("{ASSISTANTS}/{id}"),
            &json!({"tool_ids": "not-a-list"}),
        )
        .await;
    assert_error(&reply, 422, "10016");
    let unchanged = app.get(&format!("{ASSISTANTS}/{id}")).await;
    assert_eq!(unchanged.body, assistant, "refused updates wrote nothing");
}

async fn organizations_cannot_see_or_use_each_others_tools(app: TestApp) {
    let mine = tool_id(&app, webhook_body("Mine", "https://mine.example")).await;
    let other_key = app.key_for_new_org("other-org").await;
    let as_other = |method: Method, path: String, body: Option<Value>| {
        let key = other_key.clone();
        let app = &app;
        async move { app.send(method, &path, body.as_ref(), Some(&key)).await }
    };
    assert_error(
        &as_other(Method::GET, tool_path(&mine), None).await,
        404,
        "10005",
    );
    assert_error(
        &as_other(
            Method::PATCH,
            tool_path(&mine),
            Some(json!({"display_name": "Hijacked"})),
        )
        .await,
        404,
        "10005",
    );
    assert_error(
        &as_other(Method::DELETE, tool_path(&mine), None).await,
        404,
        "10005",
    );
    let listed = as_other(Method::GET, TOOLS.to_owned(), None).await;
    assert_eq!(ids(&listed.body), Vec::<String>::new());
    assert_eq!(listed.body["meta"]["total_results"], 0);

    // Their assistant cannot name or attach my tool.
    let reply = as_other(
        Method::POST,
        ASSISTANTS.to_owned(),
        Some(json!({"name": "Theirs", "instructions": "x", "tool_ids": [mine]})),
    )
    .await;
    let error = assert_error(&reply, 422, "10016");
    assert_eq!(error["source"]["pointer"], "/tool_ids/0");
    let theirs = as_other(
        Method::POST,
        ASSISTANTS.to_owned(),
        Some(json!({"name": "Theirs", "instructions": "x"})),
    )
    .await;
    let theirs = theirs.body["id"].as_str().unwrap().to_owned();
    let error = assert_error(
        &as_other(Method::PUT, attach_path(&theirs, &mine), None).await,
        404,
        "10005",
    );
    assert_eq!(error["source"]["pointer"], "/tool_id");
    // And I cannot attach to theirs.
    let error = assert_error(&put(&app, &attach_path(&theirs, &mine)).await, 404, "10005");
    assert_eq!(error["source"]["pointer"], "/assistant_id");
    // My tool is intact.
    assert_eq!(
        app.get(&tool_path(&mine)).await.body["display_name"],
        "Mine"
    );
}

async fn deleting_a_tool_detaches_it_everywhere(app: TestApp) {
    let doomed = tool_id(&app, webhook_body("Doomed", "https://doomed.example")).await;
    let kept = tool_id(&app, webhook_body("Kept", "https://kept.example")).await;
    let one = app
        .create_assistant(json!({"name": "One", "instructions": "x", "tool_ids": [doomed, kept]}))
        .await;
    let two = app
        .create_assistant(json!({"name": "Two", "instructions": "x"}))
        .await;
    let two_id = two["id"].as_str().unwrap();
    put(&app, &attach_path(two_id, &doomed)).await;

    let deleted = app.delete(&tool_path(&doomed)).await;
    assert_eq!(deleted.status, StatusCode::OK);
    let one = app
        .get(&format!("{ASSISTANTS}/{}", one["id"].as_str().unwrap()))
        .await;
    assert_eq!(tool_summary(&one.body), [(true, kept.clone())]);
    let two = app.get(&format!("{ASSISTANTS}/{two_id}")).await;
    assert_eq!(tool_summary(&two.body), Vec::<(bool, String)>::new());
    let versions = app.get(&format!("{ASSISTANTS}/{two_id}/versions")).await;
    for version in versions.body["data"].as_array().unwrap() {
        assert_eq!(tool_summary(version), Vec::<(bool, String)>::new());
    }
    // Stored configurations no longer name it.
    let org = default_org(&app).await;
    let record = app
        .store
        .get_assistant(&org, &AssistantId::from_string(two_id))
        .await
        .unwrap()
        .unwrap();
    assert!(record.version.config.tool_ids().is_empty());
    // Updates that keep the other fields are accepted (no dangling id left to refuse).
    let reply = app
        .post(
            &format!("{ASSISTANTS}/{two_id}"),
            &json!({"greeting": "hi"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

async fn resolve_tools_lists_inline_then_current_shared_definitions(app: TestApp) {
    use parley_server::routes::shared_tools::resolve_tools;
    let hook = tool_id(
        &app,
        json!({"display_name": "Hook", "type": "webhook", "timeout_ms": 3000,
               "webhook": {"name": "lookup", "description": "d", "url": "https://hook.example"}}),
    )
    .await;
    let fun = tool_id(
        &app,
        json!({"display_name": "Fn", "type": "function", "function": {"name": "f"}}),
    )
    .await;
    let assistant = app
        .create_assistant(json!({"name": "Resolve", "instructions": "x",
                                 "tools": [{"type": "hangup", "hangup": {"description": "bye"}}],
                                 "tool_ids": [fun, hook]}))
        .await;
    let org = default_org(&app).await;
    let record = app
        .store
        .get_assistant(
            &org,
            &AssistantId::from_string(assistant["id"].as_str().unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    let tools = resolve_tools(&app.state, &org, record.version.config.as_map())
        .await
        .unwrap();
    assert_eq!(
        Value::Array(tools),
        json!([
            {"type": "hangup", "hangup": {"description": "bye"}},
            {"type": "function", "function": {"name": "f"}, "shared": true, "id": fun},
            {"type": "webhook", "timeout_ms": 3000, "shared": true, "id": hook,
             "webhook": {"name": "lookup", "description": "d", "url": "https://hook.example"}}
        ])
    );
    // A change is seen by the next resolution.
    patch(&app, &tool_path(&fun), &json!({"function": {"name": "g"}})).await;
    let tools = resolve_tools(&app.state, &org, record.version.config.as_map())
        .await
        .unwrap();
    assert_eq!(tools[1]["function"]["name"], "g");
    // Another organization resolves none of them.
    let other = app
        .store
        .ensure_organization("resolve-other", app.clock.now())
        .await
        .unwrap()
        .id;
    let tools = resolve_tools(&app.state, &other, record.version.config.as_map())
        .await
        .unwrap();
    assert_eq!(tools.len(), 1, "only the inline tool");
}

async fn create_honours_idempotency_keys(app: TestApp) {
    let body = webhook_body("Once", "https://once.example");
    let send = || async {
        let response = app
            .http
            .post(app.url(TOOLS))
            .bearer_auth(&app.key)
            .header("Idempotency-Key", "tool-create-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        TestApp::reply(response).await
    };
    let first = send().await;
    assert_eq!(first.status, StatusCode::OK);
    let second = send().await;
    assert_eq!(second.body, first.body, "replayed");
    let listed = app.get(TOOLS).await;
    assert_eq!(ids(&listed.body).len(), 1, "created once");
}
