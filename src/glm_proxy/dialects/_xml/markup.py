"""The tags of an XML-style dialect, and the tag sets each state of the machine scans for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from glm_proxy.dialects._tags import Tags

THINK_OPEN: Final = "<think>"
THINK_CLOSE: Final = "</think>"
BAD_NAME: Final = re.compile(r"[\s<>{}\"']")
"""What a tool's name never holds."""


@dataclass(frozen=True, slots=True)
class XmlMarkup:
    """The tags of one XML-style dialect."""

    section_open: str  # <tool_call>
    section_close: str  # </tool_call>
    call_prefix: str  # <function=   (then NAME and >)
    call_close: str  # </function>
    param_prefix: str  # <parameter=  (then NAME and >)
    param_close: str  # </parameter>
    trim_newline: bool
    """Values are written between line breaks: one is trimmed at each end."""
    json_calls: bool = False
    """The wrapper may hold a JSON call instead (``{"name": ..., "arguments": {...}}``)."""


class Prepared:
    """The tag sets of each state, made once per dialect."""

    def __init__(self, m: XmlMarkup) -> None:
        self.m = m
        named = (m.call_prefix, m.param_prefix)
        self.text = Tags(
            THINK_OPEN,
            THINK_CLOSE,
            m.section_open,
            m.section_close,
            m.call_close,
            m.param_close,
            named=named,
        )
        self.text_no_calls = Tags(THINK_OPEN, THINK_CLOSE)
        # between calls and between parameters: the same tags
        self.inner = Tags(m.section_open, m.section_close, m.call_close, m.param_close, named=named)
        self.value = Tags(m.param_close, m.call_close, m.section_close, named=(m.param_prefix,))
        self.json_end = Tags(m.section_close)
        # what may follow a closer read inside a value, for it to be one
        self.follows: dict[str, tuple[str, ...]] = {
            m.param_close: (m.param_close, m.call_close, m.section_close, m.section_open),
            m.call_close: (m.section_close, m.section_open),
            m.section_close: (m.section_open,),
        }


def name_in(tag: str, prefix: str) -> str:
    """The name a named tag carries, without the quotes MiniMax writes around it."""
    name = tag[len(prefix) : -1].strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        name = name[1:-1].strip()
    return name


_PREPARED: dict[XmlMarkup, Prepared] = {}


def prepared(markup: XmlMarkup) -> Prepared:
    """The tag sets of ``markup``, made on first use."""
    made = _PREPARED.get(markup)
    if made is None:
        made = _PREPARED[markup] = Prepared(markup)
    return made
