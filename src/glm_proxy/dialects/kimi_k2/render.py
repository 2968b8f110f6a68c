"""Write tool calls the way the Kimi-K2 chat template does (the inverse of the Kimi-K2 parser):
a section of calls, each headed by its id ``functions.NAME:IDX``, the arguments as JSON.
Reasoning (K2-Thinking) goes in ``<think>`` … ``</think>`` before the content. Used by the mock
backend and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from glm_proxy.dialects.kimi_k2.markup import (
    ARGUMENTS,
    CALL_CLOSE,
    CALL_OPEN,
    SECTION_CLOSE,
    SECTION_OPEN,
)


def render_call(name: str, arguments: Mapping[str, Any], index: int = 0) -> str:
    """One call; ``index`` is the counter in its id."""
    text = json.dumps(dict(arguments), ensure_ascii=False)
    return f"{CALL_OPEN}functions.{name}:{index}{ARGUMENTS}{text}{CALL_CLOSE}"


def render_output(
    content: str = "",
    calls: list[tuple[str, Mapping[str, Any]]] | None = None,
    reasoning: str | None = None,
) -> str:
    """A whole raw output: reasoning, then content, then the section of calls."""
    out = []
    if reasoning is not None:
        out.append(f"<think>{reasoning}</think>")
    out.append(content)
    if calls:
        out.append(SECTION_OPEN)
        out += (render_call(name, arguments, i) for i, (name, arguments) in enumerate(calls))
        out.append(SECTION_CLOSE)
    return "".join(out)
