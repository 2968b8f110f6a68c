"""Finished responses kept in memory, so that a follow-up can name one
(``previous_response_id``) and ``GET /v1/responses/{id}`` can return it. Pure: the clock is
passed in.

Bounded three ways: by count (``max_entries``), by age (``max_age`` seconds) and by the bytes
it holds (``max_bytes``): each entry is kept as its JSON bytes, so what it costs is known
exactly; the oldest entries go first when a bound is passed. An entry larger than the whole
budget is not kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from time import monotonic
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A finished response and the conversation it ends (its input items, then its output)."""

    response: dict[str, Any]
    items: list[Any]


class ResponseStore:
    """A bounded map from response ids to ``StoredResponse`` (see the module docstring)."""

    def __init__(
        self,
        max_entries: int,
        max_age: float,
        max_bytes: int = 256 << 20,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self.size = 0
        """Bytes held."""

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, response: dict[str, Any], items: list[Any], encoded: bytes | None = None) -> bool:
        """Keep ``response`` (under its ``id``) with the conversation ``items``; False when it
        does not fit at all. ``encoded``: ``response`` as JSON already (the streamed front's
        last event carried it), spliced in instead of encoding the object again."""
        if self.max_entries <= 0:
            return False
        if encoded is None:
            encoded = orjson.dumps(response)
        data = b'{"response":' + encoded + b',"items":' + orjson.dumps(items) + b"}"
        key = str(response["id"])
        self._drop(key)
        if len(data) > self.max_bytes:
            return False
        self._entries[key] = (self._clock(), data)
        self.size += len(data)
        self._expire()
        while len(self._entries) > self.max_entries or self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))
        return True

    def get(self, response_id: str) -> StoredResponse | None:
        """The stored response, or None (never stored, expired or pushed out)."""
        self._expire()
        entry = self._entries.get(response_id)
        if entry is None:
            return None
        stored = orjson.loads(entry[1])
        return StoredResponse(response=stored["response"], items=stored["items"])

    def _expire(self) -> None:
        oldest = self._clock() - self.max_age
        entries = self._entries
        while entries:
            key, (stamp, _) = next(iter(entries.items()))
            if stamp >= oldest:
                break
            self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= len(entry[1])
