//! `/ai/assistants/tests…`: assistant tests, their runs, and test suites.
//!
//! Wire shapes (telnyx-python 4.189.0, `resources/ai/assistants/tests/`): tests and runs are
//! bare objects (`AssistantTest`, `TestRunResponse`); the test list and both run lists are
//! paginated `{data, meta}` (`page[number]`, `page[size]` default 20, at most 100); suite names
//! are `{data: [string]}`; triggering a suite answers a bare array of runs. Creating a test
//! and triggering runs answer 201; `PUT` is a partial update; `DELETE` answers 200 with no body
//! and deletes the test's runs.
//!
//! A `web_chat` test's `destination` must be an assistant of the organization (422
//! `/destination` otherwise). A run is created `pending` and its job queued in one
//! transaction, and the answer comes at once; [`crate::evaluation`] carries it out. A
//! `destination_version_id` that is not a version of the destination assistant is 400.
//!
//! These paths sit under `/ai/assistants/`, beside `/ai/assistants/{assistant_id}`: the router
//! prefers static segments, so `tests` is never read as an assistant id.

use crate::error::{ApiError, ApiResult};
use crate::evaluation::{resolve_destination, Destination};
use crate::extract::{require_object, JsonBody, Pagination, Path, QueryParams, DEFAULT_PAGE_SIZE};
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use parley_core::assistant_tests::{
    self as tests, RubricResult, TestChannel, TestConfig, TestStatus,
};
use parley_core::clock::format_timestamp;
use parley_core::ids::{OrgId, VersionId};
use parley_core::{FieldError, ValidationErrors};
use parley_store::{
    AssistantTestFilter, AssistantTestRecord, NewTestRun, PageRequest, TestRunFilter, TestRunRecord,
};
use parley_types::assistant_tests::{AssistantTest, Rubric, TestRunDetailResult, TestRunResponse};
use parley_types::Meta;
use serde_json::{json, Map, Value};

/// How runs triggered through this API are labelled (`triggered_by`).
pub const TRIGGERED_BY_API: &str = "api";

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ai/assistants/tests", get(list_tests).post(create_test))
        .route("/ai/assistants/tests/test-suites", get(list_suites))
        .route(
            "/ai/assistants/tests/test-suites/{suite_name}/runs",
            get(list_suite_runs).post(trigger_suite),
        )
        .route(
            "/ai/assistants/tests/{test_id}",
            get(get_test).put(update_test).delete(delete_test),
        )
        .route(
            "/ai/assistants/tests/{test_id}/runs",
            get(list_runs).post(trigger_run),
        )
        .route("/ai/assistants/tests/{test_id}/runs/{run_id}", get(get_run))
}

/// The wire object of a test (`AssistantTest`).
pub fn render_test(record: &AssistantTestRecord) -> AssistantTest {
    let config = &record.config;
    AssistantTest {
        test_id: record.id.clone(),
        created_at: format_timestamp(&record.created_at),
        name: config.name.clone(),
        rubric: config
            .rubric
            .iter()
            .map(|item| Rubric {
                name: item.name.clone(),
                criteria: item.criteria.clone(),
            })
            .collect(),
        telnyx_conversation_channel: config.channel.as_str().to_owned(),
        description: config.description.clone(),
        destination: Some(config.destination.clone()),
        instructions: Some(config.instructions.clone()),
        max_duration_seconds: config.max_duration_seconds,
        test_suite: config.test_suite.clone(),
        extra: Map::new(),
    }
}

/// The wire object of a run (`TestRunResponse`).
pub fn render_run(run: &TestRunRecord) -> TestRunResponse {
    TestRunResponse {
        run_id: run.id.clone(),
        test_id: run.test_id.clone(),
        status: run.status.as_str().to_owned(),
        triggered_by: run.triggered_by.clone(),
        created_at: format_timestamp(&run.created_at),
        updated_at: Some(format_timestamp(&run.updated_at)),
        completed_at: run.completed_at.as_ref().map(format_timestamp),
        conversation_id: run.conversation_id.clone(),
        conversation_insights_id: None,
        detail_status: Some(run.detail_status.iter().map(render_result).collect()),
        logs: run.logs.clone(),
        test_suite_run_id: run.test_suite_run_id.clone(),
        extra: Map::new(),
    }
}

