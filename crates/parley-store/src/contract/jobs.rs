//! The contract of [`crate::JobStore`]: `(kind, key)` names one job; only due, unheld jobs are
//! claimed, earliest first; a lease keeps a job from a second claimer until it runs out;
//! only the lease holder completes, retries or extends; concurrent claimers never share a job.
//!
//! The jobs here are due a thousand days before `t0`, and claims look no later than that, so
//! jobs other parts of the suite enqueue (due around `t0`) are never claimed here.

use super::{concurrently, new_org, ok, secs};
use crate::{JobRecord, NewJob, Store};
use chrono::{DateTime, Duration, Utc};
use parley_core::ids::OrgId;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

fn job(org: &OrgId, key: &str, due_at: DateTime<Utc>) -> NewJob {
    NewJob {
        org_id: org.clone(),
        kind: "contract".into(),
        key: key.into(),
        payload: json!({"key": key}),
        due_at,
    }
}

async fn claim(
    store: &Arc<dyn Store>,
    owner: &str,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<JobRecord> {
    ok(
        "claim_jobs",
        store
            .claim_jobs(owner, now, now + Duration::seconds(30), limit)
            .await,
    )
}

fn keys(jobs: &[JobRecord]) -> Vec<&str> {
    jobs.iter().map(|j| j.key.as_str()).collect()
}

/// Runs every check of this part of the contract.
pub(super) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let base = t0 - Duration::days(1000);
    let org = new_org(store, "jobs", t0).await;
    let other = new_org(store, "jobs-other", t0).await;

    // Enqueue, replace by (kind, key), read back.
    let first = ok(
        "enqueue",
        store.enqueue_job(job(&org, "a", base + secs(10))).await,
    );
    let again = ok(
        "enqueue again",
        store.enqueue_job(job(&org, "a", base + secs(5))).await,
    );
    assert_eq!(first, again, "the same (kind, key) keeps its id");
    let stored = ok("get_job", store.get_job(&org, "contract", "a").await).expect("job a");
    assert_eq!(
        stored.due_at,
        base + secs(5),
        "replacing moves the due time"
    );
    assert_eq!(stored.payload, json!({"key": "a"}));
    assert_eq!((stored.attempts, stored.lease_owner.as_deref()), (0, None));
    assert!(
        ok(
            "get_job other org",
            store.get_job(&other, "contract", "a").await
        )
        .is_none(),
        "jobs are per organization"
    );
    ok(
        "enqueue b",
        store.enqueue_job(job(&org, "b", base + secs(1))).await,
    );
    ok(
        "enqueue c",
        store.enqueue_job(job(&other, "c", base + secs(100))).await,
    );

    // Only due jobs, earliest first, up to the limit.
    assert!(
        claim(store, "n1", base, 10).await.is_empty(),
        "nothing due yet"
    );
    let claimed = claim(store, "n1", base + secs(6), 1).await;
    assert_eq!(keys(&claimed), ["b"], "earliest first, limit respected");
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].lease_owner.as_deref(), Some("n1"));
    let claimed = claim(store, "n2", base + secs(6), 10).await;
    assert_eq!(keys(&claimed), ["a"], "a held job is not claimed again");
    assert!(claim(store, "n3", base + secs(20), 10).await.is_empty());

    // Leases: only the holder acts; an expired lease lets another node claim.
    let b = ok("get b", store.get_job(&org, "contract", "b").await).expect("b");
    assert!(!ok(
        "complete by stranger",
        store.complete_job(&b.id, "n2").await
    ));
    assert!(ok(
        "extend",
        store.extend_job_lease(&b.id, "n1", base + secs(200)).await
    ));
    assert!(!ok(
        "extend by stranger",
        store.extend_job_lease(&b.id, "n2", base + secs(300)).await
    ));
    let reclaimed = claim(store, "n3", base + secs(40), 10).await;
    assert_eq!(
        keys(&reclaimed),
        ["a"],
        "a's lease ran out at +36 s; b's was extended"
    );
    assert_eq!(reclaimed[0].attempts, 2);
    assert!(!ok(
        "old holder",
        store.complete_job(&reclaimed[0].id, "n2").await
    ));
    assert!(ok(
        "retry",
        store
            .retry_job(&reclaimed[0].id, "n3", base + secs(60), "carrier said 503")
            .await
    ));
    let a = ok("get a", store.get_job(&org, "contract", "a").await).expect("a");
    assert_eq!(a.last_error.as_deref(), Some("carrier said 503"));
    assert_eq!((a.due_at, a.lease_owner), (base + secs(60), None));
    assert_eq!(
        ok("next due", store.next_job_due_at().await).map(|t| t <= base + secs(60)),
        Some(true),
        "the next due time is no later than a's"
    );
    assert!(ok("complete b", store.complete_job(&b.id, "n1").await));
    assert!(ok("get b gone", store.get_job(&org, "contract", "b").await).is_none());

    // Cancel, held or not; per organization.
    assert!(!ok(
        "cancel other org",
        store.cancel_job(&other, "contract", "a").await
    ));
    assert!(ok(
        "cancel a",
        store.cancel_job(&org, "contract", "a").await
    ));
    assert!(!ok(
        "cancel a again",
        store.cancel_job(&org, "contract", "a").await
    ));
    let c = claim(store, "n1", base + secs(100), 10).await;
    assert_eq!(keys(&c), ["c"]);
    assert!(ok(
        "cancel held c",
        store.cancel_job(&other, "contract", "c").await
    ));
    assert!(!ok(
        "complete cancelled",
        store.complete_job(&c[0].id, "n1").await
    ));

    // Concurrent claimers never share a job.
    for i in 0..40 {
        ok(
            "enqueue many",
            store
                .enqueue_job(job(&org, &format!("m{i:02}"), base + secs(i)))
                .await,
        );
    }
    let now = base + secs(100);
    let batches = concurrently(8, |n| {
        let store = store.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let got = claim(&store, &format!("racer{n}"), now, 3).await;
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|j| j.key));
            }
        }
    })
    .await;
    let all: Vec<String> = batches.into_iter().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 40, "every job claimed once: {all:?}");
    assert_eq!(distinct.len(), 40, "no job claimed twice");
    for i in 0..40 {
        ok(
            "cancel many",
            store
                .cancel_job(&org, "contract", &format!("m{i:02}"))
                .await,
        );
    }
}
