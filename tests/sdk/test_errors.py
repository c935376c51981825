"""Errors as the SDK sees them: status → exception class, the ``{"errors": [...]}`` envelope,
JSON pointers for schema violations, body limits, and no retries for 4xx."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import telnyx

from parley_payloads import MULTI_INSTANCE_TOOL_TYPES, TOOL_TYPES, all_tools
from sdk_support import REQUEST_TIMEOUT_SECS, error_pointers, first_error, http_for, raw_http, unique

SINGLE_INSTANCE_TOOL_TYPES = [t for t in TOOL_TYPES if t not in MULTI_INSTANCE_TOOL_TYPES]
MIB = 1024 * 1024


def tool_of_type(tool_type: str) -> dict:
    return next(t for t in all_tools() if t["type"] == tool_type)


class RequestCounter:
    """An httpx client that counts the requests the SDK sends (to see retries)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.client = httpx.Client(event_hooks={"request": [self.requests.append]}, timeout=REQUEST_TIMEOUT_SECS)


# --- authentication ---------------------------------------------------------------------


def test_a_client_without_a_key_gets_authentication_error(server) -> None:
    counter = RequestCounter()
    with telnyx.Telnyx(base_url=server.api_base_url, http_client=counter.client) as keyless:
        assert keyless.api_key is None
        with pytest.raises(telnyx.AuthenticationError) as caught:
            keyless.ai.assistants.list()
    assert caught.value.status_code == 401
    assert "authorization" not in {k.lower() for k in counter.requests[0].headers}
    error = first_error(caught.value.body)
    assert error["code"] == "10009"
    assert len(counter.requests) == 1, "a 401 is not retried"


@pytest.mark.parametrize("key", ["wrong-key-0123456789", "KEY" + "x" * 40])
def test_an_unknown_key_gets_authentication_error(server, key: str) -> None:
    with telnyx.Telnyx(api_key=key, base_url=server.api_base_url, max_retries=0) as wrong:
        with pytest.raises(telnyx.AuthenticationError) as caught:
            wrong.ai.assistants.create(name="Never", instructions="x")
    assert caught.value.status_code == 401
    assert first_error(caught.value.body)["code"] == "10009"
    assert caught.value.response.headers.get("www-authenticate", "").lower().startswith("bearer")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  \t x", "Basic dXNlcjpwYXNz", "Token abc", "abc"])
def test_malformed_authorization_headers_are_unauthorized(server, header) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = httpx.get(f"{server.api_base_url}/ai/assistants", headers=headers, timeout=REQUEST_TIMEOUT_SECS)
    assert response.status_code == 401, response.text
    assert first_error(response.json())["code"] == "10009"


def test_every_operation_requires_a_key(server, client: telnyx.Telnyx) -> None:
    assistant = client.ai.assistants.create(name=unique("Guarded"), instructions="x")
    calls = [
        lambda c: c.ai.assistants.list(),
        lambda c: c.ai.assistants.create(name="Never", instructions="x"),
        lambda c: c.ai.assistants.retrieve(assistant.id),
        lambda c: c.ai.assistants.update(assistant.id, greeting="x"),
        lambda c: c.ai.assistants.delete(assistant.id),
        lambda c: c.ai.assistants.delete(assistant.id, hard_delete=True),
        lambda c: c.ai.assistants.clone(assistant.id),
        lambda c: c.ai.assistants.restore(assistant.id),
        lambda c: c.ai.assistants.deleted.list(),
        lambda c: c.ai.assistants.deleted.get(assistant.id),
        lambda c: c.ai.assistants.tags.list(),
        lambda c: c.ai.assistants.tags.add(assistant.id, tag="x"),
        lambda c: c.ai.assistants.tags.remove("x", assistant_id=assistant.id),
    ]
    for call in calls:
        # One client (so one connection) per call: the 401 is sent before a request body
        # is read, after which the server may drop the connection.
        with telnyx.Telnyx(base_url=server.api_base_url, max_retries=0) as keyless:
            with pytest.raises(telnyx.AuthenticationError):
                call(keyless)
    assert client.ai.assistants.retrieve(assistant.id).greeting is None, "nothing was changed"


