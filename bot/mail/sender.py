"""The outbox sender: claim → commit → SMTP → record, on a few reused connections.

:class:`OutboxSender` is a :class:`~bot.core.workers.LoopWorker`. Each round it claims a
batch of due rows (:func:`bot.mail.outbox.claim_due`, its own short transaction), hands them
to at most ``smtp_concurrency`` connection tasks, and records every outcome in a new
short transaction. Each connection task keeps ONE SMTP connection open and sends many
messages over it (``MAIL``/``RCPT``/``DATA`` per message, ``RSET`` after an error),
reconnecting only when the server drops it. A shared token bucket holds the pace to
``smtp_rate_per_minute``.

Outcomes (RFC 5321 §4.2.1 reply codes):

* 2xx after DATA → ``sent``;
* 4xx anywhere, or a connection problem → retried with exponential backoff and jitter
  (:func:`bot.mail.outbox.backoff_seconds`) until ``smtp_max_attempts``, then ``failed``;
* 5xx → ``failed`` at once; a 5xx on RCPT also feeds the contact's e-mail status
  (:func:`bot.mail.outbox.record_failed`).

Delivery guarantees. The Message-ID is fixed in ``raw`` before the first attempt. A
worker that dies after claiming loses nothing: its lease expires and another worker
claims the row. A crash in the window between the server's 250 and our commit of
``sent`` is the one case that can send a mail twice: the row is still ``sending``, the
lease expires, and one other worker resends the same bytes (same Message-ID, which lets
receiving systems and mail clients fold the copies). It is at most one duplicate per
such crash, never a loop: the resend is recorded like any send, and a claim is
exclusive (SKIP LOCKED / BEGIN IMMEDIATE), so two live workers never hold the same row.
Closing this window entirely would need the relay to deduplicate by Message-ID; SMTP
has no transaction we could commit together with ours. A connection never has more
than one accepted, unrecorded mail: after the relay accepts mail *k* it sends mail
*k + 1*'s ``MAIL`` and ``RCPT`` while *k* is being recorded, and ends *k + 1*'s ``DATA``
only once that commit returned (:class:`SentRecorder`; the commit is shared by every
connection whose mail is waiting). So a crash leaves at most one unrecorded mail per
connection, each of which can be resent once.

A worker also never sends a row whose lease it may have lost: before each message it
checks its own clock against the lease, and gives the row up if the lease has run out.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiosmtplib

from bot.core.db import Database, dbnow
from bot.core.metrics import MAIL_SEND_FAILURES, MAIL_SENT
from bot.core.settings import Settings
from bot.core.workers import LoopWorker
from bot.mail import outbox
from bot.mail.outbox import ClaimedMail

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class TokenBucket:
    """A token bucket: ``rate_per_minute`` tokens a minute, bursts up to ``capacity``.

    ``acquire`` waits (asyncio.sleep) until a token is there. ``monotonic`` and
    ``sleep`` are injectable so tests need not wait."""

    def __init__(self, rate_per_minute: float, capacity: float | None = None, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.rate = max(rate_per_minute, 0.001) / 60.0
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_minute / 6)
        self.tokens = self.capacity
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                self._refill()
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await self._sleep((1 - self.tokens) / self.rate)


class SendResult:
    """What happened to one message: ``sent``, ``retry`` or ``failed``."""

    __slots__ = ("outcome", "code", "error", "recipient_refused")

    def __init__(self, outcome: str, code: int | None = None, error: str = "",
                 recipient_refused: bool = False) -> None:
        self.outcome = outcome
        self.code = code
        self.error = error
        self.recipient_refused = recipient_refused


def classify_error(exc: BaseException) -> SendResult:
    """Map an aiosmtplib error to sent/retry/failed (RFC 5321 §4.2.1: 4yz transient,
    5yz permanent)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        first = exc.recipients[0] if exc.recipients else None
        code = first.code if first else None
        text = f"RCPT {code} {first.message if first else ''}".strip()
        if code is not None and 500 <= code < 600:
            return SendResult("failed", code, text, recipient_refused=True)
        return SendResult("retry", code, text)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code = exc.code
        stage = type(exc).__name__.removeprefix("SMTP")
        text = f"{stage} {code} {exc.message}"
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused) and 500 <= code < 600:
            return SendResult("failed", code, text, recipient_refused=True)
        if 500 <= code < 600 and not isinstance(exc, (aiosmtplib.SMTPConnectResponseError,
                                                      aiosmtplib.SMTPHeloError,
                                                      aiosmtplib.SMTPAuthenticationError)):
            return SendResult("failed", code, text)
        # 4xx, or a 5xx greeting/EHLO/AUTH refusal: the relay's setup, not this mail.
        return SendResult("retry", code, text)
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError)):
        return SendResult("retry", None, f"{type(exc).__name__}: {exc}")
    return SendResult("retry", None, f"internal error {type(exc).__name__}: {exc}")


