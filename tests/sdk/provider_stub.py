"""Local stand-ins for the ElevenLabs, Vapi and Retell APIs the importer
(``POST /v2/ai/assistants/import``) reads, for the SDK suite.

One threaded HTTP server on 127.0.0.1 plays all three under a prefix each; every Parley server
the suite starts gets ``PARLEY_IMPORT_ELEVENLABS_URL``, ``PARLEY_IMPORT_VAPI_URL`` and
``PARLEY_IMPORT_RETELL_URL`` pointing at them (see :meth:`ProviderStub.env`). Each provider is
served with its own wire format:

- ElevenLabs (``xi-api-key`` header): ``GET /v1/convai/agents?page_size&cursor`` →
  ``{agents, has_more, next_cursor}``, ``GET /v1/convai/agents/{id}``,
  ``GET /v1/convai/tools/{id}``, ``GET /v1/convai/secrets``.
- Vapi (bearer): ``GET /assistant?limit&createdAtLt`` → a bare array, newest first,
  ``GET /assistant/{id}``, ``GET /tool/{id}``.
- Retell (bearer): ``GET /list-agents?limit&pagination_key`` → a bare array ordered by id,
  ``GET /get-agent/{id}``, ``GET /get-retell-llm/{id}``.

Lists are served :data:`PAGE` agents at a time whatever the client asks for, so every import
of more than two agents follows the provider's pagination.

Data is kept per API key: a test calls :meth:`ProviderStub.account` for a fresh key and fills
that account's agents, so tests (and the two backends) never see each other's agents. A key
no account has is refused with the provider's 401 body.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

#: Agents per list page, whatever the client asks for.
PAGE = 2

#: What each provider answers when it refuses a key (status 401).
UNAUTHORIZED_BODIES: dict[str, Any] = {
    "elevenlabs": {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
    "vapi": {"message": "Invalid Key. Hot tip, you may be using the private key instead of the public key.",
             "error": "Unauthorized", "statusCode": 401},
    "retell": {"status": "error", "message": "API key is invalid"},
}


@dataclass
class Account:
    """What one API key sees at the three providers, and what was asked with it."""

    key: str
    #: ElevenLabs agents (full ``GET /v1/convai/agents/{id}`` objects), in list order.
    elevenlabs: list[dict[str, Any]] = field(default_factory=list)
    #: ElevenLabs workspace tools by id.
    elevenlabs_tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Vapi assistants (each with ``createdAt``).
    vapi: list[dict[str, Any]] = field(default_factory=list)
    #: Vapi tools by id.
    vapi_tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Retell agents (each with ``agent_id`` and ``version``).
    retell: list[dict[str, Any]] = field(default_factory=list)
    #: Retell LLMs by ``llm_id``.
    retell_llms: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: When set, every request with this key is answered with this status.
    fail_with: Optional[int] = None
    #: Every request made with this key: ``"<provider> GET /path?query"``.
    hits: list[str] = field(default_factory=list)


class ProviderStub:
    """The three providers on one threaded HTTP server on 127.0.0.1."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._requests = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet

            def do_GET(self) -> None:  # noqa: N802
                status, payload = stub._answer(self.path, self.headers)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="provider-stub", daemon=True)
        self._thread.start()

    # --- for the suite ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        """The settings that point a Parley server's importer here."""
        return {
            "PARLEY_IMPORT_ELEVENLABS_URL": f"{self.base_url}/elevenlabs",
            "PARLEY_IMPORT_VAPI_URL": f"{self.base_url}/vapi",
            "PARLEY_IMPORT_RETELL_URL": f"{self.base_url}/retell",
        }

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def account(self) -> Account:
        """A new account with a fresh API key and no agents. Mutate it (under
        :meth:`edit`) to change what the providers serve."""
        account = Account(key=f"live_{secrets.token_hex(12)}")
        with self._lock:
            self._accounts[account.key] = account
        return account

    def edit(self) -> threading.Lock:
        """The lock to hold while changing an account another thread may be serving."""
        return self._lock

    def hits(self, account: Account) -> list[str]:
        with self._lock:
            return list(account.hits)

    def request_count(self) -> int:
        """How many requests the stub received in all (with any key or none)."""
        with self._lock:
            return self._requests

    # --- internals ---------------------------------------------------------------------

    def _answer(self, raw_path: str, headers: Any) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(raw_path)
        query = dict(urllib.parse.parse_qsl(url.query))
        segments = [urllib.parse.unquote(s) for s in url.path.strip("/").split("/")]
        provider, rest = segments[0], segments[1:]
        if provider == "elevenlabs":
            key = headers.get("xi-api-key")
        else:
            auth = headers.get("Authorization") or ""
            key = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        with self._lock:
            self._requests += 1
            account = self._accounts.get(key or "")
            if provider not in UNAUTHORIZED_BODIES:
                return 404, {"message": f"no provider at /{provider}"}
            if account is None:
                return 401, UNAUTHORIZED_BODIES[provider]
            account.hits.append(f"{provider} GET /{'/'.join(rest)}{'?' + url.query if url.query else ''}")
            if account.fail_with is not None:
                return account.fail_with, {"message": f"upstream trouble ({account.fail_with})"}
            # Answered with copies made under the lock: a test editing the account meanwhile
            # never races an answer.
            found = _route(provider, rest, query, account)
            return found if found is not None else (404, {"message": "Not Found", "statusCode": 404})


