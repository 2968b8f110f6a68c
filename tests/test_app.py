"""The proxy's HTTP behaviour against the scripted backend: errors, relays, headers, bytes,
disconnects, health, the access log. Raw HTTP (httpx, sockets) where the SDK would hide it."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from conftest import RunningProxy, start_proxy
from glm_proxy.config import load_settings
from glm_proxy.server.app import GC_YOUNGEST_EVERY, create_app
from support.scripted_backend import Script, ScriptedBackend
from support.wirecheck import accumulate_choices, check_sse_bytes, check_stream

GLM_CALL = (
    "<tool_call>get_weather\n<arg_key>location</arg_key>\n<arg_value>Seoul</arg_value>\n"
    "</tool_call>"
)
BACKEND_ERROR_EVENT = (
    b'data: {"error": {"message": "model crashed", "type": "server_error", "param": null, '
    b'"code": null}}\n\n'
)
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
CHAT = {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}]}


def post_chat(proxy: RunningProxy, body: object, **kwargs: object) -> httpx.Response:
    return httpx.post(proxy.base_url + "/chat/completions", json=body, **kwargs)  # type: ignore[arg-type]


def error_of(response: httpx.Response) -> dict[str, object]:
    """The OpenAI error object of a response, after checking its shape."""
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, object] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    return error


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A local port that is bound but not listening: connecting to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


# --- errors before anything reaches the backend --------------------------------------------


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"{not json", 400, "request body is not valid JSON"),
        (b'{"messages": []}', 400, "missing required field 'model'"),
        (b'{"model": "glm-4.5"}', 400, "missing required field 'messages'"),
        (b'{"model": "glm-4.5", "messages": {}}', 400, "'messages' must be an array"),
        (b'"just a string"', 400, "request body must be a JSON object"),
    ],
)
def test_a_bad_request_gets_400_naming_the_problem_and_is_not_forwarded(
    proxy: RunningProxy, backend: ScriptedBackend, content: bytes, status: int, message: str
) -> None:
    response = httpx.post(proxy.base_url + "/chat/completions", content=content)
    assert response.status_code == status
    error = error_of(response)
    assert str(error["message"]).startswith(message)
    assert error["type"] == "invalid_request_error"
    assert backend.requests == []


def test_the_sdk_sees_a_bad_request_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="glm-4.5", messages="hello")  # type: ignore[arg-type]
    assert raised.value.status_code == 400
    assert "'messages' must be an array, got a string" in raised.value.message


def test_unknown_route_is_404(proxy: RunningProxy) -> None:
    response = httpx.get(proxy.url + "/v2/nothing")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "unknown_route"
    assert str(error["message"]).startswith("unknown route GET /v2/nothing")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/chat/completions"), ("POST", "/health"), ("PUT", "/chat/completions")],
)
def test_wrong_method_is_405(
    proxy: RunningProxy, backend: ScriptedBackend, method: str, path: str
) -> None:
    response = httpx.request(method, proxy.url + path)
    assert response.status_code == 405
    error = error_of(response)
    assert error["code"] == "method_not_allowed"
    assert f"method {method} is not allowed on {path}" in str(error["message"])
    assert backend.requests == []


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_413(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend, chunked: bool
) -> None:
    proxy = make_proxy(MAX_BODY_SIZE="1K")
    body = orjson.dumps({**CHAT, "padding": "x" * 2000})
    content: bytes | Iterator[bytes] = iter([body[:500], body[500:]]) if chunked else body
    response = httpx.post(proxy.base_url + "/chat/completions", content=content)
    assert response.status_code == 413
    error = error_of(response)
    assert error["message"] == "request body is larger than 1024 bytes (MAX_BODY_SIZE)"
    assert backend.requests == []
    assert post_chat(proxy, CHAT).status_code == 200  # a body under the limit still passes


# --- errors of the backend ----------------------------------------------------------------


def test_backend_4xx_passes_through_with_its_body(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    raw = (
        b'{"error":{"message":"model glm-9 not found","type":"not_found","code":"model_not_found"}}'
    )
    backend.script(Script(status=404, error_body=raw))
    response = post_chat(proxy, CHAT)
    assert response.status_code == 404
    assert response.content == raw


def test_backend_4xx_of_a_stream_passes_through_before_it_starts(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    backend.script(Script(status=400, error_body=b'{"error": {"message": "context too long"}}'))
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="glm-4.5", messages=[], stream=True)
    assert raised.value.status_code == 400
    assert "context too long" in raised.value.message


def test_backend_500_becomes_502_with_its_message(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(status=500, error_body=b'{"error": "CUDA out of memory"}'))
    response = post_chat(proxy, CHAT)
    assert response.status_code == 502
    error = error_of(response)
    assert (
        error["message"] == f"the backend at {backend.url} failed with HTTP 500: CUDA out of memory"
    )
    assert error["type"] == "backend_error"


@pytest.mark.parametrize("stream", [False, True])
def test_unreachable_backend_is_502_saying_what_to_check(
    make_proxy: Callable[..., RunningProxy], refused_port: int, stream: bool
) -> None:
    url = f"http://127.0.0.1:{refused_port}/v1"
    proxy = make_proxy(OPENAI_BASE_URL=url)
    response = post_chat(proxy, {**CHAT, "stream": stream})
    assert response.status_code == 502
    error = error_of(response)
    assert error["message"] == (
        f"could not reach the backend at {url} (connection refused): "
        "is LM Studio / Ollama running? Set OPENAI_BASE_URL."
    )
    assert error["code"] == "backend_unreachable"


def test_slow_backend_is_504(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    proxy = make_proxy(UPSTREAM_TIMEOUT="0.2")
    backend.script(Script(delay=3))
    response = post_chat(proxy, CHAT)
    assert response.status_code == 504
    error = error_of(response)
    assert (
        error["message"]
        == f"the backend at {backend.url} did not answer within 0.2 s (UPSTREAM_TIMEOUT)"
    )
    assert error["code"] == "backend_timeout"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            Script(body=b"<html>hello</html>", content_type="text/html"),
            "answered with invalid JSON",
        ),
        (Script(body=b'{"object": "list"}'), "answered without a choices list"),
        (Script(body=b"[1, 2]"), "answered without a choices list"),
    ],
)
def test_garbage_from_the_backend_is_502(
    proxy: RunningProxy, backend: ScriptedBackend, script: Script, message: str
) -> None:
    backend.script(script)
    response = post_chat(proxy, CHAT)
    assert response.status_code == 502
    error = error_of(response)
    assert str(error["message"]).startswith(f"the backend at {backend.url} {message}")
    assert error["code"] == "backend_bad_response"


def test_a_stream_request_answered_with_json_is_502(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(body=b'{"choices": []}'))
    response = post_chat(proxy, {**CHAT, "stream": True})
    assert response.status_code == 502
    assert "answered a streaming request with application/json" in str(
        error_of(response)["message"]
    )


def test_a_stream_that_stalls_ends_with_a_timeout_error_event(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    proxy = make_proxy(UPSTREAM_TIMEOUT="0.3")
    backend.script(Script(content="Hello there, friend", chunk_size=2, stall_after=3))
    response = post_chat(proxy, {**CHAT, "stream": True})
    assert response.status_code == 200
    chunks = check_sse_bytes(response.content)
    check_stream(chunks, require_finish=False)
    last = orjson.loads(response.content.rstrip().rsplit(b"\n\n", 1)[-1][len(b"data: ") :])
    assert last["error"]["code"] == "backend_timeout"
    assert "did not answer within 0.3 s" in last["error"]["message"]
    assert b"[DONE]" not in response.content


def test_an_event_that_is_not_json_ends_the_stream_with_an_error(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(content="Hi", extra_events=(b"data: {oops\n\n",)))
    response = post_chat(proxy, {**CHAT, "stream": True})
    check_sse_bytes(response.content)
    assert b'"code":"backend_bad_response"' in response.content
    assert b"sent an invalid event stream" in response.content


def test_the_backends_own_error_event_is_forwarded_and_ends_the_stream(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    event = BACKEND_ERROR_EVENT
    backend.script(Script(content="Partial answ", extra_events=(event,)))
    response = post_chat(proxy, {**CHAT, "stream": True})
    chunks = check_sse_bytes(response.content)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Partial answ"
    last = response.content.rstrip().rsplit(b"\n\n", 1)[-1]
    assert orjson.loads(last[len(b"data: ") :]) == orjson.loads(event[len(b"data: ") :])


def test_the_sdk_raises_on_an_error_after_the_stream_started(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    event = BACKEND_ERROR_EVENT
    backend.script(Script(content="Partial", extra_events=(event,)))
    stream = client.chat.completions.create(model="glm-4.5", messages=[], stream=True)
    with pytest.raises(openai.APIError, match="model crashed"):
        for _ in stream:
            pass


def test_the_proxy_serves_the_next_request_after_a_failure(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(status=500), Script(body=b"garbage"))
    assert post_chat(proxy, CHAT).status_code == 502
    assert post_chat(proxy, CHAT).status_code == 502
    assert post_chat(proxy, CHAT).json()["choices"][0]["message"]["content"] == Script().content


# --- what reaches the backend ---------------------------------------------------------------


@pytest.mark.parametrize("model", ["glm-4.5-air", "qwen3-coder"])
def test_the_original_bytes_reach_the_backend_unchanged(
    proxy: RunningProxy, backend: ScriptedBackend, model: str
) -> None:
    body = (
        '{ "messages":[{"role":"user","content":"caf\\u00e9 ☕"}],\n  "model" : "MODEL",'
        '"seed":7,"chat_template_kwargs":{"enable_thinking":false},"x_unknown":[1.50,true,null],'
        '"tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}}]}'
    ).replace("MODEL", model)
    response = httpx.post(
        proxy.base_url + "/chat/completions?api-version=1",
        content=body.encode(),
        headers={"content-type": "application/json", "x-custom": "kept"},
    )
    assert response.status_code == 200
    [received] = backend.requests
    assert received.body == body.encode()
    assert received.path == "/v1/chat/completions"
    assert received.query == "api-version=1"
    assert received.headers["x-custom"] == "kept"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["accept-encoding"] == "identity"  # not the client's gzip


def test_without_a_backend_key_the_clients_authorization_is_forwarded(
    client: openai.OpenAI, backend: ScriptedBackend
) -> None:
    client.chat.completions.create(model="glm-4.5", messages=[])
    assert backend.requests[-1].headers["authorization"] == "Bearer sk-client"


def test_with_a_backend_key_the_clients_key_is_never_forwarded(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    proxy = make_proxy(OPENAI_API_KEY="sk-backend")
    headers = {"authorization": "Bearer sk-client", "x-api-key": "sk-client"}
    for path in ("/chat/completions", "/embeddings"):
        httpx.post(proxy.base_url + path, json=CHAT, headers=headers)
    httpx.get(proxy.base_url + "/models", headers=headers)
    assert len(backend.requests) == 3
    for received in backend.requests:
        assert received.headers["authorization"] == "Bearer sk-backend"
        assert "x-api-key" not in received.headers
        assert "sk-client" not in str(received.headers)


def test_a_request_without_a_key_reaches_a_keyless_backend_without_one(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    assert post_chat(proxy, CHAT).status_code == 200
    assert "authorization" not in backend.requests[-1].headers


# --- transparent relays -------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("with_tools", [False, True])
def test_a_model_no_setting_names_passes_through_byte_identical(
    make_proxy: Callable[..., RunningProxy],
    backend: ScriptedBackend,
    stream: bool,
    with_tools: bool,
) -> None:
    # Without tools nothing is converted; with tools, DETECT_DIALECT=false relays as well.
    proxy = make_proxy(DETECT_DIALECT="false")
    script = Script(content="<think>x</think>" + GLM_CALL, chunk_size=5)
    backend.script(script, script)
    body: dict[str, Any] = {"model": "llama-3.1-8b", "messages": [], "stream": stream}
    if with_tools:
        body["tools"] = TOOLS
    direct = httpx.post(backend.url + "/chat/completions", json=body)
    proxied = httpx.post(proxy.base_url + "/chat/completions", json=body)
    assert proxied.status_code == direct.status_code == 200
    assert proxied.content == direct.content
    assert proxied.headers["content-type"] == direct.headers["content-type"]


def test_detection_without_a_call_answers_byte_identical(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    script = Script(content="No tool needed: 2 < 3 and <b>bold</b>.")
    backend.script(script, script)
    body = {"model": "llama-3.1-8b", "messages": [], "tools": TOOLS}
    direct = httpx.post(backend.url + "/chat/completions", json=body)
    proxied = httpx.post(proxy.base_url + "/chat/completions", json=body)
    assert proxied.status_code == direct.status_code == 200
    assert proxied.content == direct.content


@pytest.mark.parametrize("stream", [False, True])
def test_the_dialect_of_a_model_no_setting_names_is_detected(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    stream: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="glm_proxy.access")
    backend.script(Script(content="Checking. " + GLM_CALL, chunk_size=3))
    client = openai.OpenAI(base_url=proxy.base_url, api_key="k")
    request: dict[str, Any] = {"model": "my-finetune-7b", "messages": [], "tools": TOOLS}
    if stream:
        with client.chat.completions.stream(**request) as events:
            completion = events.get_final_completion()
    else:
        completion = client.chat.completions.create(**request)
    message = completion.choices[0].message
    assert message.content == "Checking. "
    (call,) = message.tool_calls or []
    assert call.function.name == "get_weather"
    assert completion.choices[0].finish_reason == "tool_calls"
    lines = [r.getMessage() for r in caplog.records if r.name == "glm_proxy.access"]
    assert lines[-1].endswith("1 tool call (glm)")


def test_glm_models_setting_widens_the_translation(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    proxy = make_proxy(GLM_MODELS="glm,qwen")
    backend.script(Script(content=GLM_CALL))
    response = post_chat(proxy, {"model": "Qwen3-Coder", "messages": [], "tools": TOOLS})
    assert (
        response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
        == "get_weather"
    )


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_alias_serves_the_clients_model_with_the_backends(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend, stream: bool
) -> None:
    proxy = make_proxy(MODEL_ALIASES="gpt-*=glm-4.5-air")
    backend.script(Script(content=GLM_CALL, chunk_size=7))
    client = openai.OpenAI(base_url=proxy.base_url, api_key="k")
    request: dict[str, Any] = {"model": "gpt-4o", "messages": [], "tools": TOOLS}
    if stream:
        with client.chat.completions.stream(**request) as events:
            completion = events.get_final_completion()
    else:
        completion = client.chat.completions.create(**request)
    assert backend.requests[-1].json()["model"] == "glm-4.5-air"  # the backend's own name
    assert completion.model == "gpt-4o"  # the client's name, echoed back
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"  # converted: glm-4.5-air is a GLM model


@pytest.mark.parametrize("stream", [False, True])
def test_chat_answers_alike_through_the_short_way_in_and_through_fastapi(
    proxy: RunningProxy, backend: ScriptedBackend, stream: bool
) -> None:
    # Under a root_path (a reverse proxy that strips /api) a request goes through FastAPI's
    # router; others take ProxyApp's short way to the same handler: the answers must not
    # differ (ids aside).
    mounted = start_proxy({"OPENAI_BASE_URL": backend.url}, root_path="/api")
    try:
        script = Script(content="<think>x</think>" + GLM_CALL, chunk_size=5)
        backend.script(script, script)
        body = {**CHAT, "tools": TOOLS, "stream": stream}
        short = post_chat(proxy, body)
        routed = post_chat(mounted, body)
    finally:
        mounted.stop()
    assert short.status_code == routed.status_code == 200
    assert short.headers["content-type"] == routed.headers["content-type"]
    assert b'"name":"get_weather"' in short.content
    if not stream:
        assert _without_ids(short.content) == _without_ids(routed.content)
        return
    # Chunks that arrive in one read go out as one: how a stream is cut depends on timing, what
    # it adds up to does not.
    short_chunks, routed_chunks = check_sse_bytes(short.content), check_sse_bytes(routed.content)
    check_stream(short_chunks)
    check_stream(routed_chunks)
    assert _without_call_ids(accumulate_choices(short_chunks)) == _without_call_ids(
        accumulate_choices(routed_chunks)
    )


def _without_ids(content: bytes) -> bytes:
    return re.sub(rb'"(call_|chatcmpl-)[0-9A-Za-z]+"', b'"ID"', content)


def _without_call_ids(choices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for choice in choices:
        for call in choice["message"].get("tool_calls") or ():
            call["id"] = "ID"
    return choices


def test_other_routes_are_relayed_with_method_query_body_and_headers(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    response = httpx.post(proxy.base_url + "/embeddings?x=1", content=b'{"input": "hi"}')
    assert response.status_code == 200
    assert response.json() == {
        "method": "POST",
        "path": "/v1/embeddings",
        "query": "x=1",
        "body": '{"input": "hi"}',
    }
    assert response.headers["x-backend"] == "scripted"
    deleted = httpx.delete(proxy.base_url + "/files/abc")
    assert deleted.json()["method"] == "DELETE"


def test_cookies_the_backend_sets_reach_that_client_and_no_later_request(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    # By host name: aiohttp's default cookie jar would keep cookies from it (not from an IP).
    proxy = make_proxy(OPENAI_BASE_URL=backend.url.replace("127.0.0.1", "localhost"))
    first = httpx.get(proxy.base_url + "/set-cookie")
    assert first.headers["set-cookie"] == "session=backend-secret; Path=/"
    httpx.get(proxy.base_url + "/other")
    post_chat(proxy, CHAT)
    assert [r.path for r in backend.requests] == [
        "/v1/set-cookie",
        "/v1/other",
        "/v1/chat/completions",
    ]
    assert all("cookie" not in r.headers for r in backend.requests)


def test_models_are_listed_through_the_sdk(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["glm-4.5-air"]


# --- client disconnects ---------------------------------------------------------------------


@pytest.mark.parametrize("model", ["glm-4.5-air", "qwen3-coder"])
def test_a_client_that_disconnects_mid_stream_closes_the_backend_connection(
    proxy: RunningProxy, backend: ScriptedBackend, model: str
) -> None:
    # The backend sends three writes, then stalls for an hour: only the proxy closing the
    # connection can end the backend's response.
    backend.script(Script(content="Hello there, friend", chunk_size=2, stall_after=3))
    with (
        httpx.Client() as http,
        http.stream(
            "POST",
            proxy.base_url + "/chat/completions",
            json={**CHAT, "model": model, "stream": True},
        ) as response,
    ):
        first = next(response.iter_raw())
        assert first.startswith(b"data: ")
    assert backend.wait_for_disconnect(10), "the backend's stream was not closed"
    assert backend.disconnects == 1
    assert post_chat(proxy, CHAT).status_code == 200


def test_a_client_that_disconnects_before_any_event_leaves_nothing_open(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    backend.script(Script(content="Hello", stall_after=0))  # headers, then silence
    body = orjson.dumps({**CHAT, "stream": True})
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", proxy.port)) as sock:
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    assert backend.wait_for_disconnect(10)


# --- health, request ids, access log ------------------------------------------------------


def test_health_answers_without_the_backend(
    make_proxy: Callable[..., RunningProxy], refused_port: int
) -> None:
    proxy = make_proxy(OPENAI_BASE_URL=f"http://127.0.0.1:{refused_port}/v1")
    assert httpx.get(proxy.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(proxy.url + "/health/ready")
    assert ready.status_code == 503
    error = error_of(ready)
    assert error["code"] == "backend_not_ready"
    assert "connection refused" in str(error["message"])


def test_ready_when_the_backend_lists_its_models(
    proxy: RunningProxy, backend: ScriptedBackend
) -> None:
    ready = httpx.get(proxy.url + "/health/ready")
    assert ready.json() == {"status": "ready", "backend": backend.url}
    assert backend.requests[-1].path == "/v1/models"


def test_every_response_carries_a_request_id(proxy: RunningProxy) -> None:
    generated = httpx.get(proxy.url + "/health").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", generated)
    given = httpx.get(proxy.url + "/nowhere", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"


def test_one_access_log_line_per_request(
    proxy: RunningProxy, backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="glm_proxy")
    backend.script(Script(content=GLM_CALL, chunk_size=4))
    messages = [{"role": "user", "content": "secret words"}] * 3
    response = post_chat(
        proxy,
        {"model": "glm-4.5-air", "messages": messages, "tools": TOOLS, "stream": True},
        headers={"authorization": "Bearer sk-very-secret"},
    )
    assert response.status_code == 200
    post_chat(proxy, {"model": 5, "messages": []})
    lines = [r.getMessage() for r in caplog.records if r.name == "glm_proxy.access"]
    assert len(lines) == 2
    assert re.fullmatch(
        r"POST /v1/chat/completions ✓ 200 glm-4\.5-air 3 msgs 1 tool stream \d+\.\dms 1 tool call"
        r" \(glm\)",
        lines[0],
    )
    assert re.fullmatch(r"POST /v1/chat/completions ✗ 400 \d+\.\dms invalid_type", lines[1])
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sk-very-secret" not in logged
    assert "secret words" not in logged


# --- the last line of defence ---------------------------------------------------------------


def test_an_unexpected_failure_is_an_openai_shaped_500_without_a_traceback(
    proxy: RunningProxy, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(body: bytes) -> dict[str, object]:
        raise RuntimeError("a bug in glm-proxy")

    monkeypatch.setattr("glm_proxy.fronts.openai_chat.route.parse_chat_request", broken)
    caplog.set_level(logging.CRITICAL, logger="uvicorn.error")  # it logs the traceback itself
    response = post_chat(proxy, CHAT)
    assert response.status_code == 500
    error = error_of(response)
    assert error["message"] == "glm-proxy failed unexpectedly (RuntimeError); see its log"
    assert error["code"] == "internal_error"
    assert "Traceback" not in response.text


def test_fastapi_validation_errors_are_openai_shaped_400s() -> None:
    import asyncio

    from fastapi.exceptions import RequestValidationError
    from starlette.requests import Request

    from glm_proxy.access_log import RequestRecord
    from glm_proxy.server.app import RECORD, _validation_error

    record = RequestRecord("POST", "/x")
    request = Request(
        {"type": "http", "method": "POST", "path": "/x", "headers": [], RECORD: record}
    )
    problem = {"loc": ("body", "model"), "msg": "Field required", "type": "missing"}
    response = asyncio.run(_validation_error(request, RequestValidationError([problem])))
    assert response.status_code == 400
    assert orjson.loads(response.body)["error"]["message"] == (
        "invalid request: body.model: Field required"
    )
    assert record.error == "invalid_request"


@pytest.mark.parametrize("stream", [False, True])
def test_bodies_are_logged_only_at_debug(
    proxy: RunningProxy, backend: ScriptedBackend, caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    caplog.set_level(logging.DEBUG, logger="glm_proxy")
    backend.script(Script(content="the answer is 42"))
    body = {"model": "glm-4.5", "messages": [{"role": "user", "content": "the question"}]}
    post_chat(proxy, {**body, "stream": stream}, headers={"authorization": "Bearer sk-hidden"})
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("the question" in line for line in debug)
    assert any("the answer is 42" in line for line in debug)
    assert "sk-hidden" not in "\n".join(r.getMessage() for r in caplog.records)


def test_the_lifespan_freezes_what_was_built_and_collects_young_objects_less_often() -> None:
    app = create_app(load_settings({}))
    before = gc.get_threshold()

    async def thresholds_while_running() -> tuple[tuple[int, int, int], int]:
        async with app.router.lifespan_context(app):
            return gc.get_threshold(), gc.get_freeze_count()

    try:
        gc.set_threshold(700, 10, 10)
        running, frozen = asyncio.run(thresholds_while_running())
    finally:
        gc.set_threshold(*before)
    assert running == (GC_YOUNGEST_EVERY, 10, 10)
    assert frozen > 0
