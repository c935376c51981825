//! The contract of [`crate::McpStore`]: create, get, list (order, windows, exact filters),
//! partial updates (concurrent ones lose nothing), the existence look-up, and delete refused
//! while a live assistant's main version uses the server — all per organization.

use super::{concurrently, create, new_org, ok, secs, update};
use crate::{McpServerDeleteOutcome, McpServerFilter, McpServerRecord, PageRequest, Store};
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::mcp::{generate_id, parse_create, parse_update, McpServerConfig};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

fn config(body: Value) -> McpServerConfig {
    parse_create(&body).unwrap_or_else(|e| panic!("MCP body {body} is invalid: {e:?}"))
}

async fn register(
    store: &Arc<dyn Store>,
    org: &OrgId,
    body: Value,
    at: DateTime<Utc>,
) -> McpServerRecord {
    let (id, config) = (generate_id(), config(body));
    let record = ok(
        "create_mcp_server",
        store.create_mcp_server(org, &id, &config, at).await,
    );
    assert_eq!(
        record,
        McpServerRecord {
            id,
            created_at: at,
            config
        },
        "create_mcp_server returns what it stored"
    );
    record
}

async fn get(store: &Arc<dyn Store>, org: &OrgId, id: &str) -> Option<McpServerRecord> {
    ok("get_mcp_server", store.get_mcp_server(org, id).await)
}

async fn list(
    store: &Arc<dyn Store>,
    org: &OrgId,
    filter: McpServerFilter,
    offset: u64,
    limit: Option<u64>,
) -> Vec<String> {
    ok(
        "list_mcp_servers",
        store
            .list_mcp_servers(org, &filter, PageRequest { offset, limit })
            .await,
    )
    .into_iter()
    .map(|r| r.id)
    .collect()
}

async fn delete(store: &Arc<dyn Store>, org: &OrgId, id: &str) -> McpServerDeleteOutcome {
    ok("delete_mcp_server", store.delete_mcp_server(org, id).await)
}

async fn existing(store: &Arc<dyn Store>, org: &OrgId, ids: &[&str]) -> BTreeSet<String> {
    let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    ok(
        "existing_mcp_server_ids",
        store.existing_mcp_server_ids(org, &ids).await,
    )
}

fn server(name: &str, server_type: &str, url: &str) -> Value {
    json!({"name": name, "type": server_type, "url": url})
}

pub(super) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    crud_and_tenancy(store, t0).await;
    listing(store, t0).await;
    concurrent_updates(store, t0).await;
    delete_rules(store, t0).await;
}

