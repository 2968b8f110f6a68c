"""The Kimi-K2 dialect: an incremental parser of Kimi-K2 (Instruct, Thinking) output::

    <|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>{JSON}<|tool_call_end|><|tool_calls_section_end|>

The head is the call's id as the chat template writes it: ``functions.`` (sometimes left out),
the name, ``:`` and a counter. A bare counter (``0``) names the tool only when the request
declares exactly one. Reasoning (K2-Thinking) is in ``<think>`` … ``</think>``. How the calls
are read: ``_sections``.
"""

from __future__ import annotations

import re
from typing import Final

from glm_proxy.dialects._sections import SectionMachine
from glm_proxy.dialects._text import JsonParser
from glm_proxy.dialects.kimi_k2.markup import (
    ARGUMENTS,
    CALL_CLOSE,
    CALL_OPEN,
    SECTION_CLOSE,
    SECTION_OPEN,
    SECTION_VARIANTS,
    STOP_TOKENS,
)

_ID: Final = re.compile(r"(?:functions\.)?(\S+):\d+")


class KimiK2Machine(SectionMachine):
    call_open = CALL_OPEN
    separator = ARGUMENTS
    call_close = CALL_CLOSE
    section_open = (SECTION_OPEN, SECTION_VARIANTS[0])
    section_close = (SECTION_CLOSE, SECTION_VARIANTS[1])
    dropped = STOP_TOKENS

    def name_of(self, head: str) -> str | None:
        head = head.strip()
        match = _ID.fullmatch(head)
        if match is not None:
            return match[1]
        names = self._schemas.names
        if head.isdigit() and len(names) == 1:
            return names[0]
        return None


class KimiK2Parser(JsonParser):
    """Parser for one Kimi-K2 output (one choice): see ``glm_proxy.dialects.Parser``."""

    machine = KimiK2Machine
