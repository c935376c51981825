"""Soft delete (the default), hard delete, the Recently Deleted views, restore, and the
refusal to delete an assistant other assistants hand conversations to."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import telnyx
from telnyx.types.ai.assistants import DeletedAssistant

from parley_payloads import maximal_body, with_references
from sdk_support import assert_recent, config_of, first_error, http_for, parse_ts, unique


def handoff_tool(target_id: str, name: str = "Target") -> dict:
    return {"type": "handoff", "handoff": {"ai_assistants": [{"id": target_id, "name": name}]}}


def flow_to(target_id: str) -> dict:
    return {
        "start_node_id": "n1",
        "nodes": [{"id": "n1", "instructions": "Talk."}],
        "edges": [
            {
                "id": "e1",
                "start_node_id": "n1",
                "condition": {"type": "llm", "prompt": "Caller wants the other assistant."},
                "target": {"type": "assistant", "assistant_id": target_id},
            }
        ],
    }


def assert_not_found(call, *args, **kwargs) -> dict:
    with pytest.raises(telnyx.NotFoundError) as caught:
        call(*args, **kwargs)
    assert caught.value.status_code == 404
    return first_error(caught.value.body)


def deleted_ids(client: telnyx.Telnyx) -> set[str]:
    # Bounded: a server whose meta never ends the iteration fails here instead of hanging.
    return {a.id for a in itertools.islice(client.ai.assistants.deleted.list(page_size=100), 10_000)}


# --- soft delete ------------------------------------------------------------------------


def test_delete_is_soft_by_default(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Soft"), instructions="x")
    raw = client.ai.assistants.with_raw_response.delete(created.id)
    assert raw.status_code == 200
    assert raw.http_request.method == "DELETE"
    assert "hard_delete" not in raw.http_request.url.params
    assert raw.json() == {"id": created.id, "object": "assistant", "deleted": True}
    response = raw.parse()
    assert (response.id, response.deleted, response.object) == (created.id, True, "assistant")

    error = assert_not_found(client.ai.assistants.retrieve, created.id)
    assert error["code"] == "10005"
    assert created.id not in {a.id for a in client.ai.assistants.list().data}
    assert created.id in deleted_ids(client)


def test_deleted_view_shows_the_assistant_with_deletion_times(client: telnyx.Telnyx) -> None:
    target = client.ai.assistants.create(name=unique("Deleted view target"), instructions="x")
    created = client.ai.assistants.with_raw_response.create(**with_references(client, maximal_body(unique("Deleted view"), target.id))).json()
    client.ai.assistants.delete(created["id"])

    raw = client.ai.assistants.deleted.with_raw_response.get(created["id"])
    assert raw.http_request.url.path == f"/v2/ai/assistants/{created['id']}/deleted"
    view = raw.json()
    deleted_at = assert_recent(view["deleted_at"])
    assert parse_ts(view["permanently_deleted_at"]) - deleted_at == timedelta(days=30)
    assert {k: v for k, v in view.items() if k not in ("deleted_at", "permanently_deleted_at")} == created, (
        "the deleted view is the assistant as it was, plus the deletion times"
    )
    parsed = raw.parse()
    assert isinstance(parsed, DeletedAssistant)
    assert parsed.deleted_at == deleted_at and parsed.id == created["id"]

    listed = next(a for a in client.ai.assistants.deleted.list(page_size=100) if a.id == created["id"])
    assert isinstance(listed, DeletedAssistant)
    assert listed.deleted_at == deleted_at
    assert listed.permanently_deleted_at == deleted_at + timedelta(days=30)


def test_restore_brings_a_soft_deleted_assistant_back(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.with_raw_response.create(
        name=unique("Restore"), instructions="x", greeting="Welcome back", tags=["restorable"]
    ).json()
    client.ai.assistants.delete(created["id"])

    raw = client.ai.assistants.with_raw_response.restore(created["id"])
    assert raw.status_code == 200
    assert raw.http_request.method == "POST"
    assert raw.http_request.url.path == f"/v2/ai/assistants/{created['id']}/restore"
    restored = raw.json()
    assert restored == created, "restore returns the assistant exactly as it was"
    assert "deleted_at" not in restored

    assert client.ai.assistants.with_raw_response.retrieve(created["id"]).json() == created
    assert created["id"] in {a.id for a in client.ai.assistants.list().data}
    assert created["id"] not in deleted_ids(client)
    assert_not_found(client.ai.assistants.deleted.get, created["id"])
    assert_not_found(client.ai.assistants.restore, created["id"])

    # A restored assistant is a live one again: it can be updated and deleted.
    assert client.ai.assistants.update(created["id"], greeting="Updated").greeting == "Updated"
    assert client.ai.assistants.delete(created["id"]).deleted is True


def test_restore_of_a_live_or_unknown_assistant_is_not_found(client: telnyx.Telnyx) -> None:
    live = client.ai.assistants.create(name=unique("Live"), instructions="x")
    assert_not_found(client.ai.assistants.restore, live.id)
    assert_not_found(client.ai.assistants.restore, "assistant-does-not-exist")
    assert_not_found(client.ai.assistants.deleted.get, live.id)
    assert client.ai.assistants.retrieve(live.id).id == live.id


def test_a_soft_deleted_assistant_is_read_only(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Read only"), instructions="x", greeting="Frozen")
    client.ai.assistants.delete(created.id)

    assert_not_found(client.ai.assistants.update, created.id, greeting="Changed")
    assert_not_found(client.ai.assistants.clone, created.id)
    assert_not_found(client.ai.assistants.tags.add, created.id, tag="nope")
    error = assert_not_found(client.ai.assistants.delete, created.id)
    assert error["code"] == "10005"

    view = client.ai.assistants.deleted.get(created.id)
    assert view.greeting == "Frozen" and view.tags == []
    assert client.ai.assistants.restore(created.id).greeting == "Frozen"


# --- hard delete ------------------------------------------------------------------------


def test_hard_delete_is_permanent(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Hard"), instructions="x")
    raw = client.ai.assistants.with_raw_response.delete(created.id, hard_delete=True)
    assert raw.status_code == 200
    assert raw.http_request.url.params["hard_delete"] == "true"
    assert raw.json() == {"id": created.id, "object": "assistant", "deleted": True}

    assert_not_found(client.ai.assistants.retrieve, created.id)
    assert_not_found(client.ai.assistants.deleted.get, created.id)
    assert_not_found(client.ai.assistants.restore, created.id)
    assert_not_found(client.ai.assistants.delete, created.id, hard_delete=True)
    assert created.id not in deleted_ids(client)
    assert created.id not in {a.id for a in client.ai.assistants.list().data}


def test_hard_delete_false_is_a_soft_delete(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Hard false"), instructions="x")
    raw = client.ai.assistants.with_raw_response.delete(created.id, hard_delete=False)
    assert raw.http_request.url.params["hard_delete"] == "false"
    assert client.ai.assistants.deleted.get(created.id).id == created.id
    assert client.ai.assistants.restore(created.id).id == created.id


def test_delete_unknown_assistant_is_not_found(client: telnyx.Telnyx) -> None:
    error = assert_not_found(client.ai.assistants.delete, "assistant-never-existed")
    assert error["source"]["pointer"] == "/assistant_id"
    assert "assistant-never-existed" in error["detail"]


# --- references -------------------------------------------------------------------------


@pytest.mark.parametrize("hard_delete", [False, True], ids=["soft", "hard"])
def test_delete_is_refused_while_a_handoff_tool_references_the_assistant(
    client: telnyx.Telnyx, hard_delete: bool
) -> None:
    target = client.ai.assistants.with_raw_response.create(name=unique("Referenced"), instructions="x").json()
    referrer = client.ai.assistants.create(
        name=unique("Referrer"), instructions="x", tools=[handoff_tool(target["id"])]
    )

    with pytest.raises(telnyx.BadRequestError) as caught:
        client.ai.assistants.delete(target["id"], hard_delete=hard_delete)
    assert caught.value.status_code == 400
    error = first_error(caught.value.body)
    assert referrer.id in error["detail"], "the error names the referring assistant"
    assert client.ai.assistants.with_raw_response.retrieve(target["id"]).json() == target, "nothing changed"
    assert target["id"] not in deleted_ids(client)

    # Once the reference is gone the delete goes through.
    client.ai.assistants.update(referrer.id, tools=[])
    assert client.ai.assistants.delete(target["id"], hard_delete=hard_delete).deleted is True
    assert_not_found(client.ai.assistants.retrieve, target["id"])


def test_delete_is_refused_while_a_flow_edge_references_the_assistant(client: telnyx.Telnyx) -> None:
    target = client.ai.assistants.create(name=unique("Flow target"), instructions="x")
    referrer = client.ai.assistants.create(
        name=unique("Flow referrer"), instructions="x", conversation_flow=flow_to(target.id)
    )
    with pytest.raises(telnyx.BadRequestError) as caught:
        client.ai.assistants.delete(target.id)
    assert referrer.id in first_error(caught.value.body)["detail"]

    client.ai.assistants.update(referrer.id, extra_body={"conversation_flow": None})
    assert client.ai.assistants.delete(target.id).deleted is True


def test_a_soft_deleted_referrer_no_longer_blocks_a_delete(client: telnyx.Telnyx) -> None:
    target = client.ai.assistants.create(name=unique("Target"), instructions="x")
    referrer = client.ai.assistants.create(name=unique("Gone referrer"), instructions="x", tools=[handoff_tool(target.id)])
    client.ai.assistants.delete(referrer.id)
    assert client.ai.assistants.delete(target.id).deleted is True


def test_an_unpromoted_draft_or_a_self_reference_does_not_block_a_delete(client: telnyx.Telnyx) -> None:
    target = client.ai.assistants.create(name=unique("Target"), instructions="x")
    drafter = client.ai.assistants.create(name=unique("Drafter"), instructions="x")
    client.ai.assistants.update(drafter.id, tools=[handoff_tool(target.id)], promote_to_main=False)
    client.ai.assistants.update(target.id, tools=[handoff_tool(target.id, "Myself")])
    assert client.ai.assistants.delete(target.id).deleted is True


# --- the Recently Deleted list ----------------------------------------------------------


def test_deleted_list_pages_and_meta(fresh_client: telnyx.Telnyx) -> None:
    ids = [fresh_client.ai.assistants.create(name=f"Deleted {i}", instructions="x").id for i in range(5)]
    for assistant_id in ids:
        fresh_client.ai.assistants.delete(assistant_id)

    with http_for(fresh_client) as http:
        pages = {}
        for number in (1, 2, 3, 4):
            response = http.get("/ai/assistants/deleted", params={"page[number]": number, "page[size]": 2})
            assert response.status_code == 200, response.text
            pages[number] = response.json()
            assert set(pages[number]) == {"data", "meta"}
            assert pages[number]["meta"] == {
                "page_number": number,
                "page_size": 2,
                "total_pages": 3,
                "total_results": 5,
            }, f"meta of page {number} echoes the page served"
        default = http.get("/ai/assistants/deleted")
        assert default.status_code == 200
        assert default.json()["meta"] == {"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 5}
        assert len(default.json()["data"]) == 5

    assert [len(pages[n]["data"]) for n in (1, 2, 3, 4)] == [2, 2, 1, 0], "the page past the end is empty"
    served = [a["id"] for n in (1, 2, 3) for a in pages[n]["data"]]
    assert sorted(served) == sorted(ids), "the pages partition the deleted assistants"
    deleted_at = [parse_ts(a["deleted_at"]) for n in (1, 2, 3) for a in pages[n]["data"]]
    assert deleted_at == sorted(deleted_at, reverse=True), "most recently deleted first"
    assert [a["id"] for a in default.json()["data"]] == served, "pages follow the same order as the whole list"


def test_deleted_list_with_no_deleted_assistants(fresh_client: telnyx.Telnyx) -> None:
    fresh_client.ai.assistants.create(name="Alive", instructions="x")
    page = fresh_client.ai.assistants.deleted.list()
    assert page.data == []
    assert page.meta is not None and page.meta.total_results == 0 and page.meta.total_pages == 0
    assert page.has_next_page() is False


def test_deleted_list_auto_pagination_through_the_sdk(fresh_client: telnyx.Telnyx) -> None:
    ids = [fresh_client.ai.assistants.create(name=f"Auto {i}", instructions="x").id for i in range(5)]
    for assistant_id in ids:
        fresh_client.ai.assistants.delete(assistant_id)

    first = fresh_client.ai.assistants.deleted.list(page_size=2)
    assert first.meta is not None and (first.meta.page_number, first.meta.total_pages) == (1, 3)
    assert first.has_next_page()
    assert first.next_page_info().params == {"page[number]": 2}
    pages = list(itertools.islice(first.iter_pages(), 10))
    assert [p.meta.page_number for p in pages] == [1, 2, 3], "iteration stops after the last page"
    collected = [a.id for a in itertools.islice(fresh_client.ai.assistants.deleted.list(page_size=2), 50)]
    assert sorted(collected) == sorted(ids) and len(collected) == len(set(collected)) == 5
    assert all(isinstance(a, DeletedAssistant) for p in pages for a in p.data)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page[size]": "0"}, "page[size]"),
        ({"page[size]": "101"}, "page[size]"),
        ({"page[number]": "0"}, "page[number]"),
        ({"page[number]": "first"}, "page[number]"),
    ],
)
@pytest.mark.parametrize("path", ["/ai/assistants/deleted", "/ai/assistants"])
def test_lists_reject_invalid_page_parameters(http, params: dict, parameter: str, path: str) -> None:
    response = http.get(path, params=params)
    assert response.status_code == 400, response.text
    assert first_error(response.json())["source"]["parameter"] == parameter


def test_deleted_assistants_keep_their_configuration_through_restore(client: telnyx.Telnyx) -> None:
    target = client.ai.assistants.create(name=unique("Target"), instructions="x")
    created = client.ai.assistants.with_raw_response.create(**with_references(client, maximal_body(unique("Round trip"), target.id))).json()
    client.ai.assistants.delete(created["id"])
    assert config_of(client.ai.assistants.with_raw_response.restore(created["id"]).json()) == config_of(created)
