//! Retell: the agent `GET /get-agent/{agent_id}` returns and, for agents whose
//! `response_engine.type` is `retell-llm`, the Retell LLM `GET /get-retell-llm/{llm_id}` that
//! holds the prompt and tools. Single-prompt and multi-prompt (`states`) agents import;
//! conversation-flow agents do not.
//!
//! | Retell | Parley |
//! |---|---|
//! | `agent_name` | `name` |
//! | LLM `general_prompt` | `instructions` |
//! | LLM `begin_message` (when the agent speaks first) | `greeting` |
//! | LLM `model` | `model` (`gpt-4o` → `openai/gpt-4o`, …) when served |
//! | LLM `default_dynamic_variables` | `dynamic_variables` |
//! | `custom` tools | `webhook` tools (`parameters` → `body_parameters`, `query_params` → `preset_query_params`, `response_variables` → `store_fields_as_variables`) |
//! | `end_call` | `hangup` |
//! | `transfer_call` with a predefined number | `transfer` targets |
//! | `press_digit` | `send_dtmf` |
//! | LLM `states` / `edges` / `starting_state` | `conversation_flow` (one prompt node per state, LLM-condition edges) |
//! | `voice_id`, `voice_speed`, `voice_temperature` | `voice_settings.voice = Retell.<voice_id>`, `speed`, `temperature` |
//! | `language` | `transcription.language` |
//! | `opt_out_sensitive_data_storage`, `data_storage_setting: basic_attributes_only` | `privacy_settings.data_retention = false` |

