//! Conversations: message roles, stored tool calls, reserved metadata keys, and the
//! PostgREST-style query of `GET /v2/ai/conversations`.
//!
//! The query is parsed here ([`parse_query`]) into a small tree ([`ConversationQuery`]) that
//! each store backend compiles into its own SQL; nothing here knows a database.

use crate::validation::{FieldError, ValidationErrors};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Metadata key: the assistant that serves the conversation.
pub const META_ASSISTANT_ID: &str = "assistant_id";
/// Metadata key: the version chosen when the conversation started (sticky).
pub const META_ASSISTANT_VERSION_ID: &str = "assistant_version_id";
/// Metadata key: the channel (`web_chat`, `sms_chat`, `phone_call`, `web_call`).
pub const META_CHANNEL: &str = "telnyx_conversation_channel";
/// Metadata key: the assistant's side of the conversation (a number, an id).
pub const META_AGENT_TARGET: &str = "telnyx_agent_target";
/// Metadata key: the end user's side of the conversation.
pub const META_END_USER_TARGET: &str = "telnyx_end_user_target";
/// Metadata key: the call, for voice conversations.
pub const META_CALL_CONTROL_ID: &str = "call_control_id";
/// Metadata key: `"true"` stops AI replies (human takeover); chat answers 400.
pub const META_AI_DISABLED: &str = "ai_disabled";
/// Metadata key: set when a `hangup` tool ended the conversation (its value is the time).
pub const META_ENDED_AT: &str = "ended_at";
/// Metadata key: the assistant a `handoff` tool passed the conversation to; it answers from
/// then on.
pub const META_HANDOFF_ASSISTANT_ID: &str = "handoff_assistant_id";

/// Longest conversation id accepted (ids minted by clients are usually UUIDs).
pub const MAX_CONVERSATION_ID_LEN: usize = 200;

/// Who wrote a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// The end user.
    User,
    /// The assistant (its text and tool calls).
    Assistant,
    /// A tool's result.
    Tool,
    /// A system note added through `POST /ai/conversations/{id}/message`.
    System,
}

impl MessageRole {
    /// The role as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageRole::User => "user",
            MessageRole::Assistant => "assistant",
            MessageRole::Tool => "tool",
            MessageRole::System => "system",
        }
    }

    /// Parses the API spelling.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(MessageRole::User),
            "assistant" => Some(MessageRole::Assistant),
            "tool" => Some(MessageRole::Tool),
            "system" => Some(MessageRole::System),
            _ => None,
        }
    }
}

/// A tool call as stored on an assistant message (the OpenAI shape without `type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToolCall {
    /// The call's id; the tool message answering it carries it as `tool_call_id`.
    pub id: String,
    /// The function name.
    pub name: String,
    /// The arguments as JSON text, as the model produced them.
    pub arguments: String,
}

/// Whether `id` can name a conversation: 1..=200 printable ASCII characters other than
/// space and `/`.
pub fn valid_conversation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CONVERSATION_ID_LEN
        && id.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

/// A column of the conversation list that a filter or an ordering can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `id`.
    Id,
    /// `name`.
    Name,
    /// `created_at`.
    CreatedAt,
    /// `last_message_at`.
    LastMessageAt,
    /// `metadata->KEY`.
    Metadata(String),
}

impl Field {
    /// Whether the field holds a timestamp (its values are compared as times).
    pub fn is_timestamp(&self) -> bool {
        matches!(self, Field::CreatedAt | Field::LastMessageAt)
    }
}

/// A value a filter compares with: text, or a time for timestamp fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    /// Compared as text.
    Text(String),
    /// Compared as a point in time.
    Time(DateTime<Utc>),
}

/// A comparison operator of PostgREST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `eq.V`.
    Eq(FilterValue),
    /// `neq.V`.
    Neq(FilterValue),
    /// `gt.V`.
    Gt(FilterValue),
    /// `gte.V`.
    Gte(FilterValue),
    /// `lt.V`.
    Lt(FilterValue),
    /// `lte.V`.
    Lte(FilterValue),
    /// `like.PATTERN` (`*` or `%` any run of characters, `_` one character), case-sensitive.
    Like(String),
    /// `ilike.PATTERN`, case-insensitive.
    Ilike(String),
    /// `in.(a,b,"c,d")`.
    In(Vec<FilterValue>),
    /// `is.null`: the field is absent (metadata key missing, or `name` null).
    IsNull,
}

