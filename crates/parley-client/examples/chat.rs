//! Assistant Chat — `POST /ai/assistants/{assistant_id}/chat`: one turn answered whole, then
//! the next turn of the same conversation streamed token by token.
//!
//! `cargo run -p parley-client --example chat -- ASSISTANT_ID [CONVERSATION_ID]`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   response = telnyx.ai.assistants.chat(
//     "assistant_id",
//     content: "Tell me a joke about cats",
//     conversation_id: "42b20469-1215-4a9a-8964-c36f66b406f4"
//   )
//   puts(response)

use futures::TryStreamExt;
use parley_client::types::chat::AssistantChatParams;
use parley_client::{ChatEvent, Client};
use std::env::args;
use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let conversation_id = args()
        .nth(2)
        .unwrap_or_else(|| "42b20469-1215-4a9a-8964-c36f66b406f4".into());

    let response = telnyx
        .ai()
        .assistants()
        .chat(
            &assistant_id,
            &AssistantChatParams::new("Tell me a joke about cats", &conversation_id),
        )
        .await?;
    print(&response)?;

    // The next turn, streamed: print each piece of the answer as it arrives.
    let mut events = telnyx
        .ai()
        .assistants()
        .chat_stream(
            &assistant_id,
            &AssistantChatParams::new("Another one, please", &conversation_id),
        )
        .await?;
    while let Some(event) = events.try_next().await? {
        match event {
            ChatEvent::Delta(text) => {
                print!("{text}");
                std::io::stdout().flush()?;
            }
            ChatEvent::Done(done) => println!("\n(conversation {})", done.conversation_id),
        }
    }
    Ok(())
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
