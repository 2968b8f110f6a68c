from __future__ import annotations

import orjson
import pytest

from glm_proxy.errors import (
    BackendBadResponse,
    BackendStatusError,
    BackendTimeout,
    BackendUnreachable,
    BadRequest,
    BodyTooLarge,
    MethodNotAllowed,
    ProxyError,
    RouteNotFound,
    error_body,
)


def test_error_body_has_the_openai_shape() -> None:
    assert orjson.loads(error_body("boom", "t", "p", "c")) == {
        "error": {"message": "boom", "type": "t", "param": "p", "code": "c"}
    }


@pytest.mark.parametrize(
    ("error", "status", "type_", "code"),
    [
        (BadRequest("m", param="model"), 400, "invalid_request_error", "invalid_request"),
        (RouteNotFound("m"), 404, "invalid_request_error", "unknown_route"),
        (MethodNotAllowed("m"), 405, "invalid_request_error", "method_not_allowed"),
        (BodyTooLarge("m"), 413, "invalid_request_error", "body_too_large"),
        (BackendUnreachable("m"), 502, "backend_error", "backend_unreachable"),
        (BackendTimeout("m"), 504, "backend_error", "backend_timeout"),
        (BackendBadResponse("m"), 502, "backend_error", "backend_bad_response"),
    ],
)
def test_each_error_has_its_status_type_and_code(
    error: ProxyError, status: int, type_: str, code: str
) -> None:
    assert error.status == status
    body = orjson.loads(error.body())["error"]
    assert (body["message"], body["type"], body["code"]) == ("m", type_, code)


def test_a_code_given_to_one_error_does_not_change_its_class() -> None:
    assert BadRequest("m", code="invalid_json").code == "invalid_json"
    assert BadRequest("m").code == "invalid_request"


def test_backend_4xx_passes_through_with_its_own_json_body() -> None:
    raw = b'{"error": {"message": "model not loaded", "type": "lmstudio", "code": 7}}'
    error = BackendStatusError(404, raw, "http://127.0.0.1:1234/v1")
    assert error.status == 404
    assert error.body() == raw
    assert error.message == "model not loaded"


def test_backend_4xx_with_a_text_body_is_wrapped() -> None:
    error = BackendStatusError(422, b"bad field\n", "http://b/v1")
    assert error.status == 422
    assert orjson.loads(error.body())["error"]["message"] == "bad field"


def test_backend_4xx_without_a_body_still_says_what_happened() -> None:
    error = BackendStatusError(429, b"", "http://b/v1")
    assert orjson.loads(error.body())["error"]["message"] == "the backend answered HTTP 429"


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        (b'{"error": "CUDA out of memory"}', "CUDA out of memory"),
        (b'{"detail": "internal"}', "internal"),
        (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
    ],
)
def test_backend_5xx_becomes_502_quoting_the_backend(raw: bytes, quoted: str) -> None:
    error = BackendStatusError(500, raw, "http://127.0.0.1:1234/v1")
    assert error.status == 502
    body = orjson.loads(error.body())["error"]
    assert (
        body["message"] == f"the backend at http://127.0.0.1:1234/v1 failed with HTTP 500: {quoted}"
    )
    assert body["type"] == "backend_error"
