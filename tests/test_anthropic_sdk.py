"""The Messages front through the official ``anthropic`` SDK, against the real proxy in front of
the scripted backend (GLM markup in, Anthropic blocks out).

Every event stream the SDK receives in these tests is recorded on the wire and checked against
every rule of ``anthropic_wirecheck`` when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import orjson
import pytest
from anthropic.types import (
    MessageParam,
    RawContentBlockStartEvent,
    RawMessageDeltaEvent,
    ToolParam,
    ToolResultBlockParam,
)

from conftest import RunningProxy
from glm_proxy.fronts.anthropic_messages import route
from support.anthropic_wirecheck import accumulate, check_stream, parse_events
from support.scripted_backend import Script, ScriptedBackend

BASH: ToolParam = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
        "required": ["command"],
    },
}
CALL = (
    "I will list the files.\n<tool_call>Bash\n<arg_key>command</arg_key>\n<arg_value>ls -la"
    "</arg_value>\n<arg_key>timeout</arg_key>\n<arg_value>5000</arg_value>\n</tool_call>"
)
USER: list[MessageParam] = [{"role": "user", "content": "List the files."}]


class _Tee(httpx2.SyncByteStream):
    def __init__(self, stream: Any, into: list[bytes]) -> None:
        self._stream = stream
        self._into = into

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self._into.append(chunk)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class RecordingTransport(httpx2.HTTPTransport):
    """Keeps the bytes of every event stream it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.streams: list[list[bytes]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            recorded: list[bytes] = []
            self.streams.append(recorded)
            response.stream = _Tee(response.stream, recorded)
        return response


@pytest.fixture
def wire() -> Iterator[RecordingTransport]:
    transport = RecordingTransport()
    yield transport
    assert transport.streams, "no event stream was received"
    for recorded in transport.streams:
        events = parse_events(b"".join(recorded))
        check_stream(events, error=events[-1][0] == "error")


@pytest.fixture
def sdk(wire: RecordingTransport) -> Iterator[Callable[[RunningProxy], anthropic.Anthropic]]:
    made: list[anthropic.Anthropic] = []

    def make(proxy: RunningProxy) -> anthropic.Anthropic:
        client = anthropic.Anthropic(
            base_url=proxy.url,
            api_key="sk-ant-dummy",
            max_retries=0,
            http_client=httpx2.Client(transport=wire),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def plain_sdk() -> Iterator[Callable[[RunningProxy], anthropic.Anthropic]]:
    """Clients that do not record (tests whose answers are not streamed)."""
    made: list[anthropic.Anthropic] = []

    def make(proxy: RunningProxy) -> anthropic.Anthropic:
        client = anthropic.Anthropic(base_url=proxy.url, api_key="x", max_retries=0)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_create_streams_nothing_and_echoes_the_client_model(
    make_proxy: Callable[..., RunningProxy],
    backend: ScriptedBackend,
    plain_sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    proxy = make_proxy(MODEL_ALIASES="claude-*=glm-4.5-air")
    client = plain_sdk(proxy)
    backend.script(Script(content=CALL, reasoning="The user wants a listing."))
    message = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=1000, messages=USER, tools=[BASH]
    )
    assert message.model == "claude-sonnet-4-5"
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, call = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "The user wants a listing."
    assert text.type == "text"
    assert text.text == "I will list the files."
    assert call.type == "tool_use"
    assert call.id.startswith("toolu_")
    assert (call.name, call.input) == ("Bash", {"command": "ls -la", "timeout": 5000})
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)
    sent = backend.requests[-1].json()
    assert sent["model"] == "glm-4.5-air"
    assert "stream" not in sent
    assert sent["tools"][0]["function"]["parameters"] == BASH["input_schema"]


def test_stream_accumulates_the_same_message(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    sdk: Callable[[RunningProxy], anthropic.Anthropic],
    wire: RecordingTransport,
) -> None:
    client = sdk(proxy)
    script = Script(content=CALL, reasoning="The user wants a listing.", chunk_size=3)
    backend.script(script, script)
    with client.messages.stream(
        model="glm-4.5", max_tokens=1000, messages=USER, tools=[BASH]
    ) as stream:
        streamed_text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed_text == "I will list the files."
    whole = client.messages.create(model="glm-4.5", max_tokens=1000, messages=USER, tools=[BASH])
    assert final.model_dump(exclude={"id"}) | {"content": None} == whole.model_dump(
        exclude={"id"}
    ) | {"content": None}
    assert [b.model_dump(exclude={"id"}) for b in final.content] == [
        b.model_dump(exclude={"id"}) for b in whole.content
    ]
    assert final.usage.input_tokens == 11  # the backend's count, sent in the last message_delta
    sent = backend.requests[0].json()
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    events = parse_events(b"".join(wire.streams[0]))
    assert accumulate(events)["content"][2]["input"] == {"command": "ls -la", "timeout": 5000}


def test_a_tool_round_trip(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    client = sdk(proxy)
    backend.script(Script(content=CALL, chunk_size=7), Script(content="There are 3 files."))
    with client.messages.stream(
        model="glm-4.5", max_tokens=1000, messages=USER, tools=[BASH]
    ) as stream:
        first = stream.get_final_message()
    call = next(block for block in first.content if block.type == "tool_use")
    assert call.type == "tool_use"
    result: ToolResultBlockParam = {
        "type": "tool_result",
        "tool_use_id": call.id,
        "content": "a\nb\nc",
    }
    messages: list[MessageParam] = [
        *USER,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [result]},
    ]
    with client.messages.stream(
        model="glm-4.5", max_tokens=1000, messages=messages, tools=[BASH]
    ) as stream:
        second = stream.get_final_message()
    assert second.stop_reason == "end_turn"
    assert [(b.type, getattr(b, "text", None)) for b in second.content] == [
        ("text", "There are 3 files.")
    ]
    sent = backend.requests[1].json()["messages"]
    assert sent[1]["tool_calls"] == [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": "Bash", "arguments": '{"command":"ls -la","timeout":5000}'},
        }
    ]
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "a\nb\nc"}


