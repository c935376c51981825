//! The contract of [`crate::SecretStore`]: create (identifiers unique per organization),
//! list (kind filter, pages, totals), look-ups by identifier, delete — all per organization.

use super::{new_org, ok, secs};
use crate::{CreateSecretOutcome, NewSecretRecord, PageRequest, SecretKind, SecretRecord, Store};
use chrono::{DateTime, Utc};
use parley_core::ids::OrgId;
use parley_core::secrets::SecretId;
use std::collections::BTreeSet;
use std::sync::Arc;

fn new_secret(identifier: &str, kind: SecretKind, sealed: &[u8]) -> NewSecretRecord {
    NewSecretRecord {
        id: SecretId::generate(),
        identifier: identifier.to_owned(),
        kind,
        sealed: sealed.to_vec(),
    }
}

async fn create(
    store: &Arc<dyn Store>,
    org: &OrgId,
    new: NewSecretRecord,
    at: DateTime<Utc>,
) -> SecretRecord {
    let (id, identifier, kind) = (new.id.clone(), new.identifier.clone(), new.kind);
    match ok("create_secret", store.create_secret(org, new, at).await) {
        CreateSecretOutcome::Created(record) => {
            assert_eq!(record.id, id, "create_secret keeps the id");
            assert_eq!(record.identifier, identifier);
            assert_eq!(record.kind, kind);
            assert_eq!(record.created_at, at);
            assert_eq!(record.updated_at, at);
            record
        }
        other => panic!("create_secret {identifier}: {other:?}"),
    }
}