fn render_result(result: &RubricResult) -> TestRunDetailResult {
    TestRunDetailResult {
        name: result.name.clone(),
        status: result.status.as_str().to_owned(),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(format!("rendering: {e}")))
}

/// The test `id` does not exist in the caller's organization.
pub fn test_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Test",
        id: id.to_owned(),
        pointer: "/test_id",
    }
}

fn run_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Test run",
        id: id.to_owned(),
        pointer: "/run_id",
    }
}

fn suite_not_found(name: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Test suite",
        id: name.to_owned(),
        pointer: "/suite_name",
    }
}

fn page_of(query: &QueryParams) -> ApiResult<Pagination> {
    Ok(Pagination::from_query(query)?.unwrap_or(Pagination {
        number: 1,
        size: DEFAULT_PAGE_SIZE,
    }))
}

/// The `status` filter of the run lists.
fn statuses(query: &QueryParams) -> ApiResult<Vec<TestStatus>> {
    match query.get("status") {
        None => Ok(Vec::new()),
        Some(text) => TestStatus::parse_filter(text).map_err(|word| ApiError::InvalidParameter {
            parameter: "status".into(),
            detail: format!(
                "{word:?} is not a run status; use pending, starting, running, passed, failed, \
                 error (or completed, timeout), comma-separated"
            ),
        }),
    }
}

/// Refuses a `web_chat` test whose destination is not an assistant of the organization.
async fn check_destination(state: &AppState, org: &OrgId, config: &TestConfig) -> ApiResult<()> {
    if config.channel != TestChannel::WebChat {
        return Ok(());
    }
    match resolve_destination(state, org, config).await? {
        Destination::Assistant(_) => Ok(()),
        Destination::Unavailable(reason) => Err(ValidationErrors::one(FieldError::invalid(
            "/destination",
            format!("{reason}; a web_chat test's destination is an assistant id"),
        ))
        .into()),
    }
}

/// `GET /ai/assistants/tests`: `{data, meta}`, oldest first; `test_suite`,
/// `telnyx_conversation_channel` and `destination` filter exactly.
async fn list_tests(
    State(state): State<AppState>,
    tenant: Tenant,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = page_of(&query)?;
    let filter = AssistantTestFilter {
        test_suite: query.get("test_suite").map(str::to_owned),
        channel: query.get("telnyx_conversation_channel").map(str::to_owned),
        destination: query.get("destination").map(str::to_owned),
    };
    let (records, total) = state
        .store
        .list_assistant_tests(&tenant.org_id, &filter, page.window())
        .await?;
    let data: Vec<AssistantTest> = records.iter().map(render_test).collect();
    Ok(Json(
        json!({"data": to_json(&data)?, "meta": Meta::new(page.number, page.size, total)}),
    ))
}

/// `POST /ai/assistants/tests`: 201 with the new test.
async fn create_test(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = Value::Object(require_object(body)?);
    let config = tests::parse_create(&body)?;
    check_destination(&state, &tenant.org_id, &config).await?;
    let record = state
        .store
        .create_assistant_test(
            &tenant.org_id,
            &tests::generate_id(),
            &config,
            state.clock.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(to_json(&render_test(&record))?)))
}

/// `GET /ai/assistants/tests/test-suites`: `{data: [names]}`, sorted.
async fn list_suites(State(state): State<AppState>, tenant: Tenant) -> ApiResult<Json<Value>> {
    let names = state.store.list_test_suites(&tenant.org_id).await?;
    Ok(Json(json!({ "data": names })))
}

/// `GET /ai/assistants/tests/{test_id}`.
async fn get_test(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .get_assistant_test(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| test_not_found(&id))?;
    Ok(Json(to_json(&render_test(&record))?))
}

