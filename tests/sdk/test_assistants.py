"""Create, retrieve, list, update and clone through the official SDK."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
import telnyx
from telnyx.types.ai import AssistantsList, InferenceEmbedding

from parley_payloads import (
    MULTI_INSTANCE_TOOL_TYPES,
    SERVER_FIELDS,
    TOOL_TYPES,
    all_tools,
    expected_tools,
    maximal_body,
    with_references,
    voice_settings,
)
from sdk_support import (
    DEFAULT_MODEL,
    DEFAULT_VERSION_NAME,
    assert_recent,
    config_of,
    error_pointers,
    first_error,
    http_for,
    parse_ts,
    unique,
)

#: Fields present on every assistant object even when the create body left them out.
DEFAULTED_LISTS = ("tags", "integrations", "mcp_servers", "related_mission_ids")


def create_raw(client: telnyx.Telnyx, **body):
    """Creates through the SDK; returns (sent JSON, received JSON, parsed model)."""
    raw = client.ai.assistants.with_raw_response.create(**body)
    assert raw.status_code == 200, raw.text()
    return json.loads(raw.http_request.content), raw.json(), raw.parse()


def tool_of_type(tool_type: str) -> dict:
    return next(t for t in all_tools() if t["type"] == tool_type)


# --- create -----------------------------------------------------------------------------


def test_create_minimal_fills_server_fields_and_defaults(client: telnyx.Telnyx) -> None:
    name = unique("Minimal")
    sent, got, parsed = create_raw(client, name=name, instructions="Be brief.")

    assert sent == {"name": name, "instructions": "Be brief."}
    assert got["name"] == name
    assert got["instructions"] == "Be brief."
    assert isinstance(got["id"], str) and got["id"]
    created_at = assert_recent(got["created_at"])
    assert got["model"] == DEFAULT_MODEL, "the configured default model fills a missing `model`"
    assert isinstance(got["version_id"], str) and got["version_id"]
    assert got["version_id"] != got["id"]
    assert got["version_name"] == DEFAULT_VERSION_NAME
    version_created_at = parse_ts(got["version_created_at"])
    assert abs(version_created_at - created_at) < timedelta(seconds=5)
    assert got["dynamic_variables_webhook_timeout_ms"] == 1500
    for name_of_list in DEFAULTED_LISTS:
        assert got[name_of_list] == [], name_of_list
    assert got.get("tools") in (None, [])
    # Optional fields that were not sent are omitted (or null), never invented.
    for absent in ("greeting", "description", "voice_settings", "telephony_settings", "transcription"):
        assert got.get(absent) is None, absent

    assert isinstance(parsed, InferenceEmbedding)
    assert parsed.id == got["id"]
    assert parsed.created_at == created_at
    assert parsed.model == DEFAULT_MODEL


def test_create_maximal_body_round_trips_every_field(client: telnyx.Telnyx) -> None:
    target = client.ai.assistants.create(name=unique("Handoff target"), instructions="Take over.")
    body = with_references(client, maximal_body(unique("Maximal"), target.id))
    sent, got, parsed = create_raw(client, **body)

    assert sent == body, "the SDK sends the body unchanged"
    assert len({t["type"] for t in body["tools"]}) == len(TOOL_TYPES) == 15
    for key, value in body.items():
        if key == "tools":
            assert got["tools"] == expected_tools(value), "tools round-trip, each with shared: false"
        else:
            assert got.get(key) == value, f"{key} did not round-trip"
    assert all(tool["shared"] is False for tool in got["tools"])
    assert set(got) == set(body) | set(SERVER_FIELDS) | {"related_mission_ids"}, "no unexpected fields"
    assert got["model"] == body["model"], "a sent model is kept"
    assert got["version_name"] == DEFAULT_VERSION_NAME
    assert_recent(got["created_at"])
    assert_recent(got["version_created_at"])

    # The SDK's typed models read the nested objects.
    assert parsed.voice_settings is not None and parsed.voice_settings.voice == body["voice_settings"]["voice"]
    assert parsed.telephony_settings is not None and parsed.telephony_settings.time_limit_secs == 600
    assert parsed.transcription is not None and parsed.transcription.challenger is not None
    assert parsed.transcription.challenger.model == "assemblyai/universal-streaming"
    assert parsed.conversation_flow is not None and parsed.conversation_flow.start_node_id == "greet"
    assert parsed.tools is not None and [t.type for t in parsed.tools] == [t["type"] for t in body["tools"]]
    assert parsed.widget_settings is not None and parsed.widget_settings.theme == "dark"

    # What create returned is what retrieve returns.
    again = client.ai.assistants.with_raw_response.retrieve(got["id"])
    assert again.json() == got


@pytest.mark.parametrize("tool_type", TOOL_TYPES)
def test_create_with_each_tool_type_round_trips(client: telnyx.Telnyx, tool_type: str) -> None:
    tool = tool_of_type(tool_type)
    sent, got, parsed = create_raw(client, name=unique(f"Tool {tool_type}"), instructions="x", tools=[tool])
    assert sent["tools"] == [tool]
    assert got["tools"] == expected_tools([tool])
    assert parsed.tools is not None and parsed.tools[0].type == tool_type


def test_create_keeps_multi_instance_tools(client: telnyx.Telnyx) -> None:
    tools = [copy.deepcopy(tool_of_type(t)) for t in MULTI_INSTANCE_TOOL_TYPES for _ in range(2)]
    for i, tool in enumerate(tools):
        tool[tool["type"]]["name"] = f"tool_{i}"
    _, got, _ = create_raw(client, name=unique("Multi"), instructions="x", tools=tools)
    assert got["tools"] == expected_tools(tools)


def test_create_ignores_unknown_and_server_filled_fields(client: telnyx.Telnyx) -> None:
    _, got, _ = create_raw(
        client,
        name=unique("Ignores"),
        instructions="x",
        extra_body={
            "id": "assistant-chosen-by-client",
            "created_at": "2001-01-01T00:00:00Z",
            "version_id": "version-chosen-by-client",
            "version_name": "Client version",
            "bogus_field": {"nested": 1},
        },
    )
    assert got["id"] != "assistant-chosen-by-client"
    assert got["version_id"] != "version-chosen-by-client"
    assert got["version_name"] == DEFAULT_VERSION_NAME
    assert parse_ts(got["created_at"]).year != 2001
    assert "bogus_field" not in got


def test_create_accepts_null_avatar_settings(client: telnyx.Telnyx) -> None:
    sent, got, _ = create_raw(client, name=unique("No avatar"), instructions="x", avatar_settings=None)
    assert sent["avatar_settings"] is None
    assert got.get("avatar_settings") is None


def test_create_tags_are_trimmed_and_deduplicated(client: telnyx.Telnyx) -> None:
    _, got, _ = create_raw(client, name=unique("Tags"), instructions="x", tags=[" red ", "red", "blue"])
    assert got["tags"] == ["red", "blue"]


# --- retrieve ---------------------------------------------------------------------------


def test_retrieve_returns_the_created_assistant(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.with_raw_response.create(
        name=unique("Retrieve"), instructions="x", greeting="Hi", tools=[tool_of_type("hangup")]
    ).json()
    raw = client.ai.assistants.with_raw_response.retrieve(created["id"])
    assert raw.http_request.method == "GET"
    assert raw.http_request.url.path == f"/v2/ai/assistants/{created['id']}"
    assert raw.json() == created
    fetched = raw.parse()
    assert isinstance(fetched, InferenceEmbedding)
    assert (fetched.id, fetched.name, fetched.greeting) == (created["id"], created["name"], "Hi")
    assert fetched.tools is not None and fetched.tools[0].shared is False


def test_retrieve_accepts_dynamic_variable_query_parameters(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Query"), instructions="x")
    raw = client.ai.assistants.with_raw_response.retrieve(
        created.id,
        from_="+13125550100",
        to="+13125550101",
        call_control_id="v3:call-control-id",
        fetch_dynamic_variables_from_webhook=False,
    )
    assert raw.status_code == 200
    assert raw.http_request.url.params["from"] == "+13125550100"
    assert raw.http_request.url.params["fetch_dynamic_variables_from_webhook"] == "false"
    assert raw.parse().id == created.id


# --- list -------------------------------------------------------------------------------


def test_list_returns_the_organizations_assistants_oldest_first(fresh_client: telnyx.Telnyx) -> None:
    empty = fresh_client.ai.assistants.list()
    assert isinstance(empty, AssistantsList) and empty.data == []

    ids = [fresh_client.ai.assistants.create(name=f"List {i}", instructions="x").id for i in range(3)]
    listed = fresh_client.ai.assistants.list()
    assert isinstance(listed, AssistantsList)
    assert [a.id for a in listed.data] == ids
    assert all(isinstance(a, InferenceEmbedding) for a in listed.data)
    assert [a.name for a in listed.data] == ["List 0", "List 1", "List 2"]


def test_list_with_raw_response_has_data_and_meta(fresh_client: telnyx.Telnyx) -> None:
    created = fresh_client.ai.assistants.with_raw_response.create(name="Raw list", instructions="x").json()
    raw = fresh_client.ai.assistants.with_raw_response.list()
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.http_request.method == "GET"
    assert raw.http_request.url.path == "/v2/ai/assistants"
    body = raw.json()
    assert body["data"] == [created], "list items are the same objects retrieve returns"
    assert body["meta"]["total_results"] == 1
    assert body["meta"]["page_number"] == 1
    assert body["meta"]["total_pages"] == 1
    parsed = raw.parse()
    assert isinstance(parsed, AssistantsList) and [a.id for a in parsed.data] == [created["id"]]


def test_list_pages_with_page_parameters(fresh_client: telnyx.Telnyx) -> None:
    ids = [fresh_client.ai.assistants.create(name=f"Page {i}", instructions="x").id for i in range(5)]
    with http_for(fresh_client) as http:
        pages = {}
        for number in (1, 2, 3, 4):
            response = http.get("/ai/assistants", params={"page[number]": number, "page[size]": 2})
            assert response.status_code == 200, response.text
            pages[number] = response.json()
    assert [a["id"] for a in pages[1]["data"]] == ids[0:2]
    assert [a["id"] for a in pages[2]["data"]] == ids[2:4]
    assert [a["id"] for a in pages[3]["data"]] == ids[4:5]
    assert pages[4]["data"] == []
    for number, page in pages.items():
        assert page["meta"] == {"page_number": number, "page_size": 2, "total_pages": 3, "total_results": 5}


def test_list_page_far_past_the_end_is_empty(fresh_client: telnyx.Telnyx) -> None:
    fresh_client.ai.assistants.create(name="Only", instructions="x")
    with http_for(fresh_client) as http:
        response = http.get("/ai/assistants", params={"page[number]": 2**32 - 1, "page[size]": 100})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []
    assert response.json()["meta"]["page_number"] == 2**32 - 1
    assert response.json()["meta"]["total_results"] == 1


def test_list_excludes_deleted_assistants(fresh_client: telnyx.Telnyx) -> None:
    keep = fresh_client.ai.assistants.create(name="Keep", instructions="x")
    soft = fresh_client.ai.assistants.create(name="Soft", instructions="x")
    hard = fresh_client.ai.assistants.create(name="Hard", instructions="x")
    fresh_client.ai.assistants.delete(soft.id)
    fresh_client.ai.assistants.delete(hard.id, hard_delete=True)
    assert [a.id for a in fresh_client.ai.assistants.list().data] == [keep.id]


# --- update -----------------------------------------------------------------------------


def test_update_is_partial(client: telnyx.Telnyx) -> None:
    target = client.ai.assistants.create(name=unique("Target"), instructions="x")
    before = client.ai.assistants.with_raw_response.create(**with_references(client, maximal_body(unique("Partial"), target.id))).json()

    raw = client.ai.assistants.with_raw_response.update(before["id"], greeting="A brand new greeting")
    assert json.loads(raw.http_request.content) == {"greeting": "A brand new greeting"}
    after = raw.json()

    assert after["id"] == before["id"]
    assert after["created_at"] == before["created_at"]
    assert after["greeting"] == "A brand new greeting"
    unchanged_before = {k: v for k, v in config_of(before).items() if k != "greeting"}
    unchanged_after = {k: v for k, v in config_of(after).items() if k != "greeting"}
    assert unchanged_after == unchanged_before, "fields that were not sent are unchanged"
    assert client.ai.assistants.with_raw_response.retrieve(before["id"]).json() == after


def test_update_writes_a_new_version(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.with_raw_response.create(name=unique("Versioned"), instructions="x").json()
    updated = client.ai.assistants.with_raw_response.update(created["id"], description="v2").json()
    assert updated["version_id"] != created["version_id"]
    assert parse_ts(updated["version_created_at"]) >= parse_ts(created["version_created_at"])
    assert updated["created_at"] == created["created_at"]


def test_update_replaces_the_tools_as_a_whole(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(
        name=unique("Tools"),
        instructions="x",
        tools=[tool_of_type("hangup"), tool_of_type("transfer"), tool_of_type("function")],
    )
    new_tools = [tool_of_type("webhook"), tool_of_type("skip_turn")]
    updated = client.ai.assistants.with_raw_response.update(created.id, tools=new_tools).json()
    assert updated["tools"] == expected_tools(new_tools)
    assert client.ai.assistants.with_raw_response.retrieve(created.id).json()["tools"] == expected_tools(new_tools)

    emptied = client.ai.assistants.with_raw_response.update(created.id, tools=[]).json()
    assert emptied.get("tools") in (None, [])


def test_update_replaces_nested_objects_as_a_whole(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Nested"), instructions="x", voice_settings=voice_settings())
    updated = client.ai.assistants.with_raw_response.update(created.id, voice_settings={"voice": "Telnyx.NaturalHD.orion"}).json()
    assert updated["voice_settings"] == {"voice": "Telnyx.NaturalHD.orion"}


def test_update_with_no_fields_sends_an_empty_object_and_changes_nothing(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.with_raw_response.create(
        name=unique("Noop"), instructions="x", greeting="Hello", tags=["t"]
    ).json()
    raw = client.ai.assistants.with_raw_response.update(created["id"])
    assert raw.status_code == 200
    assert json.loads(raw.http_request.content) == {}
    assert config_of(raw.json()) == config_of(created)
    assert config_of(client.ai.assistants.with_raw_response.retrieve(created["id"]).json()) == config_of(created)


def test_update_null_clears_a_field(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(
        name=unique("Clear"), instructions="x", description="To be cleared", voice_settings=voice_settings(), greeting="Hi"
    )
    raw = client.ai.assistants.with_raw_response.update(
        created.id, extra_body={"description": None, "voice_settings": None}
    )
    assert json.loads(raw.http_request.content) == {"description": None, "voice_settings": None}
    updated = raw.json()
    assert updated.get("description") is None
    assert updated.get("voice_settings") is None
    assert updated["greeting"] == "Hi"
    fetched = client.ai.assistants.retrieve(created.id)
    assert fetched.description is None and fetched.voice_settings is None and fetched.greeting == "Hi"


@pytest.mark.parametrize("required", ["name", "instructions"])
def test_update_cannot_clear_a_required_field(client: telnyx.Telnyx, required: str) -> None:
    created = client.ai.assistants.create(name=unique("Required"), instructions="x")
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.assistants.update(created.id, extra_body={required: None})
    assert caught.value.status_code == 422
    assert first_error(caught.value.body)["source"]["pointer"] == f"/{required}"
    assert getattr(client.ai.assistants.retrieve(created.id), required) is not None


def test_update_promote_to_main_false_leaves_the_main_version_unchanged(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.with_raw_response.create(
        name=unique("Draft"), instructions="x", greeting="Main greeting"
    ).json()
    raw = client.ai.assistants.with_raw_response.update(
        created["id"], greeting="Draft greeting", promote_to_main=False
    )
    assert json.loads(raw.http_request.content) == {"greeting": "Draft greeting", "promote_to_main": False}
    draft = raw.json()
    assert draft["greeting"] == "Draft greeting", "the response shows the version that was written"
    assert draft["version_id"] != created["version_id"]
    assert "promote_to_main" not in draft

    main = client.ai.assistants.with_raw_response.retrieve(created["id"]).json()
    assert main == created, "retrieve still serves the main version"
    listed = next(a for a in client.ai.assistants.list().data if a.id == created["id"])
    assert listed.greeting == "Main greeting" and listed.version_id == created["version_id"]

    promoted = client.ai.assistants.update(created["id"], greeting="Promoted greeting", promote_to_main=True)
    assert client.ai.assistants.retrieve(created["id"]).greeting == "Promoted greeting"
    assert client.ai.assistants.retrieve(created["id"]).version_id == promoted.version_id


def test_update_sets_the_version_name(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Named version"), instructions="x")
    updated = client.ai.assistants.update(created.id, version_name="Spring release", greeting="Hi")
    assert updated.version_name == "Spring release"
    fetched = client.ai.assistants.retrieve(created.id)
    assert fetched.version_name == "Spring release" and fetched.version_id == updated.version_id

    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.assistants.update(created.id, version_name="x" * 51)
    assert first_error(caught.value.body)["source"]["pointer"] == "/version_name"


def test_update_replaces_the_tags(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Retag"), instructions="x", tags=["old", "keep"])
    updated = client.ai.assistants.update(created.id, tags=["keep", "new"])
    assert updated.tags == ["keep", "new"]
    assert client.ai.assistants.retrieve(created.id).tags == ["keep", "new"]


def test_update_null_tags_clears_the_tags(client: telnyx.Telnyx) -> None:
    # `null` clears a field; a cleared `tags` is its default, the empty list.
    created = client.ai.assistants.create(name=unique("Untag"), instructions="x", tags=["a", "b"], greeting="Hi")
    raw = client.ai.assistants.with_raw_response.update(created.id, extra_body={"tags": None})
    assert json.loads(raw.http_request.content) == {"tags": None}
    assert raw.status_code == 200
    assert raw.json()["tags"] == [], "tags: null must clear the tags"
    fetched = client.ai.assistants.retrieve(created.id)
    assert fetched.tags == [] and fetched.greeting == "Hi"


def test_update_null_model_falls_back_to_the_default_model(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Model reset"), instructions="x", model="example/custom")
    assert created.model == "example/custom"
    updated = client.ai.assistants.update(created.id, extra_body={"model": None})
    assert updated.model == DEFAULT_MODEL
    assert client.ai.assistants.retrieve(created.id).model == DEFAULT_MODEL


def test_update_validates_like_create(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Validate update"), instructions="x", greeting="Hi")
    with pytest.raises(telnyx.BadRequestError) as duplicate:
        client.ai.assistants.update(created.id, tools=[tool_of_type("hangup"), tool_of_type("hangup")])
    error = first_error(duplicate.value.body)
    assert error["code"] == "10015" and error["source"]["pointer"] == "/tools/1"

    with pytest.raises(telnyx.UnprocessableEntityError) as invalid:
        client.ai.assistants.update(created.id, telephony_settings={"time_limit_secs": 5})
    assert "/telephony_settings/time_limit_secs" in error_pointers(invalid.value.body)

    fetched = client.ai.assistants.retrieve(created.id)
    assert fetched.greeting == "Hi" and not fetched.tools and fetched.telephony_settings is None


def test_update_accepts_patch_as_an_alias(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Patch"), instructions="x")
    with http_for(client) as http:
        response = http.patch(f"/ai/assistants/{created.id}", json={"greeting": "Patched"})
    assert response.status_code == 200, response.text
    assert response.json()["greeting"] == "Patched"
    assert client.ai.assistants.retrieve(created.id).greeting == "Patched"


# --- clone ------------------------------------------------------------------------------


def test_clone_copies_everything_but_telephony_and_messaging(client: telnyx.Telnyx) -> None:
    target = client.ai.assistants.create(name=unique("Clone target"), instructions="x")
    name = unique("Original")
    original = client.ai.assistants.with_raw_response.create(**with_references(client, maximal_body(name, target.id))).json()

    raw = client.ai.assistants.with_raw_response.clone(original["id"])
    assert raw.status_code == 200
    assert raw.http_request.method == "POST"
    assert raw.http_request.url.path == f"/v2/ai/assistants/{original['id']}/clone"
    assert raw.http_request.content == b"", "clone sends no body"
    clone = raw.json()

    assert clone["id"] != original["id"]
    assert clone["name"] == f"{name} (Clone)"
    assert "telephony_settings" not in clone or clone["telephony_settings"] is None
    assert "messaging_settings" not in clone or clone["messaging_settings"] is None
    assert clone["tags"] == original["tags"]
    assert clone["version_id"] != original["version_id"]
    assert clone["version_name"] == DEFAULT_VERSION_NAME
    assert_recent(clone["created_at"])
    expected = {
        k: v for k, v in config_of(original).items() if k not in ("name", "telephony_settings", "messaging_settings")
    }
    assert {k: v for k, v in config_of(clone).items() if k != "name"} == expected

    assert client.ai.assistants.with_raw_response.retrieve(clone["id"]).json() == clone
    assert client.ai.assistants.with_raw_response.retrieve(original["id"]).json() == original, "original untouched"
    listed = {a.id for a in client.ai.assistants.list().data}
    assert {original["id"], clone["id"]} <= listed


def test_clone_is_independent_of_the_original(client: telnyx.Telnyx) -> None:
    original = client.ai.assistants.create(name=unique("Independent"), instructions="x", greeting="Same")
    clone = client.ai.assistants.clone(original.id)
    client.ai.assistants.update(clone.id, greeting="Changed in the clone")
    client.ai.assistants.tags.add(clone.id, tag="clone-only")
    fetched = client.ai.assistants.retrieve(original.id)
    assert fetched.greeting == "Same"
    assert fetched.tags == []


def test_clone_of_a_clone_appends_the_suffix_again(client: telnyx.Telnyx) -> None:
    name = unique("Twice")
    original = client.ai.assistants.create(name=name, instructions="x")
    clone = client.ai.assistants.clone(original.id)
    assert client.ai.assistants.clone(clone.id).name == f"{name} (Clone) (Clone)"
