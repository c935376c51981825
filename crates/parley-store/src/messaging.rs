//! SMS messages, phone-number assignments and the carrier's webhook event ids.
//!
//! The carrier is one account per Parley deployment, so its ids — message ids, phone numbers,
//! webhook event ids — are unique across organizations. The look-ups that start from them
//! ([`MessagingStore::find_sms_thread`], [`MessagingStore::update_sms_status`],
//! [`MessagingStore::find_phone_number`]) are the only methods here without an organization:
//! an inbound webhook carries none, and these look-ups are how it finds one.

use crate::{NewJob, PageRequest, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::{AssistantId, OrgId};

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsDirection {
    /// The end user texted the assistant.
    Inbound,
    /// The assistant texted the end user.
    Outbound,
}

impl SmsDirection {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "inbound" => Some(Self::Inbound),
            "outbound" => Some(Self::Outbound),
            _ => None,
        }
    }
}

/// An SMS as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SmsMessageRecord {
    /// Parley's id.
    pub id: String,
    /// Its organization.
    pub org_id: OrgId,
    /// Which way it went.
    pub direction: SmsDirection,
    /// The carrier's id, once known.
    pub carrier_message_id: Option<String>,
    /// The assistant's number.
    pub agent_number: String,
    /// The end user's number.
    pub end_user_number: String,
    /// The assistant.
    pub assistant_id: AssistantId,
    /// The conversation it belongs to.
    pub conversation_id: Option<String>,
    /// The scheduled event that sent it.
    pub scheduled_event_id: Option<String>,
    /// For a reply: the carrier id of the inbound message it answers.
    pub in_reply_to: Option<String>,
    /// Its text.
    pub text: String,
    /// Its delivery status: `queued`, `sending`, `sent`, `delivered`, `sending_failed`,
    /// `delivery_failed`, `delivery_unconfirmed`, or `received` for inbound messages.
    pub status: String,
    /// What the carrier reported went wrong.
    pub errors: Vec<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

/// An assigned phone number.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumberRecord {
    /// The number (E.164).
    pub phone_number: String,
    /// Its organization.
    pub org_id: OrgId,
    /// The assistant that answers it.
    pub assistant_id: AssistantId,
    /// When it was first assigned.
    pub created_at: DateTime<Utc>,
    /// When it was last assigned.
    pub updated_at: DateTime<Utc>,
}

/// What assigning a number did.
#[derive(Debug, Clone, PartialEq)]
pub enum AssignOutcome {
    /// Assigned (or reassigned within the organization).
    Assigned(PhoneNumberRecord),
    /// Another organization has the number.
    Taken,
}

/// SMS messages, phone numbers, webhook event ids.
#[async_trait]
pub trait MessagingStore: Send + Sync + 'static {
    /// Stores a message.
    async fn insert_sms_message(&self, message: &SmsMessageRecord) -> StoreResult<()>;

    /// Sets the carrier id and status of message `id` of `org` (after the carrier accepted or
    /// refused it), appending `error` when given. Returns the message afterwards.
    async fn set_sms_sent(
        &self,
        org: &OrgId,
        id: &str,
        carrier_message_id: Option<&str>,
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SmsMessageRecord>>;

    /// Records a delivery status the carrier reported for its message `carrier_message_id`
    /// (in any organization), appending `errors`. Returns the message afterwards.
    async fn update_sms_status(
        &self,
        carrier_message_id: &str,
        status: &str,
        errors: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SmsMessageRecord>>;

    /// The newest message between these two numbers, in any organization.
    async fn find_sms_thread(
        &self,
        agent_number: &str,
        end_user_number: &str,
    ) -> StoreResult<Option<SmsMessageRecord>>;

    /// The reply to the inbound message `in_reply_to` (a carrier id), if one was recorded.
    async fn find_sms_reply(
        &self,
        org: &OrgId,
        in_reply_to: &str,
    ) -> StoreResult<Option<SmsMessageRecord>>;

    /// Assigns `phone_number` to `assistant` (replacing the organization's earlier
    /// assignment of that number).
    async fn assign_phone_number(
        &self,
        org: &OrgId,
        phone_number: &str,
        assistant: &AssistantId,
        now: DateTime<Utc>,
    ) -> StoreResult<AssignOutcome>;

    /// An assigned number of the organization.
    async fn get_phone_number(
        &self,
        org: &OrgId,
        phone_number: &str,
    ) -> StoreResult<Option<PhoneNumberRecord>>;

    /// The organization's numbers, in number order, and their total count.
    async fn list_phone_numbers(
        &self,
        org: &OrgId,
        page: PageRequest,
    ) -> StoreResult<(Vec<PhoneNumberRecord>, u64)>;

    /// Removes an assignment; false when there was none.
    async fn delete_phone_number(&self, org: &OrgId, phone_number: &str) -> StoreResult<bool>;

    /// The assignment of `phone_number`, in any organization.
    async fn find_phone_number(&self, phone_number: &str)
        -> StoreResult<Option<PhoneNumberRecord>>;

    /// Records the carrier's webhook event `event_id` and, when it is new, enqueues `job` in
    /// the same transaction. Returns false (and enqueues nothing) when the event was seen
    /// before.
    async fn accept_webhook_event(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
        job: Option<&NewJob>,
    ) -> StoreResult<bool>;

    /// Forgets webhook event ids received before `cutoff`; returns how many.
    async fn purge_webhook_events(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
}
