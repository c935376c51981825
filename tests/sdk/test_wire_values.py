"""JSON values at the edges: Unicode, control characters, numbers, nested nulls. Both
backends must store and return exactly what was sent (or refuse it with a 4xx) — never
fail with a 5xx."""

from __future__ import annotations

import json

import pytest
import telnyx

from sdk_support import first_error, http_for, unique


def test_unicode_round_trips(client: telnyx.Telnyx) -> None:
    body = {
        "name": unique("Ünïcødé 名前 😀"),
        "instructions": "Réponds en français. مرحبا. \u2028 line separator, \u00a0 nbsp, tab\tand newline\n.",
        "greeting": "👋🏽 Hola — ¿qué tal?",
        "dynamic_variables": {"ключ": "значение", "emoji 🎉": ["🎈", "🎂"], "quote\"and\\backslash": "'"},
        "tags": ["café", "日本"],
    }
    raw = client.ai.assistants.with_raw_response.create(**body)
    got = raw.json()
    for key, value in body.items():
        assert got[key] == value, key
    assert client.ai.assistants.with_raw_response.retrieve(got["id"]).json() == got


def test_numbers_round_trip(client: telnyx.Telnyx) -> None:
    numbers = {
        "zero": 0,
        "negative": -42,
        "i64_max": 2**63 - 1,
        "i64_min": -(2**63),
        "u64_max": 2**64 - 1,
        "tenth": 0.1,
        "third": 1 / 3,
        "tiny": 5e-324,
        "huge": 1.7976931348623157e308,
        "negative_float": -2.5,
    }
    created = client.ai.assistants.with_raw_response.create(
        name=unique("Numbers"),
        instructions="x",
        dynamic_variables=numbers,
        interruption_settings={"interrupt_prediction_threshold": 0.123456789012345},
    ).json()
    assert created["dynamic_variables"] == numbers
    for key, value in numbers.items():
        assert type(created["dynamic_variables"][key]) is type(value), f"{key} keeps its JSON number kind"
    assert created["interruption_settings"] == {"interrupt_prediction_threshold": 0.123456789012345}
    assert client.ai.assistants.with_raw_response.retrieve(created["id"]).json() == created


def test_nested_nulls_and_empty_values_round_trip(client: telnyx.Telnyx) -> None:
    body = {
        "name": unique("Nested nulls"),
        "instructions": "x",
        "dynamic_variables": {"nothing": None, "empty_string": "", "empty_list": [], "empty_object": {}, "false": False},
        "voice_settings": {"voice": "Telnyx.NaturalHD.astra", "language_boost": None, "tool_call_audio": None},
        "widget_settings": {"logo_icon_url": None, "give_feedback_url": None},
        "transcription": {"challenger": None, "fallback_models": None},
    }
    got = client.ai.assistants.with_raw_response.create(**body).json()
    for key, value in body.items():
        assert got[key] == value, key


def test_deeply_nested_dynamic_variables_round_trip(client: telnyx.Telnyx) -> None:
    nested: dict = {"leaf": "bottom"}
    for depth in range(40):
        nested = {f"level{depth}": nested, "list": [nested] if depth % 10 == 0 else []}
    created = client.ai.assistants.with_raw_response.create(
        name=unique("Deep"), instructions="x", dynamic_variables=nested
    ).json()
    assert created["dynamic_variables"] == nested


# The contract's strings are plain JSON strings, and "\u0000" is a valid JSON string escape,
# but no database stores it faithfully: Parley refuses it on every backend alike with a 422
# that points at the value (for a key, at the key); a 500 is never acceptable. max_retries=0 so a 5xx fails at once
# instead of being sent three times.
NUL_CASES = {
    "instructions": ({"instructions": "before\u0000after"}, "/instructions"),
    "dynamic variable key": ({"dynamic_variables": {"k\u0000": "v"}}, "/dynamic_variables/k\u0000"),
    "nested setting": ({"voice_settings": {"voice": "a\u0000b"}}, "/voice_settings/voice"),
    "tag in body": ({"tags": ["nul\u0000tag"]}, "/tags/0"),
}


@pytest.mark.parametrize("case", NUL_CASES, ids=list(NUL_CASES))
def test_a_nul_character_is_refused_never_a_server_error(client: telnyx.Telnyx, case: str) -> None:
    fields, pointer = NUL_CASES[case]
    body = {"name": unique("NUL"), "instructions": "x", **fields}
    with http_for(client) as http:
        response = http.post("/ai/assistants", json=body)
    assert response.status_code == 422, f"{case}: {response.status_code} {response.text}"
    error = response.json()["errors"][0]
    assert error["code"] == "10016"
    assert pointer in [e["source"]["pointer"] for e in response.json()["errors"]]


def test_a_nul_character_in_an_update_is_refused(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("NUL update"), instructions="x", greeting="Hi")
    with http_for(client) as http:
        response = http.post(f"/ai/assistants/{created.id}", json={"greeting": "a\u0000b"})
    assert response.status_code == 422, f"{response.status_code} {response.text}"
    assert first_error(response.json())["source"]["pointer"] == "/greeting"
    assert client.ai.assistants.retrieve(created.id).greeting == "Hi"


def test_a_nul_character_in_a_tag_is_refused(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("NUL tag"), instructions="x")
    with http_for(client) as http:
        response = http.post(f"/ai/assistants/{created.id}/tags", json={"tag": "a\u0000b"})
    assert response.status_code == 422, f"{response.status_code} {response.text}"
    assert first_error(response.json())["source"]["pointer"] == "/tag"
    assert client.ai.assistants.retrieve(created.id).tags == []


def test_tags_sort_by_code_point_on_every_backend(fresh_client: telnyx.Telnyx) -> None:
    tags = ["b", "B", "a", "é", "Z", "10", "9", "_x", "ä"]
    fresh_client.ai.assistants.create(name="Sorted tags", instructions="x", tags=tags)
    assert fresh_client.ai.assistants.tags.list().tags == sorted(tags)
