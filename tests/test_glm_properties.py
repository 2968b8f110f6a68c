"""Property tests: random tool calls rendered as GLM writes them come back exactly.

Random names, keys and values of every JSON type (text with ``<``, quotes, newlines and
Unicode), in the 4.5 and 4.7 layouts, with random text around them and random split points.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glm_proxy.dialects import create_parser
from glm_proxy.dialects._tags import Tags, quote, scan
from glm_proxy.dialects._typing import dump_json
from glm_proxy.dialects.glm.markup import (
    CALL_CLOSE,
    CALL_OPEN,
    KEY_CLOSE,
    KEY_OPEN,
    STOP_TOKENS,
    THINK_CLOSE,
    THINK_OPEN,
    VALUE_CLOSE,
    VALUE_OPEN,
)
from glm_proxy.dialects.glm.render import render_call
from support.parsing import check_fragments, cut, feed_pieces, merged, message_of, options

TAGS = (
    CALL_OPEN,
    CALL_CLOSE,
    KEY_OPEN,
    KEY_CLOSE,
    VALUE_OPEN,
    VALUE_CLOSE,
    THINK_OPEN,
    THINK_CLOSE,
)
ALPHABET = st.sampled_from(list("ab z<>/\"'\\\n\t{}[]:,.é한🌧_=&")) | st.characters(
    exclude_categories=["Cs"]
)


def no_markup(text: str) -> bool:
    return not any(tag in text for tag in (*TAGS, *STOP_TOKENS))


prose = st.text(ALPHABET, max_size=40).map(str.strip).filter(no_markup)
string_values = st.text(ALPHABET, max_size=60).filter(lambda v: VALUE_CLOSE not in v)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,30}", fullmatch=True)
keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | string_values,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=8,
)
SCHEMA_TYPES = {bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    arguments = draw(st.dictionaries(keys, string_values | json_values, max_size=4))
    arguments = {k: v for k, v in arguments.items() if VALUE_CLOSE not in json.dumps(v)}
    return draw(names), arguments


def schema_for(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    properties = {
        key: {"type": "string" if isinstance(value, str) else SCHEMA_TYPES.get(type(value), "null")}
        for key, value in arguments.items()
    }
    return {
        "type": "function",
        "function": {"name": name, "parameters": {"properties": properties}},
    }


@st.composite
def outputs(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """A raw GLM output, the message expected from it, and the request's tools."""
    style = draw(st.sampled_from(["4.5", "4.7"]))
    drawn = draw(st.lists(calls(), max_size=4))
    texts = draw(st.lists(prose, min_size=len(drawn) + 1, max_size=len(drawn) + 1))
    reasoning = draw(st.none() | prose.filter(bool))
    tools: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    for name, arguments in drawn:  # one schema per name: a repeated key keeps its first type
        known = seen.setdefault(name, {})
        for key, value in arguments.items():
            if key in known and type(known[key]) is not type(value):
                arguments[key] = known[key]
            known.setdefault(key, value)
    for name, arguments in seen.items():
        tools.append(schema_for(name, arguments))
    sep = "\n" if style == "4.5" else ""
    raw = f"\n<think>{reasoning}</think>\n" if reasoning is not None else ""
    raw += texts[0]
    ends = []  # where each call's </tool_call> ends
    for (name, arguments), after in zip(drawn, texts[1:], strict=True):
        raw += sep + render_call(name, arguments, style)  # type: ignore[arg-type]
        ends.append(len(raw))
        raw += after
    content: str | None = "".join(texts)
    if drawn and not content:
        content = None
    expected: dict[str, Any] = {"content": content, "reasoning": reasoning, "calls": drawn}
    expected["ends"] = ends
    return raw, expected, tools


