from __future__ import annotations

import aiohttp
import pytest

from glm_proxy.backend.client import Upstream
from glm_proxy.config import load_settings
from glm_proxy.errors import BackendBadResponse, BackendTimeout, BackendUnreachable

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
