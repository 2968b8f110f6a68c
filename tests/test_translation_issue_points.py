"""The translation of streams and whole answers on the points of glm-format.md 1 and 4.14-4.15.

- every case of the GLM table, streamed a character at a time, adds up to its non-streamed
  answer (a call the output cut off is dropped from the stream's for that comparison);
- where content starts: inside the reasoning only for 4.7-style models whose request did not
  turn thinking off and whose backend did not split the reasoning off;
- calls the backend parsed itself, mixed with GLM text: numbered together, ids unique;
- whatever the backend sends besides text passes on; logprobs of held text come with it.
"""

from __future__ import annotations

from typing import Any

import pytest

from glm_proxy.conversion.plan import Plan, plan_for
from glm_proxy.fronts.openai_chat.render import translate_completion
from support.glm_cases import CASES, TOOLS, Case
from support.translating import (
    comparable,
    completion,
    delta_chunk,
    envelope,
    pieces,
    run_stream,
    split_reasoning_stream,
    upstream_stream,
)
from support.wirecheck import accumulate_choices, check_stream


def translation_for(case: Case) -> Plan:
    kwargs = dict(case.kwargs)
    body: dict[str, Any] = {"model": "glm-4.5", "messages": [], "tools": TOOLS}
    if not kwargs.pop("parse_tool_calls", True):
        body["tool_choice"] = "none"
    return plan_for(
        body,
        starts_in_reasoning=kwargs.pop("starts_in_reasoning", False),
        max_buffer=kwargs.pop("max_buffer", 1 << 20),
    )


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("size", [1, 5, None])
def test_every_case_streamed_adds_up_to_its_whole_answer(case: Case, size: int | None) -> None:
    translation = translation_for(case)
    finish = "length" if case.cut_off else "stop"
    out = run_stream(translation, upstream_stream(case.text, size, finish=finish))
    check_stream(out, include_usage=True)
    expected, _ = translate_completion(completion(case.text, finish=finish), translation)
    assert [comparable(choice) for choice in accumulate_choices(out)] == [
        comparable(expected["choices"][0])
    ]


# -- where content starts (glm-format.md section 1) ----------------------------------------

ANSWER = "The answer is 4."
CALLING = (
    "Sure, checking now.<tool_call>get_weather<arg_key>location</arg_key>"
    "<arg_value>Seoul</arg_value></tool_call>"
)


def glm47(**extra: Any) -> Plan:
    body = {"model": "glm-4.7", "messages": [], "tools": TOOLS, **extra}
    return plan_for(body, starts_in_reasoning=True)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize("content", [ANSWER, CALLING])
def test_backend_split_reasoning_leaves_the_answer_in_content(field: str, content: str) -> None:
    translation = glm47()
    whole = completion(content, **{field: "I should check."})
    result, _ = translate_completion(whole, translation)
    message = result["choices"][0]["message"]
    assert message["reasoning_content"] == "I should check."
    assert field == "reasoning_content" or field not in message
    if content == ANSWER:
        assert message["content"] == ANSWER
    else:
        assert message["content"] == "Sure, checking now."
        assert message["tool_calls"][0]["function"]["name"] == "get_weather"
    for size in (1, 3, None):
        chunks = split_reasoning_stream("I should check.", content, size or 1000, field)
        out = run_stream(translation, chunks)
        check_stream(out, include_usage=True)
        assert [comparable(c) for c in accumulate_choices(out)] == [
            comparable(result["choices"][0])
        ]


@pytest.mark.parametrize(
    "extra",
    [
        {"chat_template_kwargs": {"enable_thinking": False}},
        {"thinking": {"type": "disabled"}},
        {"reasoning_effort": "none"},
    ],
    ids=["enable_thinking", "thinking_disabled", "reasoning_effort_none"],
)
def test_thinking_turned_off_leaves_the_answer_in_content(extra: dict[str, Any]) -> None:
    translation = glm47(**extra)
    result, _ = translate_completion(completion(ANSWER), translation)
    assert result["choices"][0]["message"] == {"role": "assistant", "content": ANSWER}
    out = run_stream(translation, upstream_stream(ANSWER, 3))
    assert accumulate_choices(out)[0]["message"] == {"role": "assistant", "content": ANSWER}


