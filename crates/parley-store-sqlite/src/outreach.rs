//! [`parley_store::ScheduledEventStore`] and [`parley_store::MessagingStore`] on SQLite.
//! An event and its job are written in one `IMMEDIATE` transaction; the single writer makes
//! an edit's read-decide-write atomic.

use crate::jobs::{delete_job, insert_job};
use crate::rows::{db_err, parse_ts, ts};
use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::ids::{AssistantId, OrgId};
use parley_core::scheduled_events::{
    CallAttempt, EventChannel, EventStatus, ScheduledEventSpec, JOB_KIND,
};
use parley_store::{
    AssignOutcome, EventEdit, EventEditor, MessagingStore, NewJob, PageRequest, PhoneNumberRecord,
    ScheduledEventFilter, ScheduledEventRecord, ScheduledEventStore, SmsDirection,
    SmsMessageRecord, StoreError, StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Columns read by [`read_event`].
const EVENT_COLUMNS: &str = "org_id, id, assistant_id, channel, agent_target, end_user_target, \
     scheduled_at, text, call_settings, conversation_metadata, dynamic_variables, \
     max_retries_client_errors, retry_interval_secs, status, retry_count, call_attempts, \
     call_status, call_duration, call_control_id, conversation_id, dispatched_at, errors, \
     created_at, updated_at";

/// Columns read by [`read_message`].
const MESSAGE_COLUMNS: &str = "id, org_id, direction, carrier_message_id, agent_number, \
     end_user_number, assistant_id, conversation_id, scheduled_event_id, in_reply_to, text, \
     status, errors, created_at, updated_at";

/// Columns read by [`read_number`].
const NUMBER_COLUMNS: &str = "phone_number, org_id, assistant_id, created_at, updated_at";

fn conversion<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

fn json_text<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn time(row: &Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_ts(&row.get::<_, String>(i)?).map_err(conversion)
}

fn opt_time(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    row.get::<_, Option<String>>(i)?
        .map(|t| parse_ts(&t).map_err(conversion))
        .transpose()
}

fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    serde_json::from_str(&row.get::<_, String>(i)?).map_err(conversion)
}

/// Decodes a row of [`EVENT_COLUMNS`].
fn read_event(row: &Row<'_>) -> rusqlite::Result<ScheduledEventRecord> {
    let channel: String = row.get(3)?;
    let status: String = row.get(13)?;
    let call_settings = row
        .get::<_, Option<String>>(8)?
        .map(|t| serde_json::from_str::<Map<String, Value>>(&t).map_err(conversion))
        .transpose()?;
    Ok(ScheduledEventRecord {
        org_id: OrgId::from_string(row.get::<_, String>(0)?),
        id: row.get(1)?,
        assistant_id: AssistantId::from_string(row.get::<_, String>(2)?),
        spec: ScheduledEventSpec {
            channel: EventChannel::parse(&channel)
                .ok_or_else(|| conversion(format!("unknown channel {channel:?}")))?,
            agent_target: row.get(4)?,
            end_user_target: row.get(5)?,
            scheduled_at: time(row, 6)?,
            text: row.get(7)?,
            call_settings,
            conversation_metadata: json_col(row, 9)?,
            dynamic_variables: json_col::<BTreeMap<String, String>>(row, 10)?,
            max_retries_client_errors: row.get(11)?,
            retry_interval_secs: row.get(12)?,
        },
        status: EventStatus::parse(&status)
            .ok_or_else(|| conversion(format!("unknown status {status:?}")))?,
        retry_count: row.get(14)?,
        call_attempts: json_col::<Vec<CallAttempt>>(row, 15)?,
        call_status: row.get(16)?,
        call_duration: row.get(17)?,
        call_control_id: row.get(18)?,
        conversation_id: row.get(19)?,
        dispatched_at: opt_time(row, 20)?,
        errors: json_col(row, 21)?,
        created_at: time(row, 22)?,
        updated_at: time(row, 23)?,
    })
}

