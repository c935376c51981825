"""Versions, promotion, canary deploys and TeXML through the official SDK."""

from __future__ import annotations

import copy

import pytest
import telnyx

from sdk_support import error_pointers, first_error, unique


def _assistant(client: telnyx.Telnyx):
    return client.ai.assistants.create(name=unique("Versioned"), instructions="v1")


def _draft(client: telnyx.Telnyx, assistant_id: str, instructions: str) -> str:
    draft = client.ai.assistants.update(assistant_id, instructions=instructions, promote_to_main=False)
    return draft.version_id


def test_versions_list_retrieve_update_delete(client: telnyx.Telnyx) -> None:
    created = _assistant(client)
    v2 = _draft(client, created.id, "v2")
    listed = client.ai.assistants.versions.list(created.id)
    assert [v.version_id for v in listed.data] == [v2, created.version_id]
    assert listed.data[0].instructions == "v2"
    one = client.ai.assistants.versions.retrieve(created.version_id, assistant_id=created.id)
    assert one.instructions == "v1" and one.version_id == created.version_id
    edited = client.ai.assistants.versions.update(v2, assistant_id=created.id, greeting="Hello", version_name="Draft")
    assert edited.greeting == "Hello" and edited.version_name == "Draft" and edited.instructions == "v2"
    with pytest.raises(telnyx.BadRequestError) as refused:
        client.ai.assistants.versions.update(created.version_id, assistant_id=created.id, greeting="x")
    assert first_error(refused.value.body)["code"] == "10018"
    with pytest.raises(telnyx.BadRequestError):
        client.ai.assistants.versions.delete(created.version_id, assistant_id=created.id)
    client.ai.assistants.versions.delete(v2, assistant_id=created.id)
    with pytest.raises(telnyx.NotFoundError) as missing:
        client.ai.assistants.versions.retrieve(v2, assistant_id=created.id)
    assert first_error(missing.value.body)["source"]["pointer"] == "/version_id"


def test_promote_moves_main_and_clears_the_canary(client: telnyx.Telnyx) -> None:
    created = _assistant(client)
    v2 = _draft(client, created.id, "v2")
    client.ai.assistants.canary_deploys.create(created.id, rules=[{"serve": {"rollout": [{"version_id": v2, "weight": 30}]}}])
    promoted = client.ai.assistants.versions.promote(v2, assistant_id=created.id)
    assert promoted.version_id == v2
    assert client.ai.assistants.retrieve(created.id).instructions == "v2"
    with pytest.raises(telnyx.NotFoundError):
        client.ai.assistants.canary_deploys.retrieve(created.id)


def test_canary_deploy_lifecycle(client: telnyx.Telnyx) -> None:
    created = _assistant(client)
    v2 = _draft(client, created.id, "v2")
    with pytest.raises(telnyx.NotFoundError):
        client.ai.assistants.canary_deploys.retrieve(created.id)
    rules = [
        {"match": [{"attribute": "telnyx_conversation_channel", "operator": "in", "values": ["web_chat"]}], "serve": {"version_id": v2}},
        {"serve": {"rollout": [{"version_id": v2, "weight": 20}]}},
    ]
    saved = client.ai.assistants.canary_deploys.create(created.id, rules=rules)
    assert saved.assistant_id == created.id
    assert saved.rules[0].serve.version_id == v2
    assert saved.rules[1].serve.rollout[0].weight == 20
    fetched = client.ai.assistants.canary_deploys.retrieve(created.id)
    assert fetched.model_dump() == saved.model_dump()
    updated = client.ai.assistants.canary_deploys.update(created.id, rules=[{"serve": {"version_id": v2}}])
    assert len(updated.rules) == 1 and updated.created_at == saved.created_at
    client.ai.assistants.canary_deploys.delete(created.id)
    with pytest.raises(telnyx.NotFoundError):
        client.ai.assistants.canary_deploys.retrieve(created.id)


@pytest.mark.parametrize(
    "rules, pointer",
    [
        ([], "/rules"),
        ([{"serve": {"rollout": [{"version_id": "VERSION", "weight": 150}]}}], "/rules/0/serve/rollout/0/weight"),
        ([{"serve": {"rollout": [{"version_id": "VERSION", "weight": 70}, {"version_id": "VERSION2", "weight": 40}]}}], "/rules/0/serve/rollout"),
        ([{"serve": {"version_id": "version-unknown"}}], "/rules/0/serve/version_id"),
    ],
)
def test_canary_validation(client: telnyx.Telnyx, rules, pointer) -> None:
    rules = copy.deepcopy(rules)
    created = _assistant(client)
    v2 = _draft(client, created.id, "v2")
    v3 = _draft(client, created.id, "v3")
    for rule in rules:
        for slot in rule["serve"].get("rollout", []):
            slot["version_id"] = {"VERSION": v2, "VERSION2": v3}[slot["version_id"]]
    with pytest.raises(telnyx.UnprocessableEntityError) as refused:
        client.ai.assistants.canary_deploys.create(created.id, rules=rules)
    assert pointer in error_pointers(refused.value.body)


def test_texml_is_a_json_string_of_well_formed_xml(client: telnyx.Telnyx) -> None:
    import json
    import xml.etree.ElementTree as ET

    created = _assistant(client)
    text = client.ai.assistants.get_texml(created.id)
    xml = json.loads(text) if text.startswith('"') else text
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    assert root.find("./Connect/AIAssistant").attrib["id"] == created.id
    with pytest.raises(telnyx.NotFoundError):
        client.ai.assistants.get_texml("assistant-missing")


def test_versions_of_another_organization_are_invisible(client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    created = _assistant(client)
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.assistants.versions.list(created.id)
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.assistants.versions.retrieve(created.version_id, assistant_id=created.id)
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.assistants.canary_deploys.create(created.id, rules=[{"serve": {"version_id": created.version_id}}])
