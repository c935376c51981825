"""Request bodies shared by the SDK compatibility tests.

Every body uses the wire (JSON) field names, which are also the keys of the SDK's TypedDict
params, so the same dict can be splatted into ``client.ai.assistants.create(**body)`` and
compared against the JSON the server sends back.
"""

from __future__ import annotations

import copy
from typing import Any

#: The 15 tool types of the ``AssistantTool`` union (contract §5).
TOOL_TYPES = (
    "function",
    "webhook",
    "client_side_tool",
    "retrieval",
    "handoff",
    "hangup",
    "transfer",
    "invite",
    "refer",
    "send_dtmf",
    "send_message",
    "skip_turn",
    "vision",
    "pay",
    "update_dynamic_variables",
)

#: Tool types an assistant may hold more than once (contract §5).
MULTI_INSTANCE_TOOL_TYPES = ("function", "webhook", "client_side_tool")

#: Fields the server fills in on every assistant object (contract §3).
SERVER_FIELDS = ("id", "created_at", "version_id", "version_name", "version_created_at")


def transcription_config(seed: int = 0) -> dict[str, Any]:
    """A ``TranscriptionSettingsConfig`` using every field, within the documented ranges."""
    return {
        "context": f"support call {seed}",
        "eager_eot_threshold": 0.5,
        "enable_endpoint_detection": True,
        "end_of_turn_confidence_threshold": 0.6,
        "eot_threshold": 0.7,
        "eot_timeout_ms": 4000,
        "interim_results": True,
        "keyterm": "Parley",
        "language_hints": ["en", "es"],
        "max_endpoint_delay_ms": 1500,
        "max_turn_silence": 1500,
        "min_turn_silence": 300,
        "numerals": True,
        "prompt": "Transcribe faithfully.",
        "remove_disfluencies": False,
        "smart_format": True,
    }


def external_llm(name: str = "primary") -> dict[str, Any]:
    return {
        "base_url": f"https://llm.example.com/{name}/v1",
        "model": f"example/{name}-model",
        "authentication_method": "token",
        "certificate_ref": f"{name}-cert-ref",
        "forward_metadata": True,
        "llm_api_key_ref": f"{name}-key-ref",
        "token_retrieval_url": f"https://auth.example.com/{name}/token",
    }


def voice_settings() -> dict[str, Any]:
    return {
        "voice": "Telnyx.KokoroTTS.af_heart",
        "api_key_ref": "voice-key-ref",
        "background_audio": {"type": "predefined_media", "value": "office", "volume": 0.5},
        "expressive_mode": True,
        "language_boost": "English",
        "similarity_boost": 0.6,
        "speed": 1.25,
        "style": 0.3,
        "temperature": 0.7,
        "tool_call_audio": {"type": "predefined_media", "value": "typing", "volume": 0.4},
        "use_speaker_boost": False,
        "voice_speed": 1.1,
    }