use super::common::{
    array, flag, model_candidates, number, object_schema, sensitive_header, text, Draft, Webhook,
};
use super::{agent_id, ImportedAgent, MapContext, MapError, Provider, ProviderObjects};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Maps a Retell agent (with its Retell LLM in [`ProviderObjects::llm`]).
pub fn map(objects: &ProviderObjects, ctx: &MapContext<'_>) -> Result<ImportedAgent, MapError> {
    let agent = &objects.agent;
    let id = agent_id(Provider::Retell, agent).ok_or_else(|| MapError {
        import_id: String::new(),
        reason: "the agent object has no agent_id".into(),
    })?;
    let mut d = Draft::new(ctx, Provider::Retell, id);
    d.name(text(agent, "/agent_name"));
    match text(agent, "/response_engine/type") {
        Some("retell-llm") => {
            let llm = objects
                .llm
                .as_ref()
                .filter(|l| l.is_object())
                .ok_or_else(|| {
                    d.fail("its Retell LLM (response_engine.llm_id) could not be fetched")
                })?;
            retell_llm(&mut d, llm);
        }
        Some("custom-llm") => d.note(
            "The agent used a custom LLM over Retell's WebSocket protocol (llm_websocket_url), \
             which Parley cannot call; the assistant uses the default model and has no prompt. \
             Point `external_llm` at an OpenAI-compatible endpoint instead.",
        ),
        Some("conversation-flow") => {
            return Err(d.fail(
                "Retell conversation-flow agents cannot be imported; single- and multi-prompt \
                 (Retell LLM) agents can",
            ))
        }
        Some(other) => return Err(d.fail(format!("unknown response engine {other:?}"))),
        None => return Err(d.fail("the agent has no response_engine")),
    }

    if let Some(voice) = text(agent, "/voice_id") {
        let voice = format!("Retell.{voice}");
        d.note(format!(
            "Voice: Retell voice ids name Retell's catalogue; the voice is kept as \"{voice}\". \
             Choose a Telnyx voice."
        ));
        d.voice.insert("voice".into(), Value::String(voice));
        if let Some(speed) = number(agent, "/voice_speed") {
            d.voice.insert("speed".into(), json!(speed));
        }
        if let Some(temperature) = number(agent, "/voice_temperature") {
            d.voice.insert("temperature".into(), json!(temperature));
        }
    }
    if let Some(language) = text(agent, "/language") {
        d.transcription
            .insert("language".into(), Value::String(language.into()));
    }
    if flag(agent, "/opt_out_sensitive_data_storage") == Some(true)
        || text(agent, "/data_storage_setting") == Some("basic_attributes_only")
    {
        d.privacy
            .insert("data_retention".into(), Value::Bool(false));
    }
    for (field, what) in [
        ("webhook_url", "the call event webhook (webhook_url)"),
        ("boosted_keywords", "boosted_keywords"),
        ("ambient_sound", "ambient_sound"),
        ("max_call_duration_ms", "max_call_duration_ms"),
        ("end_call_after_silence_ms", "end_call_after_silence_ms"),
        ("enable_voicemail_detection", "voicemail detection"),
        ("voicemail_message", "voicemail_message"),
        ("post_call_analysis_data", "post-call analysis"),
        ("pronunciation_dictionary", "pronunciation dictionary"),
        ("fallback_voice_ids", "fallback voices"),
        ("voice_model", "voice_model"),
        ("responsiveness", "responsiveness"),
        ("interruption_sensitivity", "interruption_sensitivity"),
        ("enable_backchannel", "backchannel"),
    ] {
        let present = match agent.get(field) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
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

fn retell_llm(d: &mut Draft<'_, '_>, llm: &Value) {
    d.instructions(
        llm.get("general_prompt")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let begin = llm.get("begin_message");
    if text(llm, "/start_speaker") == Some("user") {
        if text(llm, "/begin_message").is_some() {
            d.note("The agent waited for the caller to speak first, so begin_message is not used as the greeting.");
        }
    } else {
        match begin {
            Some(Value::String(message)) => d.greeting(Some(message)),
            _ => d.note(
                "Retell let the model write the first message (no begin_message); Parley has \
                 no equivalent, so there is no greeting.",
            ),
        }
    }
    if let Some(Value::Object(defaults)) = llm.get("default_dynamic_variables") {
        for (name, value) in defaults.iter().filter(|(_, v)| !v.is_null()) {
            d.variables.insert(name.clone(), value.clone());
        }
    }
    match (text(llm, "/model"), text(llm, "/s2s_model")) {
        (Some(model), _) => d.model(model, &model_candidates(None, model)),
        (None, Some(s2s)) => d.model(s2s, &[]),
        (None, None) => {}
    }
    for tool in array(llm, "/general_tools") {
        map_tool(d, tool);
    }
    let states = array(llm, "/states");
    if !states.is_empty() {
        flow(d, llm, states);
    }
    let kbs: Vec<&str> = array(llm, "/knowledge_base_ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !kbs.is_empty() {
        d.knowledge_base(kbs.join(", "));
    }
    let mcps: Vec<&str> = array(llm, "/mcps")
        .iter()
        .filter_map(|m| text(m, "/name").or_else(|| text(m, "/url")))
        .collect();
    if !mcps.is_empty() {
        d.lose(format!(
            "MCP servers {} (add them as Parley MCP servers and attach them)",
            mcps.join(", ")
        ));
    }
}

/// Multi-prompt agents: one prompt node per state (its prompt appended to the general one),
/// one LLM-condition edge per state edge. State tools join the assistant's tools.
fn flow(d: &mut Draft<'_, '_>, llm: &Value, states: &[Value]) {
    let names: BTreeSet<&str> = states.iter().filter_map(|s| text(s, "/name")).collect();
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut edge_ids = BTreeSet::new();
    let mut state_tools = 0;
    for state in states {
        let Some(name) = text(state, "/name") else {
            continue;
        };
        let prompt = state
            .get("state_prompt")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let instructions = d.rewrite(prompt);
        nodes.push(json!({"id": name, "name": name, "type": "prompt",
                          "instructions": instructions, "instructions_mode": "append"}));
        for edge in array(state, "/edges") {
            let Some(to) = text(edge, "/destination_state_name") else {
                continue;
            };
            if !names.contains(to) {
                d.lose(format!("the edge of state {name} to unknown state {to}"));
                continue;
            }
            if edge.get("parameters").is_some_and(|p| !p.is_null()) {
                d.lose(format!("the parameters of the edge from {name} to {to}"));
            }
            let mut id = format!("{name}-to-{to}");
            let mut n = 2;
            while !edge_ids.insert(id.clone()) {
                id = format!("{name}-to-{to}-{n}");
                n += 1;
            }
            let condition = text(edge, "/description")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("Move on to {to}."));
            let condition = d.rewrite(&condition);
            edges.push(json!({"id": id, "start_node_id": name,
                              "condition": {"type": "llm", "prompt": condition},
                              "target": {"type": "node", "node_id": to}}));
        }
        for tool in array(state, "/tools") {
            state_tools += 1;
            map_tool(d, tool);
        }
    }
    if nodes.is_empty() {
        return;
    }
    let start = text(llm, "/starting_state")
        .filter(|s| names.contains(s))
        .or_else(|| names.iter().next().copied())
        .unwrap_or_default();
    d.flow = Some(json!({"start_node_id": start, "nodes": nodes, "edges": edges}));
    if state_tools > 0 {
        d.note(
            "The tools of the Retell states are assistant tools now: every step of the \
             conversation flow can use them.",
        );
    }
}

/// A predefined Retell number (`16175551212`) in E.164.
fn e164(number: &str) -> String {
    if !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()) {
        format!("+{number}")
    } else {
        number.to_owned()
    }
}

fn map_tool(d: &mut Draft<'_, '_>, tool: &Value) {
    let name = text(tool, "/name").unwrap_or("tool").to_owned();
    let description = text(tool, "/description");
    match text(tool, "/type").unwrap_or("custom") {
        "end_call" => d.hangup(description),
        "transfer_call" => match text(tool, "/transfer_destination/type") {
            Some("predefined") | None => match text(tool, "/transfer_destination/number") {
                Some(number) => {
                    d.transfer_target(&e164(number), Some(&name), None);
                    d.transfer_description(description);
                }
                None => d.lose(format!("transfer tool {name} (no number)")),
            },
            Some(other) => d.lose(format!(
                "transfer tool {name} (its destination is {other}, chosen by the model)"
            )),
        },
        "press_digit" => d.send_dtmf(),
        "custom" => custom(d, tool, &name, description),
        other @ ("check_availability_cal" | "book_appointment_cal") => d.lose(format!(
            "tool {name} ({other}: the Cal.com integration; its API key was not copied)"
        )),
        other => d.lose(format!("tool {name} ({other} tool)")),
    }
}

fn custom(d: &mut Draft<'_, '_>, tool: &Value, name: &str, description: Option<&str>) {
    let mut headers = Vec::new();
    if let Some(Value::Object(map)) = tool.get("headers") {
        for (header, value) in map {
            let Some(value) = value.as_str() else {
                continue;
            };
            let rendered = if sensitive_header(header) {
                d.secret_header(header, value, &format!("retell_{name}_{header}"))
            } else {
                d.rewrite(value)
            };
            headers.push((header.clone(), rendered));
        }
    }
    let preset_query: Map<String, Value> = match tool.get("query_params") {
        Some(Value::Object(params)) => params
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => Map::new(),
    };
    let store = match tool.get("response_variables") {
        Some(Value::Object(variables)) => variables
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
        _ => Vec::new(),
    };
    let start = (flag(tool, "/speak_during_execution") == Some(true))
        .then(|| text(tool, "/execution_message_description").map(str::to_owned))
        .flatten();
    if flag(tool, "/args_at_root") != Some(true) {
        d.note(format!(
            "Tool {name}: Retell sent {{call, name, args}}; Parley sends the arguments \
             themselves as the JSON body."
        ));
    }
    d.webhook(Webhook {
        name: name.to_owned(),
        description: description.unwrap_or_default().to_owned(),
        url: text(tool, "/url").unwrap_or_default().to_owned(),
        method: text(tool, "/method").unwrap_or("POST").to_owned(),
        headers,
        body: tool.get("parameters").and_then(object_schema),
        preset_query,
        store,
        timeout_ms: number(tool, "/timeout_ms").map(|t| t as u64),
        start_message: start,
        ..Webhook::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ctx_map(objects: ProviderObjects) -> Result<ImportedAgent, MapError> {
        let names = BTreeMap::new();
        let ctx = MapContext {
            api_key_ref: "retell-key",
            default_model: "local/default",
            can_serve: &|_: &str| false,
            secret_names: &names,
        };
        map(&objects, &ctx)
    }

    #[test]
    fn a_multi_prompt_agent_becomes_a_flow() {
        let agent = json!({"agent_id": "agent_1ffdb9717444d0e77346838911", "agent_name": "Clinic",
            "response_engine": {"type": "retell-llm", "llm_id": "llm_1"},
            "voice_id": "11labs-Adrian", "language": "en-US", "webhook_url": "https://hooks.example.com/retell"});
        let llm = json!({"llm_id": "llm_1", "model": "gpt-4o", "general_prompt": "You are the clinic's receptionist.",
            "begin_message": "Hi {{customer_name}}!", "default_dynamic_variables": {"customer_name": "John Doe"},
            "knowledge_base_ids": ["kb_77"],
            "general_tools": [
                {"type": "end_call", "name": "end_call", "description": "End the call with user."},
                {"type": "custom", "name": "check_slot", "description": "Check a slot", "url": "https://api.example.com/slots",
                 "method": "POST", "headers": {"X-Api-Key": "k-123"}, "query_params": {"clinic": "north"},
                 "parameters": {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]},
                 "speak_during_execution": true, "execution_message_description": "Let me check.",
                 "timeout_ms": 8000, "response_variables": {"slot": "data.slot"}}],
            "states": [
                {"name": "information_collection", "state_prompt": "Collect the caller's name.",
                 "edges": [{"destination_state_name": "appointment_booking", "description": "Transition to book an appointment."}],
                 "tools": [{"type": "transfer_call", "name": "transfer_to_support", "description": "Transfer to the support team.",
                            "transfer_destination": {"type": "predefined", "number": "16175551212"}}]},
                {"name": "appointment_booking", "state_prompt": "Book it.",
                 "tools": [{"type": "book_appointment_cal", "name": "book_appointment", "cal_api_key": "cal_live_xxx", "event_type_id": 60444}]}
            ],
            "starting_state": "information_collection"});
        let mapped = ctx_map(ProviderObjects {
            agent,
            llm: Some(llm),
            ..ProviderObjects::default()
        })
        .unwrap();
        let body = Value::Object(mapped.body.clone());
        assert_eq!(body["name"], "Clinic");
        assert_eq!(body["greeting"], "Hi {{customer_name}}!");
        assert_eq!(body["model"], "local/default");
        assert_eq!(
            body["dynamic_variables"],
            json!({"customer_name": "John Doe"})
        );
        assert_eq!(
            body["conversation_flow"]["start_node_id"],
            "information_collection"
        );
        assert_eq!(
            body["conversation_flow"]["edges"][0]["target"],
            json!({"type": "node", "node_id": "appointment_booking"})
        );
        let hook = &body["tools"][0];
        assert_eq!(hook["timeout_ms"], 8000);
        assert_eq!(
            hook["webhook"]["preset_query_params"],
            json!({"clinic": "north"})
        );
        assert_eq!(
            hook["webhook"]["headers"][0]["value"],
            "{{#integration_secret}}retell_check_slot_X-Api-Key{{/integration_secret}}"
        );
        assert_eq!(
            hook["webhook"]["store_fields_as_variables"],
            json!([{"name": "slot", "value_path": "data.slot"}])
        );
        assert_eq!(
            body["tools"][2]["transfer"]["targets"],
            json!([{"to": "+16175551212", "name": "transfer_to_support"}])
        );
        let description = body["description"].as_str().unwrap();
        for expected in [
            "kb_77",
            "book_appointment",
            "gpt-4o",
            "webhook_url",
            "Retell.11labs-Adrian",
        ] {
            assert!(description.contains(expected), "{expected}: {description}");
        }
        assert!(!body.to_string().contains("cal_live_xxx") && !body.to_string().contains("k-123"));
        crate::assistant::parse_create(body, "local/default").expect("valid by construction");
    }

    #[test]
    fn flow_agents_and_missing_llms_fail() {
        let err = ctx_map(ProviderObjects {
            agent: json!({"agent_id": "a", "response_engine": {"type": "conversation-flow", "conversation_flow_id": "f"}}),
            ..ProviderObjects::default()
        })
        .unwrap_err();
        assert!(err.reason.contains("conversation-flow"));
        let err = ctx_map(ProviderObjects {
            agent: json!({"agent_id": "b", "response_engine": {"type": "retell-llm", "llm_id": "x"}}),
            ..ProviderObjects::default()
        })
        .unwrap_err();
        assert_eq!(err.import_id, "b");
    }
}
