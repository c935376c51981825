//! The contract of [`crate::ConversationStore`]: create-if-absent (also under concurrent
//! creates), tenancy, appends that create the conversation atomically and number messages in
//! order (also under concurrent appends), message windows and history, metadata and variable
//! merges, delete with its messages, and the list query — every filter operator, nesting,
//! ordering, ties and limit.

use super::{concurrently, new_org, ok, secs, unique};
use crate::{
    ConversationRecord, CreateConversationOutcome, MessageRecord, NewConversation, NewMessage,
    PageRequest, Store,
};
use chrono::{DateTime, Utc};
use parley_core::conversation::{
    Condition, ConversationQuery, Direction, Field, FilterValue, MessageRole, Op, StoredToolCall,
};
use parley_core::ids::OrgId;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub(crate) async fn run(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    create_and_tenancy(store, t0).await;
    append_and_read(store, t0).await;
    metadata_and_variables(store, t0).await;
    delete_takes_the_messages(store, t0).await;
    list_query(store, t0).await;
    concurrent_creates_and_appends(store, t0).await;
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn strings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn start(
    name: Option<&str>,
    metadata: &[(&str, &str)],
    variables: &[(&str, &str)],
) -> NewConversation {
    NewConversation {
        name: name.map(str::to_owned),
        metadata: strings(metadata),
        variables: strings(variables),
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("{other} is not an object"),
    }
}

/// What a stored `message` reads back as.
fn stored(seq: i64, message: &NewMessage, at: DateTime<Utc>) -> MessageRecord {
    MessageRecord {
        seq,
        role: message.role,
        text: message.text.clone(),
        name: message.name.clone(),
        tool_calls: message.tool_calls.clone(),
        tool_call_id: message.tool_call_id.clone(),
        metadata: message.metadata.clone(),
        sent_at: message.sent_at,
        created_at: at,
    }
}

async fn create(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &str,
    new: &NewConversation,
    at: DateTime<Utc>,
) -> CreateConversationOutcome {
    ok(
        "create_conversation",
        store.create_conversation(org, id, new, at).await,
    )
}

/// Creates a conversation that must be new and checks what the store returned.
async fn create_new(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &str,
    new: &NewConversation,
    at: DateTime<Utc>,
) -> ConversationRecord {
    let expected = ConversationRecord {
        id: id.to_owned(),
        name: new.name.clone(),
        metadata: new.metadata.clone(),
        variables: new.variables.clone(),
        created_at: at,
        last_message_at: at,
    };
    match create(store, org, id, new, at).await {
        CreateConversationOutcome::Created(record) => {
            assert_eq!(
                record, expected,
                "create_conversation returns what it stored"
            );
            record
        }
        other => panic!("conversation {id} should be new: {other:?}"),
    }
}

async fn get(store: &Arc<dyn Store>, org: &OrgId, id: &str) -> Option<ConversationRecord> {
    ok("get_conversation", store.get_conversation(org, id).await)
}

async fn append(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &str,
    start: Option<&NewConversation>,
    messages: &[NewMessage],
    at: DateTime<Utc>,
) -> Option<ConversationRecord> {
    ok(
        "append_messages",
        store.append_messages(org, id, start, messages, at).await,
    )
}

async fn page(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &str,
    offset: u64,
    limit: Option<u64>,
) -> Option<(Vec<MessageRecord>, u64)> {
    ok(
        "list_messages",
        store
            .list_messages(org, id, PageRequest { offset, limit })
            .await,
    )
}

async fn all_messages(store: &Arc<dyn Store>, org: &OrgId, id: &str) -> Vec<MessageRecord> {
    page(store, org, id, 0, None)
        .await
        .unwrap_or_else(|| panic!("conversation {id} exists"))
        .0
}

async fn history(
    store: &Arc<dyn Store>,
    org: &OrgId,
    id: &str,
    max: u32,
) -> Option<(ConversationRecord, Vec<MessageRecord>)> {
    ok(
        "conversation_history",
        store.conversation_history(org, id, max).await,
    )
}

fn seqs(messages: &[MessageRecord]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

fn user(text: &str) -> NewMessage {
    NewMessage::new(MessageRole::User, text)
}

// ---------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------

async fn create_and_tenancy(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let mine = new_org(store, "conv-a", t0).await;
    let theirs = new_org(store, "conv-b", t0).await;
    let id = unique("conv");
    let new = start(
        Some("Support"),
        &[
            ("assistant_id", "a1"),
            ("telnyx_conversation_channel", "web_chat"),
        ],
        &[("customer", "Ann")],
    );
    let record = create_new(store, &mine, &id, &new, t0 + secs(1)).await;
    assert_eq!(get(store, &mine, &id).await.as_ref(), Some(&record));
    assert_eq!(get(store, &mine, &unique("missing")).await, None);

    // A second create keeps the first one, whatever it asks for.
    let other = start(Some("Other"), &[("assistant_id", "a2")], &[]);
    assert_eq!(
        create(store, &mine, &id, &other, t0 + secs(2)).await,
        CreateConversationOutcome::Exists(record.clone()),
        "create of an existing id returns it unchanged"
    );
    assert_eq!(get(store, &mine, &id).await.as_ref(), Some(&record));

    // Another organization sees nothing and changes nothing.
    assert_eq!(get(store, &theirs, &id).await, None, "get across orgs");
    assert_eq!(
        ok(
            "list_conversations",
            store
                .list_conversations(&theirs, &ConversationQuery::default())
                .await
        ),
        Vec::<ConversationRecord>::new(),
        "list across orgs"
    );
    let patch = BTreeMap::from([("assistant_id".to_owned(), Some("hijacked".to_owned()))]);
    assert_eq!(
        ok(
            "update_conversation_metadata",
            store
                .update_conversation_metadata(&theirs, &id, &patch)
                .await
        ),
        None,
        "metadata update across orgs"
    );
    assert!(
        !ok(
            "update_conversation_variables",
            store
                .update_conversation_variables(&theirs, &id, &strings(&[("customer", "Eve")]))
                .await
        ),
        "variables update across orgs"
    );
    assert_eq!(
        append(store, &theirs, &id, None, &[user("hi")], t0 + secs(3)).await,
        None,
        "append across orgs"
    );
    assert_eq!(
        page(store, &theirs, &id, 0, None).await,
        None,
        "messages across orgs"
    );
    assert_eq!(
        history(store, &theirs, &id, 10).await,
        None,
        "history across orgs"
    );
    assert!(
        !ok(
            "delete_conversation",
            store.delete_conversation(&theirs, &id).await
        ),
        "delete across orgs"
    );
    assert_eq!(
        get(store, &mine, &id).await.as_ref(),
        Some(&record),
        "untouched"
    );
    assert_eq!(
        all_messages(store, &mine, &id).await,
        vec![],
        "no message leaked in"
    );

    // The other organization may use the same id for its own conversation.
    let theirs_record = create_new(store, &theirs, &id, &other, t0 + secs(4)).await;
    append(store, &theirs, &id, None, &[user("theirs")], t0 + secs(5))
        .await
        .expect("their conversation");
    assert_eq!(get(store, &mine, &id).await.as_ref(), Some(&record));
    assert_eq!(all_messages(store, &mine, &id).await, vec![]);
    assert_eq!(
        get(store, &theirs, &id).await.map(|r| r.name),
        Some(theirs_record.name)
    );

    // Appending to a missing conversation without `start` writes nothing.
    let missing = unique("conv-missing");
    assert_eq!(
        append(
            store,
            &mine,
            &missing,
            None,
            &[user("hello?")],
            t0 + secs(6)
        )
        .await,
        None,
        "append without start to a missing conversation"
    );
    assert_eq!(
        get(store, &mine, &missing).await,
        None,
        "nothing was created"
    );
    assert_eq!(page(store, &mine, &missing, 0, None).await, None);
}

async fn append_and_read(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "conv-append", t0).await;
    let id = unique("conv");
    let new = start(Some("Chat"), &[("assistant_id", "a1")], &[("tier", "gold")]);
    let mut first = user("What's the weather in Paris?");
    first.name = Some("Ann".into());
    first.sent_at = Some(t0 - secs(30));
    first.metadata =
        object(json!({"client": "web", "nested": {"list": [1, 2.5, "x"], "flag": true}}));
    let calls = NewMessage {
        tool_calls: vec![
            StoredToolCall {
                id: "call_1".into(),
                name: "weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            },
            StoredToolCall {
                id: "call_2".into(),
                name: "time".into(),
                arguments: "{}".into(),
            },
        ],
        ..NewMessage::new(MessageRole::Assistant, "")
    };
    let result = NewMessage {
        name: Some("weather".into()),
        tool_call_id: Some("call_1".into()),
        ..NewMessage::new(MessageRole::Tool, r#"{"temp":21}"#)
    };
    let turn1 = vec![first, calls, result];

    // The first turn creates the conversation in the same call.
    let at1 = t0 + secs(10);
    let record = append(store, &org, &id, Some(&new), &turn1, at1)
        .await
        .expect("the first turn creates the conversation");
    assert_eq!(
        record,
        ConversationRecord {
            id: id.clone(),
            name: new.name.clone(),
            metadata: new.metadata.clone(),
            variables: new.variables.clone(),
            created_at: at1,
            last_message_at: at1,
        },
        "append with start creates from start"
    );
    assert_eq!(get(store, &org, &id).await.as_ref(), Some(&record));

    // Later turns append after the last message; `start` is ignored for an existing one.
    let at2 = t0 + secs(20);
    let turn2 = vec![
        NewMessage::new(MessageRole::Assistant, "It is 21°C in Paris."),
        NewMessage::new(MessageRole::System, "note: handed over"),
        user("thanks"),
    ];
    let ignored = start(Some("Ignored"), &[("assistant_id", "zz")], &[]);
    let after = append(store, &org, &id, Some(&ignored), &turn2, at2)
        .await
        .expect("existing conversation");
    assert_eq!(
        after,
        ConversationRecord {
            last_message_at: at2,
            ..record.clone()
        },
        "an append moves last_message_at only"
    );
    let at3 = t0 + secs(30);
    let turn3 = vec![user("one more")];
    append(store, &org, &id, None, &turn3, at3)
        .await
        .expect("existing conversation");

    let mut expected: Vec<MessageRecord> = Vec::new();
    for (turn, at) in [(&turn1, at1), (&turn2, at2), (&turn3, at3)] {
        for message in turn.iter() {
            expected.push(stored(expected.len() as i64 + 1, message, at));
        }
    }
    let (all, total) = page(store, &org, &id, 0, None).await.expect("exists");
    assert_eq!(total, 7);
    assert_eq!(
        all, expected,
        "messages round-trip exactly, in append order"
    );

    // Windows.
    let (window, total) = page(store, &org, &id, 2, Some(3)).await.expect("exists");
    assert_eq!(
        (seqs(&window), total),
        (vec![3, 4, 5], 7),
        "offset 2 limit 3"
    );
    let (window, total) = page(store, &org, &id, 5, Some(10)).await.expect("exists");
    assert_eq!((seqs(&window), total), (vec![6, 7], 7), "a short last page");
    let (window, total) = page(store, &org, &id, 7, None).await.expect("exists");
    assert_eq!((window.len(), total), (0, 7), "past the end");
    let (window, _) = page(store, &org, &id, 0, Some(0)).await.expect("exists");
    assert!(window.is_empty(), "limit 0");

    // History: the newest N, oldest first.
    let (conversation, newest) = history(store, &org, &id, 3).await.expect("exists");
    assert_eq!(conversation.last_message_at, at3);
    assert_eq!(conversation.id, id);
    assert_eq!(newest, expected[4..].to_vec(), "the three newest, in order");
    let (_, everything) = history(store, &org, &id, 100).await.expect("exists");
    assert_eq!(everything, expected, "more than there are");
    let (_, nothing) = history(store, &org, &id, 0).await.expect("exists");
    assert!(nothing.is_empty(), "history of 0");

    // A conversation created empty has an empty history.
    let empty = unique("conv-empty");
    create_new(store, &org, &empty, &NewConversation::default(), t0).await;
    assert_eq!(page(store, &org, &empty, 0, None).await, Some((vec![], 0)));
    let (record, messages) = history(store, &org, &empty, 5).await.expect("exists");
    assert_eq!(
        (record.name, record.metadata.len()),
        (None, 0),
        "name None kept"
    );
    assert!(messages.is_empty());
}

async fn metadata_and_variables(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "conv-meta", t0).await;
    let id = unique("conv");
    let record = create_new(
        store,
        &org,
        &id,
        &start(
            None,
            &[("a", "1"), ("b", "2"), ("keep", "k")],
            &[("x", "1")],
        ),
        t0,
    )
    .await;

    let patch = BTreeMap::from([
        ("a".to_owned(), None),
        ("b".to_owned(), Some("20".to_owned())),
        ("c".to_owned(), Some("3".to_owned())),
        ("never-there".to_owned(), None),
    ]);
    let updated = ok(
        "update_conversation_metadata",
        store.update_conversation_metadata(&org, &id, &patch).await,
    )
    .expect("exists");
    let expected = ConversationRecord {
        metadata: strings(&[("b", "20"), ("c", "3"), ("keep", "k")]),
        ..record.clone()
    };
    assert_eq!(
        updated, expected,
        "given keys overwrite, None removes, others stay"
    );
    assert_eq!(get(store, &org, &id).await.as_ref(), Some(&expected));
    assert_eq!(
        ok(
            "update_conversation_metadata",
            store
                .update_conversation_metadata(&org, &unique("missing"), &patch)
                .await
        ),
        None
    );
    let unchanged = ok(
        "update_conversation_metadata",
        store
            .update_conversation_metadata(&org, &id, &BTreeMap::new())
            .await,
    );
    assert_eq!(
        unchanged.as_ref(),
        Some(&expected),
        "an empty merge changes nothing"
    );

    assert!(ok(
        "update_conversation_variables",
        store
            .update_conversation_variables(&org, &id, &strings(&[("x", "10"), ("y", "2")]))
            .await
    ));
    assert_eq!(
        get(store, &org, &id)
            .await
            .map(|r| (r.variables, r.metadata)),
        Some((
            strings(&[("x", "10"), ("y", "2")]),
            expected.metadata.clone()
        )),
        "variables merge; metadata untouched"
    );
    assert!(!ok(
        "update_conversation_variables",
        store
            .update_conversation_variables(&org, &unique("missing"), &strings(&[("x", "1")]))
            .await
    ));
}

async fn delete_takes_the_messages(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "conv-delete", t0).await;
    let id = unique("conv");
    let new = start(Some("Doomed"), &[], &[]);
    append(
        store,
        &org,
        &id,
        Some(&new),
        &[user("a"), user("b"), user("c")],
        t0 + secs(1),
    )
    .await
    .expect("created");
    assert!(ok(
        "delete_conversation",
        store.delete_conversation(&org, &id).await
    ));
    assert_eq!(get(store, &org, &id).await, None, "deleted");
    assert_eq!(page(store, &org, &id, 0, None).await, None, "no messages");
    assert_eq!(history(store, &org, &id, 10).await, None, "no history");
    assert!(
        !ok(
            "delete_conversation",
            store.delete_conversation(&org, &id).await
        ),
        "a second delete finds nothing"
    );

    // The id starts afresh: no message of the deleted conversation survived.
    let again = append(store, &org, &id, Some(&new), &[user("new")], t0 + secs(2))
        .await
        .expect("created again");
    assert_eq!(again.created_at, t0 + secs(2));
    let messages = all_messages(store, &org, &id).await;
    assert_eq!(seqs(&messages), vec![1], "numbering restarts");
    assert_eq!(messages[0].text, "new");
}

// ---------------------------------------------------------------------------------------
// The list query
// ---------------------------------------------------------------------------------------

fn text(value: &str) -> FilterValue {
    FilterValue::Text(value.to_owned())
}

fn time(at: DateTime<Utc>) -> FilterValue {
    FilterValue::Time(at)
}

fn meta(key: &str) -> Field {
    Field::Metadata(key.to_owned())
}

fn is(field: Field, op: Op) -> Condition {
    Condition::Compare {
        field,
        op,
        negated: false,
    }
}

fn not(field: Field, op: Op) -> Condition {
    Condition::Compare {
        field,
        op,
        negated: true,
    }
}

/// A conversation of the list fixture: label, name, metadata, seconds after `t0` it was
/// created at and its last message was appended at (`None`: it has no message).
type FixtureRow = (
    &'static str,
    Option<&'static str>,
    Vec<(&'static str, &'static str)>,
    i64,
    Option<i64>,
);

/// The fixture of the list checks: five conversations, `c1`…`c5`, in one organization.
struct Listing {
    org: OrgId,
    base: String,
}

impl Listing {
    fn id(&self, label: &str) -> String {
        format!("{}-{label}", self.base)
    }

    /// Runs `query`; the labels of what it returned, in order.
    async fn run(&self, store: &Arc<dyn Store>, query: &ConversationQuery) -> Vec<String> {
        let prefix = format!("{}-", self.base);
        ok(
            "list_conversations",
            store.list_conversations(&self.org, query).await,
        )
        .into_iter()
        .map(|r| {
            r.id.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{} is not of this listing", r.id))
                .to_owned()
        })
        .collect()
    }

    /// Checks that `conditions` select exactly `expected` (by label).
    async fn check(
        &self,
        store: &Arc<dyn Store>,
        what: &str,
        conditions: Vec<Condition>,
        expected: &[&str],
    ) {
        let query = ConversationQuery {
            conditions,
            order: vec![(Field::Id, Direction::Asc)],
            limit: 1000,
        };
        let found: BTreeSet<String> = self.run(store, &query).await.into_iter().collect();
        let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(found, expected, "filter {what}");
    }

    /// Checks that `order` (and `limit`) return exactly `expected`, in order.
    async fn check_order(
        &self,
        store: &Arc<dyn Store>,
        what: &str,
        order: Vec<(Field, Direction)>,
        limit: u32,
        expected: &[&str],
    ) {
        let query = ConversationQuery {
            conditions: vec![],
            order,
            limit,
        };
        assert_eq!(self.run(store, &query).await, expected, "order {what}");
    }
}

async fn list_query(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "conv-list", t0).await;
    let listing = Listing {
        org: org.clone(),
        base: unique("conv"),
    };
    let at = |n: i64| t0 + secs(n);
    let fixture: [FixtureRow; 5] = [
        ("c5", Some("alphabet"), vec![], 14, Some(25)),
        (
            "c3",
            None,
            vec![("assistant_id", "a1"), ("channel", "WEB_CHAT")],
            12,
            Some(30),
        ),
        (
            "c1",
            Some("Alpha bot"),
            vec![
                ("assistant_id", "a1"),
                ("channel", "web_chat"),
                ("dot.key", "d1"),
                ("quo\"te", "q1"),
                ("$.assistant_id", "path-lookalike"),
            ],
            10,
            Some(20),
        ),
        (
            "c4",
            Some("Gamma [x]?"),
            vec![("assistant_id", "a3"), ("it's $.x", "odd"), ("rank", "b")],
            13,
            None,
        ),
        (
            "c2",
            Some("beta"),
            vec![
                ("assistant_id", "a2"),
                ("channel", "sms_chat"),
                ("dot.key", "d2"),
                ("path", "a\\b"),
                ("rank", "b"),
            ],
            11,
            Some(15),
        ),
    ];
    // Created out of id order, so that only the tie-break orders ties by id.
    for (label, name, metadata, created, last) in &fixture {
        let id = listing.id(label);
        create_new(store, &org, &id, &start(*name, metadata, &[]), at(*created)).await;
        if let Some(last) = last {
            append(store, &org, &id, None, &[user(label)], at(*last))
                .await
                .expect("exists");
        }
    }
    // Another organization's look-alike never shows.
    let other = new_org(store, "conv-list-other", t0).await;
    create_new(
        store,
        &other,
        &listing.id("c1"),
        &start(Some("Alpha bot"), &[("assistant_id", "a1")], &[]),
        at(10),
    )
    .await;

    let all = ["c1", "c2", "c3", "c4", "c5"];
    let l = &listing;

    // No condition.
    l.check(store, "none", vec![], &all).await;

    // eq / neq on text: a NULL name matches neither.
    l.check(
        store,
        "name eq",
        vec![is(Field::Name, Op::Eq(text("beta")))],
        &["c2"],
    )
    .await;
    l.check(
        store,
        "name eq is case-sensitive",
        vec![is(Field::Name, Op::Eq(text("BETA")))],
        &[],
    )
    .await;
    l.check(
        store,
        "id eq",
        vec![is(Field::Id, Op::Eq(text(&l.id("c3"))))],
        &["c3"],
    )
    .await;
    l.check(
        store,
        "name neq (NULL excluded)",
        vec![is(Field::Name, Op::Neq(text("beta")))],
        &["c1", "c4", "c5"],
    )
    .await;
    l.check(
        store,
        "name not.eq (NULL excluded)",
        vec![not(Field::Name, Op::Eq(text("beta")))],
        &["c1", "c4", "c5"],
    )
    .await;
    l.check(
        store,
        "name eq nobody",
        vec![is(Field::Name, Op::Eq(text("nobody")))],
        &[],
    )
    .await;

    // Ordered comparisons on text: by code point ("Alpha bot" < "Gamma [x]?" < "alphabet" < "beta").
    l.check(
        store,
        "name gt",
        vec![is(Field::Name, Op::Gt(text("Gamma")))],
        &["c4", "c5", "c2"],
    )
    .await;
    l.check(
        store,
        "name gte",
        vec![is(Field::Name, Op::Gte(text("alphabet")))],
        &["c5", "c2"],
    )
    .await;
    l.check(
        store,
        "name lt",
        vec![is(Field::Name, Op::Lt(text("alpha")))],
        &["c1", "c4"],
    )
    .await;
    l.check(
        store,
        "name lte",
        vec![is(Field::Name, Op::Lte(text("beta")))],
        &["c1", "c2", "c4", "c5"],
    )
    .await;

    // Times.
    l.check(
        store,
        "created_at eq",
        vec![is(Field::CreatedAt, Op::Eq(time(at(12))))],
        &["c3"],
    )
    .await;
    l.check(
        store,
        "created_at neq",
        vec![is(Field::CreatedAt, Op::Neq(time(at(12))))],
        &["c1", "c2", "c4", "c5"],
    )
    .await;
    l.check(
        store,
        "created_at gt",
        vec![is(Field::CreatedAt, Op::Gt(time(at(12))))],
        &["c4", "c5"],
    )
    .await;
    l.check(
        store,
        "created_at gte",
        vec![is(Field::CreatedAt, Op::Gte(time(at(12))))],
        &["c3", "c4", "c5"],
    )
    .await;
    l.check(
        store,
        "created_at lt",
        vec![is(Field::CreatedAt, Op::Lt(time(at(11))))],
        &["c1"],
    )
    .await;
    l.check(
        store,
        "created_at lte",
        vec![is(Field::CreatedAt, Op::Lte(time(at(11))))],
        &["c1", "c2"],
    )
    .await;
    l.check(
        store,
        "created_at gt by a microsecond",
        vec![is(
            Field::CreatedAt,
            Op::Gt(time(at(12) - chrono::Duration::microseconds(1))),
        )],
        &["c3", "c4", "c5"],
    )
    .await;
    l.check(
        store,
        "created_at not.gt",
        vec![not(Field::CreatedAt, Op::Gt(time(at(12))))],
        &["c1", "c2", "c3"],
    )
    .await;
    l.check(
        store,
        "created_at in",
        vec![is(
            Field::CreatedAt,
            Op::In(vec![time(at(10)), time(at(14))]),
        )],
        &["c1", "c5"],
    )
    .await;
    l.check(
        store,
        "last_message_at gt",
        vec![is(Field::LastMessageAt, Op::Gt(time(at(20))))],
        &["c3", "c5"],
    )
    .await;
    l.check(
        store,
        "last_message_at eq creation when no message",
        vec![is(Field::LastMessageAt, Op::Eq(time(at(13))))],
        &["c4"],
    )
    .await;
    l.check(
        store,
        "a time range",
        vec![
            is(Field::LastMessageAt, Op::Gte(time(at(15)))),
            is(Field::LastMessageAt, Op::Lt(time(at(25)))),
        ],
        &["c1", "c2"],
    )
    .await;

    // like / ilike: `*` and `%` any run, `_` one character; other characters literal.
    l.check(
        store,
        "like *bot*",
        vec![is(Field::Name, Op::Like("*bot*".into()))],
        &["c1"],
    )
    .await;
    l.check(
        store,
        "like is case-sensitive",
        vec![is(Field::Name, Op::Like("alpha*".into()))],
        &["c5"],
    )
    .await;
    l.check(
        store,
        "ilike is not",
        vec![is(Field::Name, Op::Ilike("ALPHA*".into()))],
        &["c1", "c5"],
    )
    .await;
    l.check(
        store,
        "like %",
        vec![is(Field::Name, Op::Like("%eta".into()))],
        &["c2"],
    )
    .await;
    l.check(
        store,
        "like _",
        vec![is(Field::Name, Op::Like("b_ta".into()))],
        &["c2"],
    )
    .await;
    l.check(
        store,
        "like _ is one character",
        vec![is(Field::Name, Op::Like("b_a".into()))],
        &[],
    )
    .await;
    l.check(
        store,
        "like with literal brackets and question mark",
        vec![is(Field::Name, Op::Like("Gamma [x]?".into()))],
        &["c4"],
    )
    .await;
    l.check(
        store,
        "a literal question mark is not a wildcard",
        vec![is(Field::Name, Op::Like("bet?".into()))],
        &[],
    )
    .await;
    l.check(
        store,
        "nor is a bracket class",
        vec![is(Field::Name, Op::Like("[ab]eta".into()))],
        &[],
    )
    .await;
    l.check(
        store,
        "brackets are not a class",
        vec![is(Field::Name, Op::Like("Gamma x*".into()))],
        &[],
    )
    .await;
    l.check(
        store,
        "ilike with brackets",
        vec![is(Field::Name, Op::Ilike("gamma [X]_".into()))],
        &["c4"],
    )
    .await;
    l.check(
        store,
        "not.like (NULL excluded)",
        vec![not(Field::Name, Op::Like("*bot*".into()))],
        &["c2", "c4", "c5"],
    )
    .await;
    l.check(
        store,
        "metadata like",
        vec![is(meta("channel"), Op::Like("web*".into()))],
        &["c1"],
    )
    .await;
    l.check(
        store,
        "metadata ilike",
        vec![is(meta("channel"), Op::Ilike("*CHAT".into()))],
        &["c1", "c2", "c3"],
    )
    .await;
    l.check(
        store,
        "a backslash is literal",
        vec![is(meta("path"), Op::Like("a\\*".into()))],
        &["c2"],
    )
    .await;
    l.check(
        store,
        "a backslash is literal (exact)",
        vec![is(meta("path"), Op::Like("a\\b".into()))],
        &["c2"],
    )
    .await;

    // in.
    l.check(
        store,
        "id in",
        vec![is(
            Field::Id,
            Op::In(vec![text(&l.id("c1")), text(&l.id("c3")), text("nope")]),
        )],
        &["c1", "c3"],
    )
    .await;
    l.check(
        store,
        "name in",
        vec![is(
            Field::Name,
            Op::In(vec![text("beta"), text("alphabet")]),
        )],
        &["c2", "c5"],
    )
    .await;

    // Metadata.
    let assistant = || meta("assistant_id");
    l.check(
        store,
        "metadata eq",
        vec![is(assistant(), Op::Eq(text("a1")))],
        &["c1", "c3"],
    )
    .await;
    l.check(
        store,
        "metadata neq (absent key excluded)",
        vec![is(assistant(), Op::Neq(text("a1")))],
        &["c2", "c4"],
    )
    .await;
    l.check(
        store,
        "metadata in",
        vec![is(assistant(), Op::In(vec![text("a2"), text("a3")]))],
        &["c2", "c4"],
    )
    .await;
    l.check(
        store,
        "metadata not.in",
        vec![not(assistant(), Op::In(vec![text("a2"), text("a3")]))],
        &["c1", "c3"],
    )
    .await;
    l.check(
        store,
        "metadata gt",
        vec![is(assistant(), Op::Gt(text("a1")))],
        &["c2", "c4"],
    )
    .await;
    l.check(
        store,
        "metadata lte",
        vec![is(assistant(), Op::Lte(text("a2")))],
        &["c1", "c2", "c3"],
    )
    .await;
    l.check(
        store,
        "metadata is.null",
        vec![is(assistant(), Op::IsNull)],
        &["c5"],
    )
    .await;
    l.check(
        store,
        "metadata not.is.null",
        vec![not(assistant(), Op::IsNull)],
        &["c1", "c2", "c3", "c4"],
    )
    .await;
    l.check(
        store,
        "name is.null",
        vec![is(Field::Name, Op::IsNull)],
        &["c3"],
    )
    .await;
    l.check(
        store,
        "name not.is.null",
        vec![not(Field::Name, Op::IsNull)],
        &["c1", "c2", "c4", "c5"],
    )
    .await;
    l.check(
        store,
        "a key with a dot",
        vec![is(meta("dot.key"), Op::Eq(text("d1")))],
        &["c1"],
    )
    .await;
    l.check(
        store,
        "a key with a dot, is.null",
        vec![is(meta("dot.key"), Op::IsNull)],
        &["c3", "c4", "c5"],
    )
    .await;
    l.check(
        store,
        "a key with a quote",
        vec![is(meta("quo\"te"), Op::Eq(text("q1")))],
        &["c1"],
    )
    .await;
    l.check(
        store,
        "a key with an apostrophe and a path",
        vec![is(meta("it's $.x"), Op::Eq(text("odd")))],
        &["c4"],
    )
    .await;
    l.check(
        store,
        "a key that looks like a path is a key",
        vec![is(meta("$.assistant_id"), Op::Eq(text("a1")))],
        &[],
    )
    .await;
    l.check(
        store,
        "a key that looks like a path, exact",
        vec![is(meta("$.assistant_id"), Op::Eq(text("path-lookalike")))],
        &["c1"],
    )
    .await;
    l.check(
        store,
        "a value that looks like SQL is a value",
        vec![is(assistant(), Op::Eq(text("a1' or '1'='1")))],
        &[],
    )
    .await;
    l.check(
        store,
        "an absent key",
        vec![is(meta("nope"), Op::Eq(text("x")))],
        &[],
    )
    .await;

    // Conditions combine: top level and, or, nested and.
    l.check(
        store,
        "and at the top",
        vec![
            is(assistant(), Op::Eq(text("a1"))),
            is(Field::CreatedAt, Op::Gt(time(at(10)))),
        ],
        &["c3"],
    )
    .await;
    l.check(
        store,
        "or",
        vec![Condition::Or(vec![
            is(Field::Name, Op::Eq(text("beta"))),
            is(assistant(), Op::Eq(text("a3"))),
        ])],
        &["c2", "c4"],
    )
    .await;
    l.check(
        store,
        "or with a nested and",
        vec![Condition::Or(vec![
            Condition::And(vec![
                is(assistant(), Op::Eq(text("a1"))),
                is(Field::Name, Op::IsNull),
            ]),
            is(Field::Name, Op::Eq(text("alphabet"))),
        ])],
        &["c3", "c5"],
    )
    .await;
    l.check(
        store,
        "or inside or, with negations",
        vec![Condition::Or(vec![
            Condition::Or(vec![not(Field::Name, Op::Like("*a*".into()))]),
            not(Field::CreatedAt, Op::Lt(time(at(14)))),
        ])],
        &["c5"],
    )
    .await;
    l.check(
        store,
        "or and a top-level condition",
        vec![
            Condition::Or(vec![
                is(meta("channel"), Op::Ilike("web*".into())),
                is(meta("rank"), Op::Eq(text("b"))),
            ]),
            not(assistant(), Op::Eq(text("a3"))),
        ],
        &["c1", "c2", "c3"],
    )
    .await;

    // Ordering, ties by id ascending, limit.
    l.check_order(
        store,
        "default",
        ConversationQuery::default().order,
        100,
        &["c5", "c4", "c3", "c2", "c1"],
    )
    .await;
    l.check_order(
        store,
        "last_message_at asc",
        vec![(Field::LastMessageAt, Direction::Asc)],
        100,
        &["c4", "c2", "c1", "c5", "c3"],
    )
    .await;
    l.check_order(
        store,
        "last_message_at desc",
        vec![(Field::LastMessageAt, Direction::Desc)],
        100,
        &["c3", "c5", "c1", "c2", "c4"],
    )
    .await;
    l.check_order(
        store,
        "metadata asc: ties by id, absent last",
        vec![(assistant(), Direction::Asc)],
        100,
        &["c1", "c3", "c2", "c4", "c5"],
    )
    .await;
    l.check_order(
        store,
        "metadata desc: absent first, ties by id",
        vec![(assistant(), Direction::Desc)],
        100,
        &["c5", "c4", "c2", "c1", "c3"],
    )
    .await;
    l.check_order(
        store,
        "metadata, then created_at desc",
        vec![
            (assistant(), Direction::Desc),
            (Field::CreatedAt, Direction::Desc),
        ],
        100,
        &["c5", "c4", "c2", "c3", "c1"],
    )
    .await;
    l.check_order(
        store,
        "all tied: by id",
        vec![(meta("rank"), Direction::Asc)],
        100,
        &["c2", "c4", "c1", "c3", "c5"],
    )
    .await;
    l.check_order(
        store,
        "name asc, by code point, NULL last",
        vec![(Field::Name, Direction::Asc)],
        100,
        &["c1", "c4", "c5", "c2", "c3"],
    )
    .await;
    l.check_order(
        store,
        "id desc",
        vec![(Field::Id, Direction::Desc)],
        100,
        &["c5", "c4", "c3", "c2", "c1"],
    )
    .await;
    l.check_order(
        store,
        "limit",
        ConversationQuery::default().order,
        2,
        &["c5", "c4"],
    )
    .await;
    l.check_order(
        store,
        "limit 1",
        vec![(Field::LastMessageAt, Direction::Asc)],
        1,
        &["c4"],
    )
    .await;
    let filtered = ConversationQuery {
        conditions: vec![is(assistant(), Op::Eq(text("a1")))],
        order: vec![(Field::CreatedAt, Direction::Desc)],
        limit: 1,
    };
    assert_eq!(
        l.run(store, &filtered).await,
        vec!["c3"],
        "filter, order and limit"
    );
}

