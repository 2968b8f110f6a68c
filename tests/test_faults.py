"""Faults of the backend, one test each: what the client gets, and what the proxy keeps.

Every fault must end in the status and OpenAI-shaped error of the wire format (or, once a stream
has started, an error event after the text so far, the held text flushed and the choices
finished), and must leave the proxy as it was: it serves the next request, and it holds the
same connections and asyncio tasks as before (``resources.nothing_left_behind``).

HTTP-level breaks (resets, bodies cut short, stalls in the middle of a body) come from the raw
``FaultyBackend``; bad content over correct HTTP from the ``ScriptedBackend``. Both proxies
here read with a short UPSTREAM_TIMEOUT, so stalls end quickly, and both backends close every
connection after one answer, so that any connection the proxy still holds afterwards is a leak.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import aiohttp.connector
import httpx
import orjson
import pytest
from aiohttp.resolver import ThreadedResolver

from conftest import RunningProxy, start_proxy
from support.faulty_backend import (
    GOOD_TEXT,
    LAST_CHUNK,
    Close,
    FaultyBackend,
    NextRequest,
    Reset,
    Send,
    Stall,
    chunk,
    completion,
    head,
    sse,
)
from support.resources import HTTP, nothing_left_behind
from support.scripted_backend import DEFAULT_CONTENT, Script, ScriptedBackend
from support.wirecheck import accumulate, check_sse_bytes, check_stream

TIMEOUT = "0.5"
CHAT = {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
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
def faulty_proxy_server(faulty: FaultyBackend) -> Iterator[RunningProxy]:
    running = start_proxy({"OPENAI_BASE_URL": faulty.url, "UPSTREAM_TIMEOUT": TIMEOUT})
    yield running
    running.stop()


@pytest.fixture
def faulty_proxy(faulty_proxy_server: RunningProxy, faulty: FaultyBackend) -> RunningProxy:
    faulty.reset()
    return faulty_proxy_server


@pytest.fixture
def backend(scripted: ScriptedBackend) -> ScriptedBackend:
    """This module's scripted backend, reset."""
    scripted.reset()
    return scripted


@pytest.fixture(scope="module")
def scripted_proxy_server(scripted: ScriptedBackend) -> Iterator[RunningProxy]:
    running = start_proxy({"OPENAI_BASE_URL": scripted.url, "UPSTREAM_TIMEOUT": TIMEOUT})
    yield running
    running.stop()


@pytest.fixture
def scripted_proxy(scripted_proxy_server: RunningProxy, backend: ScriptedBackend) -> RunningProxy:
    return scripted_proxy_server


def post(proxy: RunningProxy, stream: bool, **fields: Any) -> httpx.Response:
    body = {**CHAT, "stream": stream, **fields}
    return HTTP.post(proxy.base_url + "/chat/completions", json=body)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The OpenAI error object of a whole-JSON error response, after checking its shape."""
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert {"message", "type", "param", "code"} <= set(error)
    assert isinstance(error["message"], str)
    return error


def stream_error(response: httpx.Response) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The chunks of a stream that ended with an error event, and that event's error object."""
    assert response.status_code == 200
    chunks = check_sse_bytes(response.content)
    assert b"data: [DONE]" not in response.content
    last = response.content.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
    error: dict[str, Any] = orjson.loads(last[len(b"data: ") :])["error"]
    return chunks, error


def content_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(message.get("content") or "" for message in accumulate(chunks))


# --- the backend cannot be reached ---------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_connection_refused_is_502_saying_what_to_check(
    make_proxy: Callable[..., RunningProxy], refused_url: str, stream: bool
) -> None:
    proxy = make_proxy(OPENAI_BASE_URL=refused_url)
    with nothing_left_behind(proxy, None, GOOD_TEXT):
        for _ in range(2):  # and again: a failure changes nothing for the next request
            response = post(proxy, stream)
            assert response.status_code == 502
            error = error_of(response)
            assert error["message"] == (
                f"could not reach the backend at {refused_url} (connection refused): "
                "is LM Studio / Ollama running? Set OPENAI_BASE_URL."
            )
            assert error["code"] == "backend_unreachable"


