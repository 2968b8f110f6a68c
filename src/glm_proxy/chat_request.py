"""The checks a chat completion request passes before it goes to the backend.

Only what the proxy itself relies on is checked, by hand (no validation models on the hot
path): the body is a JSON object, ``model`` is a string, ``messages`` a list, ``stream`` a
boolean, ``tools`` a list of objects whose functions have names. Everything else is the
backend's business and passes through untouched.
"""

from __future__ import annotations

from typing import Any

import orjson

from glm_proxy.errors import BadRequest

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def parse_chat_request(body: bytes) -> dict[str, Any]:
    """The request as a dict, or ``BadRequest`` with a message that names the problem."""
    if not body:
        raise BadRequest("request body is empty: send a JSON object", code="invalid_json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"request body is not valid JSON: {error}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest(
            f"request body must be a JSON object, got {_kind(data)}", code="invalid_json"
        )
    _require(data, "model", str)
    _require(data, "messages", list)
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _wrong_type("stream", "a boolean", stream)
    tools = data.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _wrong_type("tools", "an array", tools)
        for index, tool in enumerate(tools):
            _check_tool(index, tool)
    return data


def _require(data: dict[str, Any], name: str, kind: type) -> None:
    if name not in data:
        raise BadRequest(f"missing required field '{name}'", param=name, code="missing_field")
    if not isinstance(data[name], kind):
        raise _wrong_type(name, _JSON_TYPES[kind], data[name])


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


def _wrong_type(name: str, expected: str, value: object) -> BadRequest:
    return BadRequest(
        f"'{name}' must be {expected}, got {_kind(value)}", param=name, code="invalid_type"
    )


def _kind(value: object) -> str:
    if isinstance(value, str) and not value:
        return "an empty string"
    return _JSON_TYPES.get(type(value), type(value).__name__)
