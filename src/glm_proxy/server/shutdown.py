"""Graceful shutdown: requests in flight get ``SHUTDOWN_GRACE`` seconds, then they are ended.

Strategy. uvicorn handles SIGTERM/SIGINT itself: it stops accepting connections, closes idle
ones, and waits for the requests in flight (up to its ``timeout_graceful_shutdown``, which
``glm-proxy serve`` sets a little past the grace, as a backstop). It does not tell the app, so
the app chains its own handler in front of uvicorn's (``install_signal_hooks``, from the
lifespan, in the main thread only). The first signal starts the grace period; when it ends,
``Drain`` cancels the tasks of the requests still running, and the request middleware turns
that cancellation into a proper ending: an error event and the end of a started stream, or a
503 for a request that has not answered yet. Requests that arrive after that get the 503 at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

logger = logging.getLogger("glm_proxy.shutdown")

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_Handler = Callable[[int, FrameType | None], Any]


class Drain:
    """The requests in flight, and the grace period that ends them once shutdown begins."""

    def __init__(self, grace: float):
        self.grace = grace
        self.tasks: set[asyncio.Task[Any]] = set()
        self.draining = False
        self.cut_off = False
        """The grace period is over: requests still running are being ended."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._previous: dict[int, _Handler] = {}

    def begin(self) -> None:
        """Start the grace period (in the event loop; again: nothing more happens)."""
        if self.draining:
            return
        self.draining = True
        self._loop = asyncio.get_running_loop()
        if self.tasks:
            logger.warning(
                "shutting down: %d request(s) in flight get up to %g s (SHUTDOWN_GRACE)",
                len(self.tasks),
                self.grace,
            )
        self._timer = self._loop.call_later(self.grace, self.end_requests)

    def begin_threadsafe(self) -> None:
        """``begin`` from another thread (or a signal handler)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.begin)

    def end_requests(self) -> None:
        """The grace period is over: cancel what still runs (the middleware ends it)."""
        self.cut_off = True
        if self.tasks:
            logger.warning(
                "shutting down: ending %d request(s) still running after %g s (SHUTDOWN_GRACE)",
                len(self.tasks),
                self.grace,
            )
        for task in list(self.tasks):
            task.cancel()

    def started(self) -> None:
        """The app's lifespan started: remember its loop and watch for signals."""
        self._loop = asyncio.get_running_loop()
        self.install_signal_hooks()

    def stopped(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.remove_signal_hooks()

    def install_signal_hooks(self) -> None:
        """Chain ``begin`` in front of the current SIGINT/SIGTERM handlers (the server's)."""
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach only the main thread (tests run servers in threads)
        for sig in SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue  # no server handles it: the default (ending the process) stays
            self._previous[sig] = previous
            signal.signal(sig, self._on_signal)

    def remove_signal_hooks(self) -> None:
        for sig, previous in self._previous.items():
            if signal.getsignal(sig) == self._on_signal:
                signal.signal(sig, previous)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.begin_threadsafe()
        previous = self._previous.get(signum)
        if previous is not None:
            previous(signum, frame)
