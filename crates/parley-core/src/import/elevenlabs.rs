//! ElevenLabs Agents (Conversational AI): the object `GET /v1/convai/agents/{agent_id}`
//! returns, plus the tools its `tool_ids` name (`GET /v1/convai/tools/{tool_id}`, whose
//! `tool_config` has the same shape as an inline tool).
//!
//! | ElevenLabs | Parley |
//! |---|---|
//! | `name`, `tags` | `name`, `tags` |
//! | `conversation_config.agent.prompt.prompt` | `instructions` |
//! | `conversation_config.agent.first_message` | `greeting` |
//! | `…prompt.llm` | `model` (`gpt-*` → `openai/…`, `claude-*` → `anthropic/…`, `gemini-*` → `google/…`) when served |
//! | `…prompt.custom_llm {url, model_id, api_key.secret_id}` | `external_llm` (+ placeholder secret) |
//! | `…agent.dynamic_variables.dynamic_variable_placeholders` | `dynamic_variables` |
//! | `webhook` tools (`api_schema`) | `webhook` tools |
//! | `client` tools | `client_side_tool` tools |
//! | system `end_call` | `hangup` |
//! | system `transfer_to_number` (`transfers[]`) | `transfer` (one target per rule) |
//! | system `skip_turn` / `play_keypad_touch_tone` | `skip_turn` / `send_dtmf` |
//! | `conversation_config.tts {model_id, voice_id}` | `voice_settings.voice = ElevenLabs.<model_id>.<voice_id>`, `api_key_ref` = the import's key |
//! | `conversation_config.agent.language` | `transcription.language` |
//! | `platform_settings.privacy.zero_retention_mode` | `privacy_settings.data_retention = false` |

use super::common::{
    array, clean_property, flag, model_candidates, number, object_schema, sensitive_header, text,
    Draft, Webhook,
};
use super::{agent_id, ImportedAgent, MapContext, MapError, Provider, ProviderObjects};
use serde_json::{json, Map, Value};

