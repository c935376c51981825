//! `/ai/embeddings`: embedding tasks over buckets, similarity search, embedded buckets.
//!
//! Buckets are made and filled through the S3-compatible API ([`super::s3`]); a task embeds
//! one of them on the job queue ([`crate::knowledge`]). Tasks, the bucket list and a bucket's
//! files come wrapped in `{"data": …}`; `DELETE …/buckets/{name}` answers 200 with no body.
//! A bucket that does not exist (or, for search and the bucket routes, is not embedded) is a
//! 404 naming `/bucket_name`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{require_object, JsonBody, Path};
use crate::knowledge::{self, SearchError};
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use parley_core::clock::format_timestamp;
use parley_core::knowledge::{
    self as domain, EmbeddingParams, TaskStatus, TASK_EMBED_BUCKET, TASK_EMBED_URL,
};
use parley_store::{EmbeddedFileRecord, EmbeddingTaskRecord, NewEmbeddingTask};
use serde_json::{json, Map, Value};

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ai/embeddings", get(list_tasks).post(create_task))
        .route("/ai/embeddings/url", post(create_url_task))
        .route("/ai/embeddings/similarity-search", post(similarity_search))
        .route("/ai/embeddings/buckets", get(list_buckets))
        .route(
            "/ai/embeddings/buckets/{bucket_name}",
            get(get_bucket).delete(delete_bucket),
        )
        .route("/ai/embeddings/{task_id}", get(get_task))
}

/// The bucket `name` does not exist (or is not embedded) in the caller's organization.
pub fn bucket_not_found(name: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Bucket",
        id: name.to_owned(),
        pointer: "/bucket_name",
    }
}

/// A task's wire object (`EmbeddingResponseData`, `EmbeddingListResponseData`,
/// `EmbeddingRetrieveResponseData` are all subsets of it).
pub fn render_task(org_id: &str, task: &EmbeddingTaskRecord) -> Value {
    let mut object = Map::new();
    object.insert("task_id".into(), json!(task.id));
    object.insert("task_name".into(), json!(task.task_name));
    object.insert("status".into(), json!(task.status.as_str()));
    object.insert(
        "created_at".into(),
        json!(format_timestamp(&task.created_at)),
    );
    if let Some(finished) = &task.finished_at {
        object.insert("finished_at".into(), json!(format_timestamp(finished)));
    }
    object.insert("user_id".into(), json!(org_id));
    object.insert("bucket".into(), json!(task.bucket));
    Value::Object(object)
}

fn render_file(file: &EmbeddedFileRecord) -> Value {
    let mut object = Map::new();
    object.insert("filename".into(), json!(file.filename));
    object.insert("status".into(), json!(file.status));
    if let Some(reason) = &file.error_reason {
        object.insert("error_reason".into(), json!(reason));
    }
    object.insert(
        "created_at".into(),
        json!(format_timestamp(&file.created_at)),
    );
    object.insert(
        "updated_at".into(),
        json!(format_timestamp(&file.updated_at)),
    );
    if let Some(at) = &file.last_embedded_at {
        object.insert("last_embedded_at".into(), json!(format_timestamp(at)));
    }
    Value::Object(object)
}

/// The `status` filter: comma lists and repeated keys both work; default queued+processing.
fn status_filter(uri: &Uri) -> ApiResult<Vec<TaskStatus>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|e| ApiError::InvalidParameter {
            parameter: "query".into(),
            detail: format!("The query string could not be decoded: {e}"),
        })?;
    let mut statuses = Vec::new();
    let mut given = false;
    for (name, value) in pairs {
        if name != "status" && name != "status[]" {
            continue;
        }
        given = true;
        for text in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let status = TaskStatus::parse(text).ok_or_else(|| ApiError::InvalidParameter {
                parameter: "status".into(),
                detail: format!(
                    "{text:?} is not one of queued, processing, success, failure, partial_success"
                ),
            })?;
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
    }
    if !given || statuses.is_empty() {
        return Ok(vec![TaskStatus::Queued, TaskStatus::Processing]);
    }
    Ok(statuses)
}

/// `GET /ai/embeddings`: the organization's tasks, newest first.
async fn list_tasks(
    State(state): State<AppState>,
    tenant: Tenant,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let statuses = status_filter(&uri)?;
    let tasks = state
        .store
        .list_embedding_tasks(&tenant.org_id, &statuses)
        .await?;
    let data: Vec<Value> = tasks
        .iter()
        .map(|t| render_task(tenant.org_id.as_str(), t))
        .collect();
    Ok(Json(json!({ "data": data })))
}

