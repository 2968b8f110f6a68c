# ruff: noqa: RUF002  (DeepSeek's tokens are written with U+FF5C, not ASCII bars)
"""The DeepSeek dialect: an incremental parser of DeepSeek V3, R1 and V3.1 output.

V3.1 (and V3.1-Terminus, V3.2-Exp)::

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{JSON}<｜tool▁call▁end｜><｜tool▁calls▁end｜>

V3, V3-0324 and R1 write the call's type first and the arguments in a code fence::

    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
    ```json
    {JSON}
    ```<｜tool▁call▁end｜><｜tool▁calls▁end｜>

Both are read by one machine (``_sections``): a head of ``function`` means the name follows on
the next line, unless the arguments follow at once (V3.1 calling a tool named ``function``).
Reasoning (R1, V3.1 thinking) is in ``<think>`` … ``</think>``; V3.1's prompt opens it, so its
output only closes it (``ParserOptions.starts_in_reasoning``).
"""

from __future__ import annotations

from glm_proxy.dialects._sections import SectionMachine
from glm_proxy.dialects._text import JsonParser
from glm_proxy.dialects.deepseek.markup import (
    CALL_CLOSE,
    CALL_OPEN,
    SECTION_CLOSE,
    SECTION_OPEN,
    SECTION_OPEN_VARIANTS,
    SEPARATOR,
    STOP_TOKENS,
    TYPED_HEAD,
)


class DeepSeekMachine(SectionMachine):
    call_open = CALL_OPEN
    separator = SEPARATOR
    call_close = CALL_CLOSE
    section_open = (SECTION_OPEN, *SECTION_OPEN_VARIANTS)
    section_close = (SECTION_CLOSE,)
    name_line_head = TYPED_HEAD
    dropped = STOP_TOKENS

    def name_of(self, head: str) -> str | None:
        return head.strip() or None


class DeepSeekParser(JsonParser):
    """Parser for one DeepSeek output (one choice): see ``glm_proxy.dialects.Parser``."""

    machine = DeepSeekMachine
