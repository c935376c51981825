//! [`parley_store::ConversationStore`] on SQLite.
//!
//! Writes run on the single writer connection in `IMMEDIATE` transactions, so appends to one
//! conversation are serialized: each reads the previous highest `seq` and writes after it.
//! The conversation list compiles its [`ConversationQuery`] into one `select` whose values —
//! metadata keys included — are all bound parameters.

use crate::rows::{db_err, parse_ts, ts};
use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parley_core::clock::parse_timestamp;
use parley_core::conversation::{
    Condition, ConversationQuery, Direction, Field, FilterValue, MessageRole, Op,
};
use parley_core::ids::OrgId;
use parley_store::{
    ConversationRecord, ConversationStore, CreateConversationOutcome, MessageRecord,
    NewConversation, NewMessage, PageRequest, StoreError, StoreResult,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Columns read by [`read_conversation`], from `conversations c`.
const COLUMNS: &str = "c.id, c.name, c.metadata, c.variables, c.created_at, c.last_message_at";

/// Columns read by [`read_message`].
const MESSAGE_COLUMNS: &str =
    "seq, role, text, name, tool_calls, tool_call_id, metadata, sent_at, created_at";

fn conversion<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(e.to_string().into())
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn ts_col(row: &Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_ts(&row.get::<_, String>(i)?).map_err(conversion)
}

/// Decodes a row of [`COLUMNS`].
fn read_conversation(row: &Row<'_>) -> rusqlite::Result<ConversationRecord> {
    let metadata: BTreeMap<String, String> =
        serde_json::from_str(&row.get::<_, String>(2)?).map_err(conversion)?;
    let variables: BTreeMap<String, String> =
        serde_json::from_str(&row.get::<_, String>(3)?).map_err(conversion)?;
    Ok(ConversationRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        metadata,
        variables,
        created_at: ts_col(row, 4)?,
        last_message_at: ts_col(row, 5)?,
    })
}

/// Decodes a row of [`MESSAGE_COLUMNS`].
fn read_message(row: &Row<'_>) -> rusqlite::Result<MessageRecord> {
    let role: String = row.get(1)?;
    let role = MessageRole::parse(&role).ok_or_else(|| conversion(format!("role {role:?}")))?;
    let sent_at = row
        .get::<_, Option<String>>(7)?
        .map(|t| parse_ts(&t).map_err(conversion))
        .transpose()?;
    Ok(MessageRecord {
        seq: row.get(0)?,
        role,
        text: row.get(2)?,
        name: row.get(3)?,
        tool_calls: serde_json::from_str(&row.get::<_, String>(4)?).map_err(conversion)?,
        tool_call_id: row.get(5)?,
        metadata: serde_json::from_str(&row.get::<_, String>(6)?).map_err(conversion)?,
        sent_at,
        created_at: ts_col(row, 8)?,
    })
}

fn get(conn: &Connection, org: &str, id: &str) -> StoreResult<Option<ConversationRecord>> {
    conn.prepare_cached(&format!(
        "select {COLUMNS} from conversations c where c.org_id = ?1 and c.id = ?2"
    ))
    .map_err(db_err)?
    .query_row(params![org, id], read_conversation)
    .optional()
    .map_err(db_err)
}

/// Inserts conversation `id` unless the organization has one; whether it did.
fn insert_if_absent(
    tx: &Connection,
    org: &str,
    id: &str,
    new: &NewConversation,
    now: &DateTime<Utc>,
) -> StoreResult<bool> {
    let metadata = serde_json::to_string(&new.metadata).map_err(json_err)?;
    let variables = serde_json::to_string(&new.variables).map_err(json_err)?;
    let n = tx
        .prepare_cached(
            "insert into conversations (org_id, id, name, metadata, variables, created_at, last_message_at) \
             values (?1, ?2, ?3, ?4, ?5, ?6, ?6) on conflict (org_id, id) do nothing",
        )
        .map_err(db_err)?
        .execute(params![org, id, new.name, metadata, variables, ts(now)])
        .map_err(db_err)?;
    Ok(n > 0)
}