def test_a_revoked_key_is_unauthorized(server) -> None:
    key, printed = server.create_key_with_details(unique("revoked").replace(" ", "-"))
    key_id = next(word for word in printed.split() if word.startswith("key-"))
    with telnyx.Telnyx(api_key=key, base_url=server.api_base_url, max_retries=0) as c:
        created = c.ai.assistants.create(name="Before revocation", instructions="x")
    server.cli("keys", "revoke", key_id)
    revoked_at = time.monotonic()
    # A node remembers a verified key for `auth_cache_ms` (1 s by default): poll, with a
    # deadline, until the server asks the database again.
    with telnyx.Telnyx(api_key=key, base_url=server.api_base_url, max_retries=0) as c:
        while True:
            try:
                c.ai.assistants.retrieve(created.id)
            except telnyx.AuthenticationError as caught:
                error = caught
                break
            assert time.monotonic() - revoked_at < 5, "the revoked key still works after 5 s"
            time.sleep(0.05)
    assert first_error(error.body)["code"] == "10009"


def test_health_needs_no_key(server) -> None:
    response = httpx.get(f"{server.url}/health", timeout=REQUEST_TIMEOUT_SECS)
    assert response.status_code == 200


# --- not found --------------------------------------------------------------------------


def test_unknown_ids_raise_not_found_error(client: telnyx.Telnyx) -> None:
    missing = "assistant-00000000-0000-0000-0000-000000000000"
    calls = {
        "retrieve": lambda: client.ai.assistants.retrieve(missing),
        "update": lambda: client.ai.assistants.update(missing, greeting="x"),
        "delete": lambda: client.ai.assistants.delete(missing),
        "hard delete": lambda: client.ai.assistants.delete(missing, hard_delete=True),
        "clone": lambda: client.ai.assistants.clone(missing),
        "restore": lambda: client.ai.assistants.restore(missing),
        "deleted.get": lambda: client.ai.assistants.deleted.get(missing),
        "tags.add": lambda: client.ai.assistants.tags.add(missing, tag="x"),
        "tags.remove": lambda: client.ai.assistants.tags.remove("x", assistant_id=missing),
    }
    for label, call in calls.items():
        with pytest.raises(telnyx.NotFoundError) as caught:
            call()
        assert caught.value.status_code == 404, label
        error = first_error(caught.value.body)
        assert error["code"] == "10005", label
        assert error["source"]["pointer"] == "/assistant_id", label
        assert missing in error["detail"], label
        assert caught.value.message.startswith("Error code: 404"), label


def test_not_found_is_not_retried(server) -> None:
    counter = RequestCounter()
    with telnyx.Telnyx(api_key=server.api_key, base_url=server.api_base_url, http_client=counter.client) as c:
        with pytest.raises(telnyx.NotFoundError):
            c.ai.assistants.retrieve("assistant-missing")
    assert len(counter.requests) == 1


def test_unknown_route_and_method(http) -> None:
    route = http.get("/ai/no-such-thing")
    assert route.status_code == 404
    assert first_error(route.json())["code"] == "10005"
    method = http.put("/ai/assistants", json={})
    assert method.status_code == 405
    assert first_error(method.json())


# --- schema violations ------------------------------------------------------------------

