from __future__ import annotations

import pytest

from glm_proxy.chat_request import parse_chat_request
from glm_proxy.errors import BadRequest

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}


def test_a_valid_request_is_returned_with_unknown_fields() -> None:
    body = b'{"model": "glm-4.5", "messages": [], "seed": 7, "tools": [], "stream": false}'
    assert parse_chat_request(body) == {
        "model": "glm-4.5",
        "messages": [],
        "seed": 7,
        "tools": [],
        "stream": False,
    }


def test_null_stream_and_tools_are_allowed() -> None:
    data = parse_chat_request(b'{"model": "m", "messages": [], "stream": null, "tools": null}')
    assert data["tools"] is None


@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        (b"", "request body is empty: send a JSON object", None, "invalid_json"),
        (b"{", "request body is not valid JSON", None, "invalid_json"),
        (b"\xff\xfe", "request body is not valid JSON", None, "invalid_json"),
        (b"[1, 2]", "request body must be a JSON object, got an array", None, "invalid_json"),
        (b'{"messages": []}', "missing required field 'model'", "model", "missing_field"),
        (b'{"model": "m"}', "missing required field 'messages'", "messages", "missing_field"),
        (
            b'{"model": 4, "messages": []}',
            "'model' must be a string, got a number",
            "model",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": "hi"}',
            "'messages' must be an array, got a string",
            "messages",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [], "stream": "yes"}',
            "'stream' must be a boolean, got a string",
            "stream",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [], "tools": {}}',
            "'tools' must be an array, got an object",
            "tools",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [], "tools": ["get_weather"]}',
            "'tools[0]' must be an object, got a string",
            "tools[0]",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [], "tools": [{"type": "function"}]}',
            "'tools[0].function' must be an object, got null",
            "tools[0].function",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [], "tools": [{"function": {"name": ""}}]}',
            "'tools[0].function.name' must be a non-empty string, got an empty string",
            "tools[0].function.name",
            "invalid_type",
        ),
    ],
)
def test_a_bad_request_gets_a_message_naming_the_problem(
    body: bytes, message: str, param: str | None, code: str
) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_chat_request(body)
    assert raised.value.message.startswith(message)
    assert (raised.value.param, raised.value.code, raised.value.status) == (param, code, 400)


def test_other_tool_kinds_are_left_to_the_backend() -> None:
    body = b'{"model": "m", "messages": [], "tools": [{"type": "web_search"}, %s]}'
    import orjson

    data = parse_chat_request(body % orjson.dumps(TOOL))
    assert len(data["tools"]) == 2
