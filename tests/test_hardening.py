"""The HTTP side under attack and bad luck (issue 12), against ``glm-proxy serve`` processes.

Each test starts the real server (``python -m glm_proxy serve``, as users run it) in front of a
``RawBackend`` or the scripted backend, and drives it with raw sockets where a client library
would correct what the test must send. After each, the proxy's sockets (``/proc``) are back to
idle: nothing that a fault opened stays open. Waits are bounded: a test that would wait
forever (an idle connection never closed, a stalled client never dropped) fails instead.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import ROOT, free_port
from support.raw_backend import SSE_HEAD, Connection, RawBackend, json_answer, sse_chunk
from support.resources import idle_sockets, memory_kib, proxy_sockets
from support.scripted_backend import Script, ScriptedBackend

CHAT = {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}]}
BOUND = 15.0
"""Seconds a bounded wait gives the proxy to do what it must (closing, dropping, answering)."""


@dataclass
class Proxy:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def banner(self) -> str:
        return self.log.read_text().splitlines()[0]

    def sockets(self, backend_port: int) -> Any:
        return proxy_sockets(self.port, backend_port, self.process.pid)

    def settle(self, backend_port: int) -> Any:
        """The proxy's sockets once idle: only the listening one and pooled backend ones."""
        found = idle_sockets(self.port, backend_port, self.process.pid)
        assert not [role for role, _ in found if role == "from client"], found
        return found


@pytest.fixture(scope="module")
def raw() -> Iterator[RawBackend]:
    server = RawBackend()
    server.start()
    yield server
    server.stop()


def sent(raw: RawBackend) -> list[bytes]:
    """The request lines the backend got, but for the start-up probe's ``GET .../models``
    (it comes at a moment of its own)."""
    return [
        line
        for line in raw.heads
        if not (line.startswith(b"GET ") and line.split()[1].endswith(b"/models"))
    ]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Proxy]]:
    """``serve(base_url, NAME=value, files=N)``: a proxy process with these settings (and a
    soft and hard file limit of N when given); stopped after the test."""
    running: list[Proxy] = []

    def start(base_url: str, *, files: tuple[int, int] | None = None, **env: str) -> Proxy:
        port = free_port()
        log = tmp_path / f"proxy-{port}.log"
        environment = {**os.environ, "PYTHONUNBUFFERED": "1", **env}

        def limit_files() -> None:
            if files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, files)

        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "glm_proxy", "serve", "--port", str(port)),
                    *("--base-url", base_url, "--log-level", "WARNING"),
                ],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=limit_files,
            )
        proxy = Proxy(process, port, log)
        running.append(proxy)
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(proxy.url + "/health", timeout=1)
                return proxy
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the proxy did not start"
                time.sleep(0.05)

    yield start
    for proxy in running:
        proxy.process.terminate()
        try:
            proxy.process.wait(10)
        except subprocess.TimeoutExpired:
            proxy.process.kill()
            proxy.process.wait()


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=BOUND)


