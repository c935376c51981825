//! The contract of [`crate::ImportStore`]: an imported assistant is found again by provider
//! and provider id, within its organization, only while it is not deleted, showing its main
//! version.

use super::{create_record, delete, new_org, new_record, ok, secs, update};
use crate::{AssistantRecord, DeleteMode, DeleteOutcome, Store};
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use serde_json::json;
use std::sync::Arc;

async fn find(
    store: &Arc<dyn Store>,
    org: &OrgId,
    provider: &str,
    import_id: &str,
) -> Option<AssistantRecord> {
    ok(
        "find_assistant_by_import",
        store
            .find_assistant_by_import(org, provider, import_id)
            .await,
    )
}

async fn imported(
    store: &Arc<dyn Store>,
    org: &OrgId,
    provider: &str,
    import_id: &str,
    at: DateTime<Utc>,
) -> AssistantRecord {
    let mut new = new_record(json!({"name": import_id, "instructions": "imported"}));
    new.import_metadata = Some(json!({"import_provider": provider, "import_id": import_id}));
    create_record(store, org, new, at).await
}

/// Runs every check of this part of the contract.
pub(super) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "imports", t0).await;
    let other = new_org(store, "imports-other", t0).await;
    let vapi = imported(store, &org, "vapi", "asst-1", t0 + secs(1)).await;
    let retell = imported(store, &org, "retell", "asst-1", t0 + secs(2)).await;
    let theirs = imported(store, &other, "vapi", "asst-1", t0 + secs(3)).await;
    let _plain = create_record(
        store,
        &org,
        new_record(json!({"name": "plain", "instructions": "not imported"})),
        t0 + secs(4),
    )
    .await;

    assert_eq!(
        find(store, &org, "vapi", "asst-1").await.as_ref(),
        Some(&vapi),
        "found by provider and id"
    );
    assert_eq!(
        find(store, &org, "retell", "asst-1").await.map(|r| r.id),
        Some(retell.id.clone()),
        "the provider is part of the key"
    );
    assert_eq!(
        find(store, &other, "vapi", "asst-1").await.map(|r| r.id),
        Some(theirs.id.clone()),
        "each organization finds its own copy"
    );
    assert_eq!(
        find(store, &org, "vapi", "asst-2").await,
        None,
        "unknown id"
    );
    assert_eq!(
        find(store, &org, "elevenlabs", "asst-1").await,
        None,
        "unknown provider"
    );

    let updated = update(
        store,
        &org,
        &vapi.id,
        json!({"instructions": "imported again"}),
        t0 + secs(5),
    )
    .await
    .expect("the imported assistant exists");
    let found = find(store, &org, "vapi", "asst-1")
        .await
        .expect("still found after an update");
    assert_eq!(
        found.version.id, updated.version.id,
        "the main version is shown"
    );
    assert_eq!(found.import_metadata, vapi.import_metadata);

    assert_eq!(
        delete(store, &org, &vapi.id, DeleteMode::Soft, t0 + secs(6)).await,
        DeleteOutcome::Deleted
    );
    assert_eq!(
        find(store, &org, "vapi", "asst-1").await,
        None,
        "a soft-deleted assistant is not found"
    );
    assert_eq!(
        find(store, &other, "vapi", "asst-1").await.map(|r| r.id),
        Some(theirs.id),
        "the other organization's copy is untouched"
    );
}
