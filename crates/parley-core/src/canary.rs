//! Canary deploys: ordered traffic rules that decide which version of an assistant serves a
//! conversation, and the pure routing function that applies them.
//!
//! Rules are evaluated in order; the first whose clauses all match serves either a fixed
//! version or a weighted rollout. Rollouts are sticky: a conversation is placed in one of
//! 10,000 buckets by hashing the assistant id with the end user (or, without one, the
//! conversation id), so the same caller keeps getting the same version and no randomness is
//! involved. Traffic no rule claims, and the part of a rollout its weights leave over, goes to
//! the main version.

use crate::ids::VersionId;
use crate::schema::contract;
use crate::validation::{FieldError, ValidationErrors};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Buckets a rollout is cut into: weights have a resolution of 0.01 percentage points.
pub const BUCKETS: u64 = 10_000;

/// Validated canary rules, kept as the JSON array the client sent.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryRules(Value);

impl CanaryRules {
    /// Wraps rules read back from storage (they were validated when written).
    pub fn from_stored(rules: Value) -> Self {
        Self(rules)
    }

    /// The rules as JSON.
    pub fn as_json(&self) -> &Value {
        &self.0
    }

    /// Every version id the rules serve.
    pub fn referenced_versions(&self) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        for rule in self.0.as_array().into_iter().flatten() {
            let serve = &rule["serve"];
            if let Some(id) = serve.get("version_id").and_then(Value::as_str) {
                ids.insert(id.to_owned());
            }
            for slot in serve
                .get("rollout")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = slot.get("version_id").and_then(Value::as_str) {
                    ids.insert(id.to_owned());
                }
            }
        }
        ids
    }
}

/// Parses and validates a canary deploy body (`{"rules": [...]}`).
pub fn parse_rules(body: &Value) -> Result<CanaryRules, ValidationErrors> {
    if !body.is_object() {
        return Err(FieldError::invalid("", "the request body must be a JSON object").into());
    }
    contract().validate_canary_deploy(body)?;
    let Some(rules) = body.get("rules").and_then(Value::as_array) else {
        return Err(FieldError::invalid("/rules", "`rules` is required").into());
    };
    if rules.is_empty() {
        return Err(FieldError::invalid(
            "/rules",
            "at least one rule is required; delete the canary deploy to send all traffic to main",
        )
        .into());
    }
    let mut errors = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let serve = &rule["serve"];
        let fixed = serve.get("version_id").filter(|v| !v.is_null());
        let rollout = serve.get("rollout").filter(|v| !v.is_null());
        match (fixed, rollout) {
            (Some(_), Some(_)) | (None, None) => errors.push(FieldError::invalid(
                format!("/rules/{i}/serve"),
                "`serve` needs exactly one of `version_id` or `rollout`",
            )),
            (None, Some(Value::Array(slots))) => {
                if slots.is_empty() {
                    errors.push(FieldError::invalid(
                        format!("/rules/{i}/serve/rollout"),
                        "a rollout needs at least one slot",
                    ));
                }
                let total: f64 = slots.iter().filter_map(|s| s["weight"].as_f64()).sum();
                if total > 100.0 + 1e-9 {
                    errors.push(FieldError::invalid(
                        format!("/rules/{i}/serve/rollout"),
                        format!("rollout weights sum to {total}, more than 100"),
                    ));
                }
                let mut seen = BTreeSet::new();
                for (j, slot) in slots.iter().enumerate() {
                    let id = slot["version_id"].as_str().unwrap_or_default();
                    if !seen.insert(id) {
                        errors.push(FieldError::invalid(
                            format!("/rules/{i}/serve/rollout/{j}/version_id"),
                            format!("version {id} appears twice in one rollout"),
                        ));
                    }
                }
            }
            _ => {}
        }
        for (j, clause) in rule
            .get("match")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if clause["attribute"]
                .as_str()
                .is_some_and(|a| a.trim().is_empty())
            {
                errors.push(FieldError::invalid(
                    format!("/rules/{i}/match/{j}/attribute"),
                    "`attribute` must not be empty",
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(CanaryRules(Value::Array(rules.clone())))
    } else {
        Err(ValidationErrors(errors))
    }
}

/// What the rules can look at when a conversation starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingContext {
    /// The conversation being routed.
    pub conversation_id: String,
    /// The end user (phone number, SIP URI, web user id), if known.
    pub telnyx_end_user_target: Option<String>,
    /// The assistant's side (number or identifier), if known.
    pub telnyx_agent_target: Option<String>,
    /// `phone_call`, `web_call`, `sms_chat` or `web_chat`.
    pub telnyx_conversation_channel: Option<String>,
    /// Conversation metadata; clauses can name its keys directly or as `metadata.<key>`.
    pub metadata: BTreeMap<String, String>,
}

impl RoutingContext {
    /// The value of a clause's attribute, if the context has one.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        match name {
            "telnyx_end_user_target" => self.telnyx_end_user_target.as_deref(),
            "telnyx_agent_target" => self.telnyx_agent_target.as_deref(),
            "telnyx_conversation_channel" => self.telnyx_conversation_channel.as_deref(),
            "conversation_id" => Some(&self.conversation_id),
            other => self
                .metadata
                .get(other.strip_prefix("metadata.").unwrap_or(other))
                .map(String::as_str),
        }
    }

    /// The key a rollout is sticky on: the end user when known, else the conversation.
    fn sticky_key(&self) -> &str {
        self.telnyx_end_user_target
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(&self.conversation_id)
    }
}

