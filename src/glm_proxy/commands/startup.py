"""What ``glm-proxy serve`` tells a user around start-up: the settings in ``--help``, names in
``.env`` that look like a misspelt setting, a port already taken, and whether the backend
answers (asked in the background: start-up never waits for it).
"""

from __future__ import annotations

import errno
import json
import socket
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from glm_proxy.config import DEFAULTS, misspelt_settings
from glm_proxy.errors import missing_v1_hint

if TYPE_CHECKING:
    from glm_proxy.config import Settings

PROBE_TIMEOUT = 3.0
"""Seconds the start-up probe waits for the backend's model list."""
SHOWN_MODELS = 3

_SETTING_HELP = {
    "OPENAI_BASE_URL": "the backend's OpenAI-compatible base URL (--base-url)",
    "OPENAI_API_KEY": "key sent to the backend; unset: the client's own key is forwarded",
    "PROXY_API_KEY": "keys clients must send (comma-separated); unset: none asked for",
    "HOST": "address to listen on (--host)",
    "PORT": "port to listen on (--port)",
    "ALLOW_REMOTE": "serve other machines without PROXY_API_KEY (--allow-remote)",
    "LOG_LEVEL": "DEBUG, INFO, WARNING, ERROR, CRITICAL, any case (--log-level)",
    "SHUTDOWN_GRACE": "seconds requests in flight get after SIGTERM or Ctrl-C",
    "UPSTREAM_TIMEOUT": "seconds to connect to the backend, then between two reads",
    "GLM_MODELS": "parts of model names that get GLM handling (comma-separated), or *",
    "DIALECT_MODELS": "the tool-call dialect of other models: PATTERN=DIALECT, ...",
    "DETECT_DIALECT": "for models no setting names: detect the dialect (true) or relay",
    "GLM_THINKING_START": "whether output starts inside the reasoning: auto, true, false",
    "REASONING_FIELD": "the message field that carries the reasoning",
    "MAX_BODY_SIZE": "largest request body accepted (suffixes K, M, G)",
    "PARSER_MAX_BUFFER": "most characters the parser holds back while deciding on markup",
    "RESPONSES_STORE_MAX": "finished /v1/responses answers kept for previous_response_id (0: none)",
    "RESPONSES_STORE_MAX_AGE": "seconds a kept /v1/responses answer lives",
    "RESPONSES_STORE_MAX_BYTES": "bytes the kept /v1/responses answers may hold together",
    "MODEL_ALIASES": "client model names the backend knows by another: claude-*=glm-4.5-air",
}


def settings_epilog() -> str:
    """Every setting, its default and what it does, for ``serve --help``."""
    lines = [
        "environment settings (also read from .env in this folder; the environment wins, flags "
        "win over both; .env.example documents each one):"
    ]
    for name, default in DEFAULTS.items():
        shown = default or "unset"
        if name in ("MAX_BODY_SIZE", "PARSER_MAX_BUFFER", "RESPONSES_STORE_MAX_BYTES"):
            shown = f"{int(default) >> 20}M"
        lines.append(f"  {name:<25} {_SETTING_HELP.get(name, 'see .env.example')} [{shown}]")
    return "\n".join(lines)


def misspelt_warnings(names: Iterable[str], source: str) -> list[str]:
    """One line per name in ``source`` (a .env file) that is close to a setting it is not."""
    return [
        f"glm-proxy: warning: {source} sets {name}, which is not a setting: did you mean {right}?"
        for name, right in misspelt_settings(names)
    ]


def port_problem(host: str, port: int) -> str | None:
    """Why the proxy cannot listen on ``host:port`` (a port in use, above all), or None."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return (
                f"port {port} on {host} is already in use (another glm-proxy?): pick another "
                f"with --port {port + 1} or PORT={port + 1}"
            )
        if error.errno == errno.EACCES:
            return f"no permission to listen on port {port}: pick one above 1023 with --port"
        return f"cannot listen on {host}:{port}: {error.strerror or error}"
    return None


def probe_backend_in_background(settings: Settings, report: Callable[[str], None]) -> None:
    """Ask the backend for its model list in a daemon thread and ``report`` one line."""
    thread = threading.Thread(
        target=lambda: report(probe_backend(settings)), name="glm-proxy-probe", daemon=True
    )
    thread.start()


def print_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def probe_backend(settings: Settings, timeout: float = PROBE_TIMEOUT) -> str:
    """One line on the backend: reachable with N models, not reachable and why, or a base URL
    that misses its ``/v1``."""
    base = settings.public_base_url()
    where = f"glm-proxy: backend {base}"
    status, body, failure = _get(settings.base_url + "/models", settings.api_key, timeout)
    if failure is not None:
        return f"{where} not reachable yet ({failure}): start it, or set OPENAI_BASE_URL"
    models = _model_ids(body) if status == 200 else None
    if models is not None:
        return f"{where} reachable: {_models_summary(models, settings)}"
    if status in (401, 403):
        return (
            f"{where} refused the model list (HTTP {status}): set OPENAI_API_KEY, or send the "
            "key from the client"
        )
    hint = missing_v1_hint(base)
    if status == 404 and hint.startswith("did you mean"):
        status_v1, body_v1, _ = _get(settings.base_url + "/v1/models", settings.api_key, timeout)
        if status_v1 == 200 and _model_ids(body_v1) is not None:
            return f"{where} answers under /v1: did you mean OPENAI_BASE_URL={base}/v1?"
    return f"{where} answered GET /models with HTTP {status}: {hint}"


def _models_summary(models: list[str], settings: Settings) -> str:
    text = f"{len(models)} model{'' if len(models) == 1 else 's'}"
    if models:
        shown = ", ".join(models[:SHOWN_MODELS])
        text += f" ({shown}{', ...' if len(models) > SHOWN_MODELS else ''})"
        if not any(settings.is_glm(model) for model in models):
            patterns = ",".join(settings.glm_models)
            text += f"; none matches GLM_MODELS={patterns}: set it to a part of your model's name"
    return text


def _get(url: str, api_key: str | None, timeout: float) -> tuple[int, bytes, str | None]:
    """(status, body, None), or (0, b"", why it failed)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    # Straight to the backend, as the proxy's own client goes (no HTTP_PROXY).
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(1 << 20), None
    except urllib.error.HTTPError as error:
        return error.code, error.read(1 << 16), None
    except urllib.error.URLError as error:
        return 0, b"", _reason(error.reason)
    except (TimeoutError, OSError) as error:
        return 0, b"", _reason(error)


def _reason(error: Any) -> str:
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return f"no answer within {PROBE_TIMEOUT:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "its host name does not resolve"
    return str(getattr(error, "strerror", None) or error)


def _model_ids(body: bytes) -> list[str] | None:
    """The ids of an OpenAI model list, or None when ``body`` is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        return None
    return [str(item.get("id")) for item in data["data"] if isinstance(item, dict)]
