//! Soft-deleted assistants: `GET /ai/assistants/deleted` (paginated) and
//! `GET /ai/assistants/{assistant_id}/deleted`. Restore with
//! [`Assistants::restore`](super::Assistants::restore).

use super::assistant_path;
use crate::client::ApiRequest;
use crate::error::Result;
use crate::pagination::{next_page, paginate};
use crate::Client;
use futures::stream::BoxStream;
use parley_types::assistants::DeletedAssistant;
use parley_types::{Page, PageParams};

/// Assistants deleted in the last 30 days.
#[derive(Debug)]
pub struct DeletedAssistants<'a> {
    client: &'a Client,
}

impl<'a> DeletedAssistants<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET /ai/assistants/deleted`: the first page (20 per page).
    pub async fn list(&self) -> Result<Page<DeletedAssistant>> {
        self.list_with(&PageParams::default()).await
    }

    /// `GET /ai/assistants/deleted` with `page[number]`/`page[size]`.
    pub async fn list_with(&self, params: &PageParams) -> Result<Page<DeletedAssistant>> {
        let request = ApiRequest::get("ai/assistants/deleted".into()).query(params)?;
        self.client.json(request).await
    }

    /// Every soft-deleted assistant, page after page, starting from `params`' page.
    pub fn list_all(&self, params: &PageParams) -> BoxStream<'static, Result<DeletedAssistant>> {
        let client = self.client.clone();
        let params = *params;
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            async move {
                let params = PageParams {
                    page_number: Some(page),
                    ..params
                };
                let page = client
                    .ai()
                    .assistants()
                    .deleted()
                    .list_with(&params)
                    .await?;
                let next = next_page(page.data.len(), Some(&page.meta));
                Ok((page.data, next))
            }
        })
    }

    /// `GET /ai/assistants/{assistant_id}/deleted`.
    pub async fn retrieve(&self, assistant_id: &str) -> Result<DeletedAssistant> {
        let path = format!("{}/deleted", assistant_path(assistant_id)?);
        self.client.json(ApiRequest::get(path)).await
    }
}
