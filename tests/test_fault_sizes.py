"""Answers of extreme size: 100 MB of content, and 10,000 tool calls in one answer.

The 100 MB answers go through a proxy in its own process (``glm-proxy serve``), so that its
memory can be read from ``/proc/PID/status``: a stream must flow through without being held,
and a non-streamed answer must not be held many times over. Both must arrive intact.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from conftest import RunningProxy, start_proxy
from support.resources import HTTP, idle_sockets, memory_kib, nothing_left_behind, proxy_sockets
from support.scripted_backend import DEFAULT_CONTENT, Script, ScriptedBackend
from support.wirecheck import accumulate_choices, check_sse_bytes, check_stream

SIZE = 100_000_000
LINE = "The quick brown fox jumps over the lazy dog, 0123456789 times.\n"
HUGE = (LINE * (SIZE // len(LINE) + 1))[:SIZE]
"""100 MB of plain ASCII text (ASCII: Python holds it in one byte per character)."""
STREAM_GROWTH_LIMIT = 40 << 20
"""Bytes a streamed 100 MB answer may add to the proxy's peak memory: far less than itself."""
WHOLE_GROWTH_FACTOR = 3.5
"""A non-streamed answer is held as the backend's bytes, orjson's working copy of them, the
decoded text and the encoded answer, not all at once: about 2.8 times its size at the peak."""
CALLS = 10_000
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


class ProxyProcess:
    """``glm-proxy serve`` in its own process, on a free port of 127.0.0.1."""

    def __init__(self, backend_url: str, workdir: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {
            **os.environ,
            "OPENAI_BASE_URL": backend_url,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "LOG_LEVEL": "ERROR",
        }
        self.log = workdir / "proxy.log"
        with self.log.open("wb") as log:  # the workdir has no .env: only env counts
            self.process = subprocess.Popen(
                [sys.executable, "-m", "glm_proxy", "serve"], env=env, cwd=workdir, stderr=log
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the proxy did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def proxy_process(
    scripted: ScriptedBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyProcess]:
    running = ProxyProcess(scripted.url, tmp_path_factory.mktemp("proxy"))
    yield running
    running.stop()


def reset_peak_memory(pid: int) -> None:
    """Start ``VmHWM`` of process ``pid`` over from its current resident memory."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("stream", [False, True])
def test_100_mb_of_content_arrive_intact_without_being_held_many_times(
    proxy_process: ProxyProcess, scripted: ScriptedBackend, stream: bool
) -> None:
    scripted.reset()
    pid = proxy_process.process.pid
    chat = {"model": "glm-4.5-air", "messages": [], "stream": stream}
    url = proxy_process.url + "/v1/chat/completions"
    assert HTTP.post(url, json=chat).status_code == 200  # warm: everything imported and used
    sockets = idle_sockets(proxy_process.port, scripted.port, pid)
    reset_peak_memory(pid)
    before = memory_kib("VmHWM", pid) << 10
    scripted.script(Script(content=HUGE, chunk_size=1 << 16))
    response = HTTP.post(url, json=chat)
    growth = (memory_kib("VmHWM", pid) << 10) - before
    assert response.status_code == 200
    if stream:
        chunks = check_sse_bytes(response.content)
        check_stream(chunks)
        deltas = [choice["delta"] for chunk in chunks for choice in chunk["choices"]]
        content = "".join(delta.get("content") or "" for delta in deltas)  # not quadratic
        finish = chunks[-1]["choices"][0]["finish_reason"]
        assert growth < STREAM_GROWTH_LIMIT
    else:
        [choice] = response.json()["choices"]
        content, finish = choice["message"]["content"], choice["finish_reason"]
        assert growth < WHOLE_GROWTH_FACTOR * len(response.content)
    assert len(content) == SIZE
    assert digest(content) == digest(HUGE)
    assert finish == "stop"
    next_one = HTTP.post(url, json={**chat, "stream": False})
    assert next_one.json()["choices"][0]["message"]["content"] == DEFAULT_CONTENT
    deadline = time.monotonic() + 10
    while (now := proxy_sockets(proxy_process.port, scripted.port, pid)) != sockets:
        assert time.monotonic() < deadline, f"the proxy holds {now}, before it held {sockets}"
        time.sleep(0.01)


def call_text(number: int) -> str:
    return (
        f"<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>City {number}</arg_value>\n"
        "</tool_call>"
    )


@pytest.fixture(scope="module")
def scripted_proxy(scripted: ScriptedBackend) -> Iterator[RunningProxy]:
    running = start_proxy({"OPENAI_BASE_URL": scripted.url})
    yield running
    running.stop()


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_with_10000_tool_calls_keeps_every_call_in_order(
    scripted_proxy: RunningProxy, scripted: ScriptedBackend, stream: bool
) -> None:
    scripted.reset()
    text = "Checking every city.\n" + "\n".join(call_text(n) for n in range(CALLS))
    body = {"model": "glm-4.5-air", "messages": [], "tools": TOOLS, "stream": stream}
    with nothing_left_behind(scripted_proxy, scripted.port, DEFAULT_CONTENT):
        scripted.script(Script(content=text, chunk_size=97))
        response = HTTP.post(scripted_proxy.base_url + "/chat/completions", json=body)
    assert response.status_code == 200
    choice: dict[str, Any]
    if stream:
        chunks = check_sse_bytes(response.content)
        check_stream(chunks)  # indices in order, ids unique, arguments JSON only when complete
        [choice] = accumulate_choices(chunks)
    else:
        [choice] = response.json()["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Checking every city."  # the line break before a call is its
    calls = message["tool_calls"]
    assert [call["function"]["name"] for call in calls] == ["get_weather"] * CALLS
    assert [orjson.loads(call["function"]["arguments"]) for call in calls] == [
        {"city": f"City {n}"} for n in range(CALLS)
    ]
    assert len({call["id"] for call in calls}) == CALLS
