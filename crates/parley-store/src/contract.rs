//! The backend-neutral contract suite: every [`Store`] method exercised through the trait
//! alone, with real assertions, so that each backend proves the same behaviour.
//!
//! Enabled by the `contract-suite` feature. A backend's integration test builds a fresh,
//! migrated store and hands it to [`run_all`] from inside a Tokio runtime (the concurrency
//! checks spawn tasks):
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
//! async fn contract() {
//!     let store = MyStore::open_fresh().await.unwrap();
//!     parley_store::contract::run_all(std::sync::Arc::new(store)).await;
//! }
//! ```
//!
//! A failed check panics with a message naming it. The suite expects a store nobody else
//! writes to while it runs: purging and counting keys look at the whole store.

use crate::{
    ApiKeyInfo, AssistantRecord, AuthenticatedKey, DeleteMode, DeleteOutcome, IdempotencyClaim,
    NewAssistantRecord, PageRequest, Store, StoreResult, StoredResponse,
};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use parley_core::assistant::{parse_create, parse_update, AssistantUpdate, DEFAULT_VERSION_NAME};
use parley_core::ids::{AssistantId, OrgId, VersionId};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use tokio::task::JoinSet;

mod assistant_tests;
mod conversations;
mod imports;
mod integrations;
mod jobs;
mod knowledge;
mod mcp;
mod outreach;
mod secrets;
mod shared_tools;

/// The model `parse_create` fills in when a body has none.
const MODEL: &str = "test/model";

/// Runs every check of the contract against `store`, which must be freshly migrated and not
/// used by anything else meanwhile. Panics on the first failed check. Must be awaited inside
/// a Tokio runtime (a multi-threaded one exercises the races best).
pub async fn run_all(store: Arc<dyn Store>) {
    let t0 = Utc::now().trunc_subsecs(6);
    ping(&store).await;
    organizations(&store, t0).await;
    api_keys(&store, t0).await;
    tenancy(&store, t0).await;
    create_get_list(&store, t0).await;
    updates(&store, t0).await;
    version_pruning(&store, t0).await;
    concurrent_writes(&store, t0).await;
    references(&store, t0).await;
    soft_and_hard_delete(&store, t0).await;
    purge(&store, t0).await;
    tags(&store, t0).await;
    idempotency(&store, t0).await;
    concurrent_idempotency(&store, t0).await;
    secrets::run(&store, t0).await;
    mcp::run(&store, t0).await;
    integrations::run(&store, t0).await;
    conversations::run(&store, t0).await;
    imports::run(&store, t0).await;
    shared_tools::run(&store, t0).await;
    jobs::run(&store, t0).await;
    assistant_tests::run(&store, t0).await;
    outreach::run(&store, t0).await;
    knowledge::run(&store, t0).await;
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The value of a store call, or a panic naming the check.
fn ok<T>(what: &str, result: StoreResult<T>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: store error: {e}"))
}

/// A name nobody else uses.
fn unique(label: &str) -> String {
    format!(
        "{label}-{}",
        OrgId::generate().as_str().trim_start_matches("org-")
    )
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

/// A new organization with a unique name.
async fn new_org(store: &Arc<dyn Store>, label: &str, at: DateTime<Utc>) -> OrgId {
    ok(
        "ensure_organization",
        store.ensure_organization(&unique(label), at).await,
    )
    .id
}

fn update_body(body: Value) -> AssistantUpdate {
    parse_update(body.clone()).unwrap_or_else(|e| panic!("update body {body} is invalid: {e:?}"))
}

/// What `body` (a create body, possibly with `tags`) becomes.
fn new_record(body: Value) -> NewAssistantRecord {
    let parsed = parse_create(body.clone(), MODEL)
        .unwrap_or_else(|e| panic!("create body {body} is invalid: {e:?}"));
    NewAssistantRecord {
        id: AssistantId::generate(),
        tags: parsed.tags,
        import_metadata: None,
        version_id: VersionId::generate(),
        version_name: "First".into(),
        config: parsed.config,
    }
}

/// Creates an assistant from a create body and checks what the store returned.
async fn create(
    store: &Arc<dyn Store>,
    org: &OrgId,
    body: Value,
    at: DateTime<Utc>,
) -> AssistantRecord {
    create_record(store, org, new_record(body), at).await
}

async fn create_record(
    store: &Arc<dyn Store>,
    org: &OrgId,
    new: NewAssistantRecord,
    at: DateTime<Utc>,
) -> AssistantRecord {
    let record = ok(
        "create_assistant_with_version",
        store
            .create_assistant_with_version(org, new.clone(), at)
            .await,
    );
    assert_eq!(record.id, new.id, "create returns the new id");
    assert_eq!(record.created_at, at, "create keeps created_at");
    assert_eq!(record.deleted_at, None, "a new assistant is not deleted");
    assert_eq!(record.tags, new.tags, "create keeps the tags in order");
    assert_eq!(
        record.import_metadata, new.import_metadata,
        "create keeps import_metadata"
    );
    assert_eq!(
        record.version.id, new.version_id,
        "create returns the first version"
    );
    assert_eq!(
        record.version.name, new.version_name,
        "create keeps the version name"
    );
    assert_eq!(
        record.version.created_at, at,
        "the first version is written at creation"
    );
    assert_eq!(
        record.version.config, new.config,
        "create keeps the configuration"
    );
    record
}

async fn get(store: &Arc<dyn Store>, org: &OrgId, id: &AssistantId) -> Option<AssistantRecord> {
    ok("get_assistant", store.get_assistant(org, id).await)
}

async fn get_deleted(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &AssistantId,
) -> Option<AssistantRecord> {
    ok(
        "get_deleted_assistant",
        store.get_deleted_assistant(org, id).await,
    )
}

async fn list(
    store: &Arc<dyn Store>,
    org: &OrgId,
    offset: u64,
    limit: Option<u64>,
) -> (Vec<AssistantRecord>, u64) {
    ok(
        "list_assistants",
        store
            .list_assistants(org, PageRequest { offset, limit })
            .await,
    )
}

async fn list_deleted(
    store: &Arc<dyn Store>,
    org: &OrgId,
    offset: u64,
    limit: Option<u64>,
) -> (Vec<AssistantRecord>, u64) {
    ok(
        "list_deleted_assistants",
        store
            .list_deleted_assistants(org, PageRequest { offset, limit })
            .await,
    )
}

async fn update(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &AssistantId,
    body: Value,
    at: DateTime<Utc>,
) -> Option<AssistantRecord> {
    let update = update_body(body);
    ok(
        "update_assistant",
        store
            .update_assistant(org, id, &update, VersionId::generate(), at)
            .await,
    )
}

async fn delete(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &AssistantId,
    mode: DeleteMode,
    at: DateTime<Utc>,
) -> DeleteOutcome {
    ok(
        "delete_assistant",
        store.delete_assistant(org, id, mode, at).await,
    )
}

fn ids(records: &[AssistantRecord]) -> Vec<&AssistantId> {
    records.iter().map(|r| &r.id).collect()
}

fn field<'a>(record: &'a AssistantRecord, name: &str) -> Option<&'a Value> {
    record.version.config.as_map().get(name)
}

