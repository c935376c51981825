//! Assistant tests: a simulated user's scenario and a rubric to grade the conversation by; and
//! test runs, whose status moves `pending → starting → running → passed | failed | error`.
//!
//! What a create or `PUT` body becomes ([`parse_create`], [`parse_update`]) is checked against
//! the ranges of the contract's `TestCreateParams` and `TestUpdateParams` (the unit tests
//! compare the limits here with the embedded OpenAPI file): `name` 1–255 characters,
//! `instructions` 1–5000, `description` at most 1000, `destination` at least 1, `test_suite`
//! at most 100, `max_duration_seconds` 1–3600, `rubric` at least one `{name, criteria}`, and
//! `telnyx_conversation_channel` one of [`TestChannel`] (default `web_chat`). Text holding
//! U+0000 is refused, as everywhere. An empty `test_suite` means no suite. In an update,
//! `null` clears `description`, `max_duration_seconds` and `test_suite`; the other fields
//! cannot be cleared.
//!
//! Whether `destination` names something that exists (an assistant of the organization for
//! `web_chat`) is the server's business: it can reach the store.

use crate::validation::{FieldError, ValidationErrors};
use serde_json::{json, Map, Value};
use std::fmt;

/// Longest `name`, in characters.
pub const MAX_NAME_LEN: usize = 255;
/// Longest `instructions`, in characters.
pub const MAX_INSTRUCTIONS_LEN: usize = 5000;
/// Longest `description`, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1000;
/// Longest `test_suite`, in characters.
pub const MAX_SUITE_LEN: usize = 100;
/// Smallest `max_duration_seconds`.
pub const MIN_DURATION_SECONDS: u32 = 1;
/// Largest `max_duration_seconds`.
pub const MAX_DURATION_SECONDS: u32 = 3600;

const NUL_MESSAGE: &str = "text must not contain the NUL character (U+0000)";

/// A new test or run id: a random UUID (the contract types both as `uuid`).
pub fn generate_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The channel a test converses over (`TelnyxConversationChannel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TestChannel {
    /// A phone call (voice).
    PhoneCall,
    /// A call from the web widget (voice).
    WebCall,
    /// SMS, to a number assigned to the assistant.
    SmsChat,
    /// Text chat with the assistant (the default).
    #[default]
    WebChat,
}

impl TestChannel {
    /// Every channel, in the contract's order.
    pub const ALL: [TestChannel; 4] = [
        TestChannel::PhoneCall,
        TestChannel::WebCall,
        TestChannel::SmsChat,
        TestChannel::WebChat,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TestChannel::PhoneCall => "phone_call",
            TestChannel::WebCall => "web_call",
            TestChannel::SmsChat => "sms_chat",
            TestChannel::WebChat => "web_chat",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Whether the channel is a voice channel (`phone_call`, `web_call`).
    pub fn is_voice(self) -> bool {
        matches!(self, TestChannel::PhoneCall | TestChannel::WebCall)
    }
}

impl fmt::Display for TestChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a run, and of each rubric item of a run (`TestStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TestStatus {
    /// Waiting to be executed.
    Pending,
    /// Picked up by a worker, being set up.
    Starting,
    /// The conversation or the grading is under way.
    Running,
    /// Executed, and every rubric item passed.
    Passed,
    /// Executed, and some rubric item did not pass.
    Failed,
    /// Could not be carried out (or, for an item, not graded).
    Error,
}

impl TestStatus {
    /// Every status, in the contract's order.
    pub const ALL: [TestStatus; 6] = [
        TestStatus::Pending,
        TestStatus::Starting,
        TestStatus::Running,
        TestStatus::Passed,
        TestStatus::Failed,
        TestStatus::Error,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Pending => "pending",
            TestStatus::Starting => "starting",
            TestStatus::Running => "running",
            TestStatus::Passed => "passed",
            TestStatus::Failed => "failed",
            TestStatus::Error => "error",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the run is over (`passed`, `failed` or `error`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TestStatus::Passed | TestStatus::Failed | TestStatus::Error
        )
    }

    /// Parses a `status` query filter: comma-separated statuses. Besides the six statuses,
    /// the words the SDK's docstring uses are understood: `completed` (every terminal status)
    /// and `timeout` (`error`). `None` names the first unknown word.
    pub fn parse_filter(text: &str) -> Result<Vec<TestStatus>, String> {
        let mut statuses = Vec::new();
        for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let found: &[TestStatus] = match word {
                "completed" => &[TestStatus::Passed, TestStatus::Failed, TestStatus::Error],
                "timeout" => &[TestStatus::Error],
                other => match Self::ALL.iter().position(|s| s.as_str() == other) {
                    Some(i) => std::slice::from_ref(&Self::ALL[i]),
                    None => return Err(other.to_owned()),
                },
            };
            for status in found {
                if !statuses.contains(status) {
                    statuses.push(*status);
                }
            }
        }
        Ok(statuses)
    }
}