def all_tools(handoff_target_id: str = "assistant-handoff-target") -> list[dict[str, Any]]:
    """One tool of each of the 15 types (two webhooks), every config field used."""
    return [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "description": "Looks an order up.",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string", "description": "The order"}},
                    "required": ["order_id"],
                },
            },
        },
        {
            "type": "webhook",
            "timeout_ms": 5000,
            "webhook": {
                "name": "create_ticket",
                "description": "Creates a support ticket.",
                "url": "https://hooks.example.com/tickets/{ticket_type}",
                "async": True,
                "async_timeout_ms": 12000,
                "method": "PUT",
                "headers": [{"name": "X-Api-Version", "value": "2"}],
                "body_parameters": {
                    "type": "object",
                    "properties": {"summary": {"type": "string"}, "priority": {"type": "integer"}},
                    "required": ["summary"],
                },
                "path_parameters": {
                    "type": "object",
                    "properties": {"ticket_type": {"type": "string", "enum": ["bug", "question"]}},
                    "required": ["ticket_type"],
                },
                "query_parameters": {
                    "type": "object",
                    "properties": {"notify": {"type": "boolean"}},
                    "required": [],
                },
                "messages": [
                    {"type": "request_start", "content": "One moment please.", "timing_ms": 0},
                    {"type": "request_response_delayed", "content": "Still working on it.", "timing_ms": 3000},
                ],
                "preset_body_fields": {"source": "voice", "channel": {"kind": "phone"}},
                "preset_query_params": {"tenant": "acme"},
                "store_fields_as_variables": [{"name": "ticket_id", "value_path": "$.id"}],
            },
        },
        {
            "type": "webhook",
            "webhook": {
                "name": "second_webhook",
                "description": "Webhooks may appear more than once.",
                "url": "https://hooks.example.com/second",
                "method": "GET",
            },
        },
        {
            "type": "client_side_tool",
            "client_side_tool": {
                "name": "open_page",
                "description": "Opens a page in the caller's browser.",
                "parameters": {
                    "type": "object",
                    "properties": {"url": {"type": "string"}},
                    "required": ["url"],
                },
            },
        },
        {"type": "retrieval", "retrieval": {"bucket_ids": ["kb-bucket-1", "kb-bucket-2"], "max_num_results": 7}},
        {
            "type": "handoff",
            "handoff": {
                "ai_assistants": [{"id": handoff_target_id, "name": "Billing specialist"}],
                "voice_mode": "distinct",
            },
        },
        {"type": "hangup", "hangup": {"description": "Hang up when the caller says goodbye."}},
        {
            "type": "transfer",
            "transfer": {
                "from": "+13125550100",
                "targets": [
                    {
                        "to": "+13125550111",
                        "name": "Front desk",
                        "extension": "42",
                        "message": "Transferring you to the front desk.",
                        "sip_auth_username": "desk-user",
                        "sip_auth_password": "desk-pass",
                    }
                ],
                "bridge_beep": {"enabled": True, "target_legs": "both"},
                "custom_headers": [{"name": "X-Reason", "value": "escalation"}],
                "description": "Transfer to a human.",
                "diversion": "sip:+13125550100@example.com",
                "voicemail_detection": {
                    "detection_mode": "premium",
                    "detection_config": {
                        "after_greeting_silence_millis": 800,
                        "between_words_silence_millis": 50,
                        "greeting_duration_millis": 3500,
                        "greeting_silence_duration_millis": 2000,
                        "greeting_total_analysis_time_millis": 5000,
                        "initial_silence_millis": 3500,
                        "maximum_number_of_words": 5,
                        "maximum_word_length_millis": 3500,
                        "min_word_length_millis": 100,
                        "silence_threshold": 256,
                        "total_analysis_time_millis": 5000,
                    },
                    "on_voicemail_detected": {
                        "action": "leave_message_and_stop_transfer",
                        "voicemail_message": {"type": "message", "message": "Please call back."},
                    },
                },
                "warm_message_delay_ms": 1500,
                "warm_transfer_acceptance": {
                    "enabled": True,
                    "end_user_target_context_mode": "shared",
                    "require_acceptance": True,
                    "timeout_secs": 30,
                },
                "warm_transfer_instructions": "Summarize the call for the agent.",
            },
        },
        {
            "type": "invite",
            "invite": {
                "from": "+13125550100",
                "custom_headers": [{"name": "X-Invite", "value": "yes"}],
                "targets": [{"to": "+13125550122", "name": "Supervisor"}],
                "voicemail_detection": {"detection_mode": "disabled", "on_voicemail_detected": {"action": "stop_invite"}},
            },
        },
        {
            "type": "refer",
            "refer": {
                "targets": [
                    {
                        "name": "PBX",
                        "sip_address": "sip:pbx@example.com",
                        "sip_auth_username": "pbx-user",
                        "sip_auth_password": "pbx-pass",
                    }
                ],
                "custom_headers": [{"name": "X-Refer", "value": "1"}],
                "sip_headers": [{"name": "User-to-User", "value": "abc123"}],
            },
        },
        {"type": "send_dtmf", "send_dtmf": {"description": "Press keys on the caller's behalf."}},
        {"type": "send_message", "send_message": {"message_template": "Your code is {{code}}."}},
        {"type": "skip_turn", "skip_turn": {"description": "Stay silent when not addressed."}},
        {"type": "vision", "vision": {"max_frame_age_secs": 5}},
        {
            "type": "pay",
            "pay": {
                "connector_name": "stripe-connector",
                "connector_parameters": {"account": "acct_123", "capture": True},
                "currency": "EUR",
                "description": "Take a card payment.",
                "payment_method": "credit-card",
                "valid_card_types": ["visa", "mastercard", "amex"],
            },
        },
        {
            "type": "update_dynamic_variables",
            "update_dynamic_variables": {
                "name": "remember",
                "description": "Stores facts about the caller.",
                "updatable_variables": [
                    {"name": "customer_name", "description": "The caller's name", "type": "string"},
                    {"name": "vip"},
                ],
            },
        },
    ]