/// A create body whose handoff tool hands conversations to `target`.
fn handoff_body(name: &str, target: &AssistantId) -> Value {
    json!({
        "name": name,
        "instructions": "hand over",
        "tools": [{"type": "handoff", "handoff": {"ai_assistants": [{"id": target.as_str(), "name": "target"}]}}]
    })
}

/// Runs `n` copies of a task concurrently (each gets its index) and returns their results in
/// index order; a panic in a task is re-raised.
async fn concurrently<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let mut set = JoinSet::new();
    for i in 0..n {
        let fut = task(i);
        set.spawn(async move { (i, fut.await) });
    }
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, value)) => results[i] = Some(value),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a concurrent task failed: {e}"),
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every task reported"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------

async fn ping(store: &Arc<dyn Store>) {
    ok("ping", store.ping().await);
}

async fn organizations(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let name = unique("org");
    let first = ok(
        "ensure_organization",
        store.ensure_organization(&name, t0).await,
    );
    assert_eq!(first.name, name, "the organization keeps its name");
    assert_eq!(first.created_at, t0, "the organization keeps created_at");
    let again = ok(
        "ensure_organization again",
        store.ensure_organization(&name, t0 + secs(60)).await,
    );
    assert_eq!(
        again, first,
        "ensuring an existing organization returns it unchanged"
    );
    let other = ok(
        "ensure_organization",
        store.ensure_organization(&unique("org"), t0).await,
    );
    assert_ne!(other.id, first.id, "another name is another organization");

    // Servers starting together all get the same organization.
    let racing = unique("racing-org");
    let orgs = concurrently(8, |_| {
        let store = store.clone();
        let racing = racing.clone();
        async move {
            ok(
                "concurrent ensure_organization",
                store.ensure_organization(&racing, t0).await,
            )
        }
    })
    .await;
    assert!(
        orgs.iter().all(|o| o == &orgs[0]),
        "concurrent ensure_organization calls agree on one organization"
    );
}

