//! `POST /v2/ai/assistants/import` end to end, against a local server that plays ElevenLabs,
//! Vapi and Retell (their list/get endpoints, pagination, auth headers and error bodies) with
//! realistic agent objects: tools, variables, transfers, end-call, knowledge bases, fields
//! Parley cannot carry, an agent that does not map. Covers re-import (an update, not a
//! duplicate), `import_ids`, auth failures (400 naming the provider's reason), provider
//! failures and timeouts (502), request validation and tenancy. Every scenario runs on a
//! fresh SQLite file and a fresh PostgreSQL database.

#![recursion_limit = "512"]

mod common;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::{Json, Router};
use common::{assert_error, Backend, Reply, TestApp};
use parley_server::settings::ModelRoute;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ELEVENLABS_KEY: &str = "xi-live-4f1c2a";
const VAPI_KEY: &str = "vapi-live-9d2e71";
const RETELL_KEY: &str = "key_retell_51aa0c";
/// Agents per list page the stand-ins serve, whatever the client asks for.
const PAGE: usize = 2;

/// What the stand-in providers hold and saw.
#[derive(Default)]
struct World {
    elevenlabs: Vec<Value>,
    elevenlabs_tools: HashMap<String, Value>,
    elevenlabs_secrets: Vec<Value>,
    vapi: Vec<Value>,
    vapi_tools: HashMap<String, Value>,
    retell: Vec<Value>,
    retell_llms: HashMap<String, Value>,
    /// Every request: `GET /path?query`.
    hits: Vec<String>,
    /// Answer every request with this status.
    fail_with: Option<u16>,
    /// Wait this long before answering.
    delay_ms: u64,
}

#[derive(Clone, Default)]
struct Providers(Arc<Mutex<World>>);

