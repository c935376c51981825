//! Assistant Sms Chat — `POST /ai/assistants/{assistant_id}/chat/sms`.
//!
//! `cargo run -p parley-client --example send_sms -- ASSISTANT_ID FROM TO`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   response = telnyx.ai.assistants.send_sms("assistant_id", from: "from", to: "to")

use parley_client::types::messaging::AssistantSendSmsParams;
use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());
    let from = args().nth(2).unwrap_or_else(|| "from".into());
    let to = args().nth(3).unwrap_or_else(|| "to".into());

    let response = telnyx
        .ai()
        .assistants()
        .send_sms(
            &assistant_id,
            &AssistantSendSmsParams {
                from,
                to,
                ..Default::default()
            },
        )
        .await?;
    print(&response)
}

/// Prints a response as JSON, like Ruby's `puts`.
fn print(response: &impl serde::Serialize) -> Result<(), Box<dyn std::error::Error>> {
    println!("{}", serde_json::to_string_pretty(response)?);
    Ok(())
}
