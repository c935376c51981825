"""MCP servers through the official SDK: ``client.ai.mcp_servers`` create / retrieve /
update / list (a bare array, auto-paginated until ``[]``) / delete."""

from __future__ import annotations

import uuid

import pytest
import telnyx
from telnyx.types.ai import McpServer

from sdk_support import assert_recent, error_pointers, first_error, http_for, unique


def make_secret(client: telnyx.Telnyx) -> str:
    """A bearer integration secret of the client's organization; returns its identifier."""
    identifier = f"mcp_{uuid.uuid4().hex[:12]}"
    with http_for(client) as http:
        created = http.post(
            "/integration_secrets", json={"identifier": identifier, "type": "bearer", "token": "t0ken"}
        )
    assert created.status_code == 201, created.text
    return identifier


def test_create_retrieve_update_delete(client: telnyx.Telnyx) -> None:
    secret = make_secret(client)
    name = unique("Docs MCP")
    raw = client.ai.mcp_servers.with_raw_response.create(
        name=name,
        type="streamable-http",
        url="https://mcp.example.com/mcp",
        allowed_tools=["search", "fetch"],
        api_key_ref=secret,
    )
    assert raw.status_code == 200
    assert set(raw.json()) == {"id", "created_at", "name", "type", "url", "allowed_tools", "api_key_ref"}
    created = raw.parse()
    assert isinstance(created, McpServer)
    assert created.id.startswith("mcp-")
    assert_recent(raw.json()["created_at"])
    assert (created.name, created.type, created.url) == (name, "streamable-http", "https://mcp.example.com/mcp")
    assert (created.allowed_tools, created.api_key_ref) == (["search", "fetch"], secret)

    fetched = client.ai.mcp_servers.retrieve(created.id)
    assert fetched == created

    # PUT is partial; id and created_at in the body are ignored; None clears.
    updated = client.ai.mcp_servers.update(
        created.id,
        id="something-else",
        created_at="2001-01-01T00:00:00Z",
        url="https://mcp.example.com/v2",
        allowed_tools=None,
    )
    assert updated.id == created.id
    assert updated.created_at == created.created_at
    assert updated.url == "https://mcp.example.com/v2"
    assert updated.allowed_tools is None
    assert (updated.name, updated.type, updated.api_key_ref) == (name, "streamable-http", secret)
    assert client.ai.mcp_servers.retrieve(created.id) == updated
    assert client.ai.mcp_servers.update(created.id) == updated, "an empty update changes nothing"

    raw_delete = client.ai.mcp_servers.with_raw_response.delete(created.id)
    assert raw_delete.status_code == 200
    assert raw_delete.http_request.headers["accept"] == "*/*"
    assert raw_delete.parse() is None
    with pytest.raises(telnyx.NotFoundError) as caught:
        client.ai.mcp_servers.retrieve(created.id)
    error = first_error(caught.value.body)
    assert error["code"] == "10005"
    assert error["source"]["pointer"] == "/mcp_server_id"
    with pytest.raises(telnyx.NotFoundError):
        client.ai.mcp_servers.delete(created.id)


@pytest.mark.parametrize("server_type", ["http", "streamable-http", "streamable_http", "sse"])
def test_transport_types_round_trip(client: telnyx.Telnyx, server_type: str) -> None:
    created = client.ai.mcp_servers.create(name=unique("T"), type=server_type, url="http://127.0.0.1:9/mcp")
    assert created.type == server_type
    assert created.allowed_tools is None and created.api_key_ref is None
    client.ai.mcp_servers.delete(created.id)


def test_list_auto_paginates_over_a_bare_array_and_stops(fresh_client: telnyx.Telnyx) -> None:
    assert list(fresh_client.ai.mcp_servers.list()) == []
    ids = [
        fresh_client.ai.mcp_servers.create(name=f"s{i}", type="sse" if i % 2 else "http", url=f"https://s{i % 3}.example/mcp").id
        for i in range(5)
    ]

    page = fresh_client.ai.mcp_servers.list(page_size=2)
    assert [s.id for s in page.items] == ids[:2]
    assert [s.id for s in fresh_client.ai.mcp_servers.list(page_size=2)] == ids, "every page, in order, then stop"
    assert [s.id for s in fresh_client.ai.mcp_servers.list()] == ids
    assert [s.id for s in fresh_client.ai.mcp_servers.list(page_size=2, page_number=3)] == ids[4:]

    with http_for(fresh_client) as http:
        raw = http.get("/ai/mcp_servers", params={"page[number]": 4, "page[size]": 2})
        assert raw.status_code == 200
        assert raw.json() == [], "past the last page"
        first = http.get("/ai/mcp_servers", params={"page[size]": 1}).json()
        assert isinstance(first, list) and [s["id"] for s in first] == ids[:1], "a bare array, no envelope"

    # Filters match exactly and survive auto-pagination.
    assert [s.id for s in fresh_client.ai.mcp_servers.list(type="sse", page_size=1)] == [ids[1], ids[3]]
    assert [s.id for s in fresh_client.ai.mcp_servers.list(url="https://s0.example/mcp")] == [ids[0], ids[3]]
    assert [s.id for s in fresh_client.ai.mcp_servers.list(type="http", url="https://s1.example/mcp")] == [ids[4]]
    assert list(fresh_client.ai.mcp_servers.list(type="websocket")) == []

    with pytest.raises(telnyx.BadRequestError) as caught:
        fresh_client.ai.mcp_servers.list(page_size=101)
    assert first_error(caught.value.body)["source"]["parameter"] == "page[size]"