def smtp_client(settings: Settings, *, timeout: float = 60.0) -> aiosmtplib.SMTP:
    """An unconnected aiosmtplib client for the configured relay."""
    kwargs: dict[str, Any] = {
        "hostname": settings.smtp_host, "port": settings.smtp_port, "timeout": timeout,
        "local_hostname": settings.mail_domain,
    }
    if settings.smtp_security == "tls":
        kwargs["use_tls"] = True
        kwargs["tls_context"] = ssl.create_default_context()
    elif settings.smtp_security == "starttls":
        kwargs["start_tls"] = True
        kwargs["tls_context"] = ssl.create_default_context()
    else:
        kwargs["start_tls"] = False
    if settings.smtp_user:
        kwargs["username"] = settings.smtp_user
        kwargs["password"] = settings.smtp_password
    return aiosmtplib.SMTP(**kwargs)


class Connection:
    """One SMTP connection, opened on first use and reused for many messages."""

    def __init__(self, factory: Callable[[], aiosmtplib.SMTP]) -> None:
        self._factory = factory
        self._client: aiosmtplib.SMTP | None = None
        self.messages = 0
        self.connects = 0

    async def send(self, claimed: ClaimedMail, *,
                   before_data: Callable[[], Awaitable[None]] | None = None) -> SendResult:
        """Send one mail: ``MAIL``, ``RCPT``, then ``before_data()``, then ``DATA``.

        The relay takes responsibility for a mail only with its reply to the end of
        ``DATA`` (RFC 5321 §4.1.1.4, §6.1), so whatever ``before_data`` waits for — the
        commit that records the previous mail sent on this connection — overlaps this
        mail's envelope yet still finishes before the relay can accept it. If it fails,
        the connection is closed mid-transaction and the relay delivers nothing."""
        try:
            if self._client is None or not self._client.is_connected:
                await self.close()
                client = self._factory()
                await client.connect()
                self._client = client
                self.connects += 1
            client = self._client
            options = ([f"SIZE={len(claimed.raw)}"] if client.supports_extension("size")
                       else [])
            try:
                await client.mail(claimed.from_addr, options=options)
                try:
                    await client.rcpt(claimed.to_addr)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    raise aiosmtplib.SMTPRecipientsRefused([exc]) from exc
                if before_data is not None:
                    await before_data()
                response = await client.data(claimed.raw)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
                with contextlib.suppress(ConnectionError, aiosmtplib.SMTPException):
                    await client.rset()  # a clean envelope for the next mail
                raise
        except asyncio.CancelledError:
            await self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - classified, recorded, retried
            result = classify_error(exc)
            if result.outcome == "retry" and (result.code is None or result.code == 421):
                # Connection trouble, 421 "closing channel", or the previous mail's
                # record failed: start over next time.
                await self.close()
            return result
        self.messages += 1
        return SendResult("sent", 250, response.message)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await asyncio.wait_for(client.quit(), 5)
        except asyncio.CancelledError:
            client.close()
            raise
        except Exception:  # noqa: BLE001 - closing a connection that is going anyway
            client.close()


