"""IMAP fetcher: new mail in the intake mailbox → committed rows, then flagged or moved.

The worker keeps one session to the server (aioimaplib): TLS, STARTTLS or plain (plain is
meant for a loopback server), LOGIN, SELECT. It then loops:

1. **Fetch by UID from the cursor.** The cursor per mailbox is (UIDVALIDITY, last UID
   stored) in ``imap_cursors``. ``UID SEARCH UID last+1:*`` lists what is new (RFC 3501
   §6.4.8: ``n:*`` always matches the highest UID, so UIDs ≤ last are dropped),
   ``UID FETCH set (UID RFC822.SIZE)`` gets their sizes 200 at a time, then bodies
   are fetched in batches by count and bytes with
   ``UID FETCH set (UID BODY.PEEK[])`` — ``PEEK`` so fetching does not set ``\\Seen``.
   Messages over ``max_message_bytes`` are fetched as ``BODY.PEEK[HEADER]`` only and
   stored quarantined (see :mod:`intake.inbox.store`). Only one batch is in memory at a time.
2. **Commit first.** Each message is stored with its UID, UIDVALIDITY, Message-ID and
   SHA-256; a batch is committed in one transaction that also advances the cursor
   (:func:`intake.inbox.store.store_batch`).
3. **Then act on the server** (``imap_after_store``): ``UID STORE +FLAGS.SILENT
   (\\Seen)``, or ``UID MOVE`` (RFC 6851) when offered, else ``UID COPY`` + ``\\Deleted``
   + ``UID EXPUNGE`` (RFC 4315 UIDPLUS) or plain ``EXPUNGE``. A crash between 2 and 3
   loses nothing: on every (re)connect the fetcher re-applies the action to ``1:last``
   (all of which are stored), and a message read twice maps to the row stored first.
4. **Wait.** With IDLE (RFC 2177) the server pushes ``EXISTS``; IDLE is re-issued every
   ``idle_renew_seconds`` (25 min, inside the 29 min the RFC allows) or
   ``imap_poll_seconds`` if that is shorter (a safety net: aioimaplib drops an untagged
   ``EXISTS`` that arrives during another command). Without IDLE the worker polls every
   ``imap_poll_seconds``.

UIDVALIDITY (RFC 3501 §2.3.1.1): when the server reports another value than the cursor
(mailbox recreated, server migrated), the old UIDs mean nothing. The cursor restarts at
0, the mailbox is read again, content hashes keep every already-stored message from
becoming a second queue item, and each message is still flagged/moved.

Connection failures, timeouts and ``NO``/``BAD`` answers are ours: logged, the session is
dropped and re-opened with exponential backoff (1 s doubling to 5 min). One instance
fetches a mailbox at a time (a lease); a second one waits and takes over when the first
stops renewing it — and would be harmless anyway, because of the unique keys.
"""
from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aioimaplib import aioimaplib

from bot.core.db import Database
from bot.core.leases import LeaseKeeper
from bot.core.metrics import IMAP_FETCHED
from bot.core.settings import Settings
from bot.core.workers import LoopWorker
from intake.inbox.store import Incoming, get_cursor, reset_cursor, store_batch
from intake.mail import imap_client

log = logging.getLogger(__name__)

IDLE_RENEW_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
_FETCH_RE = re.compile(rb"^(\d+) FETCH \((.*)$", re.DOTALL)
_LITERAL_RE = re.compile(rb"\{(\d+)\}$")
_UID_RE = re.compile(rb"\bUID (\d+)")
_SIZE_RE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_UIDVALIDITY_RE = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT_RE = re.compile(rb"\[UIDNEXT (\d+)\]")
_EXISTS_RE = re.compile(rb"^(\d+) EXISTS")
LOOPBACK = ("127.0.0.1", "::1", "localhost")
SIZE_CHUNK = 200


class ImapError(Exception):
    """The server refused something we needed (login, select, store): our problem."""


# ---------------------------------------------------------------------------------------
# Pure helpers (parsing server answers, planning batches)


@dataclass(frozen=True)
class MailboxState:
    uidvalidity: int
    uidnext: int | None
    exists: int | None


@dataclass(frozen=True)
class Fetched:
    uid: int
    size: int | None
    data: bytes | None


