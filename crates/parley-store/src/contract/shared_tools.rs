//! The contract of [`crate::SharedToolStore`]: create, get, list (order, windows, totals,
//! filters), partial updates (validated in the transaction, concurrent ones lose nothing),
//! the ordered look-up, attaching and detaching (a new main version each, single-instance
//! types refused across inline and shared tools), and delete detaching everywhere — all per
//! organization.

use super::{concurrently, create, new_org, ok, secs, update};
use crate::{
    AttachmentChange, DeleteMode, PageRequest, SharedToolChange, SharedToolFilter,
    SharedToolRecord, Store,
};
use chrono::{DateTime, Utc};
use parley_core::ids::{AssistantId, OrgId, VersionId};
use parley_core::shared_tools::{generate_id, parse_create, parse_update, SharedToolConfig};
use serde_json::{json, Value};
use std::sync::Arc;

fn config(body: Value) -> SharedToolConfig {
    parse_create(&body).unwrap_or_else(|e| panic!("shared tool body {body} is invalid: {e:?}"))
}

fn webhook(display_name: &str, url: &str) -> Value {
    json!({"display_name": display_name, "type": "webhook",
           "webhook": {"name": "lookup", "description": "Looks things up", "url": url}})
}

fn of_type(display_name: &str, tool_type: &str) -> Value {
    json!({"display_name": display_name, "type": tool_type})
}

async fn add(
    store: &Arc<dyn Store>,
    org: &OrgId,
    body: Value,
    at: DateTime<Utc>,
) -> SharedToolRecord {
    let (id, config) = (generate_id(), config(body));
    let record = ok(
        "create_shared_tool",
        store.create_shared_tool(org, &id, &config, at).await,
    );
    assert_eq!(
        record,
        SharedToolRecord {
            id,
            created_at: at,
            config
        },
        "create_shared_tool returns what it stored"
    );
    record
}

async fn get(store: &Arc<dyn Store>, org: &OrgId, id: &str) -> Option<SharedToolRecord> {
    ok("get_shared_tool", store.get_shared_tool(org, id).await)
}

async fn list(
    store: &Arc<dyn Store>,
    org: &OrgId,
    filter: SharedToolFilter,
    offset: u64,
    limit: Option<u64>,
) -> (Vec<String>, u64) {
    let (tools, total) = ok(
        "list_shared_tools",
        store
            .list_shared_tools(org, &filter, PageRequest { offset, limit })
            .await,
    );
    (tools.into_iter().map(|t| t.id).collect(), total)
}

async fn many(store: &Arc<dyn Store>, org: &OrgId, ids: &[&str]) -> Vec<String> {
    let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    ok("get_shared_tools", store.get_shared_tools(org, &ids).await)
        .into_iter()
        .map(|t| t.id)
        .collect()
}

async fn change(store: &Arc<dyn Store>, org: &OrgId, id: &str, body: Value) -> SharedToolChange {
    let update = parse_update(&body).unwrap_or_else(|e| panic!("PATCH {body} is invalid: {e:?}"));
    ok(
        "update_shared_tool",
        store.update_shared_tool(org, id, &update).await,
    )
}

async fn attach(
    store: &Arc<dyn Store>,
    org: &OrgId,
    assistant: &AssistantId,
    tool: &str,
    at: DateTime<Utc>,
) -> AttachmentChange {
    ok(
        "attach_shared_tool",
        store
            .attach_shared_tool(org, assistant, tool, VersionId::generate(), at)
            .await,
    )
}

async fn detach(
    store: &Arc<dyn Store>,
    org: &OrgId,
    assistant: &AssistantId,
    tool: &str,
    at: DateTime<Utc>,
) -> AttachmentChange {
    ok(
        "detach_shared_tool",
        store
            .detach_shared_tool(org, assistant, tool, VersionId::generate(), at)
            .await,
    )
}

