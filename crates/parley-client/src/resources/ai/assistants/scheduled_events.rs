//! `/ai/assistants/{assistant_id}/scheduled_events`: an assistant texts or calls someone at a
//! fixed time. Events are created, listed (paginated `{data, meta}`), read and deleted (which
//! cancels a pending one).

use super::assistant_path;
use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::pagination::{next_page, paginate};
use crate::Client;
use futures::stream::BoxStream;
use parley_types::scheduled_events::{
    ScheduledEvent, ScheduledEventCreateParams, ScheduledEventListParams,
};
use parley_types::Page;

fn events_path(assistant_id: &str) -> Result<String> {
    Ok(format!(
        "{}/scheduled_events",
        assistant_path(assistant_id)?
    ))
}

fn event_path(assistant_id: &str, event_id: &str) -> Result<String> {
    Ok(format!(
        "{}/{}",
        events_path(assistant_id)?,
        segment(event_id, "event_id")?
    ))
}

/// The scheduled events of an assistant. Methods take the assistant id first, as in the URL.
#[derive(Debug)]
pub struct ScheduledEvents<'a> {
    client: &'a Client,
}

impl<'a> ScheduledEvents<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `POST …/scheduled_events`: a text (`sms_chat`, with `text`) or a call (`phone_call`)
    /// at `scheduled_at_fixed_datetime`.
    pub async fn create(
        &self,
        assistant_id: &str,
        params: &ScheduledEventCreateParams,
    ) -> Result<ScheduledEvent> {
        let request = ApiRequest::post(events_path(assistant_id)?).body(params)?;
        self.client.json(request).await
    }

    /// `GET …/scheduled_events`: the first page.
    pub async fn list(&self, assistant_id: &str) -> Result<Page<ScheduledEvent>> {
        self.list_with(assistant_id, &ScheduledEventListParams::default())
            .await
    }

    /// `GET …/scheduled_events` with pagination and the channel and date filters.
    pub async fn list_with(
        &self,
        assistant_id: &str,
        params: &ScheduledEventListParams,
    ) -> Result<Page<ScheduledEvent>> {
        let request = ApiRequest::get(events_path(assistant_id)?).query(params)?;
        self.client.json(request).await
    }

    /// Every event matching `params`, page after page.
    pub fn list_all(
        &self,
        assistant_id: &str,
        params: &ScheduledEventListParams,
    ) -> BoxStream<'static, Result<ScheduledEvent>> {
        let client = self.client.clone();
        let assistant_id = assistant_id.to_owned();
        let params = params.clone();
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            let assistant_id = assistant_id.clone();
            let params = ScheduledEventListParams {
                page_number: Some(page),
                ..params.clone()
            };
            async move {
                let events = client.ai().assistants().scheduled_events();
                let page = events.list_with(&assistant_id, &params).await?;
                let next = next_page(page.data.len(), Some(&page.meta));
                Ok((page.data, next))
            }
        })
    }

    /// `GET …/scheduled_events/{event_id}`.
    pub async fn retrieve(&self, assistant_id: &str, event_id: &str) -> Result<ScheduledEvent> {
        let request = ApiRequest::get(event_path(assistant_id, event_id)?);
        self.client.json(request).await
    }

    /// `DELETE …/scheduled_events/{event_id}`: deletes the event (a pending one is never
    /// sent).
    pub async fn delete(&self, assistant_id: &str, event_id: &str) -> Result<()> {
        let request = ApiRequest::delete(event_path(assistant_id, event_id)?);
        self.client.empty(request).await
    }
}