def parse_select(lines: Iterable[bytes | bytearray]) -> MailboxState:
    """UIDVALIDITY, UIDNEXT and EXISTS from a SELECT answer (RFC 3501 §6.3.1)."""
    uidvalidity = uidnext = exists = None
    for raw in lines:
        line = bytes(raw)
        if (m := _UIDVALIDITY_RE.search(line)) is not None:
            uidvalidity = int(m.group(1))
        if (m := _UIDNEXT_RE.search(line)) is not None:
            uidnext = int(m.group(1))
        if (m := _EXISTS_RE.match(line)) is not None:
            exists = int(m.group(1))
    if uidvalidity is None:
        raise ImapError("SELECT answer has no UIDVALIDITY")
    return MailboxState(uidvalidity, uidnext, exists)


def parse_fetch(lines: Sequence[bytes | bytearray]) -> list[Fetched]:
    """The messages of a FETCH answer as aioimaplib returns it: a ``N FETCH (…{size}``
    line, the literal, then the rest of the item (``)`` or `` UID 7)``). Untagged FETCH
    lines without a UID (flag updates) are skipped."""
    out: list[Fetched] = []
    i = 0
    while i < len(lines):
        line = bytes(lines[i])
        m = _FETCH_RE.match(line)
        i += 1
        if m is None:
            continue
        meta = m.group(2)
        data: bytes | None = None
        if _LITERAL_RE.search(line) and i < len(lines):
            data = bytes(lines[i])
            i += 1
            while i < len(lines) and not _FETCH_RE.match(bytes(lines[i])) and \
                    bytes(lines[i])[:1] in (b")", b" "):
                meta += bytes(lines[i])
                i += 1
        uid = _UID_RE.search(meta)
        if uid is None:
            continue
        size = _SIZE_RE.search(meta)
        out.append(Fetched(int(uid.group(1)), int(size.group(1)) if size else None, data))
    return out


def parse_search(lines: Iterable[bytes | bytearray]) -> list[int]:
    """The UIDs of a ``UID SEARCH`` answer (``SEARCH 4 5 9``, RFC 3501 §7.2.5)."""
    out: list[int] = []
    for raw in lines:
        words = bytes(raw).split()
        if words and words[0] == b"SEARCH":  # aioimaplib usually strips the name
            words = words[1:]
        if words and all(w.isdigit() for w in words):
            out.extend(int(w) for w in words)
    return out


def uid_set(uids: Iterable[int]) -> str:
    """A compact IMAP sequence set: ``1:3,7,9:10``."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def plan_batches(items: Sequence[tuple[int, int]], *, max_count: int,
                 max_bytes: int) -> list[list[tuple[int, int]]]:
    """Split (uid, size) pairs, in UID order, into batches of at most ``max_count``
    messages and ``max_bytes`` (a single bigger message gets a batch of its own)."""
    batches: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    size = 0
    for uid, n in sorted(items):
        if current and (len(current) >= max_count or size + n > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append((uid, n))
        size += n
    if current:
        batches.append(current)
    return batches


def quote_mailbox(name: str) -> str:
    """A mailbox name as an IMAP astring (quoted when it needs to be)."""
    if re.fullmatch(r"[A-Za-z0-9._/-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cursor_key(settings: Settings) -> str:
    """The cursor's key: which account and mailbox the UIDs belong to."""
    return f"{settings.imap_user}@{settings.imap_host}:{settings.imap_port}/" \
           f"{settings.imap_mailbox}"[:200]


# ---------------------------------------------------------------------------------------
# The worker