INVALID_CREATE_FIELDS = [
    ({"dynamic_variables_webhook_timeout_ms": 0}, "/dynamic_variables_webhook_timeout_ms"),
    ({"dynamic_variables_webhook_timeout_ms": 10001}, "/dynamic_variables_webhook_timeout_ms"),
    ({"telephony_settings": {"time_limit_secs": 29}}, "/telephony_settings/time_limit_secs"),
    ({"telephony_settings": {"noise_suppression": "loud"}}, "/telephony_settings/noise_suppression"),
    ({"voice_settings": {"speed": 1.0}}, "/voice_settings/voice"),
    ({"transcription": {"model": "whisper/unknown"}}, "/transcription/model"),
    ({"transcription": {"settings": {"eot_timeout_ms": 100}}}, "/transcription/settings/eot_timeout_ms"),
    ({"enabled_features": ["fax"]}, "/enabled_features/0"),
    ({"instructions": 5}, "/instructions"),
    ({"privacy_settings": {"pii_redaction": "sometimes"}}, "/privacy_settings/pii_redaction"),
    ({"messaging_settings": {"conversation_inactivity_minutes": 0}}, "/messaging_settings/conversation_inactivity_minutes"),
    ({"widget_settings": {"theme": "neon"}}, "/widget_settings/theme"),
    ({"tags": ["ok", ""]}, "/tags/1"),
    ({"tools": [{"type": "webhook", "webhook": {"name": "n", "description": "d"}}]}, "/tools/0/webhook/url"),
    (
        {"tools": [{"type": "webhook", "webhook": {"name": "n", "description": "d", "url": "https://e.com", "method": "FETCH"}}]},
        "/tools/0/webhook/method",
    ),
    ({"tools": [{"type": "hangup", "hangup": {}}, {"type": "teleport", "teleport": {}}]}, "/tools/1/type"),
    ({"tools": [{"type": "handoff", "handoff": {}}]}, "/tools/0/handoff/ai_assistants"),
    ({"tools": [{"type": "pay", "pay": {"connector_name": "c", "valid_card_types": ["monopoly"]}}]}, "/tools/0/pay/valid_card_types/0"),
    (
        {
            "conversation_flow": {
                "start_node_id": "n1",
                "nodes": [{"id": "n1", "instructions": "x"}],
                "edges": [
                    {"id": "e1", "start_node_id": "n1", "condition": {"type": "default"}, "target": {"type": "node", "node_id": "n9"}}
                ],
            }
        },
        "/conversation_flow/edges/0/target/node_id",
    ),
    ({"conversation_flow": {"start_node_id": "missing", "nodes": [{"id": "n1", "instructions": "x"}]}}, "/conversation_flow/start_node_id"),
    ({"tool_ids": ["shared-tool-that-does-not-exist"]}, "/tool_ids/0"),
]


@pytest.mark.parametrize(("fields", "pointer"), INVALID_CREATE_FIELDS, ids=[p for _, p in INVALID_CREATE_FIELDS])
def test_schema_violations_raise_unprocessable_entity_with_a_pointer(
    fresh_client: telnyx.Telnyx, fields: dict, pointer: str
) -> None:
    body = {"name": "Invalid", "instructions": "x", **fields}
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        fresh_client.ai.assistants.create(**body)
    assert caught.value.status_code == 422
    pointers = error_pointers(caught.value.body)
    assert pointer in pointers, f"expected {pointer} among {pointers}"
    assert caught.value.body["errors"][0]["source"]["pointer"] == pointer
    assert fresh_client.ai.assistants.list().data == [], "nothing was created"


def test_every_violation_is_reported(client: telnyx.Telnyx) -> None:
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.assistants.create(
            name="Many problems",
            instructions="x",
            dynamic_variables_webhook_timeout_ms=0,
            telephony_settings={"time_limit_secs": "long"},
        )
    pointers = error_pointers(caught.value.body)
    assert "/dynamic_variables_webhook_timeout_ms" in pointers
    assert "/telephony_settings/time_limit_secs" in pointers
    for error in caught.value.body["errors"]:
        assert error["code"] and error["title"] and error["detail"]


@pytest.mark.parametrize(
    ("body", "missing"),
    [({"instructions": "x"}, ["/name"]), ({"name": "x"}, ["/instructions"]), ({}, ["/instructions", "/name"])],
)
def test_missing_required_fields_are_pointed_at(http, body: dict, missing: list) -> None:
    response = http.post("/ai/assistants", json=body)
    assert response.status_code == 422, response.text
    assert sorted(p for p in error_pointers(response.json()) if p in missing) == missing


def test_an_empty_create_body_is_unprocessable(http) -> None:
    response = http.post("/ai/assistants", content=b"", headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert {"/name", "/instructions"} <= set(error_pointers(response.json()))


# --- duplicate single-instance tools ----------------------------------------------------


@pytest.mark.parametrize("tool_type", SINGLE_INSTANCE_TOOL_TYPES)
def test_a_second_single_instance_tool_is_a_bad_request_10015(fresh_client: telnyx.Telnyx, tool_type: str) -> None:
    tools = [tool_of_type("function"), tool_of_type(tool_type), tool_of_type(tool_type)]
    with pytest.raises(telnyx.BadRequestError) as caught:
        fresh_client.ai.assistants.create(name="Duplicate", instructions="x", tools=tools)
    assert caught.value.status_code == 400
    error = first_error(caught.value.body)
    assert error["code"] == "10015"
    assert error["source"]["pointer"] == "/tools/2"
    assert fresh_client.ai.assistants.list().data == []


def test_duplicate_hangup_tool_is_not_retried(server) -> None:
    counter = RequestCounter()
    with telnyx.Telnyx(api_key=server.api_key, base_url=server.api_base_url, http_client=counter.client) as c:
        with pytest.raises(telnyx.BadRequestError) as caught:
            c.ai.assistants.create(
                name=unique("Two hangups"),
                instructions="x",
                tools=[{"type": "hangup", "hangup": {}}, {"type": "hangup", "hangup": {"description": "again"}}],
            )
    assert first_error(caught.value.body)["code"] == "10015"
    assert len(counter.requests) == 1


# --- malformed requests -----------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b'{"name": "x", "instructions": ', b"not json at all", b'{"name": "x",}', b"\xff\xfe"],
    ids=["truncated", "text", "trailing comma", "binary"],
)
def test_malformed_json_is_a_bad_request(http, content: bytes) -> None:
    for path in ("/ai/assistants", "/ai/assistants/assistant-any"):
        response = http.post(path, content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, f"{path}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/json")
        assert first_error(response.json())


