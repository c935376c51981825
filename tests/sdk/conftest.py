"""Fixtures for the SDK compatibility suite: real Parley servers driven by the official
Telnyx Python SDK.

One server is started per storage backend (``sqlite`` and ``postgres``) for the whole
session; every test that uses a server fixture runs once per backend.

Environment:

- ``PARLEY_BIN``: the ``parley`` binary (default ``<repo>/target/debug/parley``).
- ``PARLEY_TEST_POSTGRES_URL``: a PostgreSQL URL the suite may create and drop databases
  through (default ``postgres://postgres@127.0.0.1:5432/postgres``). A fresh database is
  created for the session and dropped at the end. If PostgreSQL is unreachable the postgres
  tests FAIL (they are never skipped).

Every ``parley`` process the suite runs is answered, for every model, by one in-process
OpenAI-compatible stub (:mod:`llm_stub`, ``PARLEY_LLM_BASE_URL``); no server downloads or
loads the embedded model (``PARLEY_PULL_MODELS=false``, ``PARLEY_EMBEDDED_MODEL=false``).
Its importer reads ElevenLabs, Vapi and Retell from in-process stand-ins
(:mod:`provider_stub`, ``PARLEY_IMPORT_*_URL``).
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import httpx
import pytest
import pytest_asyncio
import telnyx

from llm_stub import LlmStub
from provider_stub import ProviderStub
from sdk_support import DEFAULT_MODEL, REQUEST_TIMEOUT_SECS, raw_http

REPO_ROOT = Path(__file__).resolve().parents[2]
PARLEY_BIN = os.environ.get("PARLEY_BIN") or str(REPO_ROOT / "target" / "debug" / "parley")
POSTGRES_URL = os.environ.get("PARLEY_TEST_POSTGRES_URL") or "postgres://postgres@127.0.0.1:5432/postgres"

#: How long a server may take to print its "listening" line.
STARTUP_TIMEOUT_SECS = 90.0
#: How long a server may take to stop after SIGTERM.
SHUTDOWN_TIMEOUT_SECS = 20.0
BACKENDS = ("sqlite", "postgres")

# The SDK reads these from the environment when a client is built without them; the suite
# must not pick up a developer's real Telnyx credentials, OAuth settings or extra headers.
for _name in (
    "TELNYX_API_KEY",
    "TELNYX_BASE_URL",
    "TELNYX_CLIENT_ID",
    "TELNYX_CLIENT_SECRET",
    "TELNYX_CUSTOM_HEADERS",
    "TELNYX_PUBLIC_KEY",
):
    os.environ.pop(_name, None)


_llm_stub: Optional[LlmStub] = None
_llm_stub_lock = threading.Lock()


def llm_stub_instance() -> LlmStub:
    """The session's LLM stub, started on first use (the ``llm_stub`` fixture stops it)."""
    global _llm_stub
    with _llm_stub_lock:
        if _llm_stub is None:
            _llm_stub = LlmStub()
        return _llm_stub


_provider_stub: Optional[ProviderStub] = None
_provider_stub_lock = threading.Lock()


def provider_stub_instance() -> ProviderStub:
    """The session's import provider stand-ins, started on first use (the ``providers``
    fixture stops them)."""
    global _provider_stub
    with _provider_stub_lock:
        if _provider_stub is None:
            _provider_stub = ProviderStub()
        return _provider_stub


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of a parley process: ours minus any PARLEY_* setting of the caller's
    shell (so e.g. a stray PARLEY_DATABASE_URL cannot redirect the sqlite server), plus the
    suite's settings (default model, the LLM stub as the catch-all upstream, no embedded
    model, the provider stand-ins for imports), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.setdefault("RUST_BACKTRACE", "1")
    env["PARLEY_LOG"] = "warn"
    env["NO_COLOR"] = "1"
    env["PARLEY_DEFAULT_MODEL"] = DEFAULT_MODEL
    env["PARLEY_LLM_BASE_URL"] = llm_stub_instance().base_url
    env["PARLEY_PULL_MODELS"] = "false"
    env["PARLEY_EMBEDDED_MODEL"] = "false"
    env.update(provider_stub_instance().env())
    env.update(extra)
    return env


