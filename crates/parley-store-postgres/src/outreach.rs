//! [`parley_store::ScheduledEventStore`] and [`parley_store::MessagingStore`] on PostgreSQL.
//! An event and its job are written in one transaction; an edit locks the event's row
//! (`for no key update`) before reading it, so concurrent edits queue up.

use crate::jobs::{delete_job, insert_job};
use crate::{
    begin, corrupt, count_from_row, db, execute, query, query_one, query_opt, read_snapshot,
    to_i64, PostgresStore,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use parley_core::ids::{AssistantId, OrgId};
use parley_core::scheduled_events::{
    CallAttempt, EventChannel, EventStatus, ScheduledEventSpec, JOB_KIND,
};
use parley_store::{
    AssignOutcome, EventEdit, EventEditor, MessagingStore, NewJob, PageRequest, PhoneNumberRecord,
    ScheduledEventFilter, ScheduledEventRecord, ScheduledEventStore, SmsDirection,
    SmsMessageRecord, StoreError, StoreResult,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tokio_postgres::types::Json;
use tokio_postgres::Row;

/// Columns read by [`event_from_row`].
const EVENT_COLUMNS: &str = "org_id, id, assistant_id, channel, agent_target, end_user_target, \
     scheduled_at, text, call_settings, conversation_metadata, dynamic_variables, \
     max_retries_client_errors, retry_interval_secs, status, retry_count, call_attempts, \
     call_status, call_duration, call_control_id, conversation_id, dispatched_at, errors, \
     created_at, updated_at";

/// Columns read by [`message_from_row`].
const MESSAGE_COLUMNS: &str = "id, org_id, direction, carrier_message_id, agent_number, \
     end_user_number, assistant_id, conversation_id, scheduled_event_id, in_reply_to, text, \
     status, errors, created_at, updated_at";

/// Columns read by [`number_from_row`].
const NUMBER_COLUMNS: &str = "phone_number, org_id, assistant_id, created_at, updated_at";

fn unsigned(value: i32, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative {what} {value}")))
}

fn signed(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// Reads a row of [`EVENT_COLUMNS`].
fn event_from_row(row: &Row) -> StoreResult<ScheduledEventRecord> {
    let channel: String = row.try_get(3).map_err(corrupt)?;
    let status: String = row.try_get(13).map_err(corrupt)?;
    let call_settings: Option<Json<Map<String, Value>>> = row.try_get(8).map_err(corrupt)?;
    let Json(conversation_metadata): Json<Map<String, Value>> = row.try_get(9).map_err(corrupt)?;
    let Json(dynamic_variables): Json<BTreeMap<String, String>> =
        row.try_get(10).map_err(corrupt)?;
    let Json(call_attempts): Json<Vec<CallAttempt>> = row.try_get(15).map_err(corrupt)?;
    let Json(errors): Json<Vec<String>> = row.try_get(21).map_err(corrupt)?;
    let retry_interval: Option<i32> = row.try_get(12).map_err(corrupt)?;
    Ok(ScheduledEventRecord {
        org_id: OrgId::from_string(row.try_get::<_, String>(0).map_err(corrupt)?),
        id: row.try_get(1).map_err(corrupt)?,
        assistant_id: AssistantId::from_string(row.try_get::<_, String>(2).map_err(corrupt)?),
        spec: ScheduledEventSpec {
            channel: EventChannel::parse(&channel)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown channel {channel:?}")))?,
            agent_target: row.try_get(4).map_err(corrupt)?,
            end_user_target: row.try_get(5).map_err(corrupt)?,
            scheduled_at: row.try_get(6).map_err(corrupt)?,
            text: row.try_get(7).map_err(corrupt)?,
            call_settings: call_settings.map(|Json(settings)| settings),
            conversation_metadata,
            dynamic_variables,
            max_retries_client_errors: unsigned(row.try_get(11).map_err(corrupt)?, "retries")?,
            retry_interval_secs: retry_interval
                .map(|v| unsigned(v, "retry interval"))
                .transpose()?,
        },
        status: EventStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown status {status:?}")))?,
        retry_count: unsigned(row.try_get(14).map_err(corrupt)?, "retry count")?,
        call_attempts,
        call_status: row.try_get(16).map_err(corrupt)?,
        call_duration: row.try_get(17).map_err(corrupt)?,
        call_control_id: row.try_get(18).map_err(corrupt)?,
        conversation_id: row.try_get(19).map_err(corrupt)?,
        dispatched_at: row.try_get(20).map_err(corrupt)?,
        errors,
        created_at: row.try_get(22).map_err(corrupt)?,
        updated_at: row.try_get(23).map_err(corrupt)?,
    })
}

/// Reads a row of [`MESSAGE_COLUMNS`].
fn message_from_row(row: &Row) -> StoreResult<SmsMessageRecord> {
    let direction: String = row.try_get(2).map_err(corrupt)?;
    let Json(errors): Json<Vec<String>> = row.try_get(12).map_err(corrupt)?;
    Ok(SmsMessageRecord {
        id: row.try_get(0).map_err(corrupt)?,
        org_id: OrgId::from_string(row.try_get::<_, String>(1).map_err(corrupt)?),
        direction: SmsDirection::parse(&direction)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown direction {direction:?}")))?,
        carrier_message_id: row.try_get(3).map_err(corrupt)?,
        agent_number: row.try_get(4).map_err(corrupt)?,
        end_user_number: row.try_get(5).map_err(corrupt)?,
        assistant_id: AssistantId::from_string(row.try_get::<_, String>(6).map_err(corrupt)?),
        conversation_id: row.try_get(7).map_err(corrupt)?,
        scheduled_event_id: row.try_get(8).map_err(corrupt)?,
        in_reply_to: row.try_get(9).map_err(corrupt)?,
        text: row.try_get(10).map_err(corrupt)?,
        status: row.try_get(11).map_err(corrupt)?,
        errors,
        created_at: row.try_get(13).map_err(corrupt)?,
        updated_at: row.try_get(14).map_err(corrupt)?,
    })
}

/// Reads a row of [`NUMBER_COLUMNS`].
fn number_from_row(row: &Row) -> StoreResult<PhoneNumberRecord> {
    Ok(PhoneNumberRecord {
        phone_number: row.try_get(0).map_err(corrupt)?,
        org_id: OrgId::from_string(row.try_get::<_, String>(1).map_err(corrupt)?),
        assistant_id: AssistantId::from_string(row.try_get::<_, String>(2).map_err(corrupt)?),
        created_at: row.try_get(3).map_err(corrupt)?,
        updated_at: row.try_get(4).map_err(corrupt)?,
    })
}

/// Runs a one-row read outside a transaction (a single statement sees one snapshot).
async fn read_one(
    client: &Object,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<Option<Row>> {
    let statement = client.prepare_cached(sql).await.map_err(db)?;
    client.query_opt(&statement, params).await.map_err(db)
}

#[async_trait]
impl ScheduledEventStore for PostgresStore {
    async fn create_scheduled_event(
        &self,
        event: &ScheduledEventRecord,
        job: &NewJob,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let spec = &event.spec;
        execute(
            &tx,
            &format!(
                "insert into scheduled_events ({EVENT_COLUMNS}) values \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                  $18, $19, $20, $21, $22, $23, $24)"
            ),
            &[
                &event.org_id.as_str(),
                &event.id,
                &event.assistant_id.as_str(),
                &spec.channel.as_str(),
                &spec.agent_target,
                &spec.end_user_target,
                &spec.scheduled_at,
                &spec.text,
                &spec.call_settings.as_ref().map(Json),
                &Json(&spec.conversation_metadata),
                &Json(&spec.dynamic_variables),
                &signed(spec.max_retries_client_errors),
                &spec.retry_interval_secs.map(signed),
                &event.status.as_str(),
                &signed(event.retry_count),
                &Json(&event.call_attempts),
                &event.call_status,
                &event.call_duration,
                &event.call_control_id,
                &event.conversation_id,
                &event.dispatched_at,
                &Json(&event.errors),
                &event.created_at,
                &event.updated_at,
            ],
        )
        .await?;
        insert_job(&tx, job).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_scheduled_event(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        id: &str,
    ) -> StoreResult<Option<ScheduledEventRecord>> {
        let client = self.client().await?;
        read_one(
            &client,
            &format!(
                "select {EVENT_COLUMNS} from scheduled_events \
                 where org_id = $1 and assistant_id = $2 and id = $3"
            ),
            &[&org.as_str(), &assistant.as_str(), &id],
        )
        .await?
        .as_ref()
        .map(event_from_row)
        .transpose()
    }

    async fn list_scheduled_events(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        filter: &ScheduledEventFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<ScheduledEventRecord>, u64)> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let conditions = "org_id = $1 and assistant_id = $2 \
             and ($3::text is null or channel = $3) \
             and ($4::timestamptz is null or scheduled_at >= $4) \
             and ($5::timestamptz is null or scheduled_at <= $5)";
        let channel = filter.channel.map(EventChannel::as_str);
        let total = count_from_row(
            &query_one(
                &tx,
                &format!("select count(*) from scheduled_events where {conditions}"),
                &[
                    &org.as_str(),
                    &assistant.as_str(),
                    &channel,
                    &filter.from,
                    &filter.to,
                ],
            )
            .await?,
        )?;
        let limit = page.limit.map(to_i64);
        let rows = query(
            &tx,
            &format!(
                "select {EVENT_COLUMNS} from scheduled_events where {conditions} \
                 order by scheduled_at, id limit $6 offset $7"
            ),
            &[
                &org.as_str(),
                &assistant.as_str(),
                &channel,
                &filter.from,
                &filter.to,
                &limit,
                &to_i64(page.offset),
            ],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        let events = rows
            .iter()
            .map(event_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((events, total))
    }

    async fn delete_scheduled_event(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        id: &str,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let deleted = execute(
            &tx,
            "delete from scheduled_events where org_id = $1 and assistant_id = $2 and id = $3",
            &[&org.as_str(), &assistant.as_str(), &id],
        )
        .await?;
        if deleted > 0 {
            delete_job(&tx, org, JOB_KIND, id).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(deleted > 0)
    }

    async fn edit_scheduled_event(
        &self,
        org: &OrgId,
        id: &str,
        editor: EventEditor,
    ) -> StoreResult<Option<ScheduledEventRecord>> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let select =
            format!("select {EVENT_COLUMNS} from scheduled_events where org_id = $1 and id = $2");
        let Some(row) = query_opt(
            &tx,
            &format!("{select} for no key update"),
            &[&org.as_str(), &id],
        )
        .await?
        else {
            return Ok(None);
        };
        let current = event_from_row(&row)?;
        let after = match editor(&current) {
            EventEdit::Unchanged => current,
            EventEdit::Save(event, job) => {
                let row = query_one(
                    &tx,
                    &format!(
                        "update scheduled_events set scheduled_at = $3, status = $4, \
                         retry_count = $5, call_attempts = $6, call_status = $7, \
                         call_duration = $8, call_control_id = $9, conversation_id = $10, \
                         dispatched_at = $11, errors = $12, updated_at = $13 \
                         where org_id = $1 and id = $2 returning {EVENT_COLUMNS}"
                    ),
                    &[
                        &org.as_str(),
                        &id,
                        &event.spec.scheduled_at,
                        &event.status.as_str(),
                        &signed(event.retry_count),
                        &Json(&event.call_attempts),
                        &event.call_status,
                        &event.call_duration,
                        &event.call_control_id,
                        &event.conversation_id,
                        &event.dispatched_at,
                        &Json(&event.errors),
                        &event.updated_at,
                    ],
                )
                .await?;
                if let Some(job) = job {
                    insert_job(&tx, &job).await?;
                }
                event_from_row(&row)?
            }
        };
        tx.commit().await.map_err(db)?;
        Ok(Some(after))
    }

    async fn find_scheduled_event_by_call(
        &self,
        call_control_id: &str,
    ) -> StoreResult<Option<ScheduledEventRecord>> {
        let client = self.client().await?;
        read_one(
            &client,
            &format!(
                "select {EVENT_COLUMNS} from scheduled_events where call_control_id = $1 \
                 order by updated_at desc limit 1"
            ),
            &[&call_control_id],
        )
        .await?
        .as_ref()
        .map(event_from_row)
        .transpose()
    }
}

#[async_trait]
impl MessagingStore for PostgresStore {
    async fn insert_sms_message(&self, m: &SmsMessageRecord) -> StoreResult<()> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "insert into sms_messages ({MESSAGE_COLUMNS}) values \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ))
            .await
            .map_err(db)?;
        client
            .execute(
                &statement,
                &[
                    &m.id,
                    &m.org_id.as_str(),
                    &m.direction.as_str(),
                    &m.carrier_message_id,
                    &m.agent_number,
                    &m.end_user_number,
                    &m.assistant_id.as_str(),
                    &m.conversation_id,
                    &m.scheduled_event_id,
                    &m.in_reply_to,
                    &m.text,
                    &m.status,
                    &Json(&m.errors),
                    &m.created_at,
                    &m.updated_at,
                ],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn set_sms_sent(
        &self,
        org: &OrgId,
        id: &str,
        carrier_message_id: Option<&str>,
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SmsMessageRecord>> {
        let errors: Vec<&str> = error.into_iter().collect();
        let client = self.client().await?;
        read_one(
            &client,
            &format!(
                "update sms_messages set carrier_message_id = coalesce($3, carrier_message_id), \
                 status = $4, errors = errors || $5, updated_at = $6 \
                 where org_id = $1 and id = $2 returning {MESSAGE_COLUMNS}"
            ),
            &[
                &org.as_str(),
                &id,
                &carrier_message_id,
                &status,
                &Json(&errors),
                &now,
            ],
        )
        .await?
        .as_ref()
        .map(message_from_row)
        .transpose()
    }

    async fn update_sms_status(
        &self,
        carrier_message_id: &str,
        status: &str,
        errors: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SmsMessageRecord>> {
        let client = self.client().await?;
        read_one(
            &client,
            &format!(
                "update sms_messages set status = $2, errors = errors || $3, updated_at = $4 \
                 where carrier_message_id = $1 returning {MESSAGE_COLUMNS}"
            ),
            &[&carrier_message_id, &status, &Json(errors), &now],
        )
        .await?
        .as_ref()
        .map(message_from_row)
        .transpose()
    }

    async fn find_sms_thread(
        &self,
        agent_number: &str,
        end_user_number: &str,
    ) -> StoreResult<Option<SmsMessageRecord>> {
        let client = self.client().await?;
        read_one(
            &client,
            &format!(
                "select {MESSAGE_COLUMNS} from sms_messages \
                 where agent_number = $1 and end_user_number = $2 \
                 order by created_at desc, id desc limit 1"
            ),
            &[&agent_number, &end_user_number],
        )
        .await?
        .as_ref()
        .map(message_from_row)
        .transpose()
    }

    async fn find_sms_reply(
        &self,
        org: &OrgId,
        in_reply_to: &str,
    ) -> StoreResult<Option<SmsMessageRecord>> {
        let client = self.client().await?;
        read_one(
            &client,
            &format!(
                "select {MESSAGE_COLUMNS} from sms_messages where org_id = $1 and in_reply_to = $2 \
                 order by created_at desc limit 1"
            ),
            &[&org.as_str(), &in_reply_to],
        )
        .await?
        .as_ref()
        .map(message_from_row)
        .transpose()
    }

    async fn assign_phone_number(
        &self,
        org: &OrgId,
        phone_number: &str,
        assistant: &AssistantId,
        now: DateTime<Utc>,
    ) -> StoreResult<AssignOutcome> {
        let client = self.client().await?;
        // One statement: insert, or update only when the number is this organization's.
        let row = read_one(
            &client,
            &format!(
                "insert into phone_numbers (phone_number, org_id, assistant_id, created_at, updated_at) \
                 values ($1, $2, $3, $4, $4) on conflict (phone_number) do update set \
                 assistant_id = excluded.assistant_id, updated_at = excluded.updated_at \
                 where phone_numbers.org_id = excluded.org_id returning {NUMBER_COLUMNS}"
            ),
            &[&phone_number, &org.as_str(), &assistant.as_str(), &now],
        )
        .await?;
        match row {
            Some(row) => Ok(AssignOutcome::Assigned(number_from_row(&row)?)),
            None => Ok(AssignOutcome::Taken),
        }
    }

    async fn get_phone_number(
        &self,
        org: &OrgId,
        phone_number: &str,
    ) -> StoreResult<Option<PhoneNumberRecord>> {
        let client = self.client().await?;
        read_one(
            &client,
            &format!(
                "select {NUMBER_COLUMNS} from phone_numbers where org_id = $1 and phone_number = $2"
            ),
            &[&org.as_str(), &phone_number],
        )
        .await?
        .as_ref()
        .map(number_from_row)
        .transpose()
    }

    async fn list_phone_numbers(
        &self,
        org: &OrgId,
        page: PageRequest,
    ) -> StoreResult<(Vec<PhoneNumberRecord>, u64)> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        let total = count_from_row(
            &query_one(
                &tx,
                "select count(*) from phone_numbers where org_id = $1",
                &[&org.as_str()],
            )
            .await?,
        )?;
        let rows = query(
            &tx,
            &format!(
                "select {NUMBER_COLUMNS} from phone_numbers where org_id = $1 \
                 order by phone_number limit $2 offset $3"
            ),
            &[&org.as_str(), &page.limit.map(to_i64), &to_i64(page.offset)],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        let numbers = rows
            .iter()
            .map(number_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((numbers, total))
    }

    async fn delete_phone_number(&self, org: &OrgId, phone_number: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("delete from phone_numbers where org_id = $1 and phone_number = $2")
            .await
            .map_err(db)?;
        let deleted = client
            .execute(&statement, &[&org.as_str(), &phone_number])
            .await
            .map_err(db)?;
        Ok(deleted > 0)
    }

    async fn find_phone_number(
        &self,
        phone_number: &str,
    ) -> StoreResult<Option<PhoneNumberRecord>> {
        let client = self.client().await?;
        read_one(
            &client,
            &format!("select {NUMBER_COLUMNS} from phone_numbers where phone_number = $1"),
            &[&phone_number],
        )
        .await?
        .as_ref()
        .map(number_from_row)
        .transpose()
    }

    async fn accept_webhook_event(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
        job: Option<&NewJob>,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let inserted = execute(
            &tx,
            "insert into webhook_events (id, received_at) values ($1, $2) \
             on conflict (id) do nothing",
            &[&event_id, &now],
        )
        .await?;
        if inserted == 0 {
            tx.rollback().await.map_err(db)?;
            return Ok(false);
        }
        if let Some(job) = job {
            insert_job(&tx, job).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn purge_webhook_events(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("delete from webhook_events where received_at < $1")
            .await
            .map_err(db)?;
        client.execute(&statement, &[&cutoff]).await.map_err(db)
    }
}
