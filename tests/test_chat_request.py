from __future__ import annotations

import orjson
import pytest

from glm_proxy.errors import BadRequest, UnsupportedMediaType
from glm_proxy.fronts.openai_chat.request import check_body_headers, parse_chat_request

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
        (
            b"\xff\xfe",
            "request body is not valid UTF-8 (byte 0xff at offset 0)",
            None,
            "invalid_encoding",
        ),
        (
            b'{"model": "caf\xe9", "messages": []}',
            "request body is not valid UTF-8 (byte 0xe9 at offset 14)",
            None,
            "invalid_encoding",
        ),
        (
            b"\xef\xbb\xbf{}",
            "request body is not valid JSON: UTF-8 byte order mark (BOM) is not supported",
            None,
            "invalid_json",
        ),
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
        (
            b'{"model": "m", "messages": [], "tools": [{"function": {"parameters": {}}}]}',
            "'tools[0].function.name' must be a non-empty string, got null",
            "tools[0].function.name",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [], "tools": [{"function": {"name": "f", '
            b'"description": ["x"]}}]}',
            "'tools[0].function.description' must be a string, got an array",
            "tools[0].function.description",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [], "tools": [{"function": {"name": "f", '
            b'"parameters": {"type": "object", "properties": {"n": {"type": "int"}}}}}]}',
            "'tools[0].function.parameters.properties.n.type' must be a JSON type name",
            "tools[0].function.parameters.properties.n.type",
            "invalid_schema",
        ),
        (
            b'{"model": "m", "messages": [], "tools": [{"function": {"name": "f", '
            b'"parameters": "object"}}]}',
            "'tools[0].function.parameters' must be a JSON Schema object, got a string",
            "tools[0].function.parameters",
            "invalid_schema",
        ),
        (
            b'{"model": "m", "messages": ["hi"]}',
            "'messages[0]' must be an object, got a string",
            "messages[0]",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "a"}, {"content": "b"}]}',
            "missing required field 'messages[1].role'",
            "messages[1].role",
            "missing_field",
        ),
        (
            b'{"model": "m", "messages": [{}, {}, {"role": 3}]}',
            "missing required field 'messages[0].role'",
            "messages[0].role",
            "missing_field",
        ),
        (
            b'{"model": "m", "messages": [{"role": "user"}, {"role": "user"}, {"role": 3}]}',
            "'messages[2].role' must be a string, got a number",
            "messages[2].role",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": 42}]}',
            "'messages[0].content' must be a string, an array of parts or null, got a number",
            "messages[0].content",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": ["hi"]}]}',
            "'messages[0].content[0]' must be an object, got a string",
            "messages[0].content[0]",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [{"role": "assistant", "tool_calls": {}}]}',
            "'messages[0].tool_calls' must be an array, got an object",
            "messages[0].tool_calls",
            "invalid_type",
        ),
        (
            b'{"model": "m", "messages": [{"role": "assistant", "tool_calls": [null]}]}',
            "'messages[0].tool_calls[0]' must be an object, got null",
            "messages[0].tool_calls[0]",
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
    data = parse_chat_request(body % orjson.dumps(TOOL))
    assert len(data["tools"]) == 2


def test_real_message_shapes_pass() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": [{"type": "text", "text": "rules"}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Seoul"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "assistant", "content": "Sunny.", "tool_calls": None, "name": "bot"},
    ]
    body = orjson.dumps({"model": "m", "messages": messages, "tools": [TOOL]})
    assert parse_chat_request(body)["messages"] == messages


def test_a_tool_without_parameters_or_with_null_parameters_passes() -> None:
    tools = [
        {"type": "function", "function": {"name": "now"}},
        {"type": "function", "function": {"name": "today", "parameters": None}},
    ]
    assert parse_chat_request(orjson.dumps({"model": "m", "messages": [], "tools": tools}))


@pytest.mark.parametrize(
    "value",
    [
        b"application/json",
        b"application/json; charset=utf-8",
        b"Application/JSON;charset=UTF-8",
        b"application/vnd.api+json",
    ],
)
def test_json_content_types_are_accepted(value: bytes) -> None:
    check_body_headers([(b"content-type", value), (b"content-encoding", b"identity")])


def test_a_request_without_a_content_type_is_accepted() -> None:
    check_body_headers([(b"host", b"x"), (b"content-length", b"2")])


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        (
            b"content-type",
            b"application/x-www-form-urlencoded",
            "Content-Type must be application/json, got 'application/x-www-form-urlencoded': "
            "send the body as JSON with 'Content-Type: application/json' "
            "(curl: add -H 'Content-Type: application/json')",
        ),
        (b"content-type", b"text/plain;charset=UTF-8", "Content-Type must be application/json"),
        (b"content-type", b"multipart/form-data; boundary=x", "Content-Type must be"),
        (b"content-type", b"", "Content-Type must be application/json, got ''"),
        (
            b"content-encoding",
            b"gzip",
            "Content-Encoding 'gzip' is not supported: send the body uncompressed",
        ),
    ],
)
def test_a_body_declared_as_something_else_is_415(
    header: bytes, value: bytes, message: str
) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        check_body_headers([(b"host", b"x"), (header, value)])
    assert raised.value.message.startswith(message)
    assert (raised.value.status, raised.value.code) == (415, "unsupported_media_type")


def test_a_tools_array_that_passed_is_remembered_and_a_bad_one_never_is() -> None:
    from glm_proxy.fronts.openai_chat.request import _check_tools_text

    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = orjson.dumps({"model": "m", "messages": [], "tools": tools})
    parse_chat_request(body)
    hits = _check_tools_text.cache_info().hits
    assert parse_chat_request(body)["tools"] == tools
    assert _check_tools_text.cache_info().hits == hits + 1
    bad = orjson.dumps({"model": "m", "messages": [], "tools": [{"function": {"name": 3}}]})
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"tools\[0\]\.function\.name"):
            parse_chat_request(bad)
