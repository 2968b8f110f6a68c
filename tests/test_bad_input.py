"""Bad input from clients, against the real proxy: the right status, an OpenAI-shaped error whose
message names the problem, and nothing sent to the backend."""

from __future__ import annotations

import gzip

import httpx
import orjson
import pytest

from conftest import RunningProxy
from support.scripted_backend import ScriptedBackend

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
USER = {"role": "user", "content": "hi"}


def body(**fields: object) -> bytes:
    return orjson.dumps({"model": "glm-4.5-air", "messages": [USER], **fields})


@pytest.mark.parametrize(
    ("content", "status", "code", "param", "message"),
    [
        (b"{not json", 400, "invalid_json", None, "request body is not valid JSON: "),
        (b"", 400, "invalid_json", None, "request body is empty: send a JSON object"),
        (b"[]", 400, "invalid_json", None, "request body must be a JSON object, got an array"),
        (b"null", 400, "invalid_json", None, "request body must be a JSON object, got null"),
        (
            b'{"model": "glm-4.5", "messages": [{"role": "user", "content": "caf\xe9"}]}',
            400,
            "invalid_encoding",
            None,
            "request body is not valid UTF-8 (byte 0xe9 at offset 66): send JSON encoded as UTF-8",
        ),
        (
            b'{"messages": []}',
            400,
            "missing_field",
            "model",
            "missing required field 'model'",
        ),
        (
            body(model=["glm"]),
            400,
            "invalid_type",
            "model",
            "'model' must be a string, got an array",
        ),
        (
            b'{"model": "glm"}',
            400,
            "missing_field",
            "messages",
            "missing required field 'messages'",
        ),
        (
            body(messages="hi"),
            400,
            "invalid_type",
            "messages",
            "'messages' must be an array, got a string",
        ),
        (
            body(messages=[USER, USER, {"role": 2, "content": "x"}]),
            400,
            "invalid_type",
            "messages[2].role",
            "'messages[2].role' must be a string, got a number",
        ),
        (
            body(tools={"get_weather": {}}),
            400,
            "invalid_type",
            "tools",
            "'tools' must be an array, got an object",
        ),
        (
            body(tools=[TOOL, {"type": "function", "function": {"parameters": {}}}]),
            400,
            "invalid_type",
            "tools[1].function.name",
            "'tools[1].function.name' must be a non-empty string, got null",
        ),
        (
            body(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
            400,
            "invalid_schema",
            "tools[0].function.parameters",
            "'tools[0].function.parameters' must be a JSON Schema object, got an array",
        ),
        (
            body(
                tools=[
                    {
                        "type": "function",
                        "function": {
                            "name": "f",
                            "parameters": {"type": "object", "required": "city"},
                        },
                    }
                ]
            ),
            400,
            "invalid_schema",
            "tools[0].function.parameters.required",
            "'tools[0].function.parameters.required' must be an array of property names",
        ),
        (body(stream="yes"), 400, "invalid_type", "stream", "'stream' must be a boolean"),
    ],
)
@pytest.mark.parametrize("model_kind", ["glm", "relayed"])
def test_a_bad_chat_request_is_refused_naming_the_problem(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    content: bytes,
    status: int,
    code: str,
    param: str | None,
    message: str,
    model_kind: str,
) -> None:
    if model_kind == "relayed":  # models the proxy only relays get the same checks
        content = content.replace(b'"glm-4.5-air"', b'"qwen3-coder"')
    response = httpx.post(
        proxy.base_url + "/chat/completions",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"].startswith(message)
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    assert response.headers["x-request-id"]
    assert backend.requests == []


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (
            {"content-type": "application/x-www-form-urlencoded"},
            "Content-Type must be application/json, got 'application/x-www-form-urlencoded'",
        ),
        ({"content-type": "text/plain"}, "Content-Type must be application/json, got 'text/plain'"),
        (
            {"content-type": "application/json", "content-encoding": "gzip"},
            "Content-Encoding 'gzip' is not supported: send the body uncompressed",
        ),
    ],
)
def test_a_body_that_is_not_plain_json_is_415(
    proxy: RunningProxy, backend: ScriptedBackend, headers: dict[str, str], message: str
) -> None:
    content = body()
    if "content-encoding" in headers:
        content = gzip.compress(content)
    response = httpx.post(proxy.base_url + "/chat/completions", content=content, headers=headers)
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["message"].startswith(message)
    assert error["code"] == "unsupported_media_type"
    assert backend.requests == []


def test_curl_without_a_content_type_header_is_told_what_to_add(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    # ``curl -d '{...}'`` sends application/x-www-form-urlencoded.
    response = httpx.post(
        proxy.base_url + "/chat/completions",
        content=body(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert "curl: add -H 'Content-Type: application/json'" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "application/json; charset=utf-8"]
)
def test_json_or_no_content_type_is_accepted(
    proxy: RunningProxy, backend: ScriptedBackend, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(proxy.base_url + "/chat/completions", content=body(), headers=headers)
    assert response.status_code == 200
    assert len(backend.requests) == 1


def test_other_routes_keep_their_own_content_types(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    # Uploads to /v1/files or /v1/audio are multipart: the proxy relays them as they are.
    files = {"file": ("a.txt", b"hello", "text/plain")}
    response = httpx.post(proxy.base_url + "/files", files=files, data={"purpose": "batch"})
    assert response.status_code == 200
    [received] = backend.requests
    assert received.headers["content-type"].startswith("multipart/form-data")


def test_the_proxy_keeps_serving_after_bad_input(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    for content in (b"\xff", b"{", b"[]", body(tools=5)):
        assert httpx.post(proxy.base_url + "/chat/completions", content=content).status_code == 400
    assert httpx.post(proxy.base_url + "/chat/completions", content=body()).status_code == 200
