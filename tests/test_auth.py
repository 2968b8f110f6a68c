"""Who may use the proxy: client keys (PROXY_API_KEY), clients on other machines, and the
backend key, which never shows in a response or a log line."""

from __future__ import annotations

import asyncio
import io
import secrets
from collections.abc import Callable

import httpx
import openai
import pytest

from conftest import RunningProxy, log_lines
from glm_proxy.config import load_settings
from glm_proxy.server.app import create_app
from glm_proxy.server.auth import ClientKeys, exposure_problem, is_loopback, presented_key
from support.scripted_backend import Script, ScriptedBackend

CHAT = {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}]}
KEYS = "sk-proxy-one,sk-proxy-two"


def error_of(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, object] = body["error"]
    return error


# --- the pieces ---------------------------------------------------------------------------


def test_client_keys_accept_each_key_and_nothing_else() -> None:
    keys = ClientKeys(["sk-one", "sk-two"])
    assert keys.accepts(b"sk-one")
    assert keys.accepts(b"sk-two")
    for wrong in (b"", b"sk-on", b"sk-one ", b"sk-onE", b"sk-one,sk-two", b"sk-three"):
        assert not keys.accepts(wrong)
    assert not ClientKeys([])
    assert not ClientKeys([]).accepts(b"")


@pytest.mark.parametrize(
    ("name", "value", "key"),
    [
        (b"authorization", b"Bearer sk-1", b"sk-1"),
        (b"authorization", b"bearer   sk-1 ", b"sk-1"),
        (b"authorization", b"Basic dXNlcjpwYXNz", None),
        (b"authorization", b"sk-1", None),
        (b"x-api-key", b" sk-1", b"sk-1"),
        (b"x-request-id", b"sk-1", None),
    ],
)
def test_the_presented_key(name: bytes, value: bytes, key: bytes | None) -> None:
    assert presented_key(name, value) == key


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("::ffff:10.0.0.1", False),
        ("my-server.lan", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({}, False),
        ({"HOST": "::1"}, False),
        ({"HOST": "0.0.0.0"}, True),
        ({"HOST": "192.168.1.20"}, True),
        ({"HOST": "0.0.0.0", "PROXY_API_KEY": "sk-1"}, False),
        ({"HOST": "0.0.0.0", "ALLOW_REMOTE": "true"}, False),
    ],
)
def test_exposure_problem(env: dict[str, str], refused: bool) -> None:
    problem = exposure_problem(load_settings(env))
    assert (problem is not None) is refused
    if problem is not None:
        assert problem.startswith(f"HOST={env['HOST']} lets other machines in")
        assert "PROXY_API_KEY" in problem
        assert "--allow-remote" in problem


# --- client keys against the real proxy ---------------------------------------------------


@pytest.fixture
def locked(make_proxy: Callable[..., RunningProxy]) -> RunningProxy:
    return make_proxy(PROXY_API_KEY=KEYS)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key: this glm-proxy wants one of its keys (PROXY_API_KEY)"),
        ({"authorization": "Basic c2stcHJveHktb25l"}, "missing API key"),
        ({"authorization": "Bearer sk-proxy-on"}, "invalid API key"),
        ({"x-api-key": "sk-proxy-one,sk-proxy-two"}, "invalid API key"),
        ({"authorization": "Bearer sk-backend"}, "invalid API key"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/health/ready"),
        ("GET", "/v2/nowhere"),
    ],
)
def test_without_a_right_key_every_route_but_health_is_401_and_nothing_is_forwarded(
    locked: RunningProxy,
    backend: ScriptedBackend,
    headers: dict[str, str],
    message: str,
    method: str,
    path: str,
) -> None:
    response = httpx.request(method, locked.url + path, json=CHAT, headers=headers)
    assert response.status_code == 401
    error = error_of(response)
    assert str(error["message"]).startswith(message)
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["x-request-id"]
    assert "sk-proxy" not in response.text
    assert backend.requests == []


