//! [`parley_store::AssistantTestStore`] on SQLite.

use crate::jobs::insert_job;
use crate::rows::{db_err, parse_ts, ts};
use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::assistant_tests::{
    parse_create, results_from_json, results_json, rubric_from_json, rubric_json, TestChannel,
    TestConfig, TestStatus, TestUpdate,
};
use parley_core::ids::OrgId;
use parley_store::{
    AssistantTestFilter, AssistantTestRecord, AssistantTestStore, NewJob, NewTestRun, PageRequest,
    StoreError, StoreResult, TestRunFilter, TestRunRecord, TestRunTransition, TestRunUpdate,
    TEST_RUN_JOB,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Value};

/// Columns read by [`read_test`].
const TEST_COLUMNS: &str = "id, created_at, updated_at, name, description, destination, \
     instructions, rubric, channel, max_duration_seconds, test_suite";

/// Columns read by [`read_run`].
const RUN_COLUMNS: &str = "id, test_id, status, triggered_by, test_suite_run_id, \
     destination_version_id, test_snapshot, conversation_id, logs, detail_status, created_at, \
     updated_at, started_at, completed_at";

fn conversion<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

fn corrupt(what: &str) -> rusqlite::Error {
    conversion(format!("corrupt {what}"))
}

fn time(row: &Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_ts(&row.get::<_, String>(i)?).map_err(conversion)
}

fn opt_time(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    row.get::<_, Option<String>>(i)?
        .map(|t| parse_ts(&t).map_err(conversion))
        .transpose()
}

fn json_col(row: &Row<'_>, i: usize) -> rusqlite::Result<Value> {
    serde_json::from_str(&row.get::<_, String>(i)?).map_err(conversion)
}

/// Decodes a row of [`TEST_COLUMNS`].
fn read_test(row: &Row<'_>) -> rusqlite::Result<AssistantTestRecord> {
    let channel: String = row.get(8)?;
    Ok(AssistantTestRecord {
        id: row.get(0)?,
        created_at: time(row, 1)?,
        updated_at: time(row, 2)?,
        config: TestConfig {
            name: row.get(3)?,
            description: row.get(4)?,
            destination: row.get(5)?,
            instructions: row.get(6)?,
            rubric: rubric_from_json(&json_col(row, 7)?).ok_or_else(|| corrupt("rubric"))?,
            channel: TestChannel::parse(&channel).ok_or_else(|| corrupt("channel"))?,
            max_duration_seconds: row
                .get::<_, Option<i64>>(9)?
                .map(|s| u32::try_from(s).map_err(conversion))
                .transpose()?,
            test_suite: row.get(10)?,
        },
    })
}

/// Decodes a row of [`RUN_COLUMNS`].
fn read_run(row: &Row<'_>) -> rusqlite::Result<TestRunRecord> {
    let status: String = row.get(2)?;
    Ok(TestRunRecord {
        id: row.get(0)?,
        test_id: row.get(1)?,
        status: TestStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        triggered_by: row.get(3)?,
        test_suite_run_id: row.get(4)?,
        destination_version_id: row.get(5)?,
        test: parse_create(&json_col(row, 6)?).map_err(conversion)?,
        conversation_id: row.get(7)?,
        logs: row.get(8)?,
        detail_status: results_from_json(&json_col(row, 9)?)
            .ok_or_else(|| corrupt("detail_status"))?,
        created_at: time(row, 10)?,
        updated_at: time(row, 11)?,
        started_at: opt_time(row, 12)?,
        completed_at: opt_time(row, 13)?,
    })
}

