"""What every request gets from ``RequestMiddleware``: an id in the response and in each log line,
its request line in the log at the default level, and an OpenAI-shaped 500 for a bug."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import httpx
import orjson
import pytest

from conftest import RunningProxy, log_lines, log_until
from support.scripted_backend import Script, ScriptedBackend

CHAT = {"model": "glm-4.5-air", "messages": [{"role": "user", "content": "hi"}]}
GENERATED = re.compile(r"[0-9a-f]{16}")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (b"abc-123", True),
        (b"0f8fad5b-d9cb-469f-a165-70867728950e", True),
        (b"trace:span/1+2=3@x_y.z", True),
        (b"a" * 128, True),
        (b"a" * 129, False),
        (b"two words", False),
        (b"caf\xe9", False),
        (b"<script>", False),
    ],
)
def test_a_sane_request_id_is_kept_and_any_other_replaced(
    proxy: RunningProxy, given: bytes, kept: bool
) -> None:
    response = httpx.get(proxy.url + "/health", headers=[(b"x-request-id", given)])
    returned = response.headers["x-request-id"]
    if kept:
        assert returned == given.decode()
    else:
        assert GENERATED.fullmatch(returned)


def test_generated_ids_differ(proxy: RunningProxy) -> None:
    ids = {httpx.get(proxy.url + "/health").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_every_response_carries_the_request_id(
    make_proxy: Callable[..., RunningProxy],
    backend: ScriptedBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = make_proxy(MAX_BODY_SIZE="1K")
    locked = make_proxy(PROXY_API_KEY="sk-proxy-key")
    backend.script(Script(status=500))
    chat = proxy.base_url + "/chat/completions"
    text = {"content-type": "text/plain"}
    streamed = orjson.dumps({**CHAT, "stream": True})
    requests: list[tuple[str, str, bytes | None, dict[str, str]]] = [
        ("GET", proxy.url + "/health", None, {}),  # 200
        ("POST", chat, b"{", {}),  # 400
        ("GET", locked.base_url + "/models", None, {}),  # 401
        ("GET", proxy.url + "/v2", None, {}),  # 404
        ("GET", chat, None, {}),  # 405
        ("POST", chat, b"x" * 2000, {}),  # 413
        ("POST", chat, b"{}", text),  # 415
        ("POST", chat, orjson.dumps(CHAT), {}),  # 502
        ("POST", chat, streamed, {}),  # 200, streamed
    ]
    statuses = []
    for number, (method, url, content, headers) in enumerate(requests):
        given = {**headers, "x-request-id": f"id-{number}"}
        response = httpx.request(method, url, content=content, headers=given)
        statuses.append(response.status_code)
        assert response.headers["x-request-id"] == f"id-{number}"
    assert statuses == [200, 400, 401, 404, 405, 413, 415, 502, 200]
    monkeypatch.setattr("glm_proxy.fronts.openai_chat.route.parse_chat_request", _broken)
    failed = httpx.post(chat, json=CHAT, headers={"x-request-id": "id-500"})
    assert failed.status_code == 500
    assert failed.headers["x-request-id"] == "id-500"


def _broken(body: bytes) -> dict[str, object]:
    raise RuntimeError("a bug in glm-proxy")


def test_a_bug_is_an_openai_shaped_500_logged_with_its_id_and_traceback(
    proxy: RunningProxy,
    monkeypatch: pytest.MonkeyPatch,
    console_log: Callable[..., io.StringIO],
) -> None:
    log = console_log("ERROR")
    monkeypatch.setattr("glm_proxy.fronts.openai_chat.route.parse_chat_request", _broken)
    response = httpx.post(
        proxy.base_url + "/chat/completions", json=CHAT, headers={"x-request-id": "bug-1"}
    )
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "glm-proxy failed unexpectedly (RuntimeError); see its log",
            "type": "proxy_error",
            "param": None,
            "code": "internal_error",
        }
    }
    lines = log_lines(log, 2)
    assert lines[0] == "unexpected error on POST /v1/chat/completions req=bug-1"
    assert lines[1] == "Traceback (most recent call last):"
    assert "RuntimeError: a bug in glm-proxy" in log.getvalue()
    assert " ✗ 500 " not in log.getvalue()  # ERROR hides the request lines


def test_the_request_line_shows_at_the_default_level(
    proxy: RunningProxy, backend: ScriptedBackend, console_log: Callable[..., io.StringIO]
) -> None:
    log = console_log("WARNING")
    ok = httpx.post(proxy.base_url + "/chat/completions", json=CHAT)
    bad = httpx.post(proxy.base_url + "/chat/completions", json={"model": 5, "messages": []})
    first, second = log_lines(log, 2)
    assert re.fullmatch(
        r"POST /v1/chat/completions ✓ 200 glm-4\.5-air 1 msg \d+\.\dms req="
        + ok.headers["x-request-id"],
        first,
    )
    assert re.fullmatch(
        r"POST /v1/chat/completions ✗ 400 \d+\.\dms invalid_type req="
        + bad.headers["x-request-id"],
        second,
    )


def test_health_checks_show_only_at_debug(
    proxy: RunningProxy, console_log: Callable[..., io.StringIO]
) -> None:
    log = console_log("INFO")
    httpx.get(proxy.url + "/health")
    httpx.get(proxy.url + "/v2/nothing")
    [line] = log_lines(log, 1)
    assert line.startswith("GET /v2/nothing ✗ 404 ")


@pytest.mark.parametrize("stream", [False, True])
def test_every_line_written_for_a_request_carries_its_id(
    proxy: RunningProxy,
    backend: ScriptedBackend,
    console_log: Callable[..., io.StringIO],
    stream: bool,
) -> None:
    log = console_log("DEBUG")
    backend.script(Script(content="the answer"))
    response = httpx.post(
        proxy.base_url + "/chat/completions",
        content=orjson.dumps({**CHAT, "stream": stream}),
        headers={"x-request-id": "trace-7"},
    )
    assert response.status_code == 200
    text = log_until(log, "POST /v1/chat/completions")
    # Each record (a streamed body spans several lines) ends with the id.
    *records, rest = text.split(" req=trace-7\n")
    assert rest == ""
    assert records[0].startswith("request body: {")
    assert any(record.startswith("backend ") and "the answer" in record for record in records)
    assert records[-1].startswith("POST /v1/chat/completions ✓ 200 ")