def summary(message: dict[str, Any]) -> dict[str, Any]:
    calls_found = [
        (c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in message.get("tool_calls", [])
    ]
    return {
        "content": message["content"],
        "reasoning": message.get("reasoning_content"),
        "calls": calls_found,
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outputs(), st.lists(st.integers(0, 10_000), max_size=20))
def test_random_calls_are_recovered_exactly(
    case: tuple[str, dict[str, Any], list[dict[str, Any]]], points: list[int]
) -> None:
    raw, expected, tools = case
    whole = feed_pieces([raw], tools)
    assert summary(message_of(whole)) | {"ends": expected["ends"]} == expected
    check_fragments(whole)
    pieces = cut(raw, [p % (len(raw) + 1) for p in points])
    split = feed_pieces(pieces, tools)
    assert merged(split) == merged(whole)
    check_fragments(split)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outputs(), st.integers(0, 10_000), st.lists(st.integers(0, 10_000), max_size=8))
def test_an_output_cut_anywhere_finishes_only_the_calls_it_closed(
    case: tuple[str, dict[str, Any], list[dict[str, Any]]], at: int, points: list[int]
) -> None:
    """glm-format.md 4.8: no call with arguments that parse unless its </tool_call> was read."""
    raw, expected, tools = case
    at %= len(raw) + 1
    output = raw[:at]
    events = feed_pieces(cut(output, [p % (at + 1) for p in points]), tools)
    check_fragments(events, cut_off=True)  # a call never ended has arguments that do not parse
    closed = sum(end <= at for end in expected["ends"])
    assert summary(message_of(events))["calls"] == expected["calls"][:closed]
    assert merged(events) == merged(feed_pieces([output], tools))


@settings(max_examples=200, deadline=None)
@given(st.text(ALPHABET, max_size=200), st.lists(st.integers(0, 400), max_size=10))
def test_any_text_is_split_invariant_and_never_lost(text: str, points: list[int]) -> None:
    whole = feed_pieces([text])
    split = feed_pieces(cut(text, [p % (len(text) + 1) for p in points]))
    assert merged(split) == merged(whole)
    check_fragments(split)
    if no_markup(text):  # without tags nothing may change
        assert message_of(whole)["content"] == text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outputs(), st.lists(st.integers(0, 10_000), max_size=20))
def test_each_feed_returns_its_events_merged(
    case: tuple[str, dict[str, Any], list[dict[str, Any]]], points: list[int]
) -> None:
    raw, _, tools = case
    parser = create_parser(options(tools))
    for piece in cut(raw, [p % (len(raw) + 1) for p in points]):
        events = parser.feed(piece)
        assert merged(events) == events
    events = parser.close()
    assert merged(events) == events


def naive_scan(data: str, pos: int, tags: tuple[str, ...]) -> tuple[int, str | None]:
    """What ``scan`` must return, the slow way: every ``<``, every tag."""
    for i in range(pos, len(data)):
        for tag in tags:
            if data.startswith(tag, i):
                return i, tag
        if any(len(tag) > len(data) - i and tag.startswith(data[i:]) for tag in tags):
            return i, None
    return len(data), None


SCAN_TAGS = (KEY_OPEN, KEY_CLOSE, CALL_OPEN, *STOP_TOKENS)


tag_prefixes = st.sampled_from([*TAGS, *STOP_TOKENS]).flatmap(
    lambda tag: st.integers(1, len(tag)).map(lambda n: tag[:n])
)


@settings(max_examples=500, deadline=None)
@given(st.lists(tag_prefixes | st.sampled_from(["<", ">", "x", " "])), st.integers(0, 20))
def test_scan_finds_the_first_tag_or_unfinished_tag(parts: list[str], pos: int) -> None:
    data = "".join(parts)
    pos = min(pos, len(data))
    assert scan(data, pos, Tags(*SCAN_TAGS)) == naive_scan(data, pos, SCAN_TAGS)


@given(st.text(ALPHABET))
def test_quote_writes_json_strings_as_dump_json_does(text: str) -> None:
    assert quote(text) == dump_json(text)
