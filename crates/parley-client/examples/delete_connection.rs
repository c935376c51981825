//! Delete Integration Connection — `DELETE /ai/integrations/connections/{user_connection_id}`.
//!
//! `cargo run -p parley-client --example delete_connection -- USER_CONNECTION_ID`

// Ruby:
//   telnyx = Telnyx::Client.new(api_key: "My API Key")
//   result = telnyx.ai.integrations.connections.delete("user_connection_id")

use parley_client::Client;
use std::env::args;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telnyx = Client::from_env()?;
    let user_connection_id = args().nth(1).unwrap_or_else(|| "user_connection_id".into());

    telnyx
        .ai()
        .integrations()
        .connections()
        .delete(&user_connection_id)
        .await?;
    println!("deleted connection {user_connection_id}");
    Ok(())
}
