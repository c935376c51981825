"""The same operations through ``telnyx.AsyncTelnyx``."""

from __future__ import annotations

import asyncio

import pytest
import telnyx
from telnyx.types.ai import AssistantsList, InferenceEmbedding
from telnyx.types.ai.assistants import DeletedAssistant

from parley_payloads import expected_tools
from sdk_support import first_error, unique

pytestmark = pytest.mark.asyncio


async def test_async_lifecycle(async_client: telnyx.AsyncTelnyx) -> None:
    name = unique("Async")
    tools = [{"type": "hangup", "hangup": {"description": "Bye"}}]
    raw = await async_client.ai.assistants.with_raw_response.create(
        name=name, instructions="x", greeting="Hi", tools=tools, tags=["async"]
    )
    created = await raw.parse()
    assert isinstance(created, InferenceEmbedding)
    assert (await raw.json())["tools"] == expected_tools(tools)

    fetched = await async_client.ai.assistants.retrieve(created.id)
    assert (fetched.id, fetched.name, fetched.greeting, fetched.tags) == (created.id, name, "Hi", ["async"])

    listed = await async_client.ai.assistants.list()
    assert isinstance(listed, AssistantsList) and created.id in {a.id for a in listed.data}

    updated = await async_client.ai.assistants.update(created.id, greeting="Hello")
    assert updated.greeting == "Hello" and updated.version_id != created.version_id

    tags = await async_client.ai.assistants.tags.add(created.id, tag="more")
    assert tags.tags == ["async", "more"]

    clone = await async_client.ai.assistants.clone(created.id)
    assert clone.name == f"{name} (Clone)" and clone.greeting == "Hello"

    deleted = await async_client.ai.assistants.delete(created.id)
    assert deleted.deleted is True and deleted.id == created.id
    view = await async_client.ai.assistants.deleted.get(created.id)
    assert isinstance(view, DeletedAssistant) and view.deleted_at is not None
    restored = await async_client.ai.assistants.restore(created.id)
    assert restored.id == created.id and restored.greeting == "Hello"

    await async_client.ai.assistants.delete(clone.id, hard_delete=True)
    with pytest.raises(telnyx.NotFoundError):
        await async_client.ai.assistants.retrieve(clone.id)


async def test_async_errors_map_to_the_same_classes(async_client: telnyx.AsyncTelnyx, server) -> None:
    with pytest.raises(telnyx.NotFoundError) as missing:
        await async_client.ai.assistants.retrieve("assistant-missing")
    assert first_error(missing.value.body)["code"] == "10005"

    with pytest.raises(telnyx.UnprocessableEntityError) as invalid:
        await async_client.ai.assistants.create(name="x", instructions="x", dynamic_variables_webhook_timeout_ms=0)
    assert first_error(invalid.value.body)["source"]["pointer"] == "/dynamic_variables_webhook_timeout_ms"

    with pytest.raises(telnyx.BadRequestError) as duplicate:
        await async_client.ai.assistants.create(
            name="x", instructions="x", tools=[{"type": "vision", "vision": {}}, {"type": "vision", "vision": {}}]
        )
    assert first_error(duplicate.value.body)["code"] == "10015"

    async with telnyx.AsyncTelnyx(base_url=server.api_base_url, max_retries=0) as keyless:
        with pytest.raises(telnyx.AuthenticationError):
            await keyless.ai.assistants.list()


async def test_async_auto_pagination_of_the_deleted_list(server) -> None:
    key = server.create_key(unique("async-pages").replace(" ", "-"))
    async with telnyx.AsyncTelnyx(api_key=key, base_url=server.api_base_url, max_retries=0) as c:
        ids = [(await c.ai.assistants.create(name=f"Async page {i}", instructions="x")).id for i in range(5)]
        for assistant_id in ids:
            await c.ai.assistants.delete(assistant_id)
        collected = []
        async for assistant in c.ai.assistants.deleted.list(page_size=2):
            collected.append(assistant.id)
            assert len(collected) <= 5, "auto-pagination must stop after the last page"
        assert sorted(collected) == sorted(ids)


async def test_concurrent_creates_and_tag_additions(async_client: telnyx.AsyncTelnyx) -> None:
    prefix = unique("Concurrent")
    created = await asyncio.gather(
        *(async_client.ai.assistants.create(name=f"{prefix} {i}", instructions="x") for i in range(8))
    )
    assert len({a.id for a in created}) == 8
    listed = {a.id for a in (await async_client.ai.assistants.list()).data}
    assert {a.id for a in created} <= listed

    target = created[0].id
    await asyncio.gather(*(async_client.ai.assistants.tags.add(target, tag=f"t{i}") for i in range(10)))
    assert sorted((await async_client.ai.assistants.retrieve(target)).tags) == sorted(f"t{i}" for i in range(10))


async def test_concurrent_partial_updates_are_all_applied(async_client: telnyx.AsyncTelnyx) -> None:
    created = await async_client.ai.assistants.create(name=unique("Concurrent updates"), instructions="x")
    changes = {
        "greeting": "Hello",
        "description": "Described",
        "model": "openai/gpt-4o",
        "dynamic_variables_webhook_url": "https://vars.example.com/hook",
        "dynamic_variables_webhook_timeout_ms": 2000,
        "voice_settings": {"voice": "Telnyx.NaturalHD.astra"},
        "privacy_settings": {"data_retention": True},
        "enabled_features": ["messaging"],
    }
    await asyncio.gather(
        *(async_client.ai.assistants.update(created.id, **{field: value}) for field, value in changes.items())
    )
    with_raw = await async_client.ai.assistants.with_raw_response.retrieve(created.id)
    final = await with_raw.json()
    for field, value in changes.items():
        assert final[field] == value, f"the update of {field} was lost"
    assert final["instructions"] == "x"
