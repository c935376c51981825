//! Vapi: the object `GET /assistant/{id}` returns, plus the tools its `model.toolIds` name
//! (`GET /tool/{id}`).
//!
//! | Vapi | Parley |
//! |---|---|
//! | `name` | `name` |
//! | `model.messages[role=system].content` | `instructions` |
//! | `firstMessage` (mode `assistant-speaks-first`) | `greeting` |
//! | `model {provider, model}` | `model` (`openai` + `gpt-4o` → `openai/gpt-4o`) when served |
//! | `model {provider: custom-llm, url, model}` | `external_llm` (+ placeholder secret for the key) |
//! | `{{ var \| default: "x" }}` in prompts and tools | `{{var}}` + `dynamic_variables.var = "x"` |
//! | `function` tools with `server.url` | `webhook` tools (POST, `parameters` → `body_parameters`) |
//! | `function` tools without a server | `client_side_tool` tools |
//! | `apiRequest` tools | `webhook` tools (method, URL, headers, body schema) |
//! | `endCall` tools, `endCallFunctionEnabled` | `hangup` |
//! | `transferCall` `destinations[type=number|sip]`, `forwardingPhoneNumber` | `transfer` targets |
//! | `dtmf` tools, `dialKeypadFunctionEnabled` | `send_dtmf` |
//! | `voice {provider: 11labs, voiceId, model}` | `voice_settings.voice = ElevenLabs.<model>.<voiceId>` |
//! | `transcriber {provider: deepgram, model, language, keywords}` | `transcription {model: deepgram/…, language, settings.keyterm}` |
//! | `hipaaEnabled` | `privacy_settings.data_retention = false` |

use super::common::{
    array, flag, model_candidates, number, object_schema, sensitive_header, text, Draft, Webhook,
};
use super::{agent_id, ImportedAgent, MapContext, MapError, Provider, ProviderObjects};
use serde_json::{json, Map, Value};

/// Maps a Vapi assistant.
pub fn map(objects: &ProviderObjects, ctx: &MapContext<'_>) -> Result<ImportedAgent, MapError> {
    let assistant = &objects.agent;
    let id = agent_id(Provider::Vapi, assistant).ok_or_else(|| MapError {
        import_id: String::new(),
        reason: "the assistant object has no id".into(),
    })?;
    let mut d = Draft::new(ctx, Provider::Vapi, id);
    if !assistant.is_object() {
        return Err(d.fail("the assistant is not a JSON object"));
    }
    let null = Value::Null;
    let model = assistant.get("model").unwrap_or(&null);
    if !(model.is_object() || model.is_null()) {
        return Err(d.fail("`model` is not an object"));
    }
    d.name(text(assistant, "/name"));

    let mut system = Vec::new();
    let mut examples = 0;
    for message in array(model, "/messages") {
        match (
            text(message, "/role"),
            message.get("content").and_then(Value::as_str),
        ) {
            (Some("system"), Some(content)) => system.push(content),
            _ => examples += 1,
        }
    }
    d.instructions(&system.join("\n\n"));
    if examples > 0 {
        d.lose(format!(
            "{examples} non-system message(s) of model.messages"
        ));
    }
    let first = text(assistant, "/firstMessage");
    match text(assistant, "/firstMessageMode").unwrap_or("assistant-speaks-first") {
        "assistant-speaks-first" => d.greeting(first),
        "assistant-waits-for-user" => {
            if first.is_some() {
                d.note("The assistant waited for the caller to speak first, so its firstMessage is not used as the greeting.");
            }
        }
        other => d.note(format!(
            "First message mode {other} (a model-generated first message) has no Parley \
             equivalent; there is no greeting."
        )),
    }

    llm(&mut d, model);
    let mut seen_tools = Vec::new();
    let inline = array(model, "/tools");
    for tool in inline.iter().chain(objects.tools.iter()) {
        let key = text(tool, "/id")
            .or_else(|| text(tool, "/function/name"))
            .map(str::to_owned);
        if let Some(key) = key {
            if seen_tools.contains(&key) {
                continue;
            }
            seen_tools.push(key);
        }
        map_tool(&mut d, assistant, tool);
    }
    for id in &objects.unavailable_tools {
        d.lose(format!("tool {id} (it could not be fetched)"));
    }
    if flag(assistant, "/endCallFunctionEnabled") == Some(true) {
        d.hangup(None);
    }
    if flag(assistant, "/dialKeypadFunctionEnabled") == Some(true) {
        d.send_dtmf();
    }
    if let Some(number) = text(assistant, "/forwardingPhoneNumber") {
        d.transfer_target(number, None, None);
    }
    if let Some(kb) = text(model, "/knowledgeBaseId") {
        d.knowledge_base(format!("knowledge base {kb}"));
    }
    let files: Vec<&str> = array(model, "/knowledgeBase/fileIds")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !files.is_empty() {
        d.knowledge_base(format!("files {}", files.join(", ")));
    }

    voice(&mut d, assistant);
    transcriber(&mut d, assistant);
    if flag(assistant, "/hipaaEnabled") == Some(true)
        || flag(assistant, "/compliancePlan/hipaaEnabled") == Some(true)
    {
        d.privacy
            .insert("data_retention".into(), Value::Bool(false));
    }
    for (field, what) in [
        ("endCallMessage", "endCallMessage"),
        ("endCallPhrases", "endCallPhrases"),
        ("voicemailMessage", "voicemailMessage"),
        ("voicemailDetection", "voicemail detection"),
        ("backgroundSound", "backgroundSound"),
        ("maxDurationSeconds", "maxDurationSeconds"),
        ("silenceTimeoutSeconds", "silenceTimeoutSeconds"),
        (
            "analysisPlan",
            "analysisPlan (summary, structured data, success evaluation)",
        ),
        ("artifactPlan", "artifactPlan (recordings, transcripts)"),
        ("startSpeakingPlan", "startSpeakingPlan"),
        ("stopSpeakingPlan", "stopSpeakingPlan"),
        (
            "serverMessages",
            "server messages (events sent to the assistant's server URL)",
        ),
        ("hooks", "hooks"),
        ("metadata", "metadata"),
    ] {
        let present = match assistant.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        };
        if present {
            d.lose(what);
        }
    }
    Ok(d.finish())
}