def test_raw_stream_events_and_a_cut_off_call(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    client = sdk(proxy)
    cut = "Writing.<tool_call>Bash<arg_key>command</arg_key><arg_value>echo hel"
    backend.script(Script(content=cut, finish_reason="length", chunk_size=4))
    events = list(
        client.messages.create(
            model="glm-4.5", max_tokens=20, messages=USER, tools=[BASH], stream=True
        )
    )
    kinds = [getattr(event, "type", None) for event in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    starts = [e.content_block.type for e in events if isinstance(e, RawContentBlockStartEvent)]
    assert starts == ["text"]  # the cut-off call is not a tool_use block
    last = events[-2]
    assert isinstance(last, RawMessageDeltaEvent)
    assert last.delta.stop_reason == "max_tokens"


def test_thinking_disabled_reaches_the_backend(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    plain_sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    client = plain_sdk(proxy)
    backend.script(Script(content="Plain."))
    message = client.messages.create(
        model="glm-4.7",
        max_tokens=100,
        messages=USER,
        thinking={"type": "disabled"},
        stop_sequences=["END"],
        metadata={"user_id": "u"},
        extra_body={"temperature": 0.1},
    )
    assert [block.type for block in message.content] == ["text"]
    sent = backend.requests[-1].json()
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}
    assert sent["stop"] == ["END"]
    assert sent["temperature"] == 0.1
    assert "metadata" not in sent


def test_a_model_the_proxy_does_not_convert_and_calls_the_backend_parsed(
    make_proxy: Callable[..., RunningProxy],
    backend: ScriptedBackend,
    sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    client = sdk(make_proxy(DETECT_DIALECT="false"))
    script = Script(
        content="<tool_call>stays text</tool_call>",
        tool_calls=(("Bash", '{"command": "pwd"}'),),
        finish_reason="tool_calls",
        chunk_size=5,
    )
    backend.script(script)
    with client.messages.stream(
        model="llama-3.1-8b", max_tokens=100, messages=USER, tools=[BASH]
    ) as stream:
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["text", "tool_use"]
    text, call = message.content
    assert text.type == "text"
    assert text.text == "<tool_call>stays text</tool_call>"
    assert call.type == "tool_use"
    assert (call.name, call.input) == ("Bash", {"command": "pwd"})
    assert message.stop_reason == "tool_use"


def test_an_unnamed_model_s_dialect_is_detected(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    client = sdk(proxy)
    backend.script(Script(content=CALL, chunk_size=6))
    with client.messages.stream(
        model="some-finetune", max_tokens=100, messages=USER, tools=[BASH]
    ) as stream:
        message = stream.get_final_message()
    assert [block.type for block in message.content] == ["text", "tool_use"]
    call = message.content[1]
    assert call.type == "tool_use"
    assert (call.name, call.input) == ("Bash", {"command": "ls -la", "timeout": 5000})


def test_errors_come_in_anthropic_s_shape(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    refused_url: str,
    make_proxy: Callable[..., RunningProxy],
    plain_sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    client = plain_sdk(proxy)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="glm-4.5", max_tokens=0, messages=USER)
    assert bad.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "'max_tokens' must be a positive integer, got a number",
        },
    }
    backend.script(Script(status=429, retry_after="3"))
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model="glm-4.5", max_tokens=10, messages=USER)
    assert limited.value.response.headers["retry-after"] == "3"
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    down = make_proxy(OPENAI_BASE_URL=refused_url)
    client = plain_sdk(down)
    with pytest.raises(anthropic.APIStatusError) as unreachable:
        client.messages.create(model="glm-4.5", max_tokens=10, messages=USER)
    assert unreachable.value.status_code == 502
    error = unreachable.value.body["error"]  # type: ignore[index]
    assert error["type"] == "api_error"
    assert "could not reach the backend" in error["message"]


def test_a_stream_that_breaks_ends_with_an_error_event(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    client = sdk(proxy)
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        for piece in ("Half ", "an ", "answer")
    ]  # and then the backend goes away: no finish_reason, no [DONE]
    raw = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
    backend.script(Script(body=raw, content_type="text/event-stream"))
    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError, match="before the answer was finished"),
        client.messages.stream(model="glm-4.5", max_tokens=100, messages=USER) as stream,
    ):
        received.extend(stream.text_stream)
    assert "".join(received) == "Half an answer"  # nothing held back is lost


