"""One log line per request, written when the request has finished.

    POST /v1/chat/completions ✓ 200 glm-4.5 3 msgs stream 12.3ms 2 tool calls req=9f86d081884c7d65

Method, path (never the query string), ✓ or ✗, status, then what the proxy learnt of the request
(model, message and tool counts, ``stream``), the time until the last byte was sent, and how
many tool calls the proxy converted. A failure ends with its error code (``backend_timeout``);
a stream that failed after it started shows ✗ with status 200. Successful requests are logged at
INFO (successful health checks at DEBUG), failures at WARNING. Headers are never logged (they
hold API keys); request and response bodies only at DEBUG, by the app.

Every line written while a request is handled ends with its id (``req=...``, the
``x-request-id`` of the response): ``current_request_id`` holds it for the request's task.

The library only logs to the ``glm_proxy`` logger; ``configure_logging`` is for entry points.
It shows the request lines at every level but ERROR and CRITICAL (at the default, WARNING,
only they and warnings show), and hides the keys it is given wherever they would appear.

A request line is the one thing logged on every request, and a ``LogRecord`` passed through
the logging machinery cost about a tenth of the proxy's CPU per request under load. So while
the console handler that ``configure_logging`` installed is still the only place log records
go, request lines are written straight to it, formatted by the same code
(``ConsoleFormatter.render``); any other set-up gets them as ordinary log records.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TextIO

from glm_proxy.ids import random_hex

logger = logging.getLogger("glm_proxy.access")

RECORD = "glm_proxy.record"
"""Key of the request's ``RequestRecord`` in the ASGI scope."""

current_request_id: ContextVar[str] = ContextVar("glm_proxy_request_id", default="")
"""The id of the request whose task is running ("" outside requests)."""

_SANE_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
MIN_SECRET_LENGTH = 8
"""Shorter keys are not hidden in log lines (hiding "glm" would garble every model name)."""

_GREEN, _RED, _DIM, _RESET = "\x1b[32m", "\x1b[31m", "\x1b[2m", "\x1b[0m"


@dataclass(slots=True)
class RequestRecord:
    """What one request did; the handlers fill it in as they learn it."""

    method: str
    path: str
    request_id: str = ""
    started: float = field(default_factory=time.perf_counter)
    status: int = 0
    model: str | None = None
    messages: int | None = None
    tools: int | None = None
    stream: bool = False
    tool_calls: int = 0
    dialect: str | None = None
    """The dialect whose tool calls were converted (shown beside their count)."""
    error: str | None = None
    """Error code of a failure that the status does not show (a stream that broke after 200)."""

    @property
    def ok(self) -> bool:
        return self.error is None and 0 < self.status < 400


def request_id_from(value: bytes | None) -> str:
    """The client's ``x-request-id`` when it is sane (1-128 of ``A-Za-z0-9._:/+=@-``), else new."""
    if value is not None and _SANE_ID.fullmatch(value):
        return value.decode("ascii")
    return random_hex(16)


def format_line(record: RequestRecord, finished: float) -> str:
    parts = [record.method, _printable(record.path), "✓" if record.ok else "✗", str(record.status)]
    if record.model is not None:
        parts.append(_printable(record.model))
    if record.messages is not None:
        parts.append(_count(record.messages, "msg", "msgs"))
    if record.tools:
        parts.append(_count(record.tools, "tool", "tools"))
    if record.stream:
        parts.append("stream")
    parts.append(f"{(finished - record.started) * 1000:.1f}ms")
    if record.tool_calls:
        parts.append(_count(record.tool_calls, "tool call", "tool calls"))
        if record.dialect:
            parts.append(f"({record.dialect})")
    if record.error:
        parts.append(record.error)
    return " ".join(parts)


QUIET_PATHS = frozenset({"/health", "/health/ready"})
"""Health checkers poll these: their successes are logged at DEBUG only."""


