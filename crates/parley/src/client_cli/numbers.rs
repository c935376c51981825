//! `parley numbers …`: which assistant answers texts to a phone number (Parley's
//! `/ai/phone_numbers`; Telnyx has no such endpoint).

use super::{Output, Paging, Printer};
use clap::Subcommand;
use futures::TryStreamExt;
use parley_client::types::messaging::{PhoneNumberAssignParams, PhoneNumberAssignment};
use parley_client::types::PageParams;
use parley_client::Client;
use serde_json::json;

/// `parley numbers …`
#[derive(Debug, Subcommand)]
pub enum NumbersCommand {
    /// List the assigned numbers.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one number's assignment.
    Get {
        /// The number (E.164).
        phone_number: String,
    },
    /// Have an assistant answer texts to a number (moves it from another assistant).
    Assign {
        /// The number (E.164).
        phone_number: String,
        /// Assistant id.
        assistant_id: String,
    },
    /// Stop answering texts to a number.
    Delete {
        /// The number (E.164).
        phone_number: String,
    },
}

const COLUMNS: &[&str] = &["phone_number", "assistant_id", "created_at", "updated_at"];

/// Runs `parley numbers …`.
pub async fn run(client: &Client, out: &Printer, command: NumbersCommand) -> anyhow::Result<()> {
    let numbers = client.ai().phone_numbers();
    match command {
        NumbersCommand::List { paging } => {
            let params = PageParams {
                page_number: paging.page,
                page_size: paging.page_size,
            };
            let items: Vec<PhoneNumberAssignment> = if paging.page.is_some() {
                numbers.list_with(&params).await?.data
            } else {
                numbers.list_all(&params).try_collect().await?
            };
            out.list(&items, COLUMNS)
        }
        NumbersCommand::Get { phone_number } => {
            out.details(&numbers.retrieve(&phone_number).await?, COLUMNS)
        }
        NumbersCommand::Assign {
            phone_number,
            assistant_id,
        } => {
            let assigned = numbers
                .assign(&PhoneNumberAssignParams {
                    phone_number,
                    assistant_id,
                })
                .await?;
            if out.output == Output::Json {
                return out.json(&assigned);
            }
            out.details(&assigned, COLUMNS)
        }
        NumbersCommand::Delete { phone_number } => {
            numbers.delete(&phone_number).await?;
            out.done(
                &json!({"phone_number": phone_number, "deleted": true}),
                &format!("{phone_number} is no longer assigned"),
            )
        }
    }
}
