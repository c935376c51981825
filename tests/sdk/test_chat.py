"""``POST /v2/ai/assistants/{id}/chat`` through the official SDK, answered by the suite's LLM
stub (``llm_stub.py``): the stub echoes ``system: <system prompt> | user: <last user
message>``, so an answer shows what Parley sent the model."""

from __future__ import annotations

import json
import uuid
from typing import Any, Optional

import httpx
import pytest
import telnyx

from llm_stub import LlmStub
from sdk_support import DEFAULT_MODEL, REQUEST_TIMEOUT_SECS, first_error, http_for, unique


def conversation_id() -> str:
    """A conversation id no other test uses."""
    return f"sdk-chat-{uuid.uuid4().hex}"


def echo(system: str, user: str) -> str:
    """What the stub answers to a system prompt and a user message."""
    return f"system: {system} | user: {user}"


def new_assistant(client: telnyx.Telnyx, instructions: str = "Be brief.", **fields: Any):
    return client.ai.assistants.create(name=unique("Chat"), instructions=instructions, **fields)


def messages_of(client: telnyx.Telnyx, conversation: str) -> list[tuple[str, str]]:
    return [(m.role, m.text) for m in client.ai.conversations.messages.list(conversation)]


def roles_and_texts(request: dict[str, Any]) -> list[tuple[str, str]]:
    """The (role, content) of each message an upstream request carried."""
    return [(m["role"], m.get("content") or "") for m in request["messages"]]


def read_sse(response: httpx.Response) -> list[tuple[str, Any]]:
    """The (event, parsed data) pairs of a ``text/event-stream`` response (comments and
    keep-alives skipped)."""
    events: list[tuple[str, Any]] = []
    name: Optional[str] = None
    data: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if data:
                events.append((name or "message", json.loads("\n".join(data))))
            name, data = None, []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].lstrip(" "))
    if data:
        events.append((name or "message", json.loads("\n".join(data))))
    return events


def stream_chat(
    client: telnyx.Telnyx, assistant_id: str, content: str, conversation: str
) -> tuple[httpx.Response, list[tuple[str, Any]]]:
    """A ``stream: true`` chat over raw HTTP (the SDK's ``chat()`` does not parse SSE)."""
    with http_for(client) as http:
        with http.stream(
            "POST",
            f"/ai/assistants/{assistant_id}/chat",
            json={"content": content, "conversation_id": conversation, "stream": True},
            headers={"Accept": "text/event-stream"},
        ) as response:
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                return response, read_sse(response)
            response.read()
            return response, []


# --- answers ------------------------------------------------------------------------------


def test_chat_answers_with_the_rendered_instructions(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(
        client,
        instructions="Help {{customer}} on {{telnyx_conversation_channel}}; keep {{not_a_variable}}.",
        dynamic_variables={"customer": "Ada"},
    )
    marker = unique("hello")
    answer = client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation_id())

    system = "Help Ada on web_chat; keep {{not_a_variable}}."
    assert answer.content == echo(system, marker)
    [sent] = llm.requests(containing=marker)
    assert roles_and_texts(sent) == [("system", system), ("user", marker)]
    assert sent["model"] == DEFAULT_MODEL, "an assistant without a model is served by the default model"
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_chat_asks_the_assistants_own_model(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client, model="openai/gpt-4o-mini")
    marker = unique("model")
    client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation_id())
    [sent] = llm.requests(containing=marker)
    assert sent["model"] == "openai/gpt-4o-mini", "the catch-all upstream gets the name as given"


def test_chat_answers_a_scripted_text_trimmed(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client)
    marker = unique("scripted")
    llm.script(text="  Exactly this answer.\n", when=marker)
    answer = client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation_id())
    assert answer.content == "Exactly this answer."


def test_chat_keeps_the_history_across_turns(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client, instructions="Remember everything.")
    conversation = conversation_id()
    first, second, third = unique("first"), unique("second"), unique("third")

    one = client.ai.assistants.chat(assistant.id, content=first, conversation_id=conversation)
    two = client.ai.assistants.chat(assistant.id, content=second, conversation_id=conversation)
    three = client.ai.assistants.chat(assistant.id, content=third, conversation_id=conversation)
    assert one.content == echo("Remember everything.", first)
    assert two.content == echo("Remember everything.", second)
    assert three.content == echo("Remember everything.", third)

    [sent] = llm.requests(containing=third)
    assert roles_and_texts(sent) == [
        ("system", "Remember everything."),
        ("user", first),
        ("assistant", one.content),
        ("user", second),
        ("assistant", two.content),
        ("user", third),
    ]
    assert messages_of(client, conversation) == [
        ("user", first),
        ("assistant", one.content),
        ("user", second),
        ("assistant", two.content),
        ("user", third),
        ("assistant", three.content),
    ]