def log_request(record: RequestRecord) -> None:
    """Write the record's line (INFO on success, WARNING on failure) if that level is enabled."""
    if record.ok:
        level = logging.DEBUG if record.path in QUIET_PATHS else logging.INFO
    else:
        level = logging.WARNING
    if logger.isEnabledFor(level):
        line = format_line(record, time.perf_counter())
        console = _console
        if console is not None and console.is_sole_destination(level):
            console.write_request_line(line, record.request_id, record.ok)
        else:
            logger.log(level, line, extra={"request_id": record.request_id, "ok": record.ok})


class ConsoleFormatter(logging.Formatter):
    """Plain lines ending with the request's id; with ``colour``, access lines get a green ✓ or
    red ✗ and status. ``hidden``: keys replaced by ``***`` wherever they appear."""

    def __init__(self, colour: bool, hidden: Iterable[str] = ()):
        super().__init__()
        self.colour = colour
        self.hidden = tuple(key for key in hidden if len(key) >= MIN_SECRET_LENGTH)

    def format(self, record: logging.LogRecord) -> str:
        line = record.getMessage()
        request_id = getattr(record, "request_id", None) or current_request_id.get()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        level = record.levelname if record.levelno >= logging.WARNING else None
        return self.render(line, request_id, getattr(record, "ok", None), level, record.exc_text)

    def render(
        self,
        line: str,
        request_id: str,
        ok: bool | None,
        level: str | None = None,
        details: str | None = None,
    ) -> str:
        """The console's text for a message: ``ok`` is None but for request lines, ``level`` the
        level name to show (for warnings and worse), ``details`` a traceback."""
        if request_id:
            line += f" req={request_id}"
        if details:
            line += "\n" + details
        for key in self.hidden:
            line = line.replace(key, "***")
        if not self.colour:
            return line
        if ok is None:
            return f"{_DIM}{level}{_RESET} {line}" if level else line
        mark, colour = ("✓", _GREEN) if ok else ("✗", _RED)
        before, sep, after = line.partition(f" {mark} ")
        status, _, rest = after.partition(" ")
        return f"{before} {colour}{mark} {status}{_RESET} {rest}" if sep else line


class ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The console's handler; it also takes request lines directly (see the module docstring)."""

    formatter: ConsoleFormatter

    def __init__(self, stream: TextIO, formatter: ConsoleFormatter) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)

    def is_sole_destination(self, level: int) -> bool:
        """Whether a request line at ``level`` would reach this handler and nothing else."""
        root = _root
        return (
            root.handlers == [self]
            and not root.filters
            and not logger.handlers
            and not logger.filters
            and logger.propagate
            and not self.filters
            and level >= self.level
        )

    def write_request_line(self, line: str, request_id: str, ok: bool) -> None:
        """What ``emit`` would write for the request line's record, without the record."""
        text = self.formatter.render(line, request_id, ok) + self.terminator
        with self.lock:  # type: ignore[union-attr]
            try:
                self.stream.write(text)
                self.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": line}))


_root = logging.getLogger("glm_proxy")
_console: ConsoleHandler | None = None
"""The handler ``configure_logging`` installed last."""


def configure_logging(level: str, stream: TextIO | None = None, hidden: Iterable[str] = ()) -> None:
    """Send the ``glm_proxy`` logger's records at ``level`` and above to ``stream`` (stderr),
    and the request lines too unless ``level`` is ERROR or CRITICAL; ``hidden``: keys to mask."""
    stream = sys.stderr if stream is None else stream
    # No line shows the thread, the process or the caller's source line: not collecting them
    # makes each record cheaper (the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    global _console
    handler = ConsoleHandler(stream, ConsoleFormatter(colour=_is_terminal(stream), hidden=hidden))
    _console = handler
    root = _root
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    number = logging.getLevelNamesMapping()[level]
    logger.setLevel(number if number >= logging.ERROR else min(number, logging.INFO))


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _printable(text: str) -> str:
    """Client-chosen text as it may appear in a log line: one line, at most 120 characters."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 120 else text[:117] + "..."