fn done(change: AttachmentChange, what: &str) -> crate::AssistantRecord {
    match change {
        AttachmentChange::Done(record) => *record,
        other => panic!("{what}: expected Done, got {other:?}"),
    }
}

async fn main_tool_ids(store: &Arc<dyn Store>, org: &OrgId, id: &AssistantId) -> Vec<String> {
    ok("get_assistant", store.get_assistant(org, id).await)
        .expect("the assistant is live")
        .version
        .config
        .tool_ids()
}

/// `tool_ids` of every version of an assistant, newest first.
async fn every_version_tool_ids(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &AssistantId,
) -> Vec<Vec<String>> {
    ok("list_versions", store.list_versions(org, id).await)
        .expect("the assistant is live")
        .into_iter()
        .map(|r| r.version.config.tool_ids())
        .collect()
}

pub(super) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    crud_and_tenancy(store, t0).await;
    listing(store, t0).await;
    concurrent_updates(store, t0).await;
    attaching(store, t0).await;
    concurrent_attaching(store, t0).await;
    delete_detaches_everywhere(store, t0).await;
}

async fn crud_and_tenancy(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let mine = new_org(store, "tools-a", t0).await;
    let theirs = new_org(store, "tools-b", t0).await;
    let record = add(
        store,
        &mine,
        json!({"display_name": "Weather", "type": "webhook", "timeout_ms": 4000,
               "webhook": {"name": "weather", "description": "Looks up the weather",
                           "url": "https://api.example.com/weather", "method": "GET",
                           "headers": [{"name": "X-Unicode", "value": "☀ naïve"}]}}),
        t0 + secs(1),
    )
    .await;
    let id = record.id.as_str();
    assert_eq!(get(store, &mine, id).await.as_ref(), Some(&record));
    assert_eq!(get(store, &mine, "tool-missing").await, None);

    // Another organization sees nothing and changes nothing.
    assert_eq!(get(store, &theirs, id).await, None, "get across orgs");
    assert_eq!(
        list(store, &theirs, SharedToolFilter::default(), 0, None).await,
        (vec![], 0),
        "list across orgs"
    );
    assert_eq!(many(store, &theirs, &[id]).await, Vec::<String>::new());
    assert_eq!(
        change(store, &theirs, id, json!({"display_name": "Hijacked"})).await,
        SharedToolChange::NotFound,
        "update across orgs"
    );
    assert!(
        !ok(
            "delete_shared_tool",
            store.delete_shared_tool(&theirs, id).await
        ),
        "delete across orgs"
    );
    assert_eq!(get(store, &mine, id).await.as_ref(), Some(&record));

    // Partial update: sent fields change, null clears the timeout, the rest stays.
    let SharedToolChange::Updated(updated) = change(
        store,
        &mine,
        id,
        json!({"display_name": "Forecast", "timeout_ms": null}),
    )
    .await
    else {
        panic!("the owner updates it");
    };
    assert_eq!(updated.id, record.id);
    assert_eq!(updated.created_at, record.created_at);
    assert_eq!(updated.config.display_name, "Forecast");
    assert_eq!(updated.config.timeout_ms, None);
    assert_eq!(updated.config.definition, record.config.definition);
    assert_eq!(get(store, &mine, id).await, Some(updated.clone()));

    // The configuration is replaced whole.
    let SharedToolChange::Updated(replaced) = change(
        store,
        &mine,
        id,
        json!({"type": "webhook", "timeout_ms": 9000,
               "webhook": {"name": "forecast", "description": "d", "url": "https://new.example"}}),
    )
    .await
    else {
        panic!("a new configuration of the same type is accepted");
    };
    assert_eq!(
        replaced.config.definition,
        json!({"name": "forecast", "description": "d", "url": "https://new.example"})
            .as_object()
            .cloned()
            .unwrap()
    );
    assert_eq!(replaced.config.timeout_ms, Some(9000));
    assert_eq!(get(store, &mine, id).await, Some(replaced.clone()));

    // An update that does not fit the stored tool writes nothing.
    for body in [
        json!({"type": "hangup"}),
        json!({"function": {"name": "f"}}),
        json!({"display_name": "Never", "webhook": {"name": "no-url"}}),
    ] {
        let outcome = change(store, &mine, id, body.clone()).await;
        assert!(
            matches!(outcome, SharedToolChange::Invalid(_)),
            "{body} is refused: {outcome:?}"
        );
    }
    assert_eq!(
        get(store, &mine, id).await,
        Some(replaced),
        "nothing written"
    );
    assert_eq!(
        change(store, &mine, "tool-missing", json!({"display_name": "x"})).await,
        SharedToolChange::NotFound
    );

    // The ordered look-up.
    let other = add(store, &mine, of_type("Hang up", "hangup"), t0 + secs(2)).await;
    assert_eq!(many(store, &mine, &[]).await, Vec::<String>::new());
    assert_eq!(
        many(store, &mine, &[&other.id, "tool-missing", id, &other.id]).await,
        vec![other.id.clone(), record.id.clone()],
        "in the order asked, each once, missing ones left out"
    );

    // Delete is for good.
    assert!(ok(
        "delete_shared_tool",
        store.delete_shared_tool(&mine, id).await
    ));
    assert_eq!(get(store, &mine, id).await, None);
    assert!(!ok(
        "delete_shared_tool",
        store.delete_shared_tool(&mine, id).await
    ));
    assert_eq!(
        many(store, &mine, &[id, &other.id]).await,
        vec![other.id.clone()]
    );
}