async fn crud_and_tenancy(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let mine = new_org(store, "mcp-a", t0).await;
    let theirs = new_org(store, "mcp-b", t0).await;
    let record = register(
        store,
        &mine,
        json!({"name": "Docs", "type": "sse", "url": "https://mcp.example.com/sse",
               "allowed_tools": ["search", "fetch"], "api_key_ref": "docs_key"}),
        t0 + secs(1),
    )
    .await;
    let id = record.id.as_str();
    assert_eq!(get(store, &mine, id).await.as_ref(), Some(&record));
    assert_eq!(get(store, &mine, "mcp-missing").await, None);

    // Another organization sees nothing and changes nothing.
    assert_eq!(get(store, &theirs, id).await, None, "get across orgs");
    assert_eq!(
        list(store, &theirs, McpServerFilter::default(), 0, None).await,
        Vec::<String>::new(),
        "list across orgs"
    );
    let rename = parse_update(&json!({"name": "Hijacked"})).unwrap();
    assert_eq!(
        ok(
            "update_mcp_server",
            store.update_mcp_server(&theirs, id, &rename).await
        ),
        None,
        "update across orgs"
    );
    assert_eq!(
        delete(store, &theirs, id).await,
        McpServerDeleteOutcome::NotFound,
        "delete across orgs"
    );
    assert_eq!(existing(store, &theirs, &[id]).await, BTreeSet::new());
    assert_eq!(get(store, &mine, id).await.as_ref(), Some(&record));

    // Partial update: sent fields change, null clears, the rest and created_at stay.
    let update = parse_update(
        &json!({"url": "https://mcp.example.com/v2", "allowed_tools": null,
                                      "id": "other", "created_at": "2000-01-01T00:00:00Z"}),
    )
    .unwrap();
    let updated = ok(
        "update_mcp_server",
        store.update_mcp_server(&mine, id, &update).await,
    )
    .expect("the owner updates it");
    assert_eq!(updated.id, record.id);
    assert_eq!(updated.created_at, record.created_at);
    assert_eq!(updated.config.url, "https://mcp.example.com/v2");
    assert_eq!(updated.config.allowed_tools, None);
    assert_eq!(updated.config.name, "Docs");
    assert_eq!(updated.config.api_key_ref.as_deref(), Some("docs_key"));
    assert_eq!(get(store, &mine, id).await, Some(updated.clone()));
    let nothing = ok(
        "update_mcp_server",
        store
            .update_mcp_server(&mine, id, &parse_update(&json!({})).unwrap())
            .await,
    );
    assert_eq!(nothing, Some(updated), "an empty update changes nothing");
    assert_eq!(
        ok(
            "update_mcp_server",
            store.update_mcp_server(&mine, "mcp-missing", &rename).await
        ),
        None
    );

    // Existence look-up.
    let other = register(
        store,
        &mine,
        server("Other", "http", "https://o.example"),
        t0 + secs(2),
    )
    .await;
    assert_eq!(existing(store, &mine, &[]).await, BTreeSet::new());
    assert_eq!(
        existing(store, &mine, &[id, "mcp-missing", other.id.as_str(), id]).await,
        BTreeSet::from([record.id.clone(), other.id.clone()])
    );

    // Delete is for good.
    assert_eq!(
        delete(store, &mine, id).await,
        McpServerDeleteOutcome::Deleted
    );
    assert_eq!(get(store, &mine, id).await, None);
    assert_eq!(
        delete(store, &mine, id).await,
        McpServerDeleteOutcome::NotFound
    );
    assert_eq!(
        existing(store, &mine, &[id, other.id.as_str()]).await,
        BTreeSet::from([other.id.clone()])
    );
}

async fn listing(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "mcp-list", t0).await;
    // Registered out of time order: the list is by creation time, then id.
    let c = register(
        store,
        &org,
        server("c", "sse", "https://one.example/sse"),
        t0 + secs(3),
    )
    .await;
    let a = register(
        store,
        &org,
        server("a", "http", "https://one.example/mcp"),
        t0 + secs(1),
    )
    .await;
    let b = register(
        store,
        &org,
        server("b", "http", "https://two.example/mcp"),
        t0 + secs(2),
    )
    .await;
    let d = register(
        store,
        &org,
        server("d", "streamable-http", "https://one.example/mcp"),
        t0 + secs(4),
    )
    .await;
    let all = [&a.id, &b.id, &c.id, &d.id].map(String::clone).to_vec();
    assert_eq!(
        list(store, &org, McpServerFilter::default(), 0, None).await,
        all
    );
    assert_eq!(
        list(store, &org, McpServerFilter::default(), 1, Some(2)).await,
        all[1..3].to_vec(),
        "a window"
    );
    assert_eq!(
        list(store, &org, McpServerFilter::default(), 4, Some(2)).await,
        Vec::<String>::new(),
        "past the end"
    );
    let by_type = |t: &str| McpServerFilter {
        server_type: Some(t.to_owned()),
        url: None,
    };
    assert_eq!(
        list(store, &org, by_type("http"), 0, None).await,
        vec![a.id.clone(), b.id.clone()]
    );
    assert_eq!(
        list(store, &org, by_type("HTTP"), 0, None).await,
        Vec::<String>::new(),
        "type matches exactly"
    );
    let by_url = McpServerFilter {
        server_type: None,
        url: Some("https://one.example/mcp".into()),
    };
    assert_eq!(
        list(store, &org, by_url.clone(), 0, None).await,
        vec![a.id.clone(), d.id.clone()]
    );
    assert_eq!(
        list(
            store,
            &org,
            McpServerFilter {
                server_type: Some("streamable-http".into()),
                ..by_url.clone()
            },
            0,
            None
        )
        .await,
        vec![d.id.clone()],
        "filters combine"
    );
    assert_eq!(
        list(store, &org, by_url, 1, Some(5)).await,
        vec![d.id.clone()],
        "filters and windows combine"
    );
}