async fn api_keys(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org_name = unique("keys");
    let org = ok(
        "ensure_organization",
        store.ensure_organization(&org_name, t0).await,
    );
    let other = new_org(store, "keys-other", t0).await;
    let active_before = ok("count_active_api_keys", store.count_active_api_keys().await);

    let (hash1, prefix1) = (unique("hash"), unique("pk1"));
    let (hash2, prefix2) = (unique("hash"), unique("pk2"));
    let k1 = ok(
        "insert_api_key",
        store
            .insert_api_key(&org.id, &hash1, &prefix1, t0 + secs(1))
            .await,
    );
    let expected = ApiKeyInfo {
        id: k1.id.clone(),
        org_id: org.id.clone(),
        org_name: org_name.clone(),
        prefix: prefix1.clone(),
        created_at: t0 + secs(1),
        revoked_at: None,
    };
    assert_eq!(k1, expected, "insert_api_key returns the stored key");
    let same = ok(
        "insert_api_key with a stored hash",
        store
            .insert_api_key(&other, &hash1, "pk-other", t0 + secs(2))
            .await,
    );
    assert_eq!(
        same, k1,
        "inserting a stored hash returns that key unchanged"
    );
    let k2 = ok(
        "insert_api_key",
        store
            .insert_api_key(&org.id, &hash2, &prefix2, t0 + secs(3))
            .await,
    );
    assert_ne!(k2.id, k1.id, "a new hash is a new key");
    assert_eq!(
        ok("count_active_api_keys", store.count_active_api_keys().await),
        active_before + 2,
        "two keys were added"
    );

    let found = ok("find_api_key", store.find_api_key(&hash1).await);
    let auth1 = AuthenticatedKey {
        key_id: k1.id.clone(),
        org_id: org.id.clone(),
        hash: hash1.clone(),
    };
    assert_eq!(found, Some(auth1), "find_api_key resolves the hash");
    assert_eq!(
        ok("find_api_key", store.find_api_key(&unique("unknown")).await),
        None,
        "an unknown hash resolves to nothing"
    );

    let listed = ok("list_api_keys", store.list_api_keys().await);
    let pos1 = listed
        .iter()
        .position(|k| k == &k1)
        .expect("list_api_keys shows the first key");
    let pos2 = listed
        .iter()
        .position(|k| k == &k2)
        .expect("list_api_keys shows the second key");
    assert!(pos1 < pos2, "list_api_keys lists oldest first");
    assert!(
        listed
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at),
        "list_api_keys is ordered by creation"
    );

    assert!(
        ok(
            "revoke_api_key",
            store.revoke_api_key(&prefix1, t0 + secs(4)).await
        ),
        "revoking by prefix matches"
    );
    assert_eq!(
        ok("find_api_key", store.find_api_key(&hash1).await),
        None,
        "a revoked key no longer resolves"
    );
    assert!(
        ok("find_api_key", store.find_api_key(&hash2).await).is_some(),
        "revoking one key leaves the other"
    );
    assert!(
        !ok(
            "revoke_api_key",
            store.revoke_api_key(&prefix1, t0 + secs(5)).await
        ),
        "revoking a revoked key matches nothing"
    );
    let listed = ok("list_api_keys", store.list_api_keys().await);
    let revoked = listed
        .iter()
        .find(|k| k.id == k1.id)
        .expect("a revoked key is still listed");
    assert_eq!(
        revoked.revoked_at,
        Some(t0 + secs(4)),
        "the list shows when it was revoked"
    );
    assert_eq!(
        ok("count_active_api_keys", store.count_active_api_keys().await),
        active_before + 1,
        "a revoked key is not active"
    );
    let reinserted = ok(
        "insert_api_key with a revoked hash",
        store
            .insert_api_key(&org.id, &hash1, &prefix1, t0 + secs(6))
            .await,
    );
    assert_eq!(reinserted.id, k1.id, "a revoked hash still returns its key");
    assert_eq!(
        reinserted.revoked_at,
        Some(t0 + secs(4)),
        "and does not un-revoke it"
    );
    assert_eq!(
        ok("find_api_key", store.find_api_key(&hash1).await),
        None,
        "re-inserting a revoked hash does not revive it"
    );

    assert!(
        ok(
            "revoke_api_key",
            store.revoke_api_key(k2.id.as_str(), t0 + secs(7)).await
        ),
        "revoking by id matches"
    );
    assert!(
        !ok(
            "revoke_api_key",
            store.revoke_api_key(&unique("no-such-key"), t0).await
        ),
        "revoking an unknown key matches nothing"
    );
    assert_eq!(
        ok("count_active_api_keys", store.count_active_api_keys().await),
        active_before,
        "both keys are revoked"
    );

    // Concurrent inserts of one hash agree on one key.
    let racing = unique("racing-hash");
    let keys = concurrently(8, |i| {
        let store = store.clone();
        let (org, racing) = (org.id.clone(), racing.clone());
        async move {
            let prefix = format!("race{i}");
            ok(
                "concurrent insert_api_key",
                store.insert_api_key(&org, &racing, &prefix, t0).await,
            )
        }
    })
    .await;
    assert!(
        keys.iter().all(|k| k == &keys[0]),
        "concurrent inserts of one hash return one key"
    );
    assert!(ok(
        "revoke_api_key",
        store.revoke_api_key(keys[0].id.as_str(), t0).await
    ));
}

async fn tenancy(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let mine = new_org(store, "tenant-a", t0).await;
    let theirs = new_org(store, "tenant-b", t0).await;
    let record = create(
        store,
        &mine,
        json!({"name": "Mine", "instructions": "private", "tags": ["secret"]}),
        t0 + secs(1),
    )
    .await;
    let id = &record.id;

    assert_eq!(
        get(store, &theirs, id).await,
        None,
        "get of another org's assistant"
    );
    assert_eq!(
        list(store, &theirs, 0, None).await,
        (vec![], 0),
        "list of another org"
    );
    assert_eq!(
        update(
            store,
            &theirs,
            id,
            json!({"description": "hijack", "tags": ["x"]}),
            t0 + secs(2)
        )
        .await,
        None,
        "update of another org's assistant"
    );
    assert_eq!(
        delete(store, &theirs, id, DeleteMode::Soft, t0 + secs(3)).await,
        DeleteOutcome::NotFound,
        "soft delete of another org's assistant"
    );
    assert_eq!(
        delete(store, &theirs, id, DeleteMode::Hard, t0 + secs(3)).await,
        DeleteOutcome::NotFound,
        "hard delete of another org's assistant"
    );
    assert_eq!(
        ok(
            "add_assistant_tag",
            store.add_assistant_tag(&theirs, id, "x").await
        ),
        None,
        "tagging another org's assistant"
    );
    assert_eq!(
        ok(
            "remove_assistant_tag",
            store.remove_assistant_tag(&theirs, id, "secret").await
        ),
        None,
        "untagging another org's assistant"
    );
    assert_eq!(
        ok(
            "list_assistant_tags",
            store.list_assistant_tags(&theirs).await
        ),
        Vec::<String>::new(),
        "another org's tags"
    );
    assert_eq!(
        ok(
            "restore_assistant",
            store.restore_assistant(&theirs, id).await
        ),
        None,
        "restoring another org's live assistant"
    );
    assert_eq!(
        get(store, &mine, id).await.as_ref(),
        Some(&record),
        "the owner's assistant is untouched"
    );

    assert_eq!(
        delete(store, &mine, id, DeleteMode::Soft, t0 + secs(4)).await,
        DeleteOutcome::Deleted
    );
    assert_eq!(
        get_deleted(store, &theirs, id).await,
        None,
        "get_deleted of another org's assistant"
    );
    assert_eq!(
        list_deleted(store, &theirs, 0, None).await,
        (vec![], 0),
        "deleted list of another org"
    );
    assert_eq!(
        ok(
            "restore_assistant",
            store.restore_assistant(&theirs, id).await
        ),
        None,
        "restoring another org's deleted assistant"
    );
    assert!(
        get_deleted(store, &mine, id).await.is_some(),
        "still deleted for its owner"
    );
    let restored = ok(
        "restore_assistant",
        store.restore_assistant(&mine, id).await,
    );
    assert_eq!(
        restored.as_ref(),
        Some(&record),
        "the owner restores it unchanged"
    );
}