def maximal_body(name: str, handoff_target_id: str = "assistant-handoff-target") -> dict[str, Any]:
    """A create body using every writable field of ``AssistantCreateParams`` except
    ``tool_ids`` (shared tools are not in scope), with nested objects fully populated."""
    return {
        "name": name,
        "instructions": "You are a meticulous support agent. Greet {{customer_name}}.",
        "model": "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "description": "Every field of the contract, set.",
        "greeting": "Hello {{customer_name}}, how can I help?",
        "llm_api_key_ref": "openai-key-ref",
        "tags": ["maximal", "support", "sdk-suite"],
        "dynamic_variables": {"customer_name": "Ada", "tier": 3, "flags": {"vip": True}, "list": [1, "two"]},
        "dynamic_variables_webhook_timeout_ms": 2500,
        "dynamic_variables_webhook_url": "https://vars.example.com/hook",
        "enabled_features": ["telephony", "messaging"],
        "a2a_agents": [
            {
                "name": "researcher",
                "url": "https://agents.example.com/researcher",
                "async": True,
                "headers": [{"name": "Authorization", "value": "Bearer secret-ref"}],
                "messages": [
                    {"type": "request_start", "content": "Let me check.", "timing_ms": 100},
                    {"type": "request_response_delayed", "content": "Still checking.", "timing_ms": 4000},
                ],
                "poll_interval_ms": 500,
                "timeout_ms": 20000,
            }
        ],
        "avatar_settings": {
            "avatar_id": "avatar-stock-1",
            "background_id": "studio",
            "model": "foxtrot-1",
            "provider": "telnyx",
        },
        "conversation_flow": {
            "start_node_id": "greet",
            "nodes": [
                {
                    "id": "greet",
                    "type": "prompt",
                    "name": "Greeting",
                    "instructions": "Greet the caller and ask what they need.",
                    "instructions_mode": "append",
                    "tools_mode": "append",
                    "model": "example/flow-model",
                    "llm_api_key_ref": "flow-key-ref",
                    "external_llm": external_llm("flow"),
                    "position": {"x": 10.5, "y": -20},
                    "shared_tool_ids": ["shared-tool-1"],
                    "transcription": {"model": "deepgram/nova-3", "language": "en", "settings": {"smart_format": True}},
                    "voice_settings": {"voice": "Telnyx.NaturalHD.astra"},
                },
                {
                    "id": "lookup",
                    "type": "tool",
                    "name": "Lookup",
                    "shared_tool_id": "shared-tool-2",
                    "message": "Looking that up.",
                    "position": {"x": 200, "y": 0},
                },
                {"id": "bye", "type": "speak", "name": "Goodbye", "message": "Goodbye!", "position": {"x": 400, "y": 0}},
            ],
            "edges": [
                {
                    "id": "e1",
                    "start_node_id": "greet",
                    "condition": {"type": "llm", "prompt": "The caller asked about an order."},
                    "target": {"type": "node", "node_id": "lookup"},
                },
                {
                    "id": "e2",
                    "start_node_id": "lookup",
                    "condition": {"type": "expression", "expression": {"==": [{"var": "found"}, True]}},
                    "target": {"type": "node", "node_id": "bye"},
                },
                {
                    "id": "e3",
                    "start_node_id": "greet",
                    "condition": {"type": "default"},
                    "target": {
                        "type": "assistant",
                        "assistant_id": handoff_target_id,
                        "position": {"x": 0, "y": 300},
                        "voice_mode": "distinct",
                    },
                },
            ],
        },
        "delegation_settings": {
            "enabled": True,
            "external_llm": external_llm("delegate"),
            "instructions": "Do the heavy lifting.",
            "llm_api_key_ref": "delegate-key-ref",
            "mode": "client",
            "model": "example/backend-model",
            "speak_results": True,
        },
        "external_llm": external_llm("primary"),
        "fallback_config": {
            "external_llm": external_llm("fallback"),
            "llm_api_key_ref": "fallback-key-ref",
            "model": "example/fallback-model",
        },
        "insight_settings": {"insight_group_id": "insight-group-1", "model": "example/insights"},
        "integrations": [{"integration_id": "integration-1", "allowed_list": ["create_issue", "list_issues"]}],
        "interruption_settings": {
            "disable_greeting_interruption": True,
            "enable": False,
            "interrupt_prediction_threshold": 0.65,
            "start_speaking_plan": {
                "wait_seconds": 0.8,
                "transcription_endpointing_plan": {
                    "on_no_punctuation_seconds": 1.2,
                    "on_number_seconds": 0.7,
                    "on_punctuation_seconds": 0.2,
                },
            },
        },
        "mcp_servers": [{"id": "mcp-1", "allowed_tools": ["search", "fetch"]}],
        "messaging_settings": {
            "conversation_inactivity_minutes": 120,
            "default_messaging_profile_id": "messaging-profile-1",
            "delivery_status_webhook_url": "https://hooks.example.com/dlr",
        },
        "observability_settings": {
            "host": "https://observability.example.com",
            "prompt_label": "production",
            "prompt_name": "support-prompt",
            "prompt_sync": "enabled",
            "prompt_version": 4,
            "public_key_ref": "obs-public-ref",
            "secret_key_ref": "obs-secret-ref",
            "status": "enabled",
        },
        "post_conversation_settings": {"enabled": True},
        "privacy_settings": {"data_retention": False, "in_transit_data_locality": True, "pii_redaction": "redact"},
        "telephony_settings": {
            "conversation_ended_full_history": True,
            "default_texml_app_id": "texml-app-1",
            "disable_dtmf": True,
            "fallback_destination": "+13125550199",
            "noise_suppression": "krisp",
            "noise_suppression_config": {
                "attenuation_limit": 80,
                "enhancement_level": 0.5,
                "family": "quail",
                "mode": "advanced",
                "size": "vf_2_0_l",
            },
            "recording_settings": {"channels": "single", "enabled": False, "format": "wav", "stop_on_conversation_end": True},
            "send_message_history_updates": True,
            "supports_unauthenticated_web_calls": False,
            "time_limit_secs": 600,
            "user_idle_reply_secs": 15,
            "user_idle_timeout_secs": 120,
            "voicemail_detection": {
                "on_voicemail_detected": {
                    "action": "leave_message_and_stop_assistant",
                    "voicemail_message": {"type": "prompt", "prompt": "Leave a short message.", "message": "Hi!"},
                }
            },
        },
        "tools": all_tools(handoff_target_id),
        "transcription": {
            "api_key_ref": "stt-key-ref",
            "language": "en-US",
            "model": "deepgram/flux",
            "region": "us-east",
            "settings": transcription_config(1),
            "challenger": {
                "model": "assemblyai/universal-streaming",
                "language": "en",
                "rule": "best_turn",
                "settings": transcription_config(2),
            },
            "fallback_models": [
                {"model": "deepgram/nova-2", "language": "en", "settings": transcription_config(3)},
                {"model": "soniox/stt-rt-v5"},
            ],
        },
        "voice_settings": voice_settings(),
        "websocket_settings": {"auth_ref": "ws-auth-ref", "enabled": True, "url": "wss://events.example.com/ws"},
        "widget_settings": {
            "agent_thinking_text": "Thinking...",
            "audio_visualizer_config": {"color": "twilight", "preset": "roundBars"},
            "default_state": "collapsed",
            "give_feedback_url": "https://example.com/feedback",
            "logo_icon_url": "https://example.com/logo.png",
            "position": "static",
            "report_issue_url": "https://example.com/issues",
            "speak_to_interrupt_text": "Speak to interrupt",
            "start_call_text": "Start a call",
            "theme": "dark",
            "view_history_url": "https://example.com/history",
        },
    }


