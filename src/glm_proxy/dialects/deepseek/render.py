# ruff: noqa: RUF002  (DeepSeek's tokens are written with U+FF5C, not ASCII bars)
"""Write tool calls the way the DeepSeek chat templates do (the inverse of the DeepSeek parser):
V3.1 style ``NAME<｜tool▁sep｜>{JSON}`` or V3 / R1 style ``function<｜tool▁sep｜>NAME`` and the
arguments in a ```json fence. Reasoning goes in ``<think>`` … ``</think>`` before the content.
Used by the mock backend and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from glm_proxy.dialects.deepseek.markup import (
    CALL_CLOSE,
    CALL_OPEN,
    SECTION_CLOSE,
    SECTION_OPEN,
    SEPARATOR,
    TYPED_HEAD,
)

Style = Literal["v3.1", "v3"]


def render_call(name: str, arguments: Mapping[str, Any], style: Style = "v3.1") -> str:
    """One call."""
    text = json.dumps(dict(arguments), ensure_ascii=False)
    if style == "v3":
        return f"{CALL_OPEN}{TYPED_HEAD}{SEPARATOR}{name}\n```json\n{text}\n```{CALL_CLOSE}"
    return f"{CALL_OPEN}{name}{SEPARATOR}{text}{CALL_CLOSE}"


def render_output(
    content: str = "",
    calls: list[tuple[str, Mapping[str, Any]]] | None = None,
    reasoning: str | None = None,
    style: Style = "v3.1",
) -> str:
    """A whole raw output: reasoning, then content, then the section of calls (V3 puts a
    newline between calls)."""
    out = []
    if reasoning is not None:
        out.append(f"<think>\n{reasoning}\n</think>\n\n")
    out.append(content)
    if calls:
        out.append(SECTION_OPEN)
        sep = "\n" if style == "v3" else ""
        out.append(sep.join(render_call(name, arguments, style) for name, arguments in calls))
        out.append(SECTION_CLOSE)
    return "".join(out)