class NoDnsResolver(ThreadedResolver):
    """Resolves no name at all, as a resolver does for a ``.invalid`` name (RFC 6761), and
    without asking any DNS server: the test never leaves the machine."""

    asked: ClassVar[list[str]] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        self.asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize("stream", [False, True])
def test_a_host_name_that_does_not_resolve_is_502(
    make_proxy: Callable[..., RunningProxy], monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    # The proxy's session is created at start-up: with this resolver in aiohttp's place.
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", NoDnsResolver)
    NoDnsResolver.asked = []
    url = "http://glm-backend.invalid:1234/v1"
    proxy = make_proxy(OPENAI_BASE_URL=url)
    with nothing_left_behind(proxy, None, GOOD_TEXT):
        response = post(proxy, stream)
    assert response.status_code == 502
    error = error_of(response)
    assert error["message"] == (
        f"could not reach the backend at {url} (host name not found): "
        "is LM Studio / Ollama running? Set OPENAI_BASE_URL."
    )
    assert NoDnsResolver.asked == ["glm-backend.invalid"]


# --- the connection breaks -------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ([Reset()], "reset the connection before answering"),
        ([Close()], "closed the connection before answering"),
        (
            [Send(b"HTTP/1.1 200 OK\r\nContent-Ty"), Reset()],
            "reset the connection before answering",
        ),
    ],
    ids=["reset", "closed", "reset-in-the-head"],
)
def test_a_connection_broken_before_the_answer_is_502(
    faulty_proxy: RunningProxy, faulty: FaultyBackend, plan: list[Any], message: str, stream: bool
) -> None:
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan(plan)
        response = post(faulty_proxy, stream)
        sent = len(faulty.requests)
    assert sent == 2 + 1  # the good answers before it, and the request once: not sent again
    assert response.status_code == 502
    error = error_of(response)
    assert error["message"] == f"the backend at {faulty.url} {message}"
    assert error["code"] == "backend_unreachable"
    assert faulty.open == 0


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("end", "message"),
    [(Close(), "closed the connection"), (Reset(), "reset the connection")],
    ids=["closed", "reset"],
)
def test_a_request_the_backend_took_on_a_pooled_connection_is_never_sent_again(
    faulty_proxy: RunningProxy, faulty: FaultyBackend, end: Any, message: str, stream: bool
) -> None:
    # The backend reads the request on a kept-alive connection, then drops it. It may have
    # started the generation (GPU time; a tool-calling agent could act twice): the proxy
    # answers 502 and never sends the POST again (issue 12; it used to go out once more).
    first = completion("first answer")
    kept_alive = head(length=len(first), keep_alive=True) + first
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Send(kept_alive), NextRequest(), end])
        assert post(faulty_proxy, False).json()["choices"][0]["message"]["content"] == (
            "first answer"
        )
        requests, connections = len(faulty.requests), faulty.accepted
        response = post(faulty_proxy, stream)
        assert len(faulty.requests) == requests + 1  # taken once, on the pooled connection
        assert faulty.accepted == connections  # and not sent again on a new one
    assert response.status_code == 502
    error = error_of(response)
    assert error["message"] == f"the backend at {faulty.url} {message} before answering"
    assert error["code"] == "backend_unreachable"