/// One condition of the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `field=op.value`, or `field=not.op.value` when `negated`.
    Compare {
        /// The field.
        field: Field,
        /// The comparison.
        op: Op,
        /// Whether `not.` preceded the operator.
        negated: bool,
    },
    /// `or=(c1,c2,…)`: any of them holds.
    Or(Vec<Condition>),
    /// `and(c1,c2,…)` inside an `or`: all of them hold.
    And(Vec<Condition>),
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest / smallest first.
    Asc,
    /// Newest / largest first.
    Desc,
}

/// Default `limit` of the conversation list.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
/// Largest `limit` of the conversation list.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// A parsed `GET /v2/ai/conversations` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationQuery {
    /// Conditions that must all hold.
    pub conditions: Vec<Condition>,
    /// Sort keys, first wins; ties are always broken by `id` ascending. Default
    /// `created_at.desc`.
    pub order: Vec<(Field, Direction)>,
    /// Most conversations returned (1..=[`MAX_LIST_LIMIT`], default [`DEFAULT_LIST_LIMIT`]).
    pub limit: u32,
}

impl Default for ConversationQuery {
    fn default() -> Self {
        ConversationQuery {
            conditions: Vec::new(),
            order: vec![(Field::CreatedAt, Direction::Desc)],
            limit: DEFAULT_LIST_LIMIT,
        }
    }
}

/// Parses the query string pairs of `GET /v2/ai/conversations` (already percent-decoded, in
/// order): `id`, `name`, `created_at`, `last_message_at`, `metadata->KEY` (any key) with a
/// PostgREST operator; `or=(…)`; `order=field.asc|desc[,…]`; `limit=N`. `page[…]` pairs are
/// ignored. Unknown parameters, operators, malformed values and times → an error whose
/// pointer is the parameter name.
pub fn parse_query(pairs: &[(String, String)]) -> Result<ConversationQuery, ValidationErrors> {
    let mut query = ConversationQuery::default();
    let mut order_set = false;
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => {
                query.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
                    .ok_or_else(|| {
                        invalid(
                            "limit",
                            format!("must be an integer from 1 to {MAX_LIST_LIMIT}"),
                        )
                    })?;
            }
            "order" => {
                if order_set {
                    return Err(invalid("order", "given more than once"));
                }
                order_set = true;
                query.order = parse_order(value)?;
            }
            "or" => {
                let inner = value
                    .strip_prefix('(')
                    .and_then(|v| v.strip_suffix(')'))
                    .ok_or_else(|| invalid("or", "must be (condition,condition,…)"))?;
                query
                    .conditions
                    .push(Condition::Or(parse_group(inner, "or")?));
            }
            n if n.starts_with("page[") || n.starts_with("page%5B") => {}
            other => {
                let field = parse_field(other)
                    .ok_or_else(|| invalid(other, format!("unknown filter parameter {other:?}")))?;
                let (negated, op) = parse_op(&field, value, other)?;
                query
                    .conditions
                    .push(Condition::Compare { field, op, negated });
            }
        }
    }
    Ok(query)
}

fn invalid(parameter: &str, message: impl Into<String>) -> ValidationErrors {
    ValidationErrors::one(FieldError::invalid(parameter, message))
}

fn parse_field(name: &str) -> Option<Field> {
    match name {
        "id" => Some(Field::Id),
        "name" => Some(Field::Name),
        "created_at" => Some(Field::CreatedAt),
        "last_message_at" => Some(Field::LastMessageAt),
        other => {
            let key = other.strip_prefix("metadata->")?;
            let key = key.strip_prefix('>').unwrap_or(key);
            (!key.is_empty()).then(|| Field::Metadata(key.to_owned()))
        }
    }
}

fn parse_order(value: &str) -> Result<Vec<(Field, Direction)>, ValidationErrors> {
    let mut order = Vec::new();
    for part in value.split(',') {
        let (name, direction) = match part.rsplit_once('.') {
            Some((name, "asc")) => (name, Direction::Asc),
            Some((name, "desc")) => (name, Direction::Desc),
            _ => (part, Direction::Asc),
        };
        let field = parse_field(name)
            .ok_or_else(|| invalid("order", format!("cannot order by {name:?}")))?;
        order.push((field, direction));
    }
    if order.is_empty() {
        return Err(invalid("order", "is empty"));
    }
    Ok(order)
}

