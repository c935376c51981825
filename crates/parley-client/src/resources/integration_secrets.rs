//! `/integration_secrets`: create, list (paginated `{data, meta}`) and delete. Values are
//! write-only.

use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::pagination::{next_page, paginate};
use crate::Client;
use futures::stream::BoxStream;
use parley_types::integration_secrets::{
    IntegrationSecret, IntegrationSecretCreateParams, IntegrationSecretListParams,
};
use parley_types::{Data, Page};

/// The organization's integration secrets.
#[derive(Debug)]
pub struct IntegrationSecrets<'a> {
    client: &'a Client,
}

impl<'a> IntegrationSecrets<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET /integration_secrets`: the first page (20 per page), oldest first.
    pub async fn list(&self) -> Result<Page<IntegrationSecret>> {
        self.list_with(&IntegrationSecretListParams::default())
            .await
    }

    /// `GET /integration_secrets` with `filter[type]` and pagination.
    pub async fn list_with(
        &self,
        params: &IntegrationSecretListParams,
    ) -> Result<Page<IntegrationSecret>> {
        let request = ApiRequest::get("integration_secrets".into()).query(params)?;
        self.client.json(request).await
    }

    /// Every secret matching `params`, page after page.
    pub fn list_all(
        &self,
        params: &IntegrationSecretListParams,
    ) -> BoxStream<'static, Result<IntegrationSecret>> {
        let client = self.client.clone();
        let params = *params;
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            async move {
                let params = IntegrationSecretListParams {
                    page_number: Some(page),
                    ..params
                };
                let page = client.integration_secrets().list_with(&params).await?;
                let next = next_page(page.data.len(), Some(&page.meta));
                Ok((page.data, next))
            }
        })
    }

    /// `POST /integration_secrets`.
    pub async fn create(
        &self,
        params: &IntegrationSecretCreateParams,
    ) -> Result<IntegrationSecret> {
        let request = ApiRequest::post("integration_secrets".into()).body(params)?;
        let created: Data<IntegrationSecret> = self.client.json(request).await?;
        Ok(created.data)
    }

    /// `DELETE /integration_secrets/{id}`.
    pub async fn delete(&self, secret_id: &str) -> Result<()> {
        let path = format!("integration_secrets/{}", segment(secret_id, "id")?);
        self.client.empty(ApiRequest::delete(path)).await
    }
}
