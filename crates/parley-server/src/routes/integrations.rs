//! `/ai/integrations`: the built-in integration catalogue and the organization's connections
//! to it.
//!
//! - `GET /ai/integrations` → `{data: [Integration]}`; `GET /ai/integrations/{id}` → a bare
//!   `Integration`. `status` is `connected` when the organization has a connection to it.
//! - `GET /ai/integrations/connections` → `{data: [IntegrationConnection]}`;
//!   `GET …/connections/{id}` → `{data: IntegrationConnection}`; `DELETE …/connections/{id}`
//!   → 204.
//! - `POST /ai/integrations/connections` (a Parley extension: Telnyx connects in its portal)
//!   → `{data: IntegrationConnection}`; one connection per integration per organization.
//!
//! `/ai/integrations/connections` is a static segment, so the router prefers it to
//! `/ai/integrations/{integration_id}`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{require_object, JsonBody, Path};
use crate::secrets::check_refs_exist;
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use parley_core::integrations::{
    catalogue, generate_connection_id, parse_connection_create, render_connection,
    render_integration,
};
use parley_core::FieldError;
use parley_store::{CreateConnectionOutcome, IntegrationConnectionRecord};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ai/integrations", get(list_integrations))
        .route(
            "/ai/integrations/connections",
            get(list_connections).post(create_connection),
        )
        .route(
            "/ai/integrations/connections/{user_connection_id}",
            get(get_connection).delete(delete_connection),
        )
        .route("/ai/integrations/{integration_id}", get(get_integration))
}

/// The wire object of a connection.
pub fn render(record: &IntegrationConnectionRecord) -> Value {
    render_connection(&record.id, &record.created_at, &record.config)
}

fn connection_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Integration connection",
        id: id.to_owned(),
        pointer: "/user_connection_id",
    }
}

/// Catalogue ids the organization is connected to.
async fn connected_ids(state: &AppState, tenant: &Tenant) -> ApiResult<BTreeSet<String>> {
    Ok(state
        .store
        .list_integration_connections(&tenant.org_id)
        .await?
        .into_iter()
        .map(|c| c.config.integration_id)
        .collect())
}

/// `GET /ai/integrations`: the catalogue, with each entry's status for this organization.
async fn list_integrations(
    State(state): State<AppState>,
    tenant: Tenant,
) -> ApiResult<Json<Value>> {
    let connected = connected_ids(&state, &tenant).await?;
    let data: Vec<Value> = catalogue()
        .integrations
        .iter()
        .map(|i| render_integration(i, connected.contains(&i.id)))
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// `GET /ai/integrations/{integration_id}`: one catalogue entry, bare.
async fn get_integration(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let integration = catalogue().get(&id).ok_or_else(|| ApiError::NotFound {
        resource: "Integration",
        id: id.clone(),
        pointer: "/integration_id",
    })?;
    let connected = connected_ids(&state, &tenant).await?;
    Ok(Json(render_integration(
        integration,
        connected.contains(&integration.id),
    )))
}

/// `GET /ai/integrations/connections`: every connection, oldest first, as `{data}`.
async fn list_connections(State(state): State<AppState>, tenant: Tenant) -> ApiResult<Json<Value>> {
    let records = state
        .store
        .list_integration_connections(&tenant.org_id)
        .await?;
    let data: Vec<Value> = records.iter().map(render).collect();
    Ok(Json(json!({ "data": data })))
}

/// `POST /ai/integrations/connections` (Parley extension): connects the organization to a
/// catalogue integration with the credentials of an integration secret.
async fn create_connection(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    let body = Value::Object(require_object(body)?);
    let config = parse_connection_create(&body)?;
    check_refs_exist(
        &state,
        &tenant.org_id,
        &[("/api_key_ref".to_owned(), config.api_key_ref.clone())],
    )
    .await?;
    match state
        .store
        .create_integration_connection(
            &tenant.org_id,
            &generate_connection_id(),
            &config,
            state.clock.now(),
        )
        .await?
    {
        CreateConnectionOutcome::Created(record) => Ok(Json(json!({ "data": render(&record) }))),
        CreateConnectionOutcome::AlreadyConnected(existing) => Err(ApiError::Validation(
            FieldError::invalid(
                "/integration_id",
                format!(
                    "this organization is already connected to {} (connection {existing}); \
                     delete that connection first",
                    config.integration_id
                ),
            )
            .into(),
        )),
    }
}

/// `GET /ai/integrations/connections/{id}`: `{data}`.
async fn get_connection(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = state
        .store
        .get_integration_connection(&tenant.org_id, &id)
        .await?
        .ok_or_else(|| connection_not_found(&id))?;
    Ok(Json(json!({ "data": render(&record) })))
}

/// `DELETE /ai/integrations/connections/{id}`: 204.
async fn delete_connection(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if state
        .store
        .delete_integration_connection(&tenant.org_id, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(connection_not_found(&id))
    }
}