def _route(provider: str, rest: list[str], query: dict[str, str], account: Account) -> Optional[tuple[int, Any]]:
    if provider == "elevenlabs":
        match rest:
            case ["v1", "convai", "agents"]:
                start = int(query.get("cursor", "cur_0").removeprefix("cur_") or 0)
                page = account.elevenlabs[start : start + PAGE]
                summaries = [
                    {"agent_id": a["agent_id"], "name": a.get("name"), "tags": a.get("tags", []),
                     "created_at_unix_secs": 1716153600, "access_info": {"is_creator": True, "role": "admin"},
                     "archived": False}
                    for a in page
                ]
                following = start + len(page)
                more = following < len(account.elevenlabs)
                return 200, {"agents": summaries, "has_more": more, "next_cursor": f"cur_{following}" if more else None}
            case ["v1", "convai", "agents", agent_id]:
                agent = next((a for a in account.elevenlabs if a["agent_id"] == agent_id), None)
                if agent is None:
                    return 404, {"detail": {"status": "agent_not_found", "message": "Agent not found"}}
                return 200, copy.deepcopy(agent)
            case ["v1", "convai", "tools", tool_id] if tool_id in account.elevenlabs_tools:
                return 200, copy.deepcopy(account.elevenlabs_tools[tool_id])
            case ["v1", "convai", "secrets"]:
                return 200, {"secrets": []}
        return None
    if provider == "vapi":
        match rest:
            case ["assistant"]:
                before = query.get("createdAtLt")
                items = [a for a in account.vapi if before is None or a["createdAt"] < before]
                items.sort(key=lambda a: a["createdAt"], reverse=True)
                limit = int(query.get("limit", "100"))
                return 200, copy.deepcopy(items[: min(limit, PAGE)])
            case ["assistant", assistant_id]:
                found = next((a for a in account.vapi if a["id"] == assistant_id), None)
                return (200, copy.deepcopy(found)) if found is not None else None
            case ["tool", tool_id] if tool_id in account.vapi_tools:
                return 200, copy.deepcopy(account.vapi_tools[tool_id])
        return None
    match rest:
        case ["list-agents"]:
            items = sorted(account.retell, key=lambda a: (a["agent_id"], a.get("version", 0)))
            after = query.get("pagination_key")
            if after is not None:
                version = int(query.get("pagination_key_version", "0"))
                items = [a for a in items if (a["agent_id"], a.get("version", 0)) > (after, version)]
            limit = int(query.get("limit", "1000"))
            return 200, copy.deepcopy(items[: min(limit, PAGE)])
        case ["get-agent", agent_id]:
            versions = [a for a in account.retell if a["agent_id"] == agent_id]
            if not versions:
                return None
            return 200, copy.deepcopy(max(versions, key=lambda a: a.get("version", 0)))
        case ["get-retell-llm", llm_id] if llm_id in account.retell_llms:
            return 200, copy.deepcopy(account.retell_llms[llm_id])
    return None