async fn create_get_list(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "listing", t0).await;
    let body = |name: &str| json!({"name": name, "instructions": "list me", "greeting": format!("hi from {name}")});

    // Created out of order: the list is ordered by creation time, then id.
    let third = create(store, &org, body("third"), t0 + secs(3)).await;
    let mut imported = new_record(body("first"));
    imported.tags = vec!["b".into(), "a".into()];
    imported.import_metadata = Some(json!({"import_provider": "vapi", "import_id": "imp-1"}));
    let first = create_record(store, &org, imported, t0 + secs(1)).await;
    let second = create(store, &org, body("second"), t0 + secs(2)).await;
    let tie_a = create(store, &org, body("tie a"), t0 + secs(4)).await;
    let tie_b = create(store, &org, body("tie b"), t0 + secs(4)).await;
    let (tie_lo, tie_hi) = if tie_a.id < tie_b.id {
        (tie_a, tie_b)
    } else {
        (tie_b, tie_a)
    };

    assert_eq!(
        get(store, &org, &first.id).await.as_ref(),
        Some(&first),
        "get returns what create returned"
    );
    assert_eq!(
        get(store, &org, &AssistantId::generate()).await,
        None,
        "get of an unknown id"
    );

    let all = vec![first, second, third, tie_lo, tie_hi];
    let (page, total) = list(store, &org, 0, None).await;
    assert_eq!(total, 5, "list counts every assistant");
    assert_eq!(
        ids(&page),
        ids(&all),
        "list is ordered by created_at, then id"
    );
    assert_eq!(page, all, "list returns full records");

    let (page, total) = list(store, &org, 1, Some(2)).await;
    assert_eq!(
        (ids(&page), total),
        (ids(&all[1..3]), 5),
        "offset 1, limit 2"
    );
    let (page, total) = list(store, &org, 4, Some(10)).await;
    assert_eq!(
        (ids(&page), total),
        (ids(&all[4..]), 5),
        "a last partial page"
    );
    let (page, total) = list(store, &org, 10, None).await;
    assert_eq!(
        (page.len(), total),
        (0, 5),
        "a page past the end is empty but counts"
    );
    let (page, total) = list(store, &org, 0, Some(0)).await;
    assert_eq!((page.len(), total), (0, 5), "limit 0 counts only");
}

async fn updates(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "updates", t0).await;
    let created = create(
        store,
        &org,
        json!({"name": "Helper", "instructions": "be kind", "greeting": "hi", "description": "first", "tags": ["a"]}),
        t0,
    )
    .await;
    let id = &created.id;

    // A partial update merges into the main version and replaces the tags.
    let v2 = VersionId::generate();
    let change =
        update_body(json!({"description": "second", "tags": ["b", "c"], "version_name": "Second"}));
    let updated = ok(
        "update_assistant",
        store
            .update_assistant(&org, id, &change, v2.clone(), t0 + secs(10))
            .await,
    )
    .expect("update of a live assistant");
    assert_eq!(updated.id, *id);
    assert_eq!(updated.created_at, t0, "an update keeps created_at");
    assert_eq!(
        updated.tags,
        vec!["b", "c"],
        "an update with tags replaces them"
    );
    assert_eq!(updated.version.id, v2, "the update returns its new version");
    assert_eq!(
        updated.version.name, "Second",
        "the update names its version"
    );
    assert_eq!(
        updated.version.created_at,
        t0 + secs(10),
        "the new version is written now"
    );
    assert_eq!(
        field(&updated, "description"),
        Some(&json!("second")),
        "the sent field changes"
    );
    assert_eq!(
        field(&updated, "greeting"),
        Some(&json!("hi")),
        "unsent fields stay"
    );
    assert_eq!(field(&updated, "instructions"), Some(&json!("be kind")));
    assert_eq!(field(&updated, "name"), Some(&json!("Helper")));
    assert_eq!(field(&updated, "model"), Some(&json!(MODEL)));
    assert_eq!(
        get(store, &org, id).await.as_ref(),
        Some(&updated),
        "the new version is main"
    );

    // null clears a field; an unnamed version gets the default name; no tags keeps them.
    let cleared = update(store, &org, id, json!({"greeting": null}), t0 + secs(20))
        .await
        .expect("update");
    assert_eq!(field(&cleared, "greeting"), None, "null clears the field");
    assert_eq!(field(&cleared, "description"), Some(&json!("second")));
    assert_eq!(
        cleared.version.name, DEFAULT_VERSION_NAME,
        "an unnamed version"
    );
    assert_eq!(
        cleared.tags,
        vec!["b", "c"],
        "an update without tags keeps them"
    );
    assert_eq!(get(store, &org, id).await.as_ref(), Some(&cleared));

    // promote_to_main = false writes a version without making it main.
    let draft = update(
        store,
        &org,
        id,
        json!({"greeting": "draft", "promote_to_main": false, "tags": ["d"]}),
        t0 + secs(30),
    )
    .await
    .expect("update");
    assert_eq!(
        field(&draft, "greeting"),
        Some(&json!("draft")),
        "the returned record shows the draft"
    );
    assert_ne!(draft.version.id, cleared.version.id);
    assert_eq!(
        draft.tags,
        vec!["d"],
        "tags change even when the version is not promoted"
    );
    let main = get(store, &org, id).await.expect("still live");
    assert_eq!(
        main.version, cleared.version,
        "main is unchanged by an unpromoted version"
    );
    assert_eq!(main.tags, vec!["d"]);

    // The next update applies to main, not to the draft.
    let next = update(
        store,
        &org,
        id,
        json!({"description": "third"}),
        t0 + secs(40),
    )
    .await
    .expect("update");
    assert_eq!(
        field(&next, "greeting"),
        None,
        "updates apply to the main version"
    );
    assert_eq!(field(&next, "description"), Some(&json!("third")));
    assert_eq!(
        get(store, &org, id).await.map(|r| r.version),
        Some(next.version.clone())
    );

    // An empty update still writes a version.
    let empty = update(store, &org, id, json!({}), t0 + secs(50))
        .await
        .expect("update");
    assert_eq!(
        empty.version.config, next.version.config,
        "an empty update copies main"
    );
    assert_ne!(empty.version.id, next.version.id);

    assert_eq!(
        update(
            store,
            &org,
            &AssistantId::generate(),
            json!({"description": "x"}),
            t0
        )
        .await,
        None,
        "update of an unknown id"
    );
}