/// `PUT /ai/assistants/tests/{test_id}`: fields sent replace the stored ones.
async fn update_test(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = Value::Object(require_object(body)?);
    let update = tests::parse_update(&body)?;
    let current = state
        .store
        .get_assistant_test(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| test_not_found(&id))?;
    if update.destination.is_some() || update.channel.is_some() {
        check_destination(&state, &tenant.org_id, &update.apply(&current.config)).await?;
    }
    let record = state
        .store
        .update_assistant_test(&tenant.org_id, &id, &update, state.clock.now())
        .await?
        .ok_or_else(|| test_not_found(&id))?;
    Ok(Json(to_json(&render_test(&record))?))
}

/// `DELETE /ai/assistants/tests/{test_id}`: 200 with an empty body; its runs go with it.
async fn delete_test(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .store
        .delete_assistant_test(&tenant.org_id, &id)
        .await?
    {
        Ok(StatusCode::OK)
    } else {
        Err(test_not_found(&id))
    }
}

/// The `destination_version_id` of a trigger body, if any.
fn version_of(body: Value) -> ApiResult<Option<String>> {
    let body = require_object(body)?;
    match body.get("destination_version_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(_) => Err(ValidationErrors::one(FieldError::invalid(
            "/destination_version_id",
            "must be a string",
        ))
        .into()),
    }
}

/// Refuses (400) a version that is not a version of `config`'s destination assistant.
async fn check_version(
    state: &AppState,
    org: &OrgId,
    config: &TestConfig,
    version: &str,
) -> ApiResult<()> {
    let refused = |why: String| ApiError::Refused {
        detail: format!("destination_version_id {version} not found: {why}"),
        pointer: Some("/destination_version_id".into()),
    };
    match resolve_destination(state, org, config).await? {
        Destination::Assistant(assistant) => {
            let found = version == assistant.version.id.as_str()
                || state
                    .store
                    .get_version(org, &assistant.id, &VersionId::from_string(version))
                    .await?
                    .is_some();
            if found {
                Ok(())
            } else {
                Err(refused(format!(
                    "it is not a version of assistant {}",
                    assistant.id
                )))
            }
        }
        Destination::Unavailable(reason) => Err(refused(reason)),
    }
}

/// Creates runs (and their jobs) and wakes the worker.
async fn start_runs(
    state: &AppState,
    org: &OrgId,
    runs: Vec<NewTestRun>,
) -> ApiResult<Vec<TestRunRecord>> {
    let created = state
        .store
        .create_test_runs(org, &runs, state.clock.now())
        .await?;
    state.jobs.wake();
    Ok(created)
}

/// `POST /ai/assistants/tests/{test_id}/runs`: 201 with the new run, `pending`.
async fn trigger_run(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let version = version_of(body)?;
    let test = state
        .store
        .get_assistant_test(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| test_not_found(&id))?;
    if let Some(version) = &version {
        check_version(&state, &tenant.org_id, &test.config, version).await?;
    }
    let run = NewTestRun {
        id: tests::generate_id(),
        test_id: test.id,
        triggered_by: TRIGGERED_BY_API.into(),
        test_suite_run_id: None,
        destination_version_id: version,
        test: test.config,
    };
    let created = start_runs(&state, &tenant.org_id, vec![run]).await?;
    let run = created
        .first()
        .ok_or_else(|| ApiError::Internal("no run was created".into()))?;
    Ok((StatusCode::CREATED, Json(to_json(&render_run(run))?)))
}

/// `GET /ai/assistants/tests/{test_id}/runs`: `{data, meta}`, newest first; `status`
/// filters (comma-separated).
async fn list_runs(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = page_of(&query)?;
    let statuses = statuses(&query)?;
    state
        .store
        .get_assistant_test(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| test_not_found(&id))?;
    let filter = TestRunFilter {
        test_id: Some(id),
        statuses,
        ..TestRunFilter::default()
    };
    runs_page(&state, &tenant.org_id, &filter, page).await
}

