"""Settings of the proxy, read once at start-up.

``load_settings(env, overrides)`` reads a mapping of environment-style names (the entry point
merges ``os.environ`` over a ``.env`` file; tests pass a dict) and returns a frozen ``Settings``.
A bad value raises ``SettingsError`` whose message names the setting, so that the entry point can
stop with one line instead of a traceback. Nothing here reads the environment by itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from fnmatch import fnmatchcase
from functools import lru_cache
from urllib.parse import urlsplit

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

DEFAULTS: dict[str, str] = {
    "OPENAI_BASE_URL": "http://127.0.0.1:1234/v1",
    "OPENAI_API_KEY": "",
    "HOST": "127.0.0.1",
    "PORT": "8082",
    "LOG_LEVEL": "WARNING",
    "UPSTREAM_TIMEOUT": "300",
    "GLM_MODELS": "glm",
    "GLM_THINKING_START": "auto",
    "REASONING_FIELD": "reasoning_content",
    "MAX_BODY_SIZE": str(32 << 20),
    "PARSER_MAX_BUFFER": str(1 << 20),
    "PROXY_API_KEY": "",
    "ALLOW_REMOTE": "false",
    "SHUTDOWN_GRACE": "10",
    "MODEL_ALIASES": "",
    "DIALECT_MODELS": (
        "qwen3-coder=qwen3_coder,qwen3coder=qwen3_coder,minimax=minimax,kimi=kimi_k2,"
        "deepseek=deepseek,qwen=hermes,hermes=hermes"
    ),
    "DETECT_DIALECT": "true",
    "RESPONSES_STORE_MAX": "1000",
    "RESPONSES_STORE_MAX_AGE": "3600",
    "RESPONSES_STORE_MAX_BYTES": str(64 << 20),
}
"""Every setting the proxy reads, with its default as it would be written in ``.env``."""

# GLM-4.7 and later end the prompt with ``<think>``: their output starts inside the reasoning.
_GLM_VERSION = re.compile(r"glm[-_ ]?(\d+)(?:\.(\d+))?")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
# What a client can send in an Authorization or x-api-key header: visible ASCII, no comma.
_CLIENT_KEY = re.compile(r"[!-+\--~]+")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class SettingsError(ValueError):
    """A setting has a value the proxy cannot use; the message starts with the setting's name."""


