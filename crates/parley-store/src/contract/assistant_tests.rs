//! The contract of [`crate::AssistantTestStore`]: tests (create, get, list with exact filters
//! and windows, partial updates, suites, delete with their runs) and runs (created `pending`
//! with a queued job and every rubric item `pending`, a snapshot of the test, lists newest
//! first with filters, compare-and-set status changes that set `started_at`/`completed_at`,
//! exactly one winner among concurrent claimers) — all per organization.

use super::{concurrently, new_org, ok, secs};
use crate::{
    AssistantTestFilter, AssistantTestRecord, NewTestRun, PageRequest, Store, TestRunFilter,
    TestRunRecord, TestRunTransition, TestRunUpdate, TEST_RUN_JOB,
};
use chrono::{DateTime, Utc};
use parley_core::assistant_tests::{
    generate_id, parse_create, parse_update, RubricResult, TestChannel, TestConfig, TestStatus,
};
use parley_core::ids::OrgId;
use serde_json::{json, Value};
use std::sync::Arc;

fn config(body: Value) -> TestConfig {
    parse_create(&body).unwrap_or_else(|e| panic!("test body {body} is invalid: {e:?}"))
}

fn body(name: &str, suite: Option<&str>, destination: &str) -> Value {
    let mut body = json!({
        "name": name,
        "destination": destination,
        "instructions": format!("You are {name}."),
        "rubric": [
            {"name": "Polite", "criteria": "The agent is polite."},
            {"name": "Solved", "criteria": "The problem is solved."}
        ],
    });
    if let Some(suite) = suite {
        body["test_suite"] = json!(suite);
    }
    body
}

async fn create_test(
    store: &Arc<dyn Store>,
    org: &OrgId,
    body: Value,
    at: DateTime<Utc>,
) -> AssistantTestRecord {
    let (id, config) = (generate_id(), config(body));
    let record = ok(
        "create_assistant_test",
        store.create_assistant_test(org, &id, &config, at).await,
    );
    assert_eq!(
        record,
        AssistantTestRecord {
            id,
            created_at: at,
            updated_at: at,
            config
        },
        "create_assistant_test returns what it stored"
    );
    record
}

async fn list_tests(
    store: &Arc<dyn Store>,
    org: &OrgId,
    filter: AssistantTestFilter,
    offset: u64,
    limit: Option<u64>,
) -> (Vec<String>, u64) {
    let (records, total) = ok(
        "list_assistant_tests",
        store
            .list_assistant_tests(org, &filter, PageRequest { offset, limit })
            .await,
    );
    (records.into_iter().map(|r| r.id).collect(), total)
}

async fn list_runs(
    store: &Arc<dyn Store>,
    org: &OrgId,
    filter: TestRunFilter,
    offset: u64,
    limit: Option<u64>,
) -> (Vec<String>, u64) {
    let (records, total) = ok(
        "list_test_runs",
        store
            .list_test_runs(org, &filter, PageRequest { offset, limit })
            .await,
    );
    (records.into_iter().map(|r| r.id).collect(), total)
}

fn new_run(
    test: &AssistantTestRecord,
    suite_run: Option<&str>,
    version: Option<&str>,
) -> NewTestRun {
    NewTestRun {
        id: generate_id(),
        test_id: test.id.clone(),
        triggered_by: "api".into(),
        test_suite_run_id: suite_run.map(str::to_owned),
        destination_version_id: version.map(str::to_owned),
        test: test.config.clone(),
    }
}

async fn transition(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &str,
    expected: &[TestStatus],
    update: TestRunUpdate,
    at: DateTime<Utc>,
) -> TestRunTransition {
    ok(
        "update_test_run",
        store.update_test_run(org, id, expected, &update, at).await,
    )
}

fn updated(outcome: TestRunTransition) -> TestRunRecord {
    match outcome {
        TestRunTransition::Updated(run) => run,
        other => panic!("expected the run to change, got {other:?}"),
    }
}

/// Runs every check of this part of the contract.
pub(super) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    tests_crud_and_tenancy(store, t0).await;
    runs_lifecycle(store, t0).await;
    concurrent_claims(store, t0).await;
}

