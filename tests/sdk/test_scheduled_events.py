"""Scheduled events and SMS through the SDK: ``client.ai.assistants.scheduled_events``
(create 201 as the discriminated union, retrieve, auto-paginated list with filters, delete,
the 400/422/404 errors) and ``client.ai.assistants.send_sms`` refusals that never reach a
carrier. Events are scheduled a day ahead, so the servers' workers never dispatch them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import telnyx
from telnyx.types.ai.assistants import ScheduledPhoneCallEventResponse, ScheduledSMSEventResponse

from sdk_support import first_error, http_for, unique

AGENT = "+13125550100"
USER = "+13125550101"


def _assistant(client: telnyx.Telnyx) -> str:
    return client.ai.assistants.create(name=unique("Scheduler"), instructions="x").id


def _tomorrow(hours: int = 0) -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=1, hours=hours)


def test_create_retrieve_list_delete(client: telnyx.Telnyx) -> None:
    assistant = _assistant(client)
    events = client.ai.assistants.scheduled_events
    sms = events.create(
        assistant,
        scheduled_at_fixed_datetime=_tomorrow(),
        telnyx_agent_target=AGENT,
        telnyx_end_user_target=USER,
        telnyx_conversation_channel="sms_chat",
        text="See you tomorrow",
        conversation_metadata={"campaign": "sdk", "wave": 1, "vip": True},
        dynamic_variables={"name": "Ada"},
    )
    assert isinstance(sms, ScheduledSMSEventResponse)
    assert sms.status == "pending" and sms.text == "See you tomorrow"
    assert sms.assistant_id == assistant and sms.scheduled_event_id
    assert sms.conversation_metadata == {"campaign": "sdk", "wave": 1, "vip": True}

    call = events.create(
        assistant,
        scheduled_at_fixed_datetime=_tomorrow(1).isoformat(),
        telnyx_agent_target=AGENT,
        telnyx_end_user_target=USER,
        telnyx_conversation_channel="phone_call",
        max_retries_client_errors=2,
        retry_interval_secs=120,
        call_settings={"sip_region": "Canada"},
    )
    assert isinstance(call, ScheduledPhoneCallEventResponse)
    assert call.call_attempts == [] and call.retry_interval_secs == 120
    assert call.call_settings is not None and call.call_settings.sip_region == "Canada"

    fetched = events.retrieve(sms.scheduled_event_id, assistant_id=assistant)
    assert isinstance(fetched, ScheduledSMSEventResponse)
    assert fetched.scheduled_event_id == sms.scheduled_event_id

    third = events.create(
        assistant,
        scheduled_at_fixed_datetime=_tomorrow(2),
        telnyx_agent_target=AGENT,
        telnyx_end_user_target=USER,
        telnyx_conversation_channel="sms_chat",
        text="Later",
    )
    listed = [e.scheduled_event_id for e in events.list(assistant, page_size=1)]
    assert listed == [sms.scheduled_event_id, call.scheduled_event_id, third.scheduled_event_id]
    only_sms = [e.scheduled_event_id for e in events.list(assistant, conversation_channel="sms_chat")]
    assert only_sms == [sms.scheduled_event_id, third.scheduled_event_id]
    window = events.list(assistant, from_date=_tomorrow(1) - timedelta(minutes=1), to_date=_tomorrow(3))
    assert [e.scheduled_event_id for e in window] == [call.scheduled_event_id, third.scheduled_event_id]

    events.delete(sms.scheduled_event_id, assistant_id=assistant)
    with pytest.raises(telnyx.NotFoundError):
        events.retrieve(sms.scheduled_event_id, assistant_id=assistant)


def test_create_returns_201(client: telnyx.Telnyx) -> None:
    assistant = _assistant(client)
    with http_for(client) as http:
        created = http.post(
            f"/ai/assistants/{assistant}/scheduled_events",
            json={
                "scheduled_at_fixed_datetime": _tomorrow().isoformat(),
                "telnyx_agent_target": AGENT,
                "telnyx_end_user_target": USER,
                "telnyx_conversation_channel": "sms_chat",
                "text": "hi",
            },
        )
        assert created.status_code == 201, created.text
        listed = http.get(f"/ai/assistants/{assistant}/scheduled_events")
        assert listed.json()["meta"] == {"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 1}


def test_invalid_events_are_refused(client: telnyx.Telnyx) -> None:
    assistant = _assistant(client)
    events = client.ai.assistants.scheduled_events
    base = dict(telnyx_agent_target=AGENT, telnyx_end_user_target=USER)
    with pytest.raises(telnyx.BadRequestError) as past:
        events.create(
            assistant,
            scheduled_at_fixed_datetime=datetime.now(timezone.utc) - timedelta(hours=1),
            telnyx_conversation_channel="sms_chat",
            text="late",
            **base,
        )
    assert first_error(past.value.body)["source"]["pointer"] == "/scheduled_at_fixed_datetime"
    with pytest.raises(telnyx.BadRequestError) as no_text:
        events.create(assistant, scheduled_at_fixed_datetime=_tomorrow(), telnyx_conversation_channel="sms_chat", **base)
    assert first_error(no_text.value.body)["source"]["pointer"] == "/text"
    with pytest.raises(telnyx.UnprocessableEntityError):
        events.create(
            assistant,
            scheduled_at_fixed_datetime=_tomorrow(),
            telnyx_conversation_channel="fax",  # type: ignore[arg-type]
            text="x",
            **base,
        )
    with pytest.raises(telnyx.UnprocessableEntityError):
        events.create(
            assistant,
            scheduled_at_fixed_datetime=_tomorrow(),
            telnyx_conversation_channel="phone_call",
            max_retries_client_errors=11,
            retry_interval_secs=60,
            **base,
        )
    with pytest.raises(telnyx.NotFoundError):
        events.create(
            "assistant-missing",
            scheduled_at_fixed_datetime=_tomorrow(),
            telnyx_conversation_channel="sms_chat",
            text="x",
            **base,
        )
    with pytest.raises(telnyx.NotFoundError):
        events.retrieve("no-such-event", assistant_id=assistant)


def test_send_sms_refusals(client: telnyx.Telnyx) -> None:
    assistant = _assistant(client)
    with pytest.raises(telnyx.UnprocessableEntityError) as bad:
        client.ai.assistants.send_sms(assistant, from_="not-a-number", to=USER, text="hi")
    assert first_error(bad.value.body)["source"]["pointer"] == "/from"
    with pytest.raises(telnyx.NotFoundError):
        client.ai.assistants.send_sms("assistant-missing", from_=AGENT, to=USER, text="hi")
