//! `/ai/assistants/tests`: assistant tests (a simulated user talks to an assistant, a judge
//! grades the conversation against a rubric), their runs, and test suites (tests sharing a
//! `test_suite` name, run together).
//!
//! Tests and runs are bare objects; the test list and both run lists are paginated
//! `{data, meta}`; suite names come as `{data: [string]}`; triggering a suite answers a bare
//! array of runs. A run is created `pending` and carried out in the background: poll it
//! ([`TestRuns::retrieve`]) until its status is `passed`, `failed` or `error`.

use crate::client::{segment, ApiRequest};
use crate::error::Result;
use crate::pagination::{next_page, paginate};
use crate::Client;
use futures::stream::BoxStream;
use parley_types::assistant_tests::{
    AssistantTest, RunTriggerParams, TestCreateParams, TestListParams, TestRunListParams,
    TestRunResponse, TestUpdateParams,
};
use parley_types::{DataList, Page};

/// The statuses a run ends in.
pub const FINAL_RUN_STATUSES: &[&str] = &["passed", "failed", "error"];

/// Whether a run has ended ([`FINAL_RUN_STATUSES`]).
pub fn is_finished(run: &TestRunResponse) -> bool {
    FINAL_RUN_STATUSES.contains(&run.status.as_str())
}

fn test_path(test_id: &str) -> Result<String> {
    Ok(format!(
        "ai/assistants/tests/{}",
        segment(test_id, "test_id")?
    ))
}

fn suite_runs_path(suite_name: &str) -> Result<String> {
    Ok(format!(
        "ai/assistants/tests/test-suites/{}/runs",
        segment(suite_name, "suite_name")?
    ))
}

/// Assistant tests.
#[derive(Debug)]
pub struct AssistantTests<'a> {
    client: &'a Client,
}

impl<'a> AssistantTests<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// `GET /ai/assistants/tests`: the first page.
    pub async fn list(&self) -> Result<Page<AssistantTest>> {
        self.list_with(&TestListParams::default()).await
    }

    /// `GET /ai/assistants/tests` with pagination and the destination, channel and suite
    /// filters.
    pub async fn list_with(&self, params: &TestListParams) -> Result<Page<AssistantTest>> {
        let request = ApiRequest::get("ai/assistants/tests".into()).query(params)?;
        self.client.json(request).await
    }

    /// Every test matching `params`, page after page.
    pub fn list_all(&self, params: &TestListParams) -> BoxStream<'static, Result<AssistantTest>> {
        let client = self.client.clone();
        let params = params.clone();
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            let params = TestListParams {
                page_number: Some(page),
                ..params.clone()
            };
            async move {
                let page = client.ai().assistants().tests().list_with(&params).await?;
                let next = next_page(page.data.len(), Some(&page.meta));
                Ok((page.data, next))
            }
        })
    }

    /// `POST /ai/assistants/tests`.
    pub async fn create(&self, params: &TestCreateParams) -> Result<AssistantTest> {
        let request = ApiRequest::post("ai/assistants/tests".into()).body(params)?;
        self.client.json(request).await
    }

    /// `GET /ai/assistants/tests/{test_id}`.
    pub async fn retrieve(&self, test_id: &str) -> Result<AssistantTest> {
        self.client.json(ApiRequest::get(test_path(test_id)?)).await
    }

    /// `PUT /ai/assistants/tests/{test_id}`: a partial update.
    pub async fn update(&self, test_id: &str, params: &TestUpdateParams) -> Result<AssistantTest> {
        let request = ApiRequest::put(test_path(test_id)?).body(params)?;
        self.client.json(request).await
    }

    /// `DELETE /ai/assistants/tests/{test_id}`: deletes the test and its runs.
    pub async fn delete(&self, test_id: &str) -> Result<()> {
        self.client
            .empty(ApiRequest::delete(test_path(test_id)?))
            .await
    }

    /// `/ai/assistants/tests/{test_id}/runs`.
    pub fn runs(&self) -> TestRuns<'a> {
        TestRuns {
            client: self.client,
        }
    }

    /// `/ai/assistants/tests/test-suites`.
    pub fn test_suites(&self) -> TestSuites<'a> {
        TestSuites {
            client: self.client,
        }
    }
}

/// The runs of one test. Methods take the test id first, as in the URL.
#[derive(Debug)]
pub struct TestRuns<'a> {
    client: &'a Client,
}

