//! Conversations through the SDK against the real server, on SQLite and on PostgreSQL:
//! create, retrieve, update, delete, list filters, added messages and paginated messages.

mod common;

use common::{assert_api_error, Backend, TestServer};
use futures::TryStreamExt;
use parley_client::resources::ai::conversations::{
    Condition, ConversationField, ConversationListParams, Filter, SortDirection,
};
use parley_client::types::conversations::{
    ConversationCreateParams, ConversationUpdateParams, MessageCreateParams, MessageRole, ToolCall,
};
use parley_client::types::PageParams;
use parley_client::Error;
use serde_json::json;
use std::collections::BTreeMap;

fn metadata(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn ids(list: &[parley_client::types::conversations::Conversation]) -> Vec<&str> {
    list.iter().map(|c| c.id.as_str()).collect()
}

async fn conversations_are_created_read_updated_and_deleted(server: TestServer) {
    let conversations = server.client.ai().conversations();
    let created = conversations
        .create(&ConversationCreateParams {
            name: Some("Support chat".into()),
            metadata: metadata(&[("tier", "gold"), ("region", "eu")]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.id.len(), 36, "{}", created.id);
    assert_eq!(created.name.as_deref(), Some("Support chat"));
    assert_eq!(created.metadata["tier"], "gold");
    assert!(!created.created_at.is_empty() && !created.last_message_at.is_empty());

    assert_eq!(conversations.retrieve(&created.id).await.unwrap(), created);

    // Merge: set one key, remove another, keep the rest.
    let updated = conversations
        .update(
            &created.id,
            &ConversationUpdateParams::default()
                .set("tier", "platinum")
                .set("topic", "billing")
                .remove("region"),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.metadata,
        metadata(&[("tier", "platinum"), ("topic", "billing")]).unwrap()
    );
    assert_eq!(
        conversations.retrieve(&created.id).await.unwrap().metadata,
        updated.metadata
    );

    let bare = conversations
        .create(&ConversationCreateParams::default())
        .await
        .unwrap();
    assert!(bare.name.is_none() && bare.metadata.is_empty());

    conversations.delete(&created.id).await.unwrap();
    assert_api_error(conversations.retrieve(&created.id).await, 404, "10005");
    assert_api_error(conversations.delete(&created.id).await, 404, "10005");
    assert_api_error(
        conversations
            .update(&created.id, &ConversationUpdateParams::default())
            .await,
        404,
        "10005",
    );
    assert!(matches!(
        conversations.retrieve("").await,
        Err(Error::InvalidArgument(_))
    ));

    // Metadata values must be strings (or numbers and booleans): an object is a 422.
    let bad = ConversationCreateParams {
        extra: json!({"metadata": {"nested": {"a": 1}}})
            .as_object()
            .unwrap()
            .clone(),
        ..Default::default()
    };
    let error = assert_api_error(conversations.create(&bad).await, 422, "10016");
    assert!(error.to_string().contains("/metadata/nested"), "{error}");

    // Another organization's key sees nothing.
    let stranger = server.client_with_key("not-a-key");
    assert_eq!(
        stranger
            .ai()
            .conversations()
            .retrieve(&bare.id)
            .await
            .unwrap_err()
            .status(),
        Some(401)
    );
}

async fn conversations_are_filtered_ordered_and_limited(server: TestServer) {
    let conversations = server.client.ai().conversations();
    let mut created = Vec::new();
    for (name, assistant, tier) in [
        ("Alpha", "assistant-a", "gold"),
        ("Beta", "assistant-a", "silver"),
        ("Gamma", "assistant-b", "gold"),
        ("VIP Delta", "assistant-b", "bronze"),
    ] {
        let conversation = conversations
            .create(&ConversationCreateParams {
                name: Some(name.into()),
                metadata: metadata(&[("assistant_id", assistant), ("tier", tier)]),
                ..Default::default()
            })
            .await
            .unwrap();
        created.push(conversation);
        // Distinct creation times, so the default order (newest first) is defined.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let id = |i: usize| created[i].id.as_str();

    let all = conversations
        .list(&ConversationListParams::new())
        .await
        .unwrap();
    assert_eq!(ids(&all.data), [id(3), id(2), id(1), id(0)]);

    let of_a = conversations
        .list(&ConversationListParams::new().assistant_id("assistant-a"))
        .await
        .unwrap();
    assert_eq!(ids(&of_a.data), [id(1), id(0)]);

    let gold_by_name = conversations
        .list(
            &ConversationListParams::new()
                .metadata("tier", Filter::Eq("gold".into()))
                .order(ConversationField::Name, SortDirection::Asc),
        )
        .await
        .unwrap();
    assert_eq!(ids(&gold_by_name.data), [id(0), id(2)]);

    let either = conversations
        .list(
            &ConversationListParams::new()
                .or([
                    Condition::metadata("tier", Filter::Eq("silver".into())),
                    Condition::field(ConversationField::Name, Filter::Ilike("vip*".into())),
                ])
                .order(ConversationField::CreatedAt, SortDirection::Asc),
        )
        .await
        .unwrap();
    assert_eq!(ids(&either.data), [id(1), id(3)]);

    let not_gold = conversations
        .list(
            &ConversationListParams::new()
                .metadata("tier", Filter::In(vec!["silver".into(), "bronze".into()]))
                .name(Filter::Not(Box::new(Filter::Like("Beta".into())))),
        )
        .await
        .unwrap();
    assert_eq!(ids(&not_gold.data), [id(3)]);

    let since = conversations
        .list(
            &ConversationListParams::new()
                .created_at(Filter::Gte(created[2].created_at.clone()))
                .limit(1),
        )
        .await
        .unwrap();
    assert_eq!(ids(&since.data), [id(3)]);

    // Raw pairs go as they are.
    let raw = conversations
        .list(
            &ConversationListParams::new()
                .pair("metadata->assistant_id", "eq.assistant-b")
                .pair("order", "name.desc"),
        )
        .await
        .unwrap();
    assert_eq!(ids(&raw.data), [id(3), id(2)]);

    let recent = conversations
        .list(
            &ConversationListParams::new()
                .order_by_last_message_at_desc()
                .limit(2),
        )
        .await
        .unwrap();
    assert_eq!(recent.data.len(), 2);

    // A filter the server cannot read is a 400 naming the parameter.
    let error = assert_api_error(
        conversations
            .list(&ConversationListParams::new().pair("created_at", "gte.yesterday"))
            .await,
        400,
        "10003",
    );
    assert!(error.to_string().contains("created_at"), "{error}");
    assert_api_error(
        conversations
            .list(&ConversationListParams::new().limit(0))
            .await,
        400,
        "10003",
    );
}

async fn messages_are_added_and_paginated(server: TestServer) {
    let conversations = server.client.ai().conversations();
    let conversation = conversations
        .create(&ConversationCreateParams::default())
        .await
        .unwrap();
    let id = conversation.id.as_str();

    conversations
        .add_message(
            id,
            &MessageCreateParams {
                name: Some("Ada".into()),
                sent_at: Some("2025-03-01T10:00:00Z".into()),
                metadata: Some(json!({"source": "import"}).as_object().unwrap().clone()),
                ..MessageCreateParams::user("What is the weather?")
            },
        )
        .await
        .unwrap();
    conversations
        .add_message(
            id,
            &MessageCreateParams {
                content: None,
                tool_calls: Some(vec![ToolCall::function(
                    "call-1",
                    "weather",
                    r#"{"city":"Paris"}"#,
                )]),
                ..MessageCreateParams::assistant("")
            },
        )
        .await
        .unwrap();
    conversations
        .add_message(id, &MessageCreateParams::tool("call-1", "Sunny, 21 °C"))
        .await
        .unwrap();
    for i in 0..4 {
        conversations
            .add_message(id, &MessageCreateParams::assistant(format!("reply {i}")))
            .await
            .unwrap();
    }

    let messages = conversations.messages(id);
    let first = messages
        .list(&PageParams {
            page_number: None,
            page_size: Some(3),
        })
        .await
        .unwrap();
    assert_eq!(first.data.len(), 3);
    assert_eq!(
        (
            first.meta.page_number,
            first.meta.total_pages,
            first.meta.total_results
        ),
        (1, 3, 7)
    );
    let user = &first.data[0];
    assert_eq!(user.role, MessageRole::User);
    assert_eq!(user.text, "What is the weather?");
    assert_eq!(user.name.as_deref(), Some("Ada"));
    assert!(user
        .sent_at
        .as_deref()
        .unwrap()
        .starts_with("2025-03-01T10:00:00"));
    assert_eq!(user.metadata["source"], "import");
    let call = &first.data[1].tool_calls.as_ref().unwrap()[0];
    assert_eq!(
        (
            call.id.as_str(),
            call.call_type.as_str(),
            call.function.name.as_str()
        ),
        ("call-1", "function", "weather")
    );
    assert_eq!(first.data[2].role, MessageRole::Tool);
    assert_eq!(first.data[2].tool_call_id.as_deref(), Some("call-1"));

    let page = PageParams {
        page_number: None,
        page_size: Some(2),
    };
    let every: Vec<String> = messages
        .list_all(&page)
        .map_ok(|m| m.text)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(every.len(), 7);
    assert_eq!(&every[3..], ["reply 0", "reply 1", "reply 2", "reply 3"]);
    let from_third_page: Vec<_> = messages
        .list_all(&PageParams {
            page_number: Some(3),
            page_size: Some(2),
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(from_third_page.len(), 3);

    // The server refuses what a tool message lacks, and unknown conversations.
    assert_api_error(
        conversations
            .add_message(
                id,
                &MessageCreateParams::new(MessageRole::Tool, "no call id"),
            )
            .await,
        422,
        "10016",
    );
    assert_api_error(
        conversations
            .add_message("no-such-conversation", &MessageCreateParams::user("hi"))
            .await,
        404,
        "10005",
    );
    let error = conversations
        .messages("no-such-conversation")
        .list_all(&PageParams::default())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
}

on_both_backends!(
    conversations_are_created_read_updated_and_deleted,
    conversations_are_filtered_ordered_and_limited,
    messages_are_added_and_paginated,
);