@dataclass(frozen=True, slots=True)
class Settings:
    base_url: str = DEFAULTS["OPENAI_BASE_URL"]
    """The backend's OpenAI-compatible base URL, without a trailing slash."""
    api_key: str | None = field(default=None, repr=False)
    """Key sent to the backend; None forwards the client's own ``Authorization`` header."""
    host: str = DEFAULTS["HOST"]
    port: int = 8082
    log_level: str = "WARNING"
    upstream_timeout: float = 300.0
    """Seconds to connect to the backend and, after that, between two reads from it."""
    glm_models: tuple[str, ...] = ("glm",)
    """Lower-case substrings of the model names that get GLM handling; ``("*",)`` means all."""
    thinking_start: bool | None = None
    """Whether output starts inside the reasoning; None decides from the model name."""
    reasoning_field: str = "reasoning_content"
    max_body_size: int = 32 << 20
    parser_max_buffer: int = 1 << 20
    proxy_api_keys: tuple[str, ...] = field(default=(), repr=False)
    """Keys clients must present (``Authorization: Bearer`` or ``x-api-key``); empty: none."""
    allow_remote: bool = False
    """Serve clients on other machines without ``proxy_api_keys`` (the Docker image sets it)."""
    shutdown_grace: float = 10.0
    """Seconds that requests in flight get to finish after SIGTERM/SIGINT."""
    dialect_models: tuple[tuple[str, str], ...] = (
        ("qwen3-coder", "qwen3_coder"),
        ("qwen3coder", "qwen3_coder"),
        ("minimax", "minimax"),
        ("kimi", "kimi_k2"),
        ("deepseek", "deepseek"),
        ("qwen", "hermes"),
        ("hermes", "hermes"),
    )
    """(pattern, dialect) pairs: a model whose name holds the pattern (``*`` wildcards, any
    case) writes that dialect's tool calls; GLM_MODELS is checked first."""
    detect_dialect: bool = True
    """Whether the dialect of a model no setting names is detected from its output (requests
    with tools); else its answers are relayed unchanged."""
    model_aliases: tuple[tuple[str, str], ...] = ()
    """(pattern, backend model) pairs: a client model matching a pattern (``*`` wildcards,
    any case) is sent to the backend as that model; the first match wins."""
    responses_store_max: int = 1000
    """Finished ``/v1/responses`` answers kept for ``previous_response_id`` (0: none)."""
    responses_store_max_age: float = 3600.0
    """Seconds a kept response can be named."""
    responses_store_max_bytes: int = 64 << 20
    """Bytes the kept responses may hold together."""

    def backend_model(self, model: str) -> str:
        """The model the backend is asked for when a client asks for ``model``."""
        if self.model_aliases:
            return _alias(model, self.model_aliases)
        return model

    def dialect_for(self, model: str) -> str | None:
        """The dialect of ``model``'s tool calls: ``glm`` for GLM_MODELS, else the first
        DIALECT_MODELS pattern it matches; None when no setting names it."""
        if _matches(model, self.glm_models):
            return "glm"
        return _dialect(model, self.dialect_models)

    def is_glm(self, model: str) -> bool:
        """Whether requests for ``model`` get GLM handling (case-insensitive substring match)."""
        return _matches(model, self.glm_models)

    def starts_in_reasoning(self, model: str) -> bool:
        """Whether ``model``'s output begins inside ``<think>`` (GLM-4.7 and later by default)."""
        if self.thinking_start is not None:
            return self.thinking_start
        return _is_glm_47_or_later(model)

    def public_base_url(self) -> str:
        """The base URL without user name or password, for messages and logs."""
        return _strip_credentials(self.base_url)


def load_settings(
    env: Mapping[str, str], overrides: Mapping[str, object | None] | None = None
) -> Settings:
    """Read ``Settings`` from environment-style names; ``overrides`` (same names) win.

    Names that are not settings are ignored; ``None`` values in ``overrides`` mean "not given".
    """
    values = {name: env.get(name, default) for name, default in DEFAULTS.items()}
    for name, value in (overrides or {}).items():
        if name not in DEFAULTS:
            raise SettingsError(f"{name}: not a setting (known: {', '.join(DEFAULTS)})")
        if value is not None:
            values[name] = str(value)
    return Settings(
        base_url=_url(values, "OPENAI_BASE_URL"),
        api_key=values["OPENAI_API_KEY"].strip() or None,
        host=_nonempty(values, "HOST"),
        port=_integer(values, "PORT", 0, 65535),
        log_level=_choice(values, "LOG_LEVEL", LOG_LEVELS),
        upstream_timeout=_seconds(values, "UPSTREAM_TIMEOUT"),
        glm_models=_patterns(values, "GLM_MODELS"),
        thinking_start=_tristate(values, "GLM_THINKING_START"),
        reasoning_field=_field_name(values, "REASONING_FIELD"),
        max_body_size=_size(values, "MAX_BODY_SIZE"),
        parser_max_buffer=_size(values, "PARSER_MAX_BUFFER"),
        proxy_api_keys=_client_keys(values, "PROXY_API_KEY"),
        allow_remote=_boolean(values, "ALLOW_REMOTE"),
        shutdown_grace=_seconds(values, "SHUTDOWN_GRACE", allow_zero=True),
        model_aliases=_aliases(values, "MODEL_ALIASES"),
        dialect_models=_dialects(values, "DIALECT_MODELS"),
        detect_dialect=_boolean(values, "DETECT_DIALECT"),
        responses_store_max=_integer(values, "RESPONSES_STORE_MAX", 0, 1_000_000),
        responses_store_max_age=_seconds(values, "RESPONSES_STORE_MAX_AGE"),
        responses_store_max_bytes=_size(values, "RESPONSES_STORE_MAX_BYTES"),
    )


