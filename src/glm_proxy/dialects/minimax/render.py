"""Write tool calls the way MiniMax-M2's chat template does (the inverse of its parser).

Used by the built-in mock backend and by the tests. The template writes all the calls of a turn
in one ``<minimax:tool_call>``, a string value verbatim and any other as JSON (Unicode kept).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_call(name: str, arguments: Mapping[str, Any]) -> str:
    """One call's ``<invoke>`` block (``render_output`` wraps the calls in the section)."""
    parts = [f'<invoke name="{name}">\n']
    for key, value in arguments.items():
        parts.append(f'<parameter name="{key}">{render_value(value)}</parameter>\n')
    parts.append("</invoke>")
    return "".join(parts)


def render_output(
    content: str = "",
    calls: list[tuple[str, Mapping[str, Any]]] | None = None,
    reasoning: str | None = None,
    opened: bool = False,
) -> str:
    """A whole raw output: reasoning, content, then the calls in one section.

    ``opened``: the prompt ended with ``<think>\\n`` (the template's generation prompt), so the
    output starts inside the reasoning and writes only its closing tag.
    """
    out = []
    if reasoning is not None:
        out.append(("" if opened else "<think>\n") + f"{reasoning}\n</think>\n\n")
    out.append(content)
    if calls:
        out.append("\n<minimax:tool_call>\n")
        out.extend(render_call(name, arguments) + "\n" for name, arguments in calls)
        out.append("</minimax:tool_call>")
    return "".join(out)
