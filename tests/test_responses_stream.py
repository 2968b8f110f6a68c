"""The Responses rendering, whole (render) and streamed (stream), driven without a server: every
GLM case of glm_cases, at several splits, passes the strict event checker and adds up to the
message the case expects; failures flush held text and end in ``response.failed``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from glm_proxy.backend.chunk_template import PlainText, plain_text
from glm_proxy.conversion.plan import Plan, plan_for
from glm_proxy.errors import BackendBadResponse
from glm_proxy.fronts.openai_responses.render import ResponseMeta, render_response
from glm_proxy.fronts.openai_responses.stream import ResponsesStream
from glm_proxy.fronts.openai_responses.tools import ToolNames
from support.glm_cases import CASES, TOOLS, Case
from support.responses_wirecheck import check_responses_stream

USAGE = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
NO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 0,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 0,
}


def plan_of(case: Case) -> Plan:
    kwargs = dict(case.kwargs)
    body: dict[str, Any] = {"model": "glm-4.5", "messages": [], "tools": TOOLS}
    if not kwargs.pop("parse_tool_calls", True):
        body["tool_choice"] = "none"
    return plan_for(
        body,
        starts_in_reasoning=kwargs.pop("starts_in_reasoning", False),
        max_buffer=kwargs.pop("max_buffer", 1 << 20),
    )


def chunks(text: str, size: int | None, finish: str) -> list[dict[str, Any]]:
    pieces = [text] if size is None else [text[i : i + size] for i in range(0, len(text), size)]
    out: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        for piece in pieces
    ]
    out.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    out.append({"choices": [], "usage": USAGE})
    return out


def streamed(
    plan: Plan, backend: list[dict[str, Any]], end: bool = True, read: int | None = None
) -> bytes:
    """The stream for the backend's chunks, fed one by one, or ``read`` at a time through
    ``feed_many`` (as the loop does with the chunks of one read)."""
    stream = ResponsesStream(plan, ResponseMeta(model="glm-4.5"), ToolNames())
    out = stream.start()
    if read is None:
        for chunk in backend:
            out += stream.feed(chunk)
    else:
        for start in range(0, len(backend), read):
            out += stream.feed_many(backend[start : start + read])
    out += stream.end() if end else stream.fail(BackendBadResponse("cut", code="backend_error"))
    return b"".join(out)


def summary(output: list[dict[str, Any]]) -> tuple[str, str, list[tuple[str, Any]]]:
    """Reasoning, text and completed calls of an output, for comparison."""
    reasoning = "".join(
        part["text"] for item in output if item["type"] == "reasoning" for part in item["summary"]
    )
    text = "".join(
        part["text"] for item in output if item["type"] == "message" for part in item["content"]
    )
    calls = [
        (item["name"], json.loads(item["arguments"]))
        for item in output
        if item["type"] == "function_call" and item["status"] == "completed"
    ]
    return reasoning, text, calls


def expected_summary(case: Case) -> tuple[str, str, list[tuple[str, Any]]]:
    message = case.expected
    calls = [
        (call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in message.get("tool_calls", [])
    ]
    return message.get("reasoning_content") or "", message["content"] or "", calls


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("size", [1, 5, None])
def test_every_case_streamed_passes_the_checker(case: Case, size: int | None) -> None:
    finish = "length" if case.cut_off else "stop"
    final, _ = check_responses_stream(streamed(plan_of(case), chunks(case.text, size, finish)))
    assert final["usage"]["total_tokens"] == 14
    if case.cut_off:
        assert final["status"] == "incomplete"
        return
    assert final["status"] == "completed"
    assert summary(final["output"]) == expected_summary(case)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("read", [3, 1000])
def test_feed_many_gives_the_same_items_as_feed(case: Case, read: int) -> None:
    # The chunks of one read go through the parser in one piece: fewer, larger deltas, the
    # same items, calls and status.
    finish = "length" if case.cut_off else "stop"
    backend = chunks(case.text, 1, finish)
    one_by_one, _ = check_responses_stream(streamed(plan_of(case), backend))
    together, _ = check_responses_stream(streamed(plan_of(case), backend, read=read))
    assert summary(together["output"]) == summary(one_by_one["output"])
    assert together["status"] == one_by_one["status"]
    assert [item["type"] for item in together["output"]] == [
        item["type"] for item in one_by_one["output"]
    ]


def recognised(chunk: dict[str, Any]) -> dict[str, Any] | PlainText:
    """A plain-text chunk as ``chunk_template`` gives it when it recognises it from its bytes."""
    found = plain_text(chunk)
    return chunk if found is None else (found[0], found[2], chunk)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("read", [1, 3, 1000])
def test_feed_many_with_recognised_text_gives_the_items_of_feed(case: Case, read: int) -> None:
    # The fast path (runs of text recognised from their bytes) against the slow one (every
    # chunk decoded and fed): the same items, calls and status.
    finish = "length" if case.cut_off else "stop"
    backend = chunks(case.text, 1, finish)
    items: list[Any] = [recognised(chunk) for chunk in backend]
    one_by_one, _ = check_responses_stream(streamed(plan_of(case), backend))
    fast, _ = check_responses_stream(streamed(plan_of(case), items, read=read))
    assert summary(fast["output"]) == summary(one_by_one["output"])
    assert fast["status"] == one_by_one["status"]
    assert [item["type"] for item in fast["output"]] == [
        item["type"] for item in one_by_one["output"]
    ]


def test_feed_many_reads_a_run_of_recognised_text_at_once() -> None:
    items: list[Any] = [recognised(chunk) for chunk in chunks("Hello there, world.", 1, "stop")]
    _, events = check_responses_stream(streamed(plan_of(CASES[0]), items, read=1000))
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["Hello there, world."]


def test_feed_many_reads_a_run_of_text_at_once() -> None:
    backend = chunks("Hello there, world.", 1, "stop")
    _, events = check_responses_stream(streamed(plan_of(CASES[0]), backend, read=1000))
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["Hello there, world."]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_case_whole_is_the_expected_message(case: Case) -> None:
    finish = "length" if case.cut_off else "stop"
    completion = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": case.text},
                "finish_reason": finish,
            }
        ],
        "usage": USAGE,
    }
    answer, calls = render_response(completion, plan_of(case), ResponseMeta(model="m"), ToolNames())
    assert summary(answer["output"]) == expected_summary(case)
    assert calls == len(expected_summary(case)[2])
    assert answer["status"] == ("incomplete" if case.cut_off else "completed")
    kinds = [item["type"] for item in answer["output"]]
    assert kinds == sorted(kinds, key=["reasoning", "message", "function_call"].index)


def test_failure_flushes_held_text_then_fails() -> None:
    plan = plan_of(CASES[0])
    # "<tool_" may start a call: the parser holds it until it knows; a failure releases it.
    backend = [{"choices": [{"index": 0, "delta": {"content": "Hello <tool_"}}]}]
    final, _ = check_responses_stream(streamed(plan, backend, end=False))
    assert final["status"] == "failed"
    assert final["error"] == {"code": "backend_error", "message": "cut"}
    assert summary(final["output"])[1] == "Hello <tool_"


def test_failure_inside_a_call_never_completes_it() -> None:
    plan = plan_of(CASES[0])
    text = "<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seo"
    backend = [{"choices": [{"index": 0, "delta": {"content": text}}]}]
    final, events = check_responses_stream(streamed(plan, backend, end=False))
    assert final["status"] == "failed"
    assert not [e for e in events if e["type"] == "response.function_call_arguments.done"]


def test_backend_reasoning_and_backend_calls() -> None:
    plan = plan_of(CASES[0])
    backend = [
        {"choices": [{"index": 0, "delta": {"reasoning_content": "Think."}}]},
        {"choices": [{"index": 0, "delta": {"content": "Text."}}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_b",
                                "function": {"name": "search", "arguments": '{"q'},
                            }
                        ]
                    },
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '": 1}'}}]},
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    final, _ = check_responses_stream(streamed(plan, backend))
    assert final["status"] == "completed"
    assert summary(final["output"]) == ("Think.", "Text.", [("search", {"q": 1})])
    assert final["output"][-1]["call_id"] == "call_b"
    # No counts from the backend: still a usage object (0s), as @ai-sdk/openai requires one in
    # response.completed (without it OpenCode never sees the turn end and asks again).
    assert final["usage"] == NO_USAGE


def test_a_whole_answer_without_backend_counts_has_a_usage_of_zeros() -> None:
    plan = plan_for({"model": "glm-4.5", "messages": []}, starts_in_reasoning=False)
    completion = {"choices": [{"index": 0, "message": {"content": "Hi."}, "finish_reason": "stop"}]}
    response, _ = render_response(completion, plan, ResponseMeta(model="glm-4.5"), ToolNames())
    assert response["usage"] == NO_USAGE


def test_namespaced_call_is_split_back_in_the_stream() -> None:
    names = ToolNames(namespaced={"agents__spawn": ("agents", "spawn")})
    tools = [{"type": "function", "function": {"name": "agents__spawn", "parameters": {}}}]
    plan = plan_for({"model": "glm-4.5", "messages": [], "tools": tools}, starts_in_reasoning=False)
    stream = ResponsesStream(plan, ResponseMeta(model="m"), names)
    out = stream.start()
    out += stream.feed(
        {"choices": [{"index": 0, "delta": {"content": "<tool_call>agents__spawn\n</tool_call>"}}]}
    )
    out += stream.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out += stream.end()
    final, _ = check_responses_stream(b"".join(out))
    call = final["output"][-1]
    assert (call["namespace"], call["name"], call["arguments"]) == ("agents", "spawn", "{}")
    assert stream.tool_calls == 1
