//! Get assistant texml — `GET /ai/assistants/{assistant_id}/texml`.
//!
//! `cargo run -p parley-client --example get_texml -- ASSISTANT_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   response = telnyx.ai.assistants.get_texml("assistant_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());

    let response = telnyx.ai().assistants().get_texml(&assistant_id).await?;
    println!("{response}");
    Ok(())
}