async fn create(
    state: &AppState,
    tenant: &Tenant,
    bucket: String,
    task_name: &str,
    payload: Value,
) -> ApiResult<Json<Value>> {
    let task = state
        .store
        .create_embedding_task(
            &tenant.org_id,
            NewEmbeddingTask {
                id: uuid::Uuid::new_v4().to_string(),
                bucket: bucket.clone(),
                task_name: task_name.to_owned(),
                payload,
            },
            state.clock.now(),
        )
        .await?
        .ok_or_else(|| bucket_not_found(&bucket))?;
    state.jobs.wake();
    Ok(Json(
        json!({ "data": render_task(tenant.org_id.as_str(), &task) }),
    ))
}

/// `POST /ai/embeddings`: queues a task that embeds the bucket.
async fn create_task(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = require_object(body)?;
    let parsed = domain::parse_create(&body)?;
    create(
        &state,
        &tenant,
        parsed.bucket_name,
        TASK_EMBED_BUCKET,
        parsed.params.to_json(),
    )
    .await
}

/// `POST /ai/embeddings/url`: queues a task that crawls the URL into the bucket and embeds it.
async fn create_url_task(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = require_object(body)?;
    let parsed = domain::parse_url(&body)?;
    if let Err(e) = state.outbound.check_url(parsed.url.as_str()) {
        return Err(ApiError::Validation(
            parley_core::FieldError::invalid("/url", e.to_string()).into(),
        ));
    }
    // The bucket keeps the parameters it was embedded with; a new bucket gets the defaults.
    let params = match state
        .store
        .get_bucket(&tenant.org_id, &parsed.bucket_name)
        .await?
    {
        Some(bucket) => bucket
            .embedding
            .map(|e| EmbeddingParams::from_json(&e.params))
            .unwrap_or_default(),
        None => return Err(bucket_not_found(&parsed.bucket_name)),
    };
    let mut payload = params.to_json();
    payload["url"] = json!(parsed.url.as_str());
    create(&state, &tenant, parsed.bucket_name, TASK_EMBED_URL, payload).await
}

/// `GET /ai/embeddings/{task_id}`.
async fn get_task(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let task = state
        .store
        .get_embedding_task(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            resource: "Embedding task",
            id: id.clone(),
            pointer: "/task_id",
        })?;
    Ok(Json(
        json!({ "data": render_task(tenant.org_id.as_str(), &task) }),
    ))
}

/// `POST /ai/embeddings/similarity-search`: the `num_of_docs` closest chunks, ascending
/// cosine distance.
async fn similarity_search(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = require_object(body)?;
    let parsed = domain::parse_search(&body)?;
    let hits = knowledge::search(
        &state,
        &tenant.org_id,
        std::slice::from_ref(&parsed.bucket_name),
        &parsed.query,
        parsed.num_of_docs as usize,
    )
    .await
    .map_err(|e| match e {
        SearchError::NotEmbedded(bucket) => bucket_not_found(&bucket),
        SearchError::Embedding(e) => ApiError::Llm(e),
        SearchError::Store(e) => ApiError::Store(e),
    })?;
    let data: Vec<Value> = hits.iter().map(knowledge::render_hit).collect();
    Ok(Json(json!({ "data": data })))
}

/// `GET /ai/embeddings/buckets`: the embedded buckets' names.
async fn list_buckets(State(state): State<AppState>, tenant: Tenant) -> ApiResult<Json<Value>> {
    let buckets: Vec<String> = state
        .store
        .list_buckets(&tenant.org_id)
        .await?
        .into_iter()
        .filter(|b| b.embedding.is_some())
        .map(|b| b.name)
        .collect();
    Ok(Json(json!({ "data": { "buckets": buckets } })))
}

/// `GET /ai/embeddings/buckets/{name}`: the files of an embedded bucket with their status.
async fn get_bucket(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let embedded = state
        .store
        .get_bucket(&tenant.org_id, &name)
        .await?
        .is_some_and(|b| b.embedding.is_some());
    if !embedded {
        return Err(bucket_not_found(&name));
    }
    let files = state
        .store
        .list_embedded_files(&tenant.org_id, &name)
        .await?;
    let data: Vec<Value> = files.iter().map(render_file).collect();
    Ok(Json(json!({ "data": data })))
}

/// `DELETE /ai/embeddings/buckets/{name}`: removes the bucket's embeddings; its objects stay.
async fn delete_bucket(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .store
        .delete_bucket_embeddings(&tenant.org_id, &name)
        .await?
    {
        Ok(StatusCode::OK)
    } else {
        Err(bucket_not_found(&name))
    }
}