async fn concurrent_updates(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "mcp-race", t0).await;
    let record = register(
        store,
        &org,
        server("Racy", "http", "https://race.example"),
        t0,
    )
    .await;
    let bodies = [
        json!({"name": "Renamed"}),
        json!({"url": "https://moved.example"}),
        json!({"allowed_tools": ["one"]}),
        json!({"api_key_ref": "race_key"}),
        json!({"type": "sse"}),
    ];
    let updated = concurrently(bodies.len(), |i| {
        let (store, org, id) = (store.clone(), org.clone(), record.id.clone());
        let update = parse_update(&bodies[i]).unwrap();
        async move { store.update_mcp_server(&org, &id, &update).await }
    })
    .await;
    assert!(updated.iter().all(|r| matches!(r, Ok(Some(_)))));
    let now = get(store, &org, &record.id).await.expect("still there");
    assert_eq!(
        now.config,
        config(
            json!({"name": "Renamed", "type": "sse", "url": "https://moved.example",
                      "allowed_tools": ["one"], "api_key_ref": "race_key"})
        ),
        "concurrent partial updates lose nothing"
    );
}

async fn delete_rules(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "mcp-refs", t0).await;
    let other_org = new_org(store, "mcp-refs-other", t0).await;
    let used = register(
        store,
        &org,
        server("Used", "http", "https://used.example"),
        t0,
    )
    .await;
    let spare = register(
        store,
        &org,
        server("Spare", "http", "https://spare.example"),
        t0,
    )
    .await;
    let uses = |name: &str, ids: &[&str]| {
        let servers: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
        json!({"name": name, "instructions": "use tools", "mcp_servers": servers})
    };
    let first = create(
        store,
        &org,
        uses("First", &[&spare.id, &used.id]),
        t0 + secs(1),
    )
    .await;
    let second = create(store, &org, uses("Second", &[&used.id]), t0 + secs(2)).await;
    // Same id in another organization's assistant: not a reference to this server.
    create(store, &other_org, uses("Elsewhere", &[&used.id]), t0).await;

    assert_eq!(
        delete(store, &org, &used.id).await,
        McpServerDeleteOutcome::ReferencedBy(vec![
            first.id.as_str().to_owned(),
            second.id.as_str().to_owned()
        ]),
        "refused while live assistants use it, naming them oldest first"
    );
    // A draft (not main) without the server does not help; dropping it from main does.
    update(
        store,
        &org,
        &first.id,
        json!({"mcp_servers": [], "promote_to_main": false}),
        t0 + secs(3),
    )
    .await
    .expect("draft");
    update(
        store,
        &org,
        &second.id,
        json!({"mcp_servers": null}),
        t0 + secs(3),
    )
    .await
    .expect("second drops it");
    assert_eq!(
        delete(store, &org, &used.id).await,
        McpServerDeleteOutcome::ReferencedBy(vec![first.id.as_str().to_owned()])
    );
    // A soft-deleted assistant does not hold the server.
    assert_eq!(
        ok(
            "delete_assistant",
            store
                .delete_assistant(&org, &first.id, crate::DeleteMode::Soft, t0 + secs(4))
                .await
        ),
        crate::DeleteOutcome::Deleted
    );
    assert_eq!(
        delete(store, &org, &used.id).await,
        McpServerDeleteOutcome::Deleted
    );
    assert_eq!(get(store, &org, &used.id).await, None);
    assert!(get(store, &org, &spare.id).await.is_some(), "only that one");
}