async fn list(
    store: &Arc<dyn Store>,
    org: &OrgId,
    kind: Option<SecretKind>,
    page: PageRequest,
) -> (Vec<String>, u64) {
    let (records, total) = ok("list_secrets", store.list_secrets(org, kind, page).await);
    (records.into_iter().map(|r| r.identifier).collect(), total)
}

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Every check of the secrets contract.
pub(super) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "secrets", t0).await;
    let other = new_org(store, "secrets-other", t0).await;
    let empty = new_org(store, "secrets-empty", t0).await;

    // Created out of identifier order, so the list order is provably by creation time.
    let b = create(
        store,
        &org,
        new_secret("b.token", SecretKind::Bearer, b"sealed-b"),
        t0 + secs(1),
    )
    .await;
    let a = create(
        store,
        &org,
        new_secret("a-basic", SecretKind::Basic, b"sealed-a"),
        t0 + secs(2),
    )
    .await;
    create(
        store,
        &org,
        new_secret("c_token", SecretKind::Bearer, b"sealed-c"),
        t0 + secs(3),
    )
    .await;

    // Identifiers are unique per organization, and nothing is overwritten.
    let dup = ok(
        "create_secret duplicate",
        store
            .create_secret(
                &org,
                new_secret("b.token", SecretKind::Basic, b"other"),
                t0 + secs(4),
            )
            .await,
    );
    assert_eq!(dup, CreateSecretOutcome::DuplicateIdentifier);
    let kept = ok(
        "get_secret_by_identifier",
        store.get_secret_by_identifier(&org, "b.token").await,
    )
    .expect("b.token exists");
    assert_eq!(
        kept.record, b,
        "a duplicate leaves the first secret as it was"
    );
    assert_eq!(
        kept.sealed,
        b"sealed-b".to_vec(),
        "sealed bytes come back as stored"
    );

    // The same identifier in another organization is another secret.
    let theirs = create(
        store,
        &other,
        new_secret("b.token", SecretKind::Basic, b"theirs"),
        t0 + secs(5),
    )
    .await;
    assert_ne!(theirs.id, b.id);

    // Lists: oldest first, filtered by kind, paged, with totals of what the filter matches.
    let all = PageRequest::default();
    assert_eq!(
        list(store, &org, None, all).await,
        (names(&["b.token", "a-basic", "c_token"]), 3)
    );
    assert_eq!(
        list(store, &org, Some(SecretKind::Bearer), all).await,
        (names(&["b.token", "c_token"]), 2)
    );
    assert_eq!(
        list(store, &org, Some(SecretKind::Basic), all).await,
        (names(&["a-basic"]), 1)
    );
    let page = |offset, limit| PageRequest {
        offset,
        limit: Some(limit),
    };
    assert_eq!(
        list(store, &org, None, page(1, 1)).await,
        (names(&["a-basic"]), 3)
    );
    assert_eq!(
        list(store, &org, None, page(2, 5)).await,
        (names(&["c_token"]), 3)
    );
    assert_eq!(list(store, &org, None, page(5, 5)).await, (vec![], 3));
    assert_eq!(
        list(store, &org, Some(SecretKind::Bearer), page(1, 1)).await,
        (names(&["c_token"]), 2)
    );
    assert_eq!(
        list(store, &other, None, all).await,
        (names(&["b.token"]), 1)
    );
    assert_eq!(list(store, &empty, None, all).await, (vec![], 0));

    // Look-ups by identifier stay inside the organization.
    let got = ok(
        "get_secret_by_identifier",
        store.get_secret_by_identifier(&other, "b.token").await,
    )
    .expect("their b.token");
    assert_eq!(got.sealed, b"theirs".to_vec());
    assert_eq!(got.record, theirs);
    assert!(ok(
        "get_secret_by_identifier",
        store.get_secret_by_identifier(&other, "a-basic").await
    )
    .is_none());
    assert!(ok(
        "get_secret_by_identifier",
        store.get_secret_by_identifier(&empty, "b.token").await
    )
    .is_none());

    let asked = names(&["a-basic", "nope", "c_token", "a-basic", "B.TOKEN"]);
    assert_eq!(
        ok(
            "existing_secret_identifiers",
            store.existing_secret_identifiers(&org, &asked).await
        ),
        ["a-basic", "c_token"]
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>(),
        "identifiers match exactly (case included), duplicates asked once"
    );
    assert_eq!(
        ok(
            "existing_secret_identifiers",
            store.existing_secret_identifiers(&other, &asked).await
        ),
        BTreeSet::new(),
        "another organization's identifiers are not found"
    );
    assert!(ok(
        "existing_secret_identifiers",
        store.existing_secret_identifiers(&org, &[]).await
    )
    .is_empty());

    // Delete: another organization's id is not found and nothing changes.
    assert!(!ok(
        "delete_secret",
        store.delete_secret(&other, &a.id).await
    ));
    assert!(!ok(
        "delete_secret",
        store.delete_secret(&org, &theirs.id).await
    ));
    assert!(!ok(
        "delete_secret",
        store.delete_secret(&org, &SecretId::generate()).await
    ));
    assert!(ok("delete_secret", store.delete_secret(&org, &a.id).await));
    assert!(
        !ok("delete_secret", store.delete_secret(&org, &a.id).await),
        "a second delete finds nothing"
    );
    assert!(ok(
        "get_secret_by_identifier",
        store.get_secret_by_identifier(&org, "a-basic").await
    )
    .is_none());
    assert_eq!(
        list(store, &org, None, all).await,
        (names(&["b.token", "c_token"]), 2)
    );
    assert_eq!(
        list(store, &other, None, all).await.1,
        1,
        "theirs is untouched"
    );

    // A deleted identifier can be used again.
    create(
        store,
        &org,
        new_secret("a-basic", SecretKind::Bearer, b"again"),
        t0 + secs(6),
    )
    .await;
    assert_eq!(
        list(store, &org, Some(SecretKind::Bearer), all).await,
        (names(&["b.token", "c_token", "a-basic"]), 3)
    );

    // Values are bytes, kept exactly (every byte value, and a large payload).
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    create(
        store,
        &org,
        new_secret("binary", SecretKind::Basic, &bytes),
        t0 + secs(7),
    )
    .await;
    let got = ok(
        "get_secret_by_identifier",
        store.get_secret_by_identifier(&org, "binary").await,
    )
    .expect("binary");
    assert_eq!(got.sealed, bytes);
}