fn get_test(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<AssistantTestRecord>> {
    conn.prepare_cached(&format!(
        "select {TEST_COLUMNS} from assistant_tests where org_id = ?1 and id = ?2"
    ))
    .map_err(db_err)?
    .query_row(params![org, id], read_test)
    .optional()
    .map_err(db_err)
}

fn get_run(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<TestRunRecord>> {
    conn.prepare_cached(&format!(
        "select {RUN_COLUMNS} from test_runs where org_id = ?1 and id = ?2"
    ))
    .map_err(db_err)?
    .query_row(params![org, id], read_run)
    .optional()
    .map_err(db_err)
}

fn window(page: PageRequest) -> (i64, i64) {
    let limit = page
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    (limit, i64::try_from(page.offset).unwrap_or(i64::MAX))
}

fn duration(config: &TestConfig) -> Option<i64> {
    config.max_duration_seconds.map(i64::from)
}

#[async_trait]
impl AssistantTestStore for SqliteStore {
    async fn create_assistant_test(
        &self,
        org: &OrgId,
        id: &str,
        config: &TestConfig,
        now: DateTime<Utc>,
    ) -> StoreResult<AssistantTestRecord> {
        let (org, id, config) = (org.clone(), id.to_owned(), config.clone());
        self.write(move |tx| {
            tx.prepare_cached(
                "insert into assistant_tests (id, org_id, name, description, destination, \
                 instructions, rubric, channel, max_duration_seconds, test_suite, created_at, \
                 updated_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            )
            .map_err(db_err)?
            .execute(params![
                id,
                org.as_str(),
                config.name,
                config.description,
                config.destination,
                config.instructions,
                rubric_json(&config.rubric).to_string(),
                config.channel.as_str(),
                duration(&config),
                config.test_suite,
                ts(&now),
            ])
            .map_err(db_err)?;
            Ok(AssistantTestRecord {
                id,
                created_at: now,
                updated_at: now,
                config,
            })
        })
        .await
    }

    async fn get_assistant_test(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<AssistantTestRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.read(move |c| get_test(c, org.as_str(), &id)).await
    }

    async fn list_assistant_tests(
        &self,
        org: &OrgId,
        filter: &AssistantTestFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<AssistantTestRecord>, u64)> {
        let (org, filter) = (org.clone(), filter.clone());
        self.read(move |c| {
            let condition = "org_id = ?1 and (?2 is null or test_suite = ?2) \
                 and (?3 is null or channel = ?3) and (?4 is null or destination = ?4)";
            let total: i64 = c
                .prepare_cached(&format!(
                    "select count(*) from assistant_tests where {condition}"
                ))
                .map_err(db_err)?
                .query_row(
                    params![
                        org.as_str(),
                        filter.test_suite,
                        filter.channel,
                        filter.destination
                    ],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            let (limit, offset) = window(page);
            let rows = c
                .prepare_cached(&format!(
                    "select {TEST_COLUMNS} from assistant_tests where {condition} \
                     order by created_at, id limit ?5 offset ?6"
                ))
                .map_err(db_err)?
                .query_map(
                    params![
                        org.as_str(),
                        filter.test_suite,
                        filter.channel,
                        filter.destination,
                        limit,
                        offset
                    ],
                    read_test,
                )
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok((rows, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn update_assistant_test(
        &self,
        org: &OrgId,
        id: &str,
        update: &TestUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AssistantTestRecord>> {
        let (org, id, update) = (org.clone(), id.to_owned(), update.clone());
        self.write(move |tx| {
            let Some(current) = get_test(tx, org.as_str(), &id)? else {
                return Ok(None);
            };
            let config = update.apply(&current.config);
            tx.prepare_cached(
                "update assistant_tests set name = ?3, description = ?4, destination = ?5, \
                 instructions = ?6, rubric = ?7, channel = ?8, max_duration_seconds = ?9, \
                 test_suite = ?10, updated_at = ?11 where org_id = ?1 and id = ?2",
            )
            .map_err(db_err)?
            .execute(params![
                org.as_str(),
                id,
                config.name,
                config.description,
                config.destination,
                config.instructions,
                rubric_json(&config.rubric).to_string(),
                config.channel.as_str(),
                duration(&config),
                config.test_suite,
                ts(&now),
            ])
            .map_err(db_err)?;
            Ok(Some(AssistantTestRecord {
                updated_at: now,
                config,
                ..current
            }))
        })
        .await
    }

    async fn delete_assistant_test(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        let (org, id) = (org.clone(), id.to_owned());
        self.write(move |tx| {
            // Runs go with it (`on delete cascade`).
            let deleted = tx
                .prepare_cached("delete from assistant_tests where org_id = ?1 and id = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), id])
                .map_err(db_err)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn list_test_suites(&self, org: &OrgId) -> StoreResult<Vec<String>> {
        let org = org.clone();
        self.read(move |c| {
            c.prepare_cached(
                "select distinct test_suite from assistant_tests \
                 where org_id = ?1 and test_suite is not null and test_suite <> '' \
                 order by test_suite",
            )
            .map_err(db_err)?
            .query_map(params![org.as_str()], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)
        })
        .await
    }

    async fn create_test_runs(
        &self,
        org: &OrgId,
        runs: &[NewTestRun],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<TestRunRecord>> {
        let (org, runs) = (org.clone(), runs.to_vec());
        self.write(move |tx| {
            let mut created = Vec::with_capacity(runs.len());
            for run in runs {
                let detail_status = run.test.pending_results();
                tx.prepare_cached(
                    "insert into test_runs (id, org_id, test_id, status, triggered_by, \
                     test_suite, test_suite_run_id, destination_version_id, test_snapshot, \
                     detail_status, created_at, updated_at) \
                     values (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                )
                .map_err(db_err)?
                .execute(params![
                    run.id,
                    org.as_str(),
                    run.test_id,
                    run.triggered_by,
                    run.test.test_suite,
                    run.test_suite_run_id,
                    run.destination_version_id,
                    run.test.to_document().to_string(),
                    results_json(&detail_status).to_string(),
                    ts(&now),
                ])
                .map_err(db_err)?;
                insert_job(
                    tx,
                    &NewJob {
                        org_id: org.clone(),
                        kind: TEST_RUN_JOB.to_owned(),
                        key: run.id.clone(),
                        payload: json!({}),
                        due_at: now,
                    },
                )?;
                created.push(TestRunRecord {
                    id: run.id,
                    test_id: run.test_id,
                    status: TestStatus::Pending,
                    triggered_by: run.triggered_by,
                    test_suite_run_id: run.test_suite_run_id,
                    destination_version_id: run.destination_version_id,
                    test: run.test,
                    conversation_id: None,
                    logs: None,
                    detail_status,
                    created_at: now,
                    updated_at: now,
                    started_at: None,
                    completed_at: None,
                });
            }
            Ok(created)
        })
        .await
    }

    async fn get_test_run(&self, org: &OrgId, id: &str) -> StoreResult<Option<TestRunRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.read(move |c| get_run(c, org.as_str(), &id)).await
    }

    async fn list_test_runs(
        &self,
        org: &OrgId,
        filter: &TestRunFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<TestRunRecord>, u64)> {
        let (org, filter) = (org.clone(), filter.clone());
        let statuses = if filter.statuses.is_empty() {
            None
        } else {
            let names: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            Some(serde_json::to_string(&names).map_err(|e| StoreError::Corrupt(e.to_string()))?)
        };
        self.read(move |c| {
            let condition = "org_id = ?1 and (?2 is null or test_id = ?2) \
                 and (?3 is null or test_suite = ?3) and (?4 is null or test_suite_run_id = ?4) \
                 and (?5 is null or status in (select value from json_each(?5)))";
            let total: i64 = c
                .prepare_cached(&format!("select count(*) from test_runs where {condition}"))
                .map_err(db_err)?
                .query_row(
                    params![
                        org.as_str(),
                        filter.test_id,
                        filter.test_suite,
                        filter.test_suite_run_id,
                        statuses
                    ],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            let (limit, offset) = window(page);
            let rows = c
                .prepare_cached(&format!(
                    "select {RUN_COLUMNS} from test_runs where {condition} \
                     order by created_at desc, id limit ?6 offset ?7"
                ))
                .map_err(db_err)?
                .query_map(
                    params![
                        org.as_str(),
                        filter.test_id,
                        filter.test_suite,
                        filter.test_suite_run_id,
                        statuses,
                        limit,
                        offset
                    ],
                    read_run,
                )
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok((rows, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn update_test_run(
        &self,
        org: &OrgId,
        id: &str,
        expected: &[TestStatus],
        update: &TestRunUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<TestRunTransition> {
        let (org, id, expected, update) = (
            org.clone(),
            id.to_owned(),
            expected.to_vec(),
            update.clone(),
        );
        self.write(move |tx| {
            let Some(mut run) = get_run(tx, org.as_str(), &id)? else {
                return Ok(TestRunTransition::NotFound);
            };
            if !expected.is_empty() && !expected.contains(&run.status) {
                return Ok(TestRunTransition::Unexpected(run));
            }
            if let Some(status) = update.status {
                if status == TestStatus::Starting {
                    run.started_at = Some(now);
                }
                if status.is_terminal() {
                    run.completed_at = Some(now);
                }
                run.status = status;
            }
            if let Some(conversation) = &update.conversation_id {
                run.conversation_id = Some(conversation.clone());
            }
            if let Some(logs) = &update.logs {
                run.logs = Some(logs.clone());
            }
            if let Some(results) = &update.detail_status {
                run.detail_status = results.clone();
            }
            run.updated_at = now;
            tx.prepare_cached(
                "update test_runs set status = ?3, conversation_id = ?4, logs = ?5, \
                 detail_status = ?6, updated_at = ?7, started_at = ?8, completed_at = ?9 \
                 where org_id = ?1 and id = ?2",
            )
            .map_err(db_err)?
            .execute(params![
                org.as_str(),
                id,
                run.status.as_str(),
                run.conversation_id,
                run.logs,
                results_json(&run.detail_status).to_string(),
                ts(&run.updated_at),
                run.started_at.as_ref().map(ts),
                run.completed_at.as_ref().map(ts),
            ])
            .map_err(db_err)?;
            Ok(TestRunTransition::Updated(run))
        })
        .await
    }
}
