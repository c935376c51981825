//! Conversations — `/ai/conversations`: an imported conversation created, filled, tagged and
//! deleted; an assistant's conversations listed with PostgREST filters; every message of one.
//!
//! `cargo run -p parley-client --example conversations -- ASSISTANT_ID`

// The Ruby guide has no conversations section; the Python SDK spells the list
//   client.ai.conversations.list(extra_query={"metadata->assistant_id": "eq.assistant_id"})

use futures::TryStreamExt;
use parley_client::resources::ai::conversations::ConversationListParams;
use parley_client::types::conversations::{
    ConversationCreateParams, ConversationMessage, ConversationUpdateParams, MessageCreateParams,
};
use parley_client::types::PageParams;
use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let conversations = telnyx.ai().conversations();

    // A conversation from elsewhere, stored without asking the assistant anything.
    let imported = conversations
        .create(&ConversationCreateParams {
            name: Some("Imported chat".into()),
            metadata: Some([("source".to_owned(), "crm".to_owned())].into()),
            ..Default::default()
        })
        .await?;
    conversations
        .add_message(
            &imported.id,
            &MessageCreateParams::user("Where is my order?"),
        )
        .await?;
    conversations
        .add_message(
            &imported.id,
            &MessageCreateParams::assistant("It ships tomorrow."),
        )
        .await?;
    conversations
        .update(
            &imported.id,
            &ConversationUpdateParams::default().set("status", "resolved"),
        )
        .await?;

    // The assistant's conversations, most recently active first.
    let recent = conversations
        .list(
            &ConversationListParams::new()
                .assistant_id(&assistant_id)
                .order_by_last_message_at_desc()
                .limit(10),
        )
        .await?;
    print(&recent)?;

    // Every message of the imported conversation, page after page.
    let messages: Vec<ConversationMessage> = conversations
        .messages(&imported.id)
        .list_all(&PageParams::default())
        .try_collect()
        .await?;
    print(&messages)?;

    conversations.delete(&imported.id).await?;
    Ok(())
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
