"""Background workers: objects with start/stop, run under the web app's lifecycle.

:class:`LoopWorker` is the shape of every polling worker: ``run_once`` handles at most a
small batch and returns how many items it handled; the loop sleeps when there was
nothing to do. ``stop()`` lets the current item finish and claims nothing new. One bad
item never kills the loop: errors are logged and the loop goes on (after a pause), but
``asyncio.CancelledError`` always propagates.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

log = logging.getLogger(__name__)


class Worker(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LoopWorker:
    """Base class: override :meth:`run_once`."""

    name = "worker"
    idle_seconds: float = 1.0
    error_pause_seconds: float = 5.0

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        # For /healthz and /metrics (wall-clock seconds since the epoch): when the loop
        # started, when a round last finished without an error, and the last error.
        self.started_at: float | None = None
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._round_failed = False

    def note_error(self, text: str) -> None:
        """Report an error the worker handled itself (a reconnect, a backoff): this round
        does not count as a success, so /healthz sees a worker that keeps failing."""
        self.last_error = text[:500]
        self.last_error_at = time.time()
        self._round_failed = True

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run_once(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def wake(self) -> None:
        """Ask the loop to look for work now instead of after its idle pause."""
        self._wake.set()

    async def start(self) -> None:
        self._stopping.clear()
        self.started_at = time.time()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self, timeout: float = 30.0) -> None:
        """Finish the current item, then return; cancel if it takes too long."""
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            self._round_failed = False
            try:
                handled = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.note_error(f"{type(exc).__name__}: {exc}")
                log.exception("%s: error in loop; going on after a pause", self.name)
                await self._pause(self.error_pause_seconds)
                continue
            if not self._round_failed:
                self.last_success = time.time()
            if not handled and not self._stopping.is_set():
                await self._pause(self.idle_seconds)
