//! `/ai/conversations`: list (PostgREST filters), retrieve, create, update metadata, delete,
//! add a message; the messages of a conversation, page by page or as one stream.
//!
//! ```no_run
//! # async fn run(client: parley_client::Client) -> parley_client::Result<()> {
//! use futures::TryStreamExt;
//! use parley_client::resources::ai::conversations::{ConversationListParams, Filter};
//! use parley_client::types::PageParams;
//!
//! let conversations = client.ai().conversations();
//! let recent = conversations
//!     .list(
//!         &ConversationListParams::new()
//!             .assistant_id("assistant-123")
//!             .created_at(Filter::Gte("2025-01-01".into()))
//!             .order_by_last_message_at_desc()
//!             .limit(10),
//!     )
//!     .await?;
//! for conversation in &recent.data {
//!     let messages: Vec<_> = conversations
//!         .messages(&conversation.id)
//!         .list_all(&PageParams::default())
//!         .try_collect()
//!         .await?;
//!     println!("{}: {} messages", conversation.id, messages.len());
//! }
//! # Ok(()) }
//! ```

use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::pagination::{next_page, paginate};
use crate::retry::random_u64;
use crate::Client;
use futures::stream::BoxStream;
use parley_types::conversations::{
    Conversation, ConversationCreateParams, ConversationMessage, ConversationUpdateParams,
    MessageCreateParams,
};
use parley_types::{Data, DataList, Page, PageParams};

/// A fresh conversation id: a random UUID (version 4), as Telnyx gives them. A chat message
/// with a new id starts a new conversation.
pub fn new_conversation_id() -> String {
    let high = random_u64();
    let low = random_u64();
    // Version 4 in the high nibble of the 7th byte, variant 10 in the top bits of the 9th.
    let high = (high & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let low = (low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

fn conversation_path(conversation_id: &str) -> Result<String> {
    Ok(format!(
        "ai/conversations/{}",
        segment(conversation_id, "conversation_id")?
    ))
}

/// `/ai/conversations`.
#[derive(Debug)]
pub struct Conversations<'a> {
    client: &'a Client,
}

impl<'a> Conversations<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET /ai/conversations`: the conversations matching `params`, newest first unless
    /// ordered otherwise, at most 100 unless limited otherwise (not paginated).
    pub async fn list(&self, params: &ConversationListParams) -> Result<DataList<Conversation>> {
        let request = ApiRequest::get("ai/conversations".into()).pairs(params.pairs());
        self.client.json(request).await
    }

    /// `GET /ai/conversations/{conversation_id}`.
    pub async fn retrieve(&self, conversation_id: &str) -> Result<Conversation> {
        let path = conversation_path(conversation_id)?;
        let found: Data<Conversation> = self.client.json(ApiRequest::get(path)).await?;
        Ok(found.data)
    }

    /// `POST /ai/conversations`: a conversation with a new id and no messages; the first chat
    /// message in it binds it to its assistant.
    pub async fn create(&self, params: &ConversationCreateParams) -> Result<Conversation> {
        let request = ApiRequest::post("ai/conversations".into()).body(params)?;
        self.client.json(request).await
    }

    /// `PUT /ai/conversations/{conversation_id}`: merges `params.metadata` into the
    /// conversation's (a `None` value removes the key); the conversation as it is now.
    pub async fn update(
        &self,
        conversation_id: &str,
        params: &ConversationUpdateParams,
    ) -> Result<Conversation> {
        let request = ApiRequest::put(conversation_path(conversation_id)?).body(params)?;
        let updated: Data<Conversation> = self.client.json(request).await?;
        Ok(updated.data)
    }

    /// `DELETE /ai/conversations/{conversation_id}`: the conversation and its messages.
    pub async fn delete(&self, conversation_id: &str) -> Result<()> {
        let path = conversation_path(conversation_id)?;
        self.client.empty(ApiRequest::delete(path)).await
    }

    /// `POST /ai/conversations/{conversation_id}/message`: appends a message as it is,
    /// without asking the assistant anything.
    pub async fn add_message(
        &self,
        conversation_id: &str,
        params: &MessageCreateParams,
    ) -> Result<()> {
        let path = format!("{}/message", conversation_path(conversation_id)?);
        let request = ApiRequest::post(path).body(params)?;
        self.client.empty(request).await
    }

    /// `/ai/conversations/{conversation_id}/messages`: the messages of one conversation.
    pub fn messages(&self, conversation_id: &str) -> Messages<'a> {
        Messages {
            client: self.client,
            conversation_id: conversation_id.to_owned(),
        }
    }
}

