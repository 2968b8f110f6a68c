"""Translate a GLM backend's streamed chat completion into an OpenAI one, chunk by chunk.

``StreamTranslator`` is fed the decoded upstream chunks (or plain-text chunks recognised from
their bytes, ``chunk_template``) and returns the chunks to send; pure, no I/O. It runs the same
dialect parser as ``translate.translate_completion``, so an accumulated stream equals the
non-streamed answer.

Strategy of the stream: one parser per choice index. Each upstream delta's reasoning and content
go through the parser; its events become deltas right away (text the parser does not hold back
goes out in the same ``feed``). Consecutive events of one kind (content, reasoning, one tool
call) merge into one delta, and each delta is its own chunk. What clients need at the end is
held back: every ``finish_reason`` (sent in its own chunk with an empty delta once the parsers
are closed) and the usage (sent last, with ``choices: []``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from glm_proxy.backend.chunk_template import PlainText, chunk_of, plain_text
from glm_proxy.backend.chunks import text_of
from glm_proxy.conversion.plan import Plan
from glm_proxy.conversion.session import ChoiceSession
from glm_proxy.events import Content, Event, Reasoning, ToolCallArgs, ToolCallStart
from glm_proxy.ids import random_hex

CHUNK_OBJECT = "chat.completion.chunk"

# Top-level chunk fields the translator sets itself; any other field passes through.
_OWN_FIELDS = frozenset(("id", "object", "created", "model", "choices", "usage"))
_CHOICE_OWN_FIELDS = frozenset(("index", "delta", "finish_reason"))
_PLAIN_CHOICE_FIELDS = _CHOICE_OWN_FIELDS | {"logprobs"}
_TEXT_EVENTS = (Content, Reasoning)
# Delta fields the translation reads; any other passes on to the client.
_DELTA_READ = frozenset(("role", "content", "reasoning_content", "reasoning", "tool_calls"))
_Pending = dict[int, tuple[bool, list[str]]]
"""Text waiting to go through a choice's parser: per index, whether it is reasoning, and its
pieces."""


class _Choice:
    """The state of one choice index of a stream."""

    __slots__ = ("finish", "finish_extras", "pending", "role_sent", "session")

    def __init__(self, session: ChoiceSession) -> None:
        self.session = session
        self.role_sent = False
        self.finish: str | None = None
        self.finish_extras: dict[str, Any] | None = None  # e.g. vLLM's stop_reason
        self.pending: dict[str, Any] | None = None  # extras (logprobs) of text held back


class StreamTranslator:
    """Rewrites one streamed chat completion, one decoded upstream chunk at a time."""

    def __init__(self, plan: Plan, reasoning_field: str = "reasoning_content") -> None:
        self._plan = plan
        self._reasoning_field = reasoning_field
        self._choices: dict[int, _Choice] = {}
        self._base: dict[str, Any] | None = None  # id, object, created, model of every chunk
        self._usage_chunk: dict[str, Any] | None = None
        self._last_envelope: dict[str, Any] = {}  # of the last chunk with choices: for the finish
        # The shape of a recognised plain-text chunk (``chunk_template``) last found to be plain
        # text for a begun choice: it stays so until ``feed`` changes the last envelope.
        self._verified: dict[str, Any] | None = None
        self._verified_reasoning = False  # whether the verified shape's text is reasoning

    @property
    def tool_calls(self) -> int:
        """How many tool calls were converted so far (calls the backend parsed not counted)."""
        return sum(state.session.ended for state in self._choices.values())

    @property
    def dialect(self) -> str | None:
        """The dialect whose calls were converted (detected, for a model no setting names)."""
        for state in self._choices.values():
            if state.session.ended:
                return state.session.dialect
        return None

    @property
    def choices(self) -> int:
        """How many choices the upstream began so far."""
        return len(self._choices)

    @property
    def finished(self) -> bool:
        """Whether the upstream sent a ``finish_reason`` for every choice it began."""
        return all(state.finish is not None for state in self._choices.values())

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """Translate one upstream chunk into the chunks to send now (maybe none)."""
        self._verified = None
        self._verified_reasoning = False
        base = self._base
        if base is None:
            base = self._base = self._first_base(chunk)
        envelope = base if chunk.keys() <= _OWN_FIELDS else self._envelope(chunk)
        choices = chunk.get("choices")
        if chunk.get("usage") is not None:
            self._usage_chunk = {**envelope, "choices": [], "usage": chunk["usage"]}
        if not choices or not isinstance(choices, list):
            # Nothing for the client now (a chunk with choices [] mid-stream would read as the
            # usage chunk to some clients); the usage, if any, goes out last.
            return []
        self._last_envelope = envelope
        out: list[dict[str, Any]] = []
        for upstream_choice in choices:
            if isinstance(upstream_choice, dict):
                self._feed_choice(upstream_choice, envelope, out)
        return out

    def feed_many(self, items: Sequence[dict[str, Any] | PlainText]) -> list[dict[str, Any]]:
        """Translate the chunks of one read from the backend: the same result as ``feed`` on
        each, but consecutive plain-text deltas of a choice go through its parser at once.

        Items are decoded chunks, or plain-text chunks recognised from their bytes
        (``chunk_template``). The parser's events do not depend on how its text is cut, so this
        only changes how the text is grouped into chunks: fewer and larger ones, for text that
        arrived together.
        """
        if not items:
            return []
        if self._base is None:  # the first chunk sets the stream's id, created and model
            return self.feed(chunk_of(items[0])) + self.feed_many(items[1:])
        out: list[dict[str, Any]] = []
        pending: _Pending = {}
        verified = self._verified  # a shape known to be plain text in this state
        reasoning = self._verified_reasoning  # and whether its text is reasoning
        for item in items:
            if type(item) is tuple:
                index, text, shape = item
                if shape is not verified:
                    found = self._plain_text(shape)
                    if found is None:
                        item = chunk_of(item)
                    else:
                        verified, reasoning = shape, found[1] != "content"
                if type(item) is tuple:
                    entry = pending.get(index)
                    if entry is not None and entry[0] == reasoning:
                        entry[1].append(text)
                    else:
                        pending = self._pend(pending, index, reasoning, text, out)
                    continue
            assert type(item) is dict
            found = self._plain_text(item)
            if found is None:
                if pending:
                    self._feed_texts(pending, out)
                    pending = {}
                verified = None
                out += self.feed(item)
            else:
                index, field, text = found
                pending = self._pend(pending, index, field != "content", text, out)
        if pending:
            self._feed_texts(pending, out)
        self._verified, self._verified_reasoning = verified, reasoning
        return out

    def _pend(
        self,
        pending: _Pending,
        index: int,
        reasoning: bool,
        text: str,
        out: list[dict[str, Any]],
    ) -> _Pending:
        """Add text to what waits for choice ``index``; text of the other kind (reasoning or
        content) than what waits for it sends what waits first, so that the order stays."""
        entry = pending.get(index)
        if entry is None:
            pending[index] = (reasoning, [text])
            return pending
        if entry[0] == reasoning:
            entry[1].append(text)
            return pending
        self._feed_texts(pending, out)
        return {index: (reasoning, [text])}

    def _plain_text(self, chunk: dict[str, Any]) -> tuple[int, str, str] | None:
        """(index, field, text) of a chunk that is nothing but text (content or reasoning) for a
        choice already begun."""
        if not chunk.keys() <= _OWN_FIELDS:  # extra fields: only the ones the last chunk had
            last = self._last_envelope
            for key, value in chunk.items():
                if key not in _OWN_FIELDS and (key not in last or last[key] != value):
                    return None
        found = plain_text(chunk)
        if found is None:
            return None
        state = self._choices.get(found[0])
        return found if state is not None and state.role_sent else None

    def _feed_texts(self, texts: _Pending, out: list[dict[str, Any]]) -> None:
        """``_feed_choice`` of a delta that is only content or only reasoning, for choices whose
        role was sent."""
        envelope = self._last_envelope
        for index, (reasoning, parts) in texts.items():
            text = parts[0] if len(parts) == 1 else "".join(parts)
            if not text:
                continue
            state = self._choices[index]
            events = state.session.read_text(text, reasoning)
            if not events:
                continue
            event = events[0]
            if len(events) == 1 and isinstance(event, _TEXT_EVENTS) and state.pending is None:
                key = "content" if type(event) is Content else self._reasoning_field
                choice = {"index": index, "delta": {key: event.text}, "finish_reason": None}
                out.append({**envelope, "choices": [choice]})
            else:
                extras, state.pending = state.pending, None
                self._emit(index, state, events, envelope, extras, out)

    def close(self) -> list[dict[str, Any]]:
        """End of the upstream stream: flush every parser, then the finishes, then the usage."""
        if self._base is None:
            return []  # the upstream sent no chunk at all: nothing to finish
        envelope = self._last_envelope or self._base
        out: list[dict[str, Any]] = []
        for index in sorted(self._choices):
            state = self._choices[index]
            session = state.session
            events = session.close()
            extras, state.pending = state.pending, None
            if events:
                self._emit(index, state, events, envelope, extras, out)
                extras = None
            if not state.role_sent:  # the choice said nothing at all
                self._send(index, state, {"content": ""}, envelope, extras, out)
                extras = None
            finish = session.finish_reason(state.finish or "stop")  # "stop": none came
            choice = {"index": index, "delta": {}, "finish_reason": finish}
            extras = merge_extras(extras, state.finish_extras)
            if extras:
                choice.update(extras)
            out.append({**envelope, "choices": [choice]})
        if self._usage_chunk is not None:
            out.append(self._usage_chunk)
        return out

    # -- helpers ---------------------------------------------------------------------------

    def _first_base(self, chunk: Mapping[str, Any]) -> dict[str, Any]:
        upstream_id = chunk.get("id")
        created = chunk.get("created")
        model = self._plan.client_model or chunk.get("model")
        return {
            "id": upstream_id if isinstance(upstream_id, str) and upstream_id else _new_id(),
            "object": CHUNK_OBJECT,
            "created": created if isinstance(created, int) else int(time.time()),
            "model": model if isinstance(model, str) else self._plan.model or "",
        }

    def _envelope(self, chunk: Mapping[str, Any]) -> dict[str, Any]:
        """The base fields plus the upstream chunk's own extra fields (system_fingerprint, ...)."""
        assert self._base is not None
        envelope = {key: value for key, value in chunk.items() if key not in _OWN_FIELDS}
        envelope.update(self._base)
        return envelope

    def _state(self, index: int) -> _Choice:
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _Choice(ChoiceSession(self._plan))
        return state

    def _feed_choice(
        self, choice: Mapping[str, Any], envelope: dict[str, Any], out: list[dict[str, Any]]
    ) -> None:
        index = choice.get("index") or 0
        state = self._choices.get(index) or self._state(index)
        extras = _choice_extras(choice)
        finish = choice.get("finish_reason")
        if finish is not None:
            state.finish = finish
            state.finish_extras, extras = extras, None  # they go with our finish chunk
        if state.pending is not None:  # extras of text held back until now
            extras, state.pending = merge_extras(state.pending, extras), None
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        content = delta.get("content")
        others = None if delta.keys() <= _DELTA_READ else _other_fields(delta)
        if content and not isinstance(content, str):
            content = text_of(content)
            if content is None:  # parts that are not all text: passed on as they are
                others = {**(others or {}), "content": delta["content"]}
        events = state.session.read(
            content, reasoning if reasoning and isinstance(reasoning, str) else None
        )
        if events:
            if len(events) == 1 and type(events[0]) is Content and state.role_sent and not extras:
                # The common case, plain text: one small chunk built directly.
                text_delta = {"content": events[0].text}
                out.append(
                    {
                        **envelope,
                        "choices": [{"index": index, "delta": text_delta, "finish_reason": None}],
                    }
                )
            else:
                self._emit(index, state, events, envelope, extras, out)
                extras = None
        if others:  # refusal, audio, a legacy function_call...: what the proxy does not read
            self._send(index, state, others, envelope, extras, out)
            extras = None
        passed_calls = delta.get("tool_calls")
        if passed_calls and isinstance(passed_calls, list):
            # A backend that parses calls itself: its calls pass on, numbered with ours.
            calls = [self._backend_call(state, call) for call in passed_calls]
            self._send(index, state, {"tool_calls": calls}, envelope, extras, out)
            extras = None
        elif not state.role_sent and "role" in delta:
            self._send(index, state, {"content": ""}, envelope, extras, out)
            extras = None
        if extras:  # nothing went out for this chunk: they go with the next one that does
            state.pending = extras

    @staticmethod
    def _backend_call(state: _Choice, call: Any) -> Any:
        """A tool-call delta of the backend's, with its index in the choice's numbering."""
        if not isinstance(call, dict) or type(call.get("index")) is not int:
            return call
        return {**call, "index": state.session.backend_call(call["index"])}

    def _emit(
        self,
        index: int,
        state: _Choice,
        events: Iterable[Event],
        envelope: dict[str, Any],
        extras: dict[str, Any] | None,
        out: list[dict[str, Any]],
    ) -> None:
        for delta in self._deltas(events):
            self._send(index, state, delta, envelope, extras, out)
            extras = None

    def _send(
        self,
        index: int,
        state: _Choice,
        delta: dict[str, Any],
        envelope: dict[str, Any],
        extras: dict[str, Any] | None,
        out: list[dict[str, Any]],
    ) -> None:
        if not state.role_sent:
            state.role_sent = True
            delta = {"role": "assistant", **delta}
        choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": None}
        if extras:
            choice.update(extras)
        out.append({**envelope, "choices": [choice]})

    def _deltas(self, events: Iterable[Event]) -> list[dict[str, Any]]:
        """Events to deltas: consecutive text of one kind, or pieces of one call, share one."""
        deltas: list[dict[str, Any]] = []
        current: dict[str, Any] = {}
        function: dict[str, Any] = {}
        kind: object = None  # "content", the reasoning field, or the index of the call written
        for event in events:
            if isinstance(event, Content):
                if kind == "content":
                    current["content"] += event.text
                else:
                    current = {"content": event.text}
                    deltas.append(current)
                    kind = "content"
            elif isinstance(event, Reasoning):
                key = self._reasoning_field
                if kind == key:
                    current[key] += event.text
                else:
                    current = {key: event.text}
                    deltas.append(current)
                    kind = key
            elif isinstance(event, ToolCallStart):
                function = {"name": event.name, "arguments": ""}
                call = {"index": event.index, "id": event.id, "type": "function"}
                call["function"] = function
                deltas.append({"tool_calls": [call]})
                kind = event.index
            elif isinstance(event, ToolCallArgs):
                if kind == event.index:
                    function["arguments"] += event.fragment
                else:
                    function = {"arguments": event.fragment}
                    deltas.append({"tool_calls": [{"index": event.index, "function": function}]})
                    kind = event.index
            # ToolCallEnd needs no delta: the finish_reason tells clients the calls are done.
        return deltas