async fn tests_crud_and_tenancy(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "tests", t0).await;
    let other = new_org(store, "tests-other", t0).await;
    let a = create_test(store, &org, body("a", Some("billing"), "assistant-1"), t0).await;
    let mut sms = body("b", Some("support"), "+15550001");
    sms["telnyx_conversation_channel"] = json!("sms_chat");
    sms["max_duration_seconds"] = json!(60);
    sms["description"] = json!("texting");
    let b = create_test(store, &org, sms, t0 + secs(1)).await;
    let c = create_test(
        store,
        &org,
        body("c", Some("billing"), "assistant-2"),
        t0 + secs(2),
    )
    .await;
    let d = create_test(store, &org, body("d", None, "assistant-1"), t0 + secs(3)).await;
    create_test(
        store,
        &other,
        body("x", Some("other-suite"), "assistant-1"),
        t0,
    )
    .await;

    let got = ok(
        "get_assistant_test",
        store.get_assistant_test(&org, &b.id).await,
    );
    assert_eq!(got.as_ref(), Some(&b), "get returns what create stored");
    assert_eq!(got.unwrap().config.channel, TestChannel::SmsChat);
    assert!(
        ok(
            "get other org",
            store.get_assistant_test(&other, &a.id).await
        )
        .is_none(),
        "another organization's test is not found"
    );
    assert!(ok("get unknown", store.get_assistant_test(&org, "nope").await).is_none());

    let all = AssistantTestFilter::default();
    assert_eq!(
        list_tests(store, &org, all.clone(), 0, None).await,
        (
            vec![a.id.clone(), b.id.clone(), c.id.clone(), d.id.clone()],
            4
        ),
        "oldest first, with the total"
    );
    assert_eq!(
        list_tests(store, &org, all.clone(), 1, Some(2)).await,
        (vec![b.id.clone(), c.id.clone()], 4),
        "a window keeps the total"
    );
    assert_eq!(list_tests(store, &org, all, 10, Some(2)).await, (vec![], 4));
    let suite = AssistantTestFilter {
        test_suite: Some("billing".into()),
        ..AssistantTestFilter::default()
    };
    assert_eq!(
        list_tests(store, &org, suite, 0, None).await,
        (vec![a.id.clone(), c.id.clone()], 2)
    );
    let channel = AssistantTestFilter {
        channel: Some("sms_chat".into()),
        ..AssistantTestFilter::default()
    };
    assert_eq!(
        list_tests(store, &org, channel, 0, None).await,
        (vec![b.id.clone()], 1)
    );
    let both = AssistantTestFilter {
        destination: Some("assistant-1".into()),
        test_suite: Some("billing".into()),
        ..AssistantTestFilter::default()
    };
    assert_eq!(
        list_tests(store, &org, both, 0, None).await,
        (vec![a.id.clone()], 1)
    );
    let unknown = AssistantTestFilter {
        channel: Some("sms".into()),
        ..AssistantTestFilter::default()
    };
    assert_eq!(list_tests(store, &org, unknown, 0, None).await, (vec![], 0));

    assert_eq!(
        ok("list_test_suites", store.list_test_suites(&org).await),
        ["billing", "support"],
        "distinct suite names, sorted"
    );

    // Partial update: sent fields replace, null clears, the rest stays.
    let update = parse_update(&json!({"name": "b2", "description": null, "test_suite": "billing"}))
        .expect("valid update");
    let changed = ok(
        "update_assistant_test",
        store
            .update_assistant_test(&org, &b.id, &update, t0 + secs(10))
            .await,
    )
    .expect("b exists");
    assert_eq!(changed.config.name, "b2");
    assert_eq!(changed.config.description, None);
    assert_eq!(changed.config.test_suite.as_deref(), Some("billing"));
    assert_eq!(
        changed.config.max_duration_seconds,
        Some(60),
        "unsent fields stay"
    );
    assert_eq!(
        (changed.created_at, changed.updated_at),
        (t0 + secs(1), t0 + secs(10))
    );
    assert_eq!(
        ok(
            "get after update",
            store.get_assistant_test(&org, &b.id).await
        ),
        Some(changed)
    );
    assert!(
        ok(
            "update other org",
            store
                .update_assistant_test(&other, &b.id, &update, t0)
                .await
        )
        .is_none(),
        "another organization's test cannot be updated"
    );
    assert_eq!(
        ok("list_test_suites", store.list_test_suites(&org).await),
        ["billing"],
        "a suite with no test left is gone"
    );

    assert!(!ok(
        "delete other org",
        store.delete_assistant_test(&other, &d.id).await
    ));
    assert!(ok("delete", store.delete_assistant_test(&org, &d.id).await));
    assert!(!ok(
        "delete again",
        store.delete_assistant_test(&org, &d.id).await
    ));
    assert!(ok("get deleted", store.get_assistant_test(&org, &d.id).await).is_none());
}

