//! The wire contract, compiled once into validators.
//!
//! `ai-assistants.openapi.yaml` (OpenAPI 3.1, so its schemas are JSON Schema 2020-12) is embedded
//! in the binary. Request bodies are validated against its `components/schemas`, which gives
//! every field's type, enum, range and required-ness exactly as the contract states them, and
//! errors that point at the offending value.

use crate::validation::{FieldError, ValidationErrors};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Validator};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

/// The contract file, as shipped.
pub const OPENAPI_YAML: &str = include_str!("../ai-assistants.openapi.yaml");

/// Validators for the request bodies Parley accepts.
pub struct Contract {
    components: Value,
    assistant_create: Validator,
    assistant_update: Validator,
    canary_deploy: Validator,
    assistant_create_fields: BTreeSet<String>,
    assistant_update_fields: BTreeSet<String>,
    tool_validators: BTreeMap<String, Validator>,
}

static CONTRACT: LazyLock<Contract> =
    LazyLock::new(|| Contract::load(OPENAPI_YAML).expect("the embedded OpenAPI contract compiles"));

/// The embedded contract, compiled on first use.
pub fn contract() -> &'static Contract {
    &CONTRACT
}

/// Why the contract could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The YAML did not parse.
    #[error("contract is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// A schema the server needs is missing or malformed.
    #[error("contract schema {0}: {1}")]
    Schema(String, String),
}

impl Contract {
    /// Compiles a contract document.
    pub fn load(yaml: &str) -> Result<Self, ContractError> {
        let document: Value = serde_yaml::from_str(yaml)?;
        let components = document
            .get("components")
            .cloned()
            .ok_or_else(|| ContractError::Schema("components".into(), "missing".into()))?;
        let compile = |name: &str| compile(&components, &format!("#/components/schemas/{name}"));
        let properties = |name: &str| -> Result<BTreeSet<String>, ContractError> {
            components
                .pointer(&format!("/schemas/{name}/properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .ok_or_else(|| ContractError::Schema(name.into(), "has no properties".into()))
        };
        let mapping = components
            .pointer("/schemas/AssistantToolParam/discriminator/mapping")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                ContractError::Schema("AssistantToolParam".into(), "no discriminator".into())
            })?;
        let mut tool_validators = BTreeMap::new();
        for (tool_type, reference) in mapping {
            let reference = reference.as_str().unwrap_or_default();
            tool_validators.insert(tool_type.clone(), compile_ref(&components, reference)?);
        }
        Ok(Self {
            assistant_create: compile("AssistantCreateParams")?,
            assistant_update: compile("AssistantUpdateParams")?,
            canary_deploy: compile("CanaryDeployCreateParams")?,
            assistant_create_fields: properties("AssistantCreateParams")?,
            assistant_update_fields: properties("AssistantUpdateParams")?,
            tool_validators,
            components,
        })
    }

    /// Field names `AssistantCreateParams` defines.
    pub fn assistant_create_fields(&self) -> &BTreeSet<String> {
        &self.assistant_create_fields
    }

    /// Field names `AssistantUpdateParams` defines.
    pub fn assistant_update_fields(&self) -> &BTreeSet<String> {
        &self.assistant_update_fields
    }

    /// The tool `type` values the contract knows, sorted.
    pub fn tool_types(&self) -> impl Iterator<Item = &str> {
        self.tool_validators.keys().map(String::as_str)
    }

    /// The raw `components` section, for callers that need a schema's metadata.
    pub fn components(&self) -> &Value {
        &self.components
    }

    /// Validates an assistant create body (an object already stripped of unknown fields).
    pub fn validate_assistant_create(
        &self,
        body: &Map<String, Value>,
    ) -> Result<(), ValidationErrors> {
        self.validate_assistant(&self.assistant_create, body)
    }

    /// Validates an assistant update body (an object already stripped of unknown fields).
    pub fn validate_assistant_update(
        &self,
        body: &Map<String, Value>,
    ) -> Result<(), ValidationErrors> {
        self.validate_assistant(&self.assistant_update, body)
    }

