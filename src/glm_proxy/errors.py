"""Every error the proxy answers with, in the OpenAI shape.

The body is always ``{"error": {"message", "type", "param", "code"}}``; the status follows the
rules that OpenAI clients rely on (a 5xx makes the openai SDK retry, so a 5xx means the backend
failed, never the client)::

    ProxyError                    status, message, type, param, code
    ├── RequestError              the client's request is wrong (type "invalid_request_error")
    │   ├── BadRequest            400  malformed JSON or UTF-8, missing or wrong-typed fields
    │   ├── Unauthorized          401  no key, or a wrong one, while PROXY_API_KEY is set
    │   ├── Forbidden             403  a client on another machine, which no setting let in
    │   ├── RouteNotFound         404  a path the proxy does not serve
    │   ├── MethodNotAllowed      405  a path it serves, with another method
    │   ├── BodyTooLarge          413  a body over MAX_BODY_SIZE
    │   └── UnsupportedMediaType  415  a chat request whose body is declared as not JSON
    ├── ShuttingDown              503  the request did not finish within SHUTDOWN_GRACE
    └── BackendError              the backend failed (type "backend_error")
        ├── BackendUnreachable    502  connection refused, unknown host, reset before answering
        ├── BackendTimeout        504  no answer within UPSTREAM_TIMEOUT
        ├── BackendBadResponse    502  an answer that is not what the API promises
        └── BackendStatusError    the backend's own error: 4xx passed through with its body,
                                  5xx reported as 502 with the backend's message

Raise them anywhere in a request; the app turns them into responses (or, once a stream has
started, into an error event that ends the stream).
"""

from __future__ import annotations

from typing import Any

import orjson

_JSON_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def json_kind(value: object) -> str:
    """What a decoded JSON value is, for messages: "an object", "a number", "an empty string"."""
    if isinstance(value, str) and not value:
        return "an empty string"
    return _JSON_KINDS.get(type(value), type(value).__name__)


def error_body(
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> bytes:
    """The JSON bytes of an OpenAI error object."""
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


class ProxyError(Exception):
    status = 500
    type = "proxy_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.param, self.code)


class RequestError(ProxyError):
    status = 400
    type = "invalid_request_error"


class BadRequest(RequestError):
    status = 400
    code = "invalid_request"


class Unauthorized(RequestError):
    status = 401
    code = "invalid_api_key"


class Forbidden(RequestError):
    status = 403
    code = "remote_access_disabled"


class RouteNotFound(RequestError):
    status = 404
    code = "unknown_route"


class MethodNotAllowed(RequestError):
    status = 405
    code = "method_not_allowed"


class BodyTooLarge(RequestError):
    status = 413
    code = "body_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class ShuttingDown(ProxyError):
    """The proxy is stopping and the request ran past the grace period (clients may retry)."""

    status = 503
    code = "shutting_down"


class BackendError(ProxyError):
    status = 502
    type = "backend_error"
    code = "backend_error"
    partial: str | None = None
    """What the backend sent of a non-streamed answer before it failed: the body gets it as
    ``error.partial`` (an extra field clients ignore), so that no text is thrown away."""

    def body(self) -> bytes:
        if self.partial is None:
            return super().body()
        error = {"message": self.message, "type": self.type, "param": self.param}
        error |= {"code": self.code, "partial": self.partial}
        return orjson.dumps({"error": error})


class BackendUnreachable(BackendError):
    code = "backend_unreachable"


class BackendTimeout(BackendError):
    status = 504
    code = "backend_timeout"


class BackendBadResponse(BackendError):
    code = "backend_bad_response"


class BackendStatusError(BackendError):
    """The backend answered with an error status.

    A 4xx is the client's problem as the backend sees it: the proxy passes the status and the
    backend's body through (wrapped in the OpenAI shape only when it is not JSON). A 5xx becomes a
    502 that quotes the backend's message.
    """

    def __init__(
        self, backend_status: int, raw_body: bytes, base_url: str, retry_after: str | None = None
    ):
        self.backend_status = backend_status
        self.raw_body = raw_body
        self.headers = {"retry-after": retry_after} if retry_after else {}
        """Headers of the backend's answer the client needs too (a 429's ``Retry-After``)."""
        self.backend_message = _message_of(raw_body)
        if backend_status < 500:
            self.status = backend_status
            message = self.backend_message or f"the backend answered HTTP {backend_status}"
            if backend_status == 404 and not _is_json(raw_body):  # a route it does not have
                message += f" (from {base_url}: {missing_v1_hint(base_url)})"
        else:
            message = f"the backend at {base_url} failed with HTTP {backend_status}"
            if self.backend_message:
                message += f": {self.backend_message}"
        super().__init__(message)

    def body(self) -> bytes:
        if self.backend_status < 500 and _is_json(self.raw_body):
            return self.raw_body
        return super().body()


def missing_v1_hint(base_url: str) -> str:
    """What to check when the backend has no route for a request: most servers serve the
    OpenAI API under ``/v1``, and a base URL without it is the usual mistake."""
    path = base_url.split("://", 1)[-1].partition("/")[2].rstrip("/")
    last = path.rsplit("/", 1)[-1]
    if last[:1] == "v" and last[1:].isdigit():
        return "check that OPENAI_BASE_URL is the backend's OpenAI-compatible URL"
    return f"did you mean OPENAI_BASE_URL={base_url.rstrip('/')}/v1? (backends serve the API there)"


def _message_of(raw: bytes) -> str:
    """The human part of an error body: ``error.message``, ``error``, ``detail`` or the text."""
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace").strip()[:2000]
    if isinstance(data, dict):
        for value in (data.get("error"), data.get("detail"), data.get("message")):
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
            if isinstance(value, str):
                return value
    return raw.decode("utf-8", "replace").strip()[:2000]


def _is_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def hidden_forms(key: str | None) -> tuple[bytes, ...]:
    """The byte forms of a secret as it can appear in a body: as is, and JSON-escaped."""
    return (key.encode(), orjson.dumps(key)[1:-1]) if key else ()


def hide_keys(body: bytes, hidden: tuple[bytes, ...]) -> bytes:
    """``body`` with every form of the backend key replaced by ``***``."""
    for key in hidden:
        if key in body:
            body = body.replace(key, b"***")
    return body