async fn version_pruning(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "pruning", t0).await;

    // Promoted updates: older versions are pruned, every update still works.
    let record = create(
        store,
        &org,
        json!({"name": "Busy", "instructions": "x"}),
        t0,
    )
    .await;
    for i in 0..12i64 {
        let updated = update(
            store,
            &org,
            &record.id,
            json!({"description": format!("d{i}"), "version_name": format!("v{i}")}),
            t0 + secs(i + 1),
        )
        .await
        .expect("update");
        assert_eq!(updated.version.name, format!("v{i}"));
        assert_eq!(
            field(&updated, "description"),
            Some(&json!(format!("d{i}")))
        );
    }
    let main = get(store, &org, &record.id).await.expect("live");
    assert_eq!(main.version.name, "v11", "the last update is main");

    // Unpromoted updates: the main version is never pruned, however old.
    let record = create(
        store,
        &org,
        json!({"name": "Stable", "instructions": "x"}),
        t0,
    )
    .await;
    for i in 0..12i64 {
        let draft = update(
            store,
            &org,
            &record.id,
            json!({"description": format!("draft {i}"), "promote_to_main": false}),
            t0 + secs(i + 1),
        )
        .await
        .expect("update");
        assert_eq!(
            field(&draft, "description"),
            Some(&json!(format!("draft {i}")))
        );
        assert_eq!(
            get(store, &org, &record.id).await.map(|r| r.version),
            Some(record.version.clone()),
            "main survives pruning after {} drafts",
            i + 1
        );
    }
    let promoted = update(
        store,
        &org,
        &record.id,
        json!({"greeting": "finally"}),
        t0 + secs(20),
    )
    .await
    .expect("update after pruning");
    assert_eq!(
        field(&promoted, "description"),
        None,
        "drafts never touched main"
    );
    assert_eq!(
        get(store, &org, &record.id).await.map(|r| r.version),
        Some(promoted.version)
    );
}

async fn concurrent_writes(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "races", t0).await;
    let record = create(
        store,
        &org,
        json!({"name": "Raced", "instructions": "x"}),
        t0,
    )
    .await;
    let id = record.id.clone();

    // 20 tag additions, 10 description updates and one greeting update, all at once.
    let outcomes = concurrently(31, |i| {
        let (store, org, id) = (store.clone(), org.clone(), id.clone());
        async move {
            if i < 20 {
                let tags = ok(
                    "concurrent add_assistant_tag",
                    store
                        .add_assistant_tag(&org, &id, &format!("tag-{i:02}"))
                        .await,
                );
                tags.is_some()
            } else {
                let body = if i < 30 {
                    json!({"description": format!("desc-{i}")})
                } else {
                    json!({"greeting": "hello"})
                };
                let update = update_body(body);
                let at = t0 + secs(i as i64);
                let updated = ok(
                    "concurrent update_assistant",
                    store
                        .update_assistant(&org, &id, &update, VersionId::generate(), at)
                        .await,
                );
                updated.is_some()
            }
        }
    })
    .await;
    assert!(
        outcomes.iter().all(|found| *found),
        "every concurrent write found the assistant"
    );

    let after = get(store, &org, &id).await.expect("live");
    assert_eq!(
        field(&after, "greeting"),
        Some(&json!("hello")),
        "no update was lost"
    );
    let description = field(&after, "description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        (20..30).any(|i| description == format!("desc-{i}")),
        "the description is one of the written ones, not {description:?}"
    );
    let expected: BTreeSet<String> = (0..20).map(|i| format!("tag-{i:02}")).collect();
    let tags: BTreeSet<String> = after.tags.iter().cloned().collect();
    assert_eq!(after.tags.len(), 20, "no tag was added twice");
    assert_eq!(tags, expected, "no tag addition was lost");
}

