from __future__ import annotations

import io
import logging

import pytest

from glm_proxy.access_log import ConsoleFormatter, RequestRecord, format_line, log_request


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


def test_configure_logging_colours_only_a_terminal() -> None:
    from glm_proxy.access_log import configure_logging

    root = logging.getLogger("glm_proxy")
    saved = (root.handlers[:], root.level, root.propagate)
    try:
        stream = io.StringIO()
        configure_logging("INFO", stream)
        log_request(record(status=200))
        assert stream.getvalue().startswith("POST /v1/chat/completions ✓ 200 ")
        assert "\x1b[" not in stream.getvalue()
    finally:
        root.handlers[:], root.level, root.propagate = saved[0], saved[1], saved[2]