fn parse_value(field: &Field, raw: &str, parameter: &str) -> Result<FilterValue, ValidationErrors> {
    let raw = unquote(raw);
    if field.is_timestamp() {
        crate::clock::parse_timestamp(&raw)
            .map(FilterValue::Time)
            .ok_or_else(|| {
                invalid(
                    parameter,
                    format!("{raw:?} is not a date-time (RFC 3339, or YYYY-MM-DD)"),
                )
            })
    } else {
        Ok(FilterValue::Text(raw))
    }
}

fn unquote(raw: &str) -> String {
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => raw.to_owned(),
    }
}

fn parse_op(field: &Field, value: &str, parameter: &str) -> Result<(bool, Op), ValidationErrors> {
    let (negated, rest) = match value.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (operator, operand) = rest.split_once('.').ok_or_else(|| {
        invalid(
            parameter,
            format!("{value:?} is not operator.value (e.g. eq.42)"),
        )
    })?;
    let op = match operator {
        "eq" => Op::Eq(parse_value(field, operand, parameter)?),
        "neq" => Op::Neq(parse_value(field, operand, parameter)?),
        "gt" => Op::Gt(parse_value(field, operand, parameter)?),
        "gte" => Op::Gte(parse_value(field, operand, parameter)?),
        "lt" => Op::Lt(parse_value(field, operand, parameter)?),
        "lte" => Op::Lte(parse_value(field, operand, parameter)?),
        "like" | "ilike" if field.is_timestamp() => {
            return Err(invalid(
                parameter,
                format!("{operator} does not apply to a date-time"),
            ))
        }
        "like" => Op::Like(unquote(operand)),
        "ilike" => Op::Ilike(unquote(operand)),
        "in" => {
            let inner = operand
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(|| invalid(parameter, "in. takes a list: in.(a,b)"))?;
            let items = split_top_level(inner)
                .into_iter()
                .map(|item| parse_value(field, item, parameter))
                .collect::<Result<Vec<_>, _>>()?;
            if items.is_empty() {
                return Err(invalid(parameter, "in.() is empty"));
            }
            Op::In(items)
        }
        "is" if operand == "null" => Op::IsNull,
        "is" => return Err(invalid(parameter, "only is.null is supported")),
        other => {
            return Err(invalid(
                parameter,
                format!(
                    "unknown operator {other:?} (eq, neq, gt, gte, lt, lte, like, ilike, in, is)"
                ),
            ))
        }
    };
    Ok((negated, op))
}

/// Splits on commas that are not inside parentheses or double quotes.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0usize, false, false, 0usize);
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < text.len() || !parts.is_empty() {
        parts.push(&text[start..]);
    }
    parts
}

/// Parses the conditions of an `or=(…)` or `and(…)` group: `field.op.value` items, nested
/// `or(…)`/`and(…)`.
fn parse_group(inner: &str, parameter: &str) -> Result<Vec<Condition>, ValidationErrors> {
    let mut conditions = Vec::new();
    for item in split_top_level(inner) {
        let item = item.trim();
        if let Some(group) = item.strip_prefix("or(").and_then(|i| i.strip_suffix(')')) {
            conditions.push(Condition::Or(parse_group(group, parameter)?));
            continue;
        }
        if let Some(group) = item.strip_prefix("and(").and_then(|i| i.strip_suffix(')')) {
            conditions.push(Condition::And(parse_group(group, parameter)?));
            continue;
        }
        let (field, rest) = split_field(item)
            .ok_or_else(|| invalid(parameter, format!("{item:?} is not field.operator.value")))?;
        let (negated, op) = parse_op(&field, rest, parameter)?;
        conditions.push(Condition::Compare { field, op, negated });
    }
    if conditions.is_empty() {
        return Err(invalid(parameter, "the group is empty"));
    }
    Ok(conditions)
}

/// `metadata->key.eq.v` → (Metadata(key), "eq.v"); `id.eq.v` → (Id, "eq.v").
fn split_field(item: &str) -> Option<(Field, &str)> {
    if let Some(rest) = item.strip_prefix("metadata->") {
        let rest = rest.strip_prefix('>').unwrap_or(rest);
        let (key, operand) = rest.split_once('.')?;
        return (!key.is_empty()).then(|| (Field::Metadata(key.to_owned()), operand));
    }
    let (name, operand) = item.split_once('.')?;
    Some((parse_field(name)?, operand))
}