async fn listing(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "tools-list", t0).await;
    // Created out of time order: the list is by creation time, then id.
    let c = add(store, &org, of_type("Hang up", "hangup"), t0 + secs(3)).await;
    let a = add(
        store,
        &org,
        webhook("Weather lookup", "https://w.example"),
        t0 + secs(1),
    )
    .await;
    let b = add(
        store,
        &org,
        json!({"display_name": "Order LOOKUP", "type": "function", "function": {"name": "order_lookup"}}),
        t0 + secs(2),
    )
    .await;
    let d = add(
        store,
        &org,
        webhook("Stock lookup", "https://s.example"),
        t0 + secs(4),
    )
    .await;
    let all: Vec<String> = [&a, &b, &c, &d].iter().map(|t| t.id.clone()).collect();
    let none = SharedToolFilter::default;
    assert_eq!(list(store, &org, none(), 0, None).await, (all.clone(), 4));
    assert_eq!(
        list(store, &org, none(), 1, Some(2)).await,
        (all[1..3].to_vec(), 4),
        "a window, with the total of all"
    );
    assert_eq!(
        list(store, &org, none(), 4, Some(2)).await,
        (vec![], 4),
        "past the end"
    );
    let by_name = |name: &str| SharedToolFilter {
        name: Some(name.to_owned()),
        tool_type: None,
    };
    let lookups = vec![a.id.clone(), b.id.clone(), d.id.clone()];
    assert_eq!(
        list(store, &org, by_name("lookup"), 0, None).await,
        (lookups.clone(), 3),
        "a part of the name, any case"
    );
    assert_eq!(
        list(store, &org, by_name("LooKup"), 0, None).await,
        (lookups, 3)
    );
    assert_eq!(
        list(store, &org, by_name("nothing"), 0, None).await,
        (vec![], 0)
    );
    let by_type = |t: &str| SharedToolFilter {
        name: None,
        tool_type: Some(t.to_owned()),
    };
    assert_eq!(
        list(store, &org, by_type("webhook"), 0, None).await,
        (vec![a.id.clone(), d.id.clone()], 2)
    );
    assert_eq!(
        list(store, &org, by_type("Webhook"), 0, None).await,
        (vec![], 0),
        "type matches exactly"
    );
    assert_eq!(
        list(
            store,
            &org,
            SharedToolFilter {
                name: Some("lookup".into()),
                tool_type: Some("webhook".into()),
            },
            1,
            Some(5)
        )
        .await,
        (vec![d.id.clone()], 2),
        "filters and windows combine"
    );
}

