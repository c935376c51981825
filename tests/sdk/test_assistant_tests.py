"""Assistant tests through the official SDK: ``client.ai.assistants.tests`` create / retrieve /
update / list (``{data, meta}``, auto-paginated) / delete, ``tests.test_suites.list``, and
runs: ``tests.runs.trigger`` (201, ``pending`` at once) / ``list`` / ``retrieve`` and
``tests.test_suites.runs.trigger`` (a bare array) / ``list``.

The servers' default model is the suite's echoing LLM stub, which also plays the simulated
user and the judge here: it answers no JSON, so runs end with their rubric items ``error``;
what is checked is that the SDK reads every shape and that runs reach a final status."""

from __future__ import annotations

import time
import uuid

import pytest
import telnyx
from telnyx.types.ai.assistants import AssistantTest
from telnyx.types.ai.assistants.tests import TestRunResponse as RunResponse

from sdk_support import assert_recent, first_error, unique

FINAL = {"passed", "failed", "error"}


def make_assistant(client: telnyx.Telnyx) -> str:
    return client.ai.assistants.create(name=unique("Tested"), instructions="Help.").id


def make_test(client: telnyx.Telnyx, assistant: str, suite: str | None = None, **extra) -> AssistantTest:
    kwargs = dict(
        name=unique("Refund"),
        destination=assistant,
        instructions="You want a refund for shoes that do not fit.",
        rubric=[{"name": "Policy", "criteria": "The agent explains the refund policy."}],
        **extra,
    )
    if suite is not None:
        kwargs["test_suite"] = suite
    return client.ai.assistants.tests.create(**kwargs)


def wait_until_final(client: telnyx.Telnyx, test_id: str, run_id: str) -> RunResponse:
    deadline = time.monotonic() + 60
    while True:
        run = client.ai.assistants.tests.runs.retrieve(run_id, test_id=test_id)
        if run.status in FINAL:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run.status}"
        time.sleep(0.1)


def test_create_retrieve_update_list_delete(client: telnyx.Telnyx) -> None:
    assistant = make_assistant(client)
    suite = unique("suite")
    raw = client.ai.assistants.tests.with_raw_response.create(
        name="Refund",
        destination=assistant,
        instructions="You want a refund.",
        rubric=[{"name": "Policy", "criteria": "Explains the policy."}],
        description="Refunds",
        max_duration_seconds=60,
        test_suite=suite,
    )
    assert raw.status_code == 201
    created = raw.parse()
    assert isinstance(created, AssistantTest)
    assert uuid.UUID(created.test_id)
    assert_recent(raw.json()["created_at"])
    assert created.telnyx_conversation_channel == "web_chat"
    assert created.rubric[0].name == "Policy" and created.rubric[0].criteria == "Explains the policy."
    assert (created.max_duration_seconds, created.test_suite, created.destination) == (60, suite, assistant)
    assert client.ai.assistants.tests.retrieve(created.test_id) == created

    updated = client.ai.assistants.tests.update(created.test_id, name="Refund v2", max_duration_seconds=30)
    assert (updated.name, updated.max_duration_seconds, updated.description) == ("Refund v2", 30, "Refunds")

    others = [make_test(client, assistant, suite) for _ in range(2)]
    listed = client.ai.assistants.tests.list(test_suite=suite, page_size=2)
    assert [t.test_id for t in listed] == [created.test_id] + [t.test_id for t in others], (
        "auto-pagination walks every page, oldest first"
    )
    assert suite in client.ai.assistants.tests.test_suites.list().data

    raw_delete = client.ai.assistants.tests.with_raw_response.delete(created.test_id)
    assert raw_delete.status_code == 200
    with pytest.raises(telnyx.NotFoundError) as caught:
        client.ai.assistants.tests.retrieve(created.test_id)
    assert first_error(caught.value.body)["code"] == "10005"


def test_validation_errors_are_422_with_pointers(client: telnyx.Telnyx) -> None:
    assistant = make_assistant(client)
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.assistants.tests.create(
            name="x" * 256, destination=assistant, instructions="i", rubric=[{"name": "a", "criteria": "b"}]
        )
    assert first_error(caught.value.body)["source"]["pointer"] == "/name"
    with pytest.raises(telnyx.UnprocessableEntityError) as caught:
        client.ai.assistants.tests.create(name="n", destination=assistant, instructions="i", rubric=[])
    assert first_error(caught.value.body)["source"]["pointer"] == "/rubric"


def test_a_run_is_pending_at_once_then_reaches_a_final_status(client: telnyx.Telnyx) -> None:
    assistant = make_assistant(client)
    test = make_test(client, assistant)
    raw = client.ai.assistants.tests.runs.with_raw_response.trigger(test.test_id)
    assert raw.status_code == 201
    run = raw.parse()
    assert isinstance(run, RunResponse)
    assert run.status == "pending" and run.test_id == test.test_id and run.triggered_by
    assert [(d.name, d.status) for d in run.detail_status] == [("Policy", "pending")]

    done = wait_until_final(client, test.test_id, run.run_id)
    assert done.completed_at is not None and done.conversation_id and done.logs
    assert [d.name for d in done.detail_status] == ["Policy"]
    runs = list(client.ai.assistants.tests.runs.list(test.test_id, status="completed"))
    assert [r.run_id for r in runs] == [run.run_id]

    with pytest.raises(telnyx.BadRequestError) as caught:
        client.ai.assistants.tests.runs.trigger(test.test_id, destination_version_id="version-nope")
    assert first_error(caught.value.body)["source"]["pointer"] == "/destination_version_id"


def test_a_suite_run_is_a_bare_array_sharing_one_suite_run_id(client: telnyx.Telnyx) -> None:
    assistant = make_assistant(client)
    suite = unique("nightly")
    tests = [make_test(client, assistant, suite) for _ in range(3)]
    raw = client.ai.assistants.tests.test_suites.runs.with_raw_response.trigger(suite)
    assert raw.status_code == 201
    assert isinstance(raw.json(), list)
    runs = raw.parse()
    assert sorted(r.test_id for r in runs) == sorted(t.test_id for t in tests)
    suite_run = runs[0].test_suite_run_id
    assert suite_run and all(r.test_suite_run_id == suite_run for r in runs)
    for r in runs:
        wait_until_final(client, r.test_id, r.run_id)
    listed = list(
        client.ai.assistants.tests.test_suites.runs.list(suite, test_suite_run_id=suite_run, page_size=2)
    )
    assert sorted(r.run_id for r in listed) == sorted(r.run_id for r in runs)
    with pytest.raises(telnyx.NotFoundError):
        client.ai.assistants.tests.test_suites.runs.trigger(unique("no-such-suite"))