impl fmt::Display for TestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rubric item: what is graded, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RubricItem {
    /// Its label (`Empathy`, `Accuracy`).
    pub name: String,
    /// What the judge checks.
    pub criteria: String,
}

/// The grade of one rubric item in a run (`TestRunDetailResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RubricResult {
    /// The rubric item's name.
    pub name: String,
    /// `pending` until graded, then `passed`, `failed` or `error`.
    pub status: TestStatus,
}

/// A test, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestConfig {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// What it talks to: for `web_chat` an assistant id, for `sms_chat` a number assigned to
    /// an assistant.
    pub destination: String,
    /// The scenario the simulated user plays: persona and goal.
    pub instructions: String,
    /// What the conversation is graded by (at least one item).
    pub rubric: Vec<RubricItem>,
    /// The channel.
    pub channel: TestChannel,
    /// How long the conversation may last; the server's default when unset.
    pub max_duration_seconds: Option<u32>,
    /// The suite it belongs to.
    pub test_suite: Option<String>,
}

impl TestConfig {
    /// `pending` results for every rubric item, in order.
    pub fn pending_results(&self) -> Vec<RubricResult> {
        self.rubric
            .iter()
            .map(|item| RubricResult {
                name: item.name.clone(),
                status: TestStatus::Pending,
            })
            .collect()
    }

    /// The configuration as a create body (what [`parse_create`] reads back): how stores
    /// keep a snapshot of it.
    pub fn to_document(&self) -> Value {
        let mut object = json!({
            "name": self.name,
            "destination": self.destination,
            "instructions": self.instructions,
            "rubric": rubric_json(&self.rubric),
            "telnyx_conversation_channel": self.channel.as_str(),
        });
        if let Some(description) = &self.description {
            object["description"] = json!(description);
        }
        if let Some(seconds) = self.max_duration_seconds {
            object["max_duration_seconds"] = json!(seconds);
        }
        if let Some(suite) = &self.test_suite {
            object["test_suite"] = json!(suite);
        }
        object
    }
}

/// A rubric as the JSON array `[{name, criteria}]`.
pub fn rubric_json(rubric: &[RubricItem]) -> Value {
    Value::Array(
        rubric
            .iter()
            .map(|item| json!({"name": item.name, "criteria": item.criteria}))
            .collect(),
    )
}

/// Rubric results as the JSON array `[{name, status}]`.
pub fn results_json(results: &[RubricResult]) -> Value {
    Value::Array(
        results
            .iter()
            .map(|r| json!({"name": r.name, "status": r.status.as_str()}))
            .collect(),
    )
}

/// Reads rubric results stored with [`results_json`].
pub fn results_from_json(value: &Value) -> Option<Vec<RubricResult>> {
    value
        .as_array()?
        .iter()
        .map(|r| {
            Some(RubricResult {
                name: r.get("name")?.as_str()?.to_owned(),
                status: TestStatus::parse(r.get("status")?.as_str()?)?,
            })
        })
        .collect()
}