async fn references(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "refs", t0).await;
    let other_org = new_org(store, "refs-other", t0).await;
    let target = create(
        store,
        &org,
        json!({"name": "Target", "instructions": "x"}),
        t0,
    )
    .await;
    let by_tool = create(
        store,
        &org,
        handoff_body("By tool", &target.id),
        t0 + secs(1),
    )
    .await;
    let by_flow = create(
        store,
        &org,
        json!({"name": "By flow", "instructions": "x", "conversation_flow": {
            "start_node_id": "n1",
            "nodes": [{"id": "n1", "instructions": "x"}],
            "edges": [{"id": "e1", "start_node_id": "n1", "condition": {"type": "llm", "prompt": "p"},
                "target": {"type": "assistant", "assistant_id": target.id.as_str()}}]
        }}),
        t0 + secs(2),
    )
    .await;

    let mut expected = vec![by_tool.id.to_string(), by_flow.id.to_string()];
    expected.sort();
    for mode in [DeleteMode::Soft, DeleteMode::Hard] {
        match delete(store, &org, &target.id, mode, t0 + secs(3)).await {
            DeleteOutcome::ReferencedBy(mut referrers) => {
                referrers.sort();
                assert_eq!(referrers, expected, "{mode:?} delete names every referrer");
            }
            outcome => panic!("{mode:?} delete of a referenced assistant: {outcome:?}"),
        }
    }
    assert_eq!(
        get(store, &org, &target.id).await.as_ref(),
        Some(&target),
        "a refused delete changes nothing"
    );

    // A soft-deleted referrer no longer counts; a referrer whose main version dropped the
    // reference no longer counts.
    assert_eq!(
        delete(store, &org, &by_tool.id, DeleteMode::Soft, t0 + secs(4)).await,
        DeleteOutcome::Deleted
    );
    assert_eq!(
        delete(store, &org, &target.id, DeleteMode::Soft, t0 + secs(5)).await,
        DeleteOutcome::ReferencedBy(vec![by_flow.id.to_string()]),
        "only the live referrer is left"
    );
    update(
        store,
        &org,
        &by_flow.id,
        json!({"conversation_flow": null}),
        t0 + secs(6),
    )
    .await
    .expect("update");

    // References that do not count: an unpromoted draft, another organization, itself.
    let drafter = create(
        store,
        &org,
        json!({"name": "Drafter", "instructions": "x"}),
        t0 + secs(7),
    )
    .await;
    let draft = update(
        store,
        &org,
        &drafter.id,
        json!({"promote_to_main": false, "tools": [{"type": "handoff", "handoff": {"ai_assistants": [{"id": target.id.as_str(), "name": "t"}]}}]}),
        t0 + secs(8),
    )
    .await
    .expect("update");
    assert!(draft
        .version
        .config
        .referenced_assistants()
        .contains(target.id.as_str()));
    create(
        store,
        &other_org,
        handoff_body("Foreign", &target.id),
        t0 + secs(9),
    )
    .await;
    let selfish = update(
        store,
        &org,
        &target.id,
        json!({"tools": [{"type": "handoff", "handoff": {"ai_assistants": [{"id": target.id.as_str(), "name": "me"}]}}]}),
        t0 + secs(10),
    )
    .await
    .expect("update");
    assert!(selfish
        .version
        .config
        .referenced_assistants()
        .contains(target.id.as_str()));

    assert_eq!(
        delete(store, &org, &target.id, DeleteMode::Soft, t0 + secs(11)).await,
        DeleteOutcome::Deleted,
        "drafts, other organizations and self-references do not block a delete"
    );
}

async fn soft_and_hard_delete(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "deletes", t0).await;
    let a = create(
        store,
        &org,
        json!({"name": "A", "instructions": "x", "tags": ["x", "shared"]}),
        t0 + secs(1),
    )
    .await;
    let b = create(
        store,
        &org,
        json!({"name": "B", "instructions": "x", "tags": ["y", "shared"]}),
        t0 + secs(2),
    )
    .await;
    let c = create(
        store,
        &org,
        json!({"name": "C", "instructions": "x", "tags": ["z"]}),
        t0 + secs(3),
    )
    .await;
    let tags = |store: Arc<dyn Store>, org: OrgId| async move {
        ok("list_assistant_tags", store.list_assistant_tags(&org).await)
    };
    assert_eq!(
        tags(store.clone(), org.clone()).await,
        vec!["shared", "x", "y", "z"]
    );

    assert_eq!(
        delete(store, &org, &a.id, DeleteMode::Soft, t0 + secs(10)).await,
        DeleteOutcome::Deleted
    );
    assert_eq!(
        get(store, &org, &a.id).await,
        None,
        "a soft-deleted assistant is gone from get"
    );
    let (page, total) = list(store, &org, 0, None).await;
    assert_eq!(
        (ids(&page), total),
        (vec![&b.id, &c.id], 2),
        "and from the list"
    );
    assert_eq!(
        tags(store.clone(), org.clone()).await,
        vec!["shared", "y", "z"],
        "tags of deleted assistants are not listed"
    );
    let deleted = get_deleted(store, &org, &a.id)
        .await
        .expect("get_deleted finds it");
    assert_eq!(
        deleted.deleted_at,
        Some(t0 + secs(10)),
        "deleted_at is recorded"
    );
    assert_eq!(
        (&deleted.version, &deleted.tags),
        (&a.version, &a.tags),
        "with its main version"
    );
    assert_eq!(
        get_deleted(store, &org, &b.id).await,
        None,
        "get_deleted of a live assistant"
    );

    assert_eq!(
        delete(store, &org, &b.id, DeleteMode::Soft, t0 + secs(20)).await,
        DeleteOutcome::Deleted
    );
    let (page, total) = list_deleted(store, &org, 0, None).await;
    assert_eq!(
        (ids(&page), total),
        (vec![&b.id, &a.id], 2),
        "most recently deleted first"
    );
    let (page, total) = list_deleted(store, &org, 1, Some(1)).await;
    assert_eq!((ids(&page), total), (vec![&a.id], 2), "deleted list pages");

    for mode in [DeleteMode::Soft, DeleteMode::Hard] {
        assert_eq!(
            delete(store, &org, &a.id, mode, t0 + secs(30)).await,
            DeleteOutcome::NotFound,
            "{mode:?} delete of a soft-deleted assistant"
        );
    }
    assert_eq!(
        ok(
            "add_assistant_tag",
            store.add_assistant_tag(&org, &a.id, "t").await
        ),
        None
    );
    assert_eq!(
        ok(
            "remove_assistant_tag",
            store.remove_assistant_tag(&org, &a.id, "x").await
        ),
        None
    );
    assert_eq!(
        update(
            store,
            &org,
            &a.id,
            json!({"description": "x"}),
            t0 + secs(30)
        )
        .await,
        None
    );

    let restored = ok(
        "restore_assistant",
        store.restore_assistant(&org, &a.id).await,
    );
    assert_eq!(
        restored.as_ref(),
        Some(&a),
        "restore brings it back as it was"
    );
    assert_eq!(get(store, &org, &a.id).await.as_ref(), Some(&a));
    assert_eq!(get_deleted(store, &org, &a.id).await, None);
    assert_eq!(
        ok(
            "restore_assistant",
            store.restore_assistant(&org, &a.id).await
        ),
        None,
        "restoring a live assistant"
    );

    assert_eq!(
        delete(store, &org, &c.id, DeleteMode::Hard, t0 + secs(40)).await,
        DeleteOutcome::Deleted
    );
    assert_eq!(
        get(store, &org, &c.id).await,
        None,
        "a hard-deleted assistant is gone"
    );
    assert_eq!(
        get_deleted(store, &org, &c.id).await,
        None,
        "and not restorable"
    );
    assert_eq!(
        ok(
            "restore_assistant",
            store.restore_assistant(&org, &c.id).await
        ),
        None
    );
    assert_eq!(
        delete(store, &org, &c.id, DeleteMode::Hard, t0 + secs(41)).await,
        DeleteOutcome::NotFound
    );
    let (page, total) = list(store, &org, 0, None).await;
    assert_eq!((ids(&page), total), (vec![&a.id], 1));
    let (page, total) = list_deleted(store, &org, 0, None).await;
    assert_eq!((ids(&page), total), (vec![&b.id], 1));
    assert_eq!(
        delete(store, &org, &AssistantId::generate(), DeleteMode::Soft, t0).await,
        DeleteOutcome::NotFound
    );
}

