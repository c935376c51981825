"""``/v2/ai/conversations`` through the official SDK: create, retrieve, update (merge),
delete, list filters, messages (added by hand or by chat) and their pagination."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import telnyx
from telnyx.types.ai import Conversation

from llm_stub import LlmStub
from sdk_support import DEFAULT_MODEL, assert_recent, first_error, unique


def conversation_id() -> str:
    return f"sdk-conv-{uuid.uuid4().hex}"


def echo(system: str, user: str) -> str:
    return f"system: {system} | user: {user}"


def words(text: str) -> int:
    return len(text.split())


# --- create / retrieve / update / delete ----------------------------------------------------


def test_create_retrieve_update_delete(client: telnyx.Telnyx) -> None:
    name = unique("Support thread")
    created = client.ai.conversations.create(name=name, metadata={"customer": "ada", "tier": "gold"})
    assert isinstance(created, Conversation)
    assert uuid.UUID(created.id), "conversation ids are UUIDs"
    assert created.name == name
    assert created.metadata == {"customer": "ada", "tier": "gold"}
    assert_recent(created.created_at.isoformat())

    fetched = client.ai.conversations.retrieve(created.id).data
    assert fetched is not None
    assert (fetched.id, fetched.name, fetched.metadata) == (created.id, name, created.metadata)
    assert fetched.created_at == created.created_at

    updated = client.ai.conversations.update(created.id, metadata={"tier": "platinum", "region": "eu"}).data
    assert updated is not None
    assert updated.metadata == {"customer": "ada", "tier": "platinum", "region": "eu"}, "update merges"
    assert updated.name == name

    removed = client.ai.conversations.update(created.id, metadata={"customer": None}).data  # type: ignore[dict-item]
    assert removed is not None and removed.metadata == {"tier": "platinum", "region": "eu"}, "null removes a key"
    unchanged = client.ai.conversations.update(created.id).data
    assert unchanged is not None and unchanged.metadata == removed.metadata

    assert client.ai.conversations.delete(created.id) is None
    with pytest.raises(telnyx.NotFoundError) as missing:
        client.ai.conversations.retrieve(created.id)
    assert first_error(missing.value.body)["source"]["pointer"] == "/conversation_id"
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.delete(created.id)
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.update(created.id, metadata={"x": "y"})


def test_create_without_anything(client: telnyx.Telnyx) -> None:
    created = client.ai.conversations.create()
    assert created.metadata == {} and created.name is None
    raw = client.ai.conversations.with_raw_response.retrieve(created.id)
    assert "name" not in raw.json()["data"], "an unset name is omitted"


def test_metadata_numbers_and_booleans_are_stored_as_text(client: telnyx.Telnyx) -> None:
    created = client.ai.conversations.create(metadata={"count": 3, "flag": True})  # type: ignore[dict-item]
    assert created.metadata == {"count": "3", "flag": "true"}


def test_metadata_objects_are_refused(client: telnyx.Telnyx) -> None:
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.conversations.create(metadata={"nested": {"a": 1}})  # type: ignore[dict-item]
    assert first_error(caught.value.body)["source"]["pointer"] == "/metadata/nested"


def test_other_organizations_cannot_see_a_conversation(
    client: telnyx.Telnyx, other_client: telnyx.Telnyx
) -> None:
    created = client.ai.conversations.create(name=unique("Private"))
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.conversations.retrieve(created.id)
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.conversations.add_message(created.id, role="user", content="hi")
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.conversations.messages.list(created.id)
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.conversations.delete(created.id)
    assert created.id not in {c.id for c in other_client.ai.conversations.list().data}
    assert client.ai.conversations.retrieve(created.id).data is not None


# --- list ------------------------------------------------------------------------------------


def test_list_filters_by_metadata_name_and_id(fresh_client: telnyx.Telnyx) -> None:
    client = fresh_client
    tag = uuid.uuid4().hex
    a = client.ai.conversations.create(name=f"alpha {tag}", metadata={"team": tag, "lane": "a"})
    b = client.ai.conversations.create(name=f"beta {tag}", metadata={"team": tag, "lane": "b"})
    client.ai.conversations.create(name=f"gamma {tag}", metadata={"team": "other"})

    by_team = client.ai.conversations.list(extra_query={"metadata->team": f"eq.{tag}"}).data
    assert sorted(c.id for c in by_team) == sorted([a.id, b.id])
    by_name = client.ai.conversations.list(name=f"eq.beta {tag}").data
    assert [c.id for c in by_name] == [b.id]
    by_id = client.ai.conversations.list(id=f"eq.{a.id}").data
    assert [c.id for c in by_id] == [a.id]
    either = client.ai.conversations.list(or_=f"(id.eq.{a.id},id.eq.{b.id})").data
    assert sorted(c.id for c in either) == sorted([a.id, b.id])

    newest_first = client.ai.conversations.list().data
    assert len(newest_first) == 3
    assert [c.created_at for c in newest_first] == sorted((c.created_at for c in newest_first), reverse=True)
    oldest_first = client.ai.conversations.list(order="created_at.asc").data
    assert [c.created_at for c in oldest_first] == sorted(c.created_at for c in oldest_first)
    assert len(client.ai.conversations.list(limit=2).data) == 2


def test_list_with_a_bad_filter_is_a_bad_request(client: telnyx.Telnyx) -> None:
    with pytest.raises(telnyx.BadRequestError):
        client.ai.conversations.list(order="created_at.sideways")


def test_chat_conversations_are_listed_by_assistant_channel_and_version(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = client.ai.assistants.create(name=unique("Listed"), instructions="x")
    other = client.ai.assistants.create(name=unique("Not listed"), instructions="x")
    first, second = conversation_id(), conversation_id()
    client.ai.assistants.chat(assistant.id, content="one", conversation_id=first)
    client.ai.assistants.chat(assistant.id, content="two", conversation_id=second)
    client.ai.assistants.chat(other.id, content="three", conversation_id=conversation_id())

    listed = client.ai.conversations.list(metadata_assistant_id=f"eq.{assistant.id}").data
    assert sorted(c.id for c in listed) == sorted([first, second])
    for conversation in listed:
        assert conversation.metadata["assistant_id"] == assistant.id
        assert conversation.metadata["assistant_version_id"] == assistant.version_id
        assert conversation.metadata["telnyx_conversation_channel"] == "web_chat"
        assert conversation.last_message_at >= conversation.created_at

    by_version = client.ai.conversations.list(metadata_assistant_version_id=f"eq.{assistant.version_id}").data
    assert sorted(c.id for c in by_version) == sorted([first, second])
    web = client.ai.conversations.list(
        metadata_assistant_id=f"eq.{assistant.id}", metadata_telnyx_conversation_channel="eq.web_chat"
    ).data
    assert len(web) == 2
    assert client.ai.conversations.list(
        metadata_assistant_id=f"eq.{assistant.id}", metadata_telnyx_conversation_channel="eq.phone_call"
    ).data == []


# --- messages --------------------------------------------------------------------------------


def test_the_messages_of_a_chat_carry_a_trace(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = client.ai.assistants.create(name=unique("Traced"), instructions="Trace me.")
    conversation = conversation_id()
    marker = unique("traced message")
    answer = client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation)

    page = client.ai.conversations.messages.list(conversation)
    assert [(m.role, m.text) for m in page.data] == [("user", marker), ("assistant", answer.content)]
    assert page.meta is not None and (page.meta.page_number, page.meta.total_pages) == (1, 1)
    user, reply = page.data
    assert user.created_at is not None and reply.created_at is not None
    assert user.created_at <= reply.created_at
    assert user.sent_at is not None

    trace = reply.metadata
    assert trace is not None
    assert trace["model"] == DEFAULT_MODEL
    assert trace["assistant_version_id"] == assistant.version_id
    assert trace["fallback_used"] is False
    # The stub counts words: the prompt is the system prompt and the user message.
    assert trace["prompt_tokens"] == words("Trace me.") + words(marker)
    assert trace["completion_tokens"] == words(answer.content)
    assert isinstance(trace["latency_ms"], int) and trace["latency_ms"] >= 0


def test_add_message_then_it_is_listed(client: telnyx.Telnyx) -> None:
    created = client.ai.conversations.create(name=unique("Manual"))
    sent_at = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    assert client.ai.conversations.add_message(created.id, role="user", content="Is it open?", sent_at=sent_at) is None
    client.ai.conversations.add_message(
        created.id,
        role="assistant",
        content="",
        tool_calls=[{"id": "call-1", "type": "function", "function": {"name": "hours", "arguments": "{\"day\":\"mon\"}"}}],
    )
    client.ai.conversations.add_message(created.id, role="tool", content="9-17", tool_call_id="call-1")
    client.ai.conversations.add_message(
        created.id, role="assistant", content="Open 9 to 17.", metadata={"source": "agent", "score": 3}
    )

    messages = list(client.ai.conversations.messages.list(created.id))
    assert [(m.role, m.text) for m in messages] == [
        ("user", "Is it open?"),
        ("assistant", ""),
        ("tool", "9-17"),
        ("assistant", "Open 9 to 17."),
    ]
    assert messages[0].sent_at == sent_at
    assert messages[1].tool_calls is not None
    [call] = messages[1].tool_calls
    assert (call.id, call.type, call.function.name, call.function.arguments) == (
        "call-1",
        "function",
        "hours",
        "{\"day\":\"mon\"}",
    )
    assert messages[2].to_dict().get("tool_call_id") == "call-1"
    assert messages[3].metadata == {"source": "agent", "score": 3}

    after = client.ai.conversations.retrieve(created.id).data
    assert after is not None and after.last_message_at >= created.last_message_at


def test_add_message_refusals(client: telnyx.Telnyx) -> None:
    created = client.ai.conversations.create()
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.add_message(f"missing-{uuid.uuid4().hex}", role="user", content="hi")
    with pytest.raises(telnyx.UnprocessableEntityError) as bad_role:
        client.ai.conversations.add_message(created.id, role="narrator", content="hi")
    assert first_error(bad_role.value.body)["source"]["pointer"] == "/role"
    with pytest.raises(telnyx.UnprocessableEntityError) as no_call_id:
        client.ai.conversations.add_message(created.id, role="tool", content="result")
    assert first_error(no_call_id.value.body)["source"]["pointer"] == "/tool_call_id"
    assert list(client.ai.conversations.messages.list(created.id)) == []


def test_messages_paginate_with_page_size(client: telnyx.Telnyx) -> None:
    created = client.ai.conversations.create(name=unique("Paged"))
    texts = [f"message {i}" for i in range(7)]
    for i, text in enumerate(texts):
        client.ai.conversations.add_message(created.id, role="user" if i % 2 == 0 else "assistant", content=text)

    first = client.ai.conversations.messages.list(created.id, page_size=3)
    assert [m.text for m in first.data] == texts[:3]
    assert first.meta is not None and (first.meta.page_number, first.meta.total_pages) == (1, 3)
    assert first.has_next_page()
    last = client.ai.conversations.messages.list(created.id, page_size=3, page_number=3)
    assert [m.text for m in last.data] == texts[6:]
    assert not last.has_next_page()

    walked = [m.text for m in client.ai.conversations.messages.list(created.id, page_size=3)]
    assert walked == texts, "auto-pagination walks every page, oldest first, and stops"
    pages = list(client.ai.conversations.messages.list(created.id, page_size=3).iter_pages())
    assert [len(p.data) for p in pages] == [3, 3, 1]


@pytest.mark.asyncio
async def test_async_messages_auto_paginate(async_client: telnyx.AsyncTelnyx) -> None:
    created = await async_client.ai.conversations.create(name=unique("Async paged"))
    for i in range(5):
        await async_client.ai.conversations.add_message(created.id, role="user", content=f"async {i}")
    texts = [m.text async for m in async_client.ai.conversations.messages.list(created.id, page_size=2)]
    assert texts == [f"async {i}" for i in range(5)]


def test_messages_of_a_missing_conversation_are_not_found(client: telnyx.Telnyx) -> None:
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.messages.list(f"missing-{uuid.uuid4().hex}")


# --- conversations created through the API, then chat ------------------------------------


def test_chat_binds_a_created_conversation_and_sees_added_messages(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = client.ai.assistants.create(name=unique("Binder"), instructions="Bound.")
    created = client.ai.conversations.create(name=unique("Prepared"), metadata={"customer": "ada"})
    client.ai.conversations.add_message(created.id, role="user", content="My name is Ada.")
    client.ai.conversations.add_message(created.id, role="assistant", content="Hello Ada.")

    marker = unique("what is my name")
    answer = client.ai.assistants.chat(assistant.id, content=marker, conversation_id=created.id)
    assert answer.content == echo("Bound.", marker)
    [sent] = llm.requests(containing=marker)
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [
        ("system", "Bound."),
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", marker),
    ]

    bound = client.ai.conversations.retrieve(created.id).data
    assert bound is not None and bound.name == created.name
    assert bound.metadata == {
        "customer": "ada",
        "assistant_id": assistant.id,
        "assistant_version_id": assistant.version_id,
        "telnyx_conversation_channel": "web_chat",
    }
    assert [m.text for m in client.ai.conversations.messages.list(created.id)] == [
        "My name is Ada.",
        "Hello Ada.",
        marker,
        answer.content,
    ]


def test_messages_added_to_a_chat_conversation_join_its_history(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = client.ai.assistants.create(name=unique("Handover"), instructions="x")
    conversation = conversation_id()
    client.ai.assistants.chat(assistant.id, content="first", conversation_id=conversation)
    client.ai.conversations.add_message(conversation, role="assistant", content="(a human agent wrote this)")
    marker = unique("next")
    client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation)
    [sent] = llm.requests(containing=marker)
    assert [(m["role"], m["content"]) for m in sent["messages"]][-2:] == [
        ("assistant", "(a human agent wrote this)"),
        ("user", marker),
    ]


def test_a_deleted_conversation_starts_over(client: telnyx.Telnyx, llm: LlmStub) -> None:
    assistant = client.ai.assistants.create(name=unique("Forgetful"), instructions="x")
    conversation = conversation_id()
    client.ai.assistants.chat(assistant.id, content="remember me", conversation_id=conversation)
    client.ai.conversations.delete(conversation)
    with pytest.raises(telnyx.NotFoundError):
        client.ai.conversations.messages.list(conversation)

    marker = unique("fresh")
    client.ai.assistants.chat(assistant.id, content=marker, conversation_id=conversation)
    [sent] = llm.requests(containing=marker)
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert [m.text for m in client.ai.conversations.messages.list(conversation)] == [marker, echo("x", marker)]
