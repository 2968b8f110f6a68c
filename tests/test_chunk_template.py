"""Plain-text chunks recognised from their bytes give exactly what decoding them gives."""

from __future__ import annotations

import itertools
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glm_proxy.backend.chunk_template import PlainChunkTemplate, PlainText, plain_text
from glm_proxy.backend.sse import SSEDecoder, SSEError


def chunk(content: Any, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": None, **extra}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "glm-4.5",
        "choices": [choice],
    }


def learnt(content: str = "Hello") -> PlainChunkTemplate:
    template = PlainChunkTemplate()
    first = chunk(content)
    template.learn(orjson.dumps(first), first)
    return template


def test_a_chunk_of_the_same_shape_is_recognised() -> None:
    template = learnt()
    index, text, shape = template.match(orjson.dumps(chunk(" world, 한국")))  # type: ignore[misc]
    assert (index, text) == (0, " world, 한국")
    assert shape == chunk("Hello")


def test_nothing_is_recognised_before_learning() -> None:
    assert PlainChunkTemplate().match(orjson.dumps(chunk("x"))) is None


def test_escapes_and_quotes_are_left_to_the_json_decoder() -> None:
    template = learnt()
    for text in ('say "hi"', "a\\b", "line\nbreak", "tab\t"):
        assert template.match(orjson.dumps(chunk(text))) is None


def test_other_fields_changing_means_no_match() -> None:
    template = learnt()
    other = chunk("x")
    other["created"] = 2
    assert template.match(orjson.dumps(other)) is None
    assert template.match(orjson.dumps(chunk("x", logprobs={"a": 1}))) is None
    assert template.match(b"[DONE]") is None


def test_only_plain_text_chunks_are_learnt() -> None:
    template = PlainChunkTemplate()
    for shape in (
        chunk("x", finish_reason="stop"),
        {**chunk("x"), "usage": {"total_tokens": 1}},
        {**chunk("x"), "choices": []},
        chunk(None),
    ):
        template.learn(orjson.dumps(shape), shape)
        assert template.match(orjson.dumps(shape)) is None
    assert plain_text(chunk("x")) == (0, "content", "x")


def test_reasoning_split_off_by_the_backend_is_plain_text_too() -> None:
    reasoning = {**chunk("x"), "choices": [{"index": 0, "delta": {"reasoning_content": "Hm"}}]}
    assert plain_text(reasoning) == (0, "reasoning_content", "Hm")
    template = PlainChunkTemplate()
    template.learn(orjson.dumps(reasoning), reasoning)
    later = {**reasoning, "choices": [{"index": 0, "delta": {"reasoning_content": "so"}}]}
    assert template.match(orjson.dumps(later)) == (0, "so", reasoning)
    assert template.match(orjson.dumps(chunk("so"))) is None  # content: another shape
    older = {**reasoning, "choices": [{"index": 0, "delta": {"reasoning": "Hm"}}]}
    assert plain_text(older) == (0, "reasoning", "Hm")
    both = {**reasoning, "choices": [{"index": 0, "delta": {"reasoning": "a", "content": "b"}}]}
    assert plain_text(both) is None
    assert plain_text({**reasoning, "choices": [{"index": 0, "delta": {"role": "x"}}]}) is None


def test_invalid_utf8_is_left_to_the_json_decoder() -> None:
    template = learnt("ab")
    payload = orjson.dumps(chunk("ab")).replace(b"ab", b"a\xff")
    assert template.match(payload) is None


@given(st.text(), st.text(), st.sampled_from([b"", b" ", b"\n  "]))
def test_recognised_text_equals_decoded_text(first: str, second: str, space: bytes) -> None:
    template = PlainChunkTemplate()
    # Backends differ in spacing and escaping: the shape is learnt from the bytes as sent.
    separators = (",", ":" + space.decode())
    payload = json.dumps(chunk(first), separators=separators, ensure_ascii=False).encode()
    template.learn(payload, orjson.loads(payload))
    other = json.dumps(chunk(second), separators=separators).encode()
    found = template.match(other)
    if found is not None:
        assert found[:2] == (0, orjson.loads(other)["choices"][0]["delta"]["content"])


# -- whole reads (``read``): the same events as the decoder and ``match``, in one pass ----------


def learnt_pair(content: str = "Hello") -> tuple[PlainChunkTemplate, PlainChunkTemplate]:
    return learnt(content), learnt(content)


def started_decoder() -> SSEDecoder:
    decoder = SSEDecoder()
    decoder.feed_payloads(b": the stream has begun\n\n")
    return decoder


def event(payload: bytes, newline: bytes = b"\n") -> bytes:
    return b"data: " + payload + newline + newline


def template_event(content: str, newline: bytes = b"\n") -> bytes:
    return event(orjson.dumps(chunk(content)), newline)