impl Providers {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.0.lock().unwrap()
    }

    fn hits(&self, prefix: &str) -> Vec<String> {
        self.world()
            .hits
            .iter()
            .filter(|h| h.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn elevenlabs_fixtures(world: &mut World) {
    world.elevenlabs = vec![
        json!({
            "agent_id": "agent_01jz8k3xq7f2y9",
            "name": "Support Agent",
            "tags": ["support", "tier-1"],
            "conversation_config": {
                "asr": {"quality": "high", "provider": "elevenlabs", "user_input_audio_format": "pcm_16000", "keywords": ["Acme"]},
                "turn": {"turn_timeout": 7, "mode": "turn"},
                "tts": {"model_id": "eleven_turbo_v2", "voice_id": "cjVigY5qzO86Huf0OWal", "agent_output_audio_format": "pcm_16000",
                        "optimize_streaming_latency": 3, "stability": 0.5, "speed": 1.0, "similarity_boost": 0.8},
                "conversation": {"text_only": false, "max_duration_seconds": 600, "client_events": ["audio", "interruption"]},
                "agent": {
                    "first_message": "Hi {{customer_name}}, thanks for calling Acme. How can I help?",
                    "language": "en",
                    "dynamic_variables": {"dynamic_variable_placeholders": {"customer_name": "there", "plan": "basic"}},
                    "prompt": {
                        "prompt": "You are Acme's support agent. The caller is {{customer_name}} ({{system__caller_id}}) on the {{plan}} plan.",
                        "llm": "gpt-4o-mini",
                        "temperature": 0.2,
                        "max_tokens": -1,
                        "tool_ids": ["tool_8s7d6f5g"],
                        "knowledge_base": [{"type": "file", "name": "Returns policy", "id": "kb_2b9c", "usage_mode": "auto"}],
                        "tools": [{
                            "type": "webhook",
                            "name": "get_order",
                            "description": "Look up an order by its number",
                            "response_timeout_secs": 20,
                            "disable_interruptions": false,
                            "force_pre_tool_speech": false,
                            "assignments": [{"dynamic_variable": "order_status", "value_path": "status", "source": "response"}],
                            "api_schema": {
                                "url": "https://api.acme.example/orders/{order_id}",
                                "method": "GET",
                                "path_params_schema": {"order_id": {"type": "string", "description": "The order number", "dynamic_variable": "", "constant_value": ""}},
                                "query_params_schema": {"properties": {
                                    "locale": {"type": "string", "description": "", "constant_value": "en-US"},
                                    "customer": {"type": "string", "description": "", "dynamic_variable": "customer_name"},
                                    "include_items": {"type": "boolean", "description": "Whether to list the items"}
                                }, "required": ["include_items"]},
                                "request_headers": {"Authorization": {"secret_id": "sec_4kq9"}, "X-Client": "voice-agent"}
                            }
                        }],
                        "built_in_tools": {
                            "end_call": {"type": "system", "name": "end_call", "description": "End the call when the caller is done.", "params": {"system_tool_type": "end_call"}},
                            "language_detection": null,
                            "transfer_to_agent": null,
                            "transfer_to_number": {"type": "system", "name": "transfer_to_number", "description": "Transfer to a human",
                                "params": {"system_tool_type": "transfer_to_number", "transfers": [
                                    {"transfer_destination": {"type": "phone", "phone_number": "+15550102000"}, "condition": "The caller asks about billing", "transfer_type": "conference"},
                                    {"transfer_destination": {"type": "sip_uri", "sip_uri": "sip:support@acme.example"}, "condition": "The caller needs technical support", "transfer_type": "sip_refer"}
                                ]}},
                            "skip_turn": null,
                            "play_keypad_touch_tone": {"type": "system", "name": "play_keypad_touch_tone", "description": "", "params": {"system_tool_type": "play_keypad_touch_tone"}},
                            "voicemail_detection": null
                        }
                    }
                }
            },
            "metadata": {"created_at_unix_secs": 1716153600},
            "platform_settings": {"privacy": {"record_voice": true, "retention_days": -1, "zero_retention_mode": false},
                                  "evaluation": {"criteria": [{"id": "resolved", "name": "Resolved", "conversation_goal_prompt": "Was the issue resolved?"}]}}
        }),
        json!({
            "agent_id": "agent_02hx4m7pq1w8r3",
            "name": "Sales Agent",
            "tags": ["sales"],
            "conversation_config": {
                "tts": {"model_id": "eleven_flash_v2_5", "voice_id": "EXAVITQu4vr4xnSDxMaL"},
                "agent": {
                    "first_message": "Hello! Looking for something?",
                    "language": "en",
                    "prompt": {
                        "prompt": "You sell Acme gadgets.",
                        "llm": "custom-llm",
                        "custom_llm": {"url": "https://llm.acme.example/v1", "model_id": "acme-sales-7b", "api_key": {"secret_id": "sec_7zz1"}},
                        "tools": [{"type": "client", "name": "show_product", "description": "Show a product on the caller's screen",
                                   "expects_response": false,
                                   "parameters": {"type": "object", "properties": {"sku": {"type": "string", "description": "Product SKU"}}, "required": ["sku"]}}]
                    }
                }
            },
            "platform_settings": {"privacy": {"zero_retention_mode": true}}
        }),
        // Not an agent Parley can read: no conversation_config.
        json!({"agent_id": "agent_03broken", "name": "Half-migrated agent", "metadata": {"created_at_unix_secs": 1716153601}}),
    ];
    world.elevenlabs_tools.insert(
        "tool_8s7d6f5g".into(),
        json!({
            "id": "tool_8s7d6f5g",
            "tool_config": {
                "type": "webhook",
                "name": "create_ticket",
                "description": "Open a support ticket",
                "response_timeout_secs": 10,
                "api_schema": {
                    "url": "https://api.acme.example/tickets",
                    "method": "POST",
                    "request_body_schema": {"type": "object", "description": "The ticket", "required": ["summary"], "properties": {
                        "summary": {"type": "string", "description": "What the problem is"},
                        "priority": {"type": "string", "description": "Priority", "enum": ["low", "high"]},
                        "source": {"type": "string", "description": "", "constant_value": "phone"}
                    }},
                    "request_headers": {"X-Api-Key": "tk_live_should_not_be_copied"}
                }
            },
            "access_info": {"is_creator": true, "creator_name": "Ops", "role": "admin"}
        }),
    );
    world.elevenlabs_secrets = vec![
        json!({"type": "stored", "secret_id": "sec_4kq9", "name": "acme_orders_token", "used_by": {}}),
        json!({"type": "stored", "secret_id": "sec_7zz1", "name": "acme_llm_key", "used_by": {}}),
    ];
}

fn vapi_fixtures(world: &mut World) {
    world.vapi = vec![
        json!({
            "id": "6f1c0c1e-3b7a-4d2e-9a55-0b8f2c1d4e01",
            "orgId": "9b1d4c2e-0000-4000-8000-000000000001",
            "name": "Booking Bot",
            "createdAt": "2024-06-03T09:00:00.000Z",
            "updatedAt": "2024-06-04T09:00:00.000Z",
            "firstMessage": "Hi {{ name | default: \"there\" }}, this is Bella from Bistro Nord.",
            "firstMessageMode": "assistant-speaks-first",
            "model": {
                "provider": "openai", "model": "gpt-4o", "temperature": 0.3,
                "messages": [{"role": "system", "content": "You take table bookings for Bistro Nord. Today is {{date}}. The caller's number is {{customer.number}}."}],
                "toolIds": ["d1a3f5e7-0000-4000-8000-0000000000aa"],
                "tools": [
                    {"type": "function", "async": false,
                     "function": {"name": "book_table", "description": "Book a table",
                                  "parameters": {"type": "object", "properties": {"time": {"type": "string", "description": "ISO time"}, "guests": {"type": "integer"}}, "required": ["time", "guests"]}},
                     "server": {"url": "https://bookings.bistro.example/vapi/book", "timeoutSeconds": 12, "secret": "whsec_live_123",
                                "headers": {"Authorization": "Bearer bk_live_456", "X-Venue": "nord"}},
                     "messages": [{"type": "request-start", "content": "Let me check that for you."},
                                  {"type": "request-response-delayed", "content": "Still checking...", "timingMilliseconds": 3000}]},
                    {"type": "endCall", "function": {"name": "end_call", "description": "End the call politely"}},
                    {"type": "transferCall", "function": {"name": "transfer_to_staff", "description": "Transfer the caller to a person"},
                     "destinations": [
                        {"type": "number", "number": "+14155550123", "message": "Connecting you to our host.", "description": "host stand"},
                        {"type": "assistant", "assistantName": "Catering Bot", "message": "One moment."}
                     ]}
                ]
            },
            "voice": {"provider": "11labs", "voiceId": "21m00Tcm4TlvDq8ikWAM", "model": "eleven_turbo_v2_5", "stability": 0.5, "similarityBoost": 0.75, "speed": 1.1},
            "transcriber": {"provider": "deepgram", "model": "nova-2", "language": "en", "keywords": ["Nord:2"]},
            "backgroundSound": "office",
            "endCallPhrases": ["goodbye"],
            "analysisPlan": {"summaryPrompt": "Summarise the booking."},
            "hipaaEnabled": false
        }),
        json!({
            "id": "6f1c0c1e-3b7a-4d2e-9a55-0b8f2c1d4e02",
            "orgId": "9b1d4c2e-0000-4000-8000-000000000001",
            "name": "Receptionist",
            "createdAt": "2024-06-02T09:00:00.000Z",
            "updatedAt": "2024-06-02T09:00:00.000Z",
            "firstMessage": "Good morning, Bistro Nord.",
            "model": {"provider": "anthropic", "model": "claude-3-5-sonnet-20240620",
                      "messages": [{"role": "system", "content": "Answer questions about opening hours."}],
                      "knowledgeBaseId": "kb-menu-2024"},
            "endCallFunctionEnabled": true,
            "forwardingPhoneNumber": "+14155550199",
            "hipaaEnabled": true
        }),
        json!({
            "id": "6f1c0c1e-3b7a-4d2e-9a55-0b8f2c1d4e03",
            "orgId": "9b1d4c2e-0000-4000-8000-000000000001",
            "name": "Internal Bot",
            "createdAt": "2024-06-01T09:00:00.000Z",
            "updatedAt": "2024-06-01T09:00:00.000Z",
            "model": {"provider": "openai", "model": "gpt-4o",
                      "messages": [{"role": "system", "content": "Query the stock system."}],
                      "tools": [{"type": "function", "function": {"name": "stock", "description": "Stock level",
                                 "parameters": {"type": "object", "properties": {"sku": {"type": "string"}}}},
                                 "server": {"url": "http://10.20.0.5/stock"}}]}
        }),
    ];
    world.vapi_tools.insert(
        "d1a3f5e7-0000-4000-8000-0000000000aa".into(),
        json!({
            "id": "d1a3f5e7-0000-4000-8000-0000000000aa",
            "orgId": "9b1d4c2e-0000-4000-8000-000000000001",
            "type": "apiRequest",
            "name": "check_availability",
            "description": "Check free tables",
            "method": "GET",
            "url": "https://bookings.bistro.example/availability",
            "headers": {"type": "object", "properties": {"X-Venue": {"type": "string", "value": "nord"}}},
            "body": {"type": "object", "properties": {"date": {"type": "string", "description": "YYYY-MM-DD"}, "channel": {"type": "string", "value": "phone"}}, "required": ["date"]},
            "timeoutSeconds": 5,
            "createdAt": "2024-05-01T09:00:00.000Z"
        }),
    );
}

fn retell_fixtures(world: &mut World) {
    world.retell = vec![
        json!({"agent_id": "agent_a1c0b7e2", "version": 0, "agent_name": "Clinic Receptionist",
               "response_engine": {"type": "retell-llm", "llm_id": "llm_clinic01", "version": 0},
               "voice_id": "11labs-Adrian", "voice_temperature": 1, "voice_speed": 1, "language": "en-US",
               "webhook_url": "https://hooks.clinic.example/retell", "boosted_keywords": ["Dr. Okafor"],
               "opt_out_sensitive_data_storage": true, "last_modification_timestamp": 1703413636133_i64}),
        json!({"agent_id": "agent_b2d9f4a0", "version": 0, "agent_name": "Front Desk (draft)",
               "response_engine": {"type": "retell-llm", "llm_id": "llm_front01", "version": 0},
               "voice_id": "openai-Alloy", "language": "en-US"}),
        json!({"agent_id": "agent_b2d9f4a0", "version": 1, "agent_name": "Front Desk",
               "response_engine": {"type": "retell-llm", "llm_id": "llm_front01", "version": 1},
               "voice_id": "openai-Alloy", "language": "en-US", "max_call_duration_ms": 900000}),
        json!({"agent_id": "agent_c7e1d3f9", "version": 0, "agent_name": "Intake Flow",
               "response_engine": {"type": "conversation-flow", "conversation_flow_id": "cf_77"},
               "voice_id": "11labs-Adrian"}),
    ];
    world.retell_llms.insert(
        "llm_clinic01".into(),
        json!({
            "llm_id": "llm_clinic01", "version": 0, "is_published": true,
            "model": "claude-3.7-sonnet", "model_temperature": 0,
            "general_prompt": "You are the receptionist of Northside Clinic. Today is {{current_time}}.",
            "begin_message": "Northside Clinic, this is Ava. Who am I speaking with?",
            "default_dynamic_variables": {"clinic_hours": "8am-6pm"},
            "knowledge_base_ids": ["knowledge_base_3f9a"],
            "general_tools": [{"type": "end_call", "name": "end_call", "description": "End the call with user."}],
            "states": [
                {"name": "information_collection", "state_prompt": "Collect the patient's name and date of birth.",
                 "edges": [{"destination_state_name": "appointment_booking", "description": "The patient wants an appointment."}],
                 "tools": [{"type": "transfer_call", "name": "transfer_to_nurse", "description": "Transfer to the nurse line.",
                            "transfer_destination": {"type": "predefined", "number": "16175551212"},
                            "transfer_option": {"type": "cold_transfer", "show_transferee_as_caller": false}}]},
                {"name": "appointment_booking", "state_prompt": "Book the appointment.",
                 "tools": [{"type": "book_appointment_cal", "name": "book_appointment", "description": "Book an annual check up.",
                            "cal_api_key": "cal_live_xxxxxxxxxxxx", "event_type_id": 60444, "timezone": "America/New_York"}]}
            ],
            "starting_state": "information_collection"
        }),
    );
    world.retell_llms.insert(
        "llm_front01".into(),
        json!({
            "llm_id": "llm_front01", "version": 1,
            "model": "gpt-4o",
            "general_prompt": "You are the front desk of Harbor Hotel. Guest: {{guest_name}}.",
            "begin_message": "Harbor Hotel front desk, how may I help?",
            "default_dynamic_variables": {"guest_name": "guest"},
            "general_tools": [
                {"type": "custom", "name": "lookup_reservation", "description": "Find a reservation by last name",
                 "url": "https://pms.harbor.example/reservations", "method": "POST",
                 "headers": {"Authorization": "Bearer pms_live_999", "X-Property": "harbor-1"},
                 "query_params": {"property": "harbor-1"},
                 "parameters": {"type": "object", "properties": {"last_name": {"type": "string", "description": "Guest last name"}}, "required": ["last_name"]},
                 "speak_during_execution": true, "execution_message_description": "One moment while I look that up.",
                 "speak_after_execution": true, "timeout_ms": 10000,
                 "response_variables": {"room_number": "reservation.room"}},
                {"type": "end_call", "name": "end_call", "description": "Hang up when the guest is done."},
                {"type": "transfer_call", "name": "transfer_to_concierge", "description": "Transfer to the concierge",
                 "transfer_destination": {"type": "predefined", "number": "+14155550777"}},
                {"type": "press_digit", "name": "press_digit", "description": "Navigate an IVR"}
            ]
        }),
    );
}

fn provider_error(status: StatusCode, provider: &str) -> axum::response::Response {
    let body = match (provider, status.as_u16()) {
        ("elevenlabs", 401) => {
            json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
        }
        ("elevenlabs", 404) => {
            json!({"detail": {"status": "agent_not_found", "message": "Agent not found"}})
        }
        ("vapi", 401) => {
            json!({"message": "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.", "error": "Unauthorized", "statusCode": 401})
        }
        ("vapi", 404) => json!({"message": "Not Found", "statusCode": 404}),
        ("retell", 401) => json!({"status": "error", "message": "API key is invalid"}),
        (_, code) => json!({"message": format!("upstream trouble ({code})")}),
    };
    (status, Json(body)).into_response()
}

async fn handle(
    State(providers): State<Providers>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let path = uri.path().to_owned();
    let (fail_with, delay) = {
        let mut world = providers.world();
        world.hits.push(format!(
            "GET {path}{}",
            uri.query().map(|q| format!("?{q}")).unwrap_or_default()
        ));
        (world.fail_with, world.delay_ms)
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let provider = if path.starts_with("/v1/convai") {
        "elevenlabs"
    } else if path.starts_with("/assistant") || path.starts_with("/tool") {
        "vapi"
    } else {
        "retell"
    };
    if let Some(code) = fail_with {
        return provider_error(StatusCode::from_u16(code).unwrap(), provider);
    }
    let authorized = match provider {
        "elevenlabs" => headers
            .get("xi-api-key")
            .is_some_and(|k| k == ELEVENLABS_KEY),
        "vapi" => headers
            .get("authorization")
            .is_some_and(|k| k == format!("Bearer {VAPI_KEY}").as_str()),
        _ => headers
            .get("authorization")
            .is_some_and(|k| k == format!("Bearer {RETELL_KEY}").as_str()),
    };
    if !authorized {
        return provider_error(StatusCode::UNAUTHORIZED, provider);
    }
    let world = providers.world();
    let not_found = || provider_error(StatusCode::NOT_FOUND, provider);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "convai", "agents"] => {
            let start: usize = query
                .get("cursor")
                .and_then(|c| c.strip_prefix("cur_"))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let page: Vec<Value> = world
                .elevenlabs
                .iter()
                .skip(start)
                .take(PAGE)
                .map(|a| json!({"agent_id": a["agent_id"], "name": a["name"], "tags": a.get("tags").cloned().unwrap_or(json!([])),
                                "created_at_unix_secs": 1716153600, "access_info": {"is_creator": true, "role": "admin"}, "archived": false}))
                .collect();
            let next = start + page.len();
            let more = next < world.elevenlabs.len();
            Json(json!({"agents": page, "has_more": more, "next_cursor": if more { json!(format!("cur_{next}")) } else { Value::Null }}))
                .into_response()
        }
        ["v1", "convai", "agents", id] => {
            match world.elevenlabs.iter().find(|a| a["agent_id"] == *id) {
                Some(agent) => Json(agent.clone()).into_response(),
                None => not_found(),
            }
        }
        ["v1", "convai", "tools", id] => match world.elevenlabs_tools.get(*id) {
            Some(tool) => Json(tool.clone()).into_response(),
            None => not_found(),
        },
        ["v1", "convai", "secrets"] => {
            Json(json!({"secrets": world.elevenlabs_secrets})).into_response()
        }
        ["assistant"] => {
            let limit: usize = query
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(100);
            let mut items: Vec<&Value> = world
                .vapi
                .iter()
                .filter(|a| {
                    query
                        .get("createdAtLt")
                        .is_none_or(|before| a["createdAt"].as_str().unwrap() < before.as_str())
                })
                .collect();
            items.sort_by(|a, b| b["createdAt"].as_str().cmp(&a["createdAt"].as_str()));
            let page: Vec<Value> = items.into_iter().take(limit.min(PAGE)).cloned().collect();
            Json(Value::Array(page)).into_response()
        }
        ["assistant", id] => match world.vapi.iter().find(|a| a["id"] == *id) {
            Some(assistant) => Json(assistant.clone()).into_response(),
            None => not_found(),
        },
        ["tool", id] => match world.vapi_tools.get(*id) {
            Some(tool) => Json(tool.clone()).into_response(),
            None => not_found(),
        },
        ["list-agents"] => {
            let limit: usize = query
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(1000);
            let mut items: Vec<&Value> = world.retell.iter().collect();
            items.sort_by_key(|a| {
                (
                    a["agent_id"].as_str().unwrap().to_owned(),
                    a["version"].as_i64(),
                )
            });
            let after = query.get("pagination_key").map(|key| {
                let version: i64 = query
                    .get("pagination_key_version")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(i64::MAX);
                (key.clone(), version)
            });
            let page: Vec<Value> = items
                .into_iter()
                .filter(|a| match &after {
                    None => true,
                    Some((key, version)) => {
                        let here = (
                            a["agent_id"].as_str().unwrap().to_owned(),
                            a["version"].as_i64().unwrap(),
                        );
                        here > (key.clone(), *version)
                    }
                })
                .take(limit.min(PAGE))
                .cloned()
                .collect();
            Json(Value::Array(page)).into_response()
        }
        ["get-agent", id] => {
            let latest = world
                .retell
                .iter()
                .filter(|a| a["agent_id"] == *id)
                .max_by_key(|a| a["version"].as_i64());
            match latest {
                Some(agent) => Json(agent.clone()).into_response(),
                None => not_found(),
            }
        }
        ["get-retell-llm", id] => match world.retell_llms.get(*id) {
            Some(llm) => Json(llm.clone()).into_response(),
            None => not_found(),
        },
        _ => not_found(),
    }
}

async fn start_providers() -> (String, Providers) {
    let providers = Providers::default();
    {
        let mut world = providers.world();
        elevenlabs_fixtures(&mut world);
        vapi_fixtures(&mut world);
        retell_fixtures(&mut world);
    }
    let app = Router::new()
        .fallback(any(handle))
        .with_state(providers.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, providers)
}

/// The application pointed at the stand-ins; `openai/*` models and the default model are
/// served (by an endpoint nobody calls here), anything else is not.
async fn spawn_with(
    backend: Backend,
    tweak: impl FnOnce(&mut parley_server::Settings),
) -> (TestApp, Providers) {
    let (base, providers) = start_providers().await;
    let app = TestApp::spawn_with_settings(backend, |settings| {
        settings.import.elevenlabs_url = base.clone();
        settings.import.vapi_url = base.clone();
        settings.import.retell_url = base.clone();
        // Served: `openai/*` and the default model; nothing else (no catch-all upstream).
        settings.llm.embedded = false;
        settings.llm.upstream_base_url = None;
        let route = |name: &str| ModelRoute {
            name: name.into(),
            base_url: "https://llm.invalid/v1".into(),
            model: None,
            api_key: None,
            context_tokens: None,
        };
        settings.llm.models = vec![route("openai/*"), route(&settings.default_model)];
        tweak(settings);
    })
    .await;
    (app, providers)
}

async fn spawn(backend: Backend) -> (TestApp, Providers) {
    spawn_with(backend, |_| {}).await
}

async fn secret(app: &TestApp, key: Option<&str>, identifier: &str, token: &str) {
    let reply = app
        .send(
            reqwest::Method::POST,
            "/v2/integration_secrets",
            Some(&json!({"identifier": identifier, "type": "bearer", "token": token})),
            Some(key.unwrap_or(&app.key)),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

async fn import(app: &TestApp, body: Value) -> Reply {
    app.post("/v2/ai/assistants/import", &body).await
}

fn failures(reply: &Reply) -> Vec<Value> {
    match reply.headers.get("x-parley-import-failures") {
        Some(value) => serde_json::from_str::<Vec<Value>>(value.to_str().unwrap()).unwrap(),
        None => Vec::new(),
    }
}

fn by_name<'a>(reply: &'a Reply, name: &str) -> &'a Value {
    reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no assistant {name} in {}", reply.body))
}

fn tool<'a>(assistant: &'a Value, kind: &str, name: Option<&str>) -> &'a Value {
    assistant["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == kind && name.is_none_or(|n| t[kind]["name"] == n))
        .unwrap_or_else(|| panic!("no {kind} tool {name:?} in {}", assistant["tools"]))
}

