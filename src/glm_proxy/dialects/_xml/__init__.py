"""The XML-style dialects (Qwen3-Coder, MiniMax-M2): one parser for both.

Both write a call as a named block of named parameters inside a wrapper (line breaks left out):

    Qwen3-Coder  <tool_call><function=NAME><parameter=P>V</parameter></function></tool_call>
    MiniMax-M2   <minimax:tool_call><invoke name="NAME"><parameter name="P">V</parameter>
                 </invoke></minimax:tool_call>

A dialect names its six tags in an ``XmlMarkup`` (``markup``) and its parser is an
``XmlParser`` of it. ``machine`` reads one channel of text (its docstring has the strategy),
``output`` merges what it sends into events.
"""

from __future__ import annotations

from collections.abc import Callable

from glm_proxy.dialects import ParserOptions
from glm_proxy.dialects._typing import ToolSchemas
from glm_proxy.dialects._xml.machine import CallNumbers, Machine
from glm_proxy.dialects._xml.markup import XmlMarkup, prepared
from glm_proxy.events import Event

__all__ = ["XmlMarkup", "XmlParser"]


class XmlParser:
    """Parser for one output (one choice) of an XML-style dialect: see
    ``glm_proxy.dialects.Parser``."""

    def __init__(self, markup: XmlMarkup, options: ParserOptions) -> None:
        self._prepared = prepared(markup)
        self._options = options
        self._schemas = ToolSchemas(options.tools if options.parse_tool_calls else ())
        self._numbers = CallNumbers()
        self._content = self._machine(reasoning_channel=False)
        self._reasoning: Machine | None = None
        self.feed: Callable[[str], list[Event]] = self._content.feed

    def _machine(self, reasoning_channel: bool) -> Machine:
        return Machine(
            self._prepared, self._options, self._schemas, self._numbers, reasoning_channel
        )

    def feed_reasoning(self, text: str) -> list[Event]:
        if self._reasoning is None:
            self._reasoning = self._machine(reasoning_channel=True)
            self._content.backend_split()
        return self._reasoning.feed(text)

    def close(self) -> list[Event]:
        events = self._reasoning.close() if self._reasoning is not None else []
        return events + self._content.close()

    def finish(self, text: str) -> list[Event]:
        return self.feed(text) + self.close()
