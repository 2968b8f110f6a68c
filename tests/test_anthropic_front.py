"""The Anthropic Messages front's pure modules: the answer's blocks, whole and streamed.

Every GLM case of ``glm_cases`` goes through the stream (cut into deltas of several sizes) and
through the whole answer: the streamed events pass every rule of ``anthropic_wirecheck``, and
the message a client accumulates equals the non-streamed one.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from glm_proxy.backend.chunk_template import PlainText, plain_text
from glm_proxy.conversion.plan import Plan, plan_for
from glm_proxy.errors import BackendBadResponse, BackendStatusError, BadRequest, Unauthorized
from glm_proxy.fronts.anthropic_messages.blocks import THINKING_SIGNATURE, usage_fields
from glm_proxy.fronts.anthropic_messages.errors import error_payload, render_error
from glm_proxy.fronts.anthropic_messages.render import render_message
from glm_proxy.fronts.anthropic_messages.stream import QUIET_CHUNKS, MessageStream
from support.anthropic_wirecheck import accumulate, check_stream, parse_events
from support.glm_cases import CASES, TOOLS, Case
from support.translating import USAGE, completion, delta_chunk, envelope, upstream_stream

MODEL = "claude-sonnet-4-5"


def ids() -> Callable[[], str]:
    numbers = itertools.count()
    return lambda: f"toolu_{next(numbers)}"


def plan(**extra: Any) -> Plan:
    body = {"model": "glm-4.5", "messages": [], "tools": TOOLS, **extra}
    return plan_for(body, starts_in_reasoning=False, id_factory=ids())


def case_plan(case: Case) -> Plan:
    """The plan for a case; its ``kwargs`` are parser options."""
    base = plan()
    return dataclasses.replace(base, parser=dataclasses.replace(base.parser, **case.kwargs))


def stream_bytes(chunks: list[dict[str, Any]], the_plan: Plan | None = None, **kw: Any) -> bytes:
    front = MessageStream(the_plan or plan(), model=MODEL, message_id="msg_1", **kw)
    out: list[bytes] = []
    for chunk in chunks:
        out += front.feed(chunk)
    out += front.end()
    return b"".join(out)


def whole(answer: dict[str, Any], the_plan: Plan | None = None, **kw: Any) -> dict[str, Any]:
    message, _ = render_message(answer, the_plan or plan(), model=MODEL, message_id="msg_1", **kw)
    return message


def texts(message: dict[str, Any]) -> str:
    return "".join(b["text"] for b in message["content"] if b["type"] == "text")


def tool_uses(message: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(b["name"], b["input"]) for b in message["content"] if b["type"] == "tool_use"]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("size", [1, 4, None])
def test_every_glm_case_streams_as_the_whole_answer(case: Case, size: int | None) -> None:
    events = parse_events(stream_bytes(upstream_stream(case.text, size), case_plan(case)))
    check_stream(events)
    streamed = accumulate(events)
    expected = whole(completion(case.text), case_plan(case))
    assert streamed == expected
    # The blocks say what the chat front's message says, in Anthropic's shapes.
    calls = case.expected.get("tool_calls") or []
    assert tool_uses(expected) == [
        (call["function"]["name"], orjson.loads(call["function"]["arguments"])) for call in calls
    ]
    assert texts(expected).split() == (case.expected["content"] or "").split()
    assert expected["stop_reason"] == ("tool_use" if calls else "end_turn")
    for block in expected["content"]:
        if block["type"] == "text":
            assert block["text"].strip(), "no empty text blocks"


def test_reasoning_text_and_call_come_as_thinking_text_and_tool_use_blocks() -> None:
    output = (
        "<think>Need the weather.</think>Let me check.<tool_call>get_weather"
        "<arg_key>location</arg_key><arg_value>Seoul</arg_value>"
        "<arg_key>days</arg_key><arg_value>3</arg_value></tool_call>"
    )
    message = whole(completion(output))
    assert message["content"] == [
        {"type": "thinking", "thinking": "Need the weather.", "signature": THINKING_SIGNATURE},
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_0", "name": "get_weather",
         "input": {"location": "Seoul", "days": 3}},
    ]  # fmt: skip
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 11, "output_tokens": 42}
    assert (message["model"], message["id"]) == (MODEL, "msg_1")
    events = parse_events(stream_bytes(upstream_stream(output, 3)))
    check_stream(events)
    assert accumulate(events) == message
    # The stream's usage is the backend's, in the final message_delta (it came at the end).
    assert events[-2][1]["usage"] == {"input_tokens": 11, "output_tokens": 42}


def test_reasoning_the_backend_split_off_is_a_thinking_block() -> None:
    chunks = [
        delta_chunk(reasoning_content="Hmm, "),
        delta_chunk(reasoning_content="let me see."),
        delta_chunk(content="Hi!"),
        delta_chunk(finish="stop"),
        envelope(choices=[], usage=USAGE),
    ]
    events = parse_events(stream_bytes(chunks))
    check_stream(events)
    message = accumulate(events)
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    assert message["content"][0]["thinking"] == "Hmm, let me see."
    assert message == whole(completion("Hi!", reasoning_content="Hmm, let me see."))


def test_a_call_cut_off_by_the_token_limit_is_never_a_tool_use_block() -> None:
    output = "Writing it.<tool_call>get_weather<arg_key>location</arg_key><arg_value>Seo"
    for size in (1, 5, None):
        events = parse_events(stream_bytes(upstream_stream(output, size, finish="length")))
        check_stream(events)
        message = accumulate(events)
        assert tool_uses(message) == []
        assert message["stop_reason"] == "max_tokens"
        assert texts(message) == output  # the markup comes back as text: nothing lost
        assert message == whole(completion(output, finish="length"))


def test_calls_the_backend_parsed_itself_become_tool_use_blocks() -> None:
    first = {"index": 0, "id": "chatcmpl-tool-1", "type": "function",
             "function": {"name": "search", "arguments": ""}}  # fmt: skip
    chunks = [
        delta_chunk(content="Looking."),
        delta_chunk(tool_calls=[first]),
        delta_chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"query": '}}]),
        delta_chunk(tool_calls=[{"index": 0, "function": {"arguments": '"glm"}'}}]),
        delta_chunk(finish="tool_calls"),
        envelope(choices=[], usage=USAGE),
    ]
    events = parse_events(stream_bytes(chunks))
    check_stream(events)
    message = accumulate(events)
    assert message["content"][1] == {
        "type": "tool_use", "id": "chatcmpl-tool-1", "name": "search", "input": {"query": "glm"}
    }  # fmt: skip
    assert message["stop_reason"] == "tool_use"
    call = {"id": "chatcmpl-tool-1", "type": "function",
            "function": {"name": "search", "arguments": '{"query": "glm"}'}}  # fmt: skip
    assert whole(completion("Looking.", finish="tool_calls", tool_calls=[call])) == message


def test_a_model_the_proxy_does_not_convert_keeps_its_text_as_text() -> None:
    body = {"model": "llama", "messages": [], "tools": TOOLS}
    plain = plan_for(body, starts_in_reasoning=False, dialect="plain", id_factory=ids())
    output = "<tool_call>get_time</tool_call>"
    events = parse_events(stream_bytes(upstream_stream(output, 4), plain))
    check_stream(events)
    assert accumulate(events)["content"] == [{"type": "text", "text": output}]


def test_stop_sequences_the_backend_names_give_stop_sequence() -> None:
    answer = completion("The answer is 4")
    answer["choices"][0]["stop_reason"] = "\n\nHuman:"
    message = whole(answer, stop_sequences=("\n\nHuman:",))
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "\n\nHuman:")
    chunks = upstream_stream("The answer is 4", 3)
    chunks[-2]["choices"][0]["stop_reason"] = "\n\nHuman:"
    events = parse_events(stream_bytes(chunks, stop_sequences=("\n\nHuman:",)))
    check_stream(events)
    assert accumulate(events) == message


def test_usage_counts_come_from_the_backend_with_the_cache_split_off() -> None:
    assert usage_fields(None) == {"input_tokens": 0, "output_tokens": 0}
    usage = {"prompt_tokens": 900, "completion_tokens": 5,
             "prompt_tokens_details": {"cached_tokens": 800}}  # fmt: skip
    assert usage_fields(usage) == {
        "input_tokens": 100, "output_tokens": 5, "cache_read_input_tokens": 800
    }  # fmt: skip
    chunks = [*upstream_stream("Hi", None, usage=False), envelope(choices=[], usage=usage)]
    events = parse_events(stream_bytes(chunks))
    assert events[-2][1]["usage"] == usage_fields(usage)
    assert accumulate(events)["usage"]["cache_read_input_tokens"] == 800


def test_a_long_held_call_gets_pings_and_the_stream_stays_valid() -> None:
    value = "x" * (QUIET_CHUNKS * 3)
    output = f"<tool_call>search<arg_key>query</arg_key><arg_value>{value}</arg_value></tool_call>"
    raw = stream_bytes(upstream_stream(output, 1))
    events = parse_events(raw)
    check_stream(events)
    assert sum(1 for name, _ in events if name == "ping") >= 2
    assert tool_uses(accumulate(events)) == [("search", {"query": value})]


def test_a_failure_mid_stream_sends_the_held_text_then_one_error_event() -> None:
    front = MessageStream(plan(), model=MODEL, message_id="msg_1")
    out = front.feed(delta_chunk(content="Partial answer <tool_call>get_weather<arg_key>loc"))
    out += front.fail(BackendBadResponse("the backend went away"))
    events = parse_events(b"".join(out))
    check_stream(events, error=True)
    assert events[-1][1] == {
        "type": "error", "error": {"type": "api_error", "message": "the backend went away"}
    }  # fmt: skip
    assert texts(accumulate(events)) == "Partial answer <tool_call>get_weather<arg_key>loc"


def test_a_failure_before_anything_is_only_the_error_event() -> None:
    front = MessageStream(plan(), model=MODEL, message_id="msg_1")
    events = parse_events(b"".join(front.fail(BackendBadResponse("no answer"))))
    assert [name for name, _ in events] == ["error"]


def test_a_ping_before_anything_starts_the_message_first() -> None:
    front = MessageStream(plan(), model=MODEL, message_id="msg_1")
    first = front.ping()
    assert first is not None
    again = front.ping()
    rest = b"".join(
        [*front.feed(delta_chunk(content="Hi")), *front.feed(delta_chunk(finish="stop"))]
    )
    events = parse_events(first + (again or b"") + rest + b"".join(front.end()))
    check_stream(events)
    assert [name for name, _ in events][:3] == ["message_start", "ping", "ping"]


def test_errors_have_anthropic_s_shape_and_status() -> None:
    assert render_error(BadRequest("'max_tokens' must be a positive integer")) == (
        400,
        b'{"type":"error","error":{"type":"invalid_request_error",'
        b'"message":"\'max_tokens\' must be a positive integer"}}',
    )
    assert error_payload(Unauthorized("no key"))["error"]["type"] == "authentication_error"
    limited = BackendStatusError(429, b'{"error": {"message": "slow down"}}', "http://b")
    assert render_error(limited)[0] == 429
    assert error_payload(limited)["error"] == {"type": "rate_limit_error", "message": "slow down"}
    failed = BackendStatusError(500, b"boom", "http://b")
    assert render_error(failed)[0] == 502
    assert error_payload(failed)["error"]["type"] == "api_error"
    assert USAGE["prompt_tokens"] == 11  # the fixtures above assume it


def recognised(chunk: dict[str, Any]) -> dict[str, Any] | PlainText:
    """A plain-text chunk as ``chunk_template`` gives it when it recognises it from its bytes."""
    found = plain_text(chunk)
    return chunk if found is None else (found[0], found[2], chunk)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("read", [1, 3, 1000])
def test_feed_many_with_recognised_text_gives_the_message_of_feed(case: Case, read: int) -> None:
    # The fast path (runs of text recognised from their bytes, read in one piece) against the
    # slow one (every chunk decoded and fed): the same message.
    backend = upstream_stream(case.text, 1)
    items = [recognised(chunk) for chunk in backend]
    front = MessageStream(case_plan(case), model=MODEL, message_id="msg_1")
    out: list[bytes] = []
    for start in range(0, len(items), read):
        out += front.feed_many(items[start : start + read])
    out += front.end()
    events = parse_events(b"".join(out))
    check_stream(events)
    assert accumulate(events) == accumulate(parse_events(stream_bytes(backend, case_plan(case))))


def test_feed_many_reads_a_run_of_recognised_text_at_once() -> None:
    items = [recognised(chunk) for chunk in upstream_stream("Hello there, world.", 1)]
    front = MessageStream(plan(), model=MODEL, message_id="msg_1")
    events = parse_events(b"".join(front.feed_many(items) + front.end()))
    deltas = [e["delta"]["text"] for name, e in events if name == "content_block_delta"]
    assert deltas == ["Hello there, world."]