async fn secret_identifiers(app: &TestApp, key: Option<&str>) -> Vec<String> {
    let reply = app
        .send(
            reqwest::Method::GET,
            "/v2/integration_secrets?page[size]=100",
            None,
            Some(key.unwrap_or(&app.key)),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut ids: Vec<String> = reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["identifier"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn elevenlabs_agents_import_with_tools_voice_and_variables(backend: Backend) {
    let (app, providers) = spawn(backend).await;
    secret(&app, None, "elevenlabs-key", ELEVENLABS_KEY).await;
    // A secret the user already has keeps its value: the import reuses it.
    secret(&app, None, "acme_llm_key", "real-llm-key").await;
    let reply = import(
        &app,
        json!({"provider": "elevenlabs", "api_key_ref": "elevenlabs-key"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["data"].as_array().unwrap().len(),
        2,
        "{}",
        reply.body
    );
    assert!(reply.body.get("meta").is_none());

    // Two list pages (cursor), one get per agent, the referenced tool, the secret names.
    let lists = providers.hits("GET /v1/convai/agents?");
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(lists[1].contains("cursor=cur_2"), "{lists:?}");
    assert_eq!(
        providers.hits("GET /v1/convai/tools/tool_8s7d6f5g").len(),
        1
    );
    assert_eq!(providers.hits("GET /v1/convai/secrets").len(), 1);

    let failed = failures(&reply);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["import_id"], "agent_03broken");
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("conversation_config"),
        "{failed:?}"
    );

    let support = by_name(&reply, "Support Agent");
    assert_eq!(
        support["import_metadata"],
        json!({"import_provider": "elevenlabs", "import_id": "agent_01jz8k3xq7f2y9"})
    );
    assert_eq!(support["version_name"], "Imported from ElevenLabs");
    assert_eq!(support["tags"], json!(["support", "tier-1"]));
    assert_eq!(
        support["instructions"],
        "You are Acme's support agent. The caller is {{customer_name}} ({{telnyx_end_user_target}}) on the {{plan}} plan."
    );
    assert_eq!(
        support["greeting"],
        "Hi {{customer_name}}, thanks for calling Acme. How can I help?"
    );
    assert_eq!(support["model"], "openai/gpt-4o-mini");
    assert_eq!(
        support["dynamic_variables"],
        json!({"customer_name": "there", "plan": "basic"})
    );
    assert_eq!(
        support["voice_settings"],
        json!({"voice": "ElevenLabs.eleven_turbo_v2.cjVigY5qzO86Huf0OWal", "api_key_ref": "elevenlabs-key",
               "similarity_boost": 0.8, "speed": 1.0})
    );
    assert_eq!(support["transcription"], json!({"language": "en"}));

    let get_order = tool(support, "webhook", Some("get_order"));
    assert_eq!(get_order["timeout_ms"], 20000);
    let webhook = &get_order["webhook"];
    assert_eq!(webhook["url"], "https://api.acme.example/orders/{order_id}");
    assert_eq!(webhook["method"], "GET");
    assert_eq!(
        webhook["path_parameters"],
        json!({"type": "object", "properties": {"order_id": {"type": "string", "description": "The order number"}}, "required": ["order_id"]})
    );
    assert_eq!(
        webhook["query_parameters"],
        json!({"type": "object", "properties": {"include_items": {"type": "boolean", "description": "Whether to list the items"}}, "required": ["include_items"]})
    );
    assert_eq!(
        webhook["preset_query_params"],
        json!({"locale": "en-US", "customer": "{{customer_name}}"})
    );
    assert_eq!(
        webhook["headers"],
        json!([{"name": "Authorization", "value": "{{#integration_secret}}acme_orders_token{{/integration_secret}}"},
               {"name": "X-Client", "value": "voice-agent"}])
    );
    assert_eq!(
        webhook["store_fields_as_variables"],
        json!([{"name": "order_status", "value_path": "status"}])
    );
    let ticket = &tool(support, "webhook", Some("create_ticket"))["webhook"];
    assert_eq!(ticket["method"], "POST");
    assert_eq!(ticket["body_parameters"]["required"], json!(["summary"]));
    assert_eq!(ticket["preset_body_fields"], json!({"source": "phone"}));
    assert_eq!(
        ticket["headers"][0]["value"],
        "{{#integration_secret}}elevenlabs_create_ticket_X-Api-Key{{/integration_secret}}"
    );
    assert_eq!(
        tool(support, "hangup", None)["hangup"],
        json!({"description": "End the call when the caller is done."})
    );
    assert_eq!(
        tool(support, "transfer", None)["transfer"],
        json!({"description": "Transfer to a human", "targets": [
            {"to": "+15550102000", "name": "The caller asks about billing"},
            {"to": "sip:support@acme.example", "name": "The caller needs technical support"}]})
    );
    tool(support, "send_dtmf", None);
    let description = support["description"].as_str().unwrap();
    assert!(
        description.starts_with("Imported from ElevenLabs agent agent_01jz8k3xq7f2y9."),
        "{description}"
    );
    for lost in [
        "\"Returns policy\" (file kb_2b9c)",
        "speech recognition settings",
        "turn-taking settings",
        "maximum conversation duration",
        "evaluation criteria",
        "voice stability",
        "LLM temperature",
        "acme_orders_token",
    ] {
        assert!(
            description.contains(lost),
            "{lost} missing from {description}"
        );
    }
    assert!(!reply
        .body
        .to_string()
        .contains("tk_live_should_not_be_copied"));

    let sales = by_name(&reply, "Sales Agent");
    assert_eq!(
        sales["external_llm"],
        json!({"base_url": "https://llm.acme.example/v1", "model": "acme-sales-7b", "llm_api_key_ref": "acme_llm_key"})
    );
    assert_eq!(
        tool(sales, "client_side_tool", None)["client_side_tool"]["parameters"],
        json!({"type": "object", "properties": {"sku": {"type": "string", "description": "Product SKU"}}, "required": ["sku"]})
    );
    assert_eq!(sales["privacy_settings"], json!({"data_retention": false}));

    // Placeholders exist for what the tools refer to; the user's own secret was reused.
    assert_eq!(
        secret_identifiers(&app, None).await,
        [
            "acme_llm_key",
            "acme_orders_token",
            "elevenlabs-key",
            "elevenlabs_create_ticket_X-Api-Key"
        ]
    );
    let stored = app
        .get(&format!(
            "/v2/ai/assistants/{}",
            support["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(stored.body, *support);
    app.stop().await;
}

async fn vapi_assistants_import_across_pages(backend: Backend) {
    let (app, providers) = spawn(backend).await;
    secret(&app, None, "vapi-key", VAPI_KEY).await;
    let reply = import(&app, json!({"provider": "vapi", "api_key_ref": "vapi-key"})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let lists = providers.hits("GET /assistant?");
    assert_eq!(
        lists.len(),
        3,
        "newest page, older page, empty page: {lists:?}"
    );
    assert!(lists[1].contains("createdAtLt=2024-06-02T09"), "{lists:?}");
    assert_eq!(reply.body["data"].as_array().unwrap().len(), 2);

    // The third assistant's tool points at a private address: refused, the others import.
    let failed = failures(&reply);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        failed[0]["import_id"],
        "6f1c0c1e-3b7a-4d2e-9a55-0b8f2c1d4e03"
    );
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("/tools/0/webhook/url"),
        "{failed:?}"
    );

    let booking = by_name(&reply, "Booking Bot");
    assert_eq!(
        booking["instructions"],
        "You take table bookings for Bistro Nord. Today is {{telnyx_current_date}}. The caller's number is {{telnyx_end_user_target}}."
    );
    assert_eq!(
        booking["greeting"],
        "Hi {{name}}, this is Bella from Bistro Nord."
    );
    assert_eq!(booking["dynamic_variables"], json!({"name": "there"}));
    assert_eq!(booking["model"], "openai/gpt-4o");
    let book = tool(booking, "webhook", Some("book_table"));
    assert_eq!(book["timeout_ms"], 12000);
    assert_eq!(
        book["webhook"]["url"],
        "https://bookings.bistro.example/vapi/book"
    );
    assert_eq!(
        book["webhook"]["body_parameters"],
        json!({"type": "object", "properties": {"time": {"type": "string", "description": "ISO time"}, "guests": {"type": "integer"}}, "required": ["time", "guests"]})
    );
    assert_eq!(
        book["webhook"]["headers"],
        json!([
            {"name": "Authorization", "value": "Bearer {{#integration_secret}}vapi_book_table_Authorization{{/integration_secret}}"},
            {"name": "X-Venue", "value": "nord"},
            {"name": "X-Vapi-Secret", "value": "{{#integration_secret}}vapi_book_table_server_secret{{/integration_secret}}"}
        ])
    );
    assert_eq!(
        book["webhook"]["messages"],
        json!([{"type": "request_start", "content": "Let me check that for you."},
               {"type": "request_response_delayed", "content": "Still checking...", "timing_ms": 3000}])
    );
    let availability = &tool(booking, "webhook", Some("check_availability"))["webhook"];
    assert_eq!(availability["method"], "GET");
    assert_eq!(
        availability["query_parameters"]["required"],
        json!(["date"])
    );
    assert_eq!(
        availability["preset_query_params"],
        json!({"channel": "phone"})
    );
    assert_eq!(
        tool(booking, "hangup", None)["hangup"],
        json!({"description": "End the call politely"})
    );
    assert_eq!(
        tool(booking, "transfer", None)["transfer"]["targets"],
        json!([{"to": "+14155550123", "name": "host stand", "message": "Connecting you to our host."}])
    );
    assert_eq!(
        booking["voice_settings"],
        json!({"voice": "ElevenLabs.eleven_turbo_v2_5.21m00Tcm4TlvDq8ikWAM", "speed": 1.1, "similarity_boost": 0.75})
    );
    assert_eq!(
        booking["transcription"],
        json!({"model": "deepgram/nova-2", "language": "en", "settings": {"keyterm": "Nord"}})
    );
    let description = booking["description"].as_str().unwrap();
    for lost in [
        "backgroundSound",
        "endCallPhrases",
        "analysisPlan",
        "assistant destination of transfer_to_staff",
        "tool-calls message",
    ] {
        assert!(
            description.contains(lost),
            "{lost} missing from {description}"
        );
    }
    let text = reply.body.to_string();
    assert!(!text.contains("bk_live_456") && !text.contains("whsec_live_123"));

    let receptionist = by_name(&reply, "Receptionist");
    assert_eq!(
        receptionist["model"],
        app.state.settings.default_model.as_str()
    );
    let description = receptionist["description"].as_str().unwrap();
    assert!(
        description.contains("anthropic/claude-3-5-sonnet-20240620")
            && description.contains("kb-menu-2024"),
        "{description}"
    );
    assert_eq!(
        tool(receptionist, "transfer", None)["transfer"]["targets"],
        json!([{"to": "+14155550199", "name": "+14155550199"}])
    );
    tool(receptionist, "hangup", None);
    assert_eq!(
        receptionist["privacy_settings"],
        json!({"data_retention": false})
    );
    app.stop().await;
}

async fn retell_single_and_multi_prompt_agents_import(backend: Backend) {
    let (app, providers) = spawn(backend).await;
    secret(&app, None, "retell-key", RETELL_KEY).await;
    let reply = import(
        &app,
        json!({"provider": "retell", "api_key_ref": "retell-key"}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let lists = providers.hits("GET /list-agents");
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(
        lists[1].contains("pagination_key=agent_b2d9f4a0")
            && lists[1].contains("pagination_key_version=0"),
        "{lists:?}"
    );
    assert_eq!(providers.hits("GET /get-retell-llm/").len(), 2);
    assert_eq!(
        reply.body["data"].as_array().unwrap().len(),
        2,
        "{}",
        reply.body
    );
    let failed = failures(&reply);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["import_id"], "agent_c7e1d3f9");
    assert!(failed[0]["reason"]
        .as_str()
        .unwrap()
        .contains("conversation-flow"));

    let clinic = by_name(&reply, "Clinic Receptionist");
    assert_eq!(
        clinic["instructions"],
        "You are the receptionist of Northside Clinic. Today is {{telnyx_current_time}}."
    );
    assert_eq!(
        clinic["greeting"],
        "Northside Clinic, this is Ava. Who am I speaking with?"
    );
    assert_eq!(
        clinic["dynamic_variables"],
        json!({"clinic_hours": "8am-6pm"})
    );
    assert_eq!(clinic["model"], app.state.settings.default_model.as_str());
    let flow = &clinic["conversation_flow"];
    assert_eq!(flow["start_node_id"], "information_collection");
    assert_eq!(flow["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(flow["nodes"][0]["instructions_mode"], "append");
    assert_eq!(
        flow["edges"][0]["condition"],
        json!({"type": "llm", "prompt": "The patient wants an appointment."})
    );
    assert_eq!(
        tool(clinic, "transfer", None)["transfer"]["targets"],
        json!([{"to": "+16175551212", "name": "transfer_to_nurse"}])
    );
    assert_eq!(clinic["privacy_settings"], json!({"data_retention": false}));
    assert_eq!(clinic["voice_settings"]["voice"], "Retell.11labs-Adrian");
    let description = clinic["description"].as_str().unwrap();
    for lost in [
        "knowledge_base_3f9a",
        "book_appointment",
        "claude-3.7-sonnet",
        "webhook_url",
        "boosted_keywords",
    ] {
        assert!(
            description.contains(lost),
            "{lost} missing from {description}"
        );
    }
    assert!(!reply.body.to_string().contains("cal_live_"));

    // The latest version of the agent, with its LLM.
    let desk = by_name(&reply, "Front Desk");
    assert_eq!(desk["model"], "openai/gpt-4o");
    let lookup = tool(desk, "webhook", Some("lookup_reservation"));
    assert_eq!(lookup["timeout_ms"], 10000);
    assert_eq!(
        lookup["webhook"]["preset_query_params"],
        json!({"property": "harbor-1"})
    );
    assert_eq!(
        lookup["webhook"]["store_fields_as_variables"],
        json!([{"name": "room_number", "value_path": "reservation.room"}])
    );
    assert_eq!(
        lookup["webhook"]["messages"],
        json!([{"type": "request_start", "content": "One moment while I look that up."}])
    );
    tool(desk, "send_dtmf", None);
    tool(desk, "hangup", None);
    assert!(desk["description"]
        .as_str()
        .unwrap()
        .contains("max_call_duration_ms"));
    app.stop().await;
}

async fn reimport_updates_instead_of_duplicating(backend: Backend) {
    let (app, providers) = spawn(backend).await;
    secret(&app, None, "vapi-key", VAPI_KEY).await;
    let first = import(&app, json!({"provider": "vapi", "api_key_ref": "vapi-key"})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let booking = by_name(&first, "Booking Bot").clone();
    let id = booking["id"].as_str().unwrap().to_owned();
    // The user tags it in Parley meanwhile; the provider's prompt changes.
    let tagged = app
        .post(
            &format!("/v2/ai/assistants/{id}/tags"),
            &json!({"tag": "migrated"}),
        )
        .await;
    assert_eq!(tagged.status, 200, "{}", tagged.body);
    {
        let mut world = providers.world();
        let assistant = world
            .vapi
            .iter_mut()
            .find(|a| a["name"] == "Booking Bot")
            .unwrap();
        assistant["model"]["messages"][0]["content"] =
            json!("You take bookings and cancellations.");
        assistant.as_object_mut().unwrap().remove("firstMessage");
    }
    let secrets_before = secret_identifiers(&app, None).await;

    let second = import(&app, json!({"provider": "vapi", "api_key_ref": "vapi-key"})).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let again = by_name(&second, "Booking Bot");
    assert_eq!(again["id"], booking["id"], "the same assistant");
    assert_ne!(again["version_id"], booking["version_id"], "a new version");
    assert_eq!(again["created_at"], booking["created_at"]);
    assert_eq!(
        again["instructions"],
        "You take bookings and cancellations."
    );
    assert!(again.get("greeting").is_none(), "{again}");
    assert_eq!(again["tags"], json!(["migrated"]));
    assert_eq!(again["import_metadata"], booking["import_metadata"]);

    let list = app.get("/v2/ai/assistants").await;
    assert_eq!(
        list.body["data"].as_array().unwrap().len(),
        2,
        "no duplicates"
    );
    let versions = app.get(&format!("/v2/ai/assistants/{id}/versions")).await;
    assert_eq!(versions.status, 200, "{}", versions.body);
    assert_eq!(versions.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(secret_identifiers(&app, None).await, secrets_before);

    // A soft-deleted import is not updated: the next import creates a new one.
    assert_eq!(
        app.delete(&format!("/v2/ai/assistants/{id}")).await.status,
        200
    );
    let third = import(
        &app,
        json!({"provider": "vapi", "api_key_ref": "vapi-key", "import_ids": ["6f1c0c1e-3b7a-4d2e-9a55-0b8f2c1d4e01"]}),
    )
    .await;
    assert_eq!(third.status, 200, "{}", third.body);
    assert_ne!(by_name(&third, "Booking Bot")["id"], booking["id"]);
    app.stop().await;
}

async fn import_ids_select_agents(backend: Backend) {
    let (app, providers) = spawn(backend).await;
    secret(&app, None, "retell-key", RETELL_KEY).await;
    let reply = import(
        &app,
        json!({"provider": "retell", "api_key_ref": "retell-key", "import_ids": ["agent_b2d9f4a0", "agent_missing"]}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let data = reply.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["import_metadata"]["import_id"], "agent_b2d9f4a0");
    let failed = failures(&reply);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["import_id"], "agent_missing");
    assert_eq!(
        providers.hits("GET /get-agent/").len(),
        1,
        "only the selected agent is fetched"
    );
    app.stop().await;
}

async fn provider_auth_failures_are_400_naming_the_reason(backend: Backend) {
    let (app, providers) = spawn(backend).await;
    for (provider, name, reason) in [
        ("elevenlabs", "ElevenLabs", "Invalid API key"),
        ("vapi", "Vapi", "Invalid Key."),
        ("retell", "Retell", "API key is invalid"),
    ] {
        secret(&app, None, &format!("{provider}-old-key"), "revoked-key").await;
        let reply = import(
            &app,
            json!({"provider": provider, "api_key_ref": format!("{provider}-old-key")}),
        )
        .await;
        let error = assert_error(&reply, 400, "10018");
        let detail = error["detail"].as_str().unwrap();
        assert!(
            detail.contains(name) && detail.contains("HTTP 401") && detail.contains(reason),
            "{detail}"
        );
        assert!(!detail.contains("revoked-key"), "{detail}");
        assert_eq!(error["source"]["pointer"], "/api_key_ref");
    }
    assert_eq!(
        app.get("/v2/ai/assistants").await.body["data"],
        json!([]),
        "nothing imported"
    );
    assert!(!providers.hits("GET").is_empty());
    app.stop().await;
}

async fn provider_failures_and_timeouts_are_502(backend: Backend) {
    let (app, providers) = spawn_with(backend, |s| s.import.timeout_ms = 300).await;
    secret(&app, None, "vapi-key", VAPI_KEY).await;
    secret(&app, None, "elevenlabs-key", ELEVENLABS_KEY).await;
    providers.world().fail_with = Some(503);
    let reply = import(&app, json!({"provider": "vapi", "api_key_ref": "vapi-key"})).await;
    let error = assert_error(&reply, 502, "10019");
    let detail = error["detail"].as_str().unwrap();
    assert!(
        detail.contains("Vapi") && detail.contains("HTTP 503"),
        "{detail}"
    );

    providers.world().fail_with = None;
    providers.world().delay_ms = 1_000;
    let reply = import(
        &app,
        json!({"provider": "elevenlabs", "api_key_ref": "elevenlabs-key"}),
    )
    .await;
    let error = assert_error(&reply, 502, "10019");
    assert!(
        error["detail"].as_str().unwrap().contains("did not answer"),
        "{error}"
    );
    assert_eq!(app.get("/v2/ai/assistants").await.body["data"], json!([]));
    app.stop().await;
}

async fn bad_requests_are_refused(backend: Backend) {
    let (app, providers) = spawn(backend).await;
    let reply = import(&app, json!({"provider": "bland", "api_key_ref": "k"})).await;
    assert_eq!(
        assert_error(&reply, 422, "10016")["source"]["pointer"],
        "/provider"
    );
    let reply = import(&app, json!({"provider": "vapi"})).await;
    assert_eq!(
        assert_error(&reply, 422, "10016")["source"]["pointer"],
        "/api_key_ref"
    );
    let reply = import(
        &app,
        json!({"provider": "vapi", "api_key_ref": "k", "import_ids": "x"}),
    )
    .await;
    assert_eq!(
        assert_error(&reply, 422, "10016")["source"]["pointer"],
        "/import_ids"
    );
    let reply = import(&app, json!({"provider": "vapi", "api_key_ref": "nobody"})).await;
    let error = assert_error(&reply, 422, "10016");
    assert_eq!(error["source"]["pointer"], "/api_key_ref");
    assert!(error["detail"].as_str().unwrap().contains("not found"));
    let basic = app
        .post(
            "/v2/integration_secrets",
            &json!({"identifier": "basic-one", "type": "basic", "username": "u", "password": "p"}),
        )
        .await;
    assert_eq!(basic.status, 201);
    let reply = import(
        &app,
        json!({"provider": "vapi", "api_key_ref": "basic-one"}),
    )
    .await;
    assert_eq!(
        assert_error(&reply, 422, "10016")["source"]["pointer"],
        "/api_key_ref"
    );
    assert!(providers.hits("GET").is_empty(), "no provider was called");
    app.stop().await;
}

async fn imports_are_per_organization(backend: Backend) {
    let (app, _providers) = spawn(backend).await;
    let other = app.key_for_new_org("import-tenant-b").await;
    secret(&app, None, "vapi-key", VAPI_KEY).await;
    // Organization B cannot use A's secret.
    let reply = app
        .send(
            reqwest::Method::POST,
            "/v2/ai/assistants/import",
            Some(&json!({"provider": "vapi", "api_key_ref": "vapi-key"})),
            Some(&other),
        )
        .await;
    assert_eq!(
        assert_error(&reply, 422, "10016")["source"]["pointer"],
        "/api_key_ref"
    );

    let ours = import(&app, json!({"provider": "vapi", "api_key_ref": "vapi-key"})).await;
    assert_eq!(ours.status, 200, "{}", ours.body);
    secret(&app, Some(&other), "vapi-key", VAPI_KEY).await;
    let theirs = app
        .send(
            reqwest::Method::POST,
            "/v2/ai/assistants/import",
            Some(&json!({"provider": "vapi", "api_key_ref": "vapi-key"})),
            Some(&other),
        )
        .await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    let (a, b) = (
        by_name(&ours, "Booking Bot"),
        by_name(&theirs, "Booking Bot"),
    );
    assert_ne!(a["id"], b["id"], "each organization gets its own copy");
    assert_eq!(a["import_metadata"], b["import_metadata"]);
    // B's placeholder secrets are B's.
    assert!(secret_identifiers(&app, Some(&other))
        .await
        .contains(&"vapi_book_table_Authorization".to_owned()));

    // A re-import in B leaves A's copy alone.
    let again = app
        .send(
            reqwest::Method::POST,
            "/v2/ai/assistants/import",
            Some(&json!({"provider": "vapi", "api_key_ref": "vapi-key"})),
            Some(&other),
        )
        .await;
    assert_eq!(by_name(&again, "Booking Bot")["id"], b["id"]);
    let mine = app
        .get(&format!("/v2/ai/assistants/{}", a["id"].as_str().unwrap()))
        .await;
    assert_eq!(mine.body["version_id"], a["version_id"]);
    let hidden = app
        .send(
            reqwest::Method::GET,
            &format!("/v2/ai/assistants/{}", a["id"].as_str().unwrap()),
            None,
            Some(&other),
        )
        .await;
    assert_eq!(hidden.status, 404);
    app.stop().await;
}

on_both!(
    elevenlabs_agents_import_with_tools_voice_and_variables,
    vapi_assistants_import_across_pages,
    retell_single_and_multi_prompt_agents_import,
    reimport_updates_instead_of_duplicating,
    import_ids_select_agents,
    provider_auth_failures_are_400_naming_the_reason,
    provider_failures_and_timeouts_are_502,
    bad_requests_are_refused,
    imports_are_per_organization,
);