/// Whether one clause matches. An attribute the context lacks matches `not_in` and nothing
/// else.
fn clause_matches(clause: &Value, context: &RoutingContext) -> bool {
    let values = clause["values"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let values = values.iter().filter_map(Value::as_str);
    let attribute = clause["attribute"].as_str().unwrap_or_default();
    match (clause["operator"].as_str(), context.attribute(attribute)) {
        (Some("in"), Some(value)) => values.into_iter().any(|v| v == value),
        (Some("not_in"), Some(value)) => values.into_iter().all(|v| v != value),
        (Some("not_in"), None) => true,
        (Some("starts_with"), Some(value)) => values.into_iter().any(|v| value.starts_with(v)),
        _ => false,
    }
}

/// The bucket (0..[`BUCKETS`]) a sticky key falls in for an assistant.
pub fn bucket(assistant_id: &str, sticky_key: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(assistant_id.as_bytes())
        .chain_update([0u8])
        .chain_update(sticky_key.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// Picks the version that serves a conversation.
pub fn route(
    assistant_id: &str,
    main: &VersionId,
    rules: Option<&CanaryRules>,
    context: &RoutingContext,
) -> VersionId {
    let Some(rules) = rules else {
        return main.clone();
    };
    for rule in rules.0.as_array().into_iter().flatten() {
        let clauses = rule
            .get("match")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !clauses.iter().all(|c| clause_matches(c, context)) {
            continue;
        }
        let serve = &rule["serve"];
        if let Some(id) = serve.get("version_id").and_then(Value::as_str) {
            return VersionId::from_string(id);
        }
        let slot = bucket(assistant_id, context.sticky_key());
        let mut upper = 0u64;
        for candidate in serve
            .get("rollout")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let weight = candidate["weight"]
                .as_f64()
                .unwrap_or(0.0)
                .clamp(0.0, 100.0);
            // Weight in percent → buckets; rounding keeps the sum of full weights at BUCKETS.
            upper += (weight * (BUCKETS as f64) / 100.0).round() as u64;
            if slot < upper {
                if let Some(id) = candidate["version_id"].as_str() {
                    return VersionId::from_string(id);
                }
            }
        }
        return main.clone();
    }
    main.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn rules(value: Value) -> CanaryRules {
        parse_rules(&json!({ "rules": value })).unwrap()
    }

    fn ctx(conversation: &str) -> RoutingContext {
        RoutingContext {
            conversation_id: conversation.to_owned(),
            ..RoutingContext::default()
        }
    }

    #[test]
    fn validation_points_at_the_problem() {
        let cases = [
            (json!({"rules": []}), "/rules"),
            (json!({"rules": [{"serve": {}}]}), "/rules/0/serve"),
            (
                json!({"rules": [{"serve": {"version_id": "a", "rollout": [{"version_id": "b", "weight": 1}]}}]}),
                "/rules/0/serve",
            ),
            (
                json!({"rules": [{"serve": {"rollout": [{"version_id": "a", "weight": 60}, {"version_id": "b", "weight": 50}]}}]}),
                "/rules/0/serve/rollout",
            ),
            (
                json!({"rules": [{"serve": {"rollout": [{"version_id": "a", "weight": 101}]}}]}),
                "/rules/0/serve/rollout/0/weight",
            ),
            (
                json!({"rules": [{"serve": {"version_id": "a"}, "match": [{"attribute": "x", "operator": "like", "values": ["a"]}]}]}),
                "/rules/0/match/0/operator",
            ),
            (
                json!({"rules": [{"serve": {"version_id": "a"}, "match": [{"attribute": "x", "operator": "in", "values": []}]}]}),
                "/rules/0/match/0/values",
            ),
        ];
        for (body, pointer) in cases {
            let err = parse_rules(&body).unwrap_err();
            assert!(err.0.iter().any(|e| e.pointer == pointer), "{body}: {err}");
        }
    }

    #[test]
    fn first_matching_rule_wins_and_the_rest_goes_to_main() {
        let main = VersionId::from_string("main");
        let rules = rules(json!([
            {"match": [{"attribute": "telnyx_end_user_target", "operator": "starts_with", "values": ["+44"]}], "serve": {"version_id": "uk"}},
            {"match": [{"attribute": "tier", "operator": "in", "values": ["gold"]}], "serve": {"version_id": "gold"}},
            {"match": [{"attribute": "telnyx_conversation_channel", "operator": "not_in", "values": ["phone_call"]}], "serve": {"version_id": "text"}}
        ]));
        let mut context = ctx("c1");
        context.telnyx_end_user_target = Some("+447700900000".into());
        context.metadata.insert("tier".into(), "gold".into());
        context.telnyx_conversation_channel = Some("phone_call".into());
        assert_eq!(route("a", &main, Some(&rules), &context).as_str(), "uk");
        context.telnyx_end_user_target = Some("+13125550100".into());
        assert_eq!(route("a", &main, Some(&rules), &context).as_str(), "gold");
        context.metadata.clear();
        assert_eq!(route("a", &main, Some(&rules), &context).as_str(), "main");
        context.telnyx_conversation_channel = Some("web_chat".into());
        assert_eq!(route("a", &main, Some(&rules), &context).as_str(), "text");
        assert_eq!(route("a", &main, None, &context).as_str(), "main");
    }

    #[test]
    fn referenced_versions_cover_fixed_and_rollout() {
        let rules = rules(json!([
            {"serve": {"version_id": "v1"}},
            {"serve": {"rollout": [{"version_id": "v2", "weight": 10}, {"version_id": "v3", "weight": 5}]}}
        ]));
        let ids: Vec<String> = rules.referenced_versions().into_iter().collect();
        assert_eq!(ids, vec!["v1", "v2", "v3"]);
    }

    /// Over many conversations, each version's share is within 2 percentage points of its
    /// weight (20,000 conversations: the standard error of a share is at most 0.35 points).
    fn shares(weights: &[f64], conversations: usize) -> Vec<f64> {
        let slots: Vec<Value> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| json!({"version_id": format!("v{i}"), "weight": w}))
            .collect();
        let rules = rules(json!([{ "serve": { "rollout": slots } }]));
        let main = VersionId::from_string("main");
        let mut counts = vec![0usize; weights.len() + 1];
        for n in 0..conversations {
            let picked = route(
                "assistant-x",
                &main,
                Some(&rules),
                &ctx(&format!("conversation-{n}")),
            );
            let index = picked
                .as_str()
                .strip_prefix('v')
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(weights.len());
            counts[index] += 1;
        }
        counts
            .iter()
            .map(|c| *c as f64 * 100.0 / conversations as f64)
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn rollout_weights_are_honoured(a in 0.0f64..60.0, b in 0.0f64..40.0) {
            let got = shares(&[a, b], 20_000);
            prop_assert!((got[0] - a).abs() < 2.0, "v0 {} vs {}", got[0], a);
            prop_assert!((got[1] - b).abs() < 2.0, "v1 {} vs {}", got[1], b);
            prop_assert!((got[2] - (100.0 - a - b)).abs() < 2.0, "main {} vs {}", got[2], 100.0 - a - b);
        }

        #[test]
        fn routing_is_sticky_per_end_user(user in "[+0-9]{6,14}", conversation_a in "[a-z0-9]{8}", conversation_b in "[a-z0-9]{8}") {
            let rules = rules(json!([{ "serve": { "rollout": [{"version_id": "v0", "weight": 50}] } }]));
            let main = VersionId::from_string("main");
            let mut first = ctx(&conversation_a);
            first.telnyx_end_user_target = Some(user.clone());
            let mut second = ctx(&conversation_b);
            second.telnyx_end_user_target = Some(user);
            prop_assert_eq!(route("a", &main, Some(&rules), &first), route("a", &main, Some(&rules), &second));
            prop_assert_eq!(route("a", &main, Some(&rules), &first), route("a", &main, Some(&rules), &first.clone()));
        }
    }

    #[test]
    fn a_fifty_fifty_split_is_close_to_even() {
        let got = shares(&[50.0], 100_000);
        assert!((got[0] - 50.0).abs() < 1.0, "{got:?}");
    }
}
