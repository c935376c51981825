"""A deterministic stand-in for an OpenAI-compatible LLM endpoint, for the SDK suite.

Every Parley server the suite starts gets ``PARLEY_LLM_BASE_URL`` pointing here, so every
model name (the suite's default model included) is answered by this stub.

``POST /v1/chat/completions`` answers with the text::

    system: <content of the first system message> | user: <content of the last user message>

which lets a test see the rendered instructions and the message that was sent. With
``"stream": true`` the text goes out as server-sent events: one ``chat.completion.chunk`` per
word, a chunk with ``finish_reason: "stop"``, a usage chunk
(``{"choices": [], "usage": {...}}``) and ``data: [DONE]``. Otherwise it is one
``chat.completion`` object. Token counts are word counts: ``prompt_tokens`` is the number of
words of all the messages, ``completion_tokens`` the number of words of the answer.

Tests can script the next answers (:meth:`LlmStub.script`: a status, a given text, a delay,
an error in the middle of a stream), optionally only for requests whose last user message
contains a marker, and read what the stub received (:meth:`LlmStub.requests`).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

#: Most request bodies remembered (the oldest are forgotten first).
MAX_RECORDED = 5000


@dataclass
class Script:
    """How to answer one request (see :meth:`LlmStub.script`)."""

    status: int = 200
    text: Optional[str] = None
    delay: float = 0.0
    stream_error_after: Optional[int] = None
    when: Optional[str] = None
    remaining: int = 1


def message_text(message: dict[str, Any]) -> str:
    """The text of an OpenAI message: its string content, or its text parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    return message_text(users[-1]) if users else ""


def echo_text(body: dict[str, Any]) -> str:
    """The stub's default answer to a chat completion request."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    system = next((message_text(m) for m in messages if m.get("role") == "system"), "")
    return f"system: {system} | user: {last_user_text(body)}"


def words(text: str) -> int:
    return len(text.split())


def pieces(text: str) -> list[str]:
    """``text`` split into word deltas that concatenate back to it."""
    return re.findall(r"\s*\S+\s*", text) or [text]


class LlmStub:
    """A threaded HTTP server on 127.0.0.1 playing an OpenAI-compatible LLM."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[Script] = []
        self._requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet

            def do_GET(self) -> None:  # noqa: N802
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                try:
                    body = json.loads(raw or b"{}")
                    assert isinstance(body, dict)
                except (ValueError, AssertionError):
                    self._json(400, {"error": {"message": "the body is not a JSON object", "type": "invalid"}})
                    return
                script = stub._record_and_take(body, dict(self.headers))
                try:
                    stub._answer(self, body, script)
                except OSError:
                    pass  # the caller went away (e.g. it timed out)

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

        self._handler = Handler
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="llm-stub", daemon=True)
        self._thread.start()

    # --- for the suite ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What ``PARLEY_LLM_BASE_URL`` is set to: ``http://127.0.0.1:PORT/v1``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(
        self,
        *,
        status: int = 200,
        text: Optional[str] = None,
        delay: float = 0.0,
        stream_error_after: Optional[int] = None,
        when: Optional[str] = None,
        times: int = 1,
    ) -> None:
        """Scripts the next ``times`` answers (to requests whose last user message contains
        ``when``, if given): a non-2xx ``status`` (with an OpenAI error body), a given
        ``text`` instead of the echo, a ``delay`` in seconds before answering, or — for a
        streamed answer — an error chunk after ``stream_error_after`` word deltas. Scripts
        are used in the order given."""
        with self._lock:
            self._scripts.append(
                Script(
                    status=status,
                    text=text,
                    delay=delay,
                    stream_error_after=stream_error_after,
                    when=when,
                    remaining=times,
                )
            )

    def reset(self) -> None:
        """Forgets every script not used up yet."""
        with self._lock:
            self._scripts.clear()

    def requests(self, containing: Optional[str] = None) -> list[dict[str, Any]]:
        """The chat completion bodies received so far (oldest first), each with the headers
        under ``"_headers"``; only those whose last user message contains ``containing`` if
        given."""
        with self._lock:
            recorded = copy.deepcopy(self._requests)
        if containing is None:
            return recorded
        return [r for r in recorded if containing in last_user_text(r)]

    # --- internals ---------------------------------------------------------------------

    def _record_and_take(self, body: dict[str, Any], headers: dict[str, str]) -> Script:
        user = last_user_text(body)
        with self._lock:
            self._requests.append({**copy.deepcopy(body), "_headers": headers})
            del self._requests[:-MAX_RECORDED]
            for index, script in enumerate(self._scripts):
                if script.when is None or script.when in user:
                    script.remaining -= 1
                    if script.remaining <= 0:
                        del self._scripts[index]
                    return copy.copy(script)
        return Script()

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], script: Script) -> None:
        if script.delay:
            time.sleep(script.delay)
        if script.status >= 300:
            handler._json(  # type: ignore[attr-defined]
                script.status,
                {"error": {"message": f"stub failure ({script.status})", "type": "server_error", "code": None}},
            )
            return
        text = script.text if script.text is not None else echo_text(body)
        model = str(body.get("model") or "stub")
        created = int(time.time())
        usage = {
            "prompt_tokens": sum(words(message_text(m)) for m in body.get("messages") or [] if isinstance(m, dict)),
            "completion_tokens": words(text),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            handler._json(  # type: ignore[attr-defined]
                200,
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                },
            )
            return

        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True

        def event(payload: Any) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            handler.wfile.write(f"data: {data}\n\n".encode())
            handler.wfile.flush()

        def chunk(delta: dict[str, Any], finish: Optional[str] = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        for number, piece in enumerate(pieces(text)):
            if script.stream_error_after is not None and number >= script.stream_error_after:
                event({"error": {"message": "stub failure in the stream", "type": "server_error"}})
                return
            delta: dict[str, Any] = {"content": piece}
            if number == 0:
                delta["role"] = "assistant"
            event(chunk(delta))
        event(chunk({}, "stop"))
        event({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [], "usage": usage})
        event("[DONE]")
