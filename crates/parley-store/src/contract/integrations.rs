//! The contract of [`crate::IntegrationStore`]: one connection per integration per
//! organization (also under concurrent creates), get, list order, delete — all per
//! organization.

use super::{concurrently, new_org, ok, secs};
use crate::{CreateConnectionOutcome, IntegrationConnectionRecord, Store};
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::integrations::{
    generate_connection_id, parse_connection_create, ConnectionConfig,
};
use serde_json::{json, Value};
use std::sync::Arc;

fn config(body: Value) -> ConnectionConfig {
    parse_connection_create(&body).unwrap_or_else(|e| panic!("connection {body} is invalid: {e:?}"))
}

async fn connect(
    store: &Arc<dyn Store>,
    org: &OrgId,
    body: Value,
    at: DateTime<Utc>,
) -> IntegrationConnectionRecord {
    let (id, config) = (generate_connection_id(), config(body));
    match ok(
        "create_integration_connection",
        store
            .create_integration_connection(org, &id, &config, at)
            .await,
    ) {
        CreateConnectionOutcome::Created(record) => {
            assert_eq!(
                record,
                IntegrationConnectionRecord {
                    id,
                    created_at: at,
                    config
                },
                "create returns what it stored"
            );
            record
        }
        other => panic!("connect {}: {other:?}", config.integration_id),
    }
}

async fn get(store: &Arc<dyn Store>, org: &OrgId, id: &str) -> Option<IntegrationConnectionRecord> {
    ok(
        "get_integration_connection",
        store.get_integration_connection(org, id).await,
    )
}

async fn list(store: &Arc<dyn Store>, org: &OrgId) -> Vec<String> {
    ok(
        "list_integration_connections",
        store.list_integration_connections(org).await,
    )
    .into_iter()
    .map(|r| r.id)
    .collect()
}

pub(super) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let mine = new_org(store, "conn-a", t0).await;
    let theirs = new_org(store, "conn-b", t0).await;
    let jira = connect(
        store,
        &mine,
        json!({"integration_id": "jira", "api_key_ref": "jira_key",
               "allowed_tools": ["jira_get_issue"], "base_url": "https://acme.atlassian.net"}),
        t0 + secs(2),
    )
    .await;
    let hubspot = connect(
        store,
        &mine,
        json!({"integration_id": "hubspot", "api_key_ref": "hs_key"}),
        t0 + secs(1),
    )
    .await;
    assert_eq!(get(store, &mine, &jira.id).await.as_ref(), Some(&jira));
    assert_eq!(
        list(store, &mine).await,
        vec![hubspot.id.clone(), jira.id.clone()],
        "oldest first"
    );

    // One connection per integration per organization.
    let again = config(json!({"integration_id": "hubspot", "api_key_ref": "other_key"}));
    assert_eq!(
        ok(
            "create_integration_connection",
            store
                .create_integration_connection(&mine, &generate_connection_id(), &again, t0)
                .await
        ),
        CreateConnectionOutcome::AlreadyConnected(hubspot.id.clone())
    );
    assert_eq!(
        get(store, &mine, &hubspot.id).await.as_ref(),
        Some(&hubspot)
    );

    // Another organization sees none of it and may connect the same integration.
    assert_eq!(get(store, &theirs, &jira.id).await, None, "get across orgs");
    assert_eq!(list(store, &theirs).await, Vec::<String>::new());
    assert!(!ok(
        "delete_integration_connection",
        store.delete_integration_connection(&theirs, &jira.id).await
    ));
    let theirs_hubspot = connect(
        store,
        &theirs,
        json!({"integration_id": "hubspot", "api_key_ref": "hs_key"}),
        t0,
    )
    .await;
    assert_eq!(list(store, &theirs).await, vec![theirs_hubspot.id]);

    // Delete.
    assert!(ok(
        "delete_integration_connection",
        store.delete_integration_connection(&mine, &jira.id).await
    ));
    assert_eq!(get(store, &mine, &jira.id).await, None);
    assert!(!ok(
        "delete_integration_connection",
        store.delete_integration_connection(&mine, &jira.id).await
    ));
    assert_eq!(list(store, &mine).await, vec![hubspot.id.clone()]);
    // Deleting frees the integration for a new connection.
    connect(
        store,
        &mine,
        json!({"integration_id": "jira", "api_key_ref": "jira_key", "base_url": "https://acme.atlassian.net"}),
        t0 + secs(3),
    )
    .await;

    // Racing creates: exactly one wins, the others are told which.
    let racers = new_org(store, "conn-race", t0).await;
    let outcomes = concurrently(6, |_| {
        let (store, org) = (store.clone(), racers.clone());
        let config = config(json!({"integration_id": "cal_com", "api_key_ref": "cal"}));
        async move {
            store
                .create_integration_connection(&org, &generate_connection_id(), &config, t0)
                .await
        }
    })
    .await;
    let outcomes: Vec<CreateConnectionOutcome> = outcomes
        .into_iter()
        .map(|o| ok("create_integration_connection", o))
        .collect();
    let winners: Vec<&IntegrationConnectionRecord> = outcomes
        .iter()
        .filter_map(|o| match o {
            CreateConnectionOutcome::Created(record) => Some(record),
            CreateConnectionOutcome::AlreadyConnected(_) => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "one create wins: {outcomes:?}");
    for outcome in &outcomes {
        if let CreateConnectionOutcome::AlreadyConnected(id) = outcome {
            assert_eq!(id, &winners[0].id, "losers name the winner");
        }
    }
    assert_eq!(list(store, &racers).await, vec![winners[0].id.clone()]);
}
