"""``client.ai.assistants.imports`` (``POST /v2/ai/assistants/import``) through the official
SDK, against local stand-ins of ElevenLabs, Vapi and Retell (:mod:`provider_stub`; every
server's ``PARLEY_IMPORT_*_URL`` points there). Each test gets its own provider account (a
fresh API key, stored in an integration secret) and a fresh organization, so counts are exact.

Covers: imported assistants carry ``import_metadata`` and what the agent said (prompt,
greeting, model, variables, tools), across the providers' list pagination; a re-import updates
the assistant imported before (a new version, no duplicate); ``import_ids``; agents that fail
alone are reported in ``X-Parley-Import-Failures``; and the error envelopes — an unknown
``api_key_ref`` (422), a key the provider refuses (400 naming the provider's reason), a
provider failing (502)."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable

import pytest
import telnyx
from telnyx.types.ai import AssistantsList, InferenceEmbedding

from provider_stub import Account, ProviderStub
from sdk_support import first_error, http_for

PROVIDERS = ("elevenlabs", "vapi", "retell")
DISPLAY_NAMES = {"elevenlabs": "ElevenLabs", "vapi": "Vapi", "retell": "Retell"}
#: What each stand-in says when it refuses a key.
REFUSAL_REASONS = {"elevenlabs": "Invalid API key", "vapi": "Invalid Key.", "retell": "API key is invalid"}


# --- agents as each provider returns them ------------------------------------------------------


def add_elevenlabs_agent(account: Account, number: int, prompt: str, greeting: str) -> str:
    agent_id = f"agent_{number:02d}{uuid.uuid4().hex[:10]}"
    account.elevenlabs.append(
        {
            "agent_id": agent_id,
            "name": f"Agent {number}",
            "tags": ["support"],
            "conversation_config": {
                "tts": {"model_id": "eleven_turbo_v2", "voice_id": "cjVigY5qzO86Huf0OWal"},
                "agent": {
                    "first_message": greeting,
                    "language": "en",
                    "dynamic_variables": {"dynamic_variable_placeholders": {"customer_name": "there"}},
                    "prompt": {
                        "prompt": prompt,
                        "llm": "gpt-4o-mini",
                        "temperature": 0.2,
                        "tools": [
                            {
                                "type": "webhook",
                                "name": "get_order",
                                "description": "Look up an order by its number",
                                "response_timeout_secs": 20,
                                "api_schema": {
                                    "url": "https://api.acme.example/orders/{order_id}",
                                    "method": "GET",
                                    "path_params_schema": {
                                        "order_id": {"type": "string", "description": "The order number"}
                                    },
                                },
                            }
                        ],
                        "built_in_tools": {
                            "end_call": {
                                "type": "system",
                                "name": "end_call",
                                "description": "End the call when the caller is done.",
                                "params": {"system_tool_type": "end_call"},
                            }
                        },
                    },
                },
            },
            "platform_settings": {"privacy": {"zero_retention_mode": False}},
        }
    )
    return agent_id


def add_vapi_agent(account: Account, number: int, prompt: str, greeting: str) -> str:
    agent_id = str(uuid.uuid4())
    account.vapi.append(
        {
            "id": agent_id,
            "orgId": "9b1d4c2e-0000-4000-8000-000000000001",
            "name": f"Agent {number}",
            "createdAt": f"2024-06-{number + 1:02d}T09:00:00.000Z",
            "updatedAt": f"2024-06-{number + 1:02d}T09:00:00.000Z",
            "firstMessage": greeting,
            "firstMessageMode": "assistant-speaks-first",
            "model": {
                "provider": "openai",
                "model": "gpt-4o",
                "temperature": 0.3,
                "messages": [{"role": "system", "content": prompt}],
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "get_order",
                            "description": "Look up an order by its number",
                            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
                        },
                        "server": {
                            "url": "https://api.acme.example/vapi/orders",
                            "timeoutSeconds": 20,
                            "headers": {"Authorization": "Bearer bk_live_456"},
                        },
                    },
                    {"type": "endCall", "function": {"name": "end_call", "description": "End the call politely"}},
                ],
            },
            "voice": {"provider": "11labs", "voiceId": "21m00Tcm4TlvDq8ikWAM", "model": "eleven_turbo_v2_5"},
        }
    )
    return agent_id


def add_retell_agent(account: Account, number: int, prompt: str, greeting: str) -> str:
    agent_id = f"agent_{number:02d}{uuid.uuid4().hex[:10]}"
    llm_id = f"llm_{uuid.uuid4().hex[:10]}"
    account.retell.append(
        {
            "agent_id": agent_id,
            "version": 0,
            "agent_name": f"Agent {number}",
            "response_engine": {"type": "retell-llm", "llm_id": llm_id, "version": 0},
            "voice_id": "11labs-Adrian",
            "language": "en-US",
        }
    )
    account.retell_llms[llm_id] = {
        "llm_id": llm_id,
        "version": 0,
        "model": "gpt-4o",
        "general_prompt": prompt,
        "begin_message": greeting,
        "default_dynamic_variables": {"customer_name": "there"},
        "general_tools": [
            {
                "type": "custom",
                "name": "get_order",
                "description": "Look up an order by its number",
                "url": "https://api.acme.example/retell/orders",
                "method": "POST",
                "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
                "timeout_ms": 20000,
            },
            {"type": "end_call", "name": "end_call", "description": "Hang up when the caller is done."},
        ],
    }
    return agent_id


ADD_AGENT: dict[str, Callable[[Account, int, str, str], str]] = {
    "elevenlabs": add_elevenlabs_agent,
    "vapi": add_vapi_agent,
    "retell": add_retell_agent,
}
#: The model each provider's agents name, as Parley serves it.
IMPORTED_MODEL = {"elevenlabs": "openai/gpt-4o-mini", "vapi": "openai/gpt-4o", "retell": "openai/gpt-4o"}


def set_prompt(account: Account, provider: str, agent_id: str, prompt: str) -> None:
    """Changes an agent's prompt at the provider."""
    if provider == "elevenlabs":
        agent = next(a for a in account.elevenlabs if a["agent_id"] == agent_id)
        agent["conversation_config"]["agent"]["prompt"]["prompt"] = prompt
    elif provider == "vapi":
        agent = next(a for a in account.vapi if a["id"] == agent_id)
        agent["model"]["messages"][0]["content"] = prompt
    else:
        agent = next(a for a in account.retell if a["agent_id"] == agent_id)
        account.retell_llms[agent["response_engine"]["llm_id"]]["general_prompt"] = prompt


