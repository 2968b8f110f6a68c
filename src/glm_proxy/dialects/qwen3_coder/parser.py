"""The Qwen3-Coder dialect: an incremental parser of Qwen3-Coder's XML tool calls.

What the model writes, from its chat template (``Qwen/Qwen3-Coder-30B-A3B-Instruct``):

    <tool_call>
    <function=NAME>
    <parameter=P>
    V
    </parameter>
    </function>
    </tool_call>

one ``<tool_call>`` per call. A string value is written verbatim between two line breaks, a
mapping or a list as JSON, anything else as Python writes it (``True``, ``None``, ``42``): the
values are typed by the request's schemas (``_typing``), and one line break is trimmed at each
end of a value, as vLLM, SGLang and llama.cpp do. The reading itself is the shared XML machine
(``dialects._xml``), which also survives what users report of this model: the opener
``<tool_call>`` left out, ``</parameter>`` or ``</function>`` missing.
"""

from __future__ import annotations

from typing import Final

from glm_proxy.dialects import ParserOptions
from glm_proxy.dialects._xml import XmlMarkup, XmlParser

MARKUP: Final = XmlMarkup(
    section_open="<tool_call>",
    section_close="</tool_call>",
    call_prefix="<function=",
    call_close="</function>",
    param_prefix="<parameter=",
    param_close="</parameter>",
    trim_newline=True,
    # Qwen2.5 / Qwen3's Hermes form, what the model writes under their chat template
    json_calls=True,
)


class Qwen3CoderParser(XmlParser):
    """Parser for one Qwen3-Coder output (one choice): see ``glm_proxy.dialects.Parser``."""

    def __init__(self, options: ParserOptions) -> None:
        super().__init__(MARKUP, options)