async fn concurrent_updates(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "tools-race", t0).await;
    let record = add(store, &org, webhook("Racy", "https://race.example"), t0).await;
    let bodies = [
        json!({"display_name": "Renamed"}),
        json!({"timeout_ms": 1234}),
        json!({"webhook": {"name": "n", "description": "d", "url": "https://moved.example"}}),
    ];
    let results = concurrently(bodies.len(), |i| {
        let (store, org, id) = (store.clone(), org.clone(), record.id.clone());
        let update = parse_update(&bodies[i]).unwrap();
        async move { store.update_shared_tool(&org, &id, &update).await }
    })
    .await;
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(SharedToolChange::Updated(_)))));
    let now = get(store, &org, &record.id).await.expect("still there");
    assert_eq!(
        now.config,
        config(
            json!({"display_name": "Renamed", "type": "webhook", "timeout_ms": 1234,
                      "webhook": {"name": "n", "description": "d", "url": "https://moved.example"}})
        ),
        "concurrent partial updates lose nothing"
    );
}

async fn attaching(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "tools-attach", t0).await;
    let other_org = new_org(store, "tools-attach-other", t0).await;
    let hook = add(store, &org, webhook("Hook", "https://hook.example"), t0).await;
    let hook2 = add(store, &org, webhook("Hook 2", "https://hook2.example"), t0).await;
    let hangup = add(store, &org, of_type("Bye", "hangup"), t0).await;
    let transfer = add(
        store,
        &org,
        json!({"display_name": "Desk", "type": "transfer",
               "transfer": {"from": "+15550000000", "targets": [{"name": "desk", "to": "+15551111111"}]}}),
        t0,
    )
    .await;
    let foreign = add(store, &other_org, of_type("Theirs", "hangup"), t0).await;
    let assistant = create(
        store,
        &org,
        json!({"name": "Attach", "instructions": "x",
               "tools": [{"type": "hangup", "hangup": {}}]}),
        t0,
    )
    .await;
    let id = &assistant.id;
    let first_version = assistant.version.id.clone();

    // Attaching writes a new main version holding the id.
    let attached = done(
        attach(store, &org, id, &hook.id, t0 + secs(1)).await,
        "attach",
    );
    assert_ne!(attached.version.id, first_version, "a new version");
    assert_eq!(attached.version.created_at, t0 + secs(1));
    assert_eq!(attached.version.config.tool_ids(), vec![hook.id.clone()]);
    assert_eq!(
        attached.version.config.as_map().get("tools"),
        assistant.version.config.as_map().get("tools"),
        "the inline tools stay"
    );
    assert_eq!(main_tool_ids(store, &org, id).await, vec![hook.id.clone()]);
    let versions = every_version_tool_ids(store, &org, id).await;
    assert_eq!(
        versions,
        vec![vec![hook.id.clone()], vec![]],
        "newest first"
    );

    // Attaching again changes nothing.
    let again = done(
        attach(store, &org, id, &hook.id, t0 + secs(2)).await,
        "again",
    );
    assert_eq!(again.version.id, attached.version.id, "no new version");
    assert_eq!(every_version_tool_ids(store, &org, id).await.len(), 2);

    // Multi-instance types stack; a second single-instance one is refused (the inline
    // hangup counts), and so is a transfer once one is attached.
    done(
        attach(store, &org, id, &hook2.id, t0 + secs(3)).await,
        "hook2",
    );
    assert_eq!(
        attach(store, &org, id, &hangup.id, t0 + secs(4)).await,
        AttachmentChange::Duplicate("hangup".into())
    );
    done(
        attach(store, &org, id, &transfer.id, t0 + secs(5)).await,
        "transfer",
    );
    let second_transfer = add(
        store,
        &org,
        json!({"display_name": "Desk 2", "type": "transfer",
               "transfer": {"targets": [{"name": "desk", "to": "+15552222222"}]}}),
        t0,
    )
    .await;
    assert_eq!(
        attach(store, &org, id, &second_transfer.id, t0 + secs(6)).await,
        AttachmentChange::Duplicate("transfer".into())
    );
    assert_eq!(
        main_tool_ids(store, &org, id).await,
        vec![hook.id.clone(), hook2.id.clone(), transfer.id.clone()],
        "refusals wrote nothing"
    );

    // Unknown tools, other organizations' tools and assistants, missing assistants.
    assert_eq!(
        attach(store, &org, id, "tool-missing", t0).await,
        AttachmentChange::ToolNotFound
    );
    assert_eq!(
        attach(store, &org, id, &foreign.id, t0).await,
        AttachmentChange::ToolNotFound,
        "another organization's tool"
    );
    assert_eq!(
        attach(store, &other_org, id, &foreign.id, t0).await,
        AttachmentChange::AssistantNotFound,
        "another organization's assistant"
    );
    assert_eq!(
        attach(store, &org, &AssistantId::generate(), &hook.id, t0).await,
        AttachmentChange::AssistantNotFound
    );

    // Detaching writes a new main version without the id; detaching what is not attached
    // changes nothing; an unknown id is not found.
    let detached = done(
        detach(store, &org, id, &hook2.id, t0 + secs(7)).await,
        "detach",
    );
    assert_eq!(
        detached.version.config.tool_ids(),
        vec![hook.id.clone(), transfer.id.clone()]
    );
    assert_eq!(detached.version.created_at, t0 + secs(7));
    let unchanged = done(
        detach(store, &org, id, &hook2.id, t0 + secs(8)).await,
        "detach again",
    );
    assert_eq!(unchanged.version.id, detached.version.id, "no new version");
    assert_eq!(
        detach(store, &org, id, "tool-missing", t0).await,
        AttachmentChange::ToolNotFound
    );
    assert_eq!(
        detach(store, &other_org, id, &hook.id, t0).await,
        AttachmentChange::AssistantNotFound
    );

    // A soft-deleted assistant is not attached to.
    ok(
        "delete_assistant",
        store
            .delete_assistant(&org, id, DeleteMode::Soft, t0 + secs(9))
            .await,
    );
    assert_eq!(
        attach(store, &org, id, &hook2.id, t0).await,
        AttachmentChange::AssistantNotFound
    );
    assert_eq!(
        detach(store, &org, id, &hook.id, t0).await,
        AttachmentChange::AssistantNotFound
    );
}

