//! `/ai/assistants/{assistant_id}/scheduled_events`: texts and calls at a fixed time.
//!
//! Create validates the body ([`parley_core::scheduled_events::parse_create`]: 422 for a value
//! that breaks the contract, 400 for a broken rule such as a time in the past), stores the
//! event and the job that dispatches it in one transaction, and answers 201. List is
//! paginated (`{data, meta}`) and filters on `conversation_channel` and an inclusive
//! `from_date`/`to_date` range of the due time. Delete removes the event and cancels its job.
//! What happens at the due time is [`crate::outreach`]'s.

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Pagination, Path, QueryParams, DEFAULT_PAGE_SIZE};
use crate::outreach::scheduled_event_job;
use crate::state::{AppState, Tenant};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use parley_core::clock::{format_timestamp, parse_timestamp};
use parley_core::ids::AssistantId;
use parley_core::scheduled_events::{parse_create, EventChannel};
use parley_store::{ScheduledEventFilter, ScheduledEventRecord};
use parley_types::scheduled_events::{CallAttempt, ScheduledEvent};
use parley_types::{Meta, Page};
use serde_json::Map;

/// Routes of this resource.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/ai/assistants/{assistant_id}/scheduled_events",
            get(list_scheduled_events).post(create_scheduled_event),
        )
        .route(
            "/ai/assistants/{assistant_id}/scheduled_events/{event_id}",
            get(get_scheduled_event).delete(delete_scheduled_event),
        )
}

/// The wire object of an event: the SMS shape for `sms_chat`, the phone-call shape for
/// `phone_call`.
pub fn render(event: &ScheduledEventRecord) -> ScheduledEvent {
    let spec = &event.spec;
    let phone = spec.channel == EventChannel::PhoneCall;
    let live_call = u32::from(
        phone && event.call_control_id.is_some() && event.status.as_str() == "in_progress",
    );
    ScheduledEvent {
        scheduled_event_id: Some(event.id.clone()),
        assistant_id: event.assistant_id.as_str().to_owned(),
        scheduled_at_fixed_datetime: format_timestamp(&spec.scheduled_at),
        telnyx_agent_target: spec.agent_target.clone(),
        telnyx_conversation_channel: spec.channel.as_str().to_owned(),
        telnyx_end_user_target: spec.end_user_target.clone(),
        status: Some(event.status.as_str().to_owned()),
        text: if phone { None } else { spec.text.clone() },
        conversation_id: event.conversation_id.clone(),
        conversation_metadata: (!spec.conversation_metadata.is_empty())
            .then(|| spec.conversation_metadata.clone()),
        dynamic_variables: (!spec.dynamic_variables.is_empty())
            .then(|| spec.dynamic_variables.clone()),
        errors: Some(event.errors.clone()),
        retry_count: Some(event.retry_count),
        created_at: Some(format_timestamp(&event.created_at)),
        dispatched_at: event.dispatched_at.as_ref().map(format_timestamp),
        call_attempts: phone.then(|| {
            event
                .call_attempts
                .iter()
                .map(|a| CallAttempt {
                    attempt_number: a.attempt_number,
                    attempted_at: format_timestamp(&a.attempted_at),
                    call_status: a.call_status.clone(),
                    call_duration: a.call_duration,
                    telnyx_call_control_id: a.telnyx_call_control_id.clone(),
                })
                .collect()
        }),
        call_duration: if phone { event.call_duration } else { None },
        call_settings: if phone {
            spec.call_settings.clone()
        } else {
            None
        },
        call_status: if phone {
            event.call_status.clone()
        } else {
            None
        },
        max_retries_client_errors: phone.then_some(spec.max_retries_client_errors),
        retry_attempts: phone.then(|| event.call_attempts.len() as u32 + live_call),
        retry_interval_secs: if phone {
            spec.retry_interval_secs
        } else {
            None
        },
        extra: Map::new(),
    }
}

async fn require_assistant(state: &AppState, tenant: &Tenant, id: &str) -> ApiResult<AssistantId> {
    let assistant = AssistantId::from_string(id);
    state
        .store
        .get_assistant(&tenant.org_id, &assistant)
        .await?
        .ok_or_else(|| ApiError::assistant_not_found(id))?;
    Ok(assistant)
}

