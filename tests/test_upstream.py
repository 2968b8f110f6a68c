from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest

from glm_proxy.backend.client import Upstream
from glm_proxy.config import load_settings
from glm_proxy.errors import BackendBadResponse, BackendTimeout, BackendUnreachable, BadRequest
from support.raw_backend import Connection, RawBackend, json_answer

CLIENT_HEADERS = [
    (b"host", b"127.0.0.1:8082"),
    (b"content-length", b"12"),
    (b"connection", b"keep-alive"),
    (b"accept-encoding", b"gzip, br"),
    (b"transfer-encoding", b"chunked"),
    (b"authorization", b"Bearer sk-client"),
    (b"x-api-key", b"sk-client"),
    (b"user-agent", b"OpenAI/Python"),
    (b"x-stainless-lang", b"python"),
]


def test_hop_by_hop_headers_are_dropped_and_the_clients_key_forwarded_without_our_own() -> None:
    upstream = Upstream(load_settings({}))
    assert upstream.headers(CLIENT_HEADERS, "application/json") == [
        ("authorization", "Bearer sk-client"),
        ("x-api-key", "sk-client"),
        ("user-agent", "OpenAI/Python"),
        ("x-stainless-lang", "python"),
        ("Content-Type", "application/json"),
        ("Accept-Encoding", "identity"),
    ]


def test_with_a_backend_key_the_clients_keys_are_replaced() -> None:
    upstream = Upstream(load_settings({"OPENAI_API_KEY": "sk-backend"}))
    headers = upstream.headers([*CLIENT_HEADERS, (b"content-type", b"application/json")])
    assert ("Authorization", "Bearer sk-backend") in headers
    assert not any(value == "sk-client" or "sk-client" in value for _, value in headers)
    assert [name for name, _ in headers].count("Content-Type") == 0  # the client's is kept
    assert ("content-type", "application/json") in headers


def test_urls_keep_the_base_path_and_the_raw_query() -> None:
    upstream = Upstream(load_settings({"OPENAI_BASE_URL": "http://127.0.0.1:1234/api/v1/"}))
    assert str(upstream.url("/models")) == "http://127.0.0.1:1234/api/v1/models"
    assert (
        str(upstream.url("/files", b"a=1&b=%20")) == "http://127.0.0.1:1234/api/v1/files?a=1&b=%20"
    )


@pytest.mark.parametrize(
    ("error", "responded", "kind", "message"),
    [
        (TimeoutError(), False, BackendTimeout, "did not answer within 2.5 s (UPSTREAM_TIMEOUT)"),
        (
            aiohttp.ServerDisconnectedError(),
            False,
            BackendUnreachable,
            "closed the connection before answering",
        ),
        (
            aiohttp.ClientOSError(104, "Connection reset by peer"),
            True,
            BackendUnreachable,
            "reset the connection in the middle of its answer",
        ),
        (
            aiohttp.ClientPayloadError(
                "Response payload is not completed: <ContentLengthError: 400, message='Not "
                "enough data to satisfy content length header (received 60 of 285 bytes).'>"
            ),
            True,
            BackendUnreachable,
            "closed the connection in the middle of its answer",
        ),
        (
            aiohttp.ClientPayloadError(
                "Response payload is not completed: <TransferEncodingError>. "
                "ConnectionResetError(104, 'Connection reset by peer')"
            ),
            True,
            BackendUnreachable,
            "reset the connection in the middle of its answer",
        ),
        (
            aiohttp.ClientPayloadError("Can not decode content-encoding: gzip"),
            True,
            BackendBadResponse,
            "sent a broken response body: Can not decode content-encoding: gzip",
        ),
    ],
)
def test_aiohttp_failures_say_what_happened(
    error: BaseException, responded: bool, kind: type, message: str
) -> None:
    upstream = Upstream(load_settings({"UPSTREAM_TIMEOUT": "2.5"}))
    failure = upstream.error(error, responded=responded)
    assert type(failure) is kind
    assert failure.message == f"the backend at http://127.0.0.1:1234/v1 {message}"


def test_error_messages_never_show_credentials_of_the_base_url() -> None:
    upstream = Upstream(load_settings({"OPENAI_BASE_URL": "https://u:pw@api.example.test/v1"}))
    assert "pw" not in upstream.error(TimeoutError(), responded=False).message


def test_a_pooled_connection_closed_just_now_is_replaced_before_the_request_goes_out() -> None:
    # The backend closes the kept-alive connection while the proxy's event loop is busy (the
    # blocking sleep below): the loop has not seen the close when the next request is sent.
    # The request must go out on a new connection, once, and not fail on the dead one.
    backend = RawBackend()
    connections = 0

    async def answer_then_close(conn: Connection) -> None:
        nonlocal connections
        connections += 1
        if await conn.request() is not None:
            await conn.write(json_answer({"n": connections}))
            await asyncio.sleep(0.05)  # the close comes after the answer was taken

    async def scenario() -> list[Any]:
        upstream = Upstream(load_settings({"OPENAI_BASE_URL": backend.url()}))
        await upstream.start()
        try:
            answers = []
            for _ in range(2):
                response = await upstream.send("POST", upstream.url("/x"), [], b"{}")
                answers.append(orjson.loads(await upstream.read(response)))
                time.sleep(0.3)  # noqa: ASYNC251 (blocks the loop on purpose)
            return answers
        finally:
            await upstream.close()

    backend.reset(answer_then_close)
    backend.start()
    try:
        assert asyncio.run(scenario()) == [{"n": 1}, {"n": 2}]
    finally:
        backend.stop()
    assert backend.heads == [b"POST /v1/x HTTP/1.1"] * 2  # each request went out once


@pytest.mark.parametrize(
    ("suffix", "leaves"),
    [
        (b"/models", False),
        (b"/files/a%20b", False),
        (b"/files/x/../y", False),
        (b"/./models", False),
        (b"/..", True),
        (b"/%2e%2e/admin", True),
        (b"/%2E%2e/x", True),
        (b"/a/..%2F..%2Fadmin", True),
        (b"/a/..%5C..%5Cadmin", True),
        (b"/a/b/../../../c", True),
    ],
)
def test_relay_urls_stay_under_the_base_path(suffix: bytes, leaves: bool) -> None:
    upstream = Upstream(load_settings({"OPENAI_BASE_URL": "http://127.0.0.1:1234/api/v1"}))
    if leaves:
        with pytest.raises(BadRequest, match="leaves /v1"):
            upstream.relay_url(suffix)
    else:
        url = upstream.relay_url(suffix, b"q=%26")
        assert url.raw_path_qs == "/api/v1" + suffix.decode() + "?q=%26"
