//! JSON Schema → GBNF: grammars that make llama.cpp's sampler produce only JSON documents of a
//! given shape, and the grammar of a tool call.
//!
//! The supported subset is what tool parameters and structured answers use: `type` (one type or
//! a list), `properties` with `required` (properties come out in schema order; optional ones may
//! be left out), `items` with `minItems`/`maxItems`, `enum`, `const`, `anyOf`/`oneOf`,
//! `minLength`/`maxLength` on strings, and nesting. Annotations (`description`, `title`,
//! `default`, `examples`, `format`) and bounds the grammar cannot express cheaply (`minimum`,
//! `maximum`, `additionalProperties`) are ignored: callers validate the document afterwards.
//! Keywords that change the language in ways the grammar cannot follow (`$ref`, `allOf`, `not`,
//! `pattern`, `patternProperties`, `prefixItems`, `if`) are refused with a [`SchemaError`].

use crate::ToolSpec;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt::Write as _;

/// A schema this module cannot turn into a grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at schema path \"{pointer}\")")]
pub struct SchemaError {
    /// JSON pointer into the schema.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// The GBNF grammar (root rule `root`) of JSON documents matching `schema`.
///
/// ```
/// let schema = serde_json::json!({
///     "type": "object",
///     "properties": {"city": {"type": "string", "maxLength": 40}, "unit": {"enum": ["c", "f"]}},
///     "required": ["city"],
/// });
/// let grammar = parley_llm::grammar::json_schema_to_gbnf(&schema).unwrap();
/// assert!(grammar.starts_with("root ::= "));
/// ```
pub fn json_schema_to_gbnf(schema: &Value) -> Result<String, SchemaError> {
    let mut builder = Builder::default();
    let root = builder.visit(schema, "root", "")?;
    builder.define("root", root);
    Ok(builder.finish())
}

/// The GBNF grammar of one call to one of `tools`, as the embedded model writes tool calls:
/// `{"name": "<tool>", "arguments": {…}}`, the arguments matching that tool's parameter schema.
pub fn tool_call_gbnf(tools: &[ToolSpec]) -> Result<String, SchemaError> {
    if tools.is_empty() {
        return Err(SchemaError {
            pointer: String::new(),
            message: "no tools to call".to_owned(),
        });
    }
    let mut builder = Builder::default();
    let mut calls = Vec::with_capacity(tools.len());
    for (index, tool) in tools.iter().enumerate() {
        let hint = format!("call-{}", sanitize(&tool.name));
        let arguments = builder.visit(
            &tool.parameters,
            &format!("{hint}-arguments"),
            &format!("/tools/{index}/parameters"),
        )?;
        let name = literal(&Value::String(tool.name.clone()).to_string());
        let body = format!(
            r#""{{" ws "\"name\":" ws {name} "," ws "\"arguments\":" ws {arguments} ws "}}""#
        );
        calls.push(builder.define(&hint, body));
    }
    builder.define("root", calls.join(" | "));
    Ok(builder.finish())
}

/// The grammar of an answer that is either free text (not starting with `{`) or exactly one
/// call of one of `tools` (as [`tool_call_gbnf`]): what the embedded model is held to when it
/// may call tools, so that anything that starts like a call is a valid call of a tool that
/// exists.
pub fn text_or_tool_call_gbnf(tools: &[ToolSpec]) -> Result<String, SchemaError> {
    let calls = tool_call_gbnf(tools)?;
    let calls = calls.replacen("root ::=", "call ::=", 1);
    Ok(format!(
        "root ::= call | free-text\nfree-text ::= [^{{] [^\\x00]*\n{calls}"
    ))
}

/// Shared rules, referenced by name from generated ones.
const PRIMITIVES: &[(&str, &str)] = &[
    ("ws", r#"| " ""#),
    ("value", "object | array | string | number | boolean | null"),
    (
        "object",
        r#""{" ws ( string ":" ws value ( "," ws string ":" ws value )* )? ws "}""#,
    ),
    ("array", r#""[" ws ( value ( "," ws value )* )? ws "]""#),
    ("string", r#""\"" char* "\"""#),
    (
        "char",
        r#"[^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )"#,
    ),
    (
        "number",
        r#"integer ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?"#,
    ),
    ("integer", r#""-"? ( "0" | [1-9] [0-9]{0,15} )"#),
    ("boolean", r#""true" | "false""#),
    ("null", r#""null""#),
];

/// Which primitives reference which (so that only the used ones are emitted).
fn primitive_dependencies(name: &str) -> &'static [&'static str] {
    match name {
        "value" => &["object", "array", "string", "number", "boolean", "null"],
        "object" => &["ws", "string", "value"],
        "array" => &["ws", "value"],
        "string" => &["char"],
        "number" => &["integer"],
        _ => &[],
    }
}

#[derive(Default)]
struct Builder {
    rules: Vec<(String, String)>,
    names: HashSet<String>,
    primitives: HashSet<&'static str>,
}

impl Builder {
    /// Adds a rule under a fresh name derived from `hint`; returns the name.
    fn define(&mut self, hint: &str, body: String) -> String {
        let base = sanitize(hint);
        let mut name = base.clone();
        let mut counter = 2;
        while self.names.contains(&name) || PRIMITIVES.iter().any(|(p, _)| *p == name) {
            name = format!("{base}-{counter}");
            counter += 1;
        }
        self.names.insert(name.clone());
        self.rules.push((name.clone(), body));
        name
    }

    /// `expression` as a rule name: itself if it already is a generated rule, else a new rule.
    fn named(&mut self, hint: &str, expression: String) -> String {
        if self.names.contains(&expression) {
            expression
        } else {
            self.define(hint, expression)
        }
    }

    fn primitive(&mut self, name: &'static str) -> String {
        let mut pending = vec![name];
        while let Some(next) = pending.pop() {
            if self.primitives.insert(next) {
                pending.extend(primitive_dependencies(next));
            }
        }
        name.to_owned()
    }

    fn finish(self) -> String {
        let mut out = String::new();
        // `root` first, as llama.cpp's examples do; then generated rules, then primitives.
        let (roots, others): (Vec<_>, Vec<_>) = self.rules.iter().partition(|(n, _)| n == "root");
        for (name, body) in roots.into_iter().chain(others) {
            let _ = writeln!(out, "{name} ::= {body}");
        }
        for (name, body) in PRIMITIVES {
            if self.primitives.contains(name) {
                let _ = writeln!(out, "{name} ::= {body}");
            }
        }
        out
    }

    /// A GBNF expression for `schema`; `hint` names any rules it needs.
    fn visit(&mut self, schema: &Value, hint: &str, pointer: &str) -> Result<String, SchemaError> {
        let object = match schema {
            Value::Bool(true) => return Ok(self.primitive("value")),
            Value::Bool(false) => return Err(error(pointer, "`false` admits no document")),
            Value::Object(object) => object,
            _ => return Err(error(pointer, "a schema is an object or a boolean")),
        };
        for keyword in [
            "$ref",
            "allOf",
            "not",
            "pattern",
            "patternProperties",
            "prefixItems",
            "if",
        ] {
            if object.contains_key(keyword) {
                return Err(error(
                    &format!("{pointer}/{keyword}"),
                    &format!("`{keyword}` is not supported in grammars"),
                ));
            }
        }
        if let Some(constant) = object.get("const") {
            return Ok(literal(&constant.to_string()));
        }
        if let Some(values) = object.get("enum") {
            let values = values
                .as_array()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| error(&format!("{pointer}/enum"), "a non-empty array expected"))?;
            let alternatives: Vec<String> =
                values.iter().map(|v| literal(&v.to_string())).collect();
            return Ok(format!("( {} )", alternatives.join(" | ")));
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(options) = object.get(keyword) {
                let options = options
                    .as_array()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        error(
                            &format!("{pointer}/{keyword}"),
                            "a non-empty array expected",
                        )
                    })?;
                let mut alternatives = Vec::with_capacity(options.len());
                for (index, option) in options.iter().enumerate() {
                    alternatives.push(self.visit(
                        option,
                        &format!("{hint}-{index}"),
                        &format!("{pointer}/{keyword}/{index}"),
                    )?);
                }
                return Ok(format!("( {} )", alternatives.join(" | ")));
            }
        }
        let types: Vec<&str> = match object.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many
                .iter()
                .map(|t| {
                    t.as_str()
                        .ok_or_else(|| error(&format!("{pointer}/type"), "type names expected"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(error(&format!("{pointer}/type"), "a type name expected")),
            None if object.contains_key("properties") => vec!["object"],
            None if object.contains_key("items") => vec!["array"],
            None => return Ok(self.primitive("value")),
        };
        let mut alternatives = Vec::with_capacity(types.len());
        for kind in types {
            alternatives.push(match kind {
                "string" => self.string(object, pointer)?,
                "integer" => self.primitive("integer"),
                "number" => self.primitive("number"),
                "boolean" => self.primitive("boolean"),
                "null" => self.primitive("null"),
                "array" => self.array(object, hint, pointer)?,
                "object" => self.object(object, hint, pointer)?,
                other => {
                    return Err(error(
                        &format!("{pointer}/type"),
                        &format!("unknown type `{other}`"),
                    ))
                }
            });
        }
        Ok(if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            format!("( {} )", alternatives.join(" | "))
        })
    }

    fn string(
        &mut self,
        object: &serde_json::Map<String, Value>,
        pointer: &str,
    ) -> Result<String, SchemaError> {
        let min = bound(object, "minLength", pointer)?;
        let max = bound(object, "maxLength", pointer)?;
        if min.is_none() && max.is_none() {
            return Ok(self.primitive("string"));
        }
        self.primitive("char");
        Ok(format!(
            r#""\"" char{} "\"""#,
            repetition(min.unwrap_or(0), max)
        ))
    }

    fn array(
        &mut self,
        object: &serde_json::Map<String, Value>,
        hint: &str,
        pointer: &str,
    ) -> Result<String, SchemaError> {
        let item = match object.get("items") {
            Some(items) => {
                let expression =
                    self.visit(items, &format!("{hint}-item"), &format!("{pointer}/items"))?;
                self.named(&format!("{hint}-item"), expression)
            }
            None => self.primitive("value"),
        };
        self.primitive("ws");
        let min = bound(object, "minItems", pointer)?.unwrap_or(0);
        let max = bound(object, "maxItems", pointer)?;
        if max == Some(0) {
            return Ok(r#""[" ws "]""#.to_owned());
        }
        let rest = |min_rest: u64| {
            format!(
                r#"( "," ws {item} ){}"#,
                repetition(min_rest, max.map(|m| m - 1))
            )
        };
        let body = if min == 0 {
            format!(r#""[" ws ( {item} {} )? ws "]""#, rest(0))
        } else {
            format!(r#""[" ws {item} {} ws "]""#, rest(min - 1))
        };
        Ok(self.define(hint, body))
    }

    fn object(
        &mut self,
        object: &serde_json::Map<String, Value>,
        hint: &str,
        pointer: &str,
    ) -> Result<String, SchemaError> {
        let Some(properties) = object.get("properties") else {
            return Ok(self.primitive("object"));
        };
        let properties = properties
            .as_object()
            .ok_or_else(|| error(&format!("{pointer}/properties"), "an object expected"))?;
        let required: HashSet<&str> = match object.get("required") {
            None => HashSet::new(),
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err(error(&format!("{pointer}/required"), "an array expected")),
        };
        self.primitive("ws");
        // Each property as `"key": value`, and whether it must be present.
        let mut members = Vec::with_capacity(properties.len());
        for (key, schema) in properties {
            let value_hint = format!("{hint}-{key}");
            let escaped_key = key.replace('~', "~0").replace('/', "~1");
            let expression = self.visit(
                schema,
                &value_hint,
                &format!("{pointer}/properties/{escaped_key}"),
            )?;
            let value = self.named(&value_hint, expression);
            let is_required = required.contains(key.as_str());
            let key = literal(&format!("{}:", Value::String(key.clone())));
            members.push((format!("{key} ws {value}"), is_required));
        }
        // `after(i)`: members i.. once something was written (each needs a leading comma);
        // `first(i)`: members i.. when nothing was written yet.
        let after = |from: usize| -> String {
            members[from..]
                .iter()
                .map(|(member, required)| {
                    if *required {
                        format!(r#""," ws {member}"#)
                    } else {
                        format!(r#"( "," ws {member} )?"#)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut first = String::new();
        for index in (0..members.len()).rev() {
            let (member, required) = &members[index];
            let with = join_nonempty(member, &after(index + 1));
            first = if *required {
                with
            } else if first.is_empty() {
                format!("( {with} )?")
            } else {
                format!("( {with} | {first} )")
            };
        }
        let body = if first.is_empty() {
            r#""{" ws "}""#.to_owned()
        } else {
            format!(r#""{{" ws {first} ws "}}""#)
        };
        Ok(self.define(hint, body))
    }
}

fn join_nonempty(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_owned(),
        (true, false) => b.to_owned(),
        (false, false) => format!("{a} {b}"),
    }
}

fn repetition(min: u64, max: Option<u64>) -> String {
    match (min, max) {
        (0, None) => "*".to_owned(),
        (1, None) => "+".to_owned(),
        (min, None) => format!("{{{min},}}"),
        (min, Some(max)) if min == max => format!("{{{min}}}"),
        (min, Some(max)) => format!("{{{min},{max}}}"),
    }
}

fn bound(
    object: &serde_json::Map<String, Value>,
    keyword: &str,
    pointer: &str,
) -> Result<Option<u64>, SchemaError> {
    match object.get(keyword) {
        None => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or_else(|| {
            error(
                &format!("{pointer}/{keyword}"),
                "a non-negative integer expected",
            )
        }),
    }
}

/// A GBNF string literal matching `text` exactly.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A rule name: lowercase letters, digits and dashes (all llama.cpp accepts).
fn sanitize(hint: &str) -> String {
    let mut name = String::with_capacity(hint.len());
    for c in hint.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_matches('-');
    if name.is_empty() {
        "rule".to_owned()
    } else {
        name.to_owned()
    }
}

fn error(pointer: &str, message: &str) -> SchemaError {
    SchemaError {
        pointer: pointer.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_properties_come_in_order_with_commas() {
        let grammar = json_schema_to_gbnf(&json!({
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}},
            "required": ["a", "b"],
        }))
        .unwrap();
        assert!(
            grammar
                .contains(r#"root ::= "{" ws "\"a\":" ws root-a "," ws "\"b\":" ws root-b ws "}""#),
            "{grammar}"
        );
        assert!(grammar.contains("root-a ::= integer\n"), "{grammar}");
        assert!(grammar.contains("integer ::= "), "{grammar}");
        assert!(
            !grammar.contains("string ::="),
            "unused primitives are left out: {grammar}"
        );
    }

    #[test]
    fn optional_properties_may_be_left_out_without_stray_commas() {
        let grammar = json_schema_to_gbnf(&json!({
            "properties": {"a": {"type": "null"}, "b": {"type": "null"}},
            "required": ["b"],
        }))
        .unwrap();
        let root = grammar.lines().next().unwrap();
        assert_eq!(
            root,
            r#"root ::= "{" ws ( "\"a\":" ws root-a "," ws "\"b\":" ws root-b | "\"b\":" ws root-b ) ws "}""#
        );
    }

    #[test]
    fn all_optional_properties_allow_the_empty_object() {
        let grammar = json_schema_to_gbnf(&json!({
            "type": "object",
            "properties": {"a": {"type": "null"}},
        }))
        .unwrap();
        assert!(
            grammar.starts_with(r#"root ::= "{" ws ( "\"a\":" ws root-a )? ws "}""#),
            "{grammar}"
        );
    }

    #[test]
    fn enums_consts_and_type_lists_become_alternatives() {
        let grammar = json_schema_to_gbnf(&json!({
            "type": "object",
            "properties": {
                "unit": {"enum": ["c", "f", 1, null]},
                "kind": {"const": "x\"y"},
                "maybe": {"type": ["string", "null"]},
            },
            "required": ["unit", "kind", "maybe"],
        }))
        .unwrap();
        assert!(
            grammar.contains(r#"root-unit ::= ( "\"c\"" | "\"f\"" | "1" | "null" )"#),
            "{grammar}"
        );
        assert!(
            grammar.contains(r#"root-kind ::= "\"x\\\"y\"""#),
            "{grammar}"
        );
        assert!(
            grammar.contains("root-maybe ::= ( string | null )"),
            "{grammar}"
        );
    }

    #[test]
    fn string_lengths_and_array_sizes_become_repetitions() {
        let grammar = json_schema_to_gbnf(&json!({
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 8},
            "minItems": 1,
            "maxItems": 3,
        }))
        .unwrap();
        assert!(
            grammar.contains(r#"root-item ::= "\"" char{1,8} "\"""#),
            "{grammar}"
        );
        assert!(
            grammar.contains(r#"root ::= "[" ws root-item ( "," ws root-item ){0,2} ws "]""#),
            "{grammar}"
        );
    }

    #[test]
    fn nested_objects_and_free_form_values() {
        let grammar = json_schema_to_gbnf(&json!({
            "type": "object",
            "properties": {
                "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "extra": {},
            },
            "required": ["address", "extra"],
        }))
        .unwrap();
        assert!(
            grammar.contains(r#"root-address ::= "{" ws "\"city\":" ws root-address-city ws "}""#),
            "{grammar}"
        );
        assert!(grammar.contains("root-extra ::= value"), "{grammar}");
        assert!(grammar.contains("value ::= "), "{grammar}");
    }

    #[test]
    fn unsupported_keywords_are_refused_with_a_pointer() {
        let error = json_schema_to_gbnf(&json!({
            "type": "object",
            "properties": {"id": {"type": "string", "pattern": "^a"}},
        }))
        .unwrap_err();
        assert_eq!(error.pointer, "/properties/id/pattern");
        assert!(json_schema_to_gbnf(&json!({"$ref": "#/x"})).is_err());
        assert!(json_schema_to_gbnf(&json!(false)).is_err());
        assert!(json_schema_to_gbnf(&json!({"type": "date"})).is_err());
    }

    #[test]
    fn tool_calls_pair_each_name_with_its_own_arguments() {
        let tools = vec![
            ToolSpec {
                name: "get_weather".into(),
                description: "Weather in a city".into(),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
            },
            ToolSpec {
                name: "hangup".into(),
                description: "End the call".into(),
                parameters: json!({"type": "object", "properties": {}}),
            },
        ];
        let grammar = tool_call_gbnf(&tools).unwrap();
        assert!(
            grammar.starts_with("root ::= call-get-weather | call-hangup\n"),
            "{grammar}"
        );
        assert!(
            grammar.contains(r#"call-get-weather ::= "{" ws "\"name\":" ws "\"get_weather\"" "," ws "\"arguments\":" ws call-get-weather-arguments ws "}""#),
            "{grammar}"
        );
        assert!(
            grammar.contains(r#"call-hangup-arguments ::= "{" ws "}""#),
            "{grammar}"
        );
        assert!(tool_call_gbnf(&[]).is_err());
        let either = text_or_tool_call_gbnf(&tools).unwrap();
        assert!(
            either.starts_with("root ::= call | free-text\n"),
            "{either}"
        );
        assert_eq!(either.matches("root ::=").count(), 1, "{either}");
        assert!(either.contains("call ::="), "{either}");
    }
}
