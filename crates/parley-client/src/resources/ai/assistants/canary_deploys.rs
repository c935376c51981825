//! `/ai/assistants/{assistant_id}/canary-deploys`: the assistant's one canary deploy.

use super::assistant_path;
use crate::client::ApiRequest;
use crate::error::Result;
use crate::Client;
use parley_types::canary_deploys::{CanaryDeploy, CanaryDeployParams};

fn canary_path(assistant_id: &str) -> Result<String> {
    Ok(format!("{}/canary-deploys", assistant_path(assistant_id)?))
}

/// The canary deploy of an assistant (one per assistant, addressed by the assistant id).
#[derive(Debug)]
pub struct CanaryDeploys<'a> {
    client: &'a Client,
}

impl<'a> CanaryDeploys<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `POST …/canary-deploys`: creates or replaces the canary deploy.
    pub async fn create(
        &self,
        assistant_id: &str,
        params: &CanaryDeployParams,
    ) -> Result<CanaryDeploy> {
        let request = ApiRequest::post(canary_path(assistant_id)?).body(params)?;
        self.client.json(request).await
    }

    /// `GET …/canary-deploys` (404 when there is none).
    pub async fn retrieve(&self, assistant_id: &str) -> Result<CanaryDeploy> {
        self.client
            .json(ApiRequest::get(canary_path(assistant_id)?))
            .await
    }

    /// `PUT …/canary-deploys`: replaces every rule.
    pub async fn update(
        &self,
        assistant_id: &str,
        params: &CanaryDeployParams,
    ) -> Result<CanaryDeploy> {
        let request = ApiRequest::put(canary_path(assistant_id)?).body(params)?;
        self.client.json(request).await
    }

    /// `DELETE …/canary-deploys`: all traffic goes to the main version again.
    pub async fn delete(&self, assistant_id: &str) -> Result<()> {
        self.client
            .empty(ApiRequest::delete(canary_path(assistant_id)?))
            .await
    }
}