    /// Validates a canary deploy body (`{rules: [...]}`).
    pub fn validate_canary_deploy(&self, body: &Value) -> Result<(), ValidationErrors> {
        let errors: Vec<FieldError> = self
            .canary_deploy
            .iter_errors(body)
            .map(|e| FieldError::invalid(error_pointer(&e), e.masked().to_string()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }

    fn validate_assistant(
        &self,
        validator: &Validator,
        body: &Map<String, Value>,
    ) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        // Tools first, each against the schema its `type` names: a union's own error
        // ("not valid under any of the schemas") would not say what is wrong.
        let mut tools_ok = true;
        if let Some(Value::Array(tools)) = body.get("tools") {
            for (i, tool) in tools.iter().enumerate() {
                let before = errors.len();
                self.validate_tool(&format!("/tools/{i}"), tool, &mut errors);
                tools_ok &= errors.len() == before;
            }
        }
        let instance = Value::Object(body.clone());
        for error in validator.iter_errors(&instance) {
            let pointer = error_pointer(&error);
            if !tools_ok && pointer.starts_with("/tools/") {
                continue;
            }
            errors.push(FieldError::invalid(pointer, error.masked().to_string()));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            errors.dedup();
            Err(ValidationErrors(errors))
        }
    }

    /// Validates one tool (request form) and appends its problems, pointed under `prefix`.
    pub fn validate_tool(&self, prefix: &str, tool: &Value, errors: &mut Vec<FieldError>) {
        let Some(object) = tool.as_object() else {
            errors.push(FieldError::invalid(prefix, "a tool must be an object"));
            return;
        };
        let Some(tool_type) = object.get("type").and_then(Value::as_str) else {
            errors.push(FieldError::invalid(
                format!("{prefix}/type"),
                "a tool needs a string `type`",
            ));
            return;
        };
        let Some(validator) = self.tool_validators.get(tool_type) else {
            let known: Vec<&str> = self.tool_types().collect();
            errors.push(FieldError::invalid(
                format!("{prefix}/type"),
                format!(
                    "unknown tool type {tool_type:?}; expected one of {}",
                    known.join(", ")
                ),
            ));
            return;
        };
        for error in validator.iter_errors(tool) {
            errors.push(FieldError::invalid(
                format!("{prefix}{}", error_pointer(&error)),
                error.masked().to_string(),
            ));
        }
    }
}

fn compile(components: &Value, reference: &str) -> Result<Validator, ContractError> {
    compile_ref(components, reference)
}

fn compile_ref(components: &Value, reference: &str) -> Result<Validator, ContractError> {
    let root = json!({ "$ref": reference, "components": components });
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .build(&root)
        .map_err(|e| ContractError::Schema(reference.into(), e.to_string()))
}

/// The JSON pointer of the value an error is about; for a missing required property, the
/// pointer of the property itself.
fn error_pointer(error: &jsonschema::ValidationError<'_>) -> String {
    let mut pointer = error.instance_path().as_str().to_owned();
    if let ValidationErrorKind::Required { property } = error.kind() {
        if let Some(name) = property.as_str() {
            pointer.push('/');
            pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn contract_knows_all_fifteen_tool_types() {
        assert_eq!(contract().tool_types().count(), 15);
        assert!(contract()
            .assistant_create_fields()
            .contains("instructions"));
        assert!(contract()
            .assistant_update_fields()
            .contains("promote_to_main"));
    }

    #[test]
    fn a_minimal_create_body_is_valid() {
        let ok =
            contract().validate_assistant_create(&body(json!({"name": "a", "instructions": "b"})));
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn missing_required_field_points_at_the_field() {
        let err = contract()
            .validate_assistant_create(&body(json!({"name": "a"})))
            .unwrap_err();
        assert_eq!(err.0[0].pointer, "/instructions");
    }

    #[test]
    fn wrong_type_and_range_point_into_nested_objects() {
        let err = contract()
            .validate_assistant_create(&body(json!({
                "name": "a", "instructions": "b",
                "dynamic_variables_webhook_timeout_ms": 0,
                "telephony_settings": {"time_limit_secs": "long"}
            })))
            .unwrap_err();
        let pointers: Vec<&str> = err.0.iter().map(|e| e.pointer.as_str()).collect();
        assert!(
            pointers.contains(&"/dynamic_variables_webhook_timeout_ms"),
            "{pointers:?}"
        );
        assert!(
            pointers.contains(&"/telephony_settings/time_limit_secs"),
            "{pointers:?}"
        );
    }

    #[test]
    fn tool_errors_name_the_member_schema_problem() {
        let err = contract()
            .validate_assistant_create(&body(json!({
                "name": "a", "instructions": "b",
                "tools": [
                    {"type": "hangup", "hangup": {}},
                    {"type": "webhook", "webhook": {"name": "n", "description": "d", "url": "http://x", "method": "FETCH"}},
                    {"type": "teleport", "teleport": {}}
                ]
            })))
            .unwrap_err();
        let pointers: Vec<&str> = err.0.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            vec!["/tools/1/webhook/method", "/tools/2/type"],
            "{err}"
        );
    }
}
