"""Decide what the mock GLM backend answers to a chat request (pure: no I/O).

The answer is the raw text a GLM model writes when the server has no tool or reasoning parser:
reasoning inside ``<think>`` first (unless thinking is disabled), then either ``<tool_call>``
blocks (the request has tools and ``tool_choice`` is not ``"none"``), a text that quotes the tool
results (the conversation ends with ``tool`` messages), or a plain text answer.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from glm_proxy.dialects.glm.render import Style, render_output
from glm_proxy.mock.schema_values import (
    derive_arguments,
    is_place_name,
    name_words,
    read_clues,
    word_set,
)

StyleSetting = Literal["auto", "4.5", "4.7"]
DEFAULT_MODEL = "glm-4.5-air"
MAX_CHOICES = 16
_STYLE_47_MODELS = re.compile(r"glm-?(?:4\.7|5)", re.IGNORECASE)
_GENERIC_WORDS = word_set(
    """get set fetch make do run call use tool func function mcp api data info by of the and
    for to from with current list all my new"""
)
_DESCRIPTION_STOPWORDS = word_set(
    """this that with from into about what when where which will your their there these those
    given provided specified using returns return current some other than then them they
    have been should would could must only also more most very just"""
)
_WORD = re.compile(r"[a-z0-9]+")


class RequestError(ValueError):
    """A request the backend refuses with 400; ``param`` names the offending field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """The parts of a chat completion request that shape the mock's answer."""

    model: str
    messages: Sequence[Mapping[str, Any]]
    tools: Sequence[Mapping[str, Any]] = ()
    tool_choice: Any = None
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    max_tokens: int | None = None
    thinking: bool = True


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer (the same text for every choice) and its accounting."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    """Per choice."""


def read_request(body: Any) -> ChatRequest:
    """Validate a decoded JSON body; raise ``RequestError`` for what a real server rejects."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array of messages", "messages")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise RequestError("each message must be an object with a string 'role'", "messages")
    model = body.get("model", DEFAULT_MODEL)
    if not isinstance(model, str):
        raise RequestError("'model' must be a string", "model")
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(_is_function_tool(t) for t in tools):
        raise RequestError(
            "'tools' must be an array of {type: 'function', function: {name, parameters}}", "tools"
        )
    tool_choice = body.get("tool_choice")
    _check_tool_choice(tool_choice, tools)
    stream_options = body.get("stream_options")
    kwargs = body.get("chat_template_kwargs")
    thinking = body.get("thinking")
    return ChatRequest(
        model=model or DEFAULT_MODEL,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        stream=_flag(body, "stream"),
        include_usage=isinstance(stream_options, dict)
        and stream_options.get("include_usage") is True,
        n=_positive_int(body, "n", MAX_CHOICES) or 1,
        max_tokens=_positive_int(body, "max_completion_tokens", None)
        or _positive_int(body, "max_tokens", None),
        thinking=not (
            (isinstance(kwargs, dict) and kwargs.get("enable_thinking") is False)
            or (isinstance(thinking, dict) and thinking.get("type") == "disabled")
        ),
    )


def pick_style(setting: StyleSetting, model: str) -> Style:
    """``auto``: GLM-4.7 and GLM-5 models write 4.7 style, the others 4.5 style."""
    if setting != "auto":
        return setting
    return "4.7" if _STYLE_47_MODELS.search(model) else "4.5"


def build_reply(request: ChatRequest, style: Style, dialect: str = "glm") -> Reply:
    text = raw_output(request, style, dialect)
    finish_reason = "stop"
    if request.max_tokens is not None and len(text) > request.max_tokens * 4:
        text = text[: request.max_tokens * 4]
        finish_reason = "length"
    prompt_chars = sum(len(message_text(m)) for m in request.messages)
    return Reply(text, finish_reason, _tokens(prompt_chars), _tokens(len(text)))


def raw_output(request: ChatRequest, style: Style, dialect: str = "glm") -> str:
    """The whole raw text the model writes, before any ``max_tokens`` cut, in ``dialect``
    (written by that dialect's renderer; ``style`` is GLM's)."""
    messages = request.messages
    user_text = last_user_text(messages)
    results = trailing_tool_results(messages)
    calls: list[tuple[str, Mapping[str, Any]]] = []
    if results:
        content = "\n".join(f"According to {name}: {result}" for name, result in results)
        reasoning = "The tool returned its result; I will answer with it."
    elif request.tools and request.tool_choice != "none":
        calls.extend(plan_calls(request.tools, request.tool_choice, user_text))
        content = ""
        names = ", ".join(dict.fromkeys(name for name, _ in calls))
        reasoning = f"The user asks: {_quote(user_text)}. I will call {names}."
    else:
        content = f"You said: {user_text}" if user_text else "Hello! How can I help you today?"
        reasoning = f"The user says: {_quote(user_text)}. I will answer directly."
    said = reasoning if request.thinking else None
    if dialect == "glm":
        return render_output(content, calls, said, style)
    render = importlib.import_module(f"glm_proxy.dialects.{dialect}.render")
    text: str = render.render_output(content, calls, said)
    return text


