"""``StreamTranslator``: streams, and that each adds up to the non-streamed answer."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glm_proxy.backend.chunk_template import PlainChunkTemplate
from glm_proxy.conversion.plan import Plan, plan_for
from glm_proxy.dialects.glm.render import Style, render_call, render_output
from glm_proxy.fronts.openai_chat.render import translate_completion
from glm_proxy.fronts.openai_chat.stream import StreamTranslator
from support.translating import (
    CALLS,
    EXPECTED_CALLS,
    SIZES,
    STYLES,
    USAGE,
    calls_of,
    comparable,
    completion,
    delta_chunk,
    envelope,
    full_output,
    pieces,
    request,
    run_stream,
    split_reasoning_stream,
    upstream_stream,
)
from support.wirecheck import accumulate_choices, check_stream


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("style", ["4.5", "4.7"])
def test_stream_equals_completion(style: Style, size: int | None) -> None:
    raw = full_output(style)
    translation = request(style)
    out = run_stream(translation, upstream_stream(raw, size))
    check_stream(out, include_usage=True)
    expected, converted = translate_completion(completion(raw), translation)
    assert [comparable(choice) for choice in accumulate_choices(out)] == [
        comparable(expected["choices"][0])
    ]
    assert converted == 3
    assert out[-1]["usage"] == USAGE
    assert out[-2]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]


@pytest.mark.parametrize("size", SIZES)
def test_stream_counts_converted_calls(size: int | None) -> None:
    translator = StreamTranslator(request())
    for chunk in upstream_stream(full_output("4.5"), size):
        translator.feed(chunk)
    translator.close()
    assert translator.tool_calls == 3


def test_stream_every_chunk_has_the_upstream_envelope() -> None:
    out = run_stream(request(), upstream_stream(full_output("4.5"), 5))
    for chunk in out:
        assert chunk["id"] == "chatcmpl-up"
        assert chunk["created"] == 1700000000
        assert chunk["model"] == "glm-4.7"
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["system_fingerprint"] == "fp_1"


def test_stream_fills_a_missing_envelope() -> None:
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]},
        {"id": "other", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    out = run_stream(request(), chunks)
    check_stream(out)
    assert out[0]["id"].startswith("chatcmpl-")
    assert len(out[0]["id"]) > len("chatcmpl-")
    assert isinstance(out[0]["created"], int)
    assert out[0]["model"] == "glm-4.7"  # from the request
    assert accumulate_choices(out)[0]["message"]["content"] == "Hello"


def test_stream_role_is_sent_once_in_the_first_delta() -> None:
    out = run_stream(request(), upstream_stream("Hello there.", 2))
    deltas = [chunk["choices"][0]["delta"] for chunk in out if chunk["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all("role" not in delta for delta in deltas[1:])


def test_stream_a_delta_without_markup_goes_out_in_the_same_feed() -> None:
    translator = StreamTranslator(request())
    translator.feed(delta_chunk(role="assistant", content=""))
    out = translator.feed(delta_chunk(content="The weather in Paris"))
    assert [chunk["choices"][0]["delta"] for chunk in out] == [{"content": "The weather in Paris"}]
    out = translator.feed(delta_chunk(content=" is sunny."))
    assert [chunk["choices"][0]["delta"] for chunk in out] == [{"content": " is sunny."}]


def test_stream_a_whole_call_in_one_delta_is_one_complete_tool_call_delta() -> None:
    translator = StreamTranslator(request())
    call = render_call("get_weather", {"city": "Paris", "days": 2}, "4.7")
    out = translator.feed(delta_chunk(content="Sure." + call))
    deltas = [chunk["choices"][0]["delta"] for chunk in out]
    assert deltas[0] == {"role": "assistant", "content": "Sure."}
    assert len(deltas) == 2
    (tool_call,) = deltas[1]["tool_calls"]
    assert tool_call["index"] == 0
    assert tool_call["type"] == "function"
    assert tool_call["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris", "days": 2}',
    }
    finish = translator.close()
    assert finish[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]


def test_stream_reasoning_and_content_of_one_feed_become_two_deltas() -> None:
    translator = StreamTranslator(request("4.7"))
    out = translator.feed(delta_chunk(content="Thinking hard.</think>The answer."))
    assert [chunk["choices"][0]["delta"] for chunk in out] == [
        {"role": "assistant", "reasoning_content": "Thinking hard."},
        {"content": "The answer."},
    ]


def test_stream_custom_reasoning_field() -> None:
    translator = StreamTranslator(plan_for({"model": "glm"}, starts_in_reasoning=True), "reasoning")
    out = run_stream(translator, upstream_stream("Hmm.</think>Yes.", 4))
    check_stream(out, include_usage=True)
    assert accumulate_choices(out, "reasoning")[0]["message"] == {
        "role": "assistant",
        "content": "Yes.",
        "reasoning": "Hmm.",
    }


def test_stream_n2_choices_are_independent() -> None:
    translation = request()
    first = upstream_stream(full_output("4.5"), 4, usage=False, index=0)
    second = upstream_stream("No tools " + render_call("get_time", {}), 3, usage=False, index=1)
    second[-1] = delta_chunk(1, "length")
    merged: list[dict[str, Any]] = []
    for pair in zip(first, second, strict=False):
        merged += pair
    merged += first[len(second) :] + second[len(first) :]
    merged.append(envelope(choices=[], usage=USAGE))
    out = run_stream(translation, merged)
    check_stream(out, include_usage=True)
    choices = accumulate_choices(out)
    expected, _ = translate_completion(
        completion(full_output("4.5"), "No tools " + render_call("get_time", {})), translation
    )
    expected["choices"][1]["finish_reason"] = "length"  # the second choice ran out of tokens
    assert [comparable(choice) for choice in choices] == [
        comparable(choice) for choice in expected["choices"]
    ]
    assert calls_of(choices[1]["message"]) == [("get_time", {})]
    assert choices[1]["finish_reason"] == "length"


def test_stream_several_choices_in_one_upstream_chunk() -> None:
    chunk = envelope(
        choices=[
            {"index": 0, "delta": {"content": "A"}, "finish_reason": None},
            {"index": 1, "delta": {"content": "B"}, "finish_reason": None},
        ]
    )
    finish = envelope(
        choices=[
            {"index": 0, "delta": {}, "finish_reason": "stop"},
            {"index": 1, "delta": {}, "finish_reason": "stop"},
        ]
    )
    out = run_stream(request(), [chunk, finish])
    check_stream(out)
    assert [choice["message"]["content"] for choice in accumulate_choices(out)] == ["A", "B"]


def test_stream_usage_goes_last_wherever_it_arrives() -> None:
    chunks = upstream_stream("Hi " + render_call("get_time", {}), 4, usage=False)
    chunks.insert(2, envelope(choices=[], usage=USAGE))
    out = run_stream(request(), chunks)
    check_stream(out, include_usage=True)
    assert out[-1] == envelope(choices=[], usage=USAGE)
    assert all(chunk.get("usage") is None for chunk in out[:-1])


def test_stream_usage_inside_the_finish_chunk_is_split_off() -> None:
    chunks = upstream_stream("Hello", None, usage=False)
    chunks[-1]["usage"] = USAGE
    out = run_stream(request(), chunks)
    check_stream(out, include_usage=True)
    assert out[-1]["usage"] == USAGE
    assert out[-2]["choices"][0]["finish_reason"] == "stop"


def test_stream_without_usage_sends_none() -> None:
    out = run_stream(request(), upstream_stream("Hello", 2, usage=False))
    check_stream(out)
    assert all(chunk.get("usage") is None for chunk in out)


@pytest.mark.parametrize("size", SIZES)
def test_stream_parallel_false_sends_only_the_first_call(size: int | None) -> None:
    translation = request(parallel_tool_calls=False)
    raw = full_output("4.5") + "\nDone."
    translator = StreamTranslator(translation)
    out = []
    for chunk in upstream_stream(raw, size):
        out += translator.feed(chunk)
    out += translator.close()
    check_stream(out, include_usage=True)
    (choice,) = accumulate_choices(out)
    assert calls_of(choice["message"]) == EXPECTED_CALLS[:1]
    assert choice["finish_reason"] == "tool_calls"
    assert translator.tool_calls == 1
    expected, converted = translate_completion(completion(raw), translation)
    assert converted == 1
    assert comparable(choice) == comparable(expected["choices"][0])


@pytest.mark.parametrize("size", SIZES)
def test_stream_length_finish_stays_length(size: int | None) -> None:
    raw = "Checking. " + render_call("get_weather", {"city": "Paris"})
    truncated = raw[: raw.index("Paris") + 3]
    translation = request()
    out = run_stream(translation, upstream_stream(truncated, size, finish="length"))
    check_stream(out, include_usage=True)
    (choice,) = accumulate_choices(out)
    assert choice["finish_reason"] == "length"
    assert "<arg_value>Par" in choice["message"]["content"]
    expected, _ = translate_completion(completion(truncated, finish="length"), translation)
    assert comparable(choice) == comparable(expected["choices"][0])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_stream_backend_split_reasoning_with_a_call_inside(field: str, size: int | None) -> None:
    reasoning = "I should look it up." + render_call("get_weather", {"city": "Paris"}, "4.7")
    translation = request()
    out = run_stream(translation, upstream_stream(reasoning, size, field=field))
    check_stream(out, include_usage=True)
    (choice,) = accumulate_choices(out)
    assert choice["message"]["reasoning_content"] == "I should look it up."
    assert calls_of(choice["message"]) == [("get_weather", {"city": "Paris"})]
    assert choice["finish_reason"] == "tool_calls"
    expected, _ = translate_completion(completion("", **{field: reasoning}), translation)
    assert comparable(choice) == comparable(expected["choices"][0])


def test_stream_backend_tool_calls_pass_through() -> None:
    parsed = {
        "index": 0,
        "id": "call_x",
        "type": "function",
        "function": {"name": "get_time", "arguments": "{}"},
    }
    chunks = [
        delta_chunk(role="assistant", content=None, tool_calls=[parsed]),
        delta_chunk(finish="tool_calls"),
    ]
    translator = StreamTranslator(request())
    out = translator.feed(chunks[0]) + translator.feed(chunks[1]) + translator.close()
    check_stream(out)
    assert out[0]["choices"][0]["delta"] == {"role": "assistant", "tool_calls": [parsed]}
    assert translator.tool_calls == 0
    assert out[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_without_tools_keeps_markup_as_text() -> None:
    translation = plan_for({"model": "glm"}, starts_in_reasoning=True)
    raw = "Plan.</think>" + render_call("get_time", {})
    out = run_stream(translation, upstream_stream(raw, 3))
    check_stream(out, include_usage=True)
    (choice,) = accumulate_choices(out)
    assert choice["message"] == {
        "role": "assistant",
        "content": render_call("get_time", {}),
        "reasoning_content": "Plan.",
    }
    assert choice["finish_reason"] == "stop"


def test_stream_without_upstream_finish_still_finishes() -> None:
    chunks = [delta_chunk(content="Hi " + render_call("get_time", {}))]
    out = run_stream(request(), chunks)
    check_stream(out)
    assert out[-1]["choices"][0]["finish_reason"] == "tool_calls"
    out = run_stream(request(), [delta_chunk(content="Hi")])
    assert out[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_empty_choice_still_gets_role_then_finish() -> None:
    out = run_stream(request(), [delta_chunk(finish="stop")])
    check_stream(out)
    assert [chunk["choices"][0]["delta"] for chunk in out] == [
        {"role": "assistant", "content": ""},
        {},
    ]


def test_stream_close_without_any_chunk_sends_nothing() -> None:
    assert StreamTranslator(request()).close() == []


def test_stream_choice_extras_pass_through() -> None:
    logprobs = {"content": [{"token": "Hi", "logprob": -0.1}]}
    chunk = envelope(
        choices=[
            {"index": 0, "delta": {"content": "Hi"}, "logprobs": logprobs, "finish_reason": None}
        ]
    )
    out = StreamTranslator(request()).feed(chunk)
    assert out[0]["choices"][0]["logprobs"] == logprobs


def test_stream_chunk_without_choices_or_usage_is_dropped() -> None:
    translator = StreamTranslator(request())
    translator.feed(delta_chunk(content="Hi"))
    assert translator.feed(envelope(choices=[], prompt_filter_results=[{"prompt_index": 0}])) == []
    assert translator.feed(envelope(choices=[])) == []
    assert translator.feed(envelope()) == []


def test_stream_finish_extras_go_with_the_finish_chunk() -> None:
    # vLLM adds "stop_reason" to every choice: null until the end, then the stop token's id.
    chunks = [
        envelope(choices=[{"index": 0, "delta": {"content": "Hi"}, "stop_reason": None}]),
        envelope(choices=[{"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": 7}]),
    ]
    out = run_stream(request(), chunks)
    check_stream(out)
    assert out[0]["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": "Hi"},
        "finish_reason": None,
    }
    assert out[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "stop",
        "stop_reason": 7,
    }


def test_parallel_false_drops_the_text_from_the_second_call_on() -> None:
    raw = (
        "A "
        + render_call("get_time", {}, "4.7")
        + " B "
        + render_call("get_weather", {"city": "Paris"}, "4.7")
        + " C "
        + render_call("get_time", {}, "4.7")
        + " D"
    )
    translation = request(parallel_tool_calls=False)
    result, converted = translate_completion(completion(raw), translation)
    assert converted == 1
    message = result["choices"][0]["message"]
    assert calls_of(message) == [("get_time", {})]
    assert "A" in message["content"]
    assert "B" in message["content"]
    assert "C" not in message["content"]
    assert "D" not in message["content"]
    out = run_stream(translation, upstream_stream(raw, 2))
    check_stream(out, include_usage=True)
    assert comparable(accumulate_choices(out)[0]) == comparable(result["choices"][0])


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_stream_split_anywhere_equals_completion(data: st.DataObject) -> None:
    style = data.draw(st.sampled_from(STYLES))
    raw = full_output(style) + data.draw(st.sampled_from(["", "\nDone.", "<|observation|>"]))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=30)))
    parts = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    chunks = [delta_chunk(role="assistant", content="")]
    chunks += [delta_chunk(content=part) for part in parts if part]
    chunks.append(delta_chunk(finish="stop"))
    translation = request(style)
    out = run_stream(translation, chunks)
    check_stream(out)
    expected, _ = translate_completion(completion(raw), translation)
    assert [comparable(choice) for choice in accumulate_choices(out)] == [
        comparable(expected["choices"][0])
    ]


def test_stream_content_after_split_reasoning_is_content() -> None:
    # GLM-4.7 output starts in reasoning, unless the backend split the reasoning off itself.
    translator = StreamTranslator(request("4.7"))
    out = translator.feed(delta_chunk(reasoning_content="Split off.", content=" The answer."))
    assert [chunk["choices"][0]["delta"] for chunk in out] == [
        {"role": "assistant", "reasoning_content": "Split off."},
        {"content": " The answer."},
    ]


def test_stream_malformed_choices_are_skipped() -> None:
    translator = StreamTranslator(request())
    assert translator.feed(envelope(choices={"index": 0})) == []
    assert translator.feed(envelope(choices=[None, "x"])) == []
    out = translator.feed(delta_chunk(content="Hi")) + translator.close()
    check_stream(out)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["4.5", "4.7"]),
    st.integers(1, 9),
    st.lists(st.integers(1, 40), min_size=1, max_size=30),
)
def test_feed_many_equals_feeding_chunk_by_chunk(
    style: Style, size: int, batch_sizes: list[int]
) -> None:
    chunks = upstream_stream(full_output(style), size)
    one_by_one = run_stream(request(style), chunks)
    batched = translate_in_batches(request(style), chunks, batch_sizes)
    assert_adds_up_alike(batched, one_by_one)
    assert len(batched) <= len(one_by_one)


def test_feed_many_merges_plain_text_of_one_read() -> None:
    translator = StreamTranslator(request())
    translator.feed(delta_chunk(role="assistant", content=""))
    out = translator.feed_many([delta_chunk(content=piece) for piece in ("Hel", "lo, ", "world")])
    assert [chunk["choices"][0]["delta"] for chunk in out] == [{"content": "Hello, world"}]
    assert out[0]["system_fingerprint"] == "fp_1"


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["4.5", "4.7"]), st.integers(1, 9), st.integers(1, 40))
def test_feed_many_with_chunks_recognised_from_bytes(style: Style, size: int, batch: int) -> None:
    chunks = upstream_stream(full_output(style), size)
    one_by_one = run_stream(request(style), chunks)
    out, recognised = translate_recognised(request(style), chunks, batch)
    assert_adds_up_alike(out, one_by_one)
    assert recognised > len(chunks) // 2  # most chunks never went through the JSON decoder


REASONING = "The user wants the weather. I should call get_weather, then get_time."
ANSWER = render_output("Let me check.", CALLS[:2], style="4.5")


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["reasoning_content", "reasoning"]),
    st.integers(1, 9),
    st.lists(st.booleans(), max_size=40),
    st.lists(st.integers(1, 40), min_size=1, max_size=30),
)
def test_feed_many_equals_feeding_chunk_by_chunk_with_reasoning_split_off(
    field: str, size: int, order: list[bool], batch_sizes: list[int]
) -> None:
    chunks = split_reasoning_stream(REASONING, ANSWER, size, field, order or None)
    one_by_one = run_stream(request(), chunks)
    batched = translate_in_batches(request(), chunks, batch_sizes)
    assert_adds_up_alike(batched, one_by_one)
    assert accumulate_choices(batched)[0]["message"]["reasoning_content"] == REASONING


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["reasoning_content", "reasoning"]), st.integers(1, 9), st.integers(1, 40))
def test_reasoning_chunks_are_recognised_from_bytes_too(field: str, size: int, batch: int) -> None:
    chunks = split_reasoning_stream(REASONING, ANSWER, size, field)
    one_by_one = run_stream(request(), chunks)
    out, recognised = translate_recognised(request(), chunks, batch)
    assert_adds_up_alike(out, one_by_one)
    thoughts = len(pieces(REASONING, size))
    assert recognised >= thoughts - 1  # all but the first reasoning chunk, which taught the shape


def test_recognised_reasoning_and_content_of_one_read_keep_their_order() -> None:
    translator = StreamTranslator(request())
    translator.feed(delta_chunk(role="assistant", content=""))
    thought = delta_chunk(reasoning_content="x")
    said = delta_chunk(content="x")
    out = translator.feed_many([(0, "Hm, ", thought), (0, "Hi", said), (0, "so.", thought)])
    assert [chunk["choices"][0]["delta"] for chunk in out] == [
        {"reasoning_content": "Hm, "},
        {"content": "Hi"},
        {"reasoning_content": "so."},
    ]


def test_a_recognised_shape_is_checked_again_once_the_envelope_changed() -> None:
    # A shape found to be plain text is not checked again in later reads, until a chunk fed
    # on its own changes the envelope: then its own field must go out again.
    translator = StreamTranslator(request())
    translator.feed(delta_chunk(role="assistant", content=""))
    shape = delta_chunk(content="")
    first = translator.feed_many([(0, "a", shape)])
    assert [chunk["system_fingerprint"] for chunk in first] == ["fp_1"]
    translator.feed({**delta_chunk(content="b"), "system_fingerprint": "fp_2"})
    again = translator.feed_many([(0, "c", shape)])
    assert [(chunk["system_fingerprint"], chunk["choices"][0]["delta"]) for chunk in again] == [
        ("fp_1", {"content": "c"})
    ]


def translate_in_batches(
    translation: Plan, chunks: list[dict[str, Any]], batch_sizes: list[int]
) -> list[dict[str, Any]]:
    """``chunks`` through ``feed_many``, cut into batches of the given sizes in turn."""
    translator = StreamTranslator(translation)
    out: list[dict[str, Any]] = []
    rest = copy.deepcopy(chunks)
    for batch in batch_sizes * len(chunks):
        if not rest:
            break
        out += translator.feed_many(rest[:batch])
        rest = rest[batch:]
    return out + translator.close()


def translate_recognised(
    translation: Plan, chunks: list[dict[str, Any]], batch: int
) -> tuple[list[dict[str, Any]], int]:
    """``chunks`` as bytes, recognised by a template where it can (as a stream's reads are),
    through ``feed_many`` ``batch`` items at a time; and how many were recognised."""
    translator = StreamTranslator(translation)
    template = PlainChunkTemplate()
    items: list[Any] = []
    recognised = 0
    for chunk in chunks:
        payload = orjson.dumps(chunk)
        found = template.match(payload)
        if found is None:
            decoded = orjson.loads(payload)
            template.learn(payload, decoded)
            items.append(decoded)
        else:
            items.append(found)
            recognised += 1
    out: list[dict[str, Any]] = []
    for start in range(0, len(items), batch):
        out += translator.feed_many(items[start : start + batch])
    return out + translator.close(), recognised


def assert_adds_up_alike(out: list[dict[str, Any]], reference: list[dict[str, Any]]) -> None:
    check_stream(out, include_usage=True)
    assert [comparable(c) for c in accumulate_choices(out)] == [
        comparable(c) for c in accumulate_choices(reference)
    ]
