//! `/ai/phone_numbers` (a Parley extension; Telnyx has no such endpoint): which assistant
//! answers texts to a number. A text from someone with no active conversation on an assigned
//! number starts one with its assistant.

use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::pagination::{next_page, paginate};
use crate::Client;
use futures::stream::BoxStream;
use parley_types::messaging::{PhoneNumberAssignParams, PhoneNumberAssignment};
use parley_types::{Page, PageParams};

fn number_path(phone_number: &str) -> Result<String> {
    Ok(format!(
        "ai/phone_numbers/{}",
        segment(phone_number, "phone_number")?
    ))
}

/// The organization's phone-number assignments.
#[derive(Debug)]
pub struct PhoneNumbers<'a> {
    client: &'a Client,
}

impl<'a> PhoneNumbers<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `POST /ai/phone_numbers`: assigns a number to an assistant (or moves it to another).
    pub async fn assign(&self, params: &PhoneNumberAssignParams) -> Result<PhoneNumberAssignment> {
        let request = ApiRequest::post("ai/phone_numbers".into()).body(params)?;
        self.client.json(request).await
    }

    /// `GET /ai/phone_numbers`: the first page, in number order.
    pub async fn list(&self) -> Result<Page<PhoneNumberAssignment>> {
        self.list_with(&PageParams::default()).await
    }

    /// `GET /ai/phone_numbers` with pagination.
    pub async fn list_with(&self, params: &PageParams) -> Result<Page<PhoneNumberAssignment>> {
        let request = ApiRequest::get("ai/phone_numbers".into()).query(params)?;
        self.client.json(request).await
    }

    /// Every assignment, page after page.
    pub fn list_all(
        &self,
        params: &PageParams,
    ) -> BoxStream<'static, Result<PhoneNumberAssignment>> {
        let client = self.client.clone();
        let params = *params;
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            let params = PageParams {
                page_number: Some(page),
                ..params
            };
            async move {
                let page = client.ai().phone_numbers().list_with(&params).await?;
                let next = next_page(page.data.len(), Some(&page.meta));
                Ok((page.data, next))
            }
        })
    }

    /// `GET /ai/phone_numbers/{phone_number}`.
    pub async fn retrieve(&self, phone_number: &str) -> Result<PhoneNumberAssignment> {
        self.client
            .json(ApiRequest::get(number_path(phone_number)?))
            .await
    }

    /// `DELETE /ai/phone_numbers/{phone_number}`: the number is no longer answered by an
    /// assistant (conversations already on it go on).
    pub async fn delete(&self, phone_number: &str) -> Result<()> {
        self.client
            .empty(ApiRequest::delete(number_path(phone_number)?))
            .await
    }
}