def mock_dialects() -> tuple[str, ...]:
    """The dialects the mock writes: every registered one (each has a renderer)."""
    from glm_proxy.dialects import known_dialects

    return known_dialects()


def plan_calls(
    tools: Sequence[Mapping[str, Any]], tool_choice: Any, user_text: str
) -> list[tuple[str, dict[str, Any]]]:
    """The calls the mock makes: ``(name, arguments)`` in order.

    A named ``tool_choice`` gives one call of that tool. Otherwise the tools whose name words
    appear in the message (else whose description words do, else the first tool) are called,
    each once per place mentioned when it takes a place ("weather in Seoul and Tokyo").
    """
    functions = [t["function"] for t in tools]
    if isinstance(tool_choice, dict):
        name = tool_choice["function"]["name"]
        chosen: Mapping[str, Any] = next((f for f in functions if f["name"] == name), {})
        return [(name, derive_arguments(chosen.get("parameters") or {}, user_text))]
    calls: list[tuple[str, dict[str, Any]]] = []
    places = read_clues(user_text).places
    for function in select_tools(functions, user_text):
        schema = function.get("parameters") or {}
        if len(places) > 1 and _takes_place(schema):
            calls += [(function["name"], derive_arguments(schema, user_text, p)) for p in places]
        else:
            calls.append((function["name"], derive_arguments(schema, user_text)))
    return calls


def select_tools(functions: Sequence[Mapping[str, Any]], user_text: str) -> list[Mapping[str, Any]]:
    words = set(_WORD.findall(user_text.lower()))
    words |= {w[:-1] for w in words if w.endswith("s")}
    by_name = [
        f
        for f in functions
        if any(w in words for w in name_words(f["name"]) if w not in _GENERIC_WORDS)
    ]
    if by_name:
        return by_name
    by_description = [
        f
        for f in functions
        if any(
            len(w) >= 4 and w not in _DESCRIPTION_STOPWORDS and w in words
            for w in _WORD.findall(str(f.get("description") or "").lower())
        )
    ]
    return by_description or list(functions[:1])


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message).strip()
    return ""


def trailing_tool_results(messages: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(tool name, result text)`` for the ``tool`` messages that end the conversation."""
    end = len(messages)
    start = end
    while start > 0 and messages[start - 1].get("role") == "tool":
        start -= 1
    names: dict[str, str] = {}
    if start > 0:
        for call in messages[start - 1].get("tool_calls") or []:
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                names[str(call.get("id"))] = str(call["function"].get("name"))
    results = []
    for message in messages[start:end]:
        name = names.get(str(message.get("tool_call_id"))) or message.get("name") or "the tool"
        results.append((str(name), message_text(message)))
    return results


def message_text(message: Mapping[str, Any]) -> str:
    """A message's text: its string content, or the text parts of a content array."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _takes_place(schema: Mapping[str, Any]) -> bool:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return False
    return any(
        is_place_name(str(key)) and isinstance(sub, Mapping) and sub.get("type") == "string"
        for key, sub in properties.items()
    )


def _quote(text: str) -> str:
    """The user's words, shortened and without markup (so they cannot end the reasoning)."""
    flat = " ".join(text.split()).replace("<", "(").replace(">", ")")
    return f'"{flat[:80]}..."' if len(flat) > 80 else f'"{flat}"'


def _tokens(chars: int) -> int:
    return (chars + 3) // 4


def _is_function_tool(tool: Any) -> bool:
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        return False
    function = tool.get("function")
    return (
        isinstance(function, dict)
        and isinstance(function.get("name"), str)
        and bool(function["name"])
        and isinstance(function.get("parameters") or {}, dict)
    )


def _check_tool_choice(tool_choice: Any, tools: Sequence[Mapping[str, Any]]) -> None:
    if tool_choice is None or tool_choice in ("none", "auto", "required"):
        return
    if isinstance(tool_choice, dict):
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str):
            if any(t["function"]["name"] == name for t in tools):
                return
            raise RequestError(
                f"tool_choice names {name!r}, which is not in 'tools'", "tool_choice"
            )
    raise RequestError(
        "'tool_choice' must be 'none', 'auto', 'required' or {type: 'function', function: {name}}",
        "tool_choice",
    )


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    raise RequestError(f"'{key}' must be a boolean", key)


def _positive_int(body: Mapping[str, Any], key: str, most: int | None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RequestError(f"'{key}' must be a positive integer", key)
    if most is not None and value > most:
        raise RequestError(f"'{key}' must be at most {most}", key)
    return value
