"""A strict checker of the Anthropic Messages stream, the way the SDKs and Claude Code read it.

Each rule of anthropic-format.md ("Streaming") is one assertion here, with a message naming the
event and the rule. ``accumulate`` rebuilds the final message the way the SDK's stream does.
``parse_events`` splits raw SSE bytes into (event name, data) pairs, insisting on the
``event:`` line (the SDK routes on it and drops a ``data:`` line without it).
"""

from __future__ import annotations

from typing import Any

import orjson

STOP_REASONS = {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
ERROR_TYPES = {
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
}
_DELTAS = {
    "text": {"text_delta"},
    "thinking": {"thinking_delta", "signature_delta"},
    "tool_use": {"input_json_delta"},
}


def parse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a raw SSE body; every event must have both lines."""
    assert raw.endswith(b"\n\n"), f"the stream does not end with a blank line: {raw[-80:]!r}"
    events = []
    for number, block in enumerate(raw[:-2].split(b"\n\n")):
        lines = block.split(b"\n")
        assert len(lines) == 2, f"event {number}: not two lines (event:, data:): {block[:200]!r}"
        assert lines[0].startswith(b"event: "), f"event {number}: no 'event:' line: {block!r}"
        assert lines[1].startswith(b"data: "), f"event {number}: no 'data:' line: {block!r}"
        name = lines[0][len(b"event: ") :].decode()
        data = orjson.loads(lines[1][len(b"data: ") :])
        assert isinstance(data, dict), f"event {number}: data is not an object"
        assert data.get("type") == name, (
            f"event {number}: data type {data.get('type')!r} is not the event name {name!r}"
        )
        events.append((name, data))
    return events


def check_stream(events: list[tuple[str, dict[str, Any]]], *, error: bool = False) -> None:
    """Raise ``AssertionError`` naming the first rule ``events`` break. ``error``: the stream
    must end with an ``error`` event (else it must end with ``message_stop``)."""
    assert events, "the stream has no events"
    started = False
    open_block: tuple[int, str] | None = None
    next_index = 0
    signed = False
    text: list[str] = []
    partial: list[str] = []
    delta_seen = False
    tool_uses = 0
    stop_reason = None
    for number, (name, data) in enumerate(events):
        where = f"event {number} ({name})"
        assert not delta_seen or name in ("message_stop", "ping", "error"), (
            f"{where}: only message_stop may follow message_delta"
        )
        if name == "ping":
            continue
        if name == "error":
            assert number == len(events) - 1, f"{where}: events follow the error event"
            assert error, f"{where}: the stream failed: {data}"
            body = data.get("error")
            assert isinstance(body, dict), f"{where}: no error object"
            assert body.get("type") in ERROR_TYPES, f"{where}: unknown error type {body}"
            assert isinstance(body.get("message"), str), f"{where}: message"
            assert body["message"], f"{where}: empty message"
            assert open_block is None, f"{where}: block {open_block} left open before the error"
            return
        if not started:
            assert name == "message_start", f"{where}: the first event must be message_start"
            message = data["message"]
            assert message["type"] == "message", where
            assert message["role"] == "assistant", where
            assert str(message["id"]).startswith("msg_"), f"{where}: id"
            assert isinstance(message["model"], str), where
            assert message["model"], where
            assert message["content"] == [], f"{where}: content must start empty"
            assert message["stop_reason"] is None, where
            assert message["stop_sequence"] is None, where
            usage = message["usage"]
            assert type(usage["input_tokens"]) is int, f"{where}: usage.input_tokens"
            assert type(usage["output_tokens"]) is int, f"{where}: usage.output_tokens"
            started = True
            continue
        assert name != "message_start", f"{where}: a second message_start"
        if name == "content_block_start":
            assert open_block is None, f"{where}: block {open_block} is still open"
            assert data["index"] == next_index, (
                f"{where}: index {data['index']}, expected {next_index} (all blocks count)"
            )
            block = data["content_block"]
            kind = block["type"]
            assert kind in _DELTAS, f"{where}: unknown block type {kind!r}"
            if kind == "text":
                assert block == {"type": "text", "text": ""}, f"{where}: {block}"
            elif kind == "thinking":
                assert block == {"type": "thinking", "thinking": "", "signature": ""}, where
            else:
                assert isinstance(block["id"], str), f"{where}: tool_use id"
                assert block["id"], f"{where}: empty tool_use id"
                assert isinstance(block["name"], str), f"{where}: name"
                assert block["name"], f"{where}: empty name"
                assert block["input"] == {}, f"{where}: input must start as {{}}"
                tool_uses += 1
            open_block = (next_index, kind)
            next_index += 1
            signed, text, partial = False, [], []
        elif name == "content_block_delta":
            assert open_block is not None, f"{where}: a delta before its content_block_start"
            assert data["index"] == open_block[0], f"{where}: index of another block"
            delta = data["delta"]
            assert delta["type"] in _DELTAS[open_block[1]], (
                f"{where}: {delta['type']} in a {open_block[1]} block"
            )
            assert not signed, f"{where}: a delta after the thinking block's signature"
            if delta["type"] == "signature_delta":
                assert isinstance(delta["signature"], str), where
                assert delta["signature"], f"{where}: an empty signature"
                signed = True
            elif delta["type"] == "input_json_delta":
                partial.append(delta["partial_json"])
            else:
                value = delta["text" if delta["type"] == "text_delta" else "thinking"]
                assert isinstance(value, str), where
                assert value, f"{where}: an empty delta"
                text.append(value)
        elif name == "content_block_stop":
            assert open_block is not None, f"{where}: no block is open"
            assert data["index"] == open_block[0], f"{where}: stops another block"
            kind = open_block[1]
            if kind == "thinking":
                assert signed, f"{where}: a thinking block stops without its signature_delta"
            elif kind == "text":
                assert "".join(text).strip(), f"{where}: an empty text block"
            else:
                value = orjson.loads("".join(partial) or "{}")
                assert isinstance(value, dict), f"{where}: partial_json is not a JSON object"
            open_block = None
        elif name == "message_delta":
            assert open_block is None, f"{where}: block {open_block} is still open"
            delta = data["delta"]
            stop_reason = delta["stop_reason"]
            assert stop_reason in STOP_REASONS, f"{where}: stop_reason {stop_reason!r}"
            assert (delta["stop_sequence"] is not None) == (stop_reason == "stop_sequence"), where
            if tool_uses and stop_reason != "max_tokens":
                assert stop_reason == "tool_use", f"{where}: tool_use blocks, but {stop_reason}"
            if stop_reason == "tool_use":
                assert tool_uses, f"{where}: stop_reason tool_use without a tool_use block"
            assert type(data["usage"]["output_tokens"]) is int, f"{where}: usage.output_tokens"
            delta_seen = True
        elif name == "message_stop":
            assert delta_seen, f"{where}: message_stop before message_delta"
            assert number == len(events) - 1, f"{where}: events follow message_stop"
        else:
            raise AssertionError(f"{where}: unknown event")
    assert not error, "the stream ended without the error event it should have"
    assert events[-1][0] == "message_stop", "the stream does not end with message_stop"


def accumulate(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The final message, as the SDK accumulates it (usage from message_delta overwrites)."""
    message: dict[str, Any] = {}
    partial: dict[int, list[str]] = {}
    for name, data in events:
        if name == "message_start":
            message = {**data["message"], "content": [], "usage": dict(data["message"]["usage"])}
        elif name == "content_block_start":
            message["content"].append(dict(data["content_block"]))
            partial[data["index"]] = []
        elif name == "content_block_delta":
            block = message["content"][data["index"]]
            delta = data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
            else:
                partial[data["index"]].append(delta["partial_json"])
        elif name == "content_block_stop":
            block = message["content"][data["index"]]
            if block["type"] == "tool_use":
                block["input"] = orjson.loads("".join(partial[data["index"]]) or "{}")
        elif name == "message_delta":
            message["stop_reason"] = data["delta"]["stop_reason"]
            message["stop_sequence"] = data["delta"]["stop_sequence"]
            message["usage"].update(data["usage"])
    return message


def checked(raw: bytes, *, error: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """The events of a raw stream, checked."""
    events = parse_events(raw)
    check_stream(events, error=error)
    return events