/// Maps an ElevenLabs agent.
pub fn map(objects: &ProviderObjects, ctx: &MapContext<'_>) -> Result<ImportedAgent, MapError> {
    let agent = &objects.agent;
    let id = agent_id(Provider::ElevenLabs, agent).ok_or_else(|| MapError {
        import_id: String::new(),
        reason: "the agent object has no agent_id".into(),
    })?;
    let mut d = Draft::new(ctx, Provider::ElevenLabs, id);
    let config = agent
        .get("conversation_config")
        .filter(|c| c.is_object())
        .ok_or_else(|| d.fail("the agent has no conversation_config object"))?;
    let null = Value::Null;
    let settings = config.get("agent").unwrap_or(&null);
    let prompt = settings.get("prompt").unwrap_or(&null);

    d.name(text(agent, "/name"));
    d.tags = array(agent, "/tags")
        .iter()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    d.instructions(
        prompt
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    d.greeting(text(settings, "/first_message"));
    if let Some(Value::Object(placeholders)) =
        settings.pointer("/dynamic_variables/dynamic_variable_placeholders")
    {
        for (name, value) in placeholders.iter().filter(|(_, v)| !v.is_null()) {
            d.variables.insert(name.clone(), value.clone());
        }
    }

    model(&mut d, prompt);
    for tool in tools(objects, prompt) {
        map_tool(&mut d, &tool);
    }
    for id in &objects.unavailable_tools {
        d.lose(format!("tool {id} (it could not be fetched)"));
    }
    for kb in array(prompt, "/knowledge_base") {
        let name = text(kb, "/name").unwrap_or("unnamed");
        let kind = text(kb, "/type").unwrap_or("document");
        let id = text(kb, "/id").unwrap_or_default();
        d.knowledge_base(format!("\"{name}\" ({kind} {id})"));
    }
    let mcp: Vec<&str> = array(prompt, "/mcp_server_ids")
        .iter()
        .chain(array(prompt, "/native_mcp_server_ids"))
        .filter_map(Value::as_str)
        .collect();
    if !mcp.is_empty() {
        d.lose(format!(
            "MCP servers {} (add them as Parley MCP servers and attach them)",
            mcp.join(", ")
        ));
    }

    voice(&mut d, config);
    if let Some(language) = text(settings, "/language") {
        d.transcription
            .insert("language".into(), Value::String(language.to_owned()));
    }
    if config.get("asr").is_some_and(|a| !a.is_null()) {
        let provider = text(config, "/asr/provider").unwrap_or("elevenlabs");
        d.lose(format!(
            "speech recognition settings (ASR provider {provider}, keywords)"
        ));
    }
    for (pointer, what) in [
        (
            "/conversation/max_duration_seconds",
            "maximum conversation duration",
        ),
        ("/turn", "turn-taking settings"),
        ("/vad", "voice activity detection settings"),
        ("/language_presets", "language presets"),
    ] {
        let value = config.pointer(pointer);
        let present = match value {
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        };
        if present {
            d.lose(what);
        }
    }
    if agent.get("workflow").is_some_and(|w| {
        w.get("nodes")
            .and_then(Value::as_object)
            .is_some_and(|n| !n.is_empty())
    }) {
        d.lose("the agent workflow (nodes and edges)");
    }
    let platform = agent.get("platform_settings").unwrap_or(&null);
    if flag(platform, "/privacy/zero_retention_mode") == Some(true)
        || number(platform, "/privacy/retention_days") == Some(0.0)
    {
        d.privacy
            .insert("data_retention".into(), Value::Bool(false));
    }
    let analysis = ["/evaluation/criteria", "/data_collection"]
        .iter()
        .any(|p| match platform.pointer(p) {
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            _ => false,
        });
    if analysis {
        d.lose("evaluation criteria and data collection (post-call analysis)");
    }
    Ok(d.finish())
}

/// Inline tools, then fetched `tool_ids` tools not already inline, then built-in tools.
fn tools(objects: &ProviderObjects, prompt: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = array(prompt, "/tools").to_vec();
    for fetched in &objects.tools {
        let tool = fetched.get("tool_config").unwrap_or(fetched).clone();
        let duplicate = out
            .iter()
            .any(|t| t.get("name").is_some() && t.get("name") == tool.get("name"));
        if !duplicate {
            out.push(tool);
        }
    }
    if let Some(Value::Object(built_in)) = prompt.get("built_in_tools") {
        for (name, tool) in built_in.iter().filter(|(_, t)| t.is_object()) {
            let mut tool = tool.clone();
            if let Value::Object(object) = &mut tool {
                object
                    .entry("type")
                    .or_insert_with(|| Value::String("system".into()));
                object
                    .entry("name")
                    .or_insert_with(|| Value::String(name.clone()));
            }
            let duplicate = out.iter().any(|t| {
                t.get("type") == Some(&json!("system")) && t.get("name") == tool.get("name")
            });
            if !duplicate {
                out.push(tool);
            }
        }
    }
    out
}

fn model(d: &mut Draft<'_, '_>, prompt: &Value) {
    let llm = text(prompt, "/llm");
    let custom_url = text(prompt, "/custom_llm/url");
    if llm == Some("custom-llm") || (llm.is_none() && custom_url.is_some()) {
        if let Some(url) = custom_url {
            let model_id = text(prompt, "/custom_llm/model_id").unwrap_or("default");
            let key = text(prompt, "/custom_llm/api_key/secret_id").map(|secret| {
                let name = d.secret_name(secret).unwrap_or(secret).to_owned();
                d.placeholder_secret(
                    &name,
                    format!("the API key of the custom LLM (ElevenLabs secret {secret})"),
                )
            });
            d.external_llm(url, model_id, key);
            return;
        }
        d.note("The agent uses a custom LLM without a URL; the assistant uses the default model.");
        return;
    }
    if let Some(llm) = llm {
        d.model(llm, &model_candidates(None, llm));
    }
    if number(prompt, "/temperature").is_some_and(|t| t > 0.0) {
        d.lose("LLM temperature");
    }
}

fn voice(d: &mut Draft<'_, '_>, config: &Value) {
    let Some(voice_id) = text(config, "/tts/voice_id") else {
        return;
    };
    let voice = match text(config, "/tts/model_id") {
        Some(model) => format!("ElevenLabs.{model}.{voice_id}"),
        None => format!("ElevenLabs.{voice_id}"),
    };
    d.voice.insert("voice".into(), Value::String(voice));
    d.voice.insert(
        "api_key_ref".into(),
        Value::String(d.api_key_ref().to_owned()),
    );
    for (from, to) in [("similarity_boost", "similarity_boost"), ("speed", "speed")] {
        if let Some(value) = number(config, &format!("/tts/{from}")) {
            d.voice.insert(to.into(), json!(value));
        }
    }
    if config
        .pointer("/tts/stability")
        .is_some_and(Value::is_number)
    {
        d.lose("voice stability");
    }
    if !array(config, "/tts/pronunciation_dictionary_locators").is_empty() {
        d.lose("pronunciation dictionaries");
    }
}

fn map_tool(d: &mut Draft<'_, '_>, tool: &Value) {
    let name = text(tool, "/name").unwrap_or("tool");
    let description = text(tool, "/description").unwrap_or_default();
    match text(tool, "/type").unwrap_or("webhook") {
        "webhook" => webhook(d, tool, name, description),
        "client" => {
            let parameters = tool.get("parameters").and_then(object_schema);
            d.client_tool(name, description, parameters);
            if flag(tool, "/expects_response") == Some(false) {
                d.note(format!(
                    "Tool {name}: ElevenLabs did not wait for the client's answer; Parley does."
                ));
            }
        }
        "system" => system(d, tool, name, description),
        other => d.lose(format!("tool {name} ({other} tool)")),
    }
}

fn system(d: &mut Draft<'_, '_>, tool: &Value, name: &str, description: &str) {
    let description = (!description.is_empty()).then_some(description);
    let kind = text(tool, "/params/system_tool_type").unwrap_or(name);
    match kind {
        "end_call" => d.hangup(description),
        "transfer_to_number" => {
            for rule in array(tool, "/params/transfers") {
                let to = text(rule, "/transfer_destination/phone_number")
                    .or_else(|| text(rule, "/transfer_destination/sip_uri"))
                    .or_else(|| text(rule, "/phone_number"));
                match to {
                    Some(to) => d.transfer_target(to, text(rule, "/condition"), None),
                    None => d.lose(format!("a transfer rule of {name} without a destination")),
                }
            }
            d.transfer_description(description);
        }
        "skip_turn" => d.skip_turn(description),
        "play_keypad_touch_tone" => d.send_dtmf(),
        "transfer_to_agent" => d.lose(format!(
            "{name} (transfers to other ElevenLabs agents: import them and add a handoff tool)"
        )),
        other => d.lose(format!("system tool {name} ({other})")),
    }
}

/// A property of a parameter schema whose value the configuration supplies: a constant or
/// a dynamic variable (ElevenLabs `constant_value` / `dynamic_variable` / `value_type`).
fn preset(d: &mut Draft<'_, '_>, property: &Value) -> Option<Value> {
    let kind = text(property, "/value_type");
    let constant = property
        .get("constant_value")
        .filter(|c| !c.is_null() && c.as_str() != Some(""));
    if let Some(constant) = constant.filter(|_| kind.is_none_or(|k| k == "constant")) {
        return Some(constant.clone());
    }
    if let Some(variable) =
        text(property, "/dynamic_variable").filter(|_| kind.is_none_or(|k| k == "dynamic_variable"))
    {
        return Some(Value::String(d.rewrite(&format!("{{{{{variable}}}}}"))));
    }
    None
}

/// Splits an object schema into what the model fills and what the configuration supplies.
fn split(d: &mut Draft<'_, '_>, schema: Option<&Value>) -> (Option<Value>, Map<String, Value>) {
    let mut presets = Map::new();
    let Some(schema) = schema.filter(|s| s.is_object()) else {
        return (None, presets);
    };
    let mut llm = Map::new();
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, property) in properties {
            match preset(d, property) {
                Some(value) => {
                    presets.insert(name.clone(), value);
                }
                None => {
                    llm.insert(name.clone(), property.clone());
                }
            }
        }
    }
    let mut rest = schema.clone();
    if let Value::Object(object) = &mut rest {
        object.insert("properties".into(), Value::Object(llm));
    }
    (object_schema(&rest), presets)
}