async fn purge(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "purge", t0).await;
    let long_ago = t0 - Duration::days(50);
    let cutoff = t0 - Duration::days(30);
    let old = create(
        store,
        &org,
        json!({"name": "Old", "instructions": "x"}),
        long_ago,
    )
    .await;
    let edge = create(
        store,
        &org,
        json!({"name": "Edge", "instructions": "x"}),
        long_ago,
    )
    .await;
    let recent = create(
        store,
        &org,
        json!({"name": "Recent", "instructions": "x"}),
        long_ago,
    )
    .await;
    let live = create(
        store,
        &org,
        json!({"name": "Live", "instructions": "x"}),
        long_ago,
    )
    .await;
    let deleted_at = [
        (&old, cutoff - secs(1)),
        (&edge, cutoff),
        (&recent, t0 - Duration::days(10)),
    ];
    for (record, at) in deleted_at {
        assert_eq!(
            delete(store, &org, &record.id, DeleteMode::Soft, at).await,
            DeleteOutcome::Deleted
        );
    }

    assert_eq!(
        ok(
            "purge_deleted_assistants",
            store.purge_deleted_assistants(cutoff).await
        ),
        1,
        "only the assistant deleted before the cutoff is purged"
    );
    assert_eq!(
        get_deleted(store, &org, &old.id).await,
        None,
        "a purged assistant is gone"
    );
    assert_eq!(
        ok(
            "restore_assistant",
            store.restore_assistant(&org, &old.id).await
        ),
        None
    );
    assert!(
        get_deleted(store, &org, &edge.id).await.is_some(),
        "deleted exactly at the cutoff stays"
    );
    assert!(
        get_deleted(store, &org, &recent.id).await.is_some(),
        "recently deleted stays"
    );
    assert_eq!(
        get(store, &org, &live.id).await.as_ref(),
        Some(&live),
        "live assistants stay"
    );
    assert_eq!(
        ok(
            "purge_deleted_assistants",
            store.purge_deleted_assistants(cutoff).await
        ),
        0,
        "purging again finds nothing"
    );
    assert!(ok(
        "restore_assistant",
        store.restore_assistant(&org, &recent.id).await
    )
    .is_some());
}

async fn tags(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "tags", t0).await;
    let one = create(
        store,
        &org,
        json!({"name": "One", "instructions": "x", "tags": ["b"]}),
        t0,
    )
    .await;
    let add = |tag: &'static str| {
        let (store, org, id) = (store.clone(), org.clone(), one.id.clone());
        async move {
            ok(
                "add_assistant_tag",
                store.add_assistant_tag(&org, &id, tag).await,
            )
        }
    };
    let remove = |tag: &'static str| {
        let (store, org, id) = (store.clone(), org.clone(), one.id.clone());
        async move {
            ok(
                "remove_assistant_tag",
                store.remove_assistant_tag(&org, &id, tag).await,
            )
        }
    };
    assert_eq!(
        add("a").await,
        Some(vec!["b".into(), "a".into()]),
        "tags keep insertion order"
    );
    assert_eq!(
        add("b").await,
        Some(vec!["b".into(), "a".into()]),
        "adding a present tag is a no-op"
    );
    assert_eq!(
        add("c").await,
        Some(vec!["b".into(), "a".into(), "c".into()])
    );
    assert_eq!(
        remove("a").await,
        Some(vec!["b".into(), "c".into()]),
        "removing keeps the order"
    );
    assert_eq!(
        remove("zzz").await,
        Some(vec!["b".into(), "c".into()]),
        "removing an absent tag is a no-op"
    );
    assert_eq!(
        get(store, &org, &one.id).await.map(|r| r.tags),
        Some(vec!["b".into(), "c".into()])
    );
    assert_eq!(
        ok(
            "add_assistant_tag",
            store
                .add_assistant_tag(&org, &AssistantId::generate(), "a")
                .await
        ),
        None,
        "tagging an unknown assistant"
    );
    assert_eq!(
        ok(
            "remove_assistant_tag",
            store
                .remove_assistant_tag(&org, &AssistantId::generate(), "a")
                .await
        ),
        None,
        "untagging an unknown assistant"
    );

    create(
        store,
        &org,
        json!({"name": "Two", "instructions": "x", "tags": ["c", "a", "d e"]}),
        t0,
    )
    .await;
    create(
        store,
        &org,
        json!({"name": "Three", "instructions": "x"}),
        t0,
    )
    .await;
    assert_eq!(
        ok("list_assistant_tags", store.list_assistant_tags(&org).await),
        vec!["a", "b", "c", "d e"],
        "distinct tags, sorted"
    );
    // Tags replaced by an update are listed as they are now.
    update(store, &org, &one.id, json!({"tags": ["z"]}), t0 + secs(1))
        .await
        .expect("update");
    assert_eq!(
        ok("list_assistant_tags", store.list_assistant_tags(&org).await),
        vec!["a", "c", "d e", "z"]
    );
}

