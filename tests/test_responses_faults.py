"""Faults of the backend under the Responses front: what the client gets, and what the proxy
keeps. Before the stream starts, a fault is an HTTP error with the OpenAI error body; once it
has started, the text so far (held text flushed) ends in ``response.failed``, and the stream
passes the strict checker. The proxy serves the next request and holds nothing more after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import RunningProxy, start_proxy
from support.faulty_backend import (
    GOOD_TEXT,
    LAST_CHUNK,
    FaultyBackend,
    Reset,
    Send,
    Stall,
    chunk,
    head,
    sse,
)
from support.resources import HTTP, nothing_left_behind
from support.responses_wirecheck import check_responses_stream
from support.scripted_backend import Script, ScriptedBackend

TIMEOUT = "0.5"
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
HELD = "Let me check <tool_ca"
"""Text that ends in what could be the start of a tag: the parser holds ``<tool_ca`` back."""
SSE_HEAD = head(content_type="text/event-stream")


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultyBackend]:
    server = FaultyBackend()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def faulty_proxy(faulty: FaultyBackend) -> Iterator[RunningProxy]:
    running = start_proxy({"OPENAI_BASE_URL": faulty.url, "UPSTREAM_TIMEOUT": TIMEOUT})
    yield running
    running.stop()


@pytest.fixture
def backend(scripted: ScriptedBackend) -> ScriptedBackend:
    scripted.reset()
    return scripted


@pytest.fixture(scope="module")
def scripted_proxy(scripted: ScriptedBackend) -> Iterator[RunningProxy]:
    running = start_proxy({"OPENAI_BASE_URL": scripted.url, "UPSTREAM_TIMEOUT": TIMEOUT})
    yield running
    running.stop()


def post(proxy: RunningProxy, stream: bool) -> httpx.Response:
    body = {"model": "glm-4.5-air", "input": "hi", "tools": TOOLS, "stream": stream}
    return HTTP.post(proxy.base_url + "/responses", json=body)


def failed(response: httpx.Response) -> dict[str, Any]:
    """The final response of a stream that failed, after the checker."""
    assert response.status_code == 200
    final, _ = check_responses_stream(response.content)
    assert final["status"] == "failed"
    assert set(final["error"]) == {"code", "message"}
    return final


def text_of(final: dict[str, Any]) -> str:
    return "".join(
        part["text"]
        for item in final["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert {"message", "type", "param", "code"} <= set(error)
    return error


def test_backend_drops_mid_stream(faulty_proxy: RunningProxy, faulty: FaultyBackend) -> None:
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Send(SSE_HEAD + chunk(sse(role=True) + sse(HELD))), Reset()])
        final = failed(post(faulty_proxy, True))
    assert text_of(final) == HELD  # the held "<tool_ca" is flushed, not lost
    assert "backend" in final["error"]["message"]


def test_backend_stream_ends_unfinished(faulty_proxy: RunningProxy, faulty: FaultyBackend) -> None:
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Send(SSE_HEAD + chunk(sse(HELD)) + LAST_CHUNK)])
        final = failed(post(faulty_proxy, True))
    assert text_of(final) == HELD
    assert "before the answer was finished" in final["error"]["message"]


def test_backend_stalls_mid_stream(faulty_proxy: RunningProxy, faulty: FaultyBackend) -> None:
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Send(SSE_HEAD + chunk(sse("Hello"))), Stall()])
        final = failed(post(faulty_proxy, True))
    assert text_of(final) == "Hello"
    assert final["error"]["code"] == "backend_timeout"


@pytest.mark.parametrize("stream", [False, True])
def test_backend_reset_before_answering_is_502(
    faulty_proxy: RunningProxy, faulty: FaultyBackend, stream: bool
) -> None:
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Reset()])
        response = post(faulty_proxy, stream)
    assert response.status_code == 502
    assert error_of(response)["code"] == "backend_unreachable"


def test_invalid_event_fails_the_stream(
    scripted_proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(content=HELD, send_done=False, extra_events=(b"data: {not json\n\n",)))
    final = failed(post(scripted_proxy, True))
    assert text_of(final) == HELD
    assert "not JSON" in final["error"]["message"]


def test_backend_error_event_fails_the_stream(
    scripted_proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    event = b'data: {"error": {"message": "out of memory", "type": "server_error"}}\n\n'
    backend.script(Script(content=HELD, send_done=False, extra_events=(event,)))
    final = failed(post(scripted_proxy, True))
    assert text_of(final) == HELD
    assert "out of memory" in final["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_backend_error_status(
    scripted_proxy: RunningProxy, backend: ScriptedBackend, stream: bool
) -> None:
    backend.script(Script(status=500), Script(status=400))
    response = post(scripted_proxy, stream)
    assert response.status_code == 502
    assert error_of(response)["type"] == "backend_error"
    response = post(scripted_proxy, stream)
    assert response.status_code == 400  # the backend's own 4xx passes through, body and all
    assert isinstance(response.json()["error"]["message"], str)


def test_backend_invalid_json_answer_is_502(
    scripted_proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(body=b"{nope", content_type="application/json"))
    response = post(scripted_proxy, False)
    assert response.status_code == 502
    assert error_of(response)["code"] == "backend_bad_response"


def test_bad_request_body_is_400_in_openai_shape(
    scripted_proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    response = HTTP.post(
        scripted_proxy.base_url + "/responses",
        content=b"[1, 2]",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"
    response = HTTP.get(scripted_proxy.base_url + "/responses/resp_unknown")
    assert response.status_code == 404
    assert error_of(response)["code"] == "response_not_found"
    assert backend.requests == []
