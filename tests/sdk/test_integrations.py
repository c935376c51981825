"""The integration catalogue and connections through the official SDK:
``client.ai.integrations.list/retrieve`` and ``client.ai.integrations.connections
.list/retrieve/delete``. Connections are made with Parley's extension
``POST /ai/integrations/connections`` (the SDK has no create), over raw HTTP."""

from __future__ import annotations

import uuid

import pytest
import telnyx
from telnyx.types.ai import Integration, IntegrationListResponse
from telnyx.types.ai.integrations import ConnectionListResponse, ConnectionRetrieveResponse, IntegrationConnection

from sdk_support import error_pointers, first_error, http_for

REQUIRED_CATALOGUE = ("hubspot", "zendesk", "salesforce", "google_calendar", "cal_com", "jira")


def make_secret(client: telnyx.Telnyx) -> str:
    identifier = f"int_{uuid.uuid4().hex[:12]}"
    with http_for(client) as http:
        created = http.post("/integration_secrets", json={"identifier": identifier, "type": "bearer", "token": "t"})
    assert created.status_code == 201, created.text
    return identifier


def connect(client: telnyx.Telnyx, **body) -> dict:
    with http_for(client) as http:
        reply = http.post("/ai/integrations/connections", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def test_catalogue_lists_and_retrieves(fresh_client: telnyx.Telnyx) -> None:
    listed = fresh_client.ai.integrations.list()
    assert isinstance(listed, IntegrationListResponse)
    by_id = {i.id: i for i in listed.data}
    for integration_id in REQUIRED_CATALOGUE:
        assert integration_id in by_id, f"{integration_id} missing"
    for integration in listed.data:
        assert isinstance(integration, Integration)
        assert integration.status == "disconnected"
        assert integration.available_tools and all(isinstance(t, str) for t in integration.available_tools)
        assert integration.name and integration.display_name and integration.description and integration.logo_url

    hubspot = fresh_client.ai.integrations.retrieve("hubspot")
    assert isinstance(hubspot, Integration)
    assert hubspot == by_id["hubspot"]
    assert hubspot.display_name == "HubSpot"
    with http_for(fresh_client) as http:
        raw = http.get("/ai/integrations/hubspot").json()
        assert "data" not in raw and raw["id"] == "hubspot", "a bare Integration"

    with pytest.raises(telnyx.NotFoundError) as caught:
        fresh_client.ai.integrations.retrieve("no-such-integration")
    assert first_error(caught.value.body)["source"]["pointer"] == "/integration_id"


def test_connection_lifecycle(fresh_client: telnyx.Telnyx) -> None:
    empty = fresh_client.ai.integrations.connections.list()
    assert isinstance(empty, ConnectionListResponse) and empty.data == []

    secret = make_secret(fresh_client)
    made = connect(fresh_client, integration_id="jira", api_key_ref=secret, base_url="https://acme.atlassian.net",
                   allowed_tools=["jira_get_issue", "jira_add_comment"])
    assert made["base_url"] == "https://acme.atlassian.net" and made["api_key_ref"] == secret

    listed = fresh_client.ai.integrations.connections.list()
    assert [c.id for c in listed.data] == [made["id"]]
    connection = listed.data[0]
    assert isinstance(connection, IntegrationConnection)
    assert (connection.integration_id, connection.allowed_tools) == ("jira", ["jira_get_issue", "jira_add_comment"])

    retrieved = fresh_client.ai.integrations.connections.retrieve(made["id"])
    assert isinstance(retrieved, ConnectionRetrieveResponse)
    assert retrieved.data == connection

    assert fresh_client.ai.integrations.retrieve("jira").status == "connected"
    statuses = {i.id: i.status for i in fresh_client.ai.integrations.list().data}
    assert statuses["jira"] == "connected"
    assert {s for i, s in statuses.items() if i != "jira"} == {"disconnected"}

    raw_delete = fresh_client.ai.integrations.connections.with_raw_response.delete(made["id"])
    assert raw_delete.status_code == 204
    assert raw_delete.parse() is None
    with pytest.raises(telnyx.NotFoundError) as caught:
        fresh_client.ai.integrations.connections.retrieve(made["id"])
    assert first_error(caught.value.body)["source"]["pointer"] == "/user_connection_id"
    with pytest.raises(telnyx.NotFoundError):
        fresh_client.ai.integrations.connections.delete(made["id"])
    assert fresh_client.ai.integrations.connections.list().data == []
    assert fresh_client.ai.integrations.retrieve("jira").status == "disconnected"


def test_connection_defaults_and_refusals(fresh_client: telnyx.Telnyx) -> None:
    secret = make_secret(fresh_client)
    made = connect(fresh_client, integration_id="hubspot", api_key_ref=secret)
    assert made["allowed_tools"] == fresh_client.ai.integrations.retrieve("hubspot").available_tools
    with http_for(fresh_client) as http:
        for body, pointers in (
            ({"integration_id": "hubspot", "api_key_ref": secret}, ["/integration_id"]),
            ({"integration_id": "nope", "api_key_ref": secret}, ["/integration_id"]),
            ({"integration_id": "cal_com", "api_key_ref": "no_such_secret"}, ["/api_key_ref"]),
            ({"integration_id": "cal_com", "api_key_ref": secret, "allowed_tools": ["jira_get_issue"]}, ["/allowed_tools/0"]),
            ({"integration_id": "zendesk", "api_key_ref": secret}, ["/base_url"]),
            ({"api_key_ref": secret}, ["/integration_id"]),
        ):
            reply = http.post("/ai/integrations/connections", json=body)
            assert reply.status_code == 422, reply.text
            assert error_pointers(reply.json()) == pointers, body
    assert [c.integration_id for c in fresh_client.ai.integrations.connections.list().data] == ["hubspot"]


def test_another_organization_cannot_see_connections(fresh_client: telnyx.Telnyx, other_client: telnyx.Telnyx) -> None:
    made = connect(fresh_client, integration_id="google_calendar", api_key_ref=make_secret(fresh_client))
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.integrations.connections.retrieve(made["id"])
    with pytest.raises(telnyx.NotFoundError):
        other_client.ai.integrations.connections.delete(made["id"])
    assert made["id"] not in {c.id for c in other_client.ai.integrations.connections.list().data}
    assert fresh_client.ai.integrations.connections.retrieve(made["id"]).data.id == made["id"]
    assert fresh_client.ai.integrations.retrieve("google_calendar").status == "connected"
