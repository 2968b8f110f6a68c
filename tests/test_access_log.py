from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable

import pytest

from glm_proxy.access_log import (
    ConsoleFormatter,
    RequestRecord,
    current_request_id,
    format_line,
    log_request,
    request_id_from,
)


def record(**fields: object) -> RequestRecord:
    base: dict[str, object] = {"method": "POST", "path": "/v1/chat/completions", "started": 10.0}
    base.update(fields)
    return RequestRecord(**base)  # type: ignore[arg-type]


def test_the_line_of_a_streamed_chat_with_tool_calls() -> None:
    line = format_line(
        record(status=200, model="glm-4.5-air", messages=3, tools=2, stream=True, tool_calls=2),
        10.0123,
    )
    assert (
        line
        == "POST /v1/chat/completions ✓ 200 glm-4.5-air 3 msgs 2 tools stream 12.3ms 2 tool calls"
    )


def test_singular_counts_and_no_tools() -> None:
    line = format_line(
        record(status=200, model="glm-4.5", messages=1, tools=0, tool_calls=1), 10.001
    )
    assert line == "POST /v1/chat/completions ✓ 200 glm-4.5 1 msg 1.0ms 1 tool call"


def test_a_failure_shows_the_cross_status_and_code() -> None:
    line = format_line(
        record(status=502, model="glm-4.5", messages=1, error="backend_unreachable"), 10.0
    )
    assert line == "POST /v1/chat/completions ✗ 502 glm-4.5 1 msg 0.0ms backend_unreachable"


def test_a_stream_that_failed_after_200_is_a_failure() -> None:
    failed = record(status=200, stream=True, error="backend_timeout")
    assert not failed.ok
    assert " ✗ 200 " in format_line(failed, 10.0)


def test_client_text_cannot_forge_log_lines() -> None:
    line = format_line(
        record(method="GET", path="/v1/x\nFAKE", status=404, model="m\r\nX" + "y" * 200), 10.0
    )
    assert "\n" not in line
    assert "\r" not in line
    assert "/v1/x\\nFAKE" in line
    assert len(line) < 300


def test_success_logs_at_info_and_failure_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="glm_proxy")
    log_request(record(status=200))
    log_request(record(status=400))
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.WARNING]
    assert caplog.records[0].request_id == ""  # type: ignore[attr-defined]


@pytest.mark.parametrize(("ok", "colour"), [(True, "\x1b[32m"), (False, "\x1b[31m")])
def test_colour_marks_only_the_result(ok: bool, colour: str) -> None:
    mark = "✓" if ok else "✗"
    line = f"GET /v1/models {mark} 200 3.1ms"
    entry = logging.LogRecord("glm_proxy.access", logging.INFO, "", 0, line, None, None)
    entry.ok = ok
    assert (
        ConsoleFormatter(colour=True).format(entry)
        == f"GET /v1/models {colour}{mark} 200\x1b[0m 3.1ms"
    )
    assert ConsoleFormatter(colour=False).format(entry) == line


def test_configure_logging_colours_only_a_terminal(
    console_log: Callable[..., io.StringIO],
) -> None:
    stream = console_log("INFO")
    log_request(record(status=200))
    assert stream.getvalue().startswith("POST /v1/chat/completions ✓ 200 ")
    assert "\x1b[" not in stream.getvalue()


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("DEBUG", ["ok", "health", "failed", "info", "warning", "error"]),
        ("INFO", ["ok", "failed", "info", "warning", "error"]),
        ("WARNING", ["ok", "failed", "warning", "error"]),
        ("ERROR", ["error"]),
        ("CRITICAL", []),
    ],
)
def test_request_lines_show_at_every_level_but_error_and_critical(
    console_log: Callable[..., io.StringIO], level: str, shown: list[str]
) -> None:
    stream = console_log(level)
    log_request(record(status=200, model="ok"))
    log_request(record(method="GET", path="/health", status=200, model="health"))
    log_request(record(status=502, model="failed"))
    other = logging.getLogger("glm_proxy.stream")
    other.info("info")
    other.warning("warning")
    other.error("error")
    written = [
        line.split()[-1] if "✓" not in line and "✗" not in line else line.split()[4]
        for line in stream.getvalue().splitlines()
    ]
    assert written == shown


