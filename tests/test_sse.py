from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from glm_proxy.backend.sse import DONE, SSEDecoder, SSEError, SSEEvent, encode_error, encode_event

OPENAI_STREAM = (
    b'data: {"id":"a","choices":[{"delta":{"content":"h\xc3\xa9llo \xf0\x9f\x98\x80"}}]}\n\n'
    b": keep-alive comment\n\n"
    b'data: {"id":"a","choices":[{"delta":{"content":" w"}}]}\n\n'
    b"data: [DONE]\n\n"
)
OPENAI_EVENTS = [
    SSEEvent('{"id":"a","choices":[{"delta":{"content":"héllo 😀"}}]}'),
    SSEEvent('{"id":"a","choices":[{"delta":{"content":" w"}}]}'),
    SSEEvent("[DONE]"),
]


def decode_in_pieces(raw: bytes, cuts: list[int], max_line: int | None = None) -> list[SSEEvent]:
    decoder = SSEDecoder() if max_line is None else SSEDecoder(max_line)
    events: list[SSEEvent] = []
    start = 0
    for cut in [*sorted(cuts), len(raw)]:
        events += decoder.feed(raw[start:cut])
        start = cut
    return events + decoder.flush()


def test_whole_stream() -> None:
    assert decode_in_pieces(OPENAI_STREAM, []) == OPENAI_EVENTS


def test_split_at_every_position() -> None:
    # Includes cuts inside the 2-byte "é" and the 4-byte emoji.
    for cut in range(len(OPENAI_STREAM) + 1):
        assert decode_in_pieces(OPENAI_STREAM, [cut]) == OPENAI_EVENTS, cut


def test_one_byte_at_a_time() -> None:
    assert decode_in_pieces(OPENAI_STREAM, list(range(len(OPENAI_STREAM)))) == OPENAI_EVENTS


def test_one_event_per_feed_keeps_state_from_earlier_feeds() -> None:
    # Feeds that are exactly one "data: ...\n\n" event take a shortcut; it must still see
    # fields, data lines and a "\r" left by earlier feeds.
    decoder = SSEDecoder()
    assert decoder.feed(b"data: one\n\n") == [SSEEvent("one")]
    assert decoder.feed(b"event: ping\nid: 3\n") == []
    assert decoder.feed(b"data: two\n\n") == [SSEEvent("two", "ping", "3")]
    assert decoder.feed(b"data: three\n") == []
    assert decoder.feed(b"data: four\n\n") == [SSEEvent("three\nfour", None, "3")]
    assert decoder.feed(b"data: fi") == []
    assert decoder.feed(b"data: ve\n\n") == [SSEEvent("fidata: ve", None, "3")]
    assert decoder.feed(b"data: six\r") == []
    assert decoder.feed(b"\n\n") == [SSEEvent("six", None, "3")]


def test_utf8_character_split_across_feeds() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: caf\xc3") == []
    assert decoder.feed(b"\xa9 \xe2\x82") == []
    assert decoder.feed(b"\xac\n\n") == [SSEEvent("café €")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_ends(newline: bytes) -> None:
    raw = OPENAI_STREAM.replace(b"\n", newline)
    for cut in range(len(raw) + 1):
        assert decode_in_pieces(raw, [cut]) == OPENAI_EVENTS, (newline, cut)


def test_mixed_line_ends() -> None:
    raw = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
    assert decode_in_pieces(raw, []) == [SSEEvent("a\nb\nc"), SSEEvent("d")]
    for cut in range(len(raw) + 1):
        assert decode_in_pieces(raw, [cut]) == [SSEEvent("a\nb\nc"), SSEEvent("d")], cut


def test_cr_then_empty_feed_then_lf_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == []  # the pair of the "\r", not a blank line
    assert decoder.feed(b"\n") == [SSEEvent("x")]


def test_comments_are_ignored() -> None:
    raw = b": hello\n:\ndata: x\n: inside an event\n\n: only a comment\n\n"
    assert decode_in_pieces(raw, []) == [SSEEvent("x")]


def test_multi_line_data_joined_with_newline() -> None:
    raw = b"data: first\ndata:second\ndata:  third\ndata\ndata:\n\n"
    # One optional space is dropped; "data" alone and "data:" add an empty line.
    assert decode_in_pieces(raw, []) == [SSEEvent("first\nsecond\n third\n\n")]


def test_event_and_id_fields() -> None:
    raw = (
        b"event: ping\nid: 7\ndata: one\n\n"
        b"data: two\n\n"  # the event type resets, the id persists
        b"id\ndata: three\n\n"  # an empty id field clears it
        b"id: a\0b\ndata: four\n\n"  # an id containing NUL is ignored
    )
    assert decode_in_pieces(raw, []) == [
        SSEEvent("one", "ping", "7"),
        SSEEvent("two", None, "7"),
        SSEEvent("three", None, ""),
        SSEEvent("four", None, ""),
    ]


def test_event_without_data_is_not_dispatched() -> None:
    raw = b"event: ping\n\nretry: 10\nunknown: field\n\ndata: x\n\n"
    assert decode_in_pieces(raw, []) == [SSEEvent("x")]


def test_flush_dispatches_an_event_missing_its_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]\ndata: tail") == []
    assert decoder.flush() == [SSEEvent("[DONE]\ntail")]
    assert decoder.flush() == []


def test_leading_byte_order_mark_is_dropped() -> None:
    raw = b"\xef\xbb\xbfdata: x\n\n"
    for cut in range(len(raw) + 1):
        assert decode_in_pieces(raw, [cut]) == [SSEEvent("x")], cut


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode_in_pieces(b"data: a\xffb\n\n", []) == [SSEEvent("a\ufffdb")]


