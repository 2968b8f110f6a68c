"""The MiniMax-M2 dialect: an incremental parser of MiniMax-M2's XML tool calls.

What the model writes, from its chat template (``MiniMaxAI/MiniMax-M2``):

    <minimax:tool_call>
    <invoke name="NAME">
    <parameter name="P">V</parameter>
    </invoke>
    <invoke name="NAME">...</invoke>
    </minimax:tool_call>

all the calls of a turn in one wrapper. A string value is written verbatim (no line breaks
added, so none are trimmed), any other value as JSON: the values are typed by the request's
schemas (``_typing``). The prompt ends with ``<think>\\n``, so an output read without a
backend reasoning parser starts inside the reasoning (``ParserOptions.starts_in_reasoning``).
The reading itself is the shared XML machine (``dialects._xml``).
"""

from __future__ import annotations

from typing import Final

from glm_proxy.dialects import ParserOptions
from glm_proxy.dialects._xml import XmlMarkup, XmlParser

MARKUP: Final = XmlMarkup(
    section_open="<minimax:tool_call>",
    section_close="</minimax:tool_call>",
    call_prefix="<invoke name=",
    call_close="</invoke>",
    param_prefix="<parameter name=",
    param_close="</parameter>",
    trim_newline=False,
)


class MiniMaxParser(XmlParser):
    """Parser for one MiniMax-M2 output (one choice): see ``glm_proxy.dialects.Parser``."""

    def __init__(self, options: ParserOptions) -> None:
        super().__init__(MARKUP, options)
