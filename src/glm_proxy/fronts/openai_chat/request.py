"""The checks a chat completion request passes before it goes to the backend.

Only what the proxy relies on, or what no backend could take, is checked, by hand (no
validation models on the hot path); the first problem found is refused with a message that
names its place (``'messages[2].role' must be a string, got a number``):

- headers: the body is declared as JSON, or not declared at all, and is not compressed (415);
- the body: UTF-8 JSON (400 ``invalid_encoding`` / ``invalid_json``), an object;
- ``model`` a string, ``stream`` a boolean or null;
- ``messages`` an array of objects, each with a string ``role``; ``content`` a string, an array
  of objects, or null; ``tool_calls`` an array of objects or null;
- ``tools`` an array of objects; a function tool has a ``function`` object with a non-empty
  ``name``, a string ``description`` if any, and ``parameters`` that is a JSON Schema object
  (``tool_schema.check_parameters``).

Everything else is the backend's business and passes through untouched.

A client sends the same tools with every request of a conversation (coding agents send dozens,
tens of kilobytes), so a tools array that passed is remembered by its JSON text: the next
request with the same tools pays for one ``orjson.dumps`` instead of the walk (a few
microseconds instead of a few hundred for 25 agent-sized tools).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson

from glm_proxy.errors import BadRequest, UnsupportedMediaType, json_kind
from glm_proxy.tool_schema import check_parameters

TOOLS_REMEMBERED = 64
"""Distinct tools arrays whose check is remembered (the least recently used go first)."""


def check_body_headers(headers: Iterable[tuple[bytes, bytes]]) -> None:
    """Refuse (415) a body declared as something else than JSON, or compressed.

    No ``Content-Type`` at all is accepted (minimal clients leave it out); ``application/json``
    and ``application/*+json`` are, whatever their parameters.
    """
    for name, value in headers:
        if name == b"content-type":
            media_type = value.partition(b";")[0].strip().lower()
            if media_type != b"application/json" and not (
                media_type.startswith(b"application/") and media_type.endswith(b"+json")
            ):
                raise UnsupportedMediaType(
                    f"Content-Type must be application/json, got {_shown(value)}: send the body "
                    "as JSON with 'Content-Type: application/json' (curl: add -H "
                    "'Content-Type: application/json')",
                )
        elif name == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            raise UnsupportedMediaType(
                f"Content-Encoding {_shown(value)} is not supported: send the body uncompressed"
            )


def parse_chat_request(body: bytes) -> dict[str, Any]:
    """The request as a dict, or ``BadRequest`` with a message that names the problem."""
    if not body:
        raise BadRequest("request body is empty: send a JSON object", code="invalid_json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if str(error).startswith("str is not valid UTF-8"):
            raise BadRequest(_utf8_problem(body), code="invalid_encoding") from None
        raise BadRequest(f"request body is not valid JSON: {error}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest(
            f"request body must be a JSON object, got {json_kind(data)}", code="invalid_json"
        )
    _require(data, "model", str)
    messages = _require(data, "messages", list)
    for index, message in enumerate(messages):
        _check_message(index, message)
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _wrong_type("stream", "a boolean", stream)
    tools = data.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _wrong_type("tools", "an array", tools)
        if tools:
            _check_tools_text(orjson.dumps(tools))
    return data


@lru_cache(maxsize=TOOLS_REMEMBERED)
def _check_tools_text(text: bytes) -> None:
    """Check the tools array written as ``text``; only arrays that passed are remembered."""
    for index, tool in enumerate(orjson.loads(text)):
        _check_tool(index, tool)


def _require(data: dict[str, Any], name: str, kind: type) -> Any:
    if name not in data:
        raise BadRequest(f"missing required field '{name}'", param=name, code="missing_field")
    value = data[name]
    if not isinstance(value, kind):
        raise _wrong_type(name, "a string" if kind is str else "an array", value)
    return value


def _check_message(index: int, message: object) -> None:
    if not isinstance(message, dict):
        raise _wrong_type(f"messages[{index}]", "an object", message)
    role = message.get("role")
    if not isinstance(role, str):
        where = f"messages[{index}].role"
        if role is None and "role" not in message:
            raise BadRequest(f"missing required field '{where}'", param=where, code="missing_field")
        raise _wrong_type(where, "a string", role)
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        if not isinstance(content, list):
            raise _wrong_type(
                f"messages[{index}].content", "a string, an array of parts or null", content
            )
        for number, part in enumerate(content):
            if not isinstance(part, dict):
                raise _wrong_type(f"messages[{index}].content[{number}]", "an object", part)
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise _wrong_type(f"messages[{index}].tool_calls", "an array", calls)
        for number, call in enumerate(calls):
            if not isinstance(call, dict):
                raise _wrong_type(f"messages[{index}].tool_calls[{number}]", "an object", call)


def _check_tool(index: int, tool: object) -> None:
    where = f"tools[{index}]"
    if not isinstance(tool, dict):
        raise _wrong_type(where, "an object", tool)
    if tool.get("type", "function") != "function":
        return  # other tool kinds are the backend's business
    function = tool.get("function")
    if not isinstance(function, dict):
        raise _wrong_type(f"{where}.function", "an object", function)
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise _wrong_type(f"{where}.function.name", "a non-empty string", name)
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise _wrong_type(f"{where}.function.description", "a string", description)
    parameters = function.get("parameters")
    if parameters is not None:  # null, as absent: a function without parameters
        check_parameters(parameters, f"{where}.function.parameters")


def _wrong_type(name: str, expected: str, value: object) -> BadRequest:
    return BadRequest(
        f"'{name}' must be {expected}, got {json_kind(value)}", param=name, code="invalid_type"
    )


def _utf8_problem(body: bytes) -> str:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return (
            f"request body is not valid UTF-8 (byte 0x{body[error.start]:02x} at offset "
            f"{error.start}): send JSON encoded as UTF-8"
        )
    return "request body is not valid UTF-8: send JSON encoded as UTF-8"


def _shown(value: bytes) -> str:
    text = value[:100].decode("latin-1")
    return repr(text if text.isprintable() else text.encode("unicode_escape").decode("ascii"))