fn llm(d: &mut Draft<'_, '_>, model: &Value) {
    let provider = text(model, "/provider");
    let name = text(model, "/model");
    if provider == Some("custom-llm") {
        match text(model, "/url") {
            Some(url) => {
                let key = d.placeholder_secret(
                    "vapi_custom_llm_api_key",
                    "the API key of the Vapi custom-llm credential",
                );
                d.external_llm(url, name.unwrap_or("default"), Some(key));
            }
            None => d.note("The assistant used a custom LLM without a URL; the assistant uses the default model."),
        }
        return;
    }
    if let Some(name) = name {
        let vendor = provider.map(|p| match p {
            "together-ai" => "together",
            "perplexity-ai" => "perplexity",
            "azure-openai" => "azure",
            other => other,
        });
        let original = match provider {
            Some(p) => format!("{p}/{name}"),
            None => name.to_owned(),
        };
        d.model(&original, &model_candidates(vendor, name));
    }
    if !array(model, "/fallbackModels").is_empty() {
        d.lose("fallbackModels");
    }
}

fn voice(d: &mut Draft<'_, '_>, assistant: &Value) {
    let Some(voice_id) = text(assistant, "/voice/voiceId") else {
        return;
    };
    let provider = text(assistant, "/voice/provider").unwrap_or("vapi");
    let model = text(assistant, "/voice/model");
    let voice = match (provider, model) {
        ("11labs", Some(model)) => format!("ElevenLabs.{model}.{voice_id}"),
        ("11labs", None) => format!("ElevenLabs.{voice_id}"),
        ("azure", _) => format!("Azure.{voice_id}"),
        (other, Some(model)) => format!("{other}.{model}.{voice_id}"),
        (other, None) => format!("{other}.{voice_id}"),
    };
    if provider == "11labs" {
        d.note(
            "Voice: ElevenLabs voices need your ElevenLabs API key; set voice_settings.api_key_ref \
             to an integration secret holding it.",
        );
    } else if provider != "azure" {
        d.note(format!(
            "Voice: Vapi voice provider {provider} has no Telnyx equivalent; the voice is kept as \
             \"{voice}\". Choose a Telnyx voice."
        ));
    }
    d.voice.insert("voice".into(), Value::String(voice));
    for (from, to) in [
        ("speed", "speed"),
        ("similarityBoost", "similarity_boost"),
        ("style", "style"),
    ] {
        if let Some(value) = number(assistant, &format!("/voice/{from}")) {
            d.voice.insert(to.into(), json!(value));
        }
    }
    if let Some(boost) = flag(assistant, "/voice/useSpeakerBoost") {
        d.voice
            .insert("use_speaker_boost".into(), Value::Bool(boost));
    }
    if assistant
        .pointer("/voice/stability")
        .is_some_and(Value::is_number)
    {
        d.lose("voice stability");
    }
}