def settings_to_env(settings: Settings) -> dict[str, str]:
    """The environment that ``load_settings`` reads back as ``settings`` (for worker processes)."""
    thinking = {None: "auto", True: "true", False: "false"}[settings.thinking_start]
    return {
        "OPENAI_BASE_URL": settings.base_url,
        "OPENAI_API_KEY": settings.api_key or "",
        "HOST": settings.host,
        "PORT": str(settings.port),
        "LOG_LEVEL": settings.log_level,
        "UPSTREAM_TIMEOUT": repr(settings.upstream_timeout),
        "GLM_MODELS": ",".join(settings.glm_models),
        "GLM_THINKING_START": thinking,
        "REASONING_FIELD": settings.reasoning_field,
        "MAX_BODY_SIZE": str(settings.max_body_size),
        "PARSER_MAX_BUFFER": str(settings.parser_max_buffer),
        "PROXY_API_KEY": ",".join(settings.proxy_api_keys),
        "ALLOW_REMOTE": "true" if settings.allow_remote else "false",
        "SHUTDOWN_GRACE": repr(settings.shutdown_grace),
        "MODEL_ALIASES": ",".join(f"{p}={m}" for p, m in settings.model_aliases),
        "DIALECT_MODELS": ",".join(f"{p}={d}" for p, d in settings.dialect_models),
        "DETECT_DIALECT": "true" if settings.detect_dialect else "false",
        "RESPONSES_STORE_MAX": str(settings.responses_store_max),
        "RESPONSES_STORE_MAX_AGE": repr(settings.responses_store_max_age),
        "RESPONSES_STORE_MAX_BYTES": str(settings.responses_store_max_bytes),
    }


@lru_cache(maxsize=1024)
def _matches(model: str, patterns: tuple[str, ...]) -> bool:
    if patterns == ("*",):
        return True
    lowered = model.lower()
    return any(pattern in lowered for pattern in patterns)


@lru_cache(maxsize=1024)
def _alias(model: str, aliases: tuple[tuple[str, str], ...]) -> str:
    lowered = model.lower()
    for pattern, target in aliases:
        if fnmatchcase(lowered, pattern):
            return target
    return model


@lru_cache(maxsize=1024)
def _dialect(model: str, patterns: tuple[tuple[str, str], ...]) -> str | None:
    lowered = model.lower()
    for pattern, dialect in patterns:
        if pattern in lowered if "*" not in pattern else fnmatchcase(lowered, f"*{pattern}*"):
            return dialect
    return None


@lru_cache(maxsize=1024)
def _is_glm_47_or_later(model: str) -> bool:
    match = _GLM_VERSION.search(model.lower())
    if match is None:
        return False
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return (major, minor) >= (4, 7)


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def _bad(name: str, values: Mapping[str, str], expected: str) -> SettingsError:
    shown = "<hidden>" if "KEY" in name else repr(values[name])
    return SettingsError(f"{name}: expected {expected}, got {shown}")


def _url(values: Mapping[str, str], name: str) -> str:
    url = values[name].strip().rstrip("/")
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise _bad(name, values, "an http:// or https:// URL such as http://127.0.0.1:1234/v1")
    return url


def _nonempty(values: Mapping[str, str], name: str) -> str:
    value = values[name].strip()
    if not value:
        raise _bad(name, values, "a non-empty value")
    return value


def _integer(values: Mapping[str, str], name: str, low: int, high: int) -> int:
    try:
        number = int(values[name].strip())
    except ValueError:
        raise _bad(name, values, f"an integer from {low} to {high}") from None
    if not low <= number <= high:
        raise _bad(name, values, f"an integer from {low} to {high}")
    return number


def _seconds(values: Mapping[str, str], name: str, *, allow_zero: bool = False) -> float:
    try:
        seconds = float(values[name].strip())
    except ValueError:
        seconds = -1.0
    if allow_zero and seconds == 0:
        return seconds
    if not 0 < seconds < float("inf"):
        zero = "a number of seconds, 0 or more"
        raise _bad(name, values, zero if allow_zero else "a positive number of seconds")
    return seconds