def test_raw_glm47_output_still_starts_in_reasoning() -> None:
    result, _ = translate_completion(completion("Easy.</think>" + ANSWER), glm47())
    message = result["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("Easy.", ANSWER)


@pytest.mark.parametrize("extra", [{}, {"chat_template_kwargs": {"enable_thinking": True}}])
def test_thinking_left_on_keeps_the_reasoning_start(extra: dict[str, Any]) -> None:
    result, _ = translate_completion(completion("Hmm</think>Hi"), glm47(**extra))
    assert result["choices"][0]["message"]["content"] == "Hi"


# -- calls the backend parsed itself, mixed with GLM text (glm-format.md 4.14) --------------


def backend_call_chunks(index: int, call_id: str) -> list[dict[str, Any]]:
    first = {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": "gf", "arguments": ""},
    }
    return [
        delta_chunk(tool_calls=[first]),
        delta_chunk(tool_calls=[{"index": index, "function": {"arguments": '{"x":1}'}}]),
    ]


GLM_CALL = "<tool_call>search<arg_key>query</arg_key><arg_value>hello</arg_value></tool_call>"


@pytest.mark.parametrize("backend_first", [True, False])
def test_backend_calls_and_converted_calls_are_numbered_together(backend_first: bool) -> None:
    opening = [delta_chunk(role="assistant", content="")]
    text = [delta_chunk(content=piece) for piece in pieces(GLM_CALL, 7)]
    backend = backend_call_chunks(0, "call_backend")
    middle = backend + text if backend_first else text + backend
    chunks = [*opening, *middle, delta_chunk(finish="tool_calls")]
    out = run_stream(plan_for({"tools": TOOLS}, starts_in_reasoning=False), chunks)
    check_stream(out)
    (choice,) = accumulate_choices(out)
    calls = choice["message"]["tool_calls"]
    names = [call["function"]["name"] for call in calls]
    assert names == (["gf", "search"] if backend_first else ["search", "gf"])
    arguments = {call["function"]["name"]: call["function"]["arguments"] for call in calls}
    assert arguments == {"gf": '{"x":1}', "search": '{"query": "hello"}'}
    assert len({call["id"] for call in calls}) == 2
    assert choice["finish_reason"] == "tool_calls"


# -- what the backend sends besides text (glm-format.md 4.15) -------------------------------


def test_delta_fields_the_proxy_does_not_read_pass_on() -> None:
    audio = {"id": "audio_1", "data": "AAAA", "transcript": "hi"}
    chunks = [
        delta_chunk(role="assistant", content=""),
        delta_chunk(refusal="I can't "),
        delta_chunk(refusal="help with that."),
        delta_chunk(audio=audio),
        delta_chunk(function_call={"name": "legacy", "arguments": "{}"}),
        delta_chunk(content=[{"type": "text", "text": "Parts <tool_call>get_time"}]),
        delta_chunk(content=[{"type": "text", "text": "</tool_call>"}]),
        delta_chunk(content=[{"type": "image_url", "image_url": {"url": "data:,x"}}]),
        delta_chunk(finish="stop"),
    ]
    out = run_stream(plan_for({"tools": TOOLS}, starts_in_reasoning=False), chunks)
    # (no check_stream: content as a list of parts is the backend's shape, passed on as it is)
    deltas = [chunk["choices"][0]["delta"] for chunk in out if chunk["choices"]]
    assert {"refusal": "I can't "} in deltas
    assert {"refusal": "help with that."} in deltas
    assert {"audio": audio} in deltas
    assert {"function_call": {"name": "legacy", "arguments": "{}"}} in deltas
    assert {"content": [{"type": "image_url", "image_url": {"url": "data:,x"}}]} in deltas
    texts = [delta["content"] for delta in deltas if isinstance(delta.get("content"), str)]
    assert "".join(texts) == "Parts "  # text parts are read: the call in them is converted
    calls = [call for delta in deltas for call in delta.get("tool_calls", ())]
    assert [call["function"].get("name") for call in calls] == ["get_time"]


def test_a_whole_answer_keeps_what_it_does_not_read() -> None:
    whole = completion(None, refusal="I can't help with that.", audio={"id": "a"})
    result, _ = translate_completion(whole, plan_for({}, starts_in_reasoning=False))
    message = result["choices"][0]["message"]
    assert message["refusal"] == "I can't help with that."
    assert message["audio"] == {"id": "a"}


def logprobs(*tokens: str) -> dict[str, Any]:
    return {"content": [{"token": t, "logprob": -0.5, "top_logprobs": []} for t in tokens]}


def test_logprobs_of_held_text_come_with_the_chunk_that_releases_it() -> None:
    def chunk(text: str, *tokens: str) -> dict[str, Any]:
        choice = {"index": 0, "delta": {"content": text}, "logprobs": logprobs(*tokens)}
        return envelope(choices=[{**choice, "finish_reason": None}])

    chunks = [
        delta_chunk(role="assistant", content=""),
        chunk("Hi ", "Hi", " "),
        chunk("<tool_", "<", "tool_"),  # could be a tag: held back
        chunk("x> ok", "x>", " ok"),  # not one: released, with the held text's logprobs
        chunk("<tool_", "<", "tool_"),  # held until the end of the stream
        delta_chunk(finish="stop"),
    ]
    out = run_stream(plan_for({"tools": TOOLS}, starts_in_reasoning=False), chunks)
    check_stream(out)
    sent = [
        (c["choices"][0]["delta"].get("content"), c["choices"][0].get("logprobs"))
        for c in out
        if c["choices"]
    ]
    assert ("Hi ", logprobs("Hi", " ")) in sent
    assert ("<tool_x> ok", logprobs("<", "tool_", "x>", " ok")) in sent
    assert ("<tool_", logprobs("<", "tool_")) in sent
    tokens = [t["token"] for _, lp in sent if lp for t in lp["content"]]
    assert tokens == ["Hi", " ", "<", "tool_", "x>", " ok", "<", "tool_"]


def test_logprobs_of_a_chunk_that_releases_nothing_before_the_end_go_with_the_finish() -> None:
    choice = {"index": 0, "delta": {}, "logprobs": logprobs("<|user|>"), "finish_reason": None}
    chunks = [
        delta_chunk(role="assistant", content="Done"),
        envelope(choices=[choice]),
        delta_chunk(finish="stop"),
    ]
    out = run_stream(plan_for({}, starts_in_reasoning=False), chunks)
    check_stream(out)
    assert out[-1]["choices"][0]["logprobs"] == logprobs("<|user|>")
    assert out[-1]["choices"][0]["finish_reason"] == "stop"