/// Reads a rubric stored with [`rubric_json`] (validated when it was written).
pub fn rubric_from_json(value: &Value) -> Option<Vec<RubricItem>> {
    value
        .as_array()?
        .iter()
        .map(|item| {
            Some(RubricItem {
                name: item.get("name")?.as_str()?.to_owned(),
                criteria: item.get("criteria")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// A partial update: `None` leaves a field alone; for the optional fields `Some(None)`
/// clears.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description, or `Some(None)` to drop it.
    pub description: Option<Option<String>>,
    /// New destination.
    pub destination: Option<String>,
    /// New instructions.
    pub instructions: Option<String>,
    /// New rubric (replaces the old one whole).
    pub rubric: Option<Vec<RubricItem>>,
    /// New channel.
    pub channel: Option<TestChannel>,
    /// New duration limit, or `Some(None)` for the server's default.
    pub max_duration_seconds: Option<Option<u32>>,
    /// New suite, or `Some(None)` for none.
    pub test_suite: Option<Option<String>>,
}

impl TestUpdate {
    /// `current` with this update applied.
    pub fn apply(&self, current: &TestConfig) -> TestConfig {
        TestConfig {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            description: self
                .description
                .clone()
                .unwrap_or_else(|| current.description.clone()),
            destination: self
                .destination
                .clone()
                .unwrap_or_else(|| current.destination.clone()),
            instructions: self
                .instructions
                .clone()
                .unwrap_or_else(|| current.instructions.clone()),
            rubric: self
                .rubric
                .clone()
                .unwrap_or_else(|| current.rubric.clone()),
            channel: self.channel.unwrap_or(current.channel),
            max_duration_seconds: self
                .max_duration_seconds
                .unwrap_or(current.max_duration_seconds),
            test_suite: self
                .test_suite
                .clone()
                .unwrap_or_else(|| current.test_suite.clone()),
        }
    }
}

/// Parses a create body (`TestCreateParams`): `name`, `destination`, `instructions` and
/// `rubric` are required. Unknown fields are ignored.
pub fn parse_create(body: &Value) -> Result<TestConfig, ValidationErrors> {
    let object = as_object(body)?;
    let mut errors = Vec::new();
    let name = required(object, "name", &mut errors, check_name);
    let destination = required(object, "destination", &mut errors, check_destination);
    let instructions = required(object, "instructions", &mut errors, check_instructions);
    let rubric = required(object, "rubric", &mut errors, check_rubric);
    let description = optional(object, "description", &mut errors, check_description);
    let channel = optional(
        object,
        "telnyx_conversation_channel",
        &mut errors,
        check_channel,
    );
    let max_duration = optional(object, "max_duration_seconds", &mut errors, check_duration);
    let suite = optional(object, "test_suite", &mut errors, check_suite);
    match (name, destination, instructions, rubric) {
        (Some(name), Some(destination), Some(instructions), Some(rubric)) if errors.is_empty() => {
            Ok(TestConfig {
                name,
                description: description.flatten(),
                destination,
                instructions,
                rubric,
                channel: channel.flatten().unwrap_or_default(),
                max_duration_seconds: max_duration.flatten(),
                test_suite: suite.flatten().flatten(),
            })
        }
        _ => Err(ValidationErrors(errors)),
    }
}

/// Parses a `PUT` body (`TestUpdateParams`): every field optional; `null` clears
/// `description`, `max_duration_seconds` and `test_suite`, and is refused for the others.
pub fn parse_update(body: &Value) -> Result<TestUpdate, ValidationErrors> {
    let object = as_object(body)?;
    let mut errors = Vec::new();
    let name = not_null(object, "name", &mut errors, check_name);
    let destination = not_null(object, "destination", &mut errors, check_destination);
    let instructions = not_null(object, "instructions", &mut errors, check_instructions);
    let rubric = not_null(object, "rubric", &mut errors, check_rubric);
    let channel = not_null(
        object,
        "telnyx_conversation_channel",
        &mut errors,
        check_channel,
    );
    let description = optional(object, "description", &mut errors, check_description);
    let max_duration = optional(object, "max_duration_seconds", &mut errors, check_duration);
    let suite = optional(object, "test_suite", &mut errors, check_suite).map(Option::flatten);
    if !errors.is_empty() {
        return Err(ValidationErrors(errors));
    }
    Ok(TestUpdate {
        name,
        description,
        destination,
        instructions,
        rubric,
        channel,
        max_duration_seconds: max_duration,
        test_suite: suite,
    })
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, ValidationErrors> {
    body.as_object()
        .ok_or_else(|| FieldError::invalid("", "the body must be a JSON object").into())
}

type Check<T> = fn(&str, &Value) -> Result<T, FieldError>;

/// A field that must be present and not null.
fn required<T>(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
    check: Check<T>,
) -> Option<T> {
    let pointer = format!("/{field}");
    match object.get(field) {
        None | Some(Value::Null) => {
            errors.push(FieldError::invalid(
                pointer,
                format!("`{field}` is required"),
            ));
            None
        }
        Some(value) => collect(check(&pointer, value), errors),
    }
}

/// A field that may be absent (`None`) or null (`Some(None)`).
fn optional<T>(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
    check: Check<T>,
) -> Option<Option<T>> {
    match object.get(field) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(value) => Some(collect(check(&format!("/{field}"), value), errors)),
    }
}

/// A field that may be absent but not null.
fn not_null<T>(
    object: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
    check: Check<T>,
) -> Option<T> {
    match object.get(field) {
        None => None,
        Some(Value::Null) => {
            errors.push(FieldError::invalid(
                format!("/{field}"),
                format!("`{field}` cannot be cleared"),
            ));
            None
        }
        Some(value) => collect(check(&format!("/{field}"), value), errors),
    }
}

fn collect<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// A string of `min..=max` characters without NUL.
fn text(pointer: &str, value: &Value, min: usize, max: usize) -> Result<String, FieldError> {
    let Value::String(text) = value else {
        return Err(FieldError::invalid(pointer, "must be a string"));
    };
    if text.contains('\0') {
        return Err(FieldError::invalid(pointer, NUL_MESSAGE));
    }
    let length = text.chars().count();
    if length < min {
        return Err(FieldError::invalid(
            pointer,
            format!("must be at least {min} character{}", plural(min)),
        ));
    }
    if length > max {
        return Err(FieldError::invalid(
            pointer,
            format!("must be at most {max} characters (it has {length})"),
        ));
    }
    Ok(text.clone())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn check_name(pointer: &str, value: &Value) -> Result<String, FieldError> {
    text(pointer, value, 1, MAX_NAME_LEN)
}

fn check_destination(pointer: &str, value: &Value) -> Result<String, FieldError> {
    text(pointer, value, 1, usize::MAX)
}

fn check_instructions(pointer: &str, value: &Value) -> Result<String, FieldError> {
    text(pointer, value, 1, MAX_INSTRUCTIONS_LEN)
}

fn check_description(pointer: &str, value: &Value) -> Result<String, FieldError> {
    text(pointer, value, 0, MAX_DESCRIPTION_LEN)
}

/// `Some(None)` for an empty suite name: no suite.
fn check_suite(pointer: &str, value: &Value) -> Result<Option<String>, FieldError> {
    text(pointer, value, 0, MAX_SUITE_LEN).map(|s| Some(s).filter(|s| !s.is_empty()))
}

fn check_channel(pointer: &str, value: &Value) -> Result<TestChannel, FieldError> {
    let known = || {
        TestChannel::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match value {
        Value::String(text) => TestChannel::parse(text).ok_or_else(|| {
            FieldError::invalid(pointer, format!("{text:?} is not one of {}", known()))
        }),
        _ => Err(FieldError::invalid(
            pointer,
            format!("must be one of {}", known()),
        )),
    }
}

fn check_duration(pointer: &str, value: &Value) -> Result<u32, FieldError> {
    let range = || {
        FieldError::invalid(
            pointer,
            format!("must be a whole number from {MIN_DURATION_SECONDS} to {MAX_DURATION_SECONDS}"),
        )
    };
    // JSON Schema integers include 30.0.
    let number = match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    };
    match number {
        Some(n)
            if (u64::from(MIN_DURATION_SECONDS)..=u64::from(MAX_DURATION_SECONDS)).contains(&n) =>
        {
            Ok(n as u32)
        }
        _ => Err(range()),
    }
}

fn check_rubric(pointer: &str, value: &Value) -> Result<Vec<RubricItem>, FieldError> {
    let Value::Array(items) = value else {
        return Err(FieldError::invalid(
            pointer,
            "must be an array of {name, criteria}",
        ));
    };
    if items.is_empty() {
        return Err(FieldError::invalid(pointer, "must have at least 1 item"));
    }
    let mut rubric = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{pointer}/{i}");
        let Value::Object(item) = item else {
            return Err(FieldError::invalid(
                at,
                "must be an object {name, criteria}",
            ));
        };
        let field = |name: &str| match item.get(name) {
            None | Some(Value::Null) => Err(FieldError::invalid(
                format!("{at}/{name}"),
                format!("`{name}` is required"),
            )),
            Some(value) => text(&format!("{at}/{name}"), value, 0, usize::MAX),
        };
        rubric.push(RubricItem {
            name: field("name")?,
            criteria: field("criteria")?,
        });
    }
    Ok(rubric)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::contract;

    fn body() -> Value {
        json!({
            "name": "Refund",
            "destination": "assistant-1",
            "instructions": "You want a refund.",
            "rubric": [{"name": "Polite", "criteria": "The agent is polite."}],
        })
    }

    fn pointers(result: Result<impl fmt::Debug, ValidationErrors>) -> Vec<String> {
        result
            .expect_err("invalid")
            .0
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn a_minimal_body_gets_the_defaults_and_round_trips() {
        let config = parse_create(&body()).unwrap();
        assert_eq!(config.channel, TestChannel::WebChat);
        assert_eq!(config.max_duration_seconds, None);
        assert_eq!(config.test_suite, None);
        assert_eq!(parse_create(&config.to_document()).unwrap(), config);
        let mut full = body();
        full["description"] = json!("d");
        full["max_duration_seconds"] = json!(30.0);
        full["test_suite"] = json!("billing");
        full["telnyx_conversation_channel"] = json!("sms_chat");
        let config = parse_create(&full).unwrap();
        assert_eq!(config.max_duration_seconds, Some(30));
        assert_eq!(parse_create(&config.to_document()).unwrap(), config);
        full["test_suite"] = json!("");
        assert_eq!(parse_create(&full).unwrap().test_suite, None);
    }

    #[test]
    fn ranges_and_types_point_at_the_field() {
        let cases = [
            ("name", json!(""), "/name"),
            ("name", json!("x".repeat(256)), "/name"),
            ("instructions", json!("x".repeat(5001)), "/instructions"),
            ("instructions", json!(""), "/instructions"),
            ("destination", json!(""), "/destination"),
            ("description", json!("x".repeat(1001)), "/description"),
            ("test_suite", json!("x".repeat(101)), "/test_suite"),
            ("max_duration_seconds", json!(0), "/max_duration_seconds"),
            ("max_duration_seconds", json!(3601), "/max_duration_seconds"),
            ("max_duration_seconds", json!(1.5), "/max_duration_seconds"),
            ("max_duration_seconds", json!("30"), "/max_duration_seconds"),
            (
                "telnyx_conversation_channel",
                json!("sms"),
                "/telnyx_conversation_channel",
            ),
            ("rubric", json!([]), "/rubric"),
            ("rubric", json!([{"name": "a"}]), "/rubric/0/criteria"),
            (
                "rubric",
                json!([{"name": "a", "criteria": "b"}, 3]),
                "/rubric/1",
            ),
            ("name", json!("a\u{0}b"), "/name"),
        ];
        for (field, value, pointer) in cases {
            let mut b = body();
            b[field] = value.clone();
            assert_eq!(pointers(parse_create(&b)), [pointer], "{field} = {value}");
        }
        // Exactly at the limits is fine (characters, not bytes).
        let mut b = body();
        b["name"] = json!("é".repeat(255));
        b["max_duration_seconds"] = json!(3600);
        assert!(parse_create(&b).is_ok());
        assert_eq!(
            pointers(parse_create(&json!({}))),
            ["/name", "/destination", "/instructions", "/rubric"]
        );
    }

    #[test]
    fn updates_apply_and_clear() {
        let current = parse_create(&json!({
            "name": "a", "destination": "d", "instructions": "i",
            "rubric": [{"name": "n", "criteria": "c"}],
            "description": "x", "test_suite": "s", "max_duration_seconds": 5,
        }))
        .unwrap();
        let update = parse_update(&json!({
            "name": "b", "description": null, "test_suite": null,
            "max_duration_seconds": null, "telnyx_conversation_channel": "web_call",
        }))
        .unwrap();
        let next = update.apply(&current);
        assert_eq!(next.name, "b");
        assert_eq!(next.channel, TestChannel::WebCall);
        assert_eq!(
            (next.description, next.test_suite, next.max_duration_seconds),
            (None, None, None)
        );
        assert_eq!(next.rubric, current.rubric);
        assert_eq!(parse_update(&json!({})).unwrap().apply(&current), current);
        assert_eq!(
            pointers(parse_update(&json!({"name": null, "rubric": []}))),
            ["/name", "/rubric"]
        );
    }

    #[test]
    fn status_filters_understand_the_docstring_words() {
        assert_eq!(
            TestStatus::parse_filter("pending,running").unwrap(),
            [TestStatus::Pending, TestStatus::Running]
        );
        assert_eq!(
            TestStatus::parse_filter("completed,timeout").unwrap(),
            [TestStatus::Passed, TestStatus::Failed, TestStatus::Error]
        );
        assert_eq!(TestStatus::parse_filter("done"), Err("done".to_owned()));
        assert!(TestStatus::parse_filter("").unwrap().is_empty());
    }

    #[test]
    fn limits_match_the_contract() {
        let schemas = &contract().components()["schemas"];
        for params in ["TestCreateParams", "TestUpdateParams"] {
            let p = &schemas[params]["properties"];
            assert_eq!(p["name"]["maxLength"], json!(MAX_NAME_LEN), "{params}");
            assert_eq!(p["name"]["minLength"], json!(1));
            assert_eq!(p["instructions"]["maxLength"], json!(MAX_INSTRUCTIONS_LEN));
            assert_eq!(p["description"]["maxLength"], json!(MAX_DESCRIPTION_LEN));
            assert_eq!(p["test_suite"]["maxLength"], json!(MAX_SUITE_LEN));
            assert_eq!(p["destination"]["minLength"], json!(1));
            assert_eq!(p["rubric"]["minItems"], json!(1));
            assert_eq!(
                p["max_duration_seconds"]["maximum"].as_f64(),
                Some(f64::from(MAX_DURATION_SECONDS))
            );
            assert_eq!(
                p["max_duration_seconds"]["minimum"].as_f64(),
                Some(f64::from(MIN_DURATION_SECONDS))
            );
        }
        let channels: Vec<&str> = schemas["TelnyxConversationChannel"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(channels, TestChannel::ALL.map(TestChannel::as_str));
        let statuses: Vec<&str> = schemas["TestStatus"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(statuses, TestStatus::ALL.map(TestStatus::as_str));
    }
}