fn webhook(d: &mut Draft<'_, '_>, tool: &Value, name: &str, description: &str) {
    let null = Value::Null;
    let api = tool.get("api_schema").unwrap_or(&null);
    let mut url = text(api, "/url").unwrap_or_default().to_owned();
    let mut path = Map::new();
    if let Some(Value::Object(params)) = api.get("path_params_schema") {
        for (param, property) in params {
            match preset(d, property) {
                Some(value) => {
                    let value = match value {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    url = url.replace(&format!("{{{param}}}"), &value);
                }
                None => {
                    path.insert(param.clone(), clean_property(property));
                }
            }
        }
    }
    let path = (!path.is_empty()).then(|| {
        let required: Vec<&String> = path.keys().collect();
        json!({"type": "object", "properties": path, "required": required})
    });
    let (query, preset_query) = split(d, api.get("query_params_schema"));
    let (body, preset_body) = split(d, api.get("request_body_schema"));
    let mut headers = Vec::new();
    if let Some(Value::Object(request_headers)) = api.get("request_headers") {
        for (header, value) in request_headers {
            let rendered = match value {
                Value::String(v) if sensitive_header(header) => {
                    d.secret_header(header, v, &format!("elevenlabs_{name}_{header}"))
                }
                Value::String(v) => d.rewrite(v),
                Value::Object(_) => {
                    if let Some(secret) = text(value, "/secret_id") {
                        let secret_name = d.secret_name(secret).unwrap_or(secret).to_owned();
                        let identifier = d.placeholder_secret(
                            &secret_name,
                            format!("ElevenLabs workspace secret {secret_name} ({secret})"),
                        );
                        format!(
                            "{{{{#integration_secret}}}}{identifier}{{{{/integration_secret}}}}"
                        )
                    } else if let Some(variable) = text(value, "/variable_name") {
                        d.rewrite(&format!("{{{{{variable}}}}}"))
                    } else {
                        d.lose(format!("header {header} of tool {name}"));
                        continue;
                    }
                }
                _ => continue,
            };
            headers.push((header.clone(), rendered));
        }
    }
    let store = array(tool, "/assignments")
        .iter()
        .filter(|a| text(a, "/source").is_none_or(|s| s == "response"))
        .filter_map(|a| {
            Some((
                text(a, "/dynamic_variable")?.to_owned(),
                text(a, "/value_path")?.to_owned(),
            ))
        })
        .collect();
    if let Some(Value::Object(placeholders)) =
        tool.pointer("/dynamic_variables/dynamic_variable_placeholders")
    {
        for (variable, value) in placeholders.iter().filter(|(_, v)| !v.is_null()) {
            d.variables
                .entry(variable.clone())
                .or_insert_with(|| value.clone());
        }
    }
    d.webhook(Webhook {
        name: name.to_owned(),
        description: description.to_owned(),
        url,
        method: text(api, "/method").unwrap_or("GET").to_owned(),
        headers,
        body,
        query,
        path,
        preset_body,
        preset_query,
        store,
        timeout_ms: number(tool, "/response_timeout_secs").map(|s| (s * 1000.0) as u64),
        ..Webhook::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn context<'a>(names: &'a BTreeMap<String, String>) -> MapContext<'a> {
        MapContext {
            api_key_ref: "el-key",
            default_model: "local/default",
            can_serve: &|m: &str| m == "openai/gpt-4o-mini",
            secret_names: names,
        }
    }

    #[test]
    fn a_realistic_agent_maps_field_by_field() {
        let agent = json!({
            "agent_id": "agent_7101k5zvyjhmfg983brhmhkd98n6",
            "name": "Support Agent",
            "tags": ["support"],
            "conversation_config": {
                "agent": {
                    "first_message": "Hi {{customer_name}}, how can I help?",
                    "language": "en",
                    "dynamic_variables": {"dynamic_variable_placeholders": {"customer_name": "there"}},
                    "prompt": {
                        "prompt": "You help {{customer_name}} (caller {{system__caller_id}}).",
                        "llm": "gpt-4o-mini",
                        "temperature": 0,
                        "knowledge_base": [{"type": "file", "name": "FAQ", "id": "kb_1"}],
                        "tools": [{
                            "type": "webhook", "name": "get_order", "description": "Look an order up",
                            "response_timeout_secs": 20,
                            "api_schema": {
                                "url": "https://api.example.com/orders/{order_id}", "method": "GET",
                                "path_params_schema": {"order_id": {"type": "string", "description": "Order id"}},
                                "query_params_schema": {"properties": {
                                    "locale": {"type": "string", "description": "", "constant_value": "en"},
                                    "verbose": {"type": "boolean", "description": "Details"}}, "required": []},
                                "request_headers": {"Authorization": {"secret_id": "sec_1"}, "X-Tenant": "acme"}
                            },
                            "assignments": [{"dynamic_variable": "order_status", "value_path": "status", "source": "response"}]
                        }],
                        "built_in_tools": {
                            "end_call": {"type": "system", "name": "end_call", "description": "", "params": {"system_tool_type": "end_call"}},
                            "transfer_to_number": {"type": "system", "name": "transfer_to_number", "description": "Transfer to a human",
                                "params": {"system_tool_type": "transfer_to_number", "transfers": [
                                    {"transfer_destination": {"type": "phone", "phone_number": "+15550001111"}, "condition": "billing questions"}]}},
                            "language_detection": null
                        }
                    }
                },
                "tts": {"model_id": "eleven_turbo_v2", "voice_id": "cjVigY5qzO86Huf0OWal", "similarity_boost": 0.8, "stability": 0.5}
            },
            "platform_settings": {"privacy": {"zero_retention_mode": true}}
        });
        let names = BTreeMap::from([("sec_1".to_owned(), "orders_api_token".to_owned())]);
        let mapped = map(
            &ProviderObjects {
                agent,
                ..ProviderObjects::default()
            },
            &context(&names),
        )
        .unwrap();
        let body = Value::Object(mapped.body.clone());
        assert_eq!(body["name"], "Support Agent");
        assert_eq!(
            body["instructions"],
            "You help {{customer_name}} (caller {{telnyx_end_user_target}})."
        );
        assert_eq!(body["greeting"], "Hi {{customer_name}}, how can I help?");
        assert_eq!(body["model"], "openai/gpt-4o-mini");
        assert_eq!(body["dynamic_variables"], json!({"customer_name": "there"}));
        assert_eq!(
            body["voice_settings"],
            json!({"voice": "ElevenLabs.eleven_turbo_v2.cjVigY5qzO86Huf0OWal", "api_key_ref": "el-key", "similarity_boost": 0.8})
        );
        assert_eq!(body["transcription"], json!({"language": "en"}));
        assert_eq!(body["privacy_settings"], json!({"data_retention": false}));
        let webhook = &body["tools"][0]["webhook"];
        assert_eq!(webhook["url"], "https://api.example.com/orders/{order_id}");
        assert_eq!(webhook["method"], "GET");
        assert_eq!(webhook["preset_query_params"], json!({"locale": "en"}));
        assert_eq!(
            webhook["query_parameters"]["properties"],
            json!({"verbose": {"type": "boolean", "description": "Details"}})
        );
        assert_eq!(webhook["path_parameters"]["required"], json!(["order_id"]));
        assert_eq!(
            webhook["headers"],
            json!([{"name": "Authorization", "value": "{{#integration_secret}}orders_api_token{{/integration_secret}}"},
                   {"name": "X-Tenant", "value": "acme"}])
        );
        assert_eq!(
            webhook["store_fields_as_variables"],
            json!([{"name": "order_status", "value_path": "status"}])
        );
        assert_eq!(body["tools"][0]["timeout_ms"], 20000);
        assert_eq!(body["tools"][1], json!({"type": "hangup", "hangup": {}}));
        assert_eq!(
            body["tools"][2]["transfer"],
            json!({"targets": [{"to": "+15550001111", "name": "billing questions"}], "description": "Transfer to a human"})
        );
        assert_eq!(mapped.secrets.len(), 1);
        assert_eq!(mapped.secrets[0].identifier, "orders_api_token");
        let description = body["description"].as_str().unwrap();
        assert!(description.contains("\"FAQ\" (file kb_1)"), "{description}");
        assert!(description.contains("voice stability"), "{description}");
        crate::assistant::parse_create(body, "local/default").expect("valid by construction");
    }

    #[test]
    fn a_custom_llm_becomes_external_llm_and_a_missing_config_fails() {
        let agent = json!({"agent_id": "a1", "name": "Custom", "conversation_config": {"agent": {"prompt": {
            "prompt": "p", "llm": "custom-llm",
            "custom_llm": {"url": "https://llm.example.com/v1", "model_id": "my-model", "api_key": {"secret_id": "s9"}}}}}});
        let names = BTreeMap::new();
        let mapped = map(
            &ProviderObjects {
                agent,
                ..ProviderObjects::default()
            },
            &context(&names),
        )
        .unwrap();
        assert_eq!(
            mapped.body["external_llm"],
            json!({"base_url": "https://llm.example.com/v1", "model": "my-model", "llm_api_key_ref": "s9"})
        );
        let err = map(
            &ProviderObjects {
                agent: json!({"agent_id": "a2", "name": "Broken"}),
                ..ProviderObjects::default()
            },
            &context(&names),
        )
        .unwrap_err();
        assert_eq!(err.import_id, "a2");
    }
}
