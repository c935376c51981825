//! Assistant tests, their runs and test suites (`/ai/assistants/tests…`).
//!
//! Tests and runs are bare objects; the test and run lists are paginated `{data, meta}`
//! ([`crate::Page`]); suite names are `{data: [string]}` ([`crate::DataList`]); triggering a
//! suite answers a bare array of runs.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One rubric item (`AssistantTestRubric`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rubric {
    /// Label of the criterion (`Empathy`, `Accuracy`).
    pub name: String,
    /// How the judge assesses it.
    pub criteria: String,
}

/// An assistant test (`AssistantTest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantTest {
    /// Its id (a UUID).
    pub test_id: String,
    /// When it was created.
    pub created_at: String,
    /// Its name.
    pub name: String,
    /// What the conversation is graded by.
    pub rubric: Vec<Rubric>,
    /// `phone_call`, `web_call`, `sms_chat` or `web_chat`.
    pub telnyx_conversation_channel: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What it talks to (for `web_chat`, an assistant id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The scenario the simulated user plays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Longest the conversation may last, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_seconds: Option<u32>,
    /// The suite it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_suite: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /ai/assistants/tests` (`TestCreateParams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestCreateParams {
    /// What the test talks to (for `web_chat`, an assistant id).
    pub destination: String,
    /// The scenario the simulated user plays (1–5000 characters).
    pub instructions: String,
    /// Its name (1–255 characters).
    pub name: String,
    /// What the conversation is graded by (at least one item).
    pub rubric: Vec<Rubric>,
    /// What it is for (at most 1000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Longest the conversation may last, 1–3600 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_seconds: Option<u32>,
    /// The channel (default `web_chat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telnyx_conversation_channel: Option<String>,
    /// The suite it belongs to (at most 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_suite: Option<String>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `PUT /ai/assistants/tests/{test_id}` (`TestUpdateParams`): unset fields are not
/// sent and stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestUpdateParams {
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// New scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// New duration limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_seconds: Option<u32>,
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New rubric (replaces the old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<Vec<Rubric>>,
    /// New channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telnyx_conversation_channel: Option<String>,
    /// New suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_suite: Option<String>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Query of `GET /ai/assistants/tests`: pagination and exact filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestListParams {
    /// The 1-based page to fetch.
    #[serde(
        rename = "page[number]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_number: Option<u32>,
    /// Items per page (default 20, at most 100).
    #[serde(
        rename = "page[size]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_size: Option<u32>,
    /// Only tests with this destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Only tests on this channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telnyx_conversation_channel: Option<String>,
    /// Only tests of this suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_suite: Option<String>,
}

/// Body of `POST …/tests/{test_id}/runs` and `POST …/test-suites/{suite_name}/runs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunTriggerParams {
    /// The assistant version to test instead of the main one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_version_id: Option<String>,
    /// Fields sent as they are, after the typed ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The grade of one rubric item (`TestRunDetailResult`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRunDetailResult {
    /// The rubric item's name.
    pub name: String,
    /// `pending` until graded, then `passed`, `failed` or `error`.
    pub status: String,
}

/// A test run (`TestRunResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRunResponse {
    /// Its id (a UUID).
    pub run_id: String,
    /// The test it runs.
    pub test_id: String,
    /// `pending`, `starting`, `running`, `passed`, `failed` or `error`.
    pub status: String,
    /// How it was started (`api` for runs triggered through this API).
    pub triggered_by: String,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The conversation the simulated user had with the assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Conversation insights of the run (Parley has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_insights_id: Option<String>,
    /// One result per rubric item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_status: Option<Vec<TestRunDetailResult>>,
    /// A readable account: transcript, verdicts and their reasoning, timings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    /// The suite run it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_suite_run_id: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Query of the run lists (`GET …/tests/{test_id}/runs`, `GET …/test-suites/{suite}/runs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRunListParams {
    /// The 1-based page to fetch.
    #[serde(
        rename = "page[number]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_number: Option<u32>,
    /// Items per page (default 20, at most 100).
    #[serde(
        rename = "page[size]",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub page_size: Option<u32>,
    /// Only runs in these statuses (comma-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only runs of this suite run (suite lists only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_suite_run_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unset_optional_fields_are_omitted_and_unknown_ones_kept() {
        let run: TestRunResponse = serde_json::from_value(json!({
            "run_id": "r", "test_id": "t", "status": "pending", "triggered_by": "api",
            "created_at": "2026-01-01T00:00:00Z", "future": 1
        }))
        .unwrap();
        assert_eq!(run.extra["future"], 1);
        let back = serde_json::to_value(&run).unwrap();
        assert!(back.get("logs").is_none());
        assert_eq!(back["future"], 1);
    }
}