def _check_binary() -> None:
    if not (os.path.isfile(PARLEY_BIN) and os.access(PARLEY_BIN, os.X_OK)):
        pytest.fail(
            f"parley binary not found or not executable at {PARLEY_BIN}; "
            "build it with `cargo build -p parley` or set PARLEY_BIN",
            pytrace=False,
        )


@dataclass
class ParleyServer:
    """A running ``parley serve`` process."""

    backend: str
    url: str  # http://127.0.0.1:PORT (no /v2)
    api_key: str
    data_dir: Path
    database_url: Optional[str]
    process: subprocess.Popen
    stderr_path: Path
    _other_key: Optional[str] = field(default=None, repr=False)

    @property
    def api_base_url(self) -> str:
        """The API base URL, as the SDK wants it."""
        return f"{self.url}/v2"

    def store_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        return args

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Runs ``parley <args> --data-dir … [--database-url …]``; fails on a non-zero exit."""
        done = subprocess.run(
            [PARLEY_BIN, *args, *self.store_args()],
            env=_child_env({}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"`parley {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def create_key_with_details(self, org: str) -> tuple[str, str]:
        """A new key for organization ``org`` (created if needed), via `parley keys create`:
        (the key, which is the last line of stdout; everything the command printed)."""
        done = self.cli("keys", "create", "--org", org)
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        assert lines, f"`parley keys create` printed no key; stderr:\n{done.stderr}"
        return lines[-1], done.stdout + done.stderr

    def create_key(self, org: str) -> str:
        return self.create_key_with_details(org)[0]

    @property
    def other_org_key(self) -> str:
        """A key of a second organization, created once per server."""
        if self._other_key is None:
            self._other_key = self.create_key(f"sdk-other-{uuid.uuid4().hex[:8]}")
        return self._other_key

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECS)


def start_server(
    backend: str,
    data_dir: Path,
    database_url: Optional[str],
    api_key: str,
    extra_env: Optional[dict[str, str]] = None,
) -> ParleyServer:
    """Starts ``parley serve`` on a free port and waits (with a deadline) for the line
    ``parley listening on http://…`` on its stdout."""
    _check_binary()
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [PARLEY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)]
    if database_url:
        args += ["--database-url", database_url]
    env = _child_env({"PARLEY_API_KEY": api_key, **(extra_env or {})})
    stderr_path = data_dir / f"server-{uuid.uuid4().hex[:6]}.stderr.log"
    stderr_file = open(stderr_path, "wb")
    process = subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        text=True,
        bufsize=1,
    )
    stderr_file.close()
    lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def pump() -> None:
        # Keeps draining stdout for the life of the process so it can never block on a
        # full pipe.
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name=f"parley-{backend}-stdout", daemon=True).start()

    deadline = time.monotonic() + STARTUP_TIMEOUT_SECS
    seen: list[str] = []
    url: Optional[str] = None
    while url is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            process.kill()
            process.wait()
            raise AssertionError(
                f"parley ({backend}) did not report listening within {STARTUP_TIMEOUT_SECS}s;\n"
                f"stdout: {''.join(seen)}\nstderr: {stderr_path.read_text(errors='replace')[-4000:]}"
            )
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            process.wait()
            raise AssertionError(
                f"parley ({backend}) exited with {process.returncode} before listening;\n"
                f"stdout: {''.join(seen)}\nstderr: {stderr_path.read_text(errors='replace')[-4000:]}"
            )
        seen.append(line)
        if line.startswith("parley listening on "):
            url = line.split()[3].rstrip("/")
    server = ParleyServer(
        backend=backend,
        url=url,
        api_key=api_key,
        data_dir=data_dir,
        database_url=database_url,
        process=process,
        stderr_path=stderr_path,
    )
    health = httpx.get(f"{url}/health", timeout=REQUEST_TIMEOUT_SECS)
    assert health.status_code == 200, f"GET /health answered {health.status_code}: {health.text}"
    return server


