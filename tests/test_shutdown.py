"""Graceful shutdown: in-flight requests get SHUTDOWN_GRACE seconds, then end with an error event
(a started stream) or a 503; the process stops accepting at once and exits 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from conftest import RunningProxy, free_port, start, wait_healthy
from glm_proxy.errors import ShuttingDown
from glm_proxy.fronts.error_shapes import shape_for
from glm_proxy.server.shutdown import Drain
from support.responses_wirecheck import check_responses_stream
from support.scripted_backend import Script, ScriptedBackend
from support.wirecheck import check_sse_bytes, check_stream

CHAT = {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def last_event(raw: bytes) -> Any:
    return orjson.loads(raw.rstrip().rsplit(b"\n\n", 1)[-1].removeprefix(b"data: "))


def streamed_text(raw: bytes) -> str:
    chunks = check_sse_bytes(raw)
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def wait_until_refused(port: int) -> None:
    """Return once connecting to ``port`` is refused (the server closed its socket)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.02)
    raise AssertionError("the server still accepts connections")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_lets_streams_finish_within_the_grace_and_ends_the_others(
    started: list[subprocess.Popen[bytes]],
    backend: ScriptedBackend,
    http: httpx.Client,
    sig: signal.Signals,
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "glm_proxy", "--port", str(port)]
    process = start(started, command, backend, SHUTDOWN_GRACE="4")
    wait_healthy(process, port)
    backend.script(
        Script(content="finishes in time", chunk_size=4, delay=0.1),  # about 0.8 s in all
        Script(content="never finishes", chunk_size=2, stall_after=2),
    )
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with (
        http.stream("POST", url, json=CHAT) as quick,
        http.stream("POST", url, json=CHAT) as stalled,
    ):
        quick_chunks, stalled_chunks = quick.iter_raw(), stalled.iter_raw()
        quick_start, stalled_start = next(quick_chunks), next(stalled_chunks)
        process.send_signal(sig)
        wait_until_refused(port)  # no new connections while the two streams go on
        quick_raw = quick_start + b"".join(quick_chunks)
        stalled_raw = stalled_start + b"".join(stalled_chunks)
    assert process.wait(30) == 0
    assert process.stderr is not None
    log = process.stderr.read().decode()

    assert streamed_text(quick_raw) == "finishes in time"
    assert quick_raw.endswith(b"data: [DONE]\n\n")
    check_stream(check_sse_bytes(quick_raw))

    assert streamed_text(stalled_raw) == "ne"  # two writes: the role, then "ne"; then silence
    assert b"[DONE]" not in stalled_raw
    assert last_event(stalled_raw) == {
        "error": {
            "message": "glm-proxy is shutting down and the request did not finish within 4 s "
            "(SHUTDOWN_GRACE)",
            "type": "proxy_error",
            "param": None,
            "code": "shutting_down",
        }
    }
    assert "shutting down: 2 request(s) in flight get up to 4 s (SHUTDOWN_GRACE)" in log
    assert "shutting down: ending 1 request(s) still running after 4 s (SHUTDOWN_GRACE)" in log
    assert " ✗ 200 glm-4.5-air 1 msg stream " in log  # the stalled stream's line
    assert "shutting_down req=" in log
    assert "Traceback" not in log


def test_an_idle_proxy_stops_at_once_on_sigterm_with_exit_code_0(
    started: list[subprocess.Popen[bytes]], backend: ScriptedBackend
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "glm_proxy", "--port", str(port)]
    process = start(started, command, backend)
    wait_healthy(process, port)
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    assert process.stderr is not None
    assert "shutting down" not in process.stderr.read().decode()


# --- the cut-off, in process --------------------------------------------------------------


def drain_of(proxy: RunningProxy) -> Drain:
    drain: Drain = proxy.server.config.app.state.drain  # type: ignore[attr-defined]
    return drain


def in_thread(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    results: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: results.append(call()), daemon=True)
    thread.start()
    return thread, results