def middle_event(middle: bytes) -> bytes:
    """An event of the template's shape around ``middle`` as it is (maybe not JSON at all)."""
    prefix, suffix = orjson.dumps(chunk("")).split(b'""')
    return event(prefix + b'"' + middle + b'"' + suffix)


def meaning(items: list[bytes | PlainText]) -> list[tuple[str, Any]]:
    """What the translator makes of a read's items: the runs of plain text of the template's
    shape joined (it joins them too), every other event decoded as ``_load`` decodes it."""
    shape = chunk("Hello")
    out: list[tuple[str, Any]] = []
    for item in items:
        if isinstance(item, tuple):
            index, text, its_shape = item
            assert its_shape == shape
            assert index == 0
        else:
            decoded = load(item)
            found = plain_text(decoded) if isinstance(decoded, dict) else None
            if found is None or found[1] != "content":
                out.append(("event", decoded))
                continue
            text = found[2]
            if decoded != chunk(text):
                out.append(("event", decoded))
                continue
        if out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + text)
        else:
            out.append(("text", text))
    return out


def load(payload: bytes) -> Any:
    for data in (payload, payload.decode("utf-8", "replace")):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return ("not json", payload.decode("utf-8", "replace"))


def read_both(raw: bytes, cuts: list[int]) -> list[tuple[list[Any], list[Any]]]:
    """Per read: (what ``read`` gives, what the decoder and ``match`` give), as ``meaning``."""
    fast, slow = learnt_pair()
    fast_decoder, slow_decoder = started_decoder(), started_decoder()
    bounds = [0, *sorted(cuts), len(raw)]
    reads = []
    for start, end in itertools.pairwise(bounds):
        data = raw[start:end]
        got = fast.read(data, fast_decoder)
        expected: list[bytes | PlainText] = [
            slow.match(payload) or payload for payload in slow_decoder.feed_payloads(data)
        ]
        reads.append((meaning(got), meaning(expected)))
    flushed = [event.data.encode() for event in fast_decoder.flush()]
    expected_flush = [event.data.encode() for event in slow_decoder.flush()]
    reads.append((meaning(list(flushed)), meaning(list(expected_flush))))
    return reads


def test_a_read_of_chunks_of_the_shape_is_one_run_of_text() -> None:
    template, decoder = learnt(), started_decoder()
    raw = b"".join(template_event(text) for text in ("The ", "answer", " is ", "42", "", "."))
    assert template.read(raw, decoder) == [(0, "The answer is 42.", chunk("Hello"))]
    assert decoder.at_boundary


def test_one_event_per_read_is_recognised() -> None:
    template, decoder = learnt(), started_decoder()
    assert template.read(template_event("한국어"), decoder) == [(0, "한국어", chunk("Hello"))]
    assert template.read(template_event("x"), decoder) == [(0, "x", chunk("Hello"))]


def test_escapes_are_decoded_and_other_events_keep_their_place() -> None:
    template, decoder = learnt(), started_decoder()
    raw = template_event("a") + template_event('say "hi"\n') + template_event("b")
    assert template.read(raw, decoder) == [(0, 'asay "hi"\nb', chunk("Hello"))]
    other = orjson.dumps(chunk("", finish_reason="stop"))  # the same prefix, not the suffix
    raw = (
        template_event("c")
        + b": a comment\n\n"
        + template_event("d")
        + event(other)
        + template_event("e")
        + template_event("f")
        + event(b"[DONE]")
    )
    assert meaning(template.read(raw, decoder)) == [
        ("text", "cd"),
        ("event", orjson.loads(other)),
        ("text", "ef"),
        ("event", ("not json", "[DONE]")),
    ]


def test_an_event_cut_by_the_end_of_a_read_waits_for_the_next() -> None:
    template, decoder = learnt(), started_decoder()
    raw = template_event("one") + template_event("two") + template_event("three")
    cut = len(raw) - 10
    assert template.read(raw[:cut], decoder) == [(0, "onetwo", chunk("Hello"))]
    assert not decoder.at_boundary
    assert meaning(template.read(raw[cut:], decoder)) == [("text", "three")]


def test_what_is_not_a_json_string_goes_back_as_the_event_data() -> None:
    template, decoder = learnt(), started_decoder()
    for middle in (b'a"b', b"a\\", b"\xff", b"\x01", b'", "x": "'):
        raw = template_event("a") + middle_event(middle) + template_event("b")
        got = template.read(raw, decoder)
        assert got[0] == (0, "a", chunk("Hello"))
        assert got[-1] == (0, "b", chunk("Hello"))
        assert got[1:-1] == [middle_event(middle)[len(b"data: ") : -2]]