def test_a_line_ends_with_the_request_id_of_its_record_or_of_the_running_request() -> None:
    formatter = ConsoleFormatter(colour=False)
    entry = logging.LogRecord("glm_proxy.stream", logging.WARNING, "", 0, "hello", None, None)
    assert formatter.format(entry) == "hello"
    token = current_request_id.set("abc123")
    try:
        assert formatter.format(entry) == "hello req=abc123"
        entry.request_id = "given"
        assert formatter.format(entry) == "hello req=given"
    finally:
        current_request_id.reset(token)


def test_a_traceback_comes_after_the_request_id() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        entry = logging.LogRecord(
            "glm_proxy.app", logging.ERROR, "", 0, "failed", None, sys.exc_info()
        )
    entry.request_id = "r1"
    first, *rest = ConsoleFormatter(colour=False).format(entry).splitlines()
    assert first == "failed req=r1"
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: boom"


def test_keys_are_hidden_wherever_they_appear() -> None:
    formatter = ConsoleFormatter(colour=False, hidden=["sk-secret-1", "short", ""])
    entry = logging.LogRecord(
        "glm_proxy.app", logging.DEBUG, "", 0, "body %s", ("key=sk-secret-1 short",), None
    )
    assert formatter.format(entry) == "body key=*** short"  # keys under 8 characters stay


@pytest.mark.parametrize(
    ("given", "kept"),
    [(b"abc", True), (b"A.b_c:d/e+f=g@h-i", True), (b"", False), (b"a b", False), (None, False)],
)
def test_request_id_from(given: bytes | None, kept: bool) -> None:
    request_id = request_id_from(given)
    if kept:
        assert given is not None
        assert request_id == given.decode()
    else:
        assert re.fullmatch(r"[0-9a-f]{16}", request_id)


def test_request_lines_written_directly_read_as_their_log_records_would(
    console_log: Callable[..., io.StringIO],
) -> None:
    stream = console_log("INFO", hidden=("sk-secret-key",))
    handler = logging.getLogger("glm_proxy").handlers[0]
    handler.formatter.colour = True  # type: ignore[union-attr]
    spy = _Collecting()
    records = spy.records
    failed = record(status=502, model="sk-secret-key", request_id="r1", error="backend_timeout")
    ok = record(status=200, model="glm-4.5", request_id="r2")
    made: list[str] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: object, **kwargs: object) -> logging.LogRecord:
        made.append("record")
        return factory(*args, **kwargs)

    logging.setLogRecordFactory(counting)
    try:
        log_request(failed)
        log_request(ok)
    finally:
        logging.setLogRecordFactory(factory)
    assert made == []  # written straight to the console: no LogRecord made
    direct = stream.getvalue()
    assert direct.count("\n") == 2
    assert "sk-secret-key" not in direct
    assert "\x1b[31m✗ 502\x1b[0m" in direct
    assert "\x1b[32m✓ 200\x1b[0m" in direct
    # Another destination: the lines become log records, and the console shows the same text.
    logging.getLogger("glm_proxy.access").addHandler(spy)
    try:
        log_request(failed)
        log_request(ok)
    finally:
        logging.getLogger("glm_proxy.access").removeHandler(spy)
    assert [entry.request_id for entry in records] == ["r1", "r2"]  # type: ignore[attr-defined]
    assert _no_times(stream.getvalue()) == _no_times(direct * 2)


def _no_times(text: str) -> str:
    return re.sub(r" \d+\.\dms ", " ?ms ", text)


class _Collecting(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