# --- helpers ------------------------------------------------------------------------------------


def key_secret(client: telnyx.Telnyx, token: str) -> str:
    """A bearer integration secret holding a provider API key; returns its identifier."""
    identifier = f"provider_key_{uuid.uuid4().hex[:10]}"
    with http_for(client) as http:
        created = http.post("/integration_secrets", json={"identifier": identifier, "type": "bearer", "token": token})
    assert created.status_code == 201, created.text
    return identifier


def secret_identifiers(client: telnyx.Telnyx) -> set[str]:
    with http_for(client) as http:
        listed = http.get("/integration_secrets", params={"page[size]": 100})
    assert listed.status_code == 200, listed.text
    return {s["identifier"] for s in listed.json()["data"]}


def by_import_id(imported: AssistantsList) -> dict[str, InferenceEmbedding]:
    found = {}
    for assistant in imported.data:
        assert assistant.import_metadata is not None, f"{assistant.id} has no import_metadata"
        found[assistant.import_metadata.import_id] = assistant
    assert len(found) == len(imported.data), "each agent once"
    return found


def tools_of(assistant: InferenceEmbedding) -> dict[str, dict[str, Any]]:
    """The assistant's tools by type (the last of each type)."""
    return {t["type"]: t for t in (tool.to_dict() for tool in assistant.tools or [])}


def failures(raw: Any) -> list[dict[str, str]]:
    header = raw.headers.get("x-parley-import-failures")
    return json.loads(header) if header else []


def all_assistants(client: telnyx.Telnyx) -> list[InferenceEmbedding]:
    return list(client.ai.assistants.list().data)


# --- imports ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_import_creates_assistants_with_import_metadata(
    fresh_client: telnyx.Telnyx, providers: ProviderStub, provider: str
) -> None:
    account = providers.account()
    with providers.edit():
        agents = {
            ADD_AGENT[provider](account, n, f"You are agent {n}. Greet {{{{customer_name}}}}.", f"Hello from {n}!"): n
            for n in range(3)
        }
    key_ref = key_secret(fresh_client, account.key)

    raw = fresh_client.ai.assistants.with_raw_response.imports(provider=provider, api_key_ref=key_ref)
    assert raw.status_code == 200
    assert failures(raw) == []
    assert set(raw.json()) == {"data"}
    imported = raw.parse()
    assert isinstance(imported, AssistantsList)
    found = by_import_id(imported)
    assert set(found) == set(agents), "every agent, across list pages"

    hits = providers.hits(account)
    lists = [h for h in hits if h.split("?")[0] in (
        "elevenlabs GET /v1/convai/agents", "vapi GET /assistant", "retell GET /list-agents")]
    assert len(lists) >= 2, f"three agents at two a page need a second page: {hits}"

    for agent_id, n in agents.items():
        assistant = found[agent_id]
        assert assistant.import_metadata is not None
        assert assistant.import_metadata.import_provider == provider
        assert assistant.import_metadata.to_dict() == {"import_id": agent_id, "import_provider": provider}
        assert assistant.id.startswith("assistant-")
        assert assistant.name == f"Agent {n}"
        assert assistant.instructions == f"You are agent {n}. Greet {{{{customer_name}}}}."
        assert assistant.greeting == f"Hello from {n}!"
        assert assistant.model == IMPORTED_MODEL[provider]
        assert assistant.version_name == f"Imported from {DISPLAY_NAMES[provider]}"
        tools = tools_of(assistant)
        assert "hangup" in tools, tools
        webhook = tools["webhook"]["webhook"]
        assert webhook["name"] == "get_order" and webhook["url"].startswith("https://api.acme.example/")
        assert tools["webhook"]["timeout_ms"] == 20000
        if provider != "vapi":
            assert assistant.dynamic_variables == {"customer_name": "there"}
        # Stored as answered.
        assert fresh_client.ai.assistants.retrieve(assistant.id) == assistant

    listed = all_assistants(fresh_client)
    assert {a.id for a in listed} == {a.id for a in imported.data}
    assert all(a.import_metadata is not None and a.import_metadata.import_provider == provider for a in listed)