impl TestRuns<'_> {
    /// `POST /ai/assistants/tests/{test_id}/runs`: starts a run against the destination's
    /// main version.
    pub async fn trigger(&self, test_id: &str) -> Result<TestRunResponse> {
        self.trigger_with(test_id, &RunTriggerParams::default())
            .await
    }

    /// `POST /ai/assistants/tests/{test_id}/runs` with a `destination_version_id`.
    pub async fn trigger_with(
        &self,
        test_id: &str,
        params: &RunTriggerParams,
    ) -> Result<TestRunResponse> {
        let path = format!("{}/runs", test_path(test_id)?);
        let request = ApiRequest::post(path).body(params)?;
        self.client.json(request).await
    }

    /// `GET /ai/assistants/tests/{test_id}/runs`: the first page, newest first.
    pub async fn list(&self, test_id: &str) -> Result<Page<TestRunResponse>> {
        self.list_with(test_id, &TestRunListParams::default()).await
    }

    /// `GET /ai/assistants/tests/{test_id}/runs` with pagination and a status filter.
    pub async fn list_with(
        &self,
        test_id: &str,
        params: &TestRunListParams,
    ) -> Result<Page<TestRunResponse>> {
        let path = format!("{}/runs", test_path(test_id)?);
        let request = ApiRequest::get(path).query(params)?;
        self.client.json(request).await
    }

    /// Every run of the test matching `params`, page after page.
    pub fn list_all(
        &self,
        test_id: &str,
        params: &TestRunListParams,
    ) -> BoxStream<'static, Result<TestRunResponse>> {
        let client = self.client.clone();
        let test_id = test_id.to_owned();
        let params = params.clone();
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            let test_id = test_id.clone();
            let params = TestRunListParams {
                page_number: Some(page),
                ..params.clone()
            };
            async move {
                let runs = client.ai().assistants().tests().runs();
                let page = runs.list_with(&test_id, &params).await?;
                let next = next_page(page.data.len(), Some(&page.meta));
                Ok((page.data, next))
            }
        })
    }

    /// `GET /ai/assistants/tests/{test_id}/runs/{run_id}`: the run, with its per-rubric
    /// results and logs once graded.
    pub async fn retrieve(&self, test_id: &str, run_id: &str) -> Result<TestRunResponse> {
        let path = format!(
            "{}/runs/{}",
            test_path(test_id)?,
            segment(run_id, "run_id")?
        );
        self.client.json(ApiRequest::get(path)).await
    }
}

/// Test suites: the `test_suite` names tests carry.
#[derive(Debug)]
pub struct TestSuites<'a> {
    client: &'a Client,
}

impl<'a> TestSuites<'a> {
    /// `GET /ai/assistants/tests/test-suites`: every suite name.
    pub async fn list(&self) -> Result<DataList<String>> {
        self.client
            .json(ApiRequest::get("ai/assistants/tests/test-suites".into()))
            .await
    }

    /// `/ai/assistants/tests/test-suites/{suite_name}/runs`.
    pub fn runs(&self) -> SuiteRuns<'a> {
        SuiteRuns {
            client: self.client,
        }
    }
}

/// The runs of a test suite. Methods take the suite name first, as in the URL.
#[derive(Debug)]
pub struct SuiteRuns<'a> {
    client: &'a Client,
}

impl SuiteRuns<'_> {
    /// `POST …/test-suites/{suite_name}/runs`: starts a run of every test of the suite; one
    /// run per test, sharing a `test_suite_run_id`.
    pub async fn trigger(&self, suite_name: &str) -> Result<Vec<TestRunResponse>> {
        self.trigger_with(suite_name, &RunTriggerParams::default())
            .await
    }

    /// `POST …/test-suites/{suite_name}/runs` with a `destination_version_id`.
    pub async fn trigger_with(
        &self,
        suite_name: &str,
        params: &RunTriggerParams,
    ) -> Result<Vec<TestRunResponse>> {
        let request = ApiRequest::post(suite_runs_path(suite_name)?).body(params)?;
        self.client.json(request).await
    }

    /// `GET …/test-suites/{suite_name}/runs`: the first page.
    pub async fn list(&self, suite_name: &str) -> Result<Page<TestRunResponse>> {
        self.list_with(suite_name, &TestRunListParams::default())
            .await
    }

    /// `GET …/test-suites/{suite_name}/runs` with pagination and the status and
    /// `test_suite_run_id` filters.
    pub async fn list_with(
        &self,
        suite_name: &str,
        params: &TestRunListParams,
    ) -> Result<Page<TestRunResponse>> {
        let request = ApiRequest::get(suite_runs_path(suite_name)?).query(params)?;
        self.client.json(request).await
    }

    /// Every run of the suite matching `params`, page after page.
    pub fn list_all(
        &self,
        suite_name: &str,
        params: &TestRunListParams,
    ) -> BoxStream<'static, Result<TestRunResponse>> {
        let client = self.client.clone();
        let suite_name = suite_name.to_owned();
        let params = params.clone();
        paginate(params.page_number.unwrap_or(1), move |page| {
            let client = client.clone();
            let suite_name = suite_name.clone();
            let params = TestRunListParams {
                page_number: Some(page),
                ..params.clone()
            };
            async move {
                let runs = client.ai().assistants().tests().test_suites().runs();
                let page = runs.list_with(&suite_name, &params).await?;
                let next = next_page(page.data.len(), Some(&page.meta));
                Ok((page.data, next))
            }
        })
    }
}