fn event_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        resource: "Scheduled event",
        id: id.to_owned(),
        pointer: "/event_id",
    }
}

/// `POST /ai/assistants/{assistant_id}/scheduled_events`: 201 with the event.
async fn create_scheduled_event(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(assistant_id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<(StatusCode, Json<ScheduledEvent>)> {
    let assistant = require_assistant(&state, &tenant, &assistant_id).await?;
    let now = state.clock.now();
    let spec = parse_create(&body, now, state.settings.carrier.min_retry_secs)?;
    let event = ScheduledEventRecord::new(
        uuid::Uuid::new_v4().to_string(),
        tenant.org_id.clone(),
        assistant,
        spec,
        now,
    );
    state
        .store
        .create_scheduled_event(&event, &scheduled_event_job(&event))
        .await?;
    state.jobs.wake();
    Ok((StatusCode::CREATED, Json(render(&event))))
}

/// `GET /ai/assistants/{assistant_id}/scheduled_events/{event_id}`.
async fn get_scheduled_event(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((assistant_id, event_id)): Path<(String, String)>,
) -> ApiResult<Json<ScheduledEvent>> {
    let assistant = require_assistant(&state, &tenant, &assistant_id).await?;
    let event = state
        .store
        .get_scheduled_event(&tenant.org_id, &assistant, &event_id)
        .await?
        .ok_or_else(|| event_not_found(&event_id))?;
    Ok(Json(render(&event)))
}

/// `DELETE /ai/assistants/{assistant_id}/scheduled_events/{event_id}`: 200, empty body. A
/// pending event is cancelled (its job goes with it).
async fn delete_scheduled_event(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((assistant_id, event_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let assistant = require_assistant(&state, &tenant, &assistant_id).await?;
    if !state
        .store
        .delete_scheduled_event(&tenant.org_id, &assistant, &event_id)
        .await?
    {
        return Err(event_not_found(&event_id));
    }
    Ok(StatusCode::OK)
}

/// A `from_date`/`to_date` value: an ISO 8601 date-time, or a date (the start of that day
/// for `from_date`, its end for `to_date`).
fn date_parameter(
    query: &QueryParams,
    name: &str,
    end_of_day: bool,
) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(text) = query.get(name).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let time = if end_of_day {
            day.and_hms_micro_opt(23, 59, 59, 999_999)
        } else {
            day.and_hms_opt(0, 0, 0)
        };
        return Ok(time.map(|t| t.and_utc()));
    }
    if let Some(at) = parse_timestamp(text) {
        return Ok(Some(at));
    }
    Err(ApiError::InvalidParameter {
        parameter: name.to_owned(),
        detail: format!("`{name}` must be an ISO 8601 date-time or date, not {text:?}"),
    })
}

/// `GET /ai/assistants/{assistant_id}/scheduled_events`: `{data, meta}`.
async fn list_scheduled_events(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(assistant_id): Path<String>,
    query: QueryParams,
) -> ApiResult<Json<Page<ScheduledEvent>>> {
    let assistant = require_assistant(&state, &tenant, &assistant_id).await?;
    let channel = match query.get("conversation_channel").filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => {
            Some(
                EventChannel::parse(text).ok_or_else(|| ApiError::InvalidParameter {
                    parameter: "conversation_channel".into(),
                    detail: format!(
                        "`conversation_channel` must be phone_call or sms_chat, not {text:?}"
                    ),
                })?,
            )
        }
    };
    let filter = ScheduledEventFilter {
        channel,
        from: date_parameter(&query, "from_date", false)?,
        to: date_parameter(&query, "to_date", true)?,
    };
    let page = Pagination::from_query(&query)?.unwrap_or(Pagination {
        number: 1,
        size: DEFAULT_PAGE_SIZE,
    });
    let (events, total) = state
        .store
        .list_scheduled_events(&tenant.org_id, &assistant, &filter, page.window())
        .await?;
    Ok(Json(Page {
        data: events.iter().map(render).collect(),
        meta: Meta::new(page.number, page.size, total),
    }))
}