def test_provider_secrets_become_placeholder_secrets(fresh_client: telnyx.Telnyx, providers: ProviderStub) -> None:
    account = providers.account()
    with providers.edit():
        agent_id = add_vapi_agent(account, 1, "Help.", "Hi.")
    key_ref = key_secret(fresh_client, account.key)
    raw = fresh_client.ai.assistants.with_raw_response.imports(provider="vapi", api_key_ref=key_ref)
    assert "bk_live_456" not in raw.http_response.text, "the provider's secret value is never copied"
    [assistant] = raw.parse().data
    assert assistant.import_metadata is not None and assistant.import_metadata.import_id == agent_id
    headers = tools_of(assistant)["webhook"]["webhook"]["headers"]
    placeholder = "vapi_get_order_Authorization"
    assert headers == [
        {"name": "Authorization", "value": f"Bearer {{{{#integration_secret}}}}{placeholder}{{{{/integration_secret}}}}"}
    ]
    assert secret_identifiers(fresh_client) == {key_ref, placeholder}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reimport_updates_instead_of_duplicating(
    fresh_client: telnyx.Telnyx, providers: ProviderStub, provider: str
) -> None:
    account = providers.account()
    with providers.edit():
        first_id = ADD_AGENT[provider](account, 1, "You take bookings.", "Hi!")
        second_id = ADD_AGENT[provider](account, 2, "You answer questions.", "Hello!")
    key_ref = key_secret(fresh_client, account.key)
    before = by_import_id(fresh_client.ai.assistants.imports(provider=provider, api_key_ref=key_ref))
    assert set(before) == {first_id, second_id}

    # The user tags one in Parley; at the provider its prompt changes and a third agent appears.
    fresh_client.ai.assistants.tags.add(before[first_id].id, tag="migrated")
    with providers.edit():
        set_prompt(account, provider, first_id, "You take bookings and cancellations.")
        third_id = ADD_AGENT[provider](account, 3, "You are new.", "Hey!")

    after = by_import_id(fresh_client.ai.assistants.imports(provider=provider, api_key_ref=key_ref))
    assert set(after) == {first_id, second_id, third_id}
    updated = after[first_id]
    assert updated.id == before[first_id].id, "the same assistant"
    assert updated.created_at == before[first_id].created_at
    assert updated.version_id != before[first_id].version_id, "a new version"
    assert updated.instructions == "You take bookings and cancellations."
    assert updated.tags == [*(before[first_id].tags or []), "migrated"], "tags set in Parley survive a re-import"
    assert updated.import_metadata == before[first_id].import_metadata
    assert after[second_id].id == before[second_id].id
    assert after[third_id].id not in {a.id for a in before.values()}

    listed = all_assistants(fresh_client)
    assert len(listed) == 3, "no duplicates"
    assert fresh_client.ai.assistants.retrieve(updated.id).instructions == "You take bookings and cancellations."
    versions = fresh_client.ai.assistants.versions.list(updated.id)
    assert len(versions.data) == 2


