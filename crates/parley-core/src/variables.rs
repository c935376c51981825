//! Dynamic variables: `{{name}}` templates in instructions, greetings and tool definitions.
//!
//! - A placeholder is `{{ name }}` (spaces optional). Names are letters, digits and `_ . - / +`.
//! - An unresolved placeholder stays **verbatim** (`{{full_name}}`), as Telnyx renders
//!   instructions and greetings, so a missing value is visible in the prompt instead of silently
//!   vanishing. [`render_or_empty`] renders unresolved ones as empty strings (conversation-flow
//!   messages and tool payloads).
//! - A `date` filter formats a time: `{{ telnyx_current_time | date: "%A, %B %d, %Y",
//!   "America/New_York" }}` (strftime codes, optional IANA zone, UTC without one). It applies to
//!   the current-time variables and to any variable whose value is an RFC 3339 time or a
//!   `YYYY-MM-DD` date. An unknown zone, a bad format or an unknown variable leaves the
//!   placeholder untouched.
//! - System variables ([`system_variables`]) start with `telnyx_`; that prefix is reserved, so
//!   values from the assistant's defaults or the webhook under it are dropped ([`merge`]).
//!   Time variables are computed at render time: `telnyx_current_time`, `telnyx_current_date`,
//!   `telnyx_current_weekday`, `telnyx_current_month`, `telnyx_current_day`,
//!   `telnyx_current_year`, `telnyx_current_time_of_day`, and the zoned forms
//!   `telnyx_current_time_<IANA zone>` / `telnyx_current_time_of_day_<IANA zone>`.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// The reserved prefix of system variables.
pub const SYSTEM_PREFIX: &str = "telnyx_";

/// What a template is rendered against: the values known for the conversation, and the
/// current time for the time variables.
#[derive(Debug, Clone)]
pub struct VariableContext<'a> {
    /// Values by name (system values included).
    pub values: &'a BTreeMap<String, String>,
    /// The current time.
    pub now: DateTime<Utc>,
}

impl VariableContext<'_> {
    /// The value of `name`: a stored value, else a computed time variable.
    pub fn lookup(&self, name: &str) -> Option<String> {
        if let Some(value) = self.values.get(name) {
            return Some(value.clone());
        }
        time_variable(name, self.now)
    }
}

/// The conversation facts system variables are made of.
#[derive(Debug, Clone, Default)]
pub struct SystemFacts<'a> {
    /// `telnyx_conversation_channel`.
    pub channel: &'a str,
    /// `telnyx_agent_target`.
    pub agent_target: Option<&'a str>,
    /// `telnyx_end_user_target`.
    pub end_user_target: Option<&'a str>,
    /// `telnyx_conversation_id`.
    pub conversation_id: &'a str,
    /// `call_control_id`.
    pub call_control_id: Option<&'a str>,
    /// `telnyx_assistant_id`.
    pub assistant_id: &'a str,
}

/// The stored system variables of a conversation (the time ones are computed when rendering).
pub fn system_variables(facts: &SystemFacts<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert(
        "telnyx_conversation_channel".to_owned(),
        facts.channel.to_owned(),
    );
    out.insert(
        "telnyx_conversation_id".to_owned(),
        facts.conversation_id.to_owned(),
    );
    out.insert(
        "telnyx_assistant_id".to_owned(),
        facts.assistant_id.to_owned(),
    );
    if let Some(target) = facts.agent_target {
        out.insert("telnyx_agent_target".to_owned(), target.to_owned());
    }
    if let Some(target) = facts.end_user_target {
        out.insert("telnyx_end_user_target".to_owned(), target.to_owned());
    }
    if let Some(id) = facts.call_control_id {
        out.insert("call_control_id".to_owned(), id.to_owned());
    }
    out
}

