"""Registry of tool-call dialects.

A dialect turns one model output into ``glm_proxy.events``. Each dialect lives in its own folder
(``glm/``: ``parser`` and ``render``) and registers a factory here; the rest of the proxy only
knows ``create_parser``. What every dialect shares: ``_tags`` (finding tags, escaping argument
pieces) and ``_typing`` (argument values typed by the request's tool schemas).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from glm_proxy.events import Event
from glm_proxy.ids import random_hex


def new_call_id() -> str:
    """An OpenAI-style tool-call id: ``call_`` and 24 random hex digits."""
    return "call_" + random_hex(24)


@dataclass(frozen=True, slots=True)
class ParserOptions:
    """What a parser needs to know about the request that produced the output."""

    tools: Sequence[Mapping[str, Any]] = ()
    """The request's ``tools`` array (OpenAI shape), used for argument typing and name recovery."""
    parse_tool_calls: bool = True
    """False when the request has no tools or ``tool_choice`` is ``"none"``: calls stay text."""
    starts_in_reasoning: bool = False
    """True when the prompt ended with ``<think>`` (GLM-4.7 and later): output starts inside it."""
    max_buffer: int = 1 << 20
    """Most characters held back at once; past it, held text is released as content."""
    id_factory: Callable[[], str] = field(default=new_call_id)


class Parser(Protocol):
    """Incremental parser for one model output (one choice)."""

    def feed(self, text: str) -> list[Event]:
        """Read the next piece of the output's text."""

    def feed_reasoning(self, text: str) -> list[Event]:
        """Read text the backend already split off as reasoning.

        It comes out as ``Reasoning`` events, except tool calls written inside it, which are
        recovered as calls (numbered together with the ones in the content).
        """

    def close(self) -> list[Event]:
        """End of output: release everything still held (unfinished markup as content)."""

    def finish(self, text: str) -> list[Event]:
        """Read the last piece of the output and end it: the events of ``feed(text)`` followed
        by those of ``close()``. A dialect may read a whole output faster this way."""


ParserFactory = Callable[[ParserOptions], Parser]

_registry: dict[str, ParserFactory] = {}


def register(name: str, factory: ParserFactory) -> None:
    _registry[name] = factory


AUTO = "auto"
"""The dialect of a model no setting names: decided by its first tool-call opener."""


PLAIN = "plain"
"""No dialect at all: the output's text stays text (models no setting names, behind a front
that still converts the answer's shape). Not a registered dialect: it writes no calls."""


def known_dialects() -> tuple[str, ...]:
    """The registered dialects' names."""
    if not _registry:
        _load_builtin()
    return tuple(_registry)


def create_parser(options: ParserOptions, dialect: str = "glm") -> Parser:
    if not _registry:
        _load_builtin()
    if dialect == PLAIN:
        from glm_proxy.dialects.plain import PlainParser

        return PlainParser(options)
    if dialect == AUTO:
        from glm_proxy.dialects.detect import DetectingParser

        # The dialect's parser reads from its opener on: nothing before it was reasoning.
        inner = replace(options, starts_in_reasoning=False)
        return DetectingParser(lambda name: _registry[name](inner), frozenset(_registry))
    try:
        factory = _registry[dialect]
    except KeyError:
        known = ", ".join(sorted(_registry))
        raise ValueError(f"unknown dialect {dialect!r} (known: {known}, {AUTO})") from None
    return factory(options)


def _load_builtin() -> None:
    from glm_proxy.dialects.glm.parser import GlmParser
    from glm_proxy.dialects.minimax.parser import MiniMaxParser
    from glm_proxy.dialects.qwen3_coder.parser import Qwen3CoderParser

    register("glm", GlmParser)
    register("qwen3_coder", Qwen3CoderParser)
    register("minimax", MiniMaxParser)
    _load_json_dialects()


def _load_json_dialects() -> None:
    from glm_proxy.dialects.deepseek.parser import DeepSeekParser
    from glm_proxy.dialects.hermes.parser import HermesParser
    from glm_proxy.dialects.kimi_k2.parser import KimiK2Parser

    register("hermes", HermesParser)
    register("kimi_k2", KimiK2Parser)
    register("deepseek", DeepSeekParser)
