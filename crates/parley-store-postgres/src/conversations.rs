//! [`parley_store::ConversationStore`] on PostgreSQL.
//!
//! An append locks the conversation's row (`for no key update`) before reading the highest
//! `seq`, so concurrent appends to one conversation queue up and number their messages one
//! after the other; a first turn inserts the row with `on conflict do nothing` first, so two
//! first turns racing for one new id both succeed (one creates, the other appends).
//!
//! The conversation list compiles its [`ConversationQuery`] into one `select` whose values —
//! metadata keys included — are all bound parameters. Text compares and sorts with the `C`
//! collation (by code point), as the SQLite backend does, whatever the database's collation.

use crate::{begin, corrupt, db, execute, query, query_one, query_opt, read_snapshot, to_i64};
use crate::{count_from_row, PostgresStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use parley_core::clock::{format_timestamp, parse_timestamp};
use parley_core::conversation::{
    Condition, ConversationQuery, Direction, Field, FilterValue, MessageRole, Op, StoredToolCall,
};
use parley_core::ids::OrgId;
use parley_store::{
    ConversationRecord, ConversationStore, CreateConversationOutcome, MessageRecord,
    NewConversation, NewMessage, PageRequest, StoreError, StoreResult,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::Row;

/// Columns read by [`conversation_from_row`], from `conversations c`.
const COLUMNS: &str = "c.id, c.name, c.metadata, c.variables, c.created_at, c.last_message_at";

/// Columns read by [`message_from_row`].
const MESSAGE_COLUMNS: &str =
    "seq, role, text, name, tool_calls, tool_call_id, metadata, sent_at, created_at";

/// Reads a row of [`COLUMNS`].
fn conversation_from_row(row: &Row) -> StoreResult<ConversationRecord> {
    let Json(metadata): Json<BTreeMap<String, String>> = row.try_get(2).map_err(corrupt)?;
    let Json(variables): Json<BTreeMap<String, String>> = row.try_get(3).map_err(corrupt)?;
    Ok(ConversationRecord {
        id: row.try_get(0).map_err(corrupt)?,
        name: row.try_get(1).map_err(corrupt)?,
        metadata,
        variables,
        created_at: row.try_get(4).map_err(corrupt)?,
        last_message_at: row.try_get(5).map_err(corrupt)?,
    })
}

/// Reads a row of [`MESSAGE_COLUMNS`].
fn message_from_row(row: &Row) -> StoreResult<MessageRecord> {
    message_at(row, 0)
}

/// Reads [`MESSAGE_COLUMNS`] from column `at` of `row` on.
fn message_at(row: &Row, at: usize) -> StoreResult<MessageRecord> {
    let role: String = row.try_get(at + 1).map_err(corrupt)?;
    let role = MessageRole::parse(&role)
        .ok_or_else(|| StoreError::Corrupt(format!("message role {role:?}")))?;
    let Json(tool_calls): Json<Vec<StoredToolCall>> = row.try_get(at + 4).map_err(corrupt)?;
    let Json(metadata): Json<Map<String, Value>> = row.try_get(at + 6).map_err(corrupt)?;
    Ok(MessageRecord {
        seq: row.try_get(at).map_err(corrupt)?,
        role,
        text: row.try_get(at + 2).map_err(corrupt)?,
        name: row.try_get(at + 3).map_err(corrupt)?,
        tool_calls,
        tool_call_id: row.try_get(at + 5).map_err(corrupt)?,
        metadata,
        sent_at: row.try_get(at + 7).map_err(corrupt)?,
        created_at: row.try_get(at + 8).map_err(corrupt)?,
    })
}

/// Conversation `id` of `org`.
async fn load(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &str,
) -> StoreResult<Option<ConversationRecord>> {
    let sql = format!("select {COLUMNS} from conversations c where c.org_id = $1 and c.id = $2");
    query_opt(tx, &sql, &[&org.as_str(), &id])
        .await?
        .as_ref()
        .map(conversation_from_row)
        .transpose()
}

/// Inserts conversation `id` unless the organization has one (a concurrent insert of the
/// same id is waited for); the inserted row, or `None` when it existed.
async fn insert_if_absent(
    tx: &Transaction<'_>,
    org: &OrgId,
    id: &str,
    new: &NewConversation,
    now: &DateTime<Utc>,
) -> StoreResult<Option<ConversationRecord>> {
    let sql = format!(
        "insert into conversations as c (org_id, id, name, metadata, variables, created_at, last_message_at) \
         values ($1, $2, $3, $4, $5, $6, $6) on conflict (org_id, id) do nothing returning {COLUMNS}"
    );
    query_opt(
        tx,
        &sql,
        &[
            &org.as_str(),
            &id,
            &new.name,
            &Json(&new.metadata),
            &Json(&new.variables),
            now,
        ],
    )
    .await?
    .as_ref()
    .map(conversation_from_row)
    .transpose()
}

async fn messages(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<MessageRecord>> {
    query(tx, sql, params)
        .await?
        .iter()
        .map(message_from_row)
        .collect()
}

/// A bound parameter of a compiled list query.
type Param = Box<dyn ToSql + Sync + Send>;

/// A `select` under construction: its text and its parameters (`$1`…).
struct Select {
    sql: String,
    params: Vec<Param>,
}

impl Select {
    /// Binds `value`; returns its placeholder with an explicit type (`$n::text`), so that no
    /// operator is ambiguous (`jsonb ->> unknown` would be).
    fn bind(&mut self, value: Param, sql_type: &str) -> String {
        self.params.push(value);
        format!("${}::{sql_type}", self.params.len())
    }

    /// The SQL expression of a field: text ones in the `C` collation; a metadata value is
    /// `metadata ->> key` with the key bound (NULL when absent).
    fn field(&mut self, field: &Field) -> String {
        match field {
            Field::Id => "(c.id collate \"C\")".into(),
            Field::Name => "(c.name collate \"C\")".into(),
            Field::CreatedAt => "c.created_at".into(),
            Field::LastMessageAt => "c.last_message_at".into(),
            Field::Metadata(key) => {
                let key = self.bind(Box::new(key.clone()), "text");
                format!("((c.metadata ->> {key}) collate \"C\")")
            }
        }
    }

    /// The placeholder of a value compared with `field`: a `timestamptz` for the timestamp
    /// fields (a text that is not a time is NULL there, and so matches nothing), text
    /// otherwise.
    fn value(&mut self, field: &Field, value: &FilterValue) -> String {
        if field.is_timestamp() {
            let time = match value {
                FilterValue::Time(t) => *t,
                FilterValue::Text(text) => match parse_timestamp(text) {
                    Some(t) => t,
                    None => return "null::timestamptz".into(),
                },
            };
            self.bind(Box::new(time), "timestamptz")
        } else {
            let text = match value {
                FilterValue::Text(text) => text.clone(),
                FilterValue::Time(t) => format_timestamp(t),
            };
            self.bind(Box::new(text), "text")
        }
    }

    /// One condition. Comparisons follow SQL's three-valued logic, as PostgREST's do: a field
    /// that is NULL (no name, an absent metadata key) matches no comparison — not `eq`, not
    /// `neq`, and not a negated one either, since `not (NULL)` is NULL; only `is.null` (and
    /// `not.is.null`) test absence.
    fn condition(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::Compare { field, op, negated } => {
                let test = self.compare(field, op);
                if *negated {
                    format!("(not {test})")
                } else {
                    test
                }
            }
            Condition::Or(items) => self.group(items, " or ", "false"),
            Condition::And(items) => self.group(items, " and ", "true"),
        }
    }

    fn group(&mut self, items: &[Condition], joiner: &str, empty: &str) -> String {
        if items.is_empty() {
            return empty.into();
        }
        let parts: Vec<String> = items.iter().map(|c| self.condition(c)).collect();
        format!("({})", parts.join(joiner))
    }

    fn compare(&mut self, field: &Field, op: &Op) -> String {
        let f = self.field(field);
        let binary = |this: &mut Self, operator: &str, value: &FilterValue| {
            let v = this.value(field, value);
            format!("({f} {operator} {v})")
        };
        match op {
            Op::Eq(v) => binary(self, "=", v),
            Op::Neq(v) => binary(self, "<>", v),
            Op::Gt(v) => binary(self, ">", v),
            Op::Gte(v) => binary(self, ">=", v),
            Op::Lt(v) => binary(self, "<", v),
            Op::Lte(v) => binary(self, "<=", v),
            Op::Like(pattern) => {
                let p = self.bind(Box::new(like_pattern(pattern)), "text");
                format!("({f} like {p})")
            }
            Op::Ilike(pattern) => {
                let p = self.bind(Box::new(like_pattern(pattern)), "text");
                format!("({f} ilike {p})")
            }
            Op::In(values) if values.is_empty() => "false".into(),
            Op::In(values) => {
                let list: Vec<String> = values.iter().map(|v| self.value(field, v)).collect();
                format!("({f} in ({}))", list.join(", "))
            }
            Op::IsNull => format!("({f} is null)"),
        }
    }
}

/// A PostgREST `like` pattern (`*` or `%`: any run of characters; `_`: one character; anything
/// else literal) in SQL `LIKE` syntax, whose escape character is `\`.
fn like_pattern(pattern: &str) -> String {
    let mut like = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' | '%' => like.push('%'),
            '\\' => like.push_str("\\\\"),
            other => like.push(other),
        }
    }
    like
}