def test_conversations_do_not_share_history(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client)
    a, b = conversation_id(), conversation_id()
    client.ai.assistants.chat(assistant.id, content=unique("in a"), conversation_id=a)
    marker = unique("in b")
    client.ai.assistants.chat(assistant.id, content=marker, conversation_id=b)
    [sent] = llm.requests(containing=marker)
    assert [role for role, _ in roles_and_texts(sent)] == ["system", "user"]


def test_chat_with_a_user_name_stores_it(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client)
    conversation = conversation_id()
    marker = unique("named")
    answer = client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation, name="Ada")
    assert answer.content == echo("Be brief.", marker)
    user = next(m for m in client.ai.conversations.messages.list(conversation) if m.role == "user")
    assert user.to_dict().get("name") == "Ada"


def test_the_first_chat_starts_the_conversation(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client)
    conversation = conversation_id()
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.retrieve(conversation)
    client.ai.assistants.chat(assistant.id, content=unique("start"), conversation_id=conversation)

    listed = client.ai.conversations.list(metadata_assistant_id=f"eq.{assistant.id}")
    assert [c.id for c in listed.data] == [conversation]
    metadata = listed.data[0].metadata
    assert metadata["assistant_id"] == assistant.id
    assert metadata["assistant_version_id"] == assistant.version_id
    assert metadata["telnyx_conversation_channel"] == "web_chat"
    fetched = client.ai.conversations.retrieve(conversation).data
    assert fetched is not None and fetched.id == conversation and fetched.metadata == metadata


def test_chat_serves_the_canary_version_and_sticks_to_it(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client, instructions="main version")
    draft = client.ai.assistants.update(assistant.id, instructions="canary version", promote_to_main=False)
    client.ai.assistants.canary_deploys.create(
        assistant.id,
        rules=[
            {
                "match": [{"attribute": "telnyx_conversation_channel", "operator": "in", "values": ["web_chat"]}],
                "serve": {"version_id": draft.version_id},
            }
        ],
    )
    conversation = conversation_id()
    first = unique("canary")
    assert client.ai.assistants.chat(assistant.id, content=first, conversation_id=conversation).content == echo(
        "canary version", first
    )
    fetched = client.ai.conversations.retrieve(conversation).data
    assert fetched is not None and fetched.metadata["assistant_version_id"] == draft.version_id

    client.ai.assistants.canary_deploys.delete(assistant.id)
    second = unique("sticky")
    assert client.ai.assistants.chat(assistant.id, content=second, conversation_id=conversation).content == echo(
        "canary version", second
    ), "a conversation stays on the version it started with"
    third = unique("new conversation")
    assert client.ai.assistants.chat(assistant.id, content=third, conversation_id=conversation_id()).content == echo(
        "main version", third
    )


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "   \n\t"])
def test_empty_content_is_a_bad_request(client: telnyx.Telnyx, llm: LlmStub, content: str) -> None:
    assistant = new_assistant(client)
    conversation = conversation_id()
    before = len(llm.requests())
    with pytest.raises(telnyx.BadRequestError) as caught:
        client.ai.assistants.chat(assistant.id, content=content, conversation_id=conversation)
    assert caught.value.status_code == 400
    assert first_error(caught.value.body)["source"]["pointer"] == "/content"
    assert len(llm.requests()) == before, "the model is not asked"
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.retrieve(conversation)


def test_chat_with_an_unknown_assistant_is_not_found(client: telnyx.Telnyx, llm: LlmStub) -> None:
    conversation = conversation_id()
    with pytest.raises(telnyx.NotFoundError) as caught:
        client.ai.assistants.chat("assistant-missing", content="hi", conversation_id=conversation)
    error = first_error(caught.value.body)
    assert error["code"] == "10005" and error["source"]["pointer"] == "/assistant_id"
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.retrieve(conversation)


def test_chat_with_another_organizations_assistant_is_not_found(
    client: telnyx.Telnyx, other_client: telnyx.Telnyx, llm: LlmStub
) -> None:
    assistant = new_assistant(client)
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.assistants.chat(assistant.id, content="hi", conversation_id=conversation_id())