def test_line_over_the_cap_raises_when_buffered() -> None:
    decoder = SSEDecoder(max_line=10)
    assert decoder.feed(b"data: 1234") == []
    with pytest.raises(SSEError, match="limit 10"):
        decoder.feed(b"5")


def test_line_over_the_cap_raises_when_complete_in_one_feed() -> None:
    with pytest.raises(SSEError, match="limit 10"):
        SSEDecoder(max_line=10).feed(b"data: 12345\n\n")


def test_event_data_over_the_cap_raises() -> None:
    decoder = SSEDecoder(max_line=10)
    assert decoder.feed(b"data: 1234\ndata: 1234\n") == []  # two lines of 4 + newlines
    with pytest.raises(SSEError, match="limit 10"):
        decoder.feed(b"data: 12\n")


def test_line_at_the_cap_is_accepted() -> None:
    assert decode_in_pieces(b"data: 1234\n\n", [3], max_line=10) == [SSEEvent("1234")]


def test_long_line_in_small_pieces() -> None:
    # Buffered pieces are searched only once each; this is the linear-time path.
    payload = b"x" * 200_000
    raw = b"data: " + payload + b"\n\n"
    cuts = list(range(0, len(raw), 7))
    assert decode_in_pieces(raw, cuts) == [SSEEvent(payload.decode())]


@given(st.lists(st.integers(min_value=0, max_value=len(OPENAI_STREAM)), max_size=12))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    assert decode_in_pieces(OPENAI_STREAM, cuts) == OPENAI_EVENTS


def event_stream(fields: list[tuple[bytes, str]], newline: bytes) -> bytes:
    """Field lines (``name: value``, or a blank line for an empty name), each ended by newline."""
    lines = []
    for name, value in fields:
        clean = value.replace("\r", "").replace("\n", "").encode()
        lines.append(name + b": " + clean if name else b"")
    return newline.join(lines) + newline


@given(
    st.lists(
        st.tuples(st.sampled_from([b"data", b"event", b"id", b"", b"retry"]), st.text()),
        max_size=8,
    ),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_random_fields_split_anywhere_match_whole(
    fields: list[tuple[bytes, str]], newline: bytes, cuts: list[int]
) -> None:
    raw = event_stream(fields, newline)
    cuts = [cut for cut in cuts if cut <= len(raw)]
    assert decode_in_pieces(raw, cuts) == decode_in_pieces(raw, [])


def test_encode_event_and_done() -> None:
    assert encode_event(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert DONE == b"data: [DONE]\n\n"
    assert decode_in_pieces(encode_event(b'{"a":1}') + DONE, []) == [
        SSEEvent('{"a":1}'),
        SSEEvent("[DONE]"),
    ]


def test_encode_error_has_the_openai_shape() -> None:
    raw = encode_error("backend went away", "upstream_error", code="bad_gateway")
    assert raw.startswith(b"data: ")
    assert raw.endswith(b"\n\n")
    assert orjson.loads(raw[6:]) == {
        "error": {
            "message": "backend went away",
            "type": "upstream_error",
            "param": None,
            "code": "bad_gateway",
        }
    }
    assert orjson.loads(encode_error("x")[6:])["error"]["code"] is None


def payloads_in_pieces(raw: bytes, cuts: list[int]) -> list[bytes]:
    decoder = SSEDecoder()
    bounds = [0, *sorted(cuts), len(raw)]
    payloads: list[bytes] = []
    for start, end in itertools.pairwise(bounds):
        payloads += decoder.feed_payloads(raw[start:end])
    return payloads + [event.data.encode() for event in decoder.flush()]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([b"data", b"data", b"data", b"event", b"id", b"", b":"]), st.text()
        ),
        max_size=10,
    ),
    st.sampled_from([b"\n", b"\r\n"]),
    st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_feed_payloads_gives_the_data_of_every_event(
    fields: list[tuple[bytes, str]], newline: bytes, cuts: list[int]
) -> None:
    raw = event_stream(fields, newline)
    cuts = [cut for cut in cuts if cut <= len(raw)]
    expected = [event.data.encode() for event in decode_in_pieces(raw, [])]
    assert payloads_in_pieces(raw, cuts) == expected


def test_feed_payloads_cuts_whole_events_of_one_read() -> None:
    decoder = SSEDecoder()
    assert decoder.feed_payloads(b": keep-alive\n\n") == []  # the first read: a comment
    raw = b'data: {"a":1}\n\ndata: {"b":2}\n\n: comment\n\ndata: x\ndata: y\n\ndata: [DO'
    assert decoder.feed_payloads(raw) == [b'{"a":1}', b'{"b":2}', b"x\ny"]
    assert decoder.feed_payloads(b"NE]\n\n") == [b"[DONE]"]


def test_feed_payloads_keeps_the_cap() -> None:
    decoder = SSEDecoder(max_line=10)
    decoder.feed_payloads(b": start\n\n")
    with pytest.raises(SSEError):
        decoder.feed_payloads(b"data: " + b"x" * 20 + b"\n\n")


def test_feed_payloads_drops_a_leading_byte_order_mark() -> None:
    decoder = SSEDecoder()
    assert decoder.feed_payloads(b"\xef\xbb\xbfdata: a\n\ndata: \xef\xbb\xbfb\n\n") == [
        b"a",
        b"\xef\xbb\xbfb",
    ]