def merge_extras(
    first: dict[str, Any] | None, then: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Choice fields of two chunks sent as one: logprobs lists joined, other fields the later."""
    if not first or not then:
        return first or then
    merged = {**first, **then}
    before, after = first.get("logprobs"), then.get("logprobs")
    if isinstance(before, dict) and isinstance(after, dict):
        joined = {**before, **after}
        for key, value in before.items():
            if isinstance(value, list) and isinstance(after.get(key), list):
                joined[key] = value + after[key]
        merged["logprobs"] = joined
    elif before is not None and after is None:
        merged["logprobs"] = before
    return merged


def _other_fields(delta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The delta's fields that the translation does not read (and that are not null)."""
    others = {k: v for k, v in delta.items() if k not in _DELTA_READ and v is not None}
    return others or None


def _choice_extras(choice: Mapping[str, Any]) -> dict[str, Any] | None:
    """Fields of an upstream choice other than index, delta, finish_reason that are not null."""
    if choice.keys() <= _PLAIN_CHOICE_FIELDS and choice.get("logprobs") is None:
        return None  # the common case, decided without a loop
    extras = {
        key: value
        for key, value in choice.items()
        if value is not None and key not in _CHOICE_OWN_FIELDS
    }
    return extras or None


def _new_id() -> str:
    return "chatcmpl-" + random_hex(24)
