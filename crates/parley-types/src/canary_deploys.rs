//! Canary deploys: ordered rules that route conversations to versions of an assistant.
//! Requests and responses share these shapes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An assistant's canary deploy (`CanaryDeployResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryDeploy {
    /// The assistant it belongs to.
    pub assistant_id: String,
    /// The rules, evaluated in order; the first that matches serves.
    pub rules: Vec<CanaryRule>,
    /// When it was created.
    pub created_at: String,
    /// When it was last replaced.
    pub updated_at: String,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST` and `PUT /ai/assistants/{id}/canary-deploys` (both create or replace).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryDeployParams {
    /// The rules, in order (at least one).
    pub rules: Vec<CanaryRule>,
}

/// One rule: when every clause matches, `serve` decides the version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryRule {
    /// Clauses that must all match (none: the rule matches every conversation).
    #[serde(rename = "match", default, skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<Clause>,
    /// What a matching conversation gets.
    pub serve: CanaryServe,
}

/// A fixed version, or a weighted rollout whose remainder goes to the main version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CanaryServe {
    /// Serve this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Serve these versions by weight (percent; at most 100 together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Vec<RolloutSlot>>,
}

impl CanaryServe {
    /// Serve one version.
    pub fn version(version_id: impl Into<String>) -> Self {
        Self {
            version_id: Some(version_id.into()),
            rollout: None,
        }
    }

    /// Serve versions by weight.
    pub fn rollout(slots: Vec<RolloutSlot>) -> Self {
        Self {
            version_id: None,
            rollout: Some(slots),
        }
    }
}

/// A version and its share of a rollout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutSlot {
    /// The version.
    pub version_id: String,
    /// Its share, in percent (0 to 100).
    pub weight: f64,
}

/// A test on one attribute of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clause {
    /// `telnyx_end_user_target`, `telnyx_agent_target`, `telnyx_conversation_channel`,
    /// `conversation_id`, or a conversation metadata key (`tier` or `metadata.tier`).
    pub attribute: String,
    /// How `values` are compared.
    pub operator: ClauseOperator,
    /// The values compared with.
    pub values: Vec<String>,
}

/// How a clause compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClauseOperator {
    /// The attribute is one of the values.
    In,
    /// The attribute is none of the values (or missing).
    NotIn,
    /// The attribute starts with one of the values.
    StartsWith,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_round_trip_with_match_spelled_as_on_the_wire() {
        let wire = json!({"rules": [
            {"match": [{"attribute": "tier", "operator": "not_in", "values": ["gold"]}],
             "serve": {"rollout": [{"version_id": "v1", "weight": 25.0}]}},
            {"serve": {"version_id": "v2"}}
        ]});
        let params: CanaryDeployParams = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(params.rules[0].matches[0].operator, ClauseOperator::NotIn);
        assert_eq!(params.rules[1].serve, CanaryServe::version("v2"));
        assert_eq!(serde_json::to_value(&params).unwrap(), wire);
    }
}