async fn runs_page(
    state: &AppState,
    org: &OrgId,
    filter: &TestRunFilter,
    page: Pagination,
) -> ApiResult<Json<Value>> {
    let (runs, total) = state
        .store
        .list_test_runs(org, filter, page.window())
        .await?;
    runs_json(&runs, page, total)
}

/// A page of runs as `{data, meta}`.
fn runs_json(runs: &[TestRunRecord], page: Pagination, total: u64) -> ApiResult<Json<Value>> {
    let data: Vec<TestRunResponse> = runs.iter().map(render_run).collect();
    Ok(Json(
        json!({"data": to_json(&data)?, "meta": Meta::new(page.number, page.size, total)}),
    ))
}

/// `GET /ai/assistants/tests/{test_id}/runs/{run_id}`.
async fn get_run(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((test_id, run_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let run = state
        .store
        .get_test_run(&tenant.org_id, &run_id)
        .await?
        .filter(|run| run.test_id == test_id);
    match run {
        Some(run) => Ok(Json(to_json(&render_run(&run))?)),
        None => {
            // Say which one is missing.
            if state
                .store
                .get_assistant_test(&tenant.org_id, &test_id)
                .await?
                .is_none()
            {
                Err(test_not_found(&test_id))
            } else {
                Err(run_not_found(&run_id))
            }
        }
    }
}

/// Every test of suite `name`, oldest first.
async fn suite_tests(
    state: &AppState,
    org: &OrgId,
    name: &str,
) -> ApiResult<Vec<AssistantTestRecord>> {
    let filter = AssistantTestFilter {
        test_suite: Some(name.to_owned()),
        ..AssistantTestFilter::default()
    };
    let (tests, _) = state
        .store
        .list_assistant_tests(org, &filter, PageRequest::default())
        .await?;
    Ok(tests)
}

/// `POST /ai/assistants/tests/test-suites/{suite_name}/runs`: one run per test of the suite
/// under a new `test_suite_run_id`; 201 with a bare array of the runs.
async fn trigger_suite(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(name): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let version = version_of(body)?;
    let tests = suite_tests(&state, &tenant.org_id, &name).await?;
    if tests.is_empty() {
        return Err(suite_not_found(&name));
    }
    if let Some(version) = &version {
        for test in &tests {
            check_version(&state, &tenant.org_id, &test.config, version).await?;
        }
    }
    let suite_run = tests::generate_id();
    let runs = tests
        .into_iter()
        .map(|test| NewTestRun {
            id: tests::generate_id(),
            test_id: test.id,
            triggered_by: TRIGGERED_BY_API.into(),
            test_suite_run_id: Some(suite_run.clone()),
            destination_version_id: version.clone(),
            test: test.config,
        })
        .collect();
    let created = start_runs(&state, &tenant.org_id, runs).await?;
    let data: Vec<TestRunResponse> = created.iter().map(render_run).collect();
    Ok((StatusCode::CREATED, Json(to_json(&data)?)))
}

/// `GET /ai/assistants/tests/test-suites/{suite_name}/runs`: runs of tests that were in the
/// suite when triggered, newest first; `status` and `test_suite_run_id` filter. 404 when the
/// suite has neither tests nor runs.
async fn list_suite_runs(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(name): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Value>> {
    let page = page_of(&query)?;
    let org = &tenant.org_id;
    let suite_only = TestRunFilter {
        test_suite: Some(name.clone()),
        ..TestRunFilter::default()
    };
    let filter = TestRunFilter {
        statuses: statuses(&query)?,
        test_suite_run_id: query.get("test_suite_run_id").map(str::to_owned),
        ..suite_only.clone()
    };
    let (runs, total) = state
        .store
        .list_test_runs(org, &filter, page.window())
        .await?;
    if total == 0 {
        let one = PageRequest {
            offset: 0,
            limit: Some(1),
        };
        let has_runs = state.store.list_test_runs(org, &suite_only, one).await?.1 > 0;
        if !has_runs && suite_tests(&state, org, &name).await?.is_empty() {
            return Err(suite_not_found(&name));
        }
    }
    runs_json(&runs, page, total)
}