/// Decodes a row of [`MESSAGE_COLUMNS`].
fn read_message(row: &Row<'_>) -> rusqlite::Result<SmsMessageRecord> {
    let direction: String = row.get(2)?;
    Ok(SmsMessageRecord {
        id: row.get(0)?,
        org_id: OrgId::from_string(row.get::<_, String>(1)?),
        direction: SmsDirection::parse(&direction)
            .ok_or_else(|| conversion(format!("unknown direction {direction:?}")))?,
        carrier_message_id: row.get(3)?,
        agent_number: row.get(4)?,
        end_user_number: row.get(5)?,
        assistant_id: AssistantId::from_string(row.get::<_, String>(6)?),
        conversation_id: row.get(7)?,
        scheduled_event_id: row.get(8)?,
        in_reply_to: row.get(9)?,
        text: row.get(10)?,
        status: row.get(11)?,
        errors: json_col(row, 12)?,
        created_at: time(row, 13)?,
        updated_at: time(row, 14)?,
    })
}

/// Decodes a row of [`NUMBER_COLUMNS`].
fn read_number(row: &Row<'_>) -> rusqlite::Result<PhoneNumberRecord> {
    Ok(PhoneNumberRecord {
        phone_number: row.get(0)?,
        org_id: OrgId::from_string(row.get::<_, String>(1)?),
        assistant_id: AssistantId::from_string(row.get::<_, String>(2)?),
        created_at: time(row, 3)?,
        updated_at: time(row, 4)?,
    })
}