@pytest.mark.parametrize("content", [b"[]", b'"a string"', b"42", b"null"])
def test_a_body_that_is_not_an_object_is_a_bad_request(http, content: bytes) -> None:
    response = http.post("/ai/assistants", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert first_error(response.json())


@pytest.mark.parametrize("value", ["yes", "1", "TRUE!"])
def test_an_invalid_hard_delete_parameter_is_a_bad_request(client: telnyx.Telnyx, value: str) -> None:
    assistant = client.ai.assistants.create(name=unique("Bad parameter"), instructions="x")
    with http_for(client) as http:
        response = http.delete(f"/ai/assistants/{assistant.id}", params={"hard_delete": value})
    assert response.status_code == 400, response.text
    assert first_error(response.json())["source"]["parameter"] == "hard_delete"
    assert client.ai.assistants.retrieve(assistant.id).id == assistant.id, "nothing was deleted"


# --- body size limit --------------------------------------------------------------------


def test_a_body_over_the_default_limit_is_rejected_with_413(http) -> None:
    body = json.dumps({"name": "Huge", "instructions": "x" * (2 * MIB + 16)}).encode()
    response = http.post("/ai/assistants", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text[:200]
    assert first_error(response.json())["code"]


def test_a_body_over_the_limit_with_an_idempotency_key_is_rejected_with_413(http) -> None:
    body = json.dumps({"name": "Huge", "instructions": "x" * (2 * MIB + 16)}).encode()
    response = http.post(
        "/ai/assistants",
        content=body,
        headers={"Content-Type": "application/json", "Idempotency-Key": unique("huge").replace(" ", "-")},
    )
    assert response.status_code == 413, response.text[:200]
    assert first_error(response.json())


def test_a_chunked_body_over_the_limit_is_rejected_with_413(http) -> None:
    def chunks():
        yield b'{"name": "Chunked", "instructions": "'
        for _ in range(2 * MIB // 8192 + 8):
            yield b"x" * 8192
        yield b'"}'

    response = http.post("/ai/assistants", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers, "sent with chunked transfer encoding"
    assert response.status_code == 413, response.text[:200]
    assert first_error(response.json())


def test_a_large_body_under_the_default_limit_is_accepted(client: telnyx.Telnyx) -> None:
    instructions = "Be thorough. " * (MIB // 13)
    created = client.ai.assistants.create(name=unique("Large"), instructions=instructions)
    assert client.ai.assistants.retrieve(created.id).instructions == instructions


def test_the_limit_follows_parley_max_body_bytes(small_limit_server) -> None:
    # A fresh connection per request: a 413 is answered without reading the body.
    with raw_http(small_limit_server.api_base_url, small_limit_server.api_key) as http:
        over = http.post("/ai/assistants", json={"name": "Over", "instructions": "x" * 5000})
    assert over.status_code == 413, over.text
    assert first_error(over.json())
    with raw_http(small_limit_server.api_base_url, small_limit_server.api_key) as http:
        under = http.post("/ai/assistants", json={"name": "Under", "instructions": "x" * 3000})
    assert under.status_code == 200, under.text
    assert under.json()["instructions"] == "x" * 3000
    with telnyx.Telnyx(
        api_key=small_limit_server.api_key, base_url=small_limit_server.api_base_url, max_retries=0
    ) as c:
        with pytest.raises(telnyx.APIStatusError) as caught:
            c.ai.assistants.create(name="Over via SDK", instructions="y" * 8000)
        assert caught.value.status_code == 413