/// Layers variable sources, lowest precedence first; later layers win. Keys under the
/// reserved `telnyx_` prefix are dropped from every layer (system values are added by the
/// caller, last).
pub fn merge<'a>(
    layers: impl IntoIterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for layer in layers {
        for (key, value) in layer {
            if !key.starts_with(SYSTEM_PREFIX) {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// Converts a JSON object of variables (the assistant's `dynamic_variables`, a webhook's
/// answer) to strings: strings as they are, numbers and booleans as JSON text; `null`,
/// arrays and objects are skipped.
pub fn from_json(value: Option<&serde_json::Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(serde_json::Value::Object(map)) = value {
        for (key, value) in map {
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            out.insert(key.clone(), text);
        }
    }
    out
}

/// Renders `template`, leaving unresolved placeholders verbatim.
pub fn render(template: &str, context: &VariableContext<'_>) -> String {
    render_with(template, context, false)
}

/// Renders `template`, replacing unresolved placeholders by empty strings.
pub fn render_or_empty(template: &str, context: &VariableContext<'_>) -> String {
    render_with(template, context, true)
}

/// The variable names `template` refers to, in order of appearance, without repeats.
pub fn referenced(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        if let Some(placeholder) = Placeholder::parse(&after[..end]) {
            if !names.iter().any(|n| n == placeholder.name) {
                names.push(placeholder.name.to_owned());
            }
        }
        rest = &after[end + 2..];
    }
    names
}

fn render_with(template: &str, context: &VariableContext<'_>, empty: bool) -> String {
    if !template.contains("{{") {
        return template.to_owned();
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let whole = &rest[start..start + 2 + end + 2];
        match Placeholder::parse(inner).map(|p| p.resolve(context)) {
            Some(Some(value)) => out.push_str(&value),
            Some(None) if empty => {}
            _ => out.push_str(whole),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

struct Placeholder<'t> {
    name: &'t str,
    date: Option<(String, Option<String>)>,
}

impl<'t> Placeholder<'t> {
    fn parse(inner: &'t str) -> Option<Self> {
        let (name, filter) = match inner.split_once('|') {
            Some((name, filter)) => (name.trim(), Some(filter.trim())),
            None => (inner.trim(), None),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-/+".contains(c))
        {
            return None;
        }
        let date = match filter {
            None => None,
            Some(filter) => {
                let args = filter
                    .strip_prefix("date")?
                    .trim_start()
                    .strip_prefix(':')?;
                let mut strings = quoted_strings(args)?;
                if strings.is_empty() || strings.len() > 2 {
                    return None;
                }
                let zone = (strings.len() == 2).then(|| strings.pop().expect("two"));
                Some((strings.pop().expect("one"), zone))
            }
        };
        Some(Placeholder { name, date })
    }

    fn resolve(&self, context: &VariableContext<'_>) -> Option<String> {
        let Some((format, zone)) = &self.date else {
            return context.lookup(self.name);
        };
        let instant = if is_current_time(self.name) {
            context.now
        } else {
            parse_time(&context.values.get(self.name)?.clone())?
        };
        let zone: Tz = match zone {
            Some(zone) => zone.parse().ok()?,
            None => Tz::UTC,
        };
        format_checked(&instant.with_timezone(&zone), format)
    }
}

/// `"a", "b"` → `["a", "b"]`; `None` when it is not a comma-separated list of quoted strings.
fn quoted_strings(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let quote = rest.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let body = &rest[1..];
        let end = body.find(quote)?;
        out.push(body[..end].to_owned());
        rest = body[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

fn is_current_time(name: &str) -> bool {
    name.starts_with("telnyx_current_")
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    crate::clock::parse_timestamp(text)
}

/// Formats with a strftime string, or `None` when the string has an invalid code (chrono
/// would otherwise fail while writing).
fn format_checked<T: TimeZone>(at: &DateTime<T>, format: &str) -> Option<String>
where
    T::Offset: std::fmt::Display,
{
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return None;
    }
    use std::fmt::Write as _;
    let mut out = String::new();
    write!(out, "{}", at.format_with_items(items.into_iter())).ok()?;
    Some(out)
}

fn time_of_day(hour: u32) -> &'static str {
    match hour {
        5..=11 => "morning",
        12..=16 => "afternoon",
        17..=20 => "evening",
        _ => "night",
    }
}

/// The value of a computed time variable at `now`, or `None` when `name` is not one.
fn time_variable(name: &str, now: DateTime<Utc>) -> Option<String> {
    let long = "%A, %B %d %Y %I:%M:%S %p";
    match name {
        "telnyx_current_time" => return Some(format!("{} UTC", now.format(long))),
        "telnyx_current_date" => return Some(now.format("%Y-%m-%d").to_string()),
        "telnyx_current_weekday" => return Some(now.format("%A").to_string()),
        "telnyx_current_month" => return Some(now.format("%B").to_string()),
        "telnyx_current_day" => return Some(now.day().to_string()),
        "telnyx_current_year" => return Some(now.year().to_string()),
        "telnyx_current_time_of_day" => return Some(time_of_day(now.hour()).to_owned()),
        _ => {}
    }
    if let Some(zone) = name.strip_prefix("telnyx_current_time_of_day_") {
        let zone: Tz = zone.parse().ok()?;
        return Some(time_of_day(now.with_timezone(&zone).hour()).to_owned());
    }
    if let Some(zone) = name.strip_prefix("telnyx_current_time_") {
        let zone: Tz = zone.parse().ok()?;
        let local = now.with_timezone(&zone);
        return Some(format!("{} {}", local.format(long), local.format("%Z")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 2, 24, 16, 4, 15).unwrap()
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn known_names_render_unknown_stay_verbatim() {
        let values = vars(&[("full_name", "Ada"), ("plan", "gold")]);
        let context = VariableContext {
            values: &values,
            now: at(),
        };
        assert_eq!(
            render(
                "Hi {{full_name}}, plan {{ plan }}, {{missing}} {{ bad name }}",
                &context
            ),
            "Hi Ada, plan gold, {{missing}} {{ bad name }}"
        );
        assert_eq!(
            render_or_empty("[{{missing}}] {{plan}}", &context),
            "[] gold"
        );
        assert_eq!(render("no braces", &context), "no braces");
        assert_eq!(render("open {{ end", &context), "open {{ end");
    }

    #[test]
    fn system_time_variables() {
        let values = BTreeMap::new();
        let context = VariableContext {
            values: &values,
            now: at(),
        };
        assert_eq!(
            render("{{telnyx_current_time}}", &context),
            "Monday, February 24 2025 04:04:15 PM UTC"
        );
        assert_eq!(
            render(
                "{{telnyx_current_date}} {{telnyx_current_weekday}} {{telnyx_current_month}} {{telnyx_current_day}} {{telnyx_current_year}} {{telnyx_current_time_of_day}}",
                &context
            ),
            "2025-02-24 Monday February 24 2025 afternoon"
        );
        assert_eq!(
            render("{{telnyx_current_time_America/New_York}}", &context),
            "Monday, February 24 2025 11:04:15 AM EST"
        );
        assert_eq!(
            render("{{telnyx_current_time_of_day_Asia/Tokyo}}", &context),
            "night"
        );
        assert_eq!(
            render("{{telnyx_current_time_Mars/Olympus}}", &context),
            "{{telnyx_current_time_Mars/Olympus}}"
        );
    }

    #[test]
    fn date_filter() {
        let values = vars(&[("due", "2025-03-01"), ("word", "soon")]);
        let context = VariableContext {
            values: &values,
            now: at(),
        };
        assert_eq!(
            render(
                r#"{{ telnyx_current_time | date: "%A, %B %d, %Y", "America/New_York" }}"#,
                &context
            ),
            "Monday, February 24, 2025"
        );
        assert_eq!(render(r#"{{ due | date: "%d/%m" }}"#, &context), "01/03");
        for untouched in [
            r#"{{ telnyx_current_time | date: "%Q" }}"#,
            r#"{{ telnyx_current_time | date: "%Y", "Nowhere/City" }}"#,
            r#"{{ word | date: "%Y" }}"#,
            r#"{{ missing | date: "%Y" }}"#,
            r#"{{ due | upcase }}"#,
        ] {
            assert_eq!(render(untouched, &context), untouched);
        }
    }

    #[test]
    fn merge_drops_reserved_and_later_layers_win() {
        let defaults = vars(&[("a", "1"), ("b", "1"), ("telnyx_agent_target", "spoof")]);
        let webhook = vars(&[("b", "2")]);
        let merged = merge([&defaults, &webhook]);
        assert_eq!(merged, vars(&[("a", "1"), ("b", "2")]));
    }

    #[test]
    fn json_values_become_text() {
        let value = serde_json::json!({"s": "x", "n": 3, "f": 1.5, "b": true, "z": null, "o": {}});
        assert_eq!(
            from_json(Some(&value)),
            vars(&[("s", "x"), ("n", "3"), ("f", "1.5"), ("b", "true")])
        );
    }

    #[test]
    fn references() {
        assert_eq!(
            referenced("{{a}} {{ b | date: \"%Y\" }} {{a}} {{ not valid }}"),
            vec!["a".to_owned(), "b".to_owned()]
        );
    }
}