def test_ai_disabled_refuses_chat_until_re_enabled(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client)
    conversation = conversation_id()
    first = unique("before")
    client.ai.assistants.chat(assistant.id, content=first, conversation_id=conversation)
    client.ai.conversations.update(conversation, metadata={"ai_disabled": "true"})

    blocked = unique("blocked")
    with pytest.raises(telnyx.BadRequestError) as caught:
        client.ai.assistants.chat(assistant.id, content=blocked, conversation_id=conversation)
    assert caught.value.status_code == 400
    assert first_error(caught.value.body)["source"]["pointer"] == "/conversation_id"
    assert llm.requests(containing=blocked) == [], "the model is not asked"
    assert [text for _, text in messages_of(client, conversation)] == [first, echo("Be brief.", first)]

    client.ai.conversations.update(conversation, metadata={"ai_disabled": "false"})
    again = unique("again")
    assert client.ai.assistants.chat(assistant.id, content=again, conversation_id=conversation).content == echo(
        "Be brief.", again
    )


def test_a_conversation_created_with_ai_disabled_refuses_chat(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client)
    created = client.ai.conversations.create(name=unique("Human only"), metadata={"ai_disabled": "true"})
    with pytest.raises(telnyx.BadRequestError):
        client.ai.assistants.chat(assistant.id, content="hello", conversation_id=created.id)
    assert messages_of(client, created.id) == []


def test_a_conversation_of_another_assistant_is_refused(client: telnyx.Telnyx, llm: LlmStub) -> None:
    owner, intruder = new_assistant(client), new_assistant(client)
    conversation = conversation_id()
    client.ai.assistants.chat(owner.id, content=unique("owner"), conversation_id=conversation)
    with pytest.raises(telnyx.BadRequestError) as caught:
        client.ai.assistants.chat(intruder.id, content="mine now", conversation_id=conversation)
    assert first_error(caught.value.body)["source"]["pointer"] == "/conversation_id"
    assert len(messages_of(client, conversation)) == 2


# --- upstream failures ----------------------------------------------------------------------


def test_an_upstream_failure_is_a_502_and_leaves_the_conversation_unchanged(
    client: telnyx.Telnyx, llm: LlmStub
) -> None:
    assistant = new_assistant(client)
    conversation = conversation_id()
    first = unique("ok")
    client.ai.assistants.chat(assistant.id, content=first, conversation_id=conversation)
    before = client.ai.conversations.retrieve(conversation).data
    assert before is not None

    failing = unique("failing")
    llm.script(status=500, when=failing)
    with pytest.raises(telnyx.InternalServerError) as caught:
        client.ai.assistants.chat(assistant.id, content=failing, conversation_id=conversation)
    assert caught.value.status_code == 502
    assert first_error(caught.value.body)["code"] == "10019"
    assert len(llm.requests(containing=failing)) == 1, "asked once: no retries"

    assert messages_of(client, conversation) == [("user", first), ("assistant", echo("Be brief.", first))]
    after = client.ai.conversations.retrieve(conversation).data
    assert after is not None and after.last_message_at == before.last_message_at
    assert after.metadata == before.metadata

    retry = unique("retry")
    answer = client.ai.assistants.chat(assistant.id, content=retry, conversation_id=conversation)
    assert answer.content == echo("Be brief.", retry)
    [sent] = llm.requests(containing=retry)
    assert failing not in json.dumps(sent["messages"]), "the failed turn is not part of the history"
    assert [text for _, text in messages_of(client, conversation)] == [
        first,
        echo("Be brief.", first),
        retry,
        echo("Be brief.", retry),
    ]


def test_a_failed_first_turn_creates_no_conversation(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client)
    conversation = conversation_id()
    marker = unique("first fails")
    llm.script(status=503, when=marker)
    with pytest.raises(telnyx.InternalServerError) as caught:
        client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation)
    assert caught.value.status_code == 502
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.retrieve(conversation)
    assert client.ai.conversations.list(metadata_assistant_id=f"eq.{assistant.id}").data == []

    answer = client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation)
    assert answer.content == echo("Be brief.", marker)


def test_the_fallback_model_answers_when_the_primary_fails(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client, model="sdk/primary", fallback_config={"model": "sdk/fallback"})
    conversation = conversation_id()
    marker = unique("fallback")
    llm.script(status=500, when=marker)
    answer = client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation)
    assert answer.content == echo("Be brief.", marker)
    assert [r["model"] for r in llm.requests(containing=marker)] == ["sdk/primary", "sdk/fallback"]
    trace = [m for m in client.ai.conversations.messages.list(conversation) if m.role == "assistant"][0].metadata
    assert trace is not None and trace["fallback_used"] is True and trace["model"] == "sdk/fallback"