fn transcriber(d: &mut Draft<'_, '_>, assistant: &Value) {
    let Some(provider) = text(assistant, "/transcriber/provider") else {
        return;
    };
    let model = text(assistant, "/transcriber/model").unwrap_or_default();
    let mapped = match provider {
        "deepgram" if model.starts_with("nova-3") => Some("deepgram/nova-3"),
        "deepgram" if model.starts_with("flux") => Some("deepgram/flux"),
        "deepgram" if model.is_empty() || model.starts_with("nova-2") => Some("deepgram/nova-2"),
        "assembly-ai" => Some("assemblyai/universal-streaming"),
        "azure" => Some("azure/fast"),
        "speechmatics" => Some("speechmatics/standard"),
        _ => None,
    };
    match mapped {
        Some(model) => {
            d.transcription
                .insert("model".into(), Value::String(model.into()));
        }
        None => d.lose(format!(
            "transcriber {provider}{}",
            if model.is_empty() {
                String::new()
            } else {
                format!(" {model}")
            }
        )),
    }
    if let Some(language) = text(assistant, "/transcriber/language") {
        d.transcription
            .insert("language".into(), Value::String(language.into()));
    }
    let terms: Vec<&str> = array(assistant, "/transcriber/keyterm")
        .iter()
        .chain(array(assistant, "/transcriber/keywords"))
        .filter_map(Value::as_str)
        // Deepgram keywords carry an intensifier (`snuffleupagus:5`).
        .map(|k| k.split(':').next().unwrap_or(k))
        .collect();
    if !terms.is_empty() && mapped.is_some() {
        d.transcription
            .insert("settings".into(), json!({"keyterm": terms.join(",")}));
    }
}

fn map_tool(d: &mut Draft<'_, '_>, assistant: &Value, tool: &Value) {
    let kind = text(tool, "/type").unwrap_or("function");
    let name = text(tool, "/function/name")
        .or_else(|| text(tool, "/name"))
        .unwrap_or(kind)
        .to_owned();
    let description = text(tool, "/function/description")
        .or_else(|| text(tool, "/description"))
        .map(str::to_owned);
    match kind {
        "function" => function(d, assistant, tool, &name, description.as_deref()),
        "apiRequest" => api_request(d, tool, &name, description.as_deref()),
        "endCall" => d.hangup(description.as_deref()),
        "transferCall" => {
            for destination in array(tool, "/destinations") {
                let label = text(destination, "/description");
                let message = text(destination, "/message");
                match text(destination, "/type").unwrap_or("number") {
                    "number" => match text(destination, "/number") {
                        Some(number) => d.transfer_target(number, label, message),
                        None => d.lose(format!("a destination of {name} without a number")),
                    },
                    "sip" => match text(destination, "/sipUri") {
                        Some(uri) => d.transfer_target(uri, label, message),
                        None => d.lose(format!("a destination of {name} without a SIP URI")),
                    },
                    other => d.lose(format!(
                        "a {other} destination of {name} (transfers to other Vapi assistants: \
                         import them and add a handoff tool)"
                    )),
                }
            }
            d.transfer_description(description.as_deref());
        }
        "dtmf" => d.send_dtmf(),
        "query" => {
            for kb in array(tool, "/knowledgeBases") {
                let kb_name = text(kb, "/name").unwrap_or("unnamed");
                d.knowledge_base(format!("\"{kb_name}\" (query tool {name})"));
            }
        }
        other => d.lose(format!("tool {name} ({other} tool)")),
    }
}

/// Headers of a Vapi server or request: sensitive values become placeholder secrets.
fn headers(
    d: &mut Draft<'_, '_>,
    tool_name: &str,
    headers: &Map<String, Value>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (header, value) in headers {
        let value = match value {
            Value::String(v) => v.clone(),
            // apiRequest headers are a JSON schema: `{type: string, value: "…"}`.
            Value::Object(_) => match text(value, "/value").or_else(|| text(value, "/default")) {
                Some(v) => v.to_owned(),
                None => continue,
            },
            _ => continue,
        };
        let rendered = if sensitive_header(header) {
            d.secret_header(header, &value, &format!("vapi_{tool_name}_{header}"))
        } else {
            d.rewrite(&value)
        };
        out.push((header.clone(), rendered));
    }
    out
}