class SentRecorder:
    """Records accepted mails as ``sent``, lazily and in groups.

    :meth:`add` only notes an accepted mail. The commit starts when a connection needs
    it — just before the end of ``DATA`` of its next mail (:meth:`settle`, through
    :meth:`Connection.send`) — and records every mail noted by then, from every
    connection, in one transaction. So a connection never has more than one accepted,
    unrecorded mail, the commit runs while the relay handles that connection's next
    envelope, and the connections share commits instead of taking turns."""

    def __init__(self, record: Callable[[list[ClaimedMail]], Awaitable[None]]) -> None:
        self._record = record
        self._waiting: list[tuple[ClaimedMail, asyncio.Future[None]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.commits = 0

    def add(self, item: ClaimedMail) -> asyncio.Future[None]:
        """Note an accepted mail; the future is done once it is recorded."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._waiting.append((item, future))
        return future

    def _start(self) -> None:
        if self._waiting and (self._runner is None or self._runner.done()):
            self._runner = asyncio.create_task(self._run(), name="outbox-record-sent")

    async def settle(self, future: asyncio.Future[None]) -> None:
        """Wait until the mail behind ``future`` is recorded (committing it, and every
        other mail noted so far, if no commit is under way); raises if that failed."""
        if not future.done():
            self._start()
        await asyncio.shield(future)

    async def _run(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._record([item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each waiting connection sees it
                log.error("outbox: could not record %d sent mail(s); their leases bring "
                          "them back: %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                self.commits += 1
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def flush(self) -> None:
        """Record every mail noted so far (or log why that failed)."""
        self._start()
        while self._runner is not None and not self._runner.done():
            await asyncio.shield(self._runner)


def _retrieve(future: asyncio.Future[None]) -> None:
    """A record that failed is logged by the recorder; a connection that stopped
    waiting for it must not leave "exception was never retrieved" behind."""
    if not future.cancelled():
        future.exception()


class OutboxSender(LoopWorker):
    """The sender worker (see the module docstring)."""

    name = "outbox-sender"

    def __init__(self, settings: Settings, db: Database, *, owner: str | None = None,
                 clock: Clock = dbnow,
                 client_factory: Callable[[], aiosmtplib.SMTP] | None = None,
                 batch_size: int | None = None, idle_seconds: float = 2.0,
                 retry_base_seconds: float = 60.0, rng: random.Random | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.db = db
        self.owner = owner or f"{settings.effective_instance_name}/sender"
        self.clock = clock
        self.idle_seconds = idle_seconds
        self.retry_base_seconds = retry_base_seconds
        self.rng = rng or random.Random()
        factory = client_factory or (lambda: smtp_client(settings))
        self.concurrency = max(1, settings.smtp_concurrency)
        self.connections = [Connection(factory) for _ in range(self.concurrency)]
        self.bucket = TokenBucket(settings.smtp_rate_per_minute)
        # A batch must be sendable well within the lease at the configured pace.
        paced = settings.smtp_rate_per_minute * settings.outbox_lease_seconds / 60 / 2
        self.batch_size = batch_size or int(max(1, min(self.concurrency * 50, paced)))
        self.sent = 0
        self.retried = 0
        self.failed = 0
        self.recorder = SentRecorder(self._record_sent)

    async def stop(self, timeout: float = 30.0) -> None:
        await super().stop(timeout)
        await self.recorder.flush()
        for conn in self.connections:
            await conn.close()

    async def run_once(self) -> int:
        """Claim one batch and send it; returns how many rows were handled."""
        if self.stopping:
            return 0
        claimed = await outbox.claim_due(
            self.db, owner=self.owner, now=self.clock(), limit=self.batch_size,
            lease_seconds=self.settings.outbox_lease_seconds)
        if not claimed:
            # Idle: finished mail loses its live tokens now, off the sending path.
            await outbox.redact_finished(self.db)
            return 0
        queue: asyncio.Queue[ClaimedMail] = asyncio.Queue()
        for item in claimed:
            queue.put_nowait(item)
        untried: list[ClaimedMail] = []
        workers = [self._drain(conn, queue, untried)
                   for conn in self.connections[:min(self.concurrency, len(claimed))]]
        try:
            await asyncio.gather(*workers)
        finally:
            await asyncio.shield(self.recorder.flush())
        if untried:
            await outbox.release(self.db, untried, owner=self.owner)
        return len(claimed) - len(untried)

    async def _record_sent(self, items: list[ClaimedMail]) -> None:
        await outbox.record_sent_many(self.db, items, now=self.clock())

    async def _drain(self, conn: Connection, queue: asyncio.Queue[ClaimedMail],
                     untried: list[ClaimedMail]) -> None:
        recorded: asyncio.Future[None] | None = None  # the last mail sent here
        try:
            while not queue.empty():
                item = queue.get_nowait()
                if self.stopping:
                    # Graceful stop: finish what is in flight, start nothing new.
                    untried.append(item)
                    continue
                try:
                    recorded = await self._send_one(conn, item, recorded)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - ours: logged, the lease brings it back
                    log.exception("outbox %s: could not record the outcome; the lease "
                                  "will bring it back", item.id)
        finally:
            if recorded is not None:
                with contextlib.suppress(Exception):  # logged by the recorder
                    await self.recorder.settle(recorded)

    async def _send_one(self, conn: Connection, item: ClaimedMail,
                        recorded: asyncio.Future[None] | None) -> asyncio.Future[None] | None:
        """Send one mail; returns the future of its "sent" record (or, when it was not
        sent, the previous one's, still to be awaited)."""
        if self.clock() >= item.lease_until:
            # We were too slow: another worker may own it now. Leave it.
            log.warning("outbox %s: lease ran out before sending; left to the next claim",
                        item.id)
            return recorded

        async def previous_recorded() -> None:
            if recorded is not None:
                await self.recorder.settle(recorded)

        await self.bucket.acquire()
        result = await conn.send(item, before_data=previous_recorded)
        now = self.clock()
        if result.outcome == "sent":
            self.sent += 1
            MAIL_SENT.inc()
            log.debug("outbox %s sent to %s", item.id, item.to_addr)
            return self.recorder.add(item)
        MAIL_SEND_FAILURES.labels(result.outcome).inc()
        if result.outcome == "failed":
            await outbox.record_failed(self.db, item, now=now, code=result.code,
                                       error=result.error,
                                       recipient_refused=result.recipient_refused)
            self.failed += 1
            log.info("outbox %s to %s failed permanently: %s", item.id, item.to_addr,
                     result.error)
        else:
            if result.code is None:  # the relay is unreachable: /healthz should know
                self.note_error(f"SMTP: {result.error}")
            delay = outbox.backoff_seconds(item.attempts, base=self.retry_base_seconds,
                                           rng=self.rng)
            state = await outbox.record_retry(
                self.db, item, now=now, max_attempts=self.settings.smtp_max_attempts,
                code=result.code, error=result.error, delay=delay)
            self.retried += 1
            level = logging.WARNING if state == "failed" else logging.INFO
            log.log(level, "outbox %s to %s: %s (attempt %d) → %s", item.id, item.to_addr,
                    result.error, item.attempts, state)
        return recorded

    async def drain(self) -> int:
        """Send everything that is due now (CLI, tests, benchmark); returns the count."""
        total = 0
        while True:
            handled = await self.run_once()
            if not handled:
                return total
            total += handled
