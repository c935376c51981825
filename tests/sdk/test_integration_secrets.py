"""Integration secrets through the official SDK: create (201, ``{data}``), list (filter,
pages, auto-pagination), delete (204), validation, tenancy — and the value never comes back."""

from __future__ import annotations

import json
import uuid

import pytest
import telnyx
from telnyx.types import IntegrationSecret, IntegrationSecretCreateResponse

from sdk_support import assert_recent, error_pointers, first_error, http_for

#: Fields of every integration secret object; a value field would be a leak.
SECRET_FIELDS = {"record_type", "id", "identifier", "created_at", "updated_at"}


def ident(prefix: str = "sdk") -> str:
    """An identifier no other test uses (identifiers allow ``[A-Za-z0-9_.-]``)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def test_create_bearer_answers_201_with_data_and_no_value(client: telnyx.Telnyx) -> None:
    identifier = ident("bearer")
    token = f"tok-{uuid.uuid4().hex}"
    raw = client.integration_secrets.with_raw_response.create(identifier=identifier, type="bearer", token=token)

    assert raw.status_code == 201, raw.text()
    assert json.loads(raw.http_request.content) == {"identifier": identifier, "type": "bearer", "token": token}
    assert token not in raw.text()
    body = raw.json()
    assert set(body) == {"data"}
    assert set(body["data"]) == SECRET_FIELDS
    parsed = raw.parse()
    assert isinstance(parsed, IntegrationSecretCreateResponse)
    assert parsed.data.identifier == identifier
    assert parsed.data.record_type == "integration_secret"
    assert uuid.UUID(parsed.data.id)
    assert_recent(body["data"]["created_at"])
    assert parsed.data.updated_at == parsed.data.created_at


def test_create_basic(client: telnyx.Telnyx) -> None:
    identifier = ident("basic")
    created = client.integration_secrets.create(
        identifier=identifier, type="basic", username="alice", password="correct horse"
    )
    assert created.data.identifier == identifier
    listed = {s.id: s for s in client.integration_secrets.list(filter={"type": "basic"}, page_size=100)}
    assert listed[created.data.id] == created.data


def test_list_filters_paginates_and_auto_paginates(fresh_client: telnyx.Telnyx) -> None:
    kinds = ["bearer", "basic", "bearer", "bearer", "basic"]
    made = []
    for i, kind in enumerate(kinds):
        identifier = f"s{i}_{uuid.uuid4().hex[:6]}"
        if kind == "bearer":
            fresh_client.integration_secrets.create(identifier=identifier, type="bearer", token="t")
        else:
            fresh_client.integration_secrets.create(identifier=identifier, type="basic", username="u", password="p")
        made.append(identifier)

    first = fresh_client.integration_secrets.list()
    assert [s.identifier for s in first.data] == made, "oldest first"
    assert first.meta is not None and first.meta.page_number == 1 and first.meta.total_pages == 1
    assert all(isinstance(s, IntegrationSecret) for s in first.data)

    basic = fresh_client.integration_secrets.list(filter={"type": "basic"})
    assert [s.identifier for s in basic.data] == [made[1], made[4]]
    bearer = fresh_client.integration_secrets.list(filter={"type": "bearer"})
    assert [s.identifier for s in bearer.data] == [made[0], made[2], made[3]]

    page = fresh_client.integration_secrets.with_raw_response.list(page_number=2, page_size=2)
    assert page.http_request.url.params["page[number]"] == "2"
    assert page.json()["meta"] == {"page_number": 2, "page_size": 2, "total_pages": 3, "total_results": 5}
    assert [s["identifier"] for s in page.json()["data"]] == made[2:4]

    # The SDK follows meta.page_number / meta.total_pages across pages.
    assert [s.identifier for s in fresh_client.integration_secrets.list(page_size=2)] == made
    assert [s.identifier for s in fresh_client.integration_secrets.list(page_size=1, filter={"type": "bearer"})] == [
        made[0],
        made[2],
        made[3],
    ]


def test_invalid_filter_is_400_naming_the_parameter(client: telnyx.Telnyx) -> None:
    with http_for(client) as http:
        response = http.get("/integration_secrets", params={"filter[type]": "oauth"})
    assert response.status_code == 400
    assert first_error(response.json())["source"]["parameter"] == "filter[type]"


def test_duplicate_identifier_is_422_at_identifier(client: telnyx.Telnyx) -> None:
    identifier = ident("dup")
    client.integration_secrets.create(identifier=identifier, type="bearer", token="first")
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.integration_secrets.create(identifier=identifier, type="basic", username="u", password="second")
    assert caught.value.status_code == 422
    error = first_error(caught.value.body)
    assert error["source"]["pointer"] == "/identifier"
    assert "second" not in json.dumps(caught.value.body)


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({"identifier": "has space", "type": "bearer", "token": "t"}, ["/identifier"]),
        ({"identifier": "x" * 256, "type": "bearer", "token": "t"}, ["/identifier"]),
        ({"identifier": "ok", "type": "oauth"}, ["/type"]),
        ({"identifier": "ok", "type": "bearer"}, ["/token"]),
        ({"identifier": "ok", "type": "bearer", "token": ""}, ["/token"]),
        ({"identifier": "ok", "type": "basic", "token": "t"}, ["/username", "/password"]),
        ({"identifier": "ok", "type": "basic", "username": "u"}, ["/password"]),
        ({"identifier": "ok", "type": "bearer", "token": "a\u0000b"}, ["/token"]),
    ],
    ids=["identifier-space", "identifier-long", "type", "token-missing", "token-empty", "basic", "password", "nul"],
)
def test_validation_errors_point_at_each_field(fresh_client: telnyx.Telnyx, body: dict, pointers: list) -> None:
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        fresh_client.integration_secrets.create(**body)
    assert error_pointers(caught.value.body) == pointers
    assert all(e["code"] == "10016" for e in caught.value.body["errors"])
    assert fresh_client.integration_secrets.list().data == [], "nothing was written"


def test_delete_then_404(client: telnyx.Telnyx) -> None:
    identifier = ident("del")
    created = client.integration_secrets.create(identifier=identifier, type="bearer", token="t")

    raw = client.integration_secrets.with_raw_response.delete(created.data.id)
    assert raw.status_code == 204
    assert raw.parse() is None
    with pytest.raises(telnyx.NotFoundError) as caught:
        client.integration_secrets.delete(created.data.id)
    assert first_error(caught.value.body)["code"] == "10005"
    assert created.data.id not in {s.id for s in client.integration_secrets.list(page_size=100)}
    # The identifier can be used again.
    assert client.integration_secrets.create(identifier=identifier, type="bearer", token="t2").data.id != created.data.id


def test_another_organization_sees_and_deletes_nothing(client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    identifier = ident("iso")
    mine = client.integration_secrets.create(identifier=identifier, type="bearer", token="mine")

    assert mine.data.id not in {s.id for s in other_client.integration_secrets.list(page_size=100)}
    with pytest.raises(telnyx.NotFoundError):
        other_client.integration_secrets.delete(mine.data.id)
    theirs = other_client.integration_secrets.create(identifier=identifier, type="bearer", token="theirs")
    assert theirs.data.id != mine.data.id, "the same identifier is allowed in another organization"
    assert mine.data.id in {s.id for s in client.integration_secrets.list(page_size=100)}
    other_client.integration_secrets.delete(theirs.data.id)
    assert mine.data.id in {s.id for s in client.integration_secrets.list(page_size=100)}


def test_the_value_never_comes_back(client: telnyx.Telnyx) -> None:
    token = f"never-{uuid.uuid4().hex}"
    password = f"never-{uuid.uuid4().hex}"
    texts = [
        client.integration_secrets.with_raw_response.create(identifier=ident("v"), type="bearer", token=token).text(),
        client.integration_secrets.with_raw_response.create(
            identifier=ident("v"), type="basic", username="u", password=password
        ).text(),
        client.integration_secrets.with_raw_response.list(page_size=100).text(),
    ]
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.integration_secrets.create(identifier="bad id", type="bearer", token=token)
    texts.append(json.dumps(caught.value.body))
    for text in texts:
        assert token not in text and password not in text


@pytest.mark.asyncio
async def test_async_client_round_trip(async_client: telnyx.AsyncTelnyx) -> None:
    identifier = ident("async")
    created = await async_client.integration_secrets.create(identifier=identifier, type="bearer", token="t")
    ids = [s.id async for s in async_client.integration_secrets.list(page_size=100)]
    assert created.data.id in ids
    assert await async_client.integration_secrets.delete(created.data.id) is None
