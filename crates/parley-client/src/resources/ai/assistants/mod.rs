//! `/ai/assistants`: create, list, retrieve, update, delete, clone, import, TeXML, restore,
//! chat, SMS; versions, canary deploys, tags, soft-deleted assistants, tools, scheduled events
//! and tests below.

pub mod canary_deploys;
mod chat;
pub mod deleted;
pub mod scheduled_events;
pub mod tags;
pub mod tests;
pub mod tools;
pub mod versions;

use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::pagination::{next_page, paginate};
use crate::Client;
use futures::stream::BoxStream;
use parley_types::assistants::{
    AssistantCreateParams, AssistantDeleteParams, AssistantDeleteResponse, AssistantRetrieveParams,
    AssistantUpdateParams, AssistantsList, InferenceEmbedding,
};
use parley_types::imports::{AssistantImportParams, ImportFailure, IMPORT_FAILURES_HEADER};
use parley_types::messaging::{AssistantSendSmsParams, AssistantSendSmsResponse};
use parley_types::PageParams;

pub use chat::ChatEvent;

/// The path of one assistant.
pub(crate) fn assistant_path(assistant_id: &str) -> Result<String> {
    Ok(format!(
        "ai/assistants/{}",
        segment(assistant_id, "assistant_id")?
    ))
}

/// `/ai/assistants`.
#[derive(Debug)]
pub struct Assistants<'a> {
    client: &'a Client,
}