# --- PostgreSQL -----------------------------------------------------------------------


def _psql(sql: str) -> None:
    """Runs one statement against PARLEY_TEST_POSTGRES_URL; fails the test on any error
    (an unreachable server is a failure, never a skip)."""
    if shutil.which("psql") is None:
        pytest.fail("psql is not installed; it is needed to create the test database", pytrace=False)
    done = subprocess.run(
        ["psql", POSTGRES_URL, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    if done.returncode != 0:
        pytest.fail(
            f"PostgreSQL at {POSTGRES_URL} refused `{sql}` (exit {done.returncode}): "
            f"{done.stderr.strip() or done.stdout.strip()}",
            pytrace=False,
        )


def _database_url(name: str) -> str:
    parts = urllib.parse.urlsplit(POSTGRES_URL)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database for the session (dropped at the end); yields its URL."""
    name = f"parley_sdk_{uuid.uuid4().hex[:12]}"
    _psql(f'create database "{name}"')
    try:
        yield _database_url(name)
    finally:
        _psql(f'drop database if exists "{name}" with (force)')


# --- The LLM stub -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def llm_stub() -> Iterator[LlmStub]:
    """The OpenAI-compatible stub every server's models are served by, for the session."""
    global _llm_stub
    stub = llm_stub_instance()
    try:
        yield stub
    finally:
        with _llm_stub_lock:
            _llm_stub = None
        stub.stop()


@pytest.fixture
def llm(llm_stub: LlmStub) -> Iterator[LlmStub]:
    """The LLM stub for one test: scripts the test left unused are dropped afterwards."""
    llm_stub.reset()
    try:
        yield llm_stub
    finally:
        llm_stub.reset()


# --- The import providers -------------------------------------------------------------


@pytest.fixture(scope="session")
def providers() -> Iterator[ProviderStub]:
    """The ElevenLabs, Vapi and Retell stand-ins every server imports from, for the session."""
    global _provider_stub
    stub = provider_stub_instance()
    try:
        yield stub
    finally:
        with _provider_stub_lock:
            _provider_stub = None
        stub.stop()


# --- Servers ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="parley-sdk-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _backend_database(request: pytest.FixtureRequest, backend: str) -> Optional[str]:
    if backend == "postgres":
        return request.getfixturevalue("postgres_database")
    return None


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, session_tmp: Path, llm_stub: LlmStub) -> Iterator[ParleyServer]:
    """One Parley server per backend, for the whole session."""
    backend = request.param
    database_url = _backend_database(request, backend)
    api_key = f"sdk-{backend}-{secrets.token_hex(16)}"
    srv = start_server(backend, session_tmp / backend, database_url, api_key)
    try:
        yield srv
    finally:
        srv.stop()
    assert srv.process.returncode == 0, (
        f"parley ({backend}) exited with {srv.process.returncode} after SIGTERM; stderr:\n{srv.stderr_tail()}"
    )


@pytest.fixture(scope="session")
def small_limit_server(server: ParleyServer, session_tmp: Path, llm_stub: LlmStub) -> Iterator[ParleyServer]:
    """A second server on the same backend with ``PARLEY_MAX_BODY_BYTES=4096``."""
    srv = start_server(
        server.backend,
        session_tmp / f"{server.backend}-small-limit",
        server.database_url,
        server.api_key,
        {"PARLEY_MAX_BODY_BYTES": "4096"},
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def slow_llm_server(server: ParleyServer, session_tmp: Path, llm_stub: LlmStub) -> Iterator[ParleyServer]:
    """A second server on the same backend that gives up on the LLM after 1 s
    (``PARLEY_LLM_TIMEOUT_MS=1000``), for upstream timeouts."""
    srv = start_server(
        server.backend,
        session_tmp / f"{server.backend}-llm-timeout",
        server.database_url,
        server.api_key,
        {"PARLEY_LLM_TIMEOUT_MS": "1000"},
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def private_network_server(server: ParleyServer, session_tmp: Path, llm_stub: LlmStub) -> Iterator[ParleyServer]:
    """A second server on the same backend and key (the same PostgreSQL database; a SQLite file
    of its own) that may call private addresses (``PARLEY_ALLOW_PRIVATE_NETWORK=true``), for
    webhooks the tests serve on 127.0.0.1."""
    srv = start_server(
        server.backend,
        session_tmp / f"{server.backend}-private-network",
        server.database_url,
        server.api_key,
        {"PARLEY_ALLOW_PRIVATE_NETWORK": "true"},
    )
    try:
        yield srv
    finally:
        srv.stop()


# --- Clients ----------------------------------------------------------------------------


def make_client(srv: ParleyServer, api_key: Optional[str]) -> telnyx.Telnyx:
    return telnyx.Telnyx(
        api_key=api_key, base_url=srv.api_base_url, max_retries=0, timeout=REQUEST_TIMEOUT_SECS
    )


@pytest.fixture
def base_url(server: ParleyServer) -> str:
    """The API base URL, ``http://127.0.0.1:PORT/v2`` (what the SDK gets as ``base_url``)."""
    return server.api_base_url


@pytest.fixture
def api_key(server: ParleyServer) -> str:
    return server.api_key


@pytest.fixture
def client(server: ParleyServer) -> Iterator[telnyx.Telnyx]:
    with make_client(server, server.api_key) as c:
        yield c


@pytest.fixture
def private_network_client(private_network_server: ParleyServer) -> Iterator[telnyx.Telnyx]:
    """A client of the default organization on :func:`private_network_server`."""
    with make_client(private_network_server, private_network_server.api_key) as c:
        yield c


@pytest.fixture
def other_client(server: ParleyServer) -> Iterator[telnyx.Telnyx]:
    """A client of a second organization (its key comes from `parley keys create`)."""
    with make_client(server, server.other_org_key) as c:
        yield c


@pytest.fixture
def fresh_client(server: ParleyServer) -> Iterator[telnyx.Telnyx]:
    """A client of a brand-new, empty organization: for exact counts and orders."""
    key = server.create_key(f"sdk-fresh-{uuid.uuid4().hex[:8]}")
    with make_client(server, key) as c:
        yield c


@pytest_asyncio.fixture
async def async_client(server: ParleyServer):
    c = telnyx.AsyncTelnyx(
        api_key=server.api_key, base_url=server.api_base_url, max_retries=0, timeout=REQUEST_TIMEOUT_SECS
    )
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def http(server: ParleyServer) -> Iterator[httpx.Client]:
    """A raw httpx client on the API base URL with the default organization's key, for what
    the SDK cannot express (malformed bodies, pagination query parameters, …)."""
    with raw_http(server.api_base_url, server.api_key) as c:
        yield c


# --- Diagnostics ------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Remembers where each server's log stood when the test started."""
    srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
    if isinstance(srv, ParleyServer):
        try:
            item.stash[_LOG_OFFSET] = srv.stderr_path.stat().st_size
        except OSError:
            item.stash[_LOG_OFFSET] = 0
    yield


_LOG_OFFSET = pytest.StashKey[int]()
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On a failure, attaches what the server logged during the test and whether it is
    still running."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
    if not isinstance(srv, ParleyServer):
        return
    state = "running" if srv.process.poll() is None else f"EXITED with {srv.process.returncode}"
    try:
        with open(srv.stderr_path, "rb") as log:
            log.seek(item.stash.get(_LOG_OFFSET, 0))
            text = _ANSI.sub("", log.read()[-6000:].decode(errors="replace"))
    except OSError as e:
        text = f"(log unreadable: {e})"
    report.sections.append((f"parley ({srv.backend}) log during the test; server {state}", text or "(nothing)"))