def expected_tools(sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inline tools as the server returns them: as sent, plus ``shared: false``."""
    out = []
    for tool in copy.deepcopy(sent):
        tool["shared"] = False
        out.append(tool)
    return out


def _secret_refs(value: Any) -> list[str]:
    """Every string under a key ending in ``_ref``: the integration secrets a body names."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, child in value.items():
            if key.endswith("_ref") and isinstance(child, str):
                found.append(child)
            else:
                found.extend(_secret_refs(child))
    elif isinstance(value, list):
        for item in value:
            found.extend(_secret_refs(item))
    return found


def with_references(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Creates what ``body`` refers to in the client's organization — an integration secret
    for every ``*_ref`` and an MCP server for every ``mcp_servers[].id`` (whose id replaces
    the placeholder) — and points ``integrations`` at a catalogue integration. Parley refuses
    references to things that do not exist."""
    from sdk_support import http_for

    with http_for(client) as http:
        for identifier in sorted(set(_secret_refs(body))):
            response = http.post(
                "/integration_secrets",
                json={"identifier": identifier, "type": "bearer", "token": "placeholder-token"},
            )
            duplicate = response.status_code == 422 and "/identifier" in response.text
            assert response.status_code in (200, 201) or duplicate, response.text
    for server in body.get("mcp_servers", []):
        created = client.ai.mcp_servers.create(name="Search", type="http", url="https://mcp.example.com/mcp")
        server["id"] = created.id
    for integration in body.get("integrations", []):
        integration["integration_id"] = "jira"
    return body