/// The messages of one conversation, oldest first.
#[derive(Debug)]
pub struct Messages<'a> {
    client: &'a Client,
    conversation_id: String,
}

impl Messages<'_> {
    /// `GET /ai/conversations/{conversation_id}/messages`: one page (`page[number]`,
    /// `page[size]`; by default the first 20 messages).
    pub async fn list(&self, page: &PageParams) -> Result<Page<ConversationMessage>> {
        list_messages(self.client, &self.conversation_id, page).await
    }

    /// Every message from `page`'s page on, fetched page after page as the stream is read.
    pub fn list_all(&self, page: &PageParams) -> BoxStream<'static, Result<ConversationMessage>> {
        let client = self.client.clone();
        let conversation_id = self.conversation_id.clone();
        let params = *page;
        paginate(params.page_number.unwrap_or(1), move |number| {
            let client = client.clone();
            let conversation_id = conversation_id.clone();
            async move {
                let params = PageParams {
                    page_number: Some(number),
                    ..params
                };
                let page = list_messages(&client, &conversation_id, &params).await?;
                let next = next_page(page.data.len(), Some(&page.meta));
                Ok((page.data, next))
            }
        })
    }
}

async fn list_messages(
    client: &Client,
    conversation_id: &str,
    page: &PageParams,
) -> Result<Page<ConversationMessage>> {
    let path = format!("{}/messages", conversation_path(conversation_id)?);
    client.json(ApiRequest::get(path).query(page)?).await
}

/// A field of a conversation that a filter or an ordering names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationField {
    /// `id`.
    Id,
    /// `name`.
    Name,
    /// `created_at` (compared as a time).
    CreatedAt,
    /// `last_message_at` (compared as a time).
    LastMessageAt,
    /// `metadata->KEY`: one metadata key.
    Metadata(String),
}

impl ConversationField {
    /// The field as PostgREST names it (`metadata->assistant_id`).
    pub fn as_param(&self) -> String {
        match self {
            ConversationField::Id => "id".into(),
            ConversationField::Name => "name".into(),
            ConversationField::CreatedAt => "created_at".into(),
            ConversationField::LastMessageAt => "last_message_at".into(),
            ConversationField::Metadata(key) => format!("metadata->{key}"),
        }
    }
}

/// A PostgREST comparison: what `field=…` holds. Times are RFC 3339 date-times or
/// `YYYY-MM-DD` dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `eq.V`: equal to.
    Eq(String),
    /// `neq.V`: not equal to.
    Neq(String),
    /// `gt.V`: greater (later) than.
    Gt(String),
    /// `gte.V`: greater (later) than or equal to.
    Gte(String),
    /// `lt.V`: less (earlier) than.
    Lt(String),
    /// `lte.V`: less (earlier) than or equal to.
    Lte(String),
    /// `like.PATTERN`: `*` (or `%`) matches any run of characters, `_` one; case-sensitive.
    Like(String),
    /// `ilike.PATTERN`: as [`Filter::Like`], case-insensitive.
    Ilike(String),
    /// `in.(a,b)`: one of these.
    In(Vec<String>),
    /// `is.null`: unset (a metadata key missing, no name).
    IsNull,
    /// `not.…`: the opposite of the inner filter.
    Not(Box<Filter>),
}

