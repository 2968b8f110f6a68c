"""Strict checks of a Responses event stream (what Codex and the openai SDK rely on).

``check_responses_stream(raw)`` parses the SSE bytes and asserts the rules of the reference
(shared responses-format.md, and the API reference's streaming events):

* every event has an ``event:`` line equal to its data's ``type``, and ``sequence_number``
  counts 0, 1, 2, ... without a gap;
* ``response.created`` then ``response.in_progress`` open the stream (status ``in_progress``,
  no output); exactly one of ``response.completed`` / ``incomplete`` / ``failed`` ends it, and
  nothing follows;
* output items are added with ``output_index`` 0, 1, 2, ... and each follows its kind's
  sequence (part added, deltas, text done, part done, item done); deltas name the open item;
  every ``.done`` repeats exactly the text its deltas add up to;
* a function call is done with arguments that parse as a JSON object; a call that is never done
  is allowed only in a ``response.incomplete`` (the output was cut off), and its arguments then
  do not parse;
* the final response's output equals the items as the events built them, in order, and its
  status matches its event.

Returns the final response object and the list of events.
"""

from __future__ import annotations

import json
from typing import Any

ENDINGS = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}


def parse_events(raw: bytes) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    text = raw.decode("utf-8")
    assert "\r" not in text
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = block.split("\n")
        assert len(lines) == 2, f"an event is one event: line and one data: line: {block!r}"
        assert lines[0].startswith("event: "), block
        assert lines[1].startswith("data: "), block
        data = json.loads(lines[1][len("data: ") :])
        assert data["type"] == lines[0][len("event: ") :], block
        events.append(data)
    return events


def check_responses_stream(raw: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    events = parse_events(raw)
    assert events, "an empty stream"
    for number, event in enumerate(events):
        assert event["sequence_number"] == number, (number, event)
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    for event in events[:2]:
        assert event["response"]["status"] == "in_progress"
        assert event["response"]["output"] == []
    response_id = events[0]["response"]["id"]
    last = events[-1]
    assert last["type"] in ENDINGS, f"the stream must end with completed/incomplete/failed: {last}"
    for event in events[:-1]:
        assert event["type"] not in ENDINGS, f"an ending before the end: {event}"
    items: list[dict[str, Any]] = []
    open_items: dict[str, dict[str, Any]] = {}  # id -> state
    for event in events[2:-1]:
        _check_event(event, items, open_items)
    final = last["response"]
    assert final["id"] == response_id
    assert final["status"] == ENDINGS[last["type"]]
    for item_id, state in open_items.items():
        assert state["item"]["type"] == "function_call", f"item {item_id} never done"
        assert last["type"] in ("response.incomplete", "response.failed"), (
            "a call left open in a completed response"
        )
        arguments = "".join(state["pieces"])
        assert not _parses(arguments), f"a cut-off call whose arguments parse: {arguments!r}"
    built = [_built(state) for state in items]
    assert final["output"] == built, (final["output"], built)
    for item in final["output"]:
        if item["type"] == "function_call" and item["status"] == "completed":
            assert isinstance(json.loads(item["arguments"]), dict)
    if final["status"] == "incomplete":
        assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    return final, events


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _check_event(
    event: dict[str, Any], items: list[dict[str, Any]], open_items: dict[str, dict[str, Any]]
) -> None:
    kind = event["type"]
    if kind == "response.output_item.added":
        assert event["output_index"] == len(items), event
        item = event["item"]
        assert item["id"] not in open_items
        state = {"item": item, "pieces": [], "phase": "added", "done": None}
        if item["type"] == "function_call":
            assert item["arguments"] == ""
            assert item["call_id"]
            assert item["name"]
        items.append(state)
        open_items[item["id"]] = state
        return
    item_id = event["item_id"] if "item_id" in event else event["item"]["id"]
    assert item_id in open_items, f"an event for an item that is not open: {event}"
    state = open_items[item_id]
    assert event["output_index"] == items.index(state), event
    item_type = state["item"]["type"]
    phase = state["phase"]
    text = "".join(state["pieces"])
    if kind == "response.content_part.added":
        assert item_type == "message"
        assert phase == "added"
        state["phase"] = "part"
    elif kind == "response.output_text.delta":
        assert item_type == "message"
        assert phase == "part"
        assert event["content_index"] == 0
        state["pieces"].append(event["delta"])
    elif kind == "response.output_text.done":
        assert item_type == "message"
        assert phase == "part"
        assert event["text"] == text
        state["phase"] = "text_done"
    elif kind == "response.content_part.done":
        assert phase == "text_done"
        assert event["part"]["text"] == text
        state["phase"] = "part_done"
    elif kind == "response.reasoning_summary_part.added":
        assert item_type == "reasoning"
        assert phase == "added"
        state["phase"] = "part"
    elif kind == "response.reasoning_summary_text.delta":
        assert item_type == "reasoning"
        assert phase == "part"
        state["pieces"].append(event["delta"])
    elif kind == "response.reasoning_summary_text.done":
        assert item_type == "reasoning"
        assert phase == "part"
        assert event["text"] == text
        state["phase"] = "text_done"
    elif kind == "response.reasoning_summary_part.done":
        assert phase == "text_done"
        assert event["part"]["text"] == text
        state["phase"] = "part_done"
    elif kind == "response.function_call_arguments.delta":
        assert item_type == "function_call"
        assert phase == "added"
        state["pieces"].append(event["delta"])
    elif kind == "response.function_call_arguments.done":
        assert item_type == "function_call"
        assert phase == "added"
        assert event["arguments"] == text
        assert isinstance(json.loads(text), dict), f"a done call whose arguments are {text!r}"
        state["phase"] = "part_done"
    elif kind == "response.output_item.done":
        assert phase == "part_done", f"{item_type} done in phase {phase}: {event}"
        done = event["item"]
        if item_type == "message":
            assert done["content"][0]["text"] == text
            assert done["status"] == "completed"
        elif item_type == "reasoning":
            summary = done["summary"]
            assert (summary[0]["text"] if summary else "") == text
        else:
            assert done["arguments"] == text
            assert done["status"] == "completed"
        state["done"] = done
        del open_items[item_id]
    else:
        raise AssertionError(f"an unknown event type: {event}")


def _built(state: dict[str, Any]) -> dict[str, Any]:
    if state["done"] is not None:
        return dict(state["done"])
    item = dict(state["item"])  # a call cut off: as far as it came
    item["arguments"] = "".join(state["pieces"])
    item["status"] = "incomplete"
    return item