async fn concurrent_attaching(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "tools-attach-race", t0).await;
    let mut tools = Vec::new();
    for i in 0..5 {
        tools.push(
            add(
                store,
                &org,
                webhook(&format!("Hook {i}"), "https://race.example"),
                t0,
            )
            .await
            .id,
        );
    }
    let assistant = create(
        store,
        &org,
        json!({"name": "Race", "instructions": "x"}),
        t0,
    )
    .await;
    let results = concurrently(tools.len(), |i| {
        let (store, org, id, tool) = (
            store.clone(),
            org.clone(),
            assistant.id.clone(),
            tools[i].clone(),
        );
        async move {
            store
                .attach_shared_tool(&org, &id, &tool, VersionId::generate(), t0)
                .await
        }
    })
    .await;
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(AttachmentChange::Done(_)))));
    let mut attached = main_tool_ids(store, &org, &assistant.id).await;
    attached.sort();
    let mut expected = tools.clone();
    expected.sort();
    assert_eq!(attached, expected, "concurrent attaches lose nothing");

    // Two single-instance tools of one type raced onto one assistant: exactly one wins.
    let a = add(store, &org, of_type("Bye A", "hangup"), t0).await.id;
    let b = add(store, &org, of_type("Bye B", "hangup"), t0).await.id;
    let pair = [a.clone(), b.clone()];
    let results = concurrently(2, |i| {
        let (store, org, id, tool) = (
            store.clone(),
            org.clone(),
            assistant.id.clone(),
            pair[i].clone(),
        );
        async move {
            store
                .attach_shared_tool(&org, &id, &tool, VersionId::generate(), t0)
                .await
        }
    })
    .await;
    let wins = results
        .iter()
        .filter(|r| matches!(r, Ok(AttachmentChange::Done(_))))
        .count();
    let refusals = results
        .iter()
        .filter(|r| matches!(r, Ok(AttachmentChange::Duplicate(t)) if t == "hangup"))
        .count();
    assert_eq!((wins, refusals), (1, 1), "{results:?}");
    let ids = main_tool_ids(store, &org, &assistant.id).await;
    assert_eq!(
        ids.iter().filter(|id| **id == a || **id == b).count(),
        1,
        "one hangup attached"
    );
}

