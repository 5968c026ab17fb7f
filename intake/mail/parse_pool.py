"""Where the pure parser runs: in worker processes, so parsing uses another core.

The processor parses one batch of stored mail while the event loop writes the outcomes of
the batch before (:mod:`intake.mail.processor`). In a thread that overlap would buy
little: the parser is pure Python and holds the GIL. :class:`ParsePool` hands the raw
bytes of a whole chunk to a :class:`concurrent.futures.ProcessPoolExecutor` in one call
(one pickle each way per chunk, not per message) and gets the
:class:`~intake.parse.message.ParseResult` objects back.

Failure stays per message: an exception while parsing one mail becomes a
:class:`ParseFailure` for that mail only. A worker process that dies (a mail that makes
the parser run out of memory, a ``kill``) breaks the pool and every job queued in it: the
pool is built again and each mail of the failed chunk is parsed once more on its own, so
only the mail that kills it fails (and is retried, then quarantined, alone).

With ``processes=0`` (tests, the CLI, the demo), before :meth:`ParsePool.start`, or where
no worker process can start, parsing runs in a thread of this process: the same
functions, no second process.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TypeVar

from intake.parse.message import ParseResult, parse_message, read_quoted_form

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParseFailure:
    """The parser raised on one mail (a bug of ours: the mail is retried, then
    quarantined with this text)."""

    error: str


Parsed = ParseResult | ParseFailure
T = TypeVar("T")


def error_text(exc: BaseException) -> str:
    """An exception as one line for a message's ``last_error`` ("ValueError: …")."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _failure(exc: BaseException) -> ParseFailure:
    return ParseFailure(error_text(exc))


def _exit_with_parent(parent: int) -> None:
    """In a worker process: exit as soon as the service that started it is gone.

    A service killed with SIGKILL cannot stop its pool; without this its parser process
    would wait for work forever (an orphan is adopted by another process, so the parent
    pid changes)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def parse_all(raws: Sequence[bytes], own_domain: str, own_local_part: str) -> list[Parsed]:
    """Parse each raw mail on its own: one mail's exception is that mail's failure."""
    out: list[Parsed] = []
    for raw in raws:
        try:
            out.append(parse_message(raw, own_domain=own_domain, own_local_part=own_local_part))
        except Exception as exc:  # noqa: BLE001 - reported per mail, the others go on
            out.append(_failure(exc))
    return out


def with_quoted_form(parsed: ParseResult, sent: bytes) -> ParseResult:
    """:func:`read_quoted_form` as a function that returns its result (the object
    travels to a worker process and back as a copy)."""
    read_quoted_form(parsed, sent)
    return parsed


class ParsePool:
    """Parses chunks of raw mail in ``processes`` worker processes (0: in a thread)."""

    # The job that proves a new pool works, and the parse itself (tests replace them).
    probe: Callable[[], object] = staticmethod(os.getpid)
    parse_fn: Callable[[Sequence[bytes], str, str], list[Parsed]] = staticmethod(parse_all)

    def __init__(self, *, own_domain: str, own_local_part: str, processes: int) -> None:
        self.own_domain = own_domain
        self.own_local_part = own_local_part
        self.processes = processes
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._restarting: asyncio.Task[None] | None = None
        # A mail parsed "alone" is the only job in the pool, so if the pool breaks, that
        # mail broke it (other jobs wait; it waits for the ones already in the pool).
        self._turns = asyncio.Condition()
        self._in_pool = 0
        self._alone = False
        self.restarts = 0

    async def start(self) -> None:
        """Start the worker processes and check that they run; on a machine where they
        cannot, parse in a thread from now on (nothing to do with ``processes=0``)."""
        if self.processes <= 0 or self._executor is not None:
            return
        # spawn: a fresh interpreter, not a fork of this process with its event loop,
        # threads and open database connections; and a direct child, so it can see this
        # process die.
        executor = concurrent.futures.ProcessPoolExecutor(
            self.processes, mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent, initargs=(os.getpid(),))
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self.probe)
        except Exception as exc:  # noqa: BLE001 - any reason: parse in a thread instead
            executor.shutdown(wait=False, cancel_futures=True)
            log.error("the parser processes cannot start here (%s); parsing in a thread "
                      "from now on", exc)
            self.processes = 0
            return
        self._executor = executor

    async def stop(self) -> None:
        """Stop the worker processes; chunks still queued are cancelled. A parse under way
        is not waited for: its process exits when it is done (or with this one)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._restarting is not None:  # never a stranger's mail in this process
            await asyncio.shield(self._restarting)
        executor = self._executor
        if executor is None:
            return await asyncio.to_thread(fn)
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn)
        except BrokenProcessPool:
            if self._executor is executor:  # the first job to notice builds it again
                log.error("a parser process died; starting the pool again")
                self.restarts += 1
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
                self._restarting = asyncio.create_task(self.start())
                try:
                    await asyncio.shield(self._restarting)
                finally:
                    self._restarting = None
            raise

    async def _take_turn(self, fn: Callable[[], T], *, alone: bool) -> T:
        async with self._turns:
            await self._turns.wait_for(lambda: not self._alone)
            if alone:
                self._alone = True
                await self._turns.wait_for(lambda: self._in_pool == 0)
            self._in_pool += 1
        try:
            return await self._run(fn)
        finally:
            async with self._turns:
                self._in_pool -= 1
                if alone:
                    self._alone = False
                self._turns.notify_all()

    async def parse(self, raws: Sequence[bytes]) -> list[Parsed]:
        """One result per raw mail, in order.

        If the chunk fails as a whole — a worker process died (then every job queued in
        the pool fails with it), or a result could not travel back — each of its mails
        is parsed again alone in the pool, so only the mail that causes it fails."""
        if not raws:
            return []
        try:
            return await self._take_turn(self._job(raws), alone=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - narrowed down to the mail below
            log.warning("parsing %d mail(s) failed (%s); parsing each alone", len(raws), exc)
        out: list[Parsed] = []
        for raw in raws:
            try:
                out += await self._take_turn(self._job([raw]), alone=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - this mail's failure only
                out.append(_failure(exc))
        return out

    def _job(self, raws: Sequence[bytes]) -> Callable[[], list[Parsed]]:
        return functools.partial(self.parse_fn, list(raws), self.own_domain,
                                 self.own_local_part)

    async def read_quoted_form(self, parsed: ParseResult, sent: bytes) -> Parsed:
        """The reply with the edits typed into the quoted form of ``sent`` added."""
        try:
            return await self._run(functools.partial(with_quoted_form, parsed, sent))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - that mail's failure only
            return _failure(exc)


__all__ = ["ParseFailure", "error_text", "ParsePool", "Parsed", "parse_all", "with_quoted_form"]
