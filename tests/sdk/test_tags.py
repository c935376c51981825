"""Assistant tags: the SDK's typed ``client.ai.assistants.tags`` resource and the raw wire
shape ``{"tags": [...]}``."""

from __future__ import annotations

import pytest
import telnyx
from telnyx.types.ai.assistants import TagsResponse

from sdk_support import first_error, http_for, unique


def test_add_list_and_remove_through_the_sdk(fresh_client: telnyx.Telnyx) -> None:
    assistant = fresh_client.ai.assistants.create(name="Tagged", instructions="x", tags=["alpha"])

    added = fresh_client.ai.assistants.tags.add(assistant.id, tag="beta")
    assert isinstance(added, TagsResponse)
    assert added.tags == ["alpha", "beta"]
    assert fresh_client.ai.assistants.retrieve(assistant.id).tags == ["alpha", "beta"]
    assert fresh_client.ai.assistants.tags.list().tags == ["alpha", "beta"]

    removed = fresh_client.ai.assistants.tags.remove("alpha", assistant_id=assistant.id)
    assert removed.tags == ["beta"]
    assert fresh_client.ai.assistants.retrieve(assistant.id).tags == ["beta"]
    assert fresh_client.ai.assistants.tags.list().tags == ["beta"]


def test_tag_endpoints_on_the_wire(fresh_client: telnyx.Telnyx) -> None:
    assistant = fresh_client.ai.assistants.create(name="Wire tags", instructions="x")
    with http_for(fresh_client) as http:
        added = http.post(f"/ai/assistants/{assistant.id}/tags", json={"tag": "wire"})
        assert added.status_code == 200, added.text
        assert added.headers["content-type"].startswith("application/json")
        assert added.json() == {"tags": ["wire"]}

        listed = http.get("/ai/assistants/tags")
        assert listed.status_code == 200
        assert listed.json() == {"tags": ["wire"]}

        removed = http.delete(f"/ai/assistants/{assistant.id}/tags/wire")
        assert removed.status_code == 200
        assert removed.json() == {"tags": []}
        assert http.get("/ai/assistants/tags").json() == {"tags": []}


def test_adding_a_present_tag_or_removing_an_absent_one_changes_nothing(client: telnyx.Telnyx) -> None:
    assistant = client.ai.assistants.create(name=unique("Idempotent tags"), instructions="x", tags=["one"])
    assert client.ai.assistants.tags.add(assistant.id, tag="one").tags == ["one"]
    assert client.ai.assistants.tags.add(assistant.id, tag="  one  ").tags == ["one"], "tags are trimmed"
    assert client.ai.assistants.tags.remove("two", assistant_id=assistant.id).tags == ["one"]
    assert client.ai.assistants.retrieve(assistant.id).tags == ["one"]


def test_tags_list_is_the_distinct_sorted_tags_of_live_assistants(fresh_client: telnyx.Telnyx) -> None:
    assert fresh_client.ai.assistants.tags.list().tags == []
    fresh_client.ai.assistants.create(name="A", instructions="x", tags=["zeta", "alpha"])
    fresh_client.ai.assistants.create(name="B", instructions="x", tags=["alpha", "mid"])
    gone = fresh_client.ai.assistants.create(name="C", instructions="x", tags=["only-on-deleted"])
    fresh_client.ai.assistants.delete(gone.id)

    assert fresh_client.ai.assistants.tags.list().tags == ["alpha", "mid", "zeta"]

    fresh_client.ai.assistants.restore(gone.id)
    assert fresh_client.ai.assistants.tags.list().tags == ["alpha", "mid", "only-on-deleted", "zeta"]


@pytest.mark.parametrize("tag", ["with space", "slash/inside", "ünïcødé", "question?mark", "100%", "hash#tag"])
def test_tags_with_special_characters_round_trip(client: telnyx.Telnyx, tag: str) -> None:
    assistant = client.ai.assistants.create(name=unique("Special tags"), instructions="x")
    assert client.ai.assistants.tags.add(assistant.id, tag=tag).tags == [tag]
    assert client.ai.assistants.retrieve(assistant.id).tags == [tag]
    assert client.ai.assistants.tags.remove(tag, assistant_id=assistant.id).tags == []


@pytest.mark.parametrize(
    ("body", "label"),
    [({"tag": ""}, "empty"), ({"tag": "   "}, "blank"), ({"tag": 7}, "number"), ({}, "missing"), ({"tag": "x" * 1000}, "too long")],
)
def test_invalid_tags_are_unprocessable(client: telnyx.Telnyx, body: dict, label: str) -> None:
    assistant = client.ai.assistants.create(name=unique("Bad tag"), instructions="x")
    with http_for(client) as http:
        response = http.post(f"/ai/assistants/{assistant.id}/tags", json=body)
    assert response.status_code == 422, f"{label}: {response.text}"
    assert first_error(response.json())["source"]["pointer"] == "/tag"
    assert client.ai.assistants.retrieve(assistant.id).tags == []


def test_invalid_tag_through_the_sdk(client: telnyx.Telnyx) -> None:
    assistant = client.ai.assistants.create(name=unique("Bad tag SDK"), instructions="x")
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.assistants.tags.add(assistant.id, tag=" ")
    assert first_error(caught.value.body)["source"]["pointer"] == "/tag"


def test_tags_of_an_unknown_assistant_are_not_found(client: telnyx.Telnyx) -> None:
    with pytest.raises(telnyx.NotFoundError) as added:
        client.ai.assistants.tags.add("assistant-missing", tag="x")
    assert first_error(added.value.body)["code"] == "10005"
    with pytest.raises(telnyx.NotFoundError):
        client.ai.assistants.tags.remove("x", assistant_id="assistant-missing")
