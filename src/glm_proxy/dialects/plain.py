"""The plain dialect: no markup at all. Content stays content, reasoning stays reasoning.

For models the proxy does not convert (``GLM_MODELS`` does not name them) behind a front that
must still translate the answer's shape (Anthropic Messages): the backend's own reasoning and
its own parsed calls (``ChoiceSession.backend_events``) are what the answer holds.
"""

from __future__ import annotations

from glm_proxy.dialects import ParserOptions
from glm_proxy.events import Content, Event, Reasoning


class PlainParser:
    """A parser that finds nothing: every piece comes out as it went in."""

    __slots__ = ()

    def __init__(self, options: ParserOptions) -> None:
        del options  # nothing to read: no calls, no reasoning tags

    def feed(self, text: str) -> list[Event]:
        return [Content(text)] if text else []

    def feed_reasoning(self, text: str) -> list[Event]:
        return [Reasoning(text)] if text else []

    def close(self) -> list[Event]:
        return []

    def finish(self, text: str) -> list[Event]:
        return self.feed(text)