fn get_event(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<ScheduledEventRecord>> {
    conn.prepare_cached(&format!(
        "select {EVENT_COLUMNS} from scheduled_events where org_id = ?1 and id = ?2"
    ))
    .map_err(db_err)?
    .query_row(params![org, id], read_event)
    .optional()
    .map_err(db_err)
}

fn get_message(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<SmsMessageRecord>> {
    conn.prepare_cached(&format!(
        "select {MESSAGE_COLUMNS} from sms_messages where org_id = ?1 and id = ?2"
    ))
    .map_err(db_err)?
    .query_row(params![org, id], read_message)
    .optional()
    .map_err(db_err)
}

/// Writes the mutable fields of `event`.
fn save_event(tx: &Connection, event: &ScheduledEventRecord) -> StoreResult<()> {
    tx.prepare_cached(
        "update scheduled_events set scheduled_at = ?3, status = ?4, retry_count = ?5, \
         call_attempts = ?6, call_status = ?7, call_duration = ?8, call_control_id = ?9, \
         conversation_id = ?10, dispatched_at = ?11, errors = ?12, updated_at = ?13 \
         where org_id = ?1 and id = ?2",
    )
    .map_err(db_err)?
    .execute(params![
        event.org_id.as_str(),
        event.id,
        ts(&event.spec.scheduled_at),
        event.status.as_str(),
        event.retry_count,
        json_text(&event.call_attempts)?,
        event.call_status,
        event.call_duration,
        event.call_control_id,
        event.conversation_id,
        event.dispatched_at.as_ref().map(ts),
        json_text(&event.errors)?,
        ts(&event.updated_at),
    ])
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl ScheduledEventStore for SqliteStore {
    async fn create_scheduled_event(
        &self,
        event: &ScheduledEventRecord,
        job: &NewJob,
    ) -> StoreResult<()> {
        let (event, job) = (event.clone(), job.clone());
        self.write(move |tx| {
            let spec = &event.spec;
            tx.prepare_cached(&format!(
                "insert into scheduled_events ({EVENT_COLUMNS}) values \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                  ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
            ))
            .map_err(db_err)?
            .execute(params![
                event.org_id.as_str(),
                event.id,
                event.assistant_id.as_str(),
                spec.channel.as_str(),
                spec.agent_target,
                spec.end_user_target,
                ts(&spec.scheduled_at),
                spec.text,
                spec.call_settings.as_ref().map(json_text).transpose()?,
                json_text(&spec.conversation_metadata)?,
                json_text(&spec.dynamic_variables)?,
                spec.max_retries_client_errors,
                spec.retry_interval_secs,
                event.status.as_str(),
                event.retry_count,
                json_text(&event.call_attempts)?,
                event.call_status,
                event.call_duration,
                event.call_control_id,
                event.conversation_id,
                event.dispatched_at.as_ref().map(ts),
                json_text(&event.errors)?,
                ts(&event.created_at),
                ts(&event.updated_at),
            ])
            .map_err(db_err)?;
            insert_job(tx, &job)?;
            Ok(())
        })
        .await
    }

    async fn get_scheduled_event(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        id: &str,
    ) -> StoreResult<Option<ScheduledEventRecord>> {
        let (org, assistant, id) = (org.clone(), assistant.clone(), id.to_owned());
        self.read(move |c| {
            Ok(get_event(c, org.as_str(), &id)?.filter(|e| e.assistant_id == assistant))
        })
        .await
    }

    async fn list_scheduled_events(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        filter: &ScheduledEventFilter,
        page: PageRequest,
    ) -> StoreResult<(Vec<ScheduledEventRecord>, u64)> {
        let (org, assistant, filter) = (org.clone(), assistant.clone(), filter.clone());
        self.read(move |c| {
            let conditions = "org_id = ?1 and assistant_id = ?2 and (?3 is null or channel = ?3) \
                 and (?4 is null or scheduled_at >= ?4) and (?5 is null or scheduled_at <= ?5)";
            let channel = filter.channel.map(EventChannel::as_str);
            let from = filter.from.as_ref().map(ts);
            let to = filter.to.as_ref().map(ts);
            let total: i64 = c
                .prepare_cached(&format!(
                    "select count(*) from scheduled_events where {conditions}"
                ))
                .map_err(db_err)?
                .query_row(
                    params![org.as_str(), assistant.as_str(), channel, from, to],
                    |r| r.get(0),
                )
                .map_err(db_err)?;
            let limit = page
                .limit
                .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
            let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
            let mut statement = c
                .prepare_cached(&format!(
                    "select {EVENT_COLUMNS} from scheduled_events where {conditions} \
                     order by scheduled_at, id limit ?6 offset ?7"
                ))
                .map_err(db_err)?;
            let events = statement
                .query_map(
                    params![
                        org.as_str(),
                        assistant.as_str(),
                        channel,
                        from,
                        to,
                        limit,
                        offset
                    ],
                    read_event,
                )
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok((events, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn delete_scheduled_event(
        &self,
        org: &OrgId,
        assistant: &AssistantId,
        id: &str,
    ) -> StoreResult<bool> {
        let (org, assistant, id) = (org.clone(), assistant.clone(), id.to_owned());
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached(
                    "delete from scheduled_events where org_id = ?1 and assistant_id = ?2 and id = ?3",
                )
                .map_err(db_err)?
                .execute(params![org.as_str(), assistant.as_str(), id])
                .map_err(db_err)?;
            if deleted > 0 {
                delete_job(tx, &org, JOB_KIND, &id)?;
            }
            Ok(deleted > 0)
        })
        .await
    }

    async fn edit_scheduled_event(
        &self,
        org: &OrgId,
        id: &str,
        editor: EventEditor,
    ) -> StoreResult<Option<ScheduledEventRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.write(move |tx| {
            let Some(current) = get_event(tx, org.as_str(), &id)? else {
                return Ok(None);
            };
            match editor(&current) {
                EventEdit::Unchanged => Ok(Some(current)),
                EventEdit::Save(event, job) => {
                    save_event(tx, &event)?;
                    if let Some(job) = job {
                        insert_job(tx, &job)?;
                    }
                    get_event(tx, org.as_str(), &id)
                }
            }
        })
        .await
    }

    async fn find_scheduled_event_by_call(
        &self,
        call_control_id: &str,
    ) -> StoreResult<Option<ScheduledEventRecord>> {
        let call = call_control_id.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "select {EVENT_COLUMNS} from scheduled_events where call_control_id = ?1 \
                 order by updated_at desc limit 1"
            ))
            .map_err(db_err)?
            .query_row(params![call], read_event)
            .optional()
            .map_err(db_err)
        })
        .await
    }
}

#[async_trait]
impl MessagingStore for SqliteStore {
    async fn insert_sms_message(&self, message: &SmsMessageRecord) -> StoreResult<()> {
        let m = message.clone();
        self.write(move |tx| {
            tx.prepare_cached(&format!(
                "insert into sms_messages ({MESSAGE_COLUMNS}) values \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
            ))
            .map_err(db_err)?
            .execute(params![
                m.id,
                m.org_id.as_str(),
                m.direction.as_str(),
                m.carrier_message_id,
                m.agent_number,
                m.end_user_number,
                m.assistant_id.as_str(),
                m.conversation_id,
                m.scheduled_event_id,
                m.in_reply_to,
                m.text,
                m.status,
                json_text(&m.errors)?,
                ts(&m.created_at),
                ts(&m.updated_at),
            ])
            .map_err(db_err)?;
            Ok(())
        })
        .await
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
        let (org, id) = (org.clone(), id.to_owned());
        let carrier = carrier_message_id.map(str::to_owned);
        let (status, error) = (status.to_owned(), error.map(str::to_owned));
        self.write(move |tx| {
            let Some(mut message) = get_message(tx, org.as_str(), &id)? else {
                return Ok(None);
            };
            message.errors.extend(error);
            tx.prepare_cached(
                "update sms_messages set carrier_message_id = coalesce(?3, carrier_message_id), \
                 status = ?4, errors = ?5, updated_at = ?6 where org_id = ?1 and id = ?2",
            )
            .map_err(db_err)?
            .execute(params![
                org.as_str(),
                id,
                carrier,
                status,
                json_text(&message.errors)?,
                ts(&now)
            ])
            .map_err(db_err)?;
            get_message(tx, org.as_str(), &id)
        })
        .await
    }

    async fn update_sms_status(
        &self,
        carrier_message_id: &str,
        status: &str,
        errors: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SmsMessageRecord>> {
        let (carrier, status, errors) = (
            carrier_message_id.to_owned(),
            status.to_owned(),
            errors.to_vec(),
        );
        self.write(move |tx| {
            let found = tx
                .prepare_cached(&format!(
                    "select {MESSAGE_COLUMNS} from sms_messages where carrier_message_id = ?1"
                ))
                .map_err(db_err)?
                .query_row(params![carrier], read_message)
                .optional()
                .map_err(db_err)?;
            let Some(mut message) = found else {
                return Ok(None);
            };
            message.errors.extend(errors);
            tx.prepare_cached(
                "update sms_messages set status = ?2, errors = ?3, updated_at = ?4 where id = ?1",
            )
            .map_err(db_err)?
            .execute(params![
                message.id,
                status,
                json_text(&message.errors)?,
                ts(&now)
            ])
            .map_err(db_err)?;
            get_message(tx, message.org_id.as_str(), &message.id)
        })
        .await
    }

    async fn find_sms_thread(
        &self,
        agent_number: &str,
        end_user_number: &str,
    ) -> StoreResult<Option<SmsMessageRecord>> {
        let (agent, end_user) = (agent_number.to_owned(), end_user_number.to_owned());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "select {MESSAGE_COLUMNS} from sms_messages \
                 where agent_number = ?1 and end_user_number = ?2 \
                 order by created_at desc, id desc limit 1"
            ))
            .map_err(db_err)?
            .query_row(params![agent, end_user], read_message)
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn find_sms_reply(
        &self,
        org: &OrgId,
        in_reply_to: &str,
    ) -> StoreResult<Option<SmsMessageRecord>> {
        let (org, in_reply_to) = (org.clone(), in_reply_to.to_owned());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "select {MESSAGE_COLUMNS} from sms_messages where org_id = ?1 and in_reply_to = ?2 \
                 order by created_at desc limit 1"
            ))
            .map_err(db_err)?
            .query_row(params![org.as_str(), in_reply_to], read_message)
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn assign_phone_number(
        &self,
        org: &OrgId,
        phone_number: &str,
        assistant: &AssistantId,
        now: DateTime<Utc>,
    ) -> StoreResult<AssignOutcome> {
        let (org, number, assistant) = (org.clone(), phone_number.to_owned(), assistant.clone());
        self.write(move |tx| {
            let existing = tx
                .prepare_cached(&format!(
                    "select {NUMBER_COLUMNS} from phone_numbers where phone_number = ?1"
                ))
                .map_err(db_err)?
                .query_row(params![number], read_number)
                .optional()
                .map_err(db_err)?;
            let created_at = match existing {
                Some(found) if found.org_id != org => return Ok(AssignOutcome::Taken),
                Some(found) => found.created_at,
                None => now,
            };
            tx.prepare_cached(
                "insert into phone_numbers (phone_number, org_id, assistant_id, created_at, updated_at) \
                 values (?1, ?2, ?3, ?4, ?5) on conflict (phone_number) do update set \
                 assistant_id = excluded.assistant_id, updated_at = excluded.updated_at",
            )
            .map_err(db_err)?
            .execute(params![
                number,
                org.as_str(),
                assistant.as_str(),
                ts(&created_at),
                ts(&now)
            ])
            .map_err(db_err)?;
            Ok(AssignOutcome::Assigned(PhoneNumberRecord {
                phone_number: number,
                org_id: org,
                assistant_id: assistant,
                created_at,
                updated_at: now,
            }))
        })
        .await
    }

    async fn get_phone_number(
        &self,
        org: &OrgId,
        phone_number: &str,
    ) -> StoreResult<Option<PhoneNumberRecord>> {
        let (org, number) = (org.clone(), phone_number.to_owned());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "select {NUMBER_COLUMNS} from phone_numbers where org_id = ?1 and phone_number = ?2"
            ))
            .map_err(db_err)?
            .query_row(params![org.as_str(), number], read_number)
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn list_phone_numbers(
        &self,
        org: &OrgId,
        page: PageRequest,
    ) -> StoreResult<(Vec<PhoneNumberRecord>, u64)> {
        let org = org.clone();
        self.read(move |c| {
            let total: i64 = c
                .prepare_cached("select count(*) from phone_numbers where org_id = ?1")
                .map_err(db_err)?
                .query_row(params![org.as_str()], |r| r.get(0))
                .map_err(db_err)?;
            let limit = page
                .limit
                .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
            let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
            let rows = c
                .prepare_cached(&format!(
                    "select {NUMBER_COLUMNS} from phone_numbers where org_id = ?1 \
                     order by phone_number limit ?2 offset ?3"
                ))
                .map_err(db_err)?
                .query_map(params![org.as_str(), limit, offset], read_number)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok((rows, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn delete_phone_number(&self, org: &OrgId, phone_number: &str) -> StoreResult<bool> {
        let (org, number) = (org.clone(), phone_number.to_owned());
        self.write(move |tx| {
            let deleted = tx
                .prepare_cached("delete from phone_numbers where org_id = ?1 and phone_number = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), number])
                .map_err(db_err)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn find_phone_number(
        &self,
        phone_number: &str,
    ) -> StoreResult<Option<PhoneNumberRecord>> {
        let number = phone_number.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "select {NUMBER_COLUMNS} from phone_numbers where phone_number = ?1"
            ))
            .map_err(db_err)?
            .query_row(params![number], read_number)
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn accept_webhook_event(
        &self,
        event_id: &str,
        now: DateTime<Utc>,
        job: Option<&NewJob>,
    ) -> StoreResult<bool> {
        let (id, job) = (event_id.to_owned(), job.cloned());
        self.write(move |tx| {
            let inserted = tx
                .prepare_cached(
                    "insert into webhook_events (id, received_at) values (?1, ?2) \
                     on conflict (id) do nothing",
                )
                .map_err(db_err)?
                .execute(params![id, ts(&now)])
                .map_err(db_err)?;
            if inserted == 0 {
                return Ok(false);
            }
            if let Some(job) = job {
                insert_job(tx, &job)?;
            }
            Ok(true)
        })
        .await
    }

    async fn purge_webhook_events(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| {
            let purged = tx
                .prepare_cached("delete from webhook_events where received_at < ?1")
                .map_err(db_err)?
                .execute(params![ts(&cutoff)])
                .map_err(db_err)?;
            Ok(purged as u64)
        })
        .await
    }
}
