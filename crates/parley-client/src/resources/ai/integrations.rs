//! `/ai/integrations`: the integration catalogue and the organization's connections.

use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::Client;
use parley_types::integrations::{
    Integration, IntegrationConnection, IntegrationConnectionCreateParams,
};
use parley_types::{Data, DataList};

/// The integration catalogue.
#[derive(Debug)]
pub struct Integrations<'a> {
    client: &'a Client,
}

impl<'a> Integrations<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET /ai/integrations`: every integration, with its status for the organization.
    pub async fn list(&self) -> Result<DataList<Integration>> {
        self.client
            .json(ApiRequest::get("ai/integrations".into()))
            .await
    }

    /// `GET /ai/integrations/{integration_id}`.
    pub async fn retrieve(&self, integration_id: &str) -> Result<Integration> {
        let path = format!(
            "ai/integrations/{}",
            segment(integration_id, "integration_id")?
        );
        self.client.json(ApiRequest::get(path)).await
    }

    /// `/ai/integrations/connections`.
    pub fn connections(&self) -> Connections<'a> {
        Connections {
            client: self.client,
        }
    }
}

fn connection_path(connection_id: &str) -> Result<String> {
    Ok(format!(
        "ai/integrations/connections/{}",
        segment(connection_id, "user_connection_id")?
    ))
}

/// The organization's connections to catalogue integrations.
#[derive(Debug)]
pub struct Connections<'a> {
    client: &'a Client,
}

impl Connections<'_> {
    /// `GET /ai/integrations/connections`.
    pub async fn list(&self) -> Result<DataList<IntegrationConnection>> {
        self.client
            .json(ApiRequest::get("ai/integrations/connections".into()))
            .await
    }

    /// `POST /ai/integrations/connections` (a Parley extension; Telnyx connects
    /// integrations in its portal). One connection per integration.
    pub async fn create(
        &self,
        params: &IntegrationConnectionCreateParams,
    ) -> Result<IntegrationConnection> {
        let request = ApiRequest::post("ai/integrations/connections".into()).body(params)?;
        let created: Data<IntegrationConnection> = self.client.json(request).await?;
        Ok(created.data)
    }

    /// `GET /ai/integrations/connections/{user_connection_id}`.
    pub async fn retrieve(&self, connection_id: &str) -> Result<IntegrationConnection> {
        let request = ApiRequest::get(connection_path(connection_id)?);
        let found: Data<IntegrationConnection> = self.client.json(request).await?;
        Ok(found.data)
    }

    /// `DELETE /ai/integrations/connections/{user_connection_id}`.
    pub async fn delete(&self, connection_id: &str) -> Result<()> {
        self.client
            .empty(ApiRequest::delete(connection_path(connection_id)?))
            .await
    }
}
