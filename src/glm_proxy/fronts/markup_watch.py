"""A warning for tool-call markup that reached the client as text.

A model that no setting names is relayed untouched when ``DETECT_DIALECT`` is off; when it is a
GLM model under another name, its tool calls reach the client as text and the request still logs
✓ 200. With detection on, an answer in which detection found no call goes out as the backend
wrote it, markup and all, when the markup is not one detection can decide on. ``MarkupWatch``
looks at the bytes of such answers to requests with tools and warns once per model, naming the
settings to change. GLM writes ``<tool_call>`` and ``<arg_key>`` as single tokens, so each
arrives whole in one streamed chunk.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable

logger = logging.getLogger("glm_proxy.app")

MARKERS = (b"<tool_call>", b"<arg_key>")

_RELAYED = (
    "model %r matches neither GLM_MODELS=%s nor DIALECT_MODELS, and DETECT_DIALECT is off: its "
    "answer to a request with tools holds tool-call markup (<tool_call>), passed on as text. Add "
    "a part of its name to GLM_MODELS (or set GLM_MODELS=*), or set DETECT_DIALECT=true, to "
    "convert it"
)
_UNDETECTED = (
    "model %r matches neither GLM_MODELS=%s nor DIALECT_MODELS, and detection found no call in "
    "its answer to a request with tools, which holds tool-call markup (<tool_call>), passed on as "
    "text. Add a part of its name to GLM_MODELS (or set GLM_MODELS=*), or name its dialect in "
    "DIALECT_MODELS, to convert it"
)


class MarkupWatch:
    """Which models were warned about (one warning per model for the process's life)."""

    def __init__(self, glm_models: tuple[str, ...]) -> None:
        self._setting = ",".join(glm_models)
        self._warned: set[str] = set()

    def watcher(self, model: str, *, detected: bool = False) -> Callable[[bytes], None] | None:
        """A function to call with each piece of an answer passed on as text (``detected``:
        after detection found no call in it), or None once ``model`` was warned about."""
        if model in self._warned:
            return None
        message = _UNDETECTED if detected else _RELAYED

        def watch(data: bytes) -> None:
            if model not in self._warned and any(marker in data for marker in MARKERS):
                self._warned.add(model)
                logger.warning(message, model, self._setting)

        return watch


async def watched(
    chunks: AsyncGenerator[bytes, None], watch: Callable[[bytes], None]
) -> AsyncGenerator[bytes, None]:
    """``chunks`` unchanged, each shown to ``watch`` first."""
    try:
        async for chunk in chunks:
            watch(chunk)
            yield chunk
    finally:
        await chunks.aclose()
