//! `/ai/phone_numbers` (a Parley extension): which assistant answers texts to a number. An
//! inbound SMS from someone with no active conversation on that number starts one with the
//! assigned assistant; without an assignment (and no earlier conversation between the two
//! numbers) it is logged and acknowledged.
//!
//! - `POST /ai/phone_numbers` `{phone_number, assistant_id}`: assigns (or reassigns) a number;
//!   200 with the assignment. A number belongs to one organization: another organization's
//!   number is refused (400).
//! - `GET /ai/phone_numbers`: `{data, meta}`, in number order.
//! - `GET /ai/phone_numbers/{phone_number}`, `DELETE /ai/phone_numbers/{phone_number}` (200,
//!   empty body); the number percent-encoded (`%2B1312…`) or not.

use crate::error::{ApiError, ApiResult};
use crate::extract::{require_object, JsonBody, Pagination, Path, QueryParams, DEFAULT_PAGE_SIZE};
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use parley_core::clock::format_timestamp;
use parley_core::ids::AssistantId;
use parley_core::messaging::is_e164;
use parley_core::validation::{FieldError, ValidationErrors};
use parley_store::{AssignOutcome, PhoneNumberRecord};
use parley_types::messaging::PhoneNumberAssignment;
use parley_types::{Meta, Page};
use serde_json::Value;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/ai/phone_numbers",
            get(list_phone_numbers).post(assign_phone_number),
        )
        .route(
            "/ai/phone_numbers/{phone_number}",
            get(get_phone_number).delete(delete_phone_number),
        )
}

fn render(record: &PhoneNumberRecord) -> PhoneNumberAssignment {
    PhoneNumberAssignment {
        phone_number: record.phone_number.clone(),
        assistant_id: record.assistant_id.as_str().to_owned(),
        created_at: format_timestamp(&record.created_at),
        updated_at: format_timestamp(&record.updated_at),
    }
}

fn not_found(number: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Phone number",
        id: number.to_owned(),
        pointer: "/phone_number",
    }
}

async fn assign_phone_number(
    State(state): State<AppState>,
    tenant: Tenant,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<PhoneNumberAssignment>> {
    let body = require_object(body)?;
    let mut errors = Vec::new();
    let number = match body.get("phone_number") {
        Some(Value::String(n)) if is_e164(n.trim()) => n.trim().to_owned(),
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/phone_number", "is required"));
            String::new()
        }
        Some(_) => {
            errors.push(FieldError::invalid(
                "/phone_number",
                "must be a phone number in E.164 form, like +13125550100",
            ));
            String::new()
        }
    };
    let assistant = match body.get("assistant_id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid("/assistant_id", "is required"));
            String::new()
        }
        Some(_) => {
            errors.push(FieldError::invalid("/assistant_id", "must be a string"));
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(ValidationErrors(errors).into());
    }
    let assistant_id = AssistantId::from_string(&assistant);
    if state
        .store
        .get_assistant(&tenant.org_id, &assistant_id)
        .await?
        .is_none()
    {
        return Err(ApiError::assistant_not_found(&assistant));
    }
    match state
        .store
        .assign_phone_number(&tenant.org_id, &number, &assistant_id, state.clock.now())
        .await?
    {
        AssignOutcome::Assigned(record) => Ok(Json(render(&record))),
        AssignOutcome::Taken => Err(ApiError::Refused {
            detail: format!("{number} is assigned in another organization"),
            pointer: Some("/phone_number".into()),
        }),
    }
}

async fn get_phone_number(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(number): Path<String>,
) -> ApiResult<Json<PhoneNumberAssignment>> {
    let record = state
        .store
        .get_phone_number(&tenant.org_id, &number)
        .await?
        .ok_or_else(|| not_found(&number))?;
    Ok(Json(render(&record)))
}

async fn delete_phone_number(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(number): Path<String>,
) -> ApiResult<StatusCode> {
    if !state
        .store
        .delete_phone_number(&tenant.org_id, &number)
        .await?
    {
        return Err(not_found(&number));
    }
    Ok(StatusCode::OK)
}

async fn list_phone_numbers(
    State(state): State<AppState>,
    tenant: Tenant,
    query: QueryParams,
) -> ApiResult<Json<Page<PhoneNumberAssignment>>> {
    let page = Pagination::from_query(&query)?.unwrap_or(Pagination {
        number: 1,
        size: DEFAULT_PAGE_SIZE,
    });
    let (records, total) = state
        .store
        .list_phone_numbers(&tenant.org_id, page.window())
        .await?;
    Ok(Json(Page {
        data: records.iter().map(render).collect(),
        meta: Meta::new(page.number, page.size, total),
    }))
}