def exchange(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Send raw request bytes on a new connection; the response head and body (read until
    the proxy closes: every request here says ``Connection: close`` or is HTTP/1.0)."""
    with connect(port) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def closed_by_proxy(sock: socket.socket, within: float = BOUND) -> bool:
    """Whether the proxy closes ``sock`` within ``within`` seconds (reading what it sends)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def wait_until(condition: Callable[[], bool], within: float = BOUND) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- 1. relayed paths: exactly as written, never out of the base URL's path ---------------


async def answer_every_request(conn: Connection) -> None:
    while await conn.request() is not None:
        await conn.write(json_answer({"ok": True}))


@pytest.mark.parametrize(
    "target",
    [
        b"/v1/files/a%20b",
        b"/v1/files/a%23b%3Fc%2Fd?after=%26x&q=%20",
        b"/v1/files/x/../y",
        b"/v1/models/%C3%A9t%C3%A9",
    ],
)
def test_a_relayed_path_goes_out_exactly_as_the_client_wrote_it(
    serve: Callable[..., Proxy], raw: RawBackend, target: bytes
) -> None:
    raw.reset(answer_every_request)
    proxy = serve(raw.url("/backend/v1"))
    head, body = exchange(
        proxy.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target
    )
    assert head.startswith(b"HTTP/1.1 200"), head + body
    # Under the base URL's path, escapes and all (not decoded, not re-encoded, not cut at %23).
    assert sent(raw) == [b"GET /backend%s HTTP/1.1" % target]
    proxy.settle(raw.port)


@pytest.mark.parametrize(
    "target",
    [
        b"/v1/%2e%2e/admin",
        b"/v1/%2E%2E/%2e%2e/etc/passwd",
        b"/v1/models/..%2F..%2Fadmin",
        b"/v1/..",
        b"/v1/a/../../admin?x=1",
        b"/v1/files/..%5C..%5Cadmin",
    ],
)
def test_a_path_that_would_leave_v1_is_400_and_never_reaches_the_backend(
    serve: Callable[..., Proxy], raw: RawBackend, target: bytes
) -> None:
    raw.reset(answer_every_request)
    proxy = serve(raw.url(), OPENAI_API_KEY="sk-backend-secret")
    head, body = exchange(
        proxy.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target
    )
    assert head.startswith(b"HTTP/1.1 400"), head + body
    error = orjson.loads(body)["error"]
    assert error["code"] == "invalid_request"
    assert "leaves /v1" in error["message"]
    assert sent(raw) == []  # the backend (and its key) never saw it
    proxy.settle(raw.port)


# --- 2. a POST that reached the backend is never sent again -------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_post_the_backend_took_and_dropped_is_sent_once(
    serve: Callable[..., Proxy], raw: RawBackend, stream: bool
) -> None:
    # The first request is answered on a kept-alive connection; every request after it is
    # read, worked on for a while, and dropped: the case that used to be sent again.
    answered = 0

    async def take_then_drop(conn: Connection) -> None:
        nonlocal answered
        while (request := await conn.request()) is not None:
            if request.line.startswith(b"GET "):  # the start-up probe's model list
                await conn.write(json_answer({"object": "list", "data": []}))
                continue
            if answered == 0:
                answered += 1
                await conn.write(json_answer({"choices": [{"message": {"content": "first"}}]}))
                continue
            await asyncio.sleep(0.5)
            return  # closes the connection without an answer

    raw.reset(take_then_drop)
    proxy = serve(raw.url())
    url = proxy.url + "/v1/chat/completions"
    with httpx.Client(timeout=BOUND) as client:
        assert client.post(url, json=CHAT).status_code == 200
        response = client.post(url, json={**CHAT, "stream": stream})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "backend_unreachable"
    posts = [line for line in sent(raw) if line.startswith(b"POST")]
    assert len(posts) == 2  # the first request, and the dropped one once: never again
    proxy.settle(raw.port)


# --- 3. connections are timed out and capped ----------------------------------------------


def test_connections_that_send_nothing_are_closed_after_head_timeout(
    serve: Callable[..., Proxy], raw: RawBackend
) -> None:
    raw.reset(answer_every_request)
    proxy = serve(raw.url(), HEAD_TIMEOUT="1")
    silent = [connect(proxy.port) for _ in range(200)]
    try:
        assert wait_until(lambda: sum(proxy.sockets(raw.port).values()) > 100)  # accepted
        assert all(closed_by_proxy(sock) for sock in silent)
    finally:
        for sock in silent:
            sock.close()
    proxy.settle(raw.port)
    assert httpx.get(proxy.url + "/health").status_code == 200


def test_a_client_dribbling_its_headers_is_closed_after_head_timeout(
    serve: Callable[..., Proxy], raw: RawBackend
) -> None:
    raw.reset(answer_every_request)
    proxy = serve(raw.url(), HEAD_TIMEOUT="1")
    request = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 1000
    closed = False
    with connect(proxy.port) as sock:
        deadline = time.monotonic() + BOUND
        for byte in request:  # one byte every 20 ms: the head never ends within the bound
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_proxy(sock, 0.02) or time.monotonic() > deadline:
                closed = time.monotonic() <= deadline
                break
    assert closed, "the proxy kept a connection whose head never ended"
    assert sent(raw) == []
    proxy.settle(raw.port)