impl Filter {
    /// The filter as PostgREST writes it (`gte.2025-01-01`, `in.(a,"b,c")`). `nested` quotes
    /// values as they must be inside `or=(…)`.
    fn render(&self, nested: bool) -> String {
        let value = |v: &str| quote(v, nested);
        match self {
            Filter::Eq(v) => format!("eq.{}", value(v)),
            Filter::Neq(v) => format!("neq.{}", value(v)),
            Filter::Gt(v) => format!("gt.{}", value(v)),
            Filter::Gte(v) => format!("gte.{}", value(v)),
            Filter::Lt(v) => format!("lt.{}", value(v)),
            Filter::Lte(v) => format!("lte.{}", value(v)),
            Filter::Like(v) => format!("like.{}", value(v)),
            Filter::Ilike(v) => format!("ilike.{}", value(v)),
            Filter::In(values) => format!(
                "in.({})",
                values
                    .iter()
                    .map(|v| quote(v, true))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Filter::IsNull => "is.null".into(),
            Filter::Not(inner) => format!("not.{}", inner.render(nested)),
        }
    }
}

/// A value as PostgREST reads it: inside a list or group, double-quoted when it holds a
/// reserved character (`,()"\`, a space at either end) or is empty; at the top level, only
/// when it would otherwise be read as quoted.
fn quote(value: &str, nested: bool) -> String {
    let needs = if nested {
        value.is_empty()
            || value.contains([',', '(', ')', '"', '\\'])
            || value.starts_with(' ')
            || value.ends_with(' ')
    } else {
        value.len() >= 2 && value.starts_with('"') && value.ends_with('"')
    };
    if needs {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_owned()
    }
}

/// One condition of an `or=(…)` group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `field.filter`.
    Compare(ConversationField, Filter),
    /// `or(…)`: any of these holds.
    Or(Vec<Condition>),
    /// `and(…)`: all of these hold.
    And(Vec<Condition>),
}

impl Condition {
    /// `field.filter`.
    pub fn field(field: ConversationField, filter: Filter) -> Self {
        Condition::Compare(field, filter)
    }

    /// `metadata->KEY.filter`.
    pub fn metadata(key: impl Into<String>, filter: Filter) -> Self {
        Condition::Compare(ConversationField::Metadata(key.into()), filter)
    }

    fn render(&self) -> String {
        match self {
            Condition::Compare(field, filter) => {
                format!("{}.{}", field.as_param(), filter.render(true))
            }
            Condition::Or(items) => format!("or({})", render_group(items)),
            Condition::And(items) => format!("and({})", render_group(items)),
        }
    }
}

fn render_group(items: &[Condition]) -> String {
    items
        .iter()
        .map(Condition::render)
        .collect::<Vec<_>>()
        .join(",")
}

/// Sort direction of [`ConversationListParams::order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    /// Oldest / smallest first.
    Asc,
    /// Newest / largest first.
    Desc,
}

/// The query of `GET /ai/conversations`: PostgREST filters (all must hold), ordering and a
/// limit, built up call by call and sent as query pairs in order.
///
/// ```
/// use parley_client::resources::ai::conversations::{
///     Condition, ConversationField, ConversationListParams, Filter, SortDirection,
/// };
/// let params = ConversationListParams::new()
///     .assistant_id("assistant-123")
///     .created_at(Filter::Gte("2025-01-01".into()))
///     .or([
///         Condition::metadata("tier", Filter::Eq("gold".into())),
///         Condition::field(ConversationField::Name, Filter::Like("VIP*".into())),
///     ])
///     .order(ConversationField::LastMessageAt, SortDirection::Desc)
///     .limit(10);
/// assert_eq!(
///     params.pairs(),
///     [
///         ("metadata->assistant_id".to_owned(), "eq.assistant-123".to_owned()),
///         ("created_at".to_owned(), "gte.2025-01-01".to_owned()),
///         ("or".to_owned(), "(metadata->tier.eq.gold,name.like.VIP*)".to_owned()),
///         ("order".to_owned(), "last_message_at.desc".to_owned()),
///         ("limit".to_owned(), "10".to_owned()),
///     ]
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationListParams {
    filters: Vec<(String, String)>,
    order: Vec<(ConversationField, SortDirection)>,
    limit: Option<u32>,
}

impl ConversationListParams {
    /// No filter: the 100 newest conversations.
    pub fn new() -> Self {
        Self::default()
    }

    /// `field=filter`.
    pub fn filter(mut self, field: ConversationField, filter: Filter) -> Self {
        self.filters.push((field.as_param(), filter.render(false)));
        self
    }

    /// `metadata->KEY=filter`.
    pub fn metadata(self, key: impl Into<String>, filter: Filter) -> Self {
        self.filter(ConversationField::Metadata(key.into()), filter)
    }

