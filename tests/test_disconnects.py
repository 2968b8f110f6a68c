"""Clients that go away in the middle of a stream, 1,000 times in a row.

Each time, the proxy must cancel its request to the backend (the scripted backend, stalled for
an hour after its first events, sees its connection closed), and after the run the proxy must
hold the same connections, tasks and (within noise) memory as before it.
"""

from __future__ import annotations

import gc
import socket
import struct
import time
from collections.abc import Iterator

import orjson
import pytest

from conftest import RunningProxy, start_proxy
from support.resources import memory_kib, nothing_left_behind
from support.scripted_backend import DEFAULT_CONTENT, Script, ScriptedBackend

RUNS = 1000
WARM_UP = 100
MEMORY_NOISE = 4 << 20
"""Bytes of resident memory the process may gain over 1,000 runs (a leak of even 4 KB per run,
a backend response or a parser, would be more)."""
STALLED = Script(content="Hello there, friend, " * 20, chunk_size=8, stall_after=3)
"""Three writes (headers and the first events), then silence: only a cancel can end it."""


@pytest.fixture(scope="module")
def proxy(scripted: ScriptedBackend) -> Iterator[RunningProxy]:
    running = start_proxy({"OPENAI_BASE_URL": scripted.url})
    yield running
    running.stop()


def request_bytes() -> bytes:
    body = orjson.dumps(
        {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    )
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )


def go_away_mid_stream(port: int, request: bytes, reset: bool) -> None:
    """Send a streaming request, read until the first event arrived, and leave: with a clean
    close (FIN) or, when ``reset``, a TCP reset."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        received = b""
        while b"data: " not in received:
            data = sock.recv(65536)
            assert data, f"the proxy closed the stream first: {received!r}"
            received += data
        assert received.startswith(b"HTTP/1.1 200")
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def wait_until(condition: str, check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"still not {condition}"
        time.sleep(0.01)


def test_1000_clients_that_go_away_mid_stream_leave_nothing_behind(
    proxy: RunningProxy, scripted: ScriptedBackend
) -> None:
    scripted.reset()
    scripted.default = STALLED
    request = request_bytes()
    try:
        for number in range(WARM_UP):  # the first runs fill caches and pools that then stay
            go_away_mid_stream(proxy.port, request, reset=number % 2 == 1)
        wait_until("all warm-up streams cancelled", lambda: scripted.disconnects == WARM_UP)
        scripted.default = Script()
        with nothing_left_behind(proxy, scripted.port, DEFAULT_CONTENT):
            scripted.default = STALLED
            gc.collect()
            memory_before = memory_kib() << 10
            for number in range(RUNS):
                go_away_mid_stream(proxy.port, request, reset=number % 2 == 1)
            # Each of the backend's stalled streams ended because the proxy closed it.
            total = WARM_UP + RUNS
            wait_until("every stream cancelled", lambda: scripted.disconnects == total)
            wait_until("no stream open", lambda: scripted.open_streams == 0)
            gc.collect()
            memory_after = memory_kib() << 10
            scripted.default = Script()
    finally:
        scripted.default = Script()
    assert len(scripted.requests) == WARM_UP + RUNS + 4  # and the four good answers around
    assert memory_after - memory_before < MEMORY_NOISE