def test_import_ids_select_agents_and_failures_are_reported(
    fresh_client: telnyx.Telnyx, providers: ProviderStub
) -> None:
    account = providers.account()
    with providers.edit():
        wanted = add_elevenlabs_agent(account, 1, "Help.", "Hi.")
        add_elevenlabs_agent(account, 2, "Not asked for.", "Hi.")
        # Not an agent Parley can read: no conversation_config.
        account.elevenlabs.append({"agent_id": "agent_broken", "name": "Half-migrated agent"})
    key_ref = key_secret(fresh_client, account.key)

    raw = fresh_client.ai.assistants.with_raw_response.imports(
        provider="elevenlabs", api_key_ref=key_ref, import_ids=[wanted, "agent_broken", "agent_missing"]
    )
    assert raw.status_code == 200
    assert list(by_import_id(raw.parse())) == [wanted]
    reported = {f["import_id"]: f["reason"] for f in failures(raw)}
    assert set(reported) == {"agent_broken", "agent_missing"}
    assert "conversation_config" in reported["agent_broken"]
    assert "ElevenLabs" in reported["agent_missing"]
    fetched = [h for h in providers.hits(account) if h.startswith("elevenlabs GET /v1/convai/agents/")]
    assert sorted(fetched) == sorted(
        [f"elevenlabs GET /v1/convai/agents/{wanted}", "elevenlabs GET /v1/convai/agents/agent_broken"]
    ), "only the selected agents are fetched"
    assert [a.import_metadata.import_id for a in all_assistants(fresh_client) if a.import_metadata] == [wanted]


# --- errors -------------------------------------------------------------------------------------


def test_an_unknown_api_key_ref_is_422_and_calls_no_provider(
    fresh_client: telnyx.Telnyx, other_client: telnyx.Telnyx, providers: ProviderStub
) -> None:
    account = providers.account()
    with providers.edit():
        add_vapi_agent(account, 1, "Help.", "Hi.")
    requests_before = providers.request_count()
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        fresh_client.ai.assistants.imports(provider="vapi", api_key_ref="no_such_secret")
    error = first_error(caught.value.body)
    assert (error["code"], error["source"]["pointer"]) == ("10016", "/api_key_ref")
    assert "not found" in error["detail"]

    # Another organization's secret is as unknown as a missing one.
    key_ref = key_secret(fresh_client, account.key)
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        other_client.ai.assistants.imports(provider="vapi", api_key_ref=key_ref)
    assert first_error(caught.value.body)["source"]["pointer"] == "/api_key_ref"

    assert providers.request_count() == requests_before, "no provider was called"
    assert all_assistants(fresh_client) == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"provider": "bland", "api_key_ref": "k"}, "/provider"),
        ({"provider": "vapi"}, "/api_key_ref"),
        ({"provider": "vapi", "api_key_ref": ""}, "/api_key_ref"),
        ({"provider": "vapi", "api_key_ref": "k", "import_ids": "x"}, "/import_ids"),
    ],
)
def test_invalid_bodies_are_422_pointing_at_the_field(
    fresh_client: telnyx.Telnyx, body: dict[str, Any], pointer: str
) -> None:
    with http_for(fresh_client) as http:
        response = http.post("/ai/assistants/import", json=body)
    assert response.status_code == 422, response.text
    error = first_error(response.json())
    assert (error["code"], error["source"]["pointer"]) == ("10016", pointer)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_key_the_provider_refuses_is_400_naming_the_reason(
    fresh_client: telnyx.Telnyx, providers: ProviderStub, provider: str
) -> None:
    revoked = f"revoked_{uuid.uuid4().hex}"  # no account has this key: the stand-in answers 401
    key_ref = key_secret(fresh_client, revoked)
    with pytest.raises(telnyx.BadRequestError) as caught:
        fresh_client.ai.assistants.imports(provider=provider, api_key_ref=key_ref)
    assert caught.value.status_code == 400
    error = first_error(caught.value.body)
    assert (error["code"], error["source"]["pointer"]) == ("10018", "/api_key_ref")
    detail = error["detail"]
    for part in (DISPLAY_NAMES[provider], "HTTP 401", REFUSAL_REASONS[provider], key_ref):
        assert part in detail, f"{part!r} not in {detail!r}"
    assert revoked not in json.dumps(caught.value.body), "the key itself is never echoed"
    assert all_assistants(fresh_client) == []


def test_a_failing_provider_is_502_and_imports_nothing(fresh_client: telnyx.Telnyx, providers: ProviderStub) -> None:
    account = providers.account()
    with providers.edit():
        add_retell_agent(account, 1, "Help.", "Hi.")
        account.fail_with = 503
    key_ref = key_secret(fresh_client, account.key)
    with pytest.raises(telnyx.InternalServerError) as caught:
        fresh_client.ai.assistants.imports(provider="retell", api_key_ref=key_ref)
    assert caught.value.status_code == 502
    error = first_error(caught.value.body)
    assert error["code"] == "10019"
    assert "Retell" in error["detail"] and "HTTP 503" in error["detail"]
    assert providers.hits(account) == ["retell GET /list-agents?limit=1000"]
    assert all_assistants(fresh_client) == []

    # Once the provider is back, the same import works.
    with providers.edit():
        account.fail_with = None
    assert len(fresh_client.ai.assistants.imports(provider="retell", api_key_ref=key_ref).data) == 1