def test_a_multi_line_event_between_the_separators_is_read_as_lines() -> None:
    template, decoder = learnt(), started_decoder()
    raw = template_event("a") + middle_event(b"x\nevent: odd\ndata: y") + template_event("b")
    got = template.read(raw, decoder)
    assert got[0] == (0, "a", chunk("Hello"))
    assert got[-1] == (0, "b", chunk("Hello"))
    prefix, suffix = orjson.dumps(chunk("")).split(b'""')
    assert got[1:-1] == [prefix + b'"x\ny"' + suffix]


def test_a_read_with_carriage_returns_is_left_to_the_decoder() -> None:
    template, decoder = learnt(), started_decoder()
    raw = template_event("a", b"\r\n") + template_event("b", b"\r\n")
    assert meaning(template.read(raw, decoder)) == [("text", "ab")]


def test_a_character_cut_between_two_chunks_is_not_joined() -> None:
    template, decoder = learnt(), started_decoder()
    whole = "한".encode()
    raw = middle_event(whole[:1]) + middle_event(whole[1:]) + template_event("!")
    got = template.read(raw, decoder)
    assert got[-1] == (0, "!", chunk("Hello"))
    # Each half is invalid UTF-8 on its own: the JSON decoder replaces it, as everywhere else.
    assert [meaning([item]) for item in got[:-1]] == [
        [("text", "\ufffd")],
        [("text", "\ufffd" * 2)],
    ]


_HAN = "한".encode()
_PIECES = st.one_of(
    st.text(max_size=6).map(template_event),
    st.text(max_size=6).map(template_event),
    st.binary(max_size=5).map(middle_event),
    st.sampled_from(
        [
            template_event("x", b"\r\n"),
            template_event("\u00e9"),
            middle_event(_HAN[:1]),  # a character cut between two chunks
            middle_event(_HAN[1:]),
            middle_event(b"\\u00e9"),
            middle_event(b"a\\"),  # a backslash at the end: with the next one, an escape
            middle_event(b'"b'),
            middle_event(b"\\n"),
            template_event("two\nlines"),
            event(orjson.dumps(chunk("", finish_reason="stop"))),
            event(orjson.dumps({**chunk("y"), "usage": {"total_tokens": 1}})),
            b": comment\n\n",
            b"event: other\n",
            b"data: one\n",  # no blank line: the next event's data joins it
            b"data: one\ndata: two\n\n",
            b"id: 7\n\n",
            b"data: [DONE]\n\n",
            b"\n",
            b"\r",
            b"data: " + orjson.dumps(chunk("z")),  # no line end: the next line joins it
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_PIECES, st.booleans()), max_size=12), st.lists(st.integers(0, 3000)))
def test_read_gives_what_decoding_and_matching_each_event_gives(
    pieces: list[tuple[bytes, bool]], more_cuts: list[int]
) -> None:
    raw = b"".join(piece for piece, _ in pieces)
    # Reads end between events (where the fast path starts) and anywhere else.
    ends = list(itertools.accumulate(len(piece) for piece, _ in pieces))
    cuts = [end for end, (_, cut) in zip(ends, pieces, strict=True) if cut]
    cuts += [cut for cut in more_cuts[:4] if cut <= len(raw)]
    for got, expected in read_both(raw, cuts):
        assert got == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, max_size=12), st.lists(st.integers(0, 60_000), max_size=3))
def test_long_reads_give_what_decoding_and_matching_each_event_gives(
    pieces: list[bytes], cuts: list[int]
) -> None:
    """Reads of 16 KB and more are split another way (``_split``): the same must come out."""
    filler = template_event("f" * 60) * 10
    raw = b"".join(filler + piece for piece in pieces) + filler * 9
    assert len(raw) >= 16_384
    for got, expected in read_both(raw, [cut for cut in cuts if cut <= len(raw)]):
        assert got == expected


def test_an_event_where_prefix_and_suffix_overlap_is_not_recognised() -> None:
    template, decoder = learnt(), started_decoder()
    prefix, suffix = orjson.dumps(chunk("")).split(b'""')
    # The prefix's closing quote is also the suffix's opening one: no content at all.
    truncated = prefix + b'"' + suffix
    assert template.read(event(truncated), decoder) == [truncated]


def test_read_before_learning_is_the_decoder() -> None:
    decoder = started_decoder()
    raw = template_event("a") + template_event("b")
    assert PlainChunkTemplate().read(raw, decoder) == [
        orjson.dumps(chunk("a")),
        orjson.dumps(chunk("b")),
    ]


def test_read_keeps_the_decoder_cap() -> None:
    template = learnt()
    decoder = SSEDecoder(max_line=100)
    decoder.feed_payloads(b": start\n\n")
    with pytest.raises(SSEError):
        template.read(template_event("a" * 200) + template_event("b"), decoder)
