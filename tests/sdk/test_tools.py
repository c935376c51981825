"""Shared tools and assistant tools through the official SDK: ``client.ai.tools`` (create,
list paginated with ``meta``, retrieve, ``PATCH`` update, delete),
``client.ai.assistants.tools.add/remove`` (``PUT``/``DELETE
/ai/assistants/{id}/tools/{tool_id}``) and ``client.ai.assistants.tools.test`` (``POST
…/tools/{tool_id}/test``) against a webhook the test serves on 127.0.0.1, and the error
envelopes (422 validation, 400 duplicate, 404 unknown ids)."""

from __future__ import annotations

import json
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, Optional

import pytest
import telnyx
from telnyx.types.ai import SharedToolResponse
from telnyx.types.ai.assistants import ToolTestResponse

from sdk_support import assert_recent, error_pointers, first_error, http_for, unique

MISSING_ASSISTANT = "assistant-00000000-0000-4000-8000-000000000000"
MISSING_TOOL = "tool-00000000-0000-4000-8000-000000000000"


def webhook_config(name: str = "lookup", url: str = "https://api.example.com/lookup", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": "Looks things up", "url": url, **extra}


def new_webhook_tool(client: telnyx.Telnyx, **fields: Any) -> SharedToolResponse:
    fields.setdefault("display_name", unique("Lookup"))
    fields.setdefault("webhook", webhook_config())
    return client.ai.tools.create(type="webhook", **fields)


def new_assistant(client: telnyx.Telnyx, **fields: Any):
    return client.ai.assistants.create(name=unique("Tools"), instructions="Help.", **fields)


def shared_ids(assistant: Any) -> list[str]:
    """Ids of the shared tools an assistant object (SDK model or dict) lists, in order."""
    tools = assistant["tools"] if isinstance(assistant, dict) else [t.to_dict() for t in assistant.tools or []]
    return [t["id"] for t in tools if t.get("shared")]


def tool_types(assistant: Any) -> list[tuple[str, bool]]:
    tools = assistant["tools"] if isinstance(assistant, dict) else [t.to_dict() for t in assistant.tools or []]
    return [(t["type"], t["shared"]) for t in tools]


# --- a webhook on 127.0.0.1 ---------------------------------------------------------------


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class Webhook:
    """The owner's HTTP API: ``/orders/{id}`` answers 200 with JSON about the order and what
    was sent; ``/fail`` answers 503; anything else 404. Records every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: list[Hit] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                hit = Hit(
                    method=self.command,
                    path=url.path,
                    query=dict(urllib.parse.parse_qsl(url.query)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with hook._lock:
                    hook._hits.append(hit)
                if url.path.startswith("/orders/"):
                    status, content_type = 200, "application/json"
                    data = json.dumps(
                        {"order": url.path.removeprefix("/orders/"), "status": "shipped", "received": body}
                    ).encode()
                elif url.path == "/fail":
                    status, content_type, data = 503, "text/plain", b"down for maintenance"
                else:
                    status, content_type, data = 404, "text/plain", b"no such endpoint"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True).start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.stop()


def order_tool(base: str, secret: Optional[str] = None) -> dict[str, Any]:
    """An inline webhook tool: a path parameter, a body parameter, a preset query parameter
    and a header from a dynamic variable, and (given a secret identifier) a secret header."""
    headers = [{"name": "X-Caller", "value": "{{caller}}"}]
    if secret is not None:
        headers.insert(
            0, {"name": "Authorization", "value": f"Bearer {{{{#integration_secret}}}}{secret}{{{{/integration_secret}}}}"}
        )
    return {
        "type": "webhook",
        "webhook": {
            "name": "get_order",
            "description": "Looks up an order",
            "url": f"{base}/orders/{{order_id}}",
            "method": "POST",
            "path_parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
            "body_parameters": {"type": "object", "properties": {"note": {"type": "string"}}},
            "preset_query_params": {"caller": "{{caller}}"},
            "headers": headers,
        },
    }


def make_secret(client: telnyx.Telnyx, token: str) -> str:
    """A new bearer integration secret; returns its identifier."""
    identifier = f"shop_{uuid.uuid4().hex[:12]}"
    with http_for(client) as http:
        created = http.post("/integration_secrets", json={"identifier": identifier, "type": "bearer", "token": token})
    assert created.status_code == 201, created.text
    return identifier


# --- /ai/tools ----------------------------------------------------------------------------


def test_create_retrieve_update_delete(client: telnyx.Telnyx) -> None:
    name = unique("Weather")
    config = webhook_config("weather", "https://api.example.com/weather", method="GET")
    raw = client.ai.tools.with_raw_response.create(
        display_name=name, type="webhook", timeout_ms=4000, webhook=config
    )
    assert raw.status_code == 200
    assert set(raw.json()) == {"id", "type", "display_name", "tool_definition", "timeout_ms", "created_at"}
    created = raw.parse()
    assert isinstance(created, SharedToolResponse)
    assert created.id.startswith("tool-")
    assert_recent(raw.json()["created_at"])
    assert (created.type, created.display_name, created.timeout_ms) == ("webhook", name, 4000)
    assert created.tool_definition == {"type": "webhook", "timeout_ms": 4000, "webhook": config}

    assert client.ai.tools.retrieve(created.id) == created

    # PATCH: the fields sent change, the rest stays.
    raw_update = client.ai.tools.with_raw_response.update(created.id, display_name="Forecast", timeout_ms=9000)
    assert raw_update.http_request.method == "PATCH"
    renamed = raw_update.parse()
    assert (renamed.id, renamed.created_at) == (created.id, created.created_at)
    assert (renamed.display_name, renamed.timeout_ms) == ("Forecast", 9000)
    assert renamed.tool_definition == {"type": "webhook", "timeout_ms": 9000, "webhook": config}

    # A sent configuration replaces the old one whole; the type may be repeated.
    replacement = webhook_config("forecast", "https://api.example.com/forecast")
    replaced = client.ai.tools.update(created.id, type="webhook", webhook=replacement)
    assert replaced.tool_definition == {"type": "webhook", "timeout_ms": 9000, "webhook": replacement}
    assert client.ai.tools.retrieve(created.id) == replaced
    assert client.ai.tools.update(created.id) == replaced, "an empty PATCH changes nothing"

    raw_delete = client.ai.tools.with_raw_response.delete(created.id)
    assert raw_delete.status_code == 200
    assert raw_delete.parse() is None
    with pytest.raises(telnyx.NotFoundError) as caught:
        client.ai.tools.retrieve(created.id)
    error = first_error(caught.value.body)
    assert error["code"] == "10005"
    assert error["source"]["pointer"] == "/tool_id"
    with pytest.raises(telnyx.NotFoundError):
        client.ai.tools.delete(created.id)


def test_list_is_paginated_with_meta_and_filtered(fresh_client: telnyx.Telnyx) -> None:
    page = fresh_client.ai.tools.list()
    assert page.data == []
    assert page.meta is not None and (page.meta.page_number, page.meta.total_pages) == (1, 0)

    # Webhooks at even positions, functions at odd ones.
    ids = [
        new_webhook_tool(fresh_client, display_name=f"Orders {i}").id
        if i % 2 == 0
        else fresh_client.ai.tools.create(
            display_name=f"Fn {i}", type="function", function={"name": f"f{i}", "parameters": {"type": "object"}}
        ).id
        for i in range(5)
    ]

    first = fresh_client.ai.tools.list(page_size=2)
    assert [t.id for t in first.data] == ids[:2], "oldest first"
    assert first.meta is not None and (first.meta.page_number, first.meta.total_pages) == (1, 3)
    with http_for(fresh_client) as http:
        raw = http.get("/ai/tools", params={"page[size]": 2, "page[number]": 2}).json()
    assert raw["meta"] == {"page_number": 2, "page_size": 2, "total_pages": 3, "total_results": 5}
    assert [t["id"] for t in raw["data"]] == ids[2:4]
    assert [t.id for t in fresh_client.ai.tools.list(page_size=2)] == ids, "auto-pagination walks every page"
    last = fresh_client.ai.tools.list(page_size=2, page_number=3)
    assert [t.id for t in last.data] == ids[4:]
    assert last.has_next_page() is False

    webhooks = fresh_client.ai.tools.list(filter_type="webhook")
    assert [t.id for t in webhooks] == [ids[0], ids[2], ids[4]]
    assert all(t.type == "webhook" for t in webhooks.data)
    assert [t.id for t in fresh_client.ai.tools.list(filter_name="fn ")] == [ids[1], ids[3]], "a part, any case"
    assert list(fresh_client.ai.tools.list(filter_type="hangup")) == []

    with pytest.raises(telnyx.BadRequestError) as caught:
        fresh_client.ai.tools.list(page_size=101)
    assert first_error(caught.value.body)["source"]["parameter"] == "page[size]"


@pytest.mark.parametrize(
    ("kwargs", "pointer"),
    [
        ({"display_name": "", "type": "hangup"}, "/display_name"),
        ({"display_name": "x", "type": "teleport"}, "/type"),
        ({"display_name": "x", "type": "webhook", "webhook": {"name": "w", "description": "d"}}, "/webhook/url"),
        ({"display_name": "x", "type": "webhook", "function": {"name": "f"}}, "/function"),
        ({"display_name": "x", "type": "hangup", "timeout_ms": -5}, "/timeout_ms"),
    ],
)
def test_invalid_creates_are_422_pointing_at_the_field(
    fresh_client: telnyx.Telnyx, kwargs: dict[str, Any], pointer: str
) -> None:
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        fresh_client.ai.tools.create(**kwargs)
    assert caught.value.status_code == 422
    assert first_error(caught.value.body)["code"] == "10016"
    assert pointer in error_pointers(caught.value.body)
    assert fresh_client.ai.tools.list().data == [], "nothing was written"


def test_invalid_updates_are_422_and_write_nothing(client: telnyx.Telnyx) -> None:
    tool = new_webhook_tool(client)
    for kwargs, pointer in [
        ({"type": "function"}, "/type"),
        ({"function": {"name": "f"}}, "/function"),
        ({"webhook": {"name": "w", "description": "no url"}}, "/webhook/url"),
        ({"timeout_ms": "soon"}, "/timeout_ms"),
    ]:
        with pytest.raises(telnyx.UnprocessableEntityError) as caught:
            client.ai.tools.update(tool.id, **kwargs)
        error = first_error(caught.value.body)
        assert error["code"] == "10016"
        assert error["source"]["pointer"] == pointer, (kwargs, caught.value.body)
    assert client.ai.tools.retrieve(tool.id) == tool


def test_unknown_and_foreign_tool_ids_are_404(client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    mine = new_webhook_tool(client)
    assistant = new_assistant(client)
    for call in (
        lambda c, tool: c.ai.tools.retrieve(tool),
        lambda c, tool: c.ai.tools.update(tool, display_name="x"),
        lambda c, tool: c.ai.tools.delete(tool),
    ):
        for c, tool in ((client, MISSING_TOOL), (other_client, mine.id)):
            with pytest.raises(telnyx.NotFoundError) as caught:
                call(c, tool)
            error = first_error(caught.value.body)
            assert (error["code"], error["source"]["pointer"]) == ("10005", "/tool_id")
    assert mine.id not in {t.id for t in other_client.ai.tools.list()}

    with pytest.raises(telnyx.NotFoundError) as caught:
        client.ai.assistants.tools.add(MISSING_TOOL, assistant_id=assistant.id)
    assert first_error(caught.value.body)["source"]["pointer"] == "/tool_id"
    with pytest.raises(telnyx.NotFoundError) as caught:
        client.ai.assistants.tools.add(mine.id, assistant_id=MISSING_ASSISTANT)
    assert first_error(caught.value.body)["code"] == "10005"
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.assistants.tools.add(mine.id, assistant_id=assistant.id)
    with pytest.raises(telnyx.NotFoundError):
        client.ai.assistants.tools.remove(mine.id, assistant_id=MISSING_ASSISTANT)
    assert client.ai.tools.retrieve(mine.id) == mine
    assert shared_ids(client.ai.assistants.retrieve(assistant.id)) == []


# --- attaching ------------------------------------------------------------------------------


def test_add_and_remove_attach_shared_tools_with_new_versions(client: telnyx.Telnyx) -> None:
    assistant = new_assistant(client, tools=[{"type": "hangup", "hangup": {}}])
    lookup = new_webhook_tool(client, timeout_ms=3000)

    raw = client.ai.assistants.tools.with_raw_response.add(lookup.id, assistant_id=assistant.id)
    assert raw.http_request.method == "PUT"
    assert raw.status_code == 200
    attached = raw.json()
    assert attached["id"] == assistant.id
    assert attached["version_id"] != assistant.version_id, "attaching writes a new main version"
    assert tool_types(attached) == [("hangup", False), ("webhook", True)]
    shared = attached["tools"][1]
    assert shared == {"type": "webhook", "webhook": lookup.tool_definition["webhook"], "timeout_ms": 3000,
                      "shared": True, "id": lookup.id}
    fetched = client.ai.assistants.retrieve(assistant.id)
    assert shared_ids(fetched) == [lookup.id]
    assert fetched.version_id == attached["version_id"]

    again = client.ai.assistants.tools.add(lookup.id, assistant_id=assistant.id)
    assert isinstance(again, dict)
    assert shared_ids(again) == [lookup.id], "attaching twice attaches once"

    # An edit of the shared tool reaches the assistant using it.
    client.ai.tools.update(lookup.id, webhook=webhook_config("lookup_v2"))
    assert client.ai.assistants.retrieve(assistant.id).tools[1].to_dict()["webhook"]["name"] == "lookup_v2"

    raw_remove = client.ai.assistants.tools.with_raw_response.remove(lookup.id, assistant_id=assistant.id)
    assert raw_remove.http_request.method == "DELETE"
    detached = raw_remove.json()
    assert tool_types(detached) == [("hangup", False)]
    assert shared_ids(client.ai.assistants.retrieve(assistant.id)) == []
    assert shared_ids(client.ai.assistants.tools.remove(lookup.id, assistant_id=assistant.id)) == [], "idempotent"
    assert client.ai.tools.retrieve(lookup.id).id == lookup.id, "detaching does not delete the tool"


def test_deleting_a_shared_tool_detaches_it(client: telnyx.Telnyx) -> None:
    lookup = new_webhook_tool(client)
    assistant = new_assistant(client, tool_ids=[lookup.id])
    assert shared_ids(assistant) == [lookup.id]
    client.ai.tools.delete(lookup.id)
    assert shared_ids(client.ai.assistants.retrieve(assistant.id)) == []


def test_a_second_single_instance_tool_is_400_duplicate(client: telnyx.Telnyx) -> None:
    assistant = new_assistant(client, tools=[{"type": "hangup", "hangup": {}}])
    hangup = client.ai.tools.create(display_name=unique("Bye"), type="hangup")
    with pytest.raises(telnyx.BadRequestError) as caught:
        client.ai.assistants.tools.add(hangup.id, assistant_id=assistant.id)
    error = first_error(caught.value.body)
    assert (error["code"], error["source"]["pointer"]) == ("10015", "/tool_id")
    assert "hangup" in error["detail"]
    after = client.ai.assistants.retrieve(assistant.id)
    assert after.version_id == assistant.version_id, "nothing was written"

    # Webhook tools are not single-instance: any number attach.
    for _ in range(2):
        client.ai.assistants.tools.add(new_webhook_tool(client).id, assistant_id=assistant.id)
    assert len(shared_ids(client.ai.assistants.retrieve(assistant.id))) == 2


# --- the test endpoint ----------------------------------------------------------------------


def test_tool_test_runs_an_inline_webhook_once(private_network_client: telnyx.Telnyx, webhook: Webhook) -> None:
    client = private_network_client
    secret = make_secret(client, "sk-shop-2")
    fail = {"type": "webhook", "webhook": webhook_config("fail", f"{webhook.base_url}/fail")}
    assistant = new_assistant(
        client,
        tools=[order_tool(webhook.base_url, secret), fail, {"type": "hangup", "hangup": {}}],
        dynamic_variables={"caller": "default"},
    )

    raw = client.ai.assistants.tools.with_raw_response.test(
        "get_order",
        assistant_id=assistant.id,
        arguments={"order_id": "9", "note": "gift wrap"},
        dynamic_variables={"caller": "+1999"},
    )
    assert raw.status_code == 200
    assert set(raw.json()["data"]) == {"success", "status_code", "content_type", "response", "request"}
    tested = raw.parse()
    assert isinstance(tested, ToolTestResponse)
    assert (tested.data.success, tested.data.status_code) == (True, 200)
    assert tested.data.content_type == "application/json"
    assert json.loads(tested.data.response) == {"order": "9", "status": "shipped", "received": {"note": "gift wrap"}}
    request = tested.data.request
    assert request["method"] == "POST"
    assert request["url"].startswith(f"{webhook.base_url}/orders/9?") and "caller=%2B1999" in request["url"]
    assert request["headers"]["Authorization"] == "***", "secret header values never show"
    assert request["headers"]["X-Caller"] == "+1999"
    assert request["body"] == {"note": "gift wrap"}
    assert "sk-shop-2" not in raw.http_response.text

    [hit] = webhook.hits()
    assert (hit.method, hit.path, hit.query) == ("POST", "/orders/9", {"caller": "+1999"})
    assert hit.headers["authorization"] == "Bearer sk-shop-2"
    assert hit.body == {"note": "gift wrap"}

    # Without dynamic_variables the assistant's defaults apply.
    default = client.ai.assistants.tools.test("get_order", assistant_id=assistant.id, arguments={"order_id": "10"})
    assert default.data.success is True
    assert webhook.hits()[-1].query == {"caller": "default"}

    # A non-2xx answer is a result, not an error.
    failed = client.ai.assistants.tools.test("fail", assistant_id=assistant.id)
    assert (failed.data.success, failed.data.status_code) == (False, 503)
    assert failed.data.response == "down for maintenance"
    assert len(webhook.hits()) == 3


def test_tool_test_runs_an_attached_shared_tool(private_network_client: telnyx.Telnyx, webhook: Webhook) -> None:
    client = private_network_client
    shared = new_webhook_tool(
        client,
        timeout_ms=2000,
        webhook=webhook_config(
            "lookup_order",
            f"{webhook.base_url}/orders/{{order_id}}",
            method="GET",
            path_parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        ),
    )
    assistant = new_assistant(client)
    with pytest.raises(telnyx.NotFoundError):
        client.ai.assistants.tools.test(shared.id, assistant_id=assistant.id, arguments={"order_id": "6"})
    assert webhook.hits() == [], "a tool the assistant does not hold is not run"

    client.ai.assistants.tools.add(shared.id, assistant_id=assistant.id)
    tested = client.ai.assistants.tools.test(shared.id, assistant_id=assistant.id, arguments={"order_id": "6"})
    assert (tested.data.success, tested.data.status_code) == (True, 200)
    assert tested.data.request["method"] == "GET"
    [hit] = webhook.hits()
    assert (hit.method, hit.path, hit.body) == ("GET", "/orders/6", None)


def test_private_addresses_are_refused_by_default(client: telnyx.Telnyx, webhook: Webhook) -> None:
    # A literal private URL is refused when saved…
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        new_assistant(client, tools=[order_tool(webhook.base_url)])
    error = first_error(caught.value.body)
    assert (error["code"], error["source"]["pointer"]) == ("10016", "/tools/0/webhook/url")
    assert "not a public address" in error["detail"]

    # …and one that only a variable makes private is refused when called: a result, not an error.
    port = webhook.base_url.rsplit(":", 1)[1]
    assistant = new_assistant(
        client, tools=[order_tool(f"http://{{{{host}}}}:{port}")], dynamic_variables={"host": "127.0.0.1"}
    )
    tested = client.ai.assistants.tools.test("get_order", assistant_id=assistant.id, arguments={"order_id": "1"})
    assert tested.data.success is False
    assert tested.data.status_code == 0 and tested.data.content_type == "text/plain", "never null, as the contract requires"
    assert "cannot be called" in tested.data.response and "not a public address" in tested.data.response
    assert webhook.hits() == [], "nothing reached the private address"


def test_tool_test_errors(client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    assistant = new_assistant(
        client, tools=[order_tool("https://api.example.com"), {"type": "hangup", "hangup": {}}]
    )
    for c, assistant_id, tool_id in (
        (client, assistant.id, "no_such_tool"),
        (client, MISSING_ASSISTANT, "get_order"),
        (other_client, assistant.id, "get_order"),
    ):
        with pytest.raises(telnyx.NotFoundError) as caught:
            c.ai.assistants.tools.test(tool_id, assistant_id=assistant_id)
        assert first_error(caught.value.body)["code"] == "10005"

    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.assistants.tools.test("get_order", assistant_id=assistant.id, arguments=[1])  # type: ignore[arg-type]
    error = first_error(caught.value.body)
    assert (error["code"], error["source"]["pointer"]) == ("10016", "/arguments")
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.assistants.tools.test("get_order", assistant_id=assistant.id, dynamic_variables="x")  # type: ignore[arg-type]
    assert error_pointers(caught.value.body) == ["/dynamic_variables"]

    # Only webhook tools can be tested; a hangup tool is addressed by its shared id only, so
    # attach one to check the refusal.
    hangup_assistant = new_assistant(client)
    hangup = client.ai.tools.create(display_name=unique("Bye"), type="hangup")
    client.ai.assistants.tools.add(hangup.id, assistant_id=hangup_assistant.id)
    with pytest.raises(telnyx.BadRequestError) as caught:
        client.ai.assistants.tools.test(hangup.id, assistant_id=hangup_assistant.id)
    error = first_error(caught.value.body)
    assert (error["code"], error["source"]["pointer"]) == ("10018", "/tool_id")
    assert "only webhook tools" in error["detail"]


@pytest.mark.asyncio
async def test_async_client_round_trip(async_client: telnyx.AsyncTelnyx) -> None:
    created = await async_client.ai.tools.create(
        display_name=unique("Async"), type="webhook", webhook=webhook_config(f"a_{uuid.uuid4().hex[:6]}")
    )
    assistant = await async_client.ai.assistants.create(name=unique("Async tools"), instructions="Help.")
    attached = await async_client.ai.assistants.tools.add(created.id, assistant_id=assistant.id)
    assert shared_ids(attached) == [created.id]
    detached = await async_client.ai.assistants.tools.remove(created.id, assistant_id=assistant.id)
    assert shared_ids(detached) == []
    page = await async_client.ai.tools.list(filter_name=created.display_name)
    assert [t.id for t in page.data] == [created.id]
    await async_client.ai.tools.delete(created.id)
    with pytest.raises(telnyx.NotFoundError):
        await async_client.ai.tools.retrieve(created.id)