async fn idempotency(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "idem", t0).await;
    let other = new_org(store, "idem-other", t0).await;
    let day = Duration::hours(24);
    let claim = |org: &OrgId, key: &str, fingerprint: &str, now: DateTime<Utc>| {
        let (store, org, key, fingerprint) = (
            store.clone(),
            org.clone(),
            key.to_owned(),
            fingerprint.to_owned(),
        );
        async move {
            ok(
                "claim_idempotency_key",
                store
                    .claim_idempotency_key(&org, &key, &fingerprint, now, now - day)
                    .await,
            )
        }
    };

    assert_eq!(
        claim(&org, "k1", "fp1", t0).await,
        IdempotencyClaim::Claimed,
        "a new key is claimed"
    );
    assert_eq!(
        claim(&org, "k1", "fp1", t0 + secs(1)).await,
        IdempotencyClaim::InFlight,
        "while running"
    );
    assert_eq!(
        claim(&org, "k1", "fp2", t0 + secs(1)).await,
        IdempotencyClaim::Mismatch,
        "another request"
    );
    assert_eq!(
        claim(&other, "k1", "fp2", t0 + secs(1)).await,
        IdempotencyClaim::Claimed,
        "keys are per organization"
    );

    let response = StoredResponse {
        status: 201,
        body: br#"{"id":"assistant-1"}"#.to_vec(),
    };
    ok(
        "complete_idempotency_key",
        store
            .complete_idempotency_key(&org, "k1", response.clone())
            .await,
    );
    assert_eq!(
        claim(&org, "k1", "fp1", t0 + secs(2)).await,
        IdempotencyClaim::Replay(response.clone()),
        "a completed key replays its response"
    );
    assert_eq!(
        claim(&org, "k1", "fp2", t0 + secs(2)).await,
        IdempotencyClaim::Mismatch
    );
    assert_eq!(
        claim(&other, "k1", "fp2", t0 + secs(2)).await,
        IdempotencyClaim::InFlight,
        "completing one organization's key leaves the other's"
    );

    // Release forgets the key, so a retry runs again.
    ok(
        "release_idempotency_key",
        store.release_idempotency_key(&org, "k1").await,
    );
    ok(
        "release_idempotency_key twice",
        store.release_idempotency_key(&org, "k1").await,
    );
    assert_eq!(
        claim(&org, "k1", "fp2", t0 + secs(3)).await,
        IdempotencyClaim::Claimed,
        "after release"
    );
    assert_eq!(
        claim(&org, "k1", "fp2", t0 + secs(3)).await,
        IdempotencyClaim::InFlight
    );

    // An empty body and a non-2xx status replay as they were.
    let failure = StoredResponse {
        status: 422,
        body: Vec::new(),
    };
    ok(
        "complete_idempotency_key",
        store
            .complete_idempotency_key(&org, "k1", failure.clone())
            .await,
    );
    assert_eq!(
        claim(&org, "k1", "fp2", t0 + secs(4)).await,
        IdempotencyClaim::Replay(failure)
    );

    // Keys older than expires_before are forgotten first; a key exactly at it is not.
    ok(
        "complete_idempotency_key",
        store
            .complete_idempotency_key(&other, "k1", response.clone())
            .await,
    );
    assert_eq!(
        claim(&other, "k1", "fp3", t0 + secs(1) + day).await,
        IdempotencyClaim::Mismatch,
        "a key created exactly expires_before ago is kept"
    );
    assert_eq!(
        claim(&other, "k1", "fp3", t0 + secs(2) + day).await,
        IdempotencyClaim::Claimed,
        "an expired key is claimed anew, whatever its fingerprint"
    );
    let expired_inflight = claim(&org, "k2", "fp", t0).await;
    assert_eq!(expired_inflight, IdempotencyClaim::Claimed);
    assert_eq!(
        claim(&org, "k2", "fp", t0 + day + secs(1)).await,
        IdempotencyClaim::Claimed,
        "an abandoned in-flight claim expires too"
    );
}

async fn concurrent_idempotency(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "idem-race", t0).await;
    let claims = concurrently(10, |_| {
        let (store, org) = (store.clone(), org.clone());
        async move {
            ok(
                "concurrent claim_idempotency_key",
                store
                    .claim_idempotency_key(&org, "race", "fp", t0, t0 - Duration::hours(24))
                    .await,
            )
        }
    })
    .await;
    let claimed = claims
        .iter()
        .filter(|c| **c == IdempotencyClaim::Claimed)
        .count();
    let in_flight = claims
        .iter()
        .filter(|c| **c == IdempotencyClaim::InFlight)
        .count();
    assert_eq!(
        (claimed, in_flight),
        (1, 9),
        "exactly one of concurrent claims wins: {claims:?}"
    );
}
