"""Responses objects and output items, and the whole (non-streamed) answer: pure, no I/O.

``render_response`` reads a backend completion through one ``ChoiceSession`` (the first
choice: the Responses API has no ``n``) and returns the response object: output items in the
order reasoning, message, function calls; ``status`` ``completed``, or ``incomplete`` with
``incomplete_details.reason = "max_output_tokens"`` when the backend hit its token limit.
A call the output cut off is no call: its text reaches the client as the message's text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from glm_proxy.backend.chunks import choice_messages, usage_of
from glm_proxy.conversion.plan import Plan
from glm_proxy.conversion.session import ChoiceSession
from glm_proxy.events import Content, Reasoning, ToolCallArgs, ToolCallEnd, ToolCallStart
from glm_proxy.fronts.openai_responses.tools import ToolNames
from glm_proxy.ids import random_hex

ECHOED = (
    "instructions",
    "max_output_tokens",
    "metadata",
    "parallel_tool_calls",
    "previous_response_id",
    "reasoning",
    "store",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_p",
    "truncation",
    "user",
)
"""Request fields the response object repeats, as the API does."""
_DEFAULTS: dict[str, Any] = {
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "store": True,
    "metadata": {},
    "text": {"format": {"type": "text"}},
    "truncation": "disabled",
}


def new_id(prefix: str) -> str:
    """An id in the API's form: ``resp_``, ``msg_``, ``rs_``, ``fc_`` and 48 hex digits."""
    return f"{prefix}_{random_hex(48)}"


@dataclass(slots=True)
class ResponseMeta:
    """What every form of one response repeats: its id, time, model and the echoed request."""

    model: str
    echoed: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def of(cls, data: dict[str, Any], model: str) -> ResponseMeta:
        echoed = {name: data.get(name, _DEFAULTS.get(name)) for name in ECHOED}
        return cls(model=model, echoed=echoed)


def response_object(
    meta: ResponseMeta,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    *,
    incomplete: bool = False,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The response object at one point of its life (``in_progress`` has no output yet)."""
    return {
        "id": meta.id,
        "object": "response",
        "created_at": meta.created_at,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "model": meta.model,
        "output": output,
        "usage": usage,
        **meta.echoed,
    }


def responses_usage(backend: dict[str, Any] | None) -> dict[str, Any]:
    """The Responses ``usage`` for the backend's chat-completions counts; counts the backend did
    not give are 0. A finished response always carries it: the Vercel AI SDK's ``@ai-sdk/openai``
    provider (OpenCode's) rejects a ``response.completed`` without it, and the agent then never
    sees the turn end."""
    if backend is None:
        backend = {}
    prompt = _count(backend.get("prompt_tokens"))
    completion = _count(backend.get("completion_tokens"))
    total = _count(backend.get("total_tokens")) or prompt + completion
    prompt_details = backend.get("prompt_tokens_details")
    completion_details = backend.get("completion_tokens_details")
    cached = _count(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    thinking = (
        _count(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0
    )
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": thinking},
        "total_tokens": total,
    }


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"id": item_id, "type": "reasoning", "summary": summary}


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def call_item(
    item_id: str,
    call_id: str,
    flat_name: str,
    arguments: str,
    names: ToolNames,
    status: str = "completed",
) -> dict[str, Any]:
    """A ``function_call`` item; a namespaced function's name is split back."""
    namespace, name = names.split(flat_name)
    item: dict[str, Any] = {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }
    if namespace is not None:
        item["namespace"] = namespace
    return item


def render_response(
    completion: dict[str, Any],
    plan: Plan,
    meta: ResponseMeta,
    names: ToolNames,
    dialects: set[str] | None = None,
) -> tuple[dict[str, Any], int]:
    """The response object for a whole backend completion, and the calls converted.
    ``dialects``: if given, gets the name of the dialect whose calls were converted."""
    choices = choice_messages(completion)
    session = ChoiceSession(plan)
    reasoning: list[str] = []
    content: list[str] = []
    calls: dict[int, list[Any]] = {}  # index -> [id, name, argument fragments, ended]
    finish: str | None = None
    if choices:
        choice = choices[0]
        finish = choice.finish_reason
        events = session.read_whole(choice.content, choice.reasoning, choice.tool_calls)
        for event in events:
            kind = type(event)
            if kind is Content:
                content.append(event.text)  # type: ignore[union-attr]
            elif kind is Reasoning:
                reasoning.append(event.text)  # type: ignore[union-attr]
            elif kind is ToolCallStart:
                assert isinstance(event, ToolCallStart)
                calls[event.index] = [event.id, event.name, [], False]
            elif kind is ToolCallArgs:
                assert isinstance(event, ToolCallArgs)
                calls[event.index][2].append(event.fragment)
            elif kind is ToolCallEnd:
                assert isinstance(event, ToolCallEnd)
                calls[event.index][3] = True
    output: list[dict[str, Any]] = []
    if reasoning:
        output.append(reasoning_item(new_id("rs"), "".join(reasoning)))
    if content:
        output.append(message_item(new_id("msg"), "".join(content)))
    converted = 0
    for call_id, name, fragments, ended in calls.values():
        if ended:
            converted += 1
            arguments = "".join(fragments) or "{}"
            output.append(call_item(new_id("fc"), call_id, name, arguments, names))
    incomplete = session.finish_reason(finish) == "length"
    usage = responses_usage(usage_of(completion))
    status = "incomplete" if incomplete else "completed"
    response = response_object(meta, status, output, usage, incomplete=incomplete)
    if dialects is not None and session.converted_dialect:
        dialects.add(session.converted_dialect)
    return response, converted
