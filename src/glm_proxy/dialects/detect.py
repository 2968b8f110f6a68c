"""The dialect of a model that no setting names, decided by its output: the first tool-call
opener it writes.

``DetectingParser`` passes the output through as content until an opener of a registered
dialect appears, holding back only what could still be one; from the opener on, that dialect's
parser reads the rest. An output that never writes an opener comes out as it went in.

The openers (``<tool_call>`` is shared: what follows it decides):

- ``<tool_call>`` then ``<function=`` (after optional white space): Qwen3-Coder;
- ``<tool_call>`` then ``{``: Hermes JSON (Qwen2.5, Qwen3, Hermes and their fine-tunes);
- ``<tool_call>`` then anything else: GLM (the call's name comes first);
- ``<minimax:tool_call>``: MiniMax-M2;
- ``<|tool_calls_section_begin|>`` (or its singular spelling) or ``<|tool_call_begin|>``:
  Kimi-K2;
- the tool-calls (or tool-call) begin marker of DeepSeek, and the spellings R1 distills use,
  written with U+FF5C (a full-width bar) and U+2581 instead of ``|`` and ``_``: DeepSeek.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from glm_proxy.dialects.deepseek import markup as deepseek
from glm_proxy.dialects.kimi_k2 import markup as kimi_k2
from glm_proxy.events import Content, Event, Reasoning

if TYPE_CHECKING:
    from glm_proxy.dialects import Parser

SHARED_OPENER = "<tool_call>"
OPENERS: tuple[tuple[str, str], ...] = (
    ("<minimax:tool_call>", "minimax"),
    (kimi_k2.SECTION_OPEN, "kimi_k2"),
    (kimi_k2.SECTION_VARIANTS[0], "kimi_k2"),
    (kimi_k2.CALL_OPEN, "kimi_k2"),
    (deepseek.SECTION_OPEN, "deepseek"),
    *((variant, "deepseek") for variant in deepseek.SECTION_OPEN_VARIANTS),
    (deepseek.CALL_OPEN, "deepseek"),
)
"""Openers that name their dialect by themselves (each dialect's markup module owns its own)."""
_FUNCTION = "<function="
_WHITE = " \t\r\n"


def decide(text: str, known: frozenset[str]) -> tuple[str, bool] | None:
    """What ``text`` (which starts with ``<``) is: ``(dialect, True)`` when it starts with an
    opener of a dialect in ``known``; ``("", False)`` when it may still become one (it is too
    short to tell); None when it cannot."""
    if text.startswith(SHARED_OPENER):
        rest = text[len(SHARED_OPENER) :].lstrip(_WHITE)
        if not rest:
            return "", False
        if rest[0] == "<":
            if rest.startswith(_FUNCTION):
                return ("qwen3_coder", True) if "qwen3_coder" in known else None
            if _FUNCTION.startswith(rest):
                return "", False
            return None
        if rest[0] == "{":
            return ("hermes", True) if "hermes" in known else None
        return ("glm", True) if "glm" in known else None
    if SHARED_OPENER.startswith(text):
        return "", False
    for opener, dialect in OPENERS:
        if dialect not in known:
            continue
        if text.startswith(opener):
            return dialect, True
        if opener.startswith(text):
            return "", False
    return None


class DetectingParser:
    """A parser for an output whose dialect is not known yet (see the module docstring).

    ``dialect`` names the one detected, once an opener was read. ``create(dialect)`` makes
    that dialect's parser (with the request's options).
    """

    def __init__(self, create: Callable[[str], Parser], known: frozenset[str]) -> None:
        self._create = create
        self._known = known
        self._held = ""
        self._inner: Parser | None = None
        self.dialect: str | None = None

    def feed(self, text: str) -> list[Event]:
        inner = self._inner
        if inner is not None:
            return inner.feed(text)
        if not text:
            return []
        held = self._held + text if self._held else text
        start = held.find("<")
        while start != -1:
            decision = decide(held[start:], self._known)
            if decision is None:
                start = held.find("<", start + 1)
                continue
            dialect, decided = decision
            before: list[Event] = [Content(held[:start])] if start else []
            if not decided:  # could still be an opener: hold it back
                self._held = held[start:]
                return before
            self._held = ""
            self.dialect = dialect
            self._inner = inner = self._create(dialect)
            return before + inner.feed(held[start:])
        self._held = ""
        return [Content(held)]

    def feed_reasoning(self, text: str) -> list[Event]:
        if self._inner is not None:
            return self._inner.feed_reasoning(text)
        events: list[Event] = []
        if self._held:  # what came before the reasoning goes first
            events.append(Content(self._held))
            self._held = ""
        return [*events, Reasoning(text)] if text else events

    def close(self) -> list[Event]:
        if self._inner is not None:
            return self._inner.close()
        held, self._held = self._held, ""
        return [Content(held)] if held else []

    def finish(self, text: str) -> list[Event]:
        return self.feed(text) + self.close()