impl<'a> Assistants<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET /ai/assistants`: every assistant of the organization.
    pub async fn list(&self) -> Result<AssistantsList> {
        self.list_with(&PageParams::default()).await
    }

    /// `GET /ai/assistants` with `page[number]`/`page[size]` (Parley paginates when asked;
    /// Telnyx ignores them).
    pub async fn list_with(&self, params: &PageParams) -> Result<AssistantsList> {
        let request = ApiRequest::get("ai/assistants".into()).query(params)?;
        self.client.json(request).await
    }

    /// Every assistant, page after page, starting from `params`' page.
    pub fn list_all(&self, params: &PageParams) -> BoxStream<'static, Result<InferenceEmbedding>> {
        let client = self.client.clone();
        let params = *params;
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            async move {
                let params = PageParams {
                    page_number: Some(page),
                    ..params
                };
                let list = client.ai().assistants().list_with(&params).await?;
                let next = next_page(list.data.len(), list.meta.as_ref());
                Ok((list.data, next))
            }
        })
    }

    /// `POST /ai/assistants`.
    pub async fn create(&self, params: &AssistantCreateParams) -> Result<InferenceEmbedding> {
        let request = ApiRequest::post("ai/assistants".into()).body(params)?;
        self.client.json(request).await
    }

    /// `GET /ai/assistants/{assistant_id}`.
    pub async fn retrieve(&self, assistant_id: &str) -> Result<InferenceEmbedding> {
        self.retrieve_with(assistant_id, &AssistantRetrieveParams::default())
            .await
    }

    /// `GET /ai/assistants/{assistant_id}` with the dynamic-variable query parameters.
    pub async fn retrieve_with(
        &self,
        assistant_id: &str,
        params: &AssistantRetrieveParams,
    ) -> Result<InferenceEmbedding> {
        let request = ApiRequest::get(assistant_path(assistant_id)?).query(params)?;
        self.client.json(request).await
    }

    /// `POST /ai/assistants/{assistant_id}`: a partial update that writes a new version.
    pub async fn update(
        &self,
        assistant_id: &str,
        params: &AssistantUpdateParams,
    ) -> Result<InferenceEmbedding> {
        let request = ApiRequest::post(assistant_path(assistant_id)?).body(params)?;
        self.client.json(request).await
    }

    /// `DELETE /ai/assistants/{assistant_id}`: a soft delete, restorable for 30 days.
    pub async fn delete(&self, assistant_id: &str) -> Result<AssistantDeleteResponse> {
        self.delete_with(assistant_id, &AssistantDeleteParams::default())
            .await
    }

    /// `DELETE /ai/assistants/{assistant_id}[?hard_delete=true]`.
    pub async fn delete_with(
        &self,
        assistant_id: &str,
        params: &AssistantDeleteParams,
    ) -> Result<AssistantDeleteResponse> {
        let request = ApiRequest::delete(assistant_path(assistant_id)?).query(params)?;
        self.client.json(request).await
    }

    /// `POST /ai/assistants/{assistant_id}/clone`: a copy named `"<name> (Clone)"`, without
    /// telephony and messaging settings.
    pub async fn clone(&self, assistant_id: &str) -> Result<InferenceEmbedding> {
        let path = format!("{}/clone", assistant_path(assistant_id)?);
        self.client.json(ApiRequest::post(path)).await
    }

    /// `POST /ai/assistants/import`: imports (or re-imports) the agents of an ElevenLabs, Vapi
    /// or Retell account, whose API key the integration secret `api_key_ref` holds.
    pub async fn imports(&self, params: &AssistantImportParams) -> Result<AssistantsList> {
        Ok(self.imports_with_failures(params).await?.assistants)
    }

    /// [`Assistants::imports`], with the agents that were not imported and why (Parley lists
    /// them in the `X-Parley-Import-Failures` response header; other servers never do).
    pub async fn imports_with_failures(
        &self,
        params: &AssistantImportParams,
    ) -> Result<ImportOutcome> {
        let request = ApiRequest::post("ai/assistants/import".into()).body(params)?;
        let (assistants, headers) = self.client.json_with_headers(request).await?;
        let failures = headers
            .get(IMPORT_FAILURES_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        Ok(ImportOutcome {
            assistants,
            failures,
        })
    }

    /// `POST /ai/assistants/{assistant_id}/chat/sms`: the assistant texts `to` from `from`
    /// (the given `text`, or a message it writes).
    pub async fn send_sms(
        &self,
        assistant_id: &str,
        params: &AssistantSendSmsParams,
    ) -> Result<AssistantSendSmsResponse> {
        let path = format!("{}/chat/sms", assistant_path(assistant_id)?);
        let request = ApiRequest::post(path).body(params)?;
        self.client.json(request).await
    }

    /// `GET /ai/assistants/{assistant_id}/texml`: the TeXML document that connects a call to
    /// the assistant (the JSON string the server sends, decoded).
    pub async fn get_texml(&self, assistant_id: &str) -> Result<String> {
        let path = format!("{}/texml", assistant_path(assistant_id)?);
        self.client.text(ApiRequest::get(path)).await
    }

    /// `POST /ai/assistants/{assistant_id}/restore`: undoes a soft delete.
    pub async fn restore(&self, assistant_id: &str) -> Result<InferenceEmbedding> {
        let path = format!("{}/restore", assistant_path(assistant_id)?);
        self.client.json(ApiRequest::post(path)).await
    }

    /// `/ai/assistants/{assistant_id}/versions`.
    pub fn versions(&self) -> versions::Versions<'a> {
        versions::Versions::new(self.client)
    }

    /// `/ai/assistants/{assistant_id}/canary-deploys`.
    pub fn canary_deploys(&self) -> canary_deploys::CanaryDeploys<'a> {
        canary_deploys::CanaryDeploys::new(self.client)
    }

    /// `/ai/assistants/tags` and `/ai/assistants/{assistant_id}/tags`.
    pub fn tags(&self) -> tags::Tags<'a> {
        tags::Tags::new(self.client)
    }

    /// `/ai/assistants/deleted` and `/ai/assistants/{assistant_id}/deleted`.
    pub fn deleted(&self) -> deleted::DeletedAssistants<'a> {
        deleted::DeletedAssistants::new(self.client)
    }

    /// `/ai/assistants/{assistant_id}/tools/{tool_id}`: attaching shared tools, and testing
    /// a webhook tool.
    pub fn tools(&self) -> tools::AssistantTools<'a> {
        tools::AssistantTools::new(self.client)
    }

    /// `/ai/assistants/{assistant_id}/scheduled_events`: texts and calls at a fixed time.
    pub fn scheduled_events(&self) -> scheduled_events::ScheduledEvents<'a> {
        scheduled_events::ScheduledEvents::new(self.client)
    }

    /// `/ai/assistants/tests`: assistant tests, their runs and test suites.
    pub fn tests(&self) -> tests::AssistantTests<'a> {
        tests::AssistantTests::new(self.client)
    }
}

/// What an import did: the assistants imported or updated, and the agents that were not.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOutcome {
    /// The imported (and re-imported) assistants.
    pub assistants: AssistantsList,
    /// The agents that were not imported, with the reason (empty when the server does not
    /// say).
    pub failures: Vec<ImportFailure>,
}
