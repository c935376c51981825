"""``Idempotency-Key`` on POST: the SDK's ``idempotency_key=`` replays the first response;
the same key with a different request is refused with 422."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import telnyx

from sdk_support import first_error, http_for, unique


def new_key() -> str:
    return f"sdk-idem-{uuid.uuid4()}"


def test_create_with_the_same_key_twice_returns_the_same_assistant(fresh_client: telnyx.Telnyx) -> None:
    key = new_key()
    first = fresh_client.ai.assistants.with_raw_response.create(name="Once", instructions="x", idempotency_key=key)
    assert first.http_request.headers["idempotency-key"] == key
    assert first.status_code == 200
    assert first.headers.get("idempotent-replayed") is None

    second = fresh_client.ai.assistants.with_raw_response.create(name="Once", instructions="x", idempotency_key=key)
    assert second.status_code == 200
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json(), "the first response is replayed byte for byte"
    assert second.parse().id == first.parse().id

    assert [a.id for a in fresh_client.ai.assistants.list().data] == [first.parse().id], "created only once"


def test_the_same_key_with_a_different_body_is_unprocessable(fresh_client: telnyx.Telnyx) -> None:
    key = new_key()
    created = fresh_client.ai.assistants.create(name="First", instructions="x", idempotency_key=key)
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        fresh_client.ai.assistants.create(name="Second", instructions="x", idempotency_key=key)
    assert caught.value.status_code == 422
    assert first_error(caught.value.body)["code"]
    assert [a.id for a in fresh_client.ai.assistants.list().data] == [created.id]


def test_the_same_key_on_another_path_is_unprocessable(client: telnyx.Telnyx) -> None:
    key = new_key()
    created = client.ai.assistants.create(name=unique("Keyed"), instructions="x", idempotency_key=key)
    with pytest.raises(telnyx.UnprocessableEntityError):
        client.ai.assistants.clone(created.id, idempotency_key=key)


def test_requests_without_a_key_are_not_deduplicated(fresh_client: telnyx.Telnyx) -> None:
    first = fresh_client.ai.assistants.create(name="Twin", instructions="x")
    second = fresh_client.ai.assistants.create(name="Twin", instructions="x")
    assert first.id != second.id
    assert len(fresh_client.ai.assistants.list().data) == 2


def test_distinct_keys_create_distinct_assistants(fresh_client: telnyx.Telnyx) -> None:
    first = fresh_client.ai.assistants.create(name="Twin", instructions="x", idempotency_key=new_key())
    second = fresh_client.ai.assistants.create(name="Twin", instructions="x", idempotency_key=new_key())
    assert first.id != second.id


def test_clone_with_the_same_key_twice_makes_one_clone(fresh_client: telnyx.Telnyx) -> None:
    original = fresh_client.ai.assistants.create(name="Clone me", instructions="x")
    key = new_key()
    first = fresh_client.ai.assistants.with_raw_response.clone(original.id, idempotency_key=key)
    second = fresh_client.ai.assistants.with_raw_response.clone(original.id, idempotency_key=key)
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.json() == first.json()
    assert [a.name for a in fresh_client.ai.assistants.list().data] == ["Clone me", "Clone me (Clone)"]


def test_keys_are_per_organization(client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    key = new_key()
    mine = client.ai.assistants.with_raw_response.create(name=unique("Mine"), instructions="x", idempotency_key=key)
    theirs = other_client.ai.assistants.with_raw_response.create(
        name=unique("Theirs"), instructions="y", idempotency_key=key
    )
    assert theirs.status_code == 200, "another organization's key is a different key"
    assert theirs.headers.get("idempotent-replayed") is None
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["name"] != mine.json()["name"]


def test_a_refused_request_is_replayed_too(fresh_client: telnyx.Telnyx) -> None:
    key = new_key()
    bad = {"name": "Bad", "instructions": "x", "dynamic_variables_webhook_timeout_ms": 0}
    with pytest.raises(telnyx.UnprocessableEntityError) as first:
        fresh_client.ai.assistants.create(**bad, idempotency_key=key)
    with pytest.raises(telnyx.UnprocessableEntityError) as second:
        fresh_client.ai.assistants.create(**bad, idempotency_key=key)
    assert second.value.body == first.value.body
    assert second.value.response.headers.get("idempotent-replayed") == "true"
    assert fresh_client.ai.assistants.list().data == []


def test_an_update_with_a_key_is_applied_once(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("Update once"), instructions="x")
    key = new_key()
    first = client.ai.assistants.update(created.id, greeting="Hi", extra_headers={"Idempotency-Key": key})
    second = client.ai.assistants.with_raw_response.update(
        created.id, greeting="Hi", extra_headers={"Idempotency-Key": key}
    )
    assert second.headers.get("idempotent-replayed") == "true"
    assert second.parse().version_id == first.version_id, "no second version was written"
    assert client.ai.assistants.retrieve(created.id).version_id == first.version_id


def test_an_overlong_key_is_a_bad_request(http) -> None:
    response = http.post(
        "/ai/assistants", json={"name": "Long key", "instructions": "x"}, headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 400, response.text
    assert first_error(response.json())


def test_get_requests_ignore_the_key(client: telnyx.Telnyx) -> None:
    created = client.ai.assistants.create(name=unique("GET with key"), instructions="x")
    key = new_key()
    with http_for(client) as http:
        first = http.get(f"/ai/assistants/{created.id}", headers={"Idempotency-Key": key})
        client.ai.assistants.update(created.id, greeting="Changed")
        second = http.get(f"/ai/assistants/{created.id}", headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 200
    assert second.headers.get("idempotent-replayed") is None
    assert second.json()["greeting"] == "Changed"


def test_concurrent_requests_with_one_key_create_one_assistant(server, fresh_client: telnyx.Telnyx) -> None:
    """While the first request holds the key the others get 409 (which the SDK retries by
    default); in the end every caller sees the same assistant and only one exists."""
    key = new_key()
    api_key = fresh_client.api_key

    async def run() -> list:
        async with telnyx.AsyncTelnyx(api_key=api_key, base_url=server.api_base_url, max_retries=6) as c:
            return await asyncio.gather(
                *(c.ai.assistants.create(name="Concurrent", instructions="x", idempotency_key=key) for _ in range(8))
            )

    results = asyncio.run(run())
    assert len({a.id for a in results}) == 1
    assert [a.id for a in fresh_client.ai.assistants.list().data] == [results[0].id]


def test_a_request_in_flight_is_a_conflict(server, fresh_client: telnyx.Telnyx) -> None:
    key = new_key()
    api_key = fresh_client.api_key

    async def run() -> list:
        async with telnyx.AsyncTelnyx(api_key=api_key, base_url=server.api_base_url, max_retries=0) as c:
            return await asyncio.gather(
                *(c.ai.assistants.create(name="Racing", instructions="x", idempotency_key=key) for _ in range(8)),
                return_exceptions=True,
            )

    results = asyncio.run(run())
    created = [r for r in results if not isinstance(r, BaseException)]
    conflicts = [r for r in results if isinstance(r, telnyx.ConflictError)]
    assert created, f"at least one request succeeds: {results!r}"
    assert len(created) + len(conflicts) == len(results), f"only successes and 409s: {results!r}"
    assert len({a.id for a in created}) == 1
    for conflict in conflicts:
        assert conflict.status_code == 409
        assert first_error(conflict.body)["code"]
    assert len(fresh_client.ai.assistants.list().data) == 1