def test_pings_during_a_silent_backend(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    sdk: Callable[[RunningProxy], anthropic.Anthropic],
    wire: RecordingTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(route, "PING_INTERVAL", 0.1)
    client = sdk(proxy)
    backend.script(Script(content="slow", delay=0.5))
    with client.messages.stream(model="glm-4.5", max_tokens=100, messages=USER) as stream:
        assert stream.get_final_text() == "slow"
    names = [name for name, _ in parse_events(b"".join(wire.streams[0]))]
    assert names[0] == "message_start"
    assert "ping" in names


def test_count_tokens_and_head(
    proxy: RunningProxy, plain_sdk: Callable[[RunningProxy], anthropic.Anthropic]
) -> None:
    client = plain_sdk(proxy)
    counted = client.messages.with_raw_response.count_tokens(
        model="glm-4.5",
        messages=USER,
        tools=[BASH],
    )
    assert counted.headers["x-glm-proxy-token-count"] == "estimate"
    assert counted.parse().input_tokens > 10
    assert httpx.head(proxy.url + "/").status_code == 200
    response = httpx.post(proxy.url + "/v1/messages?beta=true", content=b"{")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_errors_before_the_route_come_in_anthropic_s_shape_too(
    make_proxy: Callable[..., RunningProxy],
    plain_sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    guarded = make_proxy(PROXY_API_KEY="sk-proxy", MAX_BODY_SIZE="1K")
    with pytest.raises(anthropic.AuthenticationError) as refused:
        plain_sdk(guarded).messages.create(model="glm-4.5", max_tokens=10, messages=USER)
    assert refused.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    client = anthropic.Anthropic(base_url=guarded.url, api_key="sk-proxy", max_retries=0)
    with client, pytest.raises(anthropic.APIStatusError) as too_large:
        client.messages.create(
            model="glm-4.5", max_tokens=10, messages=[{"role": "user", "content": "x" * 2000}]
        )
    assert too_large.value.status_code == 413
    assert too_large.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


@pytest.mark.parametrize(
    ("script", "status", "kind", "said"),
    [
        (Script(status=503), 502, "api_error", "failed with HTTP 503"),
        (Script(body=b"<html>oops</html>"), 502, "api_error", "invalid JSON"),
        (Script(status=400, error_body=b'{"error": {"message": "context too long"}}'), 400,
         "invalid_request_error", "context too long"),
    ],
)  # fmt: skip
def test_backend_failures_before_the_answer(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    plain_sdk: Callable[[RunningProxy], anthropic.Anthropic],
    script: Script,
    status: int,
    kind: str,
    said: str,
) -> None:
    backend.script(script)
    with pytest.raises(anthropic.APIStatusError) as failed:
        plain_sdk(proxy).messages.create(model="glm-4.5", max_tokens=10, messages=USER)
    assert failed.value.status_code == status
    error = failed.value.body["error"]  # type: ignore[index]
    assert error["type"] == kind
    assert said in error["message"]


def test_garbage_in_the_backend_s_stream_ends_it_with_an_error_event(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    sdk: Callable[[RunningProxy], anthropic.Anthropic],
) -> None:
    backend.script(Script(content="Fine so far", extra_events=(b"data: {not json\n\n",)))
    with (
        pytest.raises(anthropic.APIStatusError, match="not JSON"),
        sdk(proxy).messages.stream(model="glm-4.5", max_tokens=10, messages=USER) as stream,
    ):
        stream.get_final_message()


def test_a_client_that_leaves_mid_stream_closes_the_backend_stream(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(content="Hello there, a long answer", chunk_size=2, stall_after=3))
    body = {"model": "glm-4.5", "max_tokens": 10, "messages": USER, "stream": True}
    with httpx.stream("POST", proxy.url + "/v1/messages", json=body, timeout=10) as response:
        assert response.status_code == 200
        first = next(response.iter_bytes())
        assert first.startswith(b"event: message_start\n")
    assert backend.wait_for_disconnect(10)