def _choice(values: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = values[name].strip().upper()
    if value not in choices:
        raise _bad(name, values, "one of " + ", ".join(choices))
    return value


def _patterns(values: Mapping[str, str], name: str) -> tuple[str, ...]:
    patterns = tuple(p.strip().lower() for p in values[name].split(",") if p.strip())
    if not patterns:
        raise _bad(name, values, 'comma-separated parts of model names (such as "glm"), or "*"')
    return ("*",) if "*" in patterns else patterns


def _aliases(values: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for part in values[name].split(","):
        if not part.strip():
            continue
        pattern, equals, target = part.partition("=")
        if not equals or not pattern.strip() or not target.strip():
            raise _bad(name, values, "comma-separated PATTERN=MODEL pairs (claude-*=glm-4.5-air)")
        pairs.append((pattern.strip().lower(), target.strip()))
    return tuple(pairs)


def _dialects(values: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    from glm_proxy.dialects import known_dialects

    known = known_dialects()
    pairs: list[tuple[str, str]] = []
    for part in values[name].split(","):
        if not part.strip():
            continue
        pattern, equals, dialect = (piece.strip() for piece in part.partition("="))
        if not equals or not pattern or dialect not in known:
            raise _bad(
                name,
                values,
                f"comma-separated PATTERN=DIALECT pairs (dialects: {', '.join(known)})",
            )
        pairs.append((pattern.lower(), dialect))
    return tuple(pairs)


def _tristate(values: Mapping[str, str], name: str) -> bool | None:
    value = values[name].strip().lower()
    states: dict[str, bool | None] = {"auto": None, **_BOOLEANS}
    if value not in states:
        raise _bad(name, values, "auto, true or false")
    return states[value]


def _boolean(values: Mapping[str, str], name: str) -> bool:
    value = values[name].strip().lower()
    if value not in _BOOLEANS:
        raise _bad(name, values, "true or false")
    return _BOOLEANS[value]


def _client_keys(values: Mapping[str, str], name: str) -> tuple[str, ...]:
    keys = tuple(key.strip() for key in values[name].split(",") if key.strip())
    if not all(_CLIENT_KEY.fullmatch(key) for key in keys):
        raise _bad(name, values, "comma-separated keys of visible ASCII characters, no spaces")
    return keys


def _field_name(values: Mapping[str, str], name: str) -> str:
    value = values[name].strip()
    if not _FIELD_NAME.fullmatch(value):
        raise _bad(name, values, "a JSON field name such as reasoning_content")
    return value


def _size(values: Mapping[str, str], name: str) -> int:
    match = _SIZE.fullmatch(values[name].strip())
    size = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()] if match else 0
    if size <= 0:
        raise _bad(name, values, "a positive number of bytes (suffixes K, M, G allowed: 32M)")
    return size


# Names other tools use for a setting of ours; a .env file copied from them holds these.
_OTHER_NAMES = {
    "OPENAI_API_BASE": "OPENAI_BASE_URL",
    "OPENAI_API_BASE_URL": "OPENAI_BASE_URL",
    "OPENAI_BASE": "OPENAI_BASE_URL",
    "OPENAI_URL": "OPENAI_BASE_URL",
    "BASE_URL": "OPENAI_BASE_URL",
    "API_BASE": "OPENAI_BASE_URL",
    "API_KEY": "OPENAI_API_KEY",
}


def misspelt_settings(names: Iterable[str]) -> list[tuple[str, str]]:
    """(name, setting) for each name that is not a setting but is close to one (``PORTT``,
    ``OPENAI_API_BASE``), for a warning; names far from every setting are someone else's."""
    found: list[tuple[str, str]] = []
    for name in names:
        if name in DEFAULTS:
            continue
        upper = name.upper()
        setting = _OTHER_NAMES.get(upper) or (upper if upper in DEFAULTS else None)
        if setting is None:
            close = get_close_matches(upper, DEFAULTS, n=1, cutoff=0.85)
            setting = close[0] if close else None
        if setting is not None:
            found.append((name, setting))
    return found