@pytest.mark.parametrize("stream", [False, True])
def test_a_pooled_connection_the_backend_closed_while_idle_is_not_used(
    faulty_proxy: RunningProxy, faulty: FaultyBackend, stream: bool
) -> None:
    # A backend closes idle kept-alive connections when it likes (here: right after its
    # answer). The next request must not go out on the closed one: it gets a new connection.
    first = completion("first answer")
    kept_alive = head(length=len(first), keep_alive=True) + first
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Send(kept_alive), Close()])
        assert post(faulty_proxy, False).status_code == 200
        before = len(faulty.requests)
        response = post(faulty_proxy, stream)
        assert len(faulty.requests) == before + 1  # once, on a new connection
    assert response.status_code == 200, response.text
    if stream:
        chunks = check_sse_bytes(response.content)
        check_stream(chunks)
        assert content_of(chunks) == GOOD_TEXT
    else:
        assert response.json()["choices"][0]["message"]["content"] == GOOD_TEXT


@pytest.mark.parametrize(
    ("end", "message"),
    [(Reset(), "reset the connection"), (Close(), "closed the connection")],
    ids=["reset", "closed"],
)
def test_a_stream_broken_midway_keeps_its_text_and_ends_with_an_error_event(
    faulty_proxy: RunningProxy, faulty: FaultyBackend, end: Any, message: str
) -> None:
    events = sse(role=True) + sse("Hello ") + sse(HELD)
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Send(SSE_HEAD + chunk(events)), end])
        response = post(faulty_proxy, True, tools=TOOLS)
    chunks, error = stream_error(response)
    check_stream(chunks)  # every choice finished, before the error event
    assert content_of(chunks) == "Hello " + HELD  # the held "<tool_ca" was flushed
    assert error["message"] == f"the backend at {faulty.url} {message} in the middle of its answer"
    assert error["code"] == "backend_unreachable"


@pytest.mark.parametrize(
    ("end", "status", "message"),
    [
        (Reset(), 502, "reset the connection in the middle of its answer"),
        (Close(), 502, "closed the connection in the middle of its answer"),
        (Stall(), 504, f"did not answer within {TIMEOUT} s (UPSTREAM_TIMEOUT)"),
    ],
    ids=["reset", "closed", "stalled"],
)
@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_broken_midway_is_an_error_that_returns_the_text_received(
    faulty_proxy: RunningProxy,
    faulty: FaultyBackend,
    end: Any,
    status: int,
    message: str,
    chunked: bool,
) -> None:
    body = completion("The answer is: forty-two, and here is why")
    sent = body[: len(body) // 2]
    framing = head() + chunk(sent) if chunked else head(length=len(body)) + sent
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Send(framing), end])
        response = post(faulty_proxy, False)
    assert response.status_code == status
    error = error_of(response)
    assert error["partial"] == sent.decode()
    assert error["message"] == (
        f"the backend at {faulty.url} {message}; "
        f"error.partial holds the {len(sent)} characters it sent"
    )
    assert faulty.open == 0


# --- streams that end wrongly ------------------------------------------------------------------


def test_a_stream_that_stops_without_done_or_finish_ends_with_an_error_event(
    faulty_proxy: RunningProxy, faulty: FaultyBackend
) -> None:
    # A clean end of the HTTP body, but the answer was not over: the client must learn that.
    events = sse(role=True) + sse(HELD)
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Send(SSE_HEAD + chunk(events) + LAST_CHUNK)])
        response = post(faulty_proxy, True, tools=TOOLS)
    chunks, error = stream_error(response)
    check_stream(chunks)
    assert content_of(chunks) == HELD
    assert error["message"] == (
        f"the backend at {faulty.url} ended its event stream before the answer was finished "
        "(no finish_reason, no [DONE])"
    )
    assert error["code"] == "backend_bad_response"