async fn concurrent_creates_and_appends(store: &Arc<dyn Store>, t0: DateTime<Utc>) {
    let org = new_org(store, "conv-race", t0).await;

    // Ten creates of one id: one creates, the others find it.
    let id = unique("conv-create");
    let outcomes = concurrently(10, |i| {
        let (store, org, id) = (store.clone(), org.clone(), id.clone());
        async move {
            let new = start(Some(&format!("creator {i}")), &[], &[]);
            ok(
                "create_conversation",
                store.create_conversation(&org, &id, &new, t0).await,
            )
        }
    })
    .await;
    let created: Vec<&ConversationRecord> = outcomes
        .iter()
        .filter_map(|o| match o {
            CreateConversationOutcome::Created(r) => Some(r),
            CreateConversationOutcome::Exists(_) => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "exactly one concurrent create creates");
    for outcome in &outcomes {
        if let CreateConversationOutcome::Exists(r) = outcome {
            assert_eq!(r, created[0], "the others see the one created");
        }
    }

    // Twenty first turns of two messages each on one new id: every one lands, in one piece.
    let id = unique("conv-append");
    let at = t0 + secs(100);
    let results = concurrently(20, |i| {
        let (store, org, id) = (store.clone(), org.clone(), id.clone());
        async move {
            let new = start(None, &[("assistant_id", "a1")], &[]);
            let turn = [
                user(&format!("{i}-question")),
                NewMessage::new(MessageRole::Assistant, format!("{i}-answer")),
            ];
            store
                .append_messages(&org, &id, Some(&new), &turn, at)
                .await
        }
    })
    .await;
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(Some(record)) => assert_eq!(record.id, id),
            Ok(None) => panic!("concurrent append {i} found no conversation"),
            Err(e) => panic!("concurrent append {i} failed: {e}"),
        }
    }
    let messages = all_messages(store, &org, &id).await;
    assert_eq!(
        seqs(&messages),
        (1..=40).collect::<Vec<_>>(),
        "40 messages, seq 1..=40"
    );
    let mut turns = BTreeSet::new();
    for pair in messages.chunks(2) {
        let task = pair[0].text.strip_suffix("-question").unwrap_or_else(|| {
            panic!("seq {} should open a turn: {:?}", pair[0].seq, pair[0].text)
        });
        assert_eq!(pair[0].role, MessageRole::User);
        assert_eq!(
            pair[1].text,
            format!("{task}-answer"),
            "a turn's messages are adjacent"
        );
        assert!(turns.insert(task.to_owned()), "turn {task} stored once");
    }
    assert_eq!(turns.len(), 20, "every turn landed");
    assert_eq!(
        get(store, &org, &id).await.map(|r| r.last_message_at),
        Some(at)
    );
}
