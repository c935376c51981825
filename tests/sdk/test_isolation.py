"""Organizations are isolated: another organization's key sees none of this one's
assistants, and every attempt to touch one is a 404 (never a 403, which would leak that
the id exists)."""

from __future__ import annotations

import pytest
import telnyx

from sdk_support import first_error, http_for, unique


def assert_not_found(call) -> None:
    with pytest.raises(telnyx.NotFoundError) as caught:
        call()
    assert caught.value.status_code == 404
    assert first_error(caught.value.body)["code"] == "10005"


def test_another_organization_cannot_touch_an_assistant(client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    mine = client.ai.assistants.with_raw_response.create(
        name=unique("Private"), instructions="x", greeting="Mine", tags=["private"]
    ).json()
    assistant_id = mine["id"]

    assert_not_found(lambda: other_client.ai.assistants.retrieve(assistant_id))
    assert_not_found(lambda: other_client.ai.assistants.update(assistant_id, greeting="Theirs"))
    assert_not_found(lambda: other_client.ai.assistants.update(assistant_id, greeting="Draft", promote_to_main=False))
    assert_not_found(lambda: other_client.ai.assistants.delete(assistant_id))
    assert_not_found(lambda: other_client.ai.assistants.delete(assistant_id, hard_delete=True))
    assert_not_found(lambda: other_client.ai.assistants.clone(assistant_id))
    assert_not_found(lambda: other_client.ai.assistants.restore(assistant_id))
    assert_not_found(lambda: other_client.ai.assistants.deleted.get(assistant_id))
    assert_not_found(lambda: other_client.ai.assistants.tags.add(assistant_id, tag="theirs"))
    assert_not_found(lambda: other_client.ai.assistants.tags.remove("private", assistant_id=assistant_id))
    with http_for(other_client) as http:
        assert http.patch(f"/ai/assistants/{assistant_id}", json={"greeting": "Theirs"}).status_code == 404

    assert assistant_id not in {a.id for a in other_client.ai.assistants.list().data}
    assert "private" not in other_client.ai.assistants.tags.list().tags
    assert client.ai.assistants.with_raw_response.retrieve(assistant_id).json() == mine, "nothing changed"


def test_another_organization_does_not_see_deleted_assistants(
    client: telnyx.Telnyx, other_client: telnyx.Telnyx
) -> None:
    mine = client.ai.assistants.create(name=unique("Deleted private"), instructions="x")
    client.ai.assistants.delete(mine.id)

    assert mine.id not in {a.id for a in other_client.ai.assistants.deleted.list(page_size=100)}
    assert_not_found(lambda: other_client.ai.assistants.deleted.get(mine.id))
    assert_not_found(lambda: other_client.ai.assistants.restore(mine.id))
    assert client.ai.assistants.deleted.get(mine.id).id == mine.id, "still deleted, still restorable by its owner"
    assert client.ai.assistants.restore(mine.id).id == mine.id


def test_lists_are_per_organization(fresh_client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    theirs = other_client.ai.assistants.create(name=unique("Theirs"), instructions="x", tags=["theirs-only"])
    mine = fresh_client.ai.assistants.create(name="Mine", instructions="x", tags=["mine-only"])
    assert [a.id for a in fresh_client.ai.assistants.list().data] == [mine.id]
    assert fresh_client.ai.assistants.tags.list().tags == ["mine-only"]
    assert mine.id not in {a.id for a in other_client.ai.assistants.list().data}
    assert theirs.id in {a.id for a in other_client.ai.assistants.list().data}

    other_client.ai.assistants.delete(theirs.id)
    assert fresh_client.ai.assistants.deleted.list().data == []


def test_a_reference_from_another_organization_does_not_block_a_delete(
    client: telnyx.Telnyx, other_client: telnyx.Telnyx
) -> None:
    target = client.ai.assistants.create(name=unique("Referenced across orgs"), instructions="x")
    other_client.ai.assistants.create(
        name=unique("Foreign referrer"),
        instructions="x",
        tools=[{"type": "handoff", "handoff": {"ai_assistants": [{"id": target.id, "name": "Elsewhere"}]}}],
    )
    assert client.ai.assistants.delete(target.id).deleted is True


def test_ids_are_not_reused_across_organizations(client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    mine = client.ai.assistants.create(name=unique("Same name"), instructions="x")
    theirs = other_client.ai.assistants.create(name=mine.name, instructions="x")
    assert mine.id != theirs.id
    assert other_client.ai.assistants.retrieve(theirs.id).name == mine.name
    assert_not_found(lambda: client.ai.assistants.retrieve(theirs.id))
