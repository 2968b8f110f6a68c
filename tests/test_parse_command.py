"""``glm-proxy parse``: exit code, stdout and stderr checked separately."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from glm_proxy.cli import main

RAW = (
    "\n<think>User wants weather</think>\nLet me check.\n<tool_call>get_weather\n"
    "<arg_key>location</arg_key>\n<arg_value>Seoul</arg_value>\n<arg_key>days</arg_key>\n"
    "<arg_value>3</arg_value>\n</tool_call>"
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "properties": {"location": {"type": "string"}, "days": {"type": "string"}}
            },
        },
    }
]


@pytest.fixture
def raw_file(tmp_path: Path) -> Path:
    path = tmp_path / "raw.txt"
    path.write_text(RAW, encoding="utf-8")
    return path


def test_prints_the_assistant_message(raw_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(raw_file)]) == 0
    out, err = capsys.readouterr()
    message = json.loads(out)
    assert err == ""
    assert message["content"] == "Let me check."
    assert message["reasoning_content"] == "User wants weather"
    call = message["tool_calls"][0]
    assert call["id"].startswith("call_")
    assert call["function"] == {
        "name": "get_weather",
        "arguments": '{"location": "Seoul", "days": 3}',
    }


def test_tools_file_types_the_arguments(
    raw_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps({"model": "glm-4.5", "tools": TOOLS}), encoding="utf-8")
    assert main(["parse", "--tools", str(tools), str(raw_file)]) == 0
    arguments = json.loads(capsys.readouterr().out)["tool_calls"][0]["function"]["arguments"]
    assert arguments == '{"location": "Seoul", "days": "3"}'


def test_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Answer</think>Hello"))
    assert main(["parse", "--thinking"]) == 0
    message = json.loads(capsys.readouterr().out)
    assert message == {"role": "assistant", "content": "Hello", "reasoning_content": "Answer"}


def test_stream_prints_chunk_deltas(raw_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--stream", "5", str(raw_file)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["delta"]["role"] == "assistant"
    assert lines[-1] == {"delta": {}, "finish_reason": "tool_calls"}
    content = "".join(line["delta"].get("content") or "" for line in lines)
    reasoning = "".join(line["delta"].get("reasoning_content", "") for line in lines)
    calls = [c for line in lines for c in line["delta"].get("tool_calls", [])]
    assert (content, reasoning) == ("Let me check.", "User wants weather")
    assert calls[0]["function"]["name"] == "get_weather"
    assert "".join(c["function"]["arguments"] for c in calls) == '{"location": "Seoul", "days": 3}'


def test_missing_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(tmp_path / "nope.txt")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("glm-proxy parse: ")
    assert "nope.txt" in err
    assert err.count("\n") == 1


def test_bad_tools_file_is_a_one_line_error(
    raw_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text('"not tools"', encoding="utf-8")
    assert main(["parse", "--tools", str(tools), str(raw_file)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "expected a JSON array of tools" in err


def test_stream_piece_size_must_be_positive(
    raw_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", "--stream", "0", str(raw_file)]) == 2
    assert "--stream" in capsys.readouterr().err


def test_dialect_auto_detects_the_call(raw_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Detection passes everything before the first opener through (<think> included).
    assert main(["parse", "--dialect", "auto", str(raw_file)]) == 0
    message = json.loads(capsys.readouterr().out)
    assert message["content"] == "\n<think>User wants weather</think>\nLet me check.\n"
    assert message["tool_calls"][0]["function"]["name"] == "get_weather"


def test_an_unknown_dialect_exits_2(raw_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--dialect", "klingon", str(raw_file)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "unknown dialect 'klingon'" in err
    assert "auto" in err