fn function(
    d: &mut Draft<'_, '_>,
    assistant: &Value,
    tool: &Value,
    name: &str,
    description: Option<&str>,
) {
    let parameters = tool.pointer("/function/parameters").and_then(object_schema);
    let server = tool
        .get("server")
        .filter(|s| text(s, "/url").is_some())
        .or_else(|| {
            assistant
                .get("server")
                .filter(|s| text(s, "/url").is_some())
        });
    let url = server
        .and_then(|s| text(s, "/url"))
        .or_else(|| text(tool, "/serverUrl"))
        .or_else(|| text(assistant, "/serverUrl"));
    let Some(url) = url else {
        // Without a server Vapi hands function calls to the client SDK.
        d.client_tool(name, description.unwrap_or_default(), parameters);
        return;
    };
    let mut header_list = match server.and_then(|s| s.get("headers")) {
        Some(Value::Object(h)) => headers(d, name, h),
        _ => Vec::new(),
    };
    let secret = server
        .and_then(|s| text(s, "/secret"))
        .or_else(|| text(tool, "/serverUrlSecret"))
        .or_else(|| text(assistant, "/serverUrlSecret"));
    if let Some(secret) = secret {
        let value = d.secret_header(
            "X-Vapi-Secret",
            secret,
            &format!("vapi_{name}_server_secret"),
        );
        header_list.push(("X-Vapi-Secret".into(), value));
    }
    let mut start = None;
    let mut delayed = None;
    for message in array(tool, "/messages") {
        let content = text(message, "/content").map(str::to_owned);
        match text(message, "/type") {
            Some("request-start") => start = start.or(content),
            Some("request-response-delayed") => {
                if let Some(content) = content {
                    let timing = number(message, "/timingMilliseconds").unwrap_or(1000.0) as u64;
                    delayed = delayed.or(Some((content, timing)));
                }
            }
            _ => {}
        }
    }
    d.webhook(Webhook {
        name: name.to_owned(),
        description: description.unwrap_or_default().to_owned(),
        url: url.to_owned(),
        method: "POST".into(),
        headers: header_list,
        body: parameters,
        timeout_ms: server
            .and_then(|s| number(s, "/timeoutSeconds"))
            .map(|s| (s * 1000.0) as u64),
        is_async: flag(tool, "/async").unwrap_or(false),
        start_message: start,
        delayed_message: delayed,
        ..Webhook::default()
    });
    d.note(format!(
        "Tool {name}: Vapi POSTed a tool-calls message to your server; Parley POSTs the \
         arguments as the JSON body and uses the response body as the result."
    ));
}