fn exists(conn: &Connection, org: &str, id: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("select 1 from conversations where org_id = ?1 and id = ?2")
        .map_err(db_err)?
        .query_row(params![org, id], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(db_err)?
        .is_some())
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A `select` under construction: its text and the values of its numbered parameters.
struct Select {
    sql: String,
    params: Vec<SqlValue>,
}

impl Select {
    /// Binds `value`; returns its placeholder.
    fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    fn bind_text(&mut self, text: &str) -> String {
        self.bind(SqlValue::Text(text.to_owned()))
    }

    /// The SQL expression of a field. A metadata value is looked up by exact key through
    /// `json_each` (a JSON path could not name every key: keys may hold dots and quotes);
    /// it is NULL when the key is absent.
    fn field(&mut self, field: &Field) -> String {
        match field {
            Field::Id => "c.id".into(),
            Field::Name => "c.name".into(),
            Field::CreatedAt => "c.created_at".into(),
            Field::LastMessageAt => "c.last_message_at".into(),
            Field::Metadata(key) => format!(
                "(select j.value from json_each(c.metadata) j where j.key = {})",
                self.bind_text(key)
            ),
        }
    }

    /// The placeholder of a value compared with `field`. Timestamps are stored as fixed-width
    /// RFC 3339 text in UTC (`rows::ts`), so the bound time is formatted the same way and text
    /// order is time order. A text that is not a time, compared with a timestamp, is NULL:
    /// the comparison matches nothing.
    fn value(&mut self, field: &Field, value: &FilterValue) -> String {
        let text = match (field.is_timestamp(), value) {
            (_, FilterValue::Time(t)) => ts(t),
            (true, FilterValue::Text(text)) => match parse_timestamp(text) {
                Some(t) => ts(&t),
                None => return "null".into(),
            },
            (false, FilterValue::Text(text)) => text.clone(),
        };
        self.bind(SqlValue::Text(text))
    }

    /// One condition. Comparisons follow SQL's three-valued logic as PostgREST's do: a field
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
            Condition::Or(items) => self.group(items, " or ", "(1 = 0)"),
            Condition::And(items) => self.group(items, " and ", "(1 = 1)"),
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
            // GLOB is case-sensitive (LIKE is not, for ASCII); `ilike` lowers both sides
            // (SQLite's lower() folds ASCII letters only).
            Op::Like(pattern) => {
                let p = self.bind_text(&glob_pattern(pattern));
                format!("({f} glob {p})")
            }
            Op::Ilike(pattern) => {
                let p = self.bind_text(&glob_pattern(pattern));
                format!("(lower({f}) glob lower({p}))")
            }
            Op::In(values) if values.is_empty() => "(1 = 0)".into(),
            Op::In(values) => {
                let list: Vec<String> = values.iter().map(|v| self.value(field, v)).collect();
                format!("({f} in ({}))", list.join(", "))
            }
            Op::IsNull => format!("({f} is null)"),
        }
    }
}

/// A PostgREST `like` pattern (`*` or `%`: any run of characters; `_`: one character; anything
/// else literal) as a GLOB pattern: `*` and `?` wildcards, and the characters GLOB would read
/// as wildcards or classes (`?`, `[`, `]`) enclosed in a one-character class.
fn glob_pattern(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len() + 8);
    for c in pattern.chars() {
        match c {
            '*' | '%' => glob.push('*'),
            '_' => glob.push('?'),
            '?' => glob.push_str("[?]"),
            '[' => glob.push_str("[[]"),
            ']' => glob.push_str("[]]"),
            other => glob.push(other),
        }
    }
    glob
}

/// The `select` of the organization's conversations matching `query`.
fn list_select(org: &str, query: &ConversationQuery) -> Select {
    let mut select = Select {
        sql: String::new(),
        params: vec![SqlValue::Text(org.to_owned())],
    };
    let mut sql = format!("select {COLUMNS} from conversations c where c.org_id = ?1");
    for condition in &query.conditions {
        let test = select.condition(condition);
        sql.push_str(" and ");
        sql.push_str(&test);
    }
    // NULLs (no name, an absent metadata key) sort as PostgreSQL sorts them: last ascending,
    // first descending. Text sorts by code point (SQLite's BINARY collation).
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
    keys.push("c.id asc".into());
    let limit = select.bind(SqlValue::Integer(i64::from(query.limit)));
    sql.push_str(&format!(" order by {} limit {limit}", keys.join(", ")));
    select.sql = sql;
    select
}

