"""A warning for tool-call markup passed through unconverted.

A model whose name does not match ``GLM_MODELS`` is relayed untouched; when it is a GLM model
under another name, its tool calls reach the client as text and the request still logs ✓ 200.
``MarkupWatch`` looks at the bytes of such answers to requests with tools and warns once per
model, naming the setting to change. GLM writes ``<tool_call>`` and ``<arg_key>`` as single
tokens, so each arrives whole in one streamed chunk.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable

logger = logging.getLogger("glm_proxy.app")

MARKERS = (b"<tool_call>", b"<arg_key>")


class MarkupWatch:
    """Which models were warned about (one warning per model for the process's life)."""

    def __init__(self, glm_models: tuple[str, ...]) -> None:
        self._setting = ",".join(glm_models)
        self._warned: set[str] = set()

    def watcher(self, model: str) -> Callable[[bytes], None] | None:
        """A function to call with each piece of the answer, or None once ``model`` was warned
        about."""
        if model in self._warned:
            return None

        def watch(data: bytes) -> None:
            if model not in self._warned and any(marker in data for marker in MARKERS):
                self._warned.add(model)
                logger.warning(
                    "model %r does not match GLM_MODELS=%s, and its answer to a request with "
                    "tools holds tool-call markup (<tool_call>), passed on as text: add a part "
                    "of its name to GLM_MODELS (or set GLM_MODELS=*) to convert it",
                    model,
                    self._setting,
                )

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