class ImapFetcher(LoopWorker):
    """Fetches the intake mailbox; see the module docstring."""

    name = "intake-imap"

    def __init__(self, settings: Settings, db: Database, *,
                 on_stored: Callable[[], None] | None = None, batch_size: int = 50,
                 batch_bytes: int = 8 * 1024 * 1024, timeout: float = 30.0,
                 idle_renew_seconds: float = IDLE_RENEW_SECONDS,
                 backoff_initial: float = 1.0, backoff_max: float = 300.0,
                 owner: str | None = None, lease_ttl: float = 60.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__()
        # TLS and STARTTLS verify the server against the system's CAs unless a context
        # is given (tests pass one trusting their own certificate).
        self.ssl_context = ssl_context
        self.settings = settings
        self.db = db
        self.on_stored = on_stored
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.timeout = timeout
        self.idle_renew_seconds = idle_renew_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.idle_seconds = settings.imap_poll_seconds
        self.key = cursor_key(settings)
        self.owner = owner or f"{settings.effective_instance_name}:imap"
        self.lease = LeaseKeeper(db, f"imap:{self.key}", self.owner,
                                 ttl=timedelta(seconds=lease_ttl))
        self._client: aioimaplib.IMAP4 | None = None
        self._lost = asyncio.Event()
        self._backoff = backoff_initial
        self._uidvalidity = 0
        self._last_uid = 0
        # Figures for tests, the benchmark and /healthz-like probes.
        self.connects = 0
        self.stored = 0
        self.fetched = 0
        self.idle_wakeups = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def stop(self, timeout: float = 30.0) -> None:
        await super().stop(timeout)
        await self._disconnect()
        await self.lease.close()

    async def run_once(self) -> int:
        if not self.lease.held:
            if not await self.lease.renew_once():
                await self._pause(max(self.lease.ttl.total_seconds() / 3, 0.05))
                return 1
            await self.lease.wait_acquired()  # starts the renewal task
        try:
            if self._client is None:
                await self._connect()
            n = await self.fetch_new()
            if n or self.stopping:
                return n or 1
            if self._idle_ok():
                await self._idle_wait()
                return 1
            return 0  # the loop pauses imap_poll_seconds (or until wake())
        except asyncio.CancelledError:
            raise
        except (TimeoutError, OSError, EOFError, aioimaplib.AioImapException, ImapError,
                ssl.SSLError) as exc:
            log.warning("IMAP %s: %s: %s; reconnecting in %.1fs", self.key,
                        type(exc).__name__, exc, self._backoff)
            self.note_error(f"IMAP {type(exc).__name__}: {exc}")
            await self._disconnect()
            await self._pause(self._backoff)
            self._backoff = min(self._backoff * 2, self.backoff_max)
            return 1

    def _idle_ok(self) -> bool:
        return bool(self.settings.imap_idle and self._client is not None
                    and self._client.has_capability("IDLE"))

    # -- session -------------------------------------------------------------------------

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost.set()

    async def _call(self, aw: Any) -> Any:
        """Await an aioimaplib call, failing fast when the connection drops."""
        if self._lost.is_set():
            if asyncio.iscoroutine(aw):
                aw.close()  # never started: close it, or it warns "never awaited"
            raise ConnectionError("IMAP connection lost")
        task = asyncio.ensure_future(aw)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            lost.cancel()
            raise
        lost.cancel()
        if task in done:
            return task.result()
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - connection is gone
            pass
        raise ConnectionError("IMAP connection lost")

    @staticmethod
    def _ok(resp: Any, what: str) -> Any:
        if resp.result != "OK":
            text = b" ".join(bytes(x) for x in resp.lines[-1:]).decode("utf-8", "replace")
            raise ImapError(f"{what}: {resp.result} {text}")
        return resp

    async def _connect(self) -> None:
        s = self.settings
        if s.imap_security == "plain" and s.imap_host not in LOOPBACK:
            log.warning("IMAP %s: imap_security = plain sends the password unencrypted "
                        "to a non-loopback host", self.key)
        ctx = None
        if s.imap_security in ("tls", "starttls"):
            ctx = self.ssl_context or ssl.create_default_context()
        self._lost = asyncio.Event()
        client = aioimaplib.IMAP4(host=s.imap_host, port=s.imap_port, timeout=self.timeout,
                                  conn_lost_cb=self._on_lost,
                                  ssl_context=ctx if s.imap_security == "tls" else None)
        self._client = client
        await client.wait_hello_from_server()
        if s.imap_security == "starttls":
            assert ctx is not None
            await self._starttls(client, ctx)
        self._ok(await self._call(client.login(s.imap_user, s.imap_password)), "LOGIN")
        # RFC 3501 §6.2.3: capabilities may change after login; ask again.
        await self._call(client.protocol.capability())
        if s.imap_after_store == "move":
            # CREATE answers NO when the folder exists; that is fine.
            await self._call(client.create(quote_mailbox(s.imap_move_to)))
        resp = self._ok(await self._call(client.select(quote_mailbox(s.imap_mailbox))),
                        f"SELECT {s.imap_mailbox}")
        state = parse_select(resp.lines)
        self.connects += 1
        self._backoff = self.backoff_initial
        cursor = await get_cursor(self.db, self.key)
        if cursor is None or cursor[0] != state.uidvalidity:
            if cursor is not None:
                log.warning("IMAP %s: UIDVALIDITY changed from %s to %s (RFC 3501 "
                            "§2.3.1.1); reading the mailbox again, stored messages dedupe "
                            "by content hash", self.key, cursor[0], state.uidvalidity)
            await reset_cursor(self.db, self.key, state.uidvalidity)
            self._last_uid = 0
        else:
            self._last_uid = cursor[1]
            if self._last_uid > 0:
                # Finish what a crash may have left between commit and flag/move.
                await self.after_store(f"1:{self._last_uid}", reconcile=True)
        self._uidvalidity = state.uidvalidity
        log.info("IMAP %s: connected (UIDVALIDITY %s, last UID %s, %s messages)", self.key,
                 state.uidvalidity, self._last_uid, state.exists)

    async def _starttls(self, client: aioimaplib.IMAP4, ctx: ssl.SSLContext) -> None:
        """RFC 3501 §6.2.1 STARTTLS (aioimaplib has no helper: intake.mail.imap_client)."""
        try:
            await imap_client.starttls(client, ctx, self.settings.imap_host,
                                       timeout=self.timeout)
        except imap_client.StartTlsRefused as exc:
            raise ImapError(f"{exc}; not logging in without TLS") from None

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if not self._lost.is_set() and imap_client.transport_of(client) is not None:
                if client.has_pending_idle():
                    client.idle_done()
                await asyncio.wait_for(client.logout(), 2.0)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the session is being thrown away
            pass
        await imap_client.discard(client)

    # -- fetching ------------------------------------------------------------------------

    async def fetch_new(self) -> int:
        """Store every message above the cursor; returns how many were fetched."""
        client = self._client
        assert client is not None
        # UIDs first (one line), then sizes in chunks: aioimaplib parses a response one
        # stack frame per line, so an answer of thousands of lines must never be asked for.
        resp = self._ok(await self._call(client.uid_search(
            "UID", f"{self._last_uid + 1}:*", charset=None)), "UID SEARCH")
        uids = sorted(u for u in parse_search(resp.lines) if u > self._last_uid)
        if not uids:
            return 0
        limit = self.settings.max_message_bytes
        total = 0
        for i in range(0, len(uids), SIZE_CHUNK):
            if self.stopping:
                break
            chunk = set(uids[i:i + SIZE_CHUNK])
            resp = self._ok(await self._call(client.uid(
                "fetch", uid_set(chunk), "(UID RFC822.SIZE)")), "UID FETCH sizes")
            items = [(f.uid, f.size or 0) for f in parse_fetch(resp.lines) if f.uid in chunk]
            for batch in plan_batches(items, max_count=self.batch_size,
                                      max_bytes=self.batch_bytes):
                if self.stopping:
                    break
                total += await self._fetch_batch(batch, limit)
        return total

    async def _fetch_batch(self, batch: list[tuple[int, int]], limit: int) -> int:
        client = self._client
        assert client is not None
        normal = [uid for uid, size in batch if size <= limit]
        big = [uid for uid, size in batch if size > limit]
        bodies: dict[int, bytes] = {}
        if normal:
            resp = self._ok(await self._call(client.uid(
                "fetch", uid_set(normal), "(UID BODY.PEEK[])")), "UID FETCH bodies")
            bodies.update({f.uid: f.data for f in parse_fetch(resp.lines)
                           if f.data is not None})
        if big:
            resp = self._ok(await self._call(client.uid(
                "fetch", uid_set(big), "(UID BODY.PEEK[HEADER])")), "UID FETCH headers")
            bodies.update({f.uid: f.data for f in parse_fetch(resp.lines)
                           if f.data is not None})
        sizes = dict(batch)
        incoming = []
        for uid in sorted(sizes):
            data = bodies.pop(uid, None)
            if data is None:
                log.info("IMAP %s: UID %s vanished before it was fetched", self.key, uid)
                continue
            incoming.append(Incoming(uid, data, sizes[uid], too_large=uid in big))
        del bodies
        results = await store_batch(self.db, incoming, source="imap", mailbox=self.key,
                                    uidvalidity=self._uidvalidity)
        done = [i.uid for i in incoming]
        created = sum(int(r.created) for r in results)
        if done:
            self._last_uid = max(self._last_uid, *done)
        self.fetched += len(done)
        self.stored += created
        IMAP_FETCHED.inc(created)
        if done:
            await self.after_commit(done)
            await self.after_store(uid_set(done))
        if created and self.on_stored is not None:
            self.on_stored()
        return len(batch)

    async def after_commit(self, uids: list[int]) -> None:
        """Called between the commit and the flag/move (tests inject crashes here)."""

    async def after_store(self, uids: str, *, reconcile: bool = False) -> None:
        """Flag ``\\Seen`` or move the stored messages ``uids`` (a UID set)."""
        client = self._client
        assert client is not None
        s = self.settings
        if s.imap_after_store == "flag":
            resp = await self._call(client.uid("store", uids, r"+FLAGS.SILENT (\Seen)"))
            if resp.result != "OK" and reconcile:
                log.info("IMAP %s: re-flagging %s: %s", self.key, uids, resp.result)
                return
            self._ok(resp, "UID STORE \\Seen")
            return
        dest = quote_mailbox(s.imap_move_to)
        if client.has_capability("MOVE"):
            resp = await self._call(client.uid("move", uids, dest))  # RFC 6851
            if resp.result != "OK" and not reconcile:
                self._ok(resp, "UID MOVE")
            return
        resp = await self._call(client.uid("copy", uids, dest))
        if resp.result != "OK":
            if reconcile:
                return
            self._ok(resp, "UID COPY")
        self._ok(await self._call(client.uid("store", uids, r"+FLAGS.SILENT (\Deleted)")),
                 "UID STORE \\Deleted")
        if client.has_capability("UIDPLUS"):
            self._ok(await self._call(client.uid("expunge", uids)), "UID EXPUNGE")  # RFC 4315
        else:
            self._ok(await self._call(client.expunge()), "EXPUNGE")

    # -- waiting -------------------------------------------------------------------------

    async def _idle_wait(self) -> None:
        """IDLE until the server reports new mail, the renewal time, wake() or stop()."""
        client = self._client
        assert client is not None
        self._wake.clear()
        # Re-issue IDLE at least every imap_poll_seconds too: an EXISTS the server sent
        # while another command was running is dropped by aioimaplib, and this bounds how
        # long such a message can wait (in the common case IDLE delivers at once).
        renew = min(self.idle_renew_seconds, max(self.settings.imap_poll_seconds, 1.0))
        idle = await self._call(client.idle_start(timeout=renew))
        try:
            while not self.stopping:
                push = asyncio.ensure_future(
                    client.wait_server_push(timeout=renew + 60))
                wake = asyncio.ensure_future(self._wake.wait())
                lost = asyncio.ensure_future(self._lost.wait())
                try:
                    done, _ = await asyncio.wait({push, wake, lost},
                                                 return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for t in (push, wake, lost):
                        t.cancel()
                if lost in done:
                    raise ConnectionError("IMAP connection lost during IDLE")
                if wake in done:
                    break
                try:
                    lines = push.result()
                except TimeoutError:
                    break
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break  # time to re-issue IDLE
                if any(b"EXISTS" in bytes(x) for x in lines):
                    self.idle_wakeups += 1
                    break
        finally:
            if not self._lost.is_set() and client.has_pending_idle():
                client.idle_done()
                try:
                    await self._call(asyncio.wait_for(idle, self.timeout))
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - a broken IDLE ends the session below
                    self._lost.set()
            elif not idle.done():
                idle.cancel()
        if self._lost.is_set():
            raise ConnectionError("IMAP connection lost after IDLE")


__all__ = ["Fetched", "IDLE_RENEW_SECONDS", "ImapError", "ImapFetcher", "MailboxState",
           "cursor_key", "parse_fetch", "parse_search", "parse_select", "plan_batches",
           "quote_mailbox", "uid_set"]