def test_an_idle_kept_alive_connection_is_closed_after_keep_alive_timeout(
    serve: Callable[..., Proxy], raw: RawBackend
) -> None:
    raw.reset(answer_every_request)
    proxy = serve(raw.url(), KEEP_ALIVE_TIMEOUT="0.5", HEAD_TIMEOUT="60")
    with connect(proxy.port) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        # Well before HEAD_TIMEOUT (60 s): the idle timeout between requests closes it.
        assert closed_by_proxy(sock, 4.0)
    proxy.settle(raw.port)


def test_a_connection_over_max_connections_gets_a_clear_503(
    serve: Callable[..., Proxy], raw: RawBackend
) -> None:
    raw.reset(answer_every_request)
    proxy = serve(raw.url(), MAX_CONNECTIONS="3", HEAD_TIMEOUT="60")
    held = [connect(proxy.port) for _ in range(3)]
    try:
        assert wait_until(lambda: sum(proxy.sockets(raw.port).values()) >= 4)
        head, body = exchange(
            proxy.port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert head.startswith(b"HTTP/1.1 503"), head + body
        assert b"retry-after: 1" in head.lower()
        error = orjson.loads(body)["error"]
        assert error["code"] == "too_many_connections"
        assert "MAX_CONNECTIONS" in error["message"]
        assert sent(raw) == []
    finally:
        for sock in held:
            sock.close()
    proxy.settle(raw.port)
    assert httpx.get(proxy.url + "/v1/models").status_code == 200  # room again


def test_the_soft_file_limit_is_raised_and_the_cap_follows_it(
    serve: Callable[..., Proxy], raw: RawBackend
) -> None:
    raw.reset(answer_every_request)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    proxy = serve(raw.url(), files=(128, hard))
    limits = Path(f"/proc/{proxy.process.pid}/limits").read_text()
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(hard), str(hard)]  # soft raised to hard
    assert f"up to {(hard - 64) // 2} connections" in proxy.banner()


