"""Write tool calls the way a GLM chat template does (the inverse of the GLM parser).

Used by the built-in mock backend and by the tests. Strings are written verbatim, every other
value as JSON with Unicode kept literally (glm-format.md section 2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

Style = Literal["4.5", "4.7"]


def render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_call(name: str, arguments: Mapping[str, Any], style: Style = "4.5") -> str:
    """One ``<tool_call>`` block. 4.5 style puts newlines between tags, 4.7 style none."""
    sep = "\n" if style == "4.5" else ""
    parts = [f"<tool_call>{name}{sep}"]
    for key, value in arguments.items():
        parts.append(
            f"<arg_key>{key}</arg_key>{sep}<arg_value>{render_value(value)}</arg_value>{sep}"
        )
    parts.append("</tool_call>")
    return "".join(parts)


def render_output(
    content: str = "",
    calls: list[tuple[str, Mapping[str, Any]]] | None = None,
    reasoning: str | None = None,
    style: Style = "4.5",
) -> str:
    """A whole raw output: reasoning, then content, then calls.

    4.5 style opens with ``\\n<think>...</think>\\n``; 4.7 style starts inside the reasoning (the
    prompt ended with ``<think>``) and writes only the closing tag.
    """
    out = []
    if reasoning is not None:
        out.append(f"\n<think>{reasoning}</think>\n" if style == "4.5" else f"{reasoning}</think>")
    out.append(content)
    for name, arguments in calls or []:
        if style == "4.5":
            out.append("\n")
        out.append(render_call(name, arguments, style))
    return "".join(out)