@pytest.mark.parametrize(
    ("kwargs", "pointer"),
    [
        ({"name": "", "type": "http", "url": "https://e.example"}, "/name"),
        ({"name": "N", "type": "websocket", "url": "https://e.example"}, "/type"),
        ({"name": "N", "type": "http", "url": "e.example/mcp"}, "/url"),
        ({"name": "N", "type": "http", "url": "ftp://e.example"}, "/url"),
        ({"name": "N", "type": "http", "url": "https://e.example", "allowed_tools": ["ok", ""]}, "/allowed_tools/1"),
        ({"name": "N\x00", "type": "http", "url": "https://e.example"}, "/name"),
        ({"name": "N", "type": "http", "url": "https://e.example", "api_key_ref": "no_such_secret"}, "/api_key_ref"),
    ],
)
def test_invalid_bodies_are_422_with_a_pointer(fresh_client: telnyx.Telnyx, kwargs: dict, pointer: str) -> None:
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        fresh_client.ai.mcp_servers.create(**kwargs)
    assert first_error(caught.value.body)["code"] == "10016"
    assert error_pointers(caught.value.body) == [pointer]
    assert list(fresh_client.ai.mcp_servers.list()) == [], "nothing was written"


def test_update_cannot_clear_required_fields_or_name_a_missing_secret(client: telnyx.Telnyx) -> None:
    created = client.ai.mcp_servers.create(name=unique("Keep"), type="http", url="https://keep.example/mcp")
    with http_for(client) as http:
        for body, pointer in (({"name": None}, "/name"), ({"url": None}, "/url"), ({"type": "grpc"}, "/type")):
            reply = http.put(f"/ai/mcp_servers/{created.id}", json=body)
            assert reply.status_code == 422, reply.text
            assert error_pointers(reply.json()) == [pointer]
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.mcp_servers.update(created.id, api_key_ref="no_such_secret")
    assert error_pointers(caught.value.body) == ["/api_key_ref"]
    assert client.ai.mcp_servers.retrieve(created.id) == created
    secret = make_secret(client)
    assert client.ai.mcp_servers.update(created.id, api_key_ref=secret).api_key_ref == secret


def test_delete_is_refused_while_an_assistant_uses_the_server(client: telnyx.Telnyx) -> None:
    server = client.ai.mcp_servers.create(name=unique("Used"), type="sse", url="https://used.example/sse")
    assistant = client.ai.assistants.create(
        name=unique("Uses MCP"), instructions="x", mcp_servers=[{"id": server.id, "allowed_tools": ["search"]}]
    )
    with pytest.raises(telnyx.BadRequestError) as caught:
        client.ai.mcp_servers.delete(server.id)
    error = first_error(caught.value.body)
    assert error["code"] == "10018"
    assert assistant.id in error["detail"]
    assert client.ai.mcp_servers.retrieve(server.id) == server

    client.ai.assistants.update(assistant.id, mcp_servers=[])
    client.ai.mcp_servers.delete(server.id)
    with pytest.raises(telnyx.NotFoundError):
        client.ai.mcp_servers.retrieve(server.id)


def test_another_organization_cannot_touch_a_server(client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    mine = client.ai.mcp_servers.create(name=unique("Private"), type="http", url="https://private.example/mcp")
    for call in (
        lambda: other_client.ai.mcp_servers.retrieve(mine.id),
        lambda: other_client.ai.mcp_servers.update(mine.id, name="Theirs"),
        lambda: other_client.ai.mcp_servers.delete(mine.id),
    ):
        with pytest.raises(telnyx.NotFoundError) as caught:
            call()
        assert first_error(caught.value.body)["code"] == "10005"
    assert mine.id not in {s.id for s in other_client.ai.mcp_servers.list(page_size=100)}
    assert mine.id not in {s.id for s in other_client.ai.mcp_servers.list(url="https://private.example/mcp")}
    assert client.ai.mcp_servers.retrieve(mine.id) == mine


def test_create_with_an_idempotency_key_replays(fresh_client: telnyx.Telnyx) -> None:
    key = f"mcp-{uuid.uuid4().hex}"
    first = fresh_client.ai.mcp_servers.with_raw_response.create(
        name="Once", type="http", url="https://once.example/mcp", idempotency_key=key
    )
    again = fresh_client.ai.mcp_servers.with_raw_response.create(
        name="Once", type="http", url="https://once.example/mcp", idempotency_key=key
    )
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.parse() == first.parse()
    assert [s.id for s in fresh_client.ai.mcp_servers.list()] == [first.parse().id]


@pytest.mark.asyncio
async def test_async_auto_pagination(server) -> None:
    key = server.create_key(f"sdk-mcp-async-{uuid.uuid4().hex[:8]}")
    async with telnyx.AsyncTelnyx(api_key=key, base_url=server.api_base_url, max_retries=0) as client:
        ids = [
            (await client.ai.mcp_servers.create(name=f"a{i}", type="http", url="https://a.example/mcp")).id
            for i in range(3)
        ]
        assert [s.id async for s in client.ai.mcp_servers.list(page_size=2)] == ids
        await client.ai.mcp_servers.delete(ids[0])
        assert [s.id async for s in client.ai.mcp_servers.list(page_size=1)] == ids[1:]