def test_health_answers_without_a_key(locked: RunningProxy) -> None:
    assert httpx.get(locked.url + "/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer sk-proxy-one"},
        {"authorization": "bearer sk-proxy-two"},
        {"x-api-key": "sk-proxy-two"},
        {"authorization": "Bearer wrong", "x-api-key": "sk-proxy-one"},
    ],
)
def test_a_right_key_is_let_in_and_not_forwarded(
    locked: RunningProxy, backend: ScriptedBackend, headers: dict[str, str]
) -> None:
    response = httpx.post(locked.base_url + "/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 200
    relayed = httpx.get(locked.base_url + "/models", headers=headers)
    assert relayed.status_code == 200
    assert len(backend.requests) == 2
    for received in backend.requests:
        assert "authorization" not in received.headers  # no OPENAI_API_KEY: nothing is sent
        assert "x-api-key" not in received.headers
        assert "sk-proxy" not in str(received.headers)


def test_with_both_keys_the_backend_gets_only_its_own(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    proxy = make_proxy(PROXY_API_KEY=KEYS, OPENAI_API_KEY="sk-backend-key")
    headers = {"authorization": "Bearer sk-proxy-one", "x-api-key": "sk-proxy-one"}
    assert httpx.post(proxy.base_url + "/chat/completions", json=CHAT, headers=headers).is_success
    [received] = backend.requests
    assert received.headers["authorization"] == "Bearer sk-backend-key"
    assert "x-api-key" not in received.headers


def test_the_sdk_uses_the_proxy_key_as_its_api_key(locked: RunningProxy) -> None:
    with openai.OpenAI(base_url=locked.base_url, api_key="sk-proxy-two", max_retries=0) as sdk:
        answer = sdk.chat.completions.create(model="glm-4.5", messages=[])
        assert answer.choices[0].message.content == Script().content
    with (
        openai.OpenAI(base_url=locked.base_url, api_key="sk-other", max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError, match="invalid API key"),
    ):
        sdk.chat.completions.create(model="glm-4.5", messages=[])


# --- clients on other machines --------------------------------------------------------------


async def _asgi_request(
    env: dict[str, str], client: str, headers: dict[str, str]
) -> httpx.Response:
    app = create_app(load_settings({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", **env}))
    transport = httpx.ASGITransport(app=app, client=(client, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as http:
        return await http.get("/health", headers=headers)


@pytest.mark.parametrize(
    ("env", "client", "headers", "status"),
    [
        ({}, "127.0.0.1", {}, 200),
        ({}, "::1", {}, 200),
        ({}, "192.168.1.20", {}, 403),
        ({}, "2001:db8::5", {}, 403),
        ({"ALLOW_REMOTE": "true"}, "192.168.1.20", {}, 200),
        ({"PROXY_API_KEY": "sk-1"}, "192.168.1.20", {}, 200),  # /health is open
    ],
)
def test_a_client_on_another_machine_needs_a_key_or_allow_remote(
    env: dict[str, str], client: str, headers: dict[str, str], status: int
) -> None:
    # The proxy listens on 127.0.0.1 in tests: the app sees the client address it is given.
    response = asyncio.run(_asgi_request(env, client, headers))
    assert response.status_code == status
    if status == 403:
        error = error_of(response)
        assert error["code"] == "remote_access_disabled"
        assert str(error["message"]).startswith(
            f"glm-proxy serves only its own machine, and {client} is another one: set PROXY_API_KEY"
        )
        assert response.headers["x-request-id"]


# --- the backend key never shows --------------------------------------------------------------


def test_the_backend_key_never_shows_in_a_response_or_a_log_line(
    make_proxy: Callable[..., RunningProxy],
    backend: ScriptedBackend,
    refused_url: str,
    console_log: Callable[..., io.StringIO],
) -> None:
    key = "sk-backend-" + secrets.token_hex(12)
    log = console_log("DEBUG", hidden=[key])
    proxy = make_proxy(OPENAI_API_KEY=key, UPSTREAM_TIMEOUT="0.3")
    echo = f'{{"error": {{"message": "Incorrect API key provided: {key}"}}}}'.encode()
    backend.script(
        Script(status=401, error_body=echo),  # passed through: the backend's own 4xx
        Script(status=401, error_body=echo),  # the same, for a stream, before it starts
        Script(status=500, error_body=b"auth failed for " + key.encode()),  # 502 quoting it
        Script(status=503, error_body=b""),
        Script(body=b"<html>bad key " + key.encode() + b"</html>", content_type="text/html"),
        Script(body=b'{"no": "choices", "key": "' + key.encode() + b'"}'),
        Script(delay=2),  # 504
    )
    responses = [
        httpx.post(proxy.base_url + "/chat/completions", json=CHAT),
        httpx.post(proxy.base_url + "/chat/completions", json={**CHAT, "stream": True}),
        *(httpx.post(proxy.base_url + "/chat/completions", json=CHAT) for _ in range(5)),
    ]
    unreachable = make_proxy(OPENAI_API_KEY=key, OPENAI_BASE_URL=refused_url)
    responses.append(httpx.post(unreachable.base_url + "/chat/completions", json=CHAT))
    responses.append(httpx.get(unreachable.url + "/health/ready"))
    statuses = [response.status_code for response in responses]
    assert statuses == [401, 401, 502, 502, 502, 502, 504, 502, 503]
    assert len(backend.requests) == 7
    for received in backend.requests:
        assert received.headers["authorization"] == f"Bearer {key}"
    for response in responses:
        assert key not in response.text
        assert key not in str(response.headers)
    assert "Incorrect API key provided: ***" in responses[0].text
    assert "auth failed for ***" in responses[2].text
    # At DEBUG the backend's answers are logged: the key is hidden there too.
    backend.script(Script(content="the answer, and the key " + key))
    httpx.post(proxy.base_url + "/chat/completions", json=CHAT)
    lines = log_lines(log, len(responses) + 1)
    assert any("the answer, and the key ***" in line for line in lines)
    assert key not in log.getvalue()


def test_the_backend_key_is_masked_in_its_error_event_mid_stream(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    key = "sk-backend-" + secrets.token_hex(12)
    proxy = make_proxy(OPENAI_API_KEY=key)
    event = b'data: {"error": {"message": "key ' + key.encode() + b' expired"}}\n\n'
    backend.script(Script(content="Hi", send_done=False, extra_events=(event,)))
    response = httpx.post(proxy.base_url + "/chat/completions", json={**CHAT, "stream": True})
    assert key not in response.text
    assert "key *** expired" in response.text


def test_a_429_keeps_its_retry_after(
    make_proxy: Callable[..., RunningProxy], backend: ScriptedBackend
) -> None:
    proxy = make_proxy()
    backend.script(
        Script(status=429, error_body=b'{"error": {"message": "slow down"}}', retry_after="7")
    )
    response = httpx.post(proxy.base_url + "/chat/completions", json=CHAT)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["message"] == "slow down"