def test_an_upstream_timeout_is_a_504(slow_llm_server, llm: LlmStub) -> None:
    with telnyx.Telnyx(
        api_key=slow_llm_server.api_key,
        base_url=slow_llm_server.api_base_url,
        max_retries=0,
        timeout=REQUEST_TIMEOUT_SECS,
    ) as client:
        assistant = new_assistant(client)
        conversation = conversation_id()
        marker = unique("slow")
        llm.script(delay=3.0, when=marker)
        with pytest.raises(telnyx.APIStatusError) as caught:
            client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation)
        assert caught.value.status_code == 504
        assert first_error(caught.value.body)["code"] == "10021"
        with pytest.raises(telnyx.NotFoundError):
            client.ai.conversations.retrieve(conversation)
        fast = unique("fast")
        answer = client.ai.assistants.chat(assistant.id, content=fast, conversation_id=conversation)
        assert answer.content == echo("Be brief.", fast)


# --- streaming ----------------------------------------------------------------------------


def test_stream_sends_deltas_then_done(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client, instructions="Stream {{telnyx_conversation_channel}} answers.")
    conversation = conversation_id()
    marker = unique("stream me please")
    response, events = stream_chat(client, assistant.id, marker, conversation)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    expected = echo("Stream web_chat answers.", marker)
    names = [name for name, _ in events]
    assert names[-1] == "done" and names.count("done") == 1
    assert set(names[:-1]) == {"delta"} and len(names) > 2, f"several deltas before done: {names}"
    assert "".join(data["content"] for name, data in events if name == "delta") == expected
    assert events[-1][1] == {"content": expected, "conversation_id": conversation, "whatsapp_template": None}
    assert messages_of(client, conversation) == [("user", marker), ("assistant", expected)]


def test_a_failure_before_the_stream_is_a_plain_json_error(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client)
    conversation = conversation_id()
    marker = unique("no stream")
    llm.script(status=500, when=marker)
    response, events = stream_chat(client, assistant.id, marker, conversation)
    assert response.status_code == 502 and events == []
    assert response.headers["content-type"].startswith("application/json")
    assert first_error(response.json())["code"] == "10019"
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.retrieve(conversation)


def test_a_failure_in_the_middle_of_the_stream_is_an_error_event(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = new_assistant(client)
    conversation = conversation_id()
    first = unique("kept")
    client.ai.assistants.chat(assistant.id, content=first, conversation_id=conversation)

    marker = unique("broken stream")
    llm.script(stream_error_after=2, when=marker)
    response, events = stream_chat(client, assistant.id, marker, conversation)
    assert response.status_code == 200
    names = [name for name, _ in events]
    assert names == ["delta", "delta", "error"], names
    assert first_error(events[-1][1])["code"] == "10019"
    assert messages_of(client, conversation) == [("user", first), ("assistant", echo("Be brief.", first))]

    after = unique("after")
    assert client.ai.assistants.chat(assistant.id, content=after, conversation_id=conversation).content == echo(
        "Be brief.", after
    )


def test_stream_refusals_are_plain_json_errors(client: telnyx.Telnyx, llm: LlmStub) -> None:
    response, events = stream_chat(client, "assistant-missing", "hi", conversation_id())
    assert response.status_code == 404 and events == []
    assistant = new_assistant(client)
    response, events = stream_chat(client, assistant.id, " ", conversation_id())
    assert response.status_code == 400 and events == []


# --- the async client, the model list -------------------------------------------------------


@pytest.mark.asyncio
async def test_async_chat(async_client: telnyx.AsyncTelnyx, llm: LlmStub) -> None:
    assistant = await async_client.ai.assistants.create(name=unique("Async chat"), instructions="Async {{who}}.",
                                                        dynamic_variables={"who": "helper"})
    conversation = conversation_id()
    first, second = unique("async one"), unique("async two")
    one = await async_client.ai.assistants.chat(assistant.id, content=first, conversation_id=conversation)
    two = await async_client.ai.assistants.chat(assistant.id, content=second, conversation_id=conversation)
    assert (one.content, two.content) == (echo("Async helper.", first), echo("Async helper.", second))
    texts = [m.text async for m in async_client.ai.conversations.messages.list(conversation)]
    assert texts == [first, one.content, second, two.content]
    with pytest.raises(telnyx.BadRequestError):
        await async_client.ai.assistants.chat(assistant.id, content="", conversation_id=conversation)


def test_models_lists_the_catch_all_upstream(http: httpx.Client) -> None:
    response = http.get("/ai/models")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list"
    by_id = {m["id"]: m for m in body["data"]}
    assert by_id["*"]["owned_by"] == "upstream" and by_id["*"]["object"] == "model"
    assert all(m["owned_by"] != "parley" for m in body["data"]), "the embedded model is disabled in the suite"
    assert http.get("/ai/openai/models").json() == body