    /// Conversations of this assistant: `metadata->assistant_id=eq.ID`.
    pub fn assistant_id(self, assistant_id: impl Into<String>) -> Self {
        self.metadata("assistant_id", Filter::Eq(assistant_id.into()))
    }

    /// `id=filter`.
    pub fn id(self, filter: Filter) -> Self {
        self.filter(ConversationField::Id, filter)
    }

    /// `name=filter`.
    pub fn name(self, filter: Filter) -> Self {
        self.filter(ConversationField::Name, filter)
    }

    /// `created_at=filter`.
    pub fn created_at(self, filter: Filter) -> Self {
        self.filter(ConversationField::CreatedAt, filter)
    }

    /// `last_message_at=filter`.
    pub fn last_message_at(self, filter: Filter) -> Self {
        self.filter(ConversationField::LastMessageAt, filter)
    }

    /// `or=(c1,c2,…)`: any of the conditions holds.
    pub fn or(mut self, conditions: impl IntoIterator<Item = Condition>) -> Self {
        let conditions: Vec<Condition> = conditions.into_iter().collect();
        self.filters
            .push(("or".into(), format!("({})", render_group(&conditions))));
        self
    }

    /// Sorts by `field`; each later call sorts the ties of the earlier ones
    /// (`order=a.desc,b.asc`). Default `created_at.desc`; ties always fall back to `id`.
    pub fn order(mut self, field: ConversationField, direction: SortDirection) -> Self {
        self.order.push((field, direction));
        self
    }

    /// `order=last_message_at.desc`: the most recently active first.
    pub fn order_by_last_message_at_desc(self) -> Self {
        self.order(ConversationField::LastMessageAt, SortDirection::Desc)
    }

    /// At most `limit` conversations (1 to 1000; default 100).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// A raw query pair, sent as it is after the filters before it (`("name",
    /// "ilike.*support*")`, `("metadata->tier", "in.(gold,silver)")`).
    pub fn pair(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.filters.push((name.into(), value.into()));
        self
    }

    /// The query pairs, in the order they are sent: the filters, `order`, `limit`.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs = self.filters.clone();
        if !self.order.is_empty() {
            let order = self
                .order
                .iter()
                .map(|(field, direction)| {
                    let direction = match direction {
                        SortDirection::Asc => "asc",
                        SortDirection::Desc => "desc",
                    };
                    format!("{}.{direction}", field.as_param())
                })
                .collect::<Vec<_>>()
                .join(",");
            pairs.push(("order".into(), order));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit".into(), limit.to_string()));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_are_version_4_uuids() {
        let id = new_conversation_id();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{id}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_ne!(id, new_conversation_id());
    }

    #[test]
    fn filters_render_as_postgrest_with_quoting_where_needed() {
        let params = ConversationListParams::new()
            .metadata("channel", Filter::In(vec!["web_chat".into(), "a,b".into()]))
            .name(Filter::Not(Box::new(Filter::IsNull)))
            .id(Filter::Eq("\"odd\"".into()))
            .or([
                Condition::metadata("x", Filter::Eq("a (b)".into())),
                Condition::And(vec![
                    Condition::field(
                        ConversationField::CreatedAt,
                        Filter::Lt("2025-02-01".into()),
                    ),
                    Condition::field(ConversationField::Name, Filter::Ilike("*vip*".into())),
                ]),
            ])
            .order(ConversationField::CreatedAt, SortDirection::Asc)
            .order(ConversationField::Id, SortDirection::Desc)
            .pair("limit", "5");
        assert_eq!(
            params.pairs(),
            [
                ("metadata->channel".into(), r#"in.(web_chat,"a,b")"#.into()),
                ("name".into(), "not.is.null".into()),
                ("id".into(), r#"eq."\"odd\"""#.into()),
                (
                    "or".into(),
                    r#"(metadata->x.eq."a (b)",and(created_at.lt.2025-02-01,name.ilike.*vip*))"#
                        .into()
                ),
                ("limit".into(), "5".into()),
                ("order".into(), "created_at.asc,id.desc".into()),
            ]
        );
        assert!(ConversationListParams::new().pairs().is_empty());
    }
}
