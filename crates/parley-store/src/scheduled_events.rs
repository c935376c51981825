//! Scheduled events and the job that dispatches each.
//!
//! An event and its job (kind [`JOB_KIND`], key the event id) are written in one
//! transaction, so an event is never without the job that will dispatch it; deleting the
//! event removes its job in the same transaction (cancelling it when it is pending). Every
//! later change goes through [`ScheduledEventStore::edit_scheduled_event`], which reads,
//! decides and writes under the event's lock, so the dispatcher and the call webhooks never
//! lose each other's changes.
//!
//! [`JOB_KIND`]: parley_core::scheduled_events::JOB_KIND

use crate::{NewJob, PageRequest, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::{AssistantId, OrgId};
use parley_core::scheduled_events::{CallAttempt, EventChannel, EventStatus, ScheduledEventSpec};

/// A scheduled event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledEventRecord {
    /// Its id.
    pub id: String,
    /// Its organization.
    pub org_id: OrgId,
    /// The assistant that texts or calls.
    pub assistant_id: AssistantId,
    /// What was asked for. `spec.scheduled_at` is the current due time (moved forward when a
    /// call is retried).
    pub spec: ScheduledEventSpec,
    /// Where it is in its life.
    pub status: EventStatus,
    /// Retries made: of the call (phone events), or of the carrier request.
    pub retry_count: u32,
    /// Every dial and its outcome.
    pub call_attempts: Vec<CallAttempt>,
    /// The last call's status.
    pub call_status: Option<String>,
    /// Seconds the answered call lasted.
    pub call_duration: Option<i64>,
    /// The carrier's id of the current (or last) call.
    pub call_control_id: Option<String>,
    /// The conversation it started.
    pub conversation_id: Option<String>,
    /// When the text was sent or the call placed, the last time.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// What went wrong, oldest first.
    pub errors: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl ScheduledEventRecord {
    /// A new pending event.
    pub fn new(
        id: String,
        org_id: OrgId,
        assistant_id: AssistantId,
        spec: ScheduledEventSpec,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            org_id,
            assistant_id,
            spec,
            status: EventStatus::Pending,
            retry_count: 0,
            call_attempts: Vec::new(),
            call_status: None,
            call_duration: None,
            call_control_id: None,
            conversation_id: None,
            dispatched_at: None,
            errors: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

/// Which events a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduledEventFilter {
    /// Only this channel.
    pub channel: Option<EventChannel>,
    /// Only events due at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only events due at or before this time.
    pub to: Option<DateTime<Utc>>,
}

/// What an edit decided, given the stored event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventEdit {
    /// Leave it as it is.
    Unchanged,
    /// Write this state (the mutable fields: due time, status, counters, call fields,
    /// conversation, dispatch time, errors) and, when given, (re)enqueue this job in the same
    /// transaction.
    Save(Box<ScheduledEventRecord>, Option<NewJob>),
}

/// The decision of an edit, run with the event locked.
pub type EventEditor = Box<dyn FnOnce(&ScheduledEventRecord) -> EventEdit + Send>;

/// Scheduled events.
#[async_trait]
pub trait ScheduledEventStore: Send + Sync + 'static {
    /// Stores a new event and enqueues `job` in the same transaction.
    async fn create_scheduled_event(
        &self,
        event: &ScheduledEventRecord,
        job: &NewJob,
    ) -> StoreResult<()>;

    /// An event of an assistant of the organization.
    async fn get_scheduled_event(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        id: &str,
    ) -> StoreResult<Option<ScheduledEventRecord>>;

    /// An assistant's events matching `filter`, earliest due first (ties by id), and their
    /// total count.
    async fn list_scheduled_events(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        filter: &ScheduledEventFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<ScheduledEventRecord>, u64)>;

    /// Deletes an event and its job in one transaction; false when there was no such event.
    async fn delete_scheduled_event(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        id: &str,
    ) -> StoreResult<bool>;

    /// Reads event `id` of `org` with it locked, lets `editor` decide, and writes what it
    /// decided. Returns the event as it is afterwards; `None` when there is no such event.
    async fn edit_scheduled_event(
        &self,
        org: &OrgId,
        id: &str,
        editor: EventEditor,
    ) -> StoreResult<Option<ScheduledEventRecord>>;

    /// The event whose current call is `call_control_id` (in any organization: the carrier's
    /// call ids are unique, and call webhooks carry no organization).
    async fn find_scheduled_event_by_call(
        &self,
        call_control_id: &str,
    ) -> StoreResult<Option<ScheduledEventRecord>>;
}