def test_a_stream_whose_choices_all_finished_is_complete_even_without_done(
    scripted_proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    # Every choice sent its finish_reason: only the [DONE] is missing, nothing of the answer.
    with nothing_left_behind(scripted_proxy, backend.port, DEFAULT_CONTENT):
        backend.script(Script(content=["one", "two"], send_done=False))
        response = post(scripted_proxy, True)
    chunks = check_sse_bytes(response.content)
    check_stream(chunks)
    assert response.content.endswith(b"data: [DONE]\n\n")
    assert [message["content"] for message in accumulate(chunks)] == ["one", "two"]


def test_a_stream_that_stalls_past_the_read_timeout_ends_with_a_timeout_event(
    scripted_proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    with nothing_left_behind(scripted_proxy, backend.port, DEFAULT_CONTENT):
        backend.script(Script(content=HELD, chunk_size=len(HELD), stall_after=2))
        response = post(scripted_proxy, True, tools=TOOLS)
    chunks, error = stream_error(response)
    check_stream(chunks)
    assert content_of(chunks) == HELD
    assert error["message"] == (
        f"the backend at {backend.url} did not answer within {TIMEOUT} s (UPSTREAM_TIMEOUT)"
    )
    assert error["code"] == "backend_timeout"
    assert backend.open_streams == 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_backend_that_never_answers_is_504(
    scripted_proxy: RunningProxy, backend: ScriptedBackend, stream: bool
) -> None:
    # A stream gets its headers, then nothing; a non-streamed request gets nothing at all.
    with nothing_left_behind(scripted_proxy, backend.port, DEFAULT_CONTENT):
        backend.script(Script(delay=30))
        response = post(scripted_proxy, stream)
    timeout = f"the backend at {backend.url} did not answer within {TIMEOUT} s (UPSTREAM_TIMEOUT)"
    if stream:
        chunks, error = stream_error(response)
        assert chunks == []
    else:
        assert response.status_code == 504
        error = error_of(response)
    assert error["message"] == timeout
    assert error["code"] == "backend_timeout"


# --- answers that are not what the API promises -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body>Bad Gateway</body></html>", "answered with invalid JSON"),
        (b"", "answered with invalid JSON"),
        (b'{"object": "list", "data": []}', "answered without a choices list"),
        (b'{"choices": "none"}', "answered without a choices list"),
        (b"[1, 2, 3]", "answered without a choices list"),
        (b"null", "answered without a choices list"),
        (b'{"choices": [1]}', "answered with a choice that has no message object"),
        (b'{"choices": [{"index": 0, "text": "hi"}]}', "answered with a choice that has no"),
        (b'{"choices": [{"message": "hi"}]}', "answered with a choice that has no message"),
    ],
)
def test_a_body_that_is_not_a_completion_is_502(
    scripted_proxy: RunningProxy, backend: ScriptedBackend, body: bytes, message: str
) -> None:
    with nothing_left_behind(scripted_proxy, backend.port, DEFAULT_CONTENT):
        backend.script(Script(body=body))
        response = post(scripted_proxy, False)
    assert response.status_code == 502
    error = error_of(response)
    assert error["message"].startswith(f"the backend at {backend.url} {message}")
    assert error["code"] == "backend_bad_response"


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (b"hello, I am not an event stream\n", "sent an event stream without any choice"),
        (b'data: {"choices": "none"}\n\ndata: [DONE]\n\n', "a chunk whose choices is not a list"),
        (b'data: {"object": "list"}\n\n', "sent an event stream without any choice"),
        (b"data: [DONE]\n\n", "sent an event stream without any choice"),
        (b"data: [1, 2]\n\n", "an event that is not a JSON object: '[1, 2]'"),
        (b"data: {oops\n\n", "sent an invalid event stream: an event that is not JSON"),
    ],
)
def test_an_event_stream_of_the_wrong_shape_ends_with_an_error_event(
    scripted_proxy: RunningProxy, backend: ScriptedBackend, events: bytes, message: str
) -> None:
    with nothing_left_behind(scripted_proxy, backend.port, DEFAULT_CONTENT):
        backend.script(Script(body=events, content_type="text/event-stream"))
        response = post(scripted_proxy, True)
    chunks, error = stream_error(response)
    assert chunks == []
    assert error["message"].startswith(f"the backend at {backend.url} ")
    assert message in error["message"]
    assert error["code"] == "backend_bad_response"