async fn runs_lifecycle(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "runs", t0).await;
    let other = new_org(store, "runs-other", t0).await;
    let a = create_test(store, &org, body("a", Some("nightly"), "assistant-1"), t0).await;
    let b = create_test(store, &org, body("b", Some("nightly"), "assistant-1"), t0).await;

    // One run alone, then a suite run of two.
    let single = ok(
        "create_test_runs",
        store
            .create_test_runs(&org, &[new_run(&a, None, Some("version-9"))], t0 + secs(1))
            .await,
    );
    let suite_run = generate_id();
    let batch = ok(
        "create_test_runs (suite)",
        store
            .create_test_runs(
                &org,
                &[
                    new_run(&a, Some(&suite_run), None),
                    new_run(&b, Some(&suite_run), None),
                ],
                t0 + secs(2),
            )
            .await,
    );
    assert_eq!((single.len(), batch.len()), (1, 2));
    let first = &single[0];
    assert_eq!(first.status, TestStatus::Pending);
    assert_eq!(first.destination_version_id.as_deref(), Some("version-9"));
    assert_eq!(
        first.detail_status,
        vec![
            RubricResult {
                name: "Polite".into(),
                status: TestStatus::Pending
            },
            RubricResult {
                name: "Solved".into(),
                status: TestStatus::Pending
            },
        ],
        "every rubric item starts pending"
    );
    assert_eq!(
        (first.started_at, first.completed_at, first.created_at),
        (None, None, t0 + secs(1))
    );
    let stored = ok("get_test_run", store.get_test_run(&org, &first.id).await);
    assert_eq!(
        stored.as_ref(),
        Some(first),
        "get returns what create stored"
    );
    assert!(
        ok(
            "get run other org",
            store.get_test_run(&other, &first.id).await
        )
        .is_none(),
        "another organization's run is not found"
    );
    for run in single.iter().chain(&batch) {
        let job = ok("get_job", store.get_job(&org, TEST_RUN_JOB, &run.id).await)
            .unwrap_or_else(|| panic!("run {} has a queued job", run.id));
        assert_eq!(job.due_at, run.created_at, "the job is due at once");
    }

    // Lists: newest first; filters by test, suite, suite run and status.
    let by_test = TestRunFilter {
        test_id: Some(a.id.clone()),
        ..TestRunFilter::default()
    };
    assert_eq!(
        list_runs(store, &org, by_test.clone(), 0, None).await,
        (vec![batch[0].id.clone(), first.id.clone()], 2),
        "newest first"
    );
    assert_eq!(
        list_runs(store, &org, by_test, 1, Some(1)).await,
        (vec![first.id.clone()], 2)
    );
    let by_suite = TestRunFilter {
        test_suite: Some("nightly".into()),
        ..TestRunFilter::default()
    };
    assert_eq!(list_runs(store, &org, by_suite, 0, None).await.1, 3);
    let by_suite_run = TestRunFilter {
        test_suite_run_id: Some(suite_run.clone()),
        ..TestRunFilter::default()
    };
    let (ids, total) = list_runs(store, &org, by_suite_run, 0, None).await;
    assert_eq!(total, 2);
    assert!(ids.contains(&batch[0].id) && ids.contains(&batch[1].id));
    assert_eq!(
        list_runs(store, &other, TestRunFilter::default(), 0, None).await,
        (vec![], 0),
        "runs are per organization"
    );

    // Compare-and-set transitions.
    let started = updated(
        transition(
            store,
            &org,
            &first.id,
            &[TestStatus::Pending],
            TestRunUpdate {
                status: Some(TestStatus::Starting),
                ..TestRunUpdate::default()
            },
            t0 + secs(3),
        )
        .await,
    );
    assert_eq!(
        (started.status, started.started_at, started.updated_at),
        (TestStatus::Starting, Some(t0 + secs(3)), t0 + secs(3))
    );
    match transition(
        store,
        &org,
        &first.id,
        &[TestStatus::Pending],
        TestRunUpdate {
            status: Some(TestStatus::Starting),
            ..TestRunUpdate::default()
        },
        t0 + secs(4),
    )
    .await
    {
        TestRunTransition::Unexpected(run) => assert_eq!(run, started, "nothing changed"),
        other => panic!("a second claim must be refused, got {other:?}"),
    }
    assert_eq!(
        transition(store, &other, &first.id, &[], TestRunUpdate::default(), t0).await,
        TestRunTransition::NotFound,
        "another organization's run cannot be changed"
    );
    let running = updated(
        transition(
            store,
            &org,
            &first.id,
            &[TestStatus::Starting],
            TestRunUpdate {
                status: Some(TestStatus::Running),
                conversation_id: Some("conv-1".into()),
                logs: Some("started".into()),
                ..TestRunUpdate::default()
            },
            t0 + secs(5),
        )
        .await,
    );
    assert_eq!(running.completed_at, None);
    let results = vec![
        RubricResult {
            name: "Polite".into(),
            status: TestStatus::Passed,
        },
        RubricResult {
            name: "Solved".into(),
            status: TestStatus::Failed,
        },
    ];
    let done = updated(
        transition(
            store,
            &org,
            &first.id,
            &[TestStatus::Running],
            TestRunUpdate {
                status: Some(TestStatus::Failed),
                logs: Some("started\nfinished".into()),
                detail_status: Some(results.clone()),
                ..TestRunUpdate::default()
            },
            t0 + secs(6),
        )
        .await,
    );
    assert_eq!(done.completed_at, Some(t0 + secs(6)));
    assert_eq!(done.started_at, Some(t0 + secs(3)), "started_at stays");
    assert_eq!(
        done.conversation_id.as_deref(),
        Some("conv-1"),
        "unsent fields stay"
    );
    assert_eq!(done.detail_status, results);
    assert_eq!(
        ok("get after", store.get_test_run(&org, &first.id).await),
        Some(done.clone())
    );
    let failed_only = TestRunFilter {
        statuses: vec![TestStatus::Failed, TestStatus::Error],
        ..TestRunFilter::default()
    };
    assert_eq!(
        list_runs(store, &org, failed_only, 0, None).await,
        (vec![first.id.clone()], 1)
    );
    let pending_only = TestRunFilter {
        statuses: vec![TestStatus::Pending],
        ..TestRunFilter::default()
    };
    assert_eq!(list_runs(store, &org, pending_only, 0, None).await.1, 2);

    // A run keeps the test as it was when triggered.
    let update = parse_update(&json!({"rubric": [{"name": "New", "criteria": "new"}]})).unwrap();
    ok(
        "update test",
        store
            .update_assistant_test(&org, &a.id, &update, t0 + secs(7))
            .await,
    );
    let kept = ok("get run", store.get_test_run(&org, &batch[0].id).await).unwrap();
    assert_eq!(kept.test, a.config, "the snapshot does not follow the test");

    // Deleting a test deletes its runs.
    assert!(ok(
        "delete test",
        store.delete_assistant_test(&org, &a.id).await
    ));
    assert!(ok(
        "get run of deleted",
        store.get_test_run(&org, &first.id).await
    )
    .is_none());
    assert_eq!(
        list_runs(store, &org, TestRunFilter::default(), 0, None).await,
        (vec![batch[1].id.clone()], 1)
    );
    // The jobs stay queued (they find nothing to do); leave none behind for other sections.
    for run in single.iter().chain(&batch) {
        ok(
            "cancel_job",
            store.cancel_job(&org, TEST_RUN_JOB, &run.id).await,
        );
    }
}

async fn concurrent_claims(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "runs-race", t0).await;
    let test = create_test(store, &org, body("race", None, "assistant-1"), t0).await;
    let runs = ok(
        "create_test_runs",
        store
            .create_test_runs(&org, &[new_run(&test, None, None)], t0)
            .await,
    );
    let id = runs[0].id.clone();
    let outcomes = concurrently(8, |i| {
        let (store, org, id) = (store.clone(), org.clone(), id.clone());
        async move {
            store
                .update_test_run(
                    &org,
                    &id,
                    &[TestStatus::Pending],
                    &TestRunUpdate {
                        status: Some(TestStatus::Starting),
                        logs: Some(format!("claimed by {i}")),
                        ..TestRunUpdate::default()
                    },
                    t0 + secs(1),
                )
                .await
                .expect("update_test_run")
        }
    })
    .await;
    let winners = outcomes
        .iter()
        .filter(|o| matches!(o, TestRunTransition::Updated(_)))
        .count();
    assert_eq!(
        winners, 1,
        "exactly one concurrent claimer moves a pending run"
    );
    ok(
        "cancel_job",
        store.cancel_job(&org, TEST_RUN_JOB, &id).await,
    );
}