def wait_for_requests(backend: ScriptedBackend, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(backend.requests) < count:
        assert time.monotonic() < deadline, "the backend did not get the requests"
        time.sleep(0.01)


def test_past_the_grace_a_request_without_an_answer_gets_503_and_new_ones_too(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    proxy = make_proxy(SHUTDOWN_GRACE="0.2")
    backend.script(Script(delay=60))
    url = proxy.base_url + "/chat/completions"
    thread, results = in_thread(lambda: httpx.post(url, json={**CHAT, "stream": False}, timeout=30))
    wait_for_requests(backend, 1)
    drain_of(proxy).begin_threadsafe()
    thread.join(30)
    [response] = results
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "shutting_down"
    assert error["message"] == (
        "glm-proxy is shutting down and the request did not finish within 0.2 s (SHUTDOWN_GRACE)"
    )
    assert response.headers["x-request-id"]
    after = httpx.post(url, json=CHAT)
    assert after.status_code == 503
    assert after.json()["error"]["message"] == (
        "glm-proxy is shutting down: send the request again later"
    )


def test_within_the_grace_requests_go_on_as_usual(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    proxy = make_proxy(SHUTDOWN_GRACE="30")
    backend.script(Script(content="slow but in time", delay=0.3))
    url = proxy.base_url + "/chat/completions"
    thread, results = in_thread(lambda: httpx.post(url, json={**CHAT, "stream": False}, timeout=30))
    wait_for_requests(backend, 1)
    drain_of(proxy).begin_threadsafe()
    thread.join(30)
    [response] = results
    assert response.json()["choices"][0]["message"]["content"] == "slow but in time"
    assert httpx.post(url, json=CHAT).status_code == 200  # the server decides when to stop


def test_a_relayed_event_stream_is_ended_with_an_error_event(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    proxy = make_proxy(SHUTDOWN_GRACE="0")
    backend.script(Script(content="Hello there", chunk_size=2, stall_after=3))
    with (
        httpx.Client(timeout=30) as http,
        http.stream(
            "POST", proxy.base_url + "/chat/completions", json={**CHAT, "model": "qwen3-coder"}
        ) as response,
    ):
        chunks = response.iter_raw()
        first = next(chunks)
        drain_of(proxy).begin_threadsafe()
        raw = first + b"".join(chunks)
    assert last_event(raw)["error"]["code"] == "shutting_down"
    assert backend.wait_for_disconnect(10)


def test_drain_begins_once() -> None:
    import asyncio

    async def scenario() -> tuple[bool, bool]:
        drain = Drain(0.05)
        drain.begin()
        drain.begin()
        first = drain.cut_off
        await asyncio.sleep(0.2)
        return first, drain.cut_off

    assert asyncio.run(scenario()) == (False, True)


def test_a_responses_stream_cut_off_ends_with_response_failed(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    # The Responses front's own ending, from its stream's state: the text read so far, the
    # next sequence number, the response's id (not a chat-style error event).
    proxy = make_proxy(SHUTDOWN_GRACE="0", GLM_MODELS="glm-*")
    backend.script(Script(content="Hello there", chunk_size=2, stall_after=3))
    body = {"model": "glm-4.5", "input": "hi", "stream": True}
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", proxy.base_url + "/responses", json=body) as response,
    ):
        chunks = response.iter_raw()
        raw = next(chunks)
        while b"response.output_text.delta" not in raw:
            raw += next(chunks)
        drain_of(proxy).begin_threadsafe()
        raw += b"".join(chunks)
    final, events = check_responses_stream(raw)
    assert events[-1]["type"] == "response.failed"
    assert final["status"] == "failed"
    assert final["error"] == {
        "code": "shutting_down",
        "message": "glm-proxy is shutting down and the request did not finish within 0 s "
        "(SHUTDOWN_GRACE)",
    }
    assert final["id"] == events[0]["response"]["id"]
    [message] = final["output"]
    # Three writes before the stall: the role, "He", "ll"; the text sent is the text kept.
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert message["content"][0]["text"] == "".join(deltas) == "Hell"
    assert backend.wait_for_disconnect(10)


def test_errors_before_the_responses_route_keep_the_openai_shape(
    make_proxy: Callable[..., RunningProxy],
) -> None:
    proxy = make_proxy(PROXY_API_KEY="sk-right")
    body = {"model": "glm-4.5", "input": "hi", "stream": True}
    response = httpx.post(proxy.base_url + "/responses", json=body)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["message"].startswith("missing API key")
    assert set(error) == {"message", "type", "param", "code"}


def test_the_responses_shape_ends_an_unknown_stream_with_response_failed() -> None:
    shape = shape_for("/v1/responses")
    assert shape.render(ShuttingDown("bye")) == (503, ShuttingDown("bye").body())
    name, data = shape.event(ShuttingDown("bye")).split(b"\n", 1)
    assert name == b"event: response.failed"
    payload = orjson.loads(data.removeprefix(b"data: "))
    assert payload["type"] == "response.failed"
    assert payload["response"]["status"] == "failed"
    assert payload["response"]["error"] == {"code": "shutting_down", "message": "bye"}