async fn delete_detaches_everywhere(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "tools-delete", t0).await;
    let other_org = new_org(store, "tools-delete-other", t0).await;
    let doomed = add(store, &org, webhook("Doomed", "https://doomed.example"), t0).await;
    let kept = add(store, &org, webhook("Kept", "https://kept.example"), t0).await;
    let both = json!([doomed.id, kept.id]);

    // On main, on a draft, on an older version, on a soft-deleted assistant.
    let a = create(
        store,
        &org,
        json!({"name": "A", "instructions": "x", "tool_ids": both}),
        t0,
    )
    .await;
    let b = create(store, &org, json!({"name": "B", "instructions": "x"}), t0).await;
    update(
        store,
        &org,
        &b.id,
        json!({"tool_ids": [doomed.id], "promote_to_main": false}),
        t0 + secs(1),
    )
    .await
    .expect("draft");
    let c = create(
        store,
        &org,
        json!({"name": "C", "instructions": "x", "tool_ids": [doomed.id]}),
        t0,
    )
    .await;
    update(store, &org, &c.id, json!({"tool_ids": null}), t0 + secs(1))
        .await
        .expect("c drops it from main");
    let d = create(
        store,
        &org,
        json!({"name": "D", "instructions": "x", "tool_ids": [kept.id, doomed.id]}),
        t0,
    )
    .await;
    ok(
        "delete_assistant",
        store
            .delete_assistant(&org, &d.id, DeleteMode::Soft, t0 + secs(2))
            .await,
    );
    // The same id in another organization's configuration is not this tool.
    let elsewhere = create(
        store,
        &other_org,
        json!({"name": "E", "instructions": "x", "tool_ids": [doomed.id]}),
        t0,
    )
    .await;

    assert!(ok(
        "delete_shared_tool",
        store.delete_shared_tool(&org, &doomed.id).await
    ));
    assert_eq!(
        every_version_tool_ids(store, &org, &a.id).await,
        vec![vec![kept.id.clone()]],
        "detached from main, other ids kept in order"
    );
    assert_eq!(
        every_version_tool_ids(store, &org, &b.id).await,
        vec![Vec::<String>::new(), vec![]],
        "detached from the draft"
    );
    assert_eq!(
        every_version_tool_ids(store, &org, &c.id).await,
        vec![Vec::<String>::new(), vec![]],
        "detached from the older version"
    );
    let restored = ok(
        "restore_assistant",
        store.restore_assistant(&org, &d.id).await,
    )
    .expect("restorable");
    assert_eq!(
        restored.version.config.tool_ids(),
        vec![kept.id.clone()],
        "detached from the soft-deleted assistant"
    );
    assert_eq!(
        main_tool_ids(store, &other_org, &elsewhere.id).await,
        vec![doomed.id.clone()],
        "another organization's configuration is untouched"
    );
    assert_eq!(
        a.version.config.as_map().get("name"),
        Some(&json!("A")),
        "sanity"
    );
}
