"""Translate a GLM backend's chat completions into OpenAI ones: pure functions, no I/O.

``plan_translation`` reads the request once; ``translate_completion`` rewrites a whole
(non-streamed) response, and ``stream_translator.StreamTranslator`` a stream chunk by chunk.
Both run the same dialect parser over the same text and build the result from the same events,
so a stream accumulated by a client equals the non-streamed answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from glm_proxy.dialects import ParserOptions
from glm_proxy.events import Content, Event, Reasoning
from glm_proxy.message import assemble_message, calls_cut_off, finish_reason, parse_events

BACKEND_REASONING_FIELDS = ("reasoning_content", "reasoning")
"""Where backends that split reasoning off put it in a message or a delta."""


@dataclass(frozen=True, slots=True)
class Translation:
    """How one request's responses are translated (see ``plan_translation``)."""

    parser: ParserOptions
    parallel_tool_calls: bool = True
    """False: only the first call is returned (the request said ``parallel_tool_calls: false``)."""
    reasoning_field: str = "reasoning_content"
    dialect: str = "glm"
    model: str | None = None
    """The request's model: the stream's ``model`` when the upstream does not name one."""


def plan_translation(
    body: Mapping[str, Any],
    *,
    starts_in_reasoning: bool,
    reasoning_field: str = "reasoning_content",
    max_buffer: int = 1 << 20,
) -> Translation:
    """The translation of a (validated) chat-completions request body for a GLM model.

    ``starts_in_reasoning``: whether the model's output begins inside the reasoning (GLM-4.7
    and later, or the setting); a request that turns thinking off makes it False.
    """
    raw_tools = body.get("tools")
    tools = (
        [tool for tool in raw_tools if isinstance(tool, Mapping)]
        if isinstance(raw_tools, list)
        else []
    )
    parse_tool_calls = bool(tools) and body.get("tool_choice") != "none"
    model = body.get("model")
    return Translation(
        parser=ParserOptions(
            tools=tools,
            parse_tool_calls=parse_tool_calls,
            starts_in_reasoning=starts_in_reasoning and not thinking_disabled(body),
            max_buffer=max_buffer,
        ),
        parallel_tool_calls=body.get("parallel_tool_calls") is not False,
        reasoning_field=reasoning_field,
        model=model if isinstance(model, str) else None,
    )


def thinking_disabled(body: Mapping[str, Any]) -> bool:
    """Whether the request turns the model's thinking off, in any of the ways backends take:
    ``chat_template_kwargs.enable_thinking: false`` (vLLM, SGLang, llama.cpp), ``thinking:
    {"type": "disabled"}`` (Z.ai), ``reasoning_effort: "none"``."""
    kwargs = body.get("chat_template_kwargs")
    if isinstance(kwargs, Mapping) and kwargs.get("enable_thinking") is False:
        return True
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") == "disabled":
        return True
    return body.get("reasoning_effort") == "none"


class FirstCallOnly:
    """``parallel_tool_calls: false``: keep the first call, drop the output from the second on.

    Once a call with index 1 starts, the model is past the one call the client asked for: later
    calls and the content that comes with them are dropped (reasoning is kept).
    """

    __slots__ = ("dropping",)

    def __init__(self) -> None:
        self.dropping = False

    def filter(self, events: list[Event]) -> list[Event]:
        kept: list[Event] = []
        for event in events:
            if isinstance(event, Reasoning):
                kept.append(event)
            elif isinstance(event, Content):
                if not self.dropping:
                    kept.append(event)
            elif event.index == 0:
                kept.append(event)
            else:
                self.dropping = True
        return kept


def translate_completion(
    response: dict[str, Any], translation: Translation
) -> tuple[dict[str, Any], int]:
    """Rewrite a whole chat completion; returns it with the number of tool calls converted.

    Every field the translation does not touch is kept (usage, ids, logprobs, extra fields).
    """
    choices = response.get("choices")
    if not isinstance(choices, list):
        return response, 0
    converted = 0
    new_choices: list[Any] = []
    for choice in choices:
        new_choice, calls = _translate_choice(choice, translation)
        new_choices.append(new_choice)
        converted += calls
    return {**response, "choices": new_choices}, converted


def _translate_choice(choice: Any, translation: Translation) -> tuple[Any, int]:
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        return choice, 0
    text = _text_of(message.get("content"))
    reasoning = _backend_reasoning(message)
    if text is None or (
        reasoning is None and any(message.get(k) for k in BACKEND_REASONING_FIELDS)
    ):
        return choice, 0  # content or reasoning in a shape we do not read: leave it alone
    events = parse_events(text, translation.parser, reasoning, translation.dialect)
    if not translation.parallel_tool_calls:
        events = FirstCallOnly().filter(events)
    assembled = assemble_message(events, translation.reasoning_field)
    new_message = {
        key: value for key, value in message.items() if key not in BACKEND_REASONING_FIELDS
    }
    new_message.update(assembled)
    converted = assembled.get("tool_calls", [])
    backend_calls = message.get("tool_calls")
    if backend_calls and isinstance(backend_calls, list):
        # A backend that parsed some calls itself: they come first, the converted ones after.
        new_message["tool_calls"] = backend_calls + converted
        if not (new_message["content"] or "").strip():
            new_message["content"] = None
    elif assembled["content"] == "" and message.get("content") is None:
        new_message["content"] = None
    new_choice = {**choice, "message": new_message}
    finish = finish_reason(
        choice.get("finish_reason"), len(converted), cut_off=calls_cut_off(events)
    )
    if finish is not None:
        new_choice["finish_reason"] = finish
    return new_choice, len(converted)


def _text_of(content: Any) -> str | None:
    """The text to parse: the string, ``""`` for null, the joined text of text parts.

    ``None`` when the content has any other shape (the message is then left as it is).
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        for part in content
    ):
        return "".join(part["text"] for part in content)
    return None


def _backend_reasoning(message: Mapping[str, Any]) -> str | None:
    for key in BACKEND_REASONING_FIELDS:
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None
