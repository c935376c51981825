//! Delete Canary Deploy — `DELETE /ai/assistants/{assistant_id}/canary-deploys`.
//!
//! `cargo run -p parley-client --example delete_canary_deploy -- ASSISTANT_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   result = telnyx.ai.assistants.canary_deploys.delete("assistant_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let assistant_id = args().nth(1).unwrap_or_else(|| "assistant_id".into());

    telnyx
        .ai()
        .assistants()
        .canary_deploys()
        .delete(&assistant_id)
        .await?;
    println!("deleted the canary deploy of {assistant_id}");
    Ok(())
}