fn messages(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<MessageRecord>> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let rows = stmt
        .query_map(params, read_message)
        .map_err(db_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err)?;
    Ok(rows)
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn create_conversation(
        &self,
        org: &OrgId,
        id: &str,
        new: &NewConversation,
        now: DateTime<Utc>,
    ) -> StoreResult<CreateConversationOutcome> {
        let (org, id, new) = (org.clone(), id.to_owned(), new.clone());
        self.write(move |tx| {
            let created = insert_if_absent(tx, org.as_str(), &id, &new, &now)?;
            let record = get(tx, org.as_str(), &id)?
                .ok_or_else(|| StoreError::Database("the conversation vanished".into()))?;
            Ok(if created {
                CreateConversationOutcome::Created(record)
            } else {
                CreateConversationOutcome::Exists(record)
            })
        })
        .await
    }

    async fn get_conversation(
        &self,
        org: &OrgId,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.read(move |c| get(c, org.as_str(), &id)).await
    }

    async fn list_conversations(
        &self,
        org: &OrgId,
        query: &ConversationQuery,
    ) -> StoreResult<Vec<ConversationRecord>> {
        let select = list_select(org.as_str(), query);
        self.read(move |c| {
            // Not cached: the text varies with the query.
            let mut stmt = c.prepare(&select.sql).map_err(db_err)?;
            let rows = stmt
                .query_map(params_from_iter(select.params.iter()), read_conversation)
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(rows)
        })
        .await
    }

    async fn update_conversation_metadata(
        &self,
        org: &OrgId,
        id: &str,
        metadata: &BTreeMap<String, Option<String>>,
    ) -> StoreResult<Option<ConversationRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        // A JSON merge patch (RFC 7396): a null member removes the key.
        let patch: Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
            .collect();
        let patch = Value::Object(patch).to_string();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "update conversations set metadata = json_patch(metadata, ?3) \
                     where org_id = ?1 and id = ?2",
                )
                .map_err(db_err)?
                .execute(params![org.as_str(), id, patch])
                .map_err(db_err)?;
            if n == 0 {
                return Ok(None);
            }
            get(tx, org.as_str(), &id)
        })
        .await
    }

    async fn update_conversation_variables(
        &self,
        org: &OrgId,
        id: &str,
        variables: &BTreeMap<String, String>,
    ) -> StoreResult<bool> {
        let (org, id) = (org.clone(), id.to_owned());
        let patch = serde_json::to_string(variables).map_err(json_err)?;
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "update conversations set variables = json_patch(variables, ?3) \
                     where org_id = ?1 and id = ?2",
                )
                .map_err(db_err)?
                .execute(params![org.as_str(), id, patch])
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn delete_conversation(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        let (org, id) = (org.clone(), id.to_owned());
        self.write(move |tx| {
            // The messages go by `on delete cascade`: every connection enables foreign keys.
            let n = tx
                .prepare_cached("delete from conversations where org_id = ?1 and id = ?2")
                .map_err(db_err)?
                .execute(params![org.as_str(), id])
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn append_messages(
        &self,
        org: &OrgId,
        id: &str,
        start: Option<&NewConversation>,
        messages: &[NewMessage],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ConversationRecord>> {
        let (org, id) = (org.clone(), id.to_owned());
        let (start, messages) = (start.cloned(), messages.to_vec());
        self.write(move |tx| {
            let org = org.as_str();
            if let Some(start) = &start {
                insert_if_absent(tx, org, &id, start, &now)?;
            }
            let touched = tx
                .prepare_cached(
                    "update conversations set last_message_at = ?3 where org_id = ?1 and id = ?2",
                )
                .map_err(db_err)?
                .execute(params![org, id, ts(&now)])
                .map_err(db_err)?;
            if touched == 0 {
                // Absent and no `start`: nothing was written.
                return Ok(None);
            }
            // The single writer serializes appends: nobody writes between this read and the
            // inserts below.
            let last: i64 = tx
                .prepare_cached(
                    "select coalesce(max(seq), 0) from conversation_messages \
                     where org_id = ?1 and conversation_id = ?2",
                )
                .map_err(db_err)?
                .query_row(params![org, id], |r| r.get(0))
                .map_err(db_err)?;
            let mut insert = tx
                .prepare_cached(
                    "insert into conversation_messages (org_id, conversation_id, seq, role, text, name, \
                     tool_calls, tool_call_id, metadata, sent_at, created_at) \
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(db_err)?;
            for (seq, message) in (last + 1..).zip(&messages) {
                let tool_calls = serde_json::to_string(&message.tool_calls).map_err(json_err)?;
                let metadata = serde_json::to_string(&message.metadata).map_err(json_err)?;
                insert
                    .execute(params![
                        org,
                        id,
                        seq,
                        message.role.as_str(),
                        message.text,
                        message.name,
                        tool_calls,
                        message.tool_call_id,
                        metadata,
                        message.sent_at.as_ref().map(ts),
                        ts(&now)
                    ])
                    .map_err(db_err)?;
            }
            get(tx, org, &id)
        })
        .await
    }

    async fn list_messages(
        &self,
        org: &OrgId,
        id: &str,
        page: PageRequest,
    ) -> StoreResult<Option<(Vec<MessageRecord>, u64)>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.read(move |c| {
            // One read transaction: the page and the total see the same snapshot.
            let tx = c.unchecked_transaction().map_err(db_err)?;
            if !exists(&tx, org.as_str(), &id)? {
                return Ok(None);
            }
            let total: i64 = tx
                .prepare_cached(
                    "select count(*) from conversation_messages where org_id = ?1 and conversation_id = ?2",
                )
                .map_err(db_err)?
                .query_row(params![org.as_str(), id], |r| r.get(0))
                .map_err(db_err)?;
            let limit = page.limit.map_or(-1, to_i64);
            let rows = messages(
                &tx,
                &format!(
                    "select {MESSAGE_COLUMNS} from conversation_messages \
                     where org_id = ?1 and conversation_id = ?2 order by seq limit ?3 offset ?4"
                ),
                params![org.as_str(), id, limit, to_i64(page.offset)],
            )?;
            tx.commit().map_err(db_err)?;
            Ok(Some((rows, u64::try_from(total).unwrap_or(0))))
        })
        .await
    }

    async fn conversation_history(
        &self,
        org: &OrgId,
        id: &str,
        max_messages: u32,
    ) -> StoreResult<Option<(ConversationRecord, Vec<MessageRecord>)>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.read(move |c| {
            let tx = c.unchecked_transaction().map_err(db_err)?;
            let Some(record) = get(&tx, org.as_str(), &id)? else {
                return Ok(None);
            };
            let rows = messages(
                &tx,
                &format!(
                    "select * from (select {MESSAGE_COLUMNS} from conversation_messages \
                     where org_id = ?1 and conversation_id = ?2 order by seq desc limit ?3) \
                     order by seq"
                ),
                params![org.as_str(), id, i64::from(max_messages)],
            )?;
            tx.commit().map_err(db_err)?;
            Ok(Some((record, rows)))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_become_globs_with_literals_enclosed() {
        assert_eq!(glob_pattern("*bot%"), "*bot*");
        assert_eq!(glob_pattern("a_c"), "a?c");
        assert_eq!(glob_pattern("[x]?"), "[[]x[]][?]");
        assert_eq!(glob_pattern("a\\b'"), "a\\b'");
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
        let select = list_select("org-1", &query);
        assert!(!select.sql.contains("drop"), "{}", select.sql);
        assert!(!select.sql.contains("'1'"), "{}", select.sql);
        assert_eq!(select.params.len(), 4, "org, key, value, limit");
    }
}