@pytest.mark.parametrize("same_read", [False, True])
def test_an_event_that_is_not_json_ends_the_stream_after_the_text_before_it(
    faulty_proxy: RunningProxy, faulty: FaultyBackend, same_read: bool
) -> None:
    good = sse(role=True) + sse("Hello ") + sse(HELD)
    bad = b"data: {not json\n\n" + sse("never sent")
    pieces = [good + bad] if same_read else [good, bad]
    with nothing_left_behind(faulty_proxy, faulty.port, GOOD_TEXT):
        faulty.plan([Send(SSE_HEAD + b"".join(chunk(piece) for piece in pieces) + LAST_CHUNK)])
        response = post(faulty_proxy, True, tools=TOOLS)
    chunks, error = stream_error(response)
    check_stream(chunks)
    assert content_of(chunks) == "Hello " + HELD
    assert error["message"].startswith(
        f"the backend at {faulty.url} sent an invalid event stream: an event that is not JSON"
    )
    assert error["message"].endswith("'{not json'")


# --- error statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("status", [429, 500, 503])
@pytest.mark.parametrize("body", [b'{"error": {"message": "model overloaded"}}', b""])
def test_an_error_status_of_the_backend(
    scripted_proxy: RunningProxy, backend: ScriptedBackend, status: int, body: bytes, stream: bool
) -> None:
    with nothing_left_behind(scripted_proxy, backend.port, DEFAULT_CONTENT):
        backend.script(Script(status=status, error_body=body))
        response = post(scripted_proxy, stream)
    if status < 500:  # the client's problem as the backend sees it: passed through
        assert response.status_code == status
        if body:
            assert response.content == body
        else:
            assert error_of(response)["message"] == f"the backend answered HTTP {status}"
        return
    assert response.status_code == 502  # never a 5xx of our own that the SDK would retry
    error = error_of(response)
    said = ": model overloaded" if body else ""
    assert error["message"] == f"the backend at {backend.url} failed with HTTP {status}{said}"
    assert error["type"] == "backend_error"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            b'data: {"error": "CUDA out of memory"}\n\n',
            {"message": "CUDA out of memory", "type": "backend_error", "param": None, "code": None},
        ),
        (  # vLLM's shape: a number for the code, no param
            b'data: {"object": "error", "error": {"message": "too long", "type": "BadRequest", '
            b'"code": 400}}\n\n',
            {"message": "too long", "type": "BadRequest", "param": None, "code": "400"},
        ),
        (
            b'data: {"error": {"message": ""}}\n\n',
            {
                "message": 'the backend reported an error in its stream: {"message":""}',
                "type": "backend_error",
                "param": None,
                "code": None,
            },
        ),
    ],
)
def test_the_backends_own_error_event_reaches_the_client_in_the_openai_shape(
    scripted_proxy: RunningProxy, backend: ScriptedBackend, event: bytes, expected: object
) -> None:
    with nothing_left_behind(scripted_proxy, backend.port, DEFAULT_CONTENT):
        backend.script(Script(content="Partial answ", extra_events=(event,)))
        response = post(scripted_proxy, True)
    chunks, error = stream_error(response)
    assert content_of(chunks) == "Partial answ"
    assert error == expected


@pytest.mark.parametrize(
    "event",
    [
        b'data: {"choices": [{"index": 0, "delta": "text"}]}\n\n',
        b'data: {"choices": [7]}\n\n',
        b'data: {"choices": {"index": 0}}\n\n',
    ],
)
def test_stream_chunk_of_the_wrong_shape_is_an_invalid_stream(
    event: bytes, scripted_proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(content="Hello", chunk_size=2, send_done=False, extra_events=(event,)))
    chunks, error = stream_error(post(scripted_proxy, True))
    assert content_of(chunks) == "Hello"
    assert "sent an invalid event stream: a chunk whose" in error["message"]