fn api_request(d: &mut Draft<'_, '_>, tool: &Value, name: &str, description: Option<&str>) {
    let mut header_list = match tool.pointer("/headers/properties") {
        Some(Value::Object(h)) => headers(d, name, h),
        _ => Vec::new(),
    };
    if let Some(credential) = text(tool, "/credentialId") {
        let identifier = d.placeholder_secret(
            &format!("vapi_credential_{credential}"),
            format!("Vapi credential {credential} used by tool {name}"),
        );
        header_list.push((
            "Authorization".into(),
            format!("Bearer {{{{#integration_secret}}}}{identifier}{{{{/integration_secret}}}}"),
        ));
        d.note(format!(
            "Tool {name}: it authenticated with Vapi credential {credential}; Parley sends \
             `Authorization: Bearer <secret>` — adjust the header if the API expects another scheme."
        ));
    }
    let mut presets = Map::new();
    let body = tool.get("body").and_then(|schema| {
        let mut schema = schema.clone();
        if let Some(Value::Object(properties)) = schema.get_mut("properties") {
            properties.retain(|key, property| match property.get("value") {
                Some(value) if !value.is_null() => {
                    presets.insert(key.clone(), value.clone());
                    false
                }
                _ => true,
            });
        }
        object_schema(&schema)
    });
    let store = array(tool, "/variableExtractionPlan/aliases")
        .iter()
        .filter_map(|alias| {
            let key = text(alias, "/key")?;
            let value = text(alias, "/value")?;
            // `{{ $.data.id }}` → `data.id`.
            let path = value
                .trim_start_matches("{{")
                .trim_end_matches("}}")
                .trim()
                .trim_start_matches("$.")
                .to_owned();
            Some((key.to_owned(), path))
        })
        .collect();
    d.webhook(Webhook {
        name: name.to_owned(),
        description: description.unwrap_or_default().to_owned(),
        url: text(tool, "/url").unwrap_or_default().to_owned(),
        method: text(tool, "/method").unwrap_or("POST").to_owned(),
        headers: header_list,
        body,
        preset_body: presets,
        store,
        timeout_ms: number(tool, "/timeoutSeconds").map(|s| (s * 1000.0) as u64),
        ..Webhook::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_realistic_assistant_maps_field_by_field() {
        let assistant = json!({
            "id": "3c9f6a4e-1f0b-4e55-9d6c-7a2b1e0f9a11",
            "orgId": "org-1",
            "name": "Booking Bot",
            "createdAt": "2024-05-01T10:00:00.000Z",
            "firstMessage": "Hello {{ name | default: \"there\" }}!",
            "model": {
                "provider": "openai", "model": "gpt-4o",
                "messages": [{"role": "system", "content": "Book tables for {{customer.number}}."}],
                "toolIds": ["tool-remote"],
                "tools": [
                    {"type": "function", "async": false,
                     "function": {"name": "book_table", "description": "Book a table",
                                  "parameters": {"type": "object", "properties": {"time": {"type": "string"}}, "required": ["time"]}},
                     "server": {"url": "https://api.example.com/book", "timeoutSeconds": 10, "secret": "s3cr3t",
                                "headers": {"Authorization": "Bearer abc123", "X-Source": "vapi"}},
                     "messages": [{"type": "request-start", "content": "One moment."}]},
                    {"type": "endCall"},
                    {"type": "transferCall", "function": {"name": "transfer", "description": "Transfer to staff"},
                     "destinations": [{"type": "number", "number": "+15551230000", "description": "front desk", "message": "Connecting you."},
                                      {"type": "assistant", "assistantName": "Billing"}]}
                ]
            },
            "voice": {"provider": "11labs", "voiceId": "21m00Tcm4TlvDq8ikWAM", "model": "eleven_turbo_v2_5", "stability": 0.5},
            "transcriber": {"provider": "deepgram", "model": "nova-2", "language": "en", "keywords": ["Parley:2"]},
            "hipaaEnabled": true,
            "backgroundSound": "office"
        });
        let remote = json!({"id": "tool-remote", "type": "apiRequest", "name": "lookup", "description": "Look up",
            "method": "GET", "url": "https://api.example.com/lookup",
            "body": {"type": "object", "properties": {"q": {"type": "string"}, "src": {"type": "string", "value": "vapi"}}, "required": ["q"]}});
        let names = BTreeMap::new();
        let ctx = MapContext {
            api_key_ref: "vapi-key",
            default_model: "local/default",
            can_serve: &|m: &str| m == "openai/gpt-4o",
            secret_names: &names,
        };
        let mapped = map(
            &ProviderObjects {
                agent: assistant,
                tools: vec![remote],
                ..ProviderObjects::default()
            },
            &ctx,
        )
        .unwrap();
        let body = Value::Object(mapped.body.clone());
        assert_eq!(
            body["instructions"],
            "Book tables for {{telnyx_end_user_target}}."
        );
        assert_eq!(body["greeting"], "Hello {{name}}!");
        assert_eq!(body["dynamic_variables"], json!({"name": "there"}));
        assert_eq!(body["model"], "openai/gpt-4o");
        assert_eq!(
            body["voice_settings"]["voice"],
            "ElevenLabs.eleven_turbo_v2_5.21m00Tcm4TlvDq8ikWAM"
        );
        assert_eq!(
            body["transcription"],
            json!({"model": "deepgram/nova-2", "language": "en", "settings": {"keyterm": "Parley"}})
        );
        let book = &body["tools"][0];
        assert_eq!(book["timeout_ms"], 10000);
        assert_eq!(
            book["webhook"]["headers"],
            json!([
                {"name": "Authorization", "value": "Bearer {{#integration_secret}}vapi_book_table_Authorization{{/integration_secret}}"},
                {"name": "X-Source", "value": "vapi"},
                {"name": "X-Vapi-Secret", "value": "{{#integration_secret}}vapi_book_table_server_secret{{/integration_secret}}"}
            ])
        );
        assert_eq!(
            book["webhook"]["messages"],
            json!([{"type": "request_start", "content": "One moment."}])
        );
        let lookup = &body["tools"][1]["webhook"];
        assert_eq!(lookup["method"], "GET");
        assert_eq!(lookup["query_parameters"]["required"], json!(["q"]));
        assert_eq!(lookup["preset_query_params"], json!({"src": "vapi"}));
        assert_eq!(body["tools"][2]["type"], "hangup");
        assert_eq!(
            body["tools"][3]["transfer"]["targets"],
            json!([{"to": "+15551230000", "name": "front desk", "message": "Connecting you."}])
        );
        assert_eq!(body["privacy_settings"], json!({"data_retention": false}));
        let description = body["description"].as_str().unwrap();
        assert!(description.contains("backgroundSound"), "{description}");
        assert!(
            description.contains("assistant destination"),
            "{description}"
        );
        assert!(!description.contains("abc123") && !body.to_string().contains("s3cr3t"));
        crate::assistant::parse_create(body, "local/default").expect("valid by construction");
    }
}
