//! `/ai/models`: the models the server can answer with.

use crate::client::ApiRequest;
use crate::error::Result;
use crate::Client;
use parley_types::models::ModelList;

/// `/ai/models`.
#[derive(Debug)]
pub struct Models<'a> {
    client: &'a Client,
}

impl<'a> Models<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET /ai/models`: every model an assistant's `model` can name, the default one marked
    /// `recommended_for_assistants`.
    pub async fn list(&self) -> Result<ModelList> {
        self.client.json(ApiRequest::get("ai/models".into())).await
    }
}
