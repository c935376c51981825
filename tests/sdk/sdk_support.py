"""Helpers shared by the SDK compatibility tests (imported by conftest and the tests)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import httpx
import telnyx

#: The model the servers fill in when a create body names none (set through
#: ``PARLEY_DEFAULT_MODEL`` so the suite does not depend on the built-in default).
DEFAULT_MODEL = "parley-sdk-suite/default-model"
#: Per-request timeout of the SDK clients and raw httpx clients.
REQUEST_TIMEOUT_SECS = 30.0
#: ``version_name`` of versions nobody named (contract §3).
DEFAULT_VERSION_NAME = "New assistant"


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def raw_http(base: str, key: Optional[str]) -> httpx.Client:
    """An httpx client on ``base`` (the API base URL, ending in /v2) with ``key``."""
    headers = {"Accept": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return httpx.Client(base_url=base, headers=headers, timeout=REQUEST_TIMEOUT_SECS)


def http_for(client: telnyx.Telnyx) -> httpx.Client:
    """A raw httpx client speaking as the same organization as ``client``."""
    return raw_http(str(client.base_url).rstrip("/"), client.api_key)


def parse_ts(value: str) -> datetime:
    """Parses an RFC 3339 timestamp; it must carry a time zone."""
    assert isinstance(value, str), f"timestamp is not a string: {value!r}"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, f"timestamp without time zone: {value!r}"
    return parsed


def assert_recent(value: str, within: timedelta = timedelta(minutes=10)) -> datetime:
    parsed = parse_ts(value)
    now = datetime.now(timezone.utc)
    assert abs(now - parsed) < within, f"{value} is not close to now ({now.isoformat()})"
    return parsed


def first_error(body: Any) -> dict[str, Any]:
    """The first object of a Telnyx ``{"errors": [...]}`` envelope, checking its shape."""
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"], (
        f"not an errors envelope: {body!r}"
    )
    error = body["errors"][0]
    assert isinstance(error.get("code"), str) and error["code"].isdigit(), f"code must be a numeric string: {error!r}"
    assert isinstance(error.get("title"), str) and error["title"], f"title is required: {error!r}"
    return error


def error_pointers(body: Any) -> list[str]:
    first_error(body)
    return [e.get("source", {}).get("pointer") for e in body["errors"]]


def config_of(assistant: dict[str, Any]) -> dict[str, Any]:
    """An assistant object without the fields that change with every version or copy."""
    return {
        k: v
        for k, v in assistant.items()
        if k not in ("id", "created_at", "version_id", "version_name", "version_created_at")
    }