/// Turns a PostgREST `like` pattern (`*` or `%` for any run, `_` for one character) into a
/// matcher over text, for backends and tests that evaluate filters in memory.
pub fn like_matches(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*' | '%', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let (p, t): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<ConversationQuery, ValidationErrors> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse_query(&pairs)
    }

    #[test]
    fn metadata_equality_and_limit() {
        let query = q(&[("metadata->assistant_id", "eq.a1"), ("limit", "5")]).unwrap();
        assert_eq!(query.limit, 5);
        assert_eq!(
            query.conditions,
            vec![Condition::Compare {
                field: Field::Metadata("assistant_id".into()),
                op: Op::Eq(FilterValue::Text("a1".into())),
                negated: false
            }]
        );
        assert_eq!(query.order, vec![(Field::CreatedAt, Direction::Desc)]);
    }

    #[test]
    fn timestamps_parse_and_bad_ones_name_the_parameter() {
        let query = q(&[("created_at", "gte.2026-01-02T03:04:05Z")]).unwrap();
        match &query.conditions[0] {
            Condition::Compare {
                op: Op::Gte(FilterValue::Time(t)),
                ..
            } => assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05+00:00"),
            other => panic!("{other:?}"),
        }
        let error = q(&[("last_message_at", "lt.yesterday")]).unwrap_err();
        assert_eq!(error.0[0].pointer, "last_message_at");
    }

    #[test]
    fn or_groups_nest_and_quote() {
        let query = q(&[(
            "or",
            "(name.eq.\"a,b\",and(metadata->x.eq.1,id.in.(c1,c2)),name.is.null)",
        )])
        .unwrap();
        let Condition::Or(items) = &query.conditions[0] else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        assert_eq!(
            items[0],
            Condition::Compare {
                field: Field::Name,
                op: Op::Eq(FilterValue::Text("a,b".into())),
                negated: false
            }
        );
        let Condition::And(inner) = &items[1] else {
            panic!()
        };
        assert_eq!(inner.len(), 2);
        assert!(matches!(
            &inner[1],
            Condition::Compare { op: Op::In(v), .. } if v.len() == 2
        ));
    }

    #[test]
    fn order_and_negation() {
        let query = q(&[
            ("order", "last_message_at.desc,name"),
            ("name", "not.like.*bot*"),
        ])
        .unwrap();
        assert_eq!(
            query.order,
            vec![
                (Field::LastMessageAt, Direction::Desc),
                (Field::Name, Direction::Asc)
            ]
        );
        assert!(matches!(
            &query.conditions[0],
            Condition::Compare { negated: true, op: Op::Like(p), .. } if p == "*bot*"
        ));
    }

    #[test]
    fn refusals() {
        for pairs in [
            vec![("limit", "0")],
            vec![("limit", "1001")],
            vec![("colour", "eq.red")],
            vec![("name", "eq")],
            vec![("name", "regex.x")],
            vec![("order", "colour.asc")],
            vec![("or", "name.eq.x")],
            vec![("created_at", "like.2026*")],
            vec![("id", "is.true")],
        ] {
            assert!(q(&pairs).is_err(), "{pairs:?} should be refused");
        }
        assert!(q(&[("page[number]", "2")]).is_ok());
    }

    #[test]
    fn like_patterns() {
        assert!(like_matches("*bot*", "my bot here", false));
        assert!(like_matches("a_c", "abc", false));
        assert!(!like_matches("a_c", "abbc", false));
        assert!(like_matches("HELLO%", "hello world", true));
        assert!(!like_matches("HELLO%", "hello world", false));
    }

    #[test]
    fn conversation_ids() {
        assert!(valid_conversation_id("conv-1"));
        assert!(valid_conversation_id(
            "3f2a9c1e-0000-4000-8000-000000000000"
        ));
        assert!(!valid_conversation_id(""));
        assert!(!valid_conversation_id("a b"));
        assert!(!valid_conversation_id("a/b"));
        assert!(!valid_conversation_id(&"x".repeat(201)));
    }
}
