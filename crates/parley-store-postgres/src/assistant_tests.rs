//! [`parley_store::AssistantTestStore`] on PostgreSQL. Read-modify-write changes lock the row
//! (`for update`) first, so concurrent updates of one test or run queue up.

use crate::jobs::insert_job;
use crate::{begin, corrupt, count_from_row, db, execute, query, query_one, query_opt};
use crate::{read_snapshot, to_i64, PostgresStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
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
use serde_json::{json, Value};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

/// Columns read by [`test_from_row`].
const TEST_COLUMNS: &str = "id, created_at, updated_at, name, description, destination, \
     instructions, rubric, channel, max_duration_seconds, test_suite";

/// Columns read by [`run_from_row`].
const RUN_COLUMNS: &str = "id, test_id, status, triggered_by, test_suite_run_id, \
     destination_version_id, test_snapshot, conversation_id, logs, detail_status, created_at, \
     updated_at, started_at, completed_at";

fn bad(what: &str) -> StoreError {
    StoreError::Corrupt(format!("corrupt {what}"))
}

/// Reads a row of [`TEST_COLUMNS`].
fn test_from_row(row: &Row) -> StoreResult<AssistantTestRecord> {
    let Json(rubric): Json<Value> = row.try_get(7).map_err(corrupt)?;
    let channel: String = row.try_get(8).map_err(corrupt)?;
    let duration: Option<i32> = row.try_get(9).map_err(corrupt)?;
    Ok(AssistantTestRecord {
        id: row.try_get(0).map_err(corrupt)?,
        created_at: row.try_get(1).map_err(corrupt)?,
        updated_at: row.try_get(2).map_err(corrupt)?,
        config: TestConfig {
            name: row.try_get(3).map_err(corrupt)?,
            description: row.try_get(4).map_err(corrupt)?,
            destination: row.try_get(5).map_err(corrupt)?,
            instructions: row.try_get(6).map_err(corrupt)?,
            rubric: rubric_from_json(&rubric).ok_or_else(|| bad("rubric"))?,
            channel: TestChannel::parse(&channel).ok_or_else(|| bad("channel"))?,
            max_duration_seconds: duration
                .map(|s| u32::try_from(s).map_err(|_| bad("max_duration_seconds")))
                .transpose()?,
            test_suite: row.try_get(10).map_err(corrupt)?,
        },
    })
}

/// Reads a row of [`RUN_COLUMNS`].
fn run_from_row(row: &Row) -> StoreResult<TestRunRecord> {
    let status: String = row.try_get(2).map_err(corrupt)?;
    let Json(snapshot): Json<Value> = row.try_get(6).map_err(corrupt)?;
    let Json(results): Json<Value> = row.try_get(9).map_err(corrupt)?;
    Ok(TestRunRecord {
        id: row.try_get(0).map_err(corrupt)?,
        test_id: row.try_get(1).map_err(corrupt)?,
        status: TestStatus::parse(&status).ok_or_else(|| bad("status"))?,
        triggered_by: row.try_get(3).map_err(corrupt)?,
        test_suite_run_id: row.try_get(4).map_err(corrupt)?,
        destination_version_id: row.try_get(5).map_err(corrupt)?,
        test: parse_create(&snapshot)
            .map_err(|e| StoreError::Corrupt(format!("test snapshot: {e}")))?,
        conversation_id: row.try_get(7).map_err(corrupt)?,
        logs: row.try_get(8).map_err(corrupt)?,
        detail_status: results_from_json(&results).ok_or_else(|| bad("detail_status"))?,
        created_at: row.try_get(10).map_err(corrupt)?,
        updated_at: row.try_get(11).map_err(corrupt)?,
        started_at: row.try_get(12).map_err(corrupt)?,
        completed_at: row.try_get(13).map_err(corrupt)?,
    })
}

/// The test `id` of `org`; with `lock`, its row is locked until the transaction ends.
async fn load_test(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &str,
    lock: bool,
) -> StoreResult<Option<AssistantTestRecord>> {
    let sql = format!(
        "select {TEST_COLUMNS} from assistant_tests where org_id = $1 and id = $2{}",
        if lock { " for update" } else { "" }
    );
    query_opt(tx, &sql, &[&org.as_str(), &id])
        .await?
        .as_ref()
        .map(test_from_row)
        .transpose()
}

/// The run `id` of `org`; with `lock`, its row is locked until the transaction ends.
async fn load_run(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &str,
    lock: bool,
) -> StoreResult<Option<TestRunRecord>> {
    let sql = format!(
        "select {RUN_COLUMNS} from test_runs where org_id = $1 and id = $2{}",
        if lock { " for update" } else { "" }
    );
    query_opt(tx, &sql, &[&org.as_str(), &id])
        .await?
        .as_ref()
        .map(run_from_row)
        .transpose()
}

fn duration(config: &TestConfig) -> Option<i32> {
    config
        .max_duration_seconds
        .map(|s| i32::try_from(s).unwrap_or(i32::MAX))
}

#[async_trait]
impl AssistantTestStore for PostgresStore {
    async fn create_assistant_test(
        &self,
        org: &OrgId,
        id: &str,
        config: &TestConfig,
        now: DateTime<Utc>,
    ) -> StoreResult<AssistantTestRecord> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        execute(
            &tx,
            "insert into assistant_tests (id, org_id, name, description, destination, \
             instructions, rubric, channel, max_duration_seconds, test_suite, created_at, \
             updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
            &[
                &id,
                &org.as_str(),
                &config.name,
                &config.description,
                &config.destination,
                &config.instructions,
                &Json(rubric_json(&config.rubric)),
                &config.channel.as_str(),
                &duration(config),
                &config.test_suite,
                &now,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(AssistantTestRecord {
            id: id.to_owned(),
            created_at: now,
            updated_at: now,
            config: config.clone(),
        })
    }

    async fn get_assistant_test(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<AssistantTestRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        load_test(&tx, org, id, false).await
    }

    async fn list_assistant_tests(
        &self,
        org: &OrgId,
        filter: &AssistantTestFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<AssistantTestRecord>, u64)> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let condition = "org_id = $1 and ($2::text is null or test_suite = $2) \
             and ($3::text is null or channel = $3) and ($4::text is null or destination = $4)";
        let filters: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [
            &org.as_str(),
            &filter.test_suite,
            &filter.channel,
            &filter.destination,
        ];
        let total = count_from_row(
            &query_one(
                &tx,
                &format!("select count(*) from assistant_tests where {condition}"),
                &filters,
            )
            .await?,
        )?;
        let (offset, limit) = (to_i64(page.offset), page.limit.map(to_i64));
        let mut params = filters.to_vec();
        params.push(&offset);
        params.push(&limit);
        let rows = query(
            &tx,
            &format!(
                "select {TEST_COLUMNS} from assistant_tests where {condition} \
                 order by created_at, id offset $5 limit $6"
            ),
            &params,
        )
        .await?;
        let tests = rows
            .iter()
            .map(test_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((tests, total))
    }

    async fn update_assistant_test(
        &self,
        org: &OrgId,
        id: &str,
        update: &TestUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AssistantTestRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(current) = load_test(&tx, org, id, true).await? else {
            return Ok(None);
        };
        let config = update.apply(&current.config);
        execute(
            &tx,
            "update assistant_tests set name = $3, description = $4, destination = $5, \
             instructions = $6, rubric = $7, channel = $8, max_duration_seconds = $9, \
             test_suite = $10, updated_at = $11 where org_id = $1 and id = $2",
            &[
                &org.as_str(),
                &id,
                &config.name,
                &config.description,
                &config.destination,
                &config.instructions,
                &Json(rubric_json(&config.rubric)),
                &config.channel.as_str(),
                &duration(&config),
                &config.test_suite,
                &now,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(AssistantTestRecord {
            updated_at: now,
            config,
            ..current
        }))
    }

    async fn delete_assistant_test(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // Runs go with it (`on delete cascade`).
        let deleted = execute(
            &tx,
            "delete from assistant_tests where org_id = $1 and id = $2",
            &[&org.as_str(), &id],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(deleted > 0)
    }

    async fn list_test_suites(&self, org: &OrgId) -> StoreResult<Vec<String>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let rows = query(
            &tx,
            "select distinct test_suite from assistant_tests \
             where org_id = $1 and test_suite is not null and test_suite <> '' \
             order by test_suite",
            &[&org.as_str()],
        )
        .await?;
        rows.iter()
            .map(|row| row.try_get::<_, String>(0).map_err(corrupt))
            .collect()
    }

    async fn create_test_runs(
        &self,
        org: &OrgId,
        runs: &[NewTestRun],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<TestRunRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let mut created = Vec::with_capacity(runs.len());
        for run in runs {
            let detail_status = run.test.pending_results();
            execute(
                &tx,
                "insert into test_runs (id, org_id, test_id, status, triggered_by, test_suite, \
                 test_suite_run_id, destination_version_id, test_snapshot, detail_status, \
                 created_at, updated_at) \
                 values ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9, $10, $10)",
                &[
                    &run.id,
                    &org.as_str(),
                    &run.test_id,
                    &run.triggered_by,
                    &run.test.test_suite,
                    &run.test_suite_run_id,
                    &run.destination_version_id,
                    &Json(run.test.to_document()),
                    &Json(results_json(&detail_status)),
                    &now,
                ],
            )
            .await?;
            insert_job(
                &tx,
                &NewJob {
                    org_id: org.clone(),
                    kind: TEST_RUN_JOB.to_owned(),
                    key: run.id.clone(),
                    payload: json!({}),
                    due_at: now,
                },
            )
            .await?;
            created.push(TestRunRecord {
                id: run.id.clone(),
                test_id: run.test_id.clone(),
                status: TestStatus::Pending,
                triggered_by: run.triggered_by.clone(),
                test_suite_run_id: run.test_suite_run_id.clone(),
                destination_version_id: run.destination_version_id.clone(),
                test: run.test.clone(),
                conversation_id: None,
                logs: None,
                detail_status,
                created_at: now,
                updated_at: now,
                started_at: None,
                completed_at: None,
            });
        }
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn get_test_run(&self, org: &OrgId, id: &str) -> StoreResult<Option<TestRunRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        load_run(&tx, org, id, false).await
    }

    async fn list_test_runs(
        &self,
        org: &OrgId,
        filter: &TestRunFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<TestRunRecord>, u64)> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let statuses: Option<Vec<&str>> = if filter.statuses.is_empty() {
            None
        } else {
            Some(filter.statuses.iter().map(|s| s.as_str()).collect())
        };
        let condition = "org_id = $1 and ($2::text is null or test_id = $2) \
             and ($3::text is null or test_suite = $3) \
             and ($4::text is null or test_suite_run_id = $4) \
             and ($5::text[] is null or status = any($5))";
        let filters: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
            &org.as_str(),
            &filter.test_id,
            &filter.test_suite,
            &filter.test_suite_run_id,
            &statuses,
        ];
        let total = count_from_row(
            &query_one(
                &tx,
                &format!("select count(*) from test_runs where {condition}"),
                &filters,
            )
            .await?,
        )?;
        let (offset, limit) = (to_i64(page.offset), page.limit.map(to_i64));
        let mut params = filters.to_vec();
        params.push(&offset);
        params.push(&limit);
        let rows = query(
            &tx,
            &format!(
                "select {RUN_COLUMNS} from test_runs where {condition} \
                 order by created_at desc, id offset $6 limit $7"
            ),
            &params,
        )
        .await?;
        let runs = rows
            .iter()
            .map(run_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((runs, total))
    }

    async fn update_test_run(
        &self,
        org: &OrgId,
        id: &str,
        expected: &[TestStatus],
        update: &TestRunUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<TestRunTransition> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let Some(mut run) = load_run(&tx, org, id, true).await? else {
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
        execute(
            &tx,
            "update test_runs set status = $3, conversation_id = $4, logs = $5, \
             detail_status = $6, updated_at = $7, started_at = $8, completed_at = $9 \
             where org_id = $1 and id = $2",
            &[
                &org.as_str(),
                &id,
                &run.status.as_str(),
                &run.conversation_id,
                &run.logs,
                &Json(results_json(&run.detail_status)),
                &run.updated_at,
                &run.started_at,
                &run.completed_at,
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(TestRunTransition::Updated(run))
    }
}
