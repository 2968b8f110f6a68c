"""A strict checker of the OpenAI streaming wire format, the way demanding clients read it.

Each rule of the shared wire-format page is one assertion here, with a message that names the
chunk and the rule. ``accumulate`` rebuilds the final messages the way a client does (the
openai SDK's stream state: concatenate strings, tool calls by ``index``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

CHUNK_OBJECT = "chat.completion.chunk"


@dataclass
class _CallState:
    id: str
    fragments: list[str] = field(default_factory=list)


@dataclass
class _ChoiceState:
    chunks: int = 0
    finish: str | None = None
    calls: list[_CallState] = field(default_factory=list)


def check_stream(
    chunks: Sequence[dict[str, Any]],
    *,
    include_usage: bool = False,
    require_finish: bool = True,
) -> None:
    """Raise ``AssertionError`` naming the first rule that ``chunks`` breaks.

    ``require_finish`` (the default) also demands a ``finish_reason`` for every choice, as in
    any stream that was not cut short by an error.
    """
    assert chunks, "the stream has no chunks"
    first = chunks[0]
    for key, kind in (("id", str), ("created", int), ("model", str)):
        assert isinstance(first.get(key), kind), f"chunk 0: {key!r} must be a {kind.__name__}"
    choices: dict[int, _ChoiceState] = {}
    call_ids: set[str] = set()
    for number, chunk in enumerate(chunks):
        where = f"chunk {number}"
        assert chunk.get("object") == CHUNK_OBJECT, (
            f"{where}: object is {chunk.get('object')!r}, not {CHUNK_OBJECT!r}"
        )
        for key in ("id", "created", "model"):
            assert chunk.get(key) == first[key], (
                f"{where}: {key} {chunk.get(key)!r} differs from the first chunk's {first[key]!r}"
            )
        _check_usage(chunk, where, last=number == len(chunks) - 1)
        assert isinstance(chunk.get("choices"), list), f"{where}: choices must be a list"
        seen_here: set[int] = set()
        for choice in chunk["choices"]:
            index = choice.get("index")
            assert type(index) is int, f"{where}: choice index {index!r} is not an integer"
            assert index not in seen_here, f"{where}: choice {index} appears twice in one chunk"
            seen_here.add(index)
            state = choices.setdefault(index, _ChoiceState())
            _check_choice(choice, state, f"{where}, choice {index}", call_ids)
    if include_usage:
        last = chunks[-1]
        message = "include_usage: the last chunk must have choices [] and a usage object"
        assert last.get("choices") == [], message
        assert isinstance(last.get("usage"), dict), message
    for index, state in sorted(choices.items()):
        if require_finish:
            assert state.finish is not None, f"choice {index}: the stream never sent finish_reason"
        complete = state.calls
        final = state.calls[-1].fragments if state.calls else []
        if final and state.finish != "tool_calls" and not _parses("".join(final)):
            # The output ended inside its last call: it stays unfinished (glm-format.md 4.8),
            # and the finish_reason is the backend's own, never "tool_calls".
            complete = state.calls[:-1]
            _check_cut_off(final, f"choice {index}, last tool call")
        for number, call in enumerate(complete):
            _check_arguments(call.fragments, f"choice {index}, tool call {number}")
        if complete and state.finish is not None:
            assert state.finish in ("tool_calls", "length"), (
                f"choice {index}: produced tool calls but finish_reason is {state.finish!r}"
            )
        if state.finish == "tool_calls":
            assert complete, f"choice {index}: finish_reason 'tool_calls' without a tool call"


def _check_usage(chunk: dict[str, Any], where: str, *, last: bool) -> None:
    usage = chunk.get("usage")
    if usage is None:
        return
    # A backend may send usage unasked; wherever it comes from, it comes last.
    assert last, f"{where}: a usage chunk must be the last chunk"
    assert chunk.get("choices") == [], f"{where}: the usage chunk must have choices []"


def _check_choice(
    choice: dict[str, Any], state: _ChoiceState, where: str, call_ids: set[str]
) -> None:
    assert state.finish is None, f"{where}: chunk after this choice's finish_reason"
    delta = choice.get("delta")
    assert isinstance(delta, dict), f"{where}: delta must be an object"
    state.chunks += 1
    if "role" in delta:
        assert state.chunks == 1, f"{where}: role repeated after the choice's first delta"
        assert delta["role"] == "assistant", f"{where}: role is {delta['role']!r}"
    content = delta.get("content")
    assert content is None or isinstance(content, str), f"{where}: content must be a string"
    tool_calls = delta.get("tool_calls")
    if tool_calls is not None:
        assert isinstance(tool_calls, list), f"{where}: tool_calls must be a list"
        for call in tool_calls:
            _check_call_delta(call, state, where, call_ids)
    finish = choice.get("finish_reason")
    if finish is not None:
        assert isinstance(finish, str), f"{where}: finish_reason must be a string"
        empty = {key: value for key, value in delta.items() if value is not None}
        assert not empty, (
            f"{where}: finish_reason {finish!r} must come in its own chunk with an empty delta, "
            f"not with {empty!r}"
        )
        state.finish = finish


def _check_call_delta(
    call: dict[str, Any], state: _ChoiceState, where: str, call_ids: set[str]
) -> None:
    index = call.get("index")
    assert type(index) is int, f"{where}: tool-call delta without an integer index: {call!r}"
    function = call.get("function")
    assert isinstance(function, dict), f"{where}: tool-call delta without a function object"
    arguments = function.get("arguments", "")
    assert isinstance(arguments, str), f"{where}: tool call {index}: arguments must be a string"
    if index == len(state.calls):  # the first delta of a new call
        call_id = call.get("id")
        assert isinstance(call_id, str), f"{where}: tool call {index}: id missing"
        assert call_id, f"{where}: tool call {index}: id is empty"
        assert call_id not in call_ids, f"{where}: tool call id {call_id!r} used twice"
        call_ids.add(call_id)
        assert call.get("type") == "function", f"{where}: tool call {index}: type not 'function'"
        name = function.get("name")
        assert isinstance(name, str), f"{where}: tool call {index}: name missing"
        assert name, f"{where}: tool call {index}: name is empty"
        assert "arguments" in function, f"{where}: tool call {index}: first delta lacks arguments"
        state.calls.append(_CallState(call_id))
    else:
        assert index < len(state.calls), (
            f"{where}: tool call index {index} out of order (expected {len(state.calls)})"
        )
        for key in ("id", "type"):
            assert key not in call, f"{where}: tool call {index}: {key} repeated in a later delta"
        assert "name" not in function, f"{where}: tool call {index}: name repeated"
    state.calls[index].fragments.append(arguments)


def _check_arguments(fragments: list[str], where: str) -> None:
    text = "".join(fragments)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise AssertionError(f"{where}: arguments {text!r} are not JSON") from None
    assert isinstance(value, dict), f"{where}: arguments {text!r} are not a JSON object"
    prefix = ""
    for fragment in fragments[:-1]:
        prefix += fragment
        if len(prefix) == len(text):
            break
        try:
            orjson.loads(prefix)
        except orjson.JSONDecodeError:
            continue
        raise AssertionError(f"{where}: the arguments prefix {prefix!r} already parses as JSON")


def _parses(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _check_cut_off(fragments: list[str], where: str) -> None:
    """A call the output cut off: no prefix of its arguments parses, nor the whole."""
    prefix = ""
    for fragment in fragments:
        prefix += fragment
        assert not _parses(prefix), f"{where}: the arguments prefix {prefix!r} parses as JSON"


def accumulate_choices(
    chunks: Sequence[dict[str, Any]], reasoning_field: str = "reasoning_content"
) -> list[dict[str, Any]]:
    """Non-streaming-shaped choices (``index``, ``message``, ``finish_reason``), sorted by index."""
    built: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            entry = built.setdefault(
                choice["index"],
                {"index": choice["index"], "message": {"role": "assistant", "content": None}},
            )
            message = entry["message"]
            delta = choice.get("delta") or {}
            for key in ("content", reasoning_field):
                if delta.get(key) is not None:
                    message[key] = (message.get(key) or "") + delta[key]
            for call in delta.get("tool_calls") or ():
                calls = message.setdefault("tool_calls", [])
                while len(calls) <= call["index"]:
                    calls.append({"id": "", "type": "function", "function": {"name": ""}})
                target = calls[call["index"]]
                for key in ("id", "type"):
                    if call.get(key):
                        target[key] = call[key]
                function = call.get("function") or {}
                if function.get("name"):
                    target["function"]["name"] += function["name"]
                if function.get("arguments") is not None:
                    target["function"]["arguments"] = (
                        target["function"].get("arguments", "") + function["arguments"]
                    )
            if choice.get("finish_reason") is not None:
                entry["finish_reason"] = choice["finish_reason"]
    return [built[index] for index in sorted(built)]


def accumulate(
    chunks: Sequence[dict[str, Any]], reasoning_field: str = "reasoning_content"
) -> list[dict[str, Any]]:
    """The final assistant message of each choice, rebuilt from the deltas like a client does."""
    return [choice["message"] for choice in accumulate_choices(chunks, reasoning_field)]


def check_sse_bytes(raw: bytes) -> list[dict[str, Any]]:
    """Check the framing of a whole proxied stream and return its JSON chunks.

    Every event is ``data: <JSON>`` ended by a blank line (comment lines allowed); the stream
    ends with ``data: [DONE]``, or with an OpenAI-shaped error event, and nothing after it.
    """
    assert raw.endswith(b"\n\n"), f"the stream does not end with a blank line: {raw[-40:]!r}"
    assert b"\r" not in raw, "the stream mixes in carriage returns"
    chunks: list[dict[str, Any]] = []
    blocks = raw[:-2].split(b"\n\n")
    ended = ""
    for number, block in enumerate(blocks):
        data_lines = [line for line in block.split(b"\n") if not line.startswith(b":")]
        if not data_lines:
            continue  # a comment-only keep-alive
        where = f"event {number}"
        assert not ended, f"{where}: event after {ended}: {block[:80]!r}"
        assert len(data_lines) == 1, f"{where}: expected one data line, got {data_lines!r}"
        line = data_lines[0]
        assert line.startswith(b"data: "), f"{where}: not a data line: {line[:80]!r}"
        payload = line[6:]
        if payload == b"[DONE]":
            ended = "data: [DONE]"
            continue
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise AssertionError(f"{where}: data is not JSON: {payload[:80]!r}") from None
        assert isinstance(value, dict), f"{where}: data is not a JSON object"
        if "error" in value:
            _check_error(value, where)
            ended = "the error event"
            continue
        chunks.append(value)
    assert ended, "the stream does not end with data: [DONE] or an error event"
    return chunks


def _check_error(value: dict[str, Any], where: str) -> None:
    error = value["error"]
    assert isinstance(error, dict), f"{where}: error must be an object"
    assert isinstance(error.get("message"), str), f"{where}: error.message must be a string"
    assert isinstance(error.get("type"), str), f"{where}: error.type must be a string"
    for key in ("param", "code"):
        assert key in error, f"{where}: error.{key} missing"