def test_a_file_limit_full_of_idle_connections_still_answers(
    serve: Callable[..., Proxy], raw: RawBackend
) -> None:
    # 160 files: the cap is (160 - 64) / 2 = 48 connections. 250 idle connections take every
    # file for a moment (what the proxy cannot accept then is closed by the event loop); those
    # over the cap are closed within OVER_CAP_HEAD_TIMEOUT, and from then on a real request
    # gets a clear 503 while the 48 stay, instead of no answer at all.
    raw.reset(answer_every_request)
    proxy = serve(raw.url(), files=(160, 160), HEAD_TIMEOUT="60")
    assert "up to 48 connections" in proxy.banner()
    idle = [connect(proxy.port) for _ in range(250)]
    try:
        assert wait_until(lambda: client_sockets(proxy, raw.port) <= 48), (
            f"the proxy holds {client_sockets(proxy, raw.port)} idle connections"
        )
        head, body = exchange(
            proxy.port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert head.startswith(b"HTTP/1.1 503"), head + body
        assert orjson.loads(body)["error"]["code"] == "too_many_connections"
    finally:
        for sock in idle:
            sock.close()
    proxy.settle(raw.port)
    assert httpx.get(proxy.url + "/v1/models").status_code == 200


def client_sockets(proxy: Proxy, backend_port: int) -> int:
    found = proxy.sockets(backend_port)
    return sum(count for (role, _), count in found.items() if role == "from client")


# --- 4. slow readers ----------------------------------------------------------------------

PIECE = "x" * 4000


async def endless_stream(conn: Connection) -> None:
    """A stream as fast as the proxy takes it, until it goes away."""
    if await conn.request() is None:
        return
    await conn.write(SSE_HEAD)
    while True:
        await conn.write(sse_chunk(PIECE) * 16)


@pytest.mark.parametrize("model", ["glm-4.5-air", "other-model"], ids=["translated", "relayed"])
def test_a_slow_reader_costs_bounded_memory(
    serve: Callable[..., Proxy], raw: RawBackend, model: str
) -> None:
    raw.reset(endless_stream)
    proxy = serve(raw.url())
    before = memory_kib("VmRSS", proxy.process.pid)
    with connect(proxy.port) as sock:
        body = orjson.dumps({**CHAT, "model": model, "stream": True})
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        received = 0
        for _ in range(60):  # 60 reads of 1 KB, 20 ms apart: a reader at about 50 KB/s
            received += len(sock.recv(1024))
            time.sleep(0.02)
        grown = memory_kib("VmRSS", proxy.process.pid) - before
        written = raw.written
    # The backend could write as fast as it liked: it was held back (its bytes wait in the
    # kernel's socket buffers, a few MB at most), and the proxy holds little of them.
    assert written < 32 << 20, f"the backend wrote {written >> 20} MB for a slow reader"
    assert grown < 16 << 10, f"the proxy grew by {grown} KiB for one slow reader"
    assert wait_until(lambda: raw.open == 0)  # the backend stream closed with the client
    proxy.settle(raw.port)


def test_a_client_that_stops_reading_is_dropped_and_the_backend_stream_closed(
    serve: Callable[..., Proxy], raw: RawBackend
) -> None:
    raw.reset(endless_stream)
    proxy = serve(raw.url(), SEND_TIMEOUT="1")
    with connect(proxy.port) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        body = orjson.dumps({**CHAT, "stream": True})
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        # The client reads nothing more, and keeps its socket open.
        assert wait_until(lambda: raw.open == 1)
        assert wait_until(lambda: raw.open == 0), "the backend stream was never closed"
        assert wait_until(
            lambda: not [r for r, _ in proxy.sockets(raw.port) if r == "from client"]
        ), "the client that stopped reading was never dropped"
    proxy.settle(raw.port)


# --- 5. HTTP/1.0 clients ------------------------------------------------------------------


@pytest.fixture(scope="module")
def scripted_backend() -> Iterator[ScriptedBackend]:
    server = ScriptedBackend()
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("model", ["glm-4.5-air", "other-model"], ids=["translated", "relayed"])
def test_an_http10_client_gets_a_close_delimited_stream(
    serve: Callable[..., Proxy], scripted_backend: ScriptedBackend, model: str
) -> None:
    scripted_backend.reset()
    scripted_backend.script(Script(content="Hello from a stream", chunk_size=4))
    proxy = serve(scripted_backend.url)
    body = orjson.dumps({**CHAT, "model": model, "stream": True})
    head, data = exchange(
        proxy.port,
        b"POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    lines = head.lower().split(b"\r\n")
    assert lines[0].startswith(b"http/1.1 200")
    assert not [line for line in lines if line.startswith(b"transfer-encoding")]
    assert not [line for line in lines if line.startswith(b"content-length")]
    assert b"connection: close" in lines
    # The body is the event stream itself, no chunk sizes in it, and its end is the close.
    assert data.startswith(b"data: {")
    assert data.endswith(b"data: [DONE]\n\n")
    text = ""
    for event in data.split(b"\n\n")[:-2]:
        assert event.startswith(b"data: "), event
        for choice in orjson.loads(event[6:])["choices"]:
            text += choice["delta"].get("content") or ""
    assert text == "Hello from a stream"
    proxy.settle(scripted_backend.port)


def test_an_http10_client_gets_whole_answers_with_their_length(
    serve: Callable[..., Proxy], scripted_backend: ScriptedBackend
) -> None:
    scripted_backend.reset()
    proxy = serve(scripted_backend.url)
    body = orjson.dumps(CHAT)
    head, data = exchange(
        proxy.port,
        b"POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    assert b"content-length: %d" % len(data) in head.lower()
    assert orjson.loads(data)["choices"][0]["message"]["content"]