/// The `select` of the organization's conversations matching `query`.
fn list_select(org: &OrgId, query: &ConversationQuery) -> Select {
    let mut select = Select {
        sql: String::new(),
        params: vec![Box::new(org.as_str().to_owned())],
    };
    let mut sql = format!("select {COLUMNS} from conversations c where c.org_id = $1::text");
    for condition in &query.conditions {
        let test = select.condition(condition);
        sql.push_str(" and ");
        sql.push_str(&test);
    }
    // PostgreSQL's default NULL placement, spelled out: last ascending, first descending.
    let mut keys: Vec<String> = query
        .order
        .iter()
        .map(|(field, direction)| {
            let f = select.field(field);
            match direction {
                Direction::Asc => format!("{f} asc nulls last"),
                Direction::Desc => format!("{f} desc nulls first"),
            }
        })
        .collect();
    keys.push("c.id collate \"C\" asc".into());
    let limit = select.bind(Box::new(i64::from(query.limit)), "bigint");
    sql.push_str(&format!(" order by {} limit {limit}", keys.join(", ")));
    select.sql = sql;
    select
}

#[async_trait]
impl ConversationStore for PostgresStore {
    async fn create_conversation(
        &self,
        org: &OrgId,
        id: &str,
        new: &NewConversation,
        now: DateTime<Utc>,
    ) -> StoreResult<CreateConversationOutcome> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // Each statement sees what committed before it started: when the insert found a
        // conflict the select finds the row, unless it was deleted in between — then retry.
        for _ in 0..3 {
            if let Some(record) = insert_if_absent(&tx, org, id, new, &now).await? {
                tx.commit().await.map_err(db)?;
                return Ok(CreateConversationOutcome::Created(record));
            }
            if let Some(record) = load(&tx, org, id).await? {
                tx.commit().await.map_err(db)?;
                return Ok(CreateConversationOutcome::Exists(record));
            }
        }
        Err(StoreError::Database(
            "the conversation was created and deleted concurrently, repeatedly".into(),
        ))
    }

    async fn get_conversation(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        load(&tx, org, id).await
    }

    async fn list_conversations(
        &self,
        org: &OrgId,
        query: &ConversationQuery,
    ) -> StoreResult<Vec<ConversationRecord>> {
        let select = list_select(org, query);
        let params: Vec<&(dyn ToSql + Sync)> = select
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        // Not a cached statement: the text varies with the query.
        let rows = tx.query(select.sql.as_str(), &params).await.map_err(db)?;
        rows.iter().map(conversation_from_row).collect()
    }

    async fn update_conversation_metadata(
        &self,
        org: &OrgId,
        id: &str,
        metadata: &BTreeMap<String, Option<String>>,
    ) -> StoreResult<Option<ConversationRecord>> {
        let removed: Vec<&str> = metadata
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        let set: BTreeMap<&str, &str> = metadata
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?)))
            .collect();
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // One statement: the row is read and written under its lock, nothing is lost.
        let sql = format!(
            "update conversations c set metadata = (c.metadata - $3::text[]) || $4::jsonb \
             where c.org_id = $1 and c.id = $2 returning {COLUMNS}"
        );
        let row = query_opt(&tx, &sql, &[&org.as_str(), &id, &removed, &Json(&set)]).await?;
        let record = row.as_ref().map(conversation_from_row).transpose()?;
        tx.commit().await.map_err(db)?;
        Ok(record)
    }

    async fn update_conversation_variables(
        &self,
        org: &OrgId,
        id: &str,
        variables: &BTreeMap<String, String>,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        let n = execute(
            &tx,
            "update conversations set variables = variables || $3::jsonb \
             where org_id = $1 and id = $2",
            &[&org.as_str(), &id, &Json(variables)],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(n > 0)
    }

    async fn delete_conversation(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = begin(&mut client).await?;
        // The messages go by `on delete cascade`.
        let n = execute(
            &tx,
            "delete from conversations where org_id = $1 and id = $2",
            &[&org.as_str(), &id],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(n > 0)
    }

    async fn append_messages(
        &self,
        org: &OrgId,
        id: &str,
        start: Option<&NewConversation>,
        messages: &[NewMessage],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ConversationRecord>> {
        // One statement per append, outside any transaction: the conversation row's update
        // (or insert) and the messages commit together. Numbering comes from the row's
        // `last_seq`, which the update advances: an update waits for a concurrent append's row
        // lock and then sees its committed `last_seq`, so appends to one conversation queue
        // here on every node and never reuse a `seq`.
        let client = self.client().await?;
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
        let names: Vec<Option<&str>> = messages.iter().map(|m| m.name.as_deref()).collect();
        let tool_calls: Vec<Json<&Vec<StoredToolCall>>> =
            messages.iter().map(|m| Json(&m.tool_calls)).collect();
        let tool_call_ids: Vec<Option<&str>> =
            messages.iter().map(|m| m.tool_call_id.as_deref()).collect();
        let metadata: Vec<Json<&Map<String, Value>>> =
            messages.iter().map(|m| Json(&m.metadata)).collect();
        let sent_at: Vec<Option<DateTime<Utc>>> = messages.iter().map(|m| m.sent_at).collect();
        let count = i64::try_from(messages.len()).unwrap_or(i64::MAX);
        // `conv` yields the conversation row with `last_seq` already advanced by `count`.
        let insert_messages = "inserted as (\
                 insert into conversation_messages (org_id, conversation_id, seq, role, text, \
                 name, tool_calls, tool_call_id, metadata, sent_at, created_at) \
                 select $1, $2, conv.last_seq - $11 + m.ord, m.role, m.text, m.name, \
                 m.tool_calls, m.tool_call_id, m.metadata, m.sent_at, $3 \
                 from conv cross join unnest($4::text[], $5::text[], $6::text[], $7::jsonb[], \
                 $8::text[], $9::jsonb[], $10::timestamptz[]) \
                 with ordinality as m(role, text, name, tool_calls, tool_call_id, metadata, \
                 sent_at, ord))";
        let messages_params: [&(dyn ToSql + Sync); 11] = [
            &org.as_str(),
            &id,
            &now,
            &roles,
            &texts,
            &names,
            &tool_calls,
            &tool_call_ids,
            &metadata,
            &sent_at,
            &count,
        ];
        if let Some(start) = start {
            // A new conversation: insert it with its messages. When it exists (or a concurrent
            // first turn inserts it first, whose outcome the insert waits for), nothing is
            // written and the append below continues it.
            let sql = format!(
                "with conv as (\
                     insert into conversations as c (org_id, id, name, metadata, variables, \
                     created_at, last_message_at, last_seq) \
                     values ($1, $2, $12, $13, $14, $3, $3, $11) \
                     on conflict (org_id, id) do nothing returning {COLUMNS}, c.last_seq), \
                 {insert_messages} \
                 select * from conv"
            );
            let statement = client.prepare_cached(&sql).await.map_err(db)?;
            let new_metadata = Json(&start.metadata);
            let new_variables = Json(&start.variables);
            let mut params = messages_params.to_vec();
            params.push(&start.name);
            params.push(&new_metadata);
            params.push(&new_variables);
            if let Some(row) = client.query_opt(&statement, &params).await.map_err(db)? {
                return conversation_from_row(&row).map(Some);
            }
        }
        let sql = format!(
            "with conv as (\
                 update conversations c set last_message_at = $3, last_seq = c.last_seq + $11 \
                 where c.org_id = $1 and c.id = $2 returning {COLUMNS}, c.last_seq), \
             {insert_messages} \
             select * from conv"
        );
        let statement = client.prepare_cached(&sql).await.map_err(db)?;
        client
            .query_opt(&statement, &messages_params)
            .await
            .map_err(db)?
            .as_ref()
            .map(conversation_from_row)
            .transpose()
    }

    async fn list_messages(
        &self,
        org: &OrgId,
        id: &str,
        page: PageRequest,
    ) -> StoreResult<Option<(Vec<MessageRecord>, u64)>> {
        let mut client = self.client().await?;
        let tx = read_snapshot(&mut client).await?;
        if load(&tx, org, id).await?.is_none() {
            return Ok(None);
        }
        let total = query_one(
            &tx,
            "select count(*) from conversation_messages where org_id = $1 and conversation_id = $2",
            &[&org.as_str(), &id],
        )
        .await?;
        let offset = to_i64(page.offset);
        let limit = page.limit.map(to_i64);
        let rows = messages(
            &tx,
            &format!(
                "select {MESSAGE_COLUMNS} from conversation_messages \
                 where org_id = $1 and conversation_id = $2 order by seq offset $3 limit $4"
            ),
            &[&org.as_str(), &id, &offset, &limit],
        )
        .await?;
        Ok(Some((rows, count_from_row(&total)?)))
    }

    async fn conversation_history(
        &self,
        org: &OrgId,
        id: &str,
        max_messages: u32,
    ) -> StoreResult<Option<(ConversationRecord, Vec<MessageRecord>)>> {
        // One statement, the hot path of every chat turn: the conversation row joined to its
        // newest messages (no row: no conversation; a row of nulls: no messages yet).
        let client = self.client().await?;
        let sql = format!(
            "select {COLUMNS}, m.* from conversations c \
             left join lateral (\
                 select {MESSAGE_COLUMNS} from conversation_messages \
                 where org_id = c.org_id and conversation_id = c.id \
                 order by seq desc limit $3) m on true \
             where c.org_id = $1 and c.id = $2 \
             order by m.seq"
        );
        let statement = client.prepare_cached(&sql).await.map_err(db)?;
        let rows = client
            .query(&statement, &[&org.as_str(), &id, &i64::from(max_messages)])
            .await
            .map_err(db)?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let record = conversation_from_row(first)?;
        // The message columns follow the conversation's six.
        let mut history = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<_, Option<i64>>(6).map_err(corrupt)?.is_some() {
                history.push(message_at(row, 6)?);
            }
        }
        Ok(Some((record, history)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_map_wildcards_and_escape_backslashes() {
        assert_eq!(like_pattern("*bot%"), "%bot%");
        assert_eq!(like_pattern("a_c"), "a_c");
        assert_eq!(like_pattern("a\\b"), "a\\\\b");
    }

    #[test]
    fn values_and_keys_are_bound_never_spliced() {
        let query = ConversationQuery {
            conditions: vec![Condition::Compare {
                field: Field::Metadata("k'; drop table conversations; --".into()),
                op: Op::Eq(FilterValue::Text("v' or '1'='1".into())),
                negated: true,
            }],
            ..ConversationQuery::default()
        };
        let select = list_select(&OrgId::from_string("org-1"), &query);
        assert!(!select.sql.contains("drop"), "{}", select.sql);
        assert!(!select.sql.contains("'1'"), "{}", select.sql);
        assert_eq!(select.params.len(), 4, "org, key, value, limit");
    }
}
