"""The chat's server side: conversations in the database, the chat's limits, the effects
of the pure conversation (:mod:`intake.chat.conversation`) and e-mail verification.

Every message is handled in one write transaction: load the conversation (locked),
check the limits, run the pure machine, carry out its effects (duplicate lookup, loading
an entry, creating the submission with its verification mail in the outbox), store the
new state and transcript. A retried "send" cannot queue twice: a submission's idempotency
key is the conversation and the submission's number in it.

Trust: a conversation opened with a reminder's or receipt's personal link is verified by
that token, so its submissions go straight to the queue (``pending``, ``token_matched``).
Anything else is stored ``unverified`` until the address given clicks the link in the
verification mail (``GET`` shows a button, only ``POST`` verifies: link scanners follow
GETs).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.clients import client_key
from bot.core.db import Database, dbnow
from bot.core.settings import Settings
from bot.mail.models import ReplyToken
from bot.mail.tokens import hash_token, lookup_token
from bot.registry.duplicates import find_duplicates
from bot.registry.models import Initiative
from intake.chat import conversation as chat
from intake.chat.models import ChatConversation
from intake.parse.leads import listed_leads
from moderation.invitations import registration_verified
from moderation.leads import record_leads
from moderation.models import Submission
from moderation.notices import VERIFY_PURPOSE, enqueue_verification
from moderation.submissions import create_submission, enter_queue

log = logging.getLogger(__name__)

COOKIE_NAME = "landkort_chat"
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
# A conversation untouched this long is not resumed; the person starts afresh.
IDLE_DAYS = 7
# The transcript kept for resuming (older lines are dropped).
TRANSCRIPT_MAX = 300
# Personal links that open an entry in the chat.
ENTRY_TOKEN_PURPOSES = frozenset({"reminder", "receipt", "problems"})
MAX_EFFECTS = 6


# ---------------------------------------------------------------------------------------
# Keys, hashes and CSRF tokens

def new_key() -> str:
    """A fresh conversation key for the cookie (192 random bits)."""
    return secrets.token_urlsafe(24)


def valid_key(key: str | None) -> bool:
    return bool(key and KEY_RE.match(key))


def conversation_id(key: str) -> str:
    """The stored id of a conversation: the SHA-256 of its cookie key."""
    return hashlib.sha256(key.encode("ascii", "ignore")).hexdigest()


def _mac(settings: Settings, purpose: str, value: str) -> str:
    return hmac.new(settings.secret_key.encode(), f"{purpose}:{value}".encode(),
                    hashlib.sha256).hexdigest()


def ip_hash(settings: Settings, ip: str | None) -> str:
    """A keyed hash of the client (its address, an IPv6 client's /64: bot.core.clients); the
    address itself is never stored."""
    return _mac(settings, "chat-ip", client_key(ip) if ip else "-")


def csrf_token(settings: Settings, key: str) -> str:
    """The form fallback's per-conversation CSRF token."""
    return _mac(settings, "chat-csrf", key)[:40]


def check_csrf(settings: Settings, key: str | None, token: str | None) -> bool:
    if not valid_key(key) or not token:
        return False
    return hmac.compare_digest(csrf_token(settings, str(key)), token)


# ---------------------------------------------------------------------------------------
# Results

@dataclass
class Turn:
    """What one message produced: the bot's replies, or an error code
    (too_long, empty, rate_limited, session_limit)."""

    replies: list[chat.Reply] = field(default_factory=list)
    error: str | None = None
    lang: str = "da"


@dataclass
class View:
    """A conversation as the page shows it: transcript and language."""

    transcript: list[dict[str, Any]]
    lang: str
    step: str
    stored: bool


@dataclass
class Opened:
    """The outcome of opening a personal link: a conversation key, or why not
    (invalid, session_limit, waiting: a new initiative not yet approved)."""

    key: str | None
    error: str | None = None


@dataclass
class Verification:
    """The state of a verification link: ready (waiting for the click), verified (just
    now), done (verified before), expired, invalid."""

    status: str
    title: str | None = None
    email: str | None = None
    kind: str | None = None
    lang: str = "da"


def _bot_lines(replies: list[chat.Reply]) -> list[dict[str, Any]]:
    return [{"from": "bot", "reply": r.as_dict()} for r in replies]


# ---------------------------------------------------------------------------------------

class ChatStore:
    """The chat's database side, shared by the WebSocket handler and the form fallback."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db

    # -- reading -------------------------------------------------------------------------
    async def view(self, key: str | None, lang: str) -> View:
        """The conversation behind a cookie key, or a fresh one (not stored until the
        person writes)."""
        if valid_key(key):
            async with self.db.read() as session:
                row = await session.get(ChatConversation, conversation_id(str(key)))
                if row is not None and self._fresh(row):
                    state = chat.ChatState.from_json(row.state)
                    return View(list(row.transcript or []), state.lang, state.step, True)
        outcome = chat.start(lang)
        return View(_bot_lines(outcome.replies), outcome.state.lang, outcome.state.step, False)

    @staticmethod
    def _fresh(row: ChatConversation) -> bool:
        return row.updated_at >= dbnow() - timedelta(days=IDLE_DAYS)

    async def _ip_allowance_left(self, session: AsyncSession, ip_h: str) -> bool:
        since = dbnow() - timedelta(hours=1)
        count = await session.scalar(select(func.count()).select_from(ChatConversation).where(
            ChatConversation.ip_hash == ip_h, ChatConversation.created_at >= since))
        return int(count or 0) < self.settings.chat_sessions_per_ip_per_hour

    # -- one message ---------------------------------------------------------------------
    async def say(self, key: str, message: str, *, ip: str | None, lang: str) -> Turn:
        """Handle one message of the conversation behind ``key``.

        Two first messages of one conversation at once (two tabs) may both try to create
        its row; the loser of that race simply runs again and finds the row."""
        try:
            return await self._say(key, message, ip=ip, lang=lang)
        except IntegrityError:
            return await self._say(key, message, ip=ip, lang=lang)

    async def _say(self, key: str, message: str, *, ip: str | None, lang: str) -> Turn:
        if len(message) > self.settings.chat_max_message_chars:
            return Turn(error="too_long", lang=lang)
        if not message.strip():
            return Turn(error="empty", lang=lang)
        if not valid_key(key):
            return Turn(error="no_session", lang=lang)
        cid = conversation_id(key)
        async with self.db.write() as session:
            row = await session.get(ChatConversation, cid, with_for_update=True)
            if row is None or not self._fresh(row):
                ip_h = ip_hash(self.settings, ip)
                if not await self._ip_allowance_left(session, ip_h):
                    return Turn(error="session_limit", lang=lang)
                outcome = chat.start(lang)
                if row is None:
                    row = ChatConversation(id=cid, ip_hash=ip_h, window_count=0, messages=0)
                    session.add(row)
                row.state = outcome.state.to_json()
                row.transcript = _bot_lines(outcome.replies)
                row.language = outcome.state.lang
                row.token_hash = row.initiative_id = row.contact_id = None
                row.created_at = dbnow()
                row.window_start, row.window_count, row.messages = None, 0, 0
            state = chat.ChatState.from_json(row.state)
            if not self._take_message_allowance(row):
                return Turn(error="rate_limited", lang=state.lang)
            outcome = chat.handle(state, message)
            replies = list(outcome.replies)
            outcome, more = await self._run_effects(session, row, outcome)
            replies.extend(more)
            row.state = outcome.state.to_json()
            row.language = outcome.state.lang
            transcript = list(row.transcript or [])
            transcript.append({"from": "user", "text": message.strip()})
            transcript.extend(_bot_lines(replies))
            row.transcript = transcript[-TRANSCRIPT_MAX:]
            row.messages = (row.messages or 0) + 1
            row.updated_at = dbnow()
            return Turn(replies=replies, lang=outcome.state.lang)

    def _take_message_allowance(self, row: ChatConversation) -> bool:
        now = dbnow()
        if row.window_start is None or now - row.window_start >= timedelta(minutes=1):
            row.window_start, row.window_count = now, 0
        if (row.window_count or 0) >= self.settings.chat_messages_per_minute:
            return False
        row.window_count = (row.window_count or 0) + 1
        return True

    async def _run_effects(self, session: AsyncSession, row: ChatConversation,
                           outcome: chat.ChatStep) -> tuple[chat.ChatStep, list[chat.Reply]]:
        replies: list[chat.Reply] = []
        for _ in range(MAX_EFFECTS):
            effect = outcome.effect
            if effect is None:
                break
            if isinstance(effect, chat.FindDuplicates):
                found = await find_duplicates(session, effect.record)
                outcome = chat.on_duplicates(outcome.state, found)
            elif isinstance(effect, chat.LoadEntry):
                entry = await session.get(Initiative, effect.initiative_id)
                # A stranger's chat ("is it this one?"): only what the public may see.
                record = entry.public_record() if entry is not None \
                    and entry.merged_into_id is None else None
                outcome = chat.on_entry(outcome.state, record,
                                        initiative_id=effect.initiative_id,
                                        version=entry.version if entry is not None else 0)
            elif isinstance(effect, chat.RecordLeads):
                recorded = await record_leads(
                    session, listed_leads(effect.text), channel="chat",
                    key=f"chat:{row.id}:{effect.seq}", mentioned_by=effect.sender_email,
                    initiative_id=effect.initiative_id)
                outcome = chat.on_leads(outcome.state, recorded)
            elif isinstance(effect, chat.Submit):
                stored, verify_email = await self._submit(session, row, outcome.state, effect)
                outcome = chat.on_submitted(outcome.state, stored=stored,
                                            verify_email=verify_email,
                                            verify_hours=self.settings.chat_verify_hours)
            replies.extend(outcome.replies)
        return outcome, replies

    async def _submit(self, session: AsyncSession, row: ChatConversation,
                      state: chat.ChatState, effect: chat.Submit) -> tuple[bool, str | None]:
        """Queue the submission; returns (stored now, address the verification went to)."""
        initiative = None
        if effect.initiative_id is not None:
            initiative = await session.get(Initiative, effect.initiative_id)
        # The personal link is the contact's credential — for that entry only.
        verified = (row.token_hash is not None and state.origin == "token"
                    and initiative is not None and effect.initiative_id == row.initiative_id
                    and await self._token_stands_for_contact(session, row.token_hash))
        candidates: list[dict[str, Any]] = []
        flags: list[str] = []
        if effect.kind == "new":
            candidates = await find_duplicates(session, effect.proposed)
            if any(float(c.get("score") or 0) >= chat.DUPLICATE_SCORE for c in candidates):
                flags.append("likely_duplicate")
        sub = await create_submission(
            session, kind=effect.kind, channel="chat", proposed=effect.proposed,
            initiative=initiative, flags=flags, sender_email=effect.sender_email,
            sender_name=effect.sender_name, language=effect.language,
            token_matched=verified, state="pending" if verified else "unverified",
            idempotency_key=f"chat:{row.id[:40]}:{effect.seq}",
            duplicate_candidates=candidates, actor="chat")
        if sub is None:
            return False, None
        if initiative is not None and effect.base_version is not None:
            sub.base_version = effect.base_version
        if verified or not effect.sender_email:
            return True, None
        await self._send_verification(session, sub, initiative)
        return True, effect.sender_email

    async def _send_verification(self, session: AsyncSession, sub: Submission,
                                 initiative: Initiative | None) -> None:
        await enqueue_verification(session, self.settings, sub, initiative)

    # -- personal links ------------------------------------------------------------------
    @staticmethod
    async def _token_stands_for_contact(session: AsyncSession, token_hash: str) -> bool:
        """A reminder went to the contact's own address; a receipt stands for the contact
        only when the contact wrote the reply (it then names them). A receipt sent to
        someone else holding the contact's token proves nothing: e-mail verification."""
        tok = await session.get(ReplyToken, token_hash)
        if tok is None or (tok.expires_at is not None and tok.expires_at < dbnow()):
            return False
        return tok.purpose == "reminder" or tok.contact_id is not None

    async def open_entry(self, token: str, *, key: str | None, ip: str | None,
                         lang: str | None) -> Opened:
        """Open (or resume) the conversation for a reminder's or receipt's personal link.

        ``lang`` is an explicit choice (?lang=); without it the contact's language is used.
        """
        th = hash_token(token)
        async with self.db.write() as session:
            tok = await lookup_token(session, token)
            if tok is None or tok.purpose not in ENTRY_TOKEN_PURPOSES:
                return Opened(None, "invalid")
            initiative_id = tok.initiative_id
            answered: str | None = None  # where the answer carrying this link went
            if initiative_id is None and tok.submission_id is not None:
                # The answer to a new initiative: its entry exists once a moderator has
                # approved it; until then the link says so instead of failing.
                sub = await session.get(Submission, tok.submission_id)
                if sub is None or sub.state == "rejected":
                    return Opened(None, "invalid")
                initiative_id = sub.initiative_id or sub.result_initiative_id
                if initiative_id is None:
                    return Opened(None, "waiting")
                answered = (sub.sender_email or "").lower()
            if initiative_id is None:
                return Opened(None, "invalid")
            entry = await session.get(Initiative, initiative_id)
            if entry is None or entry.merged_into_id is not None:
                return Opened(None, "invalid")
            if valid_key(key):
                row = await session.get(ChatConversation, conversation_id(str(key)))
                if row is not None and row.token_hash == th and self._fresh(row):
                    state = chat.ChatState.from_json(row.state)
                    if state.step != "done" and (lang is None or lang == state.lang):
                        return Opened(key)
            ip_h = ip_hash(self.settings, ip)
            if not await self._ip_allowance_left(session, ip_h):
                return Opened(None, "session_limit")
            contact_lang = entry.contact.language if entry.contact else None
            # The contact's own link shows their details; any other link (a receipt sent
            # to someone else, a new initiative's answer) only what the public may see.
            contact_email = (entry.contact.email or "").lower() if entry.contact else ""
            mine = (bool(answered) and answered == contact_email) or (
                tok.token_hash is not None
                and await self._token_stands_for_contact(session, tok.token_hash))
            record = entry.record() if mine else entry.public_record()
            outcome = chat.start_update(record, initiative_id=entry.id,
                                        version=entry.version,
                                        lang=lang or contact_lang or self.settings.language)
            new = new_key()
            session.add(ChatConversation(
                id=conversation_id(new), state=outcome.state.to_json(),
                transcript=_bot_lines(outcome.replies), language=outcome.state.lang,
                ip_hash=ip_h, token_hash=th, initiative_id=entry.id,
                contact_id=tok.contact_id, window_count=0, messages=0))
            return Opened(new)

    async def open_page_entry(self, slug: str, *, key: str | None, ip: str | None,
                              lang: str) -> Opened:
        """Open a conversation to correct a published entry from its public page. No
        credential: the proposal is verified by e-mail like a new registration."""
        async with self.db.write() as session:
            entry = await session.scalar(select(Initiative).where(Initiative.slug == slug))
            if entry is None or entry.merged_into_id is not None:
                return Opened(None, "invalid")
            if valid_key(key):
                row = await session.get(ChatConversation, conversation_id(str(key)))
                if row is not None and self._fresh(row) and row.initiative_id == entry.id:
                    state = chat.ChatState.from_json(row.state)
                    if state.step != "done" and state.origin == "page":
                        return Opened(key)  # a reload resumes
            ip_h = ip_hash(self.settings, ip)
            if not await self._ip_allowance_left(session, ip_h):
                return Opened(None, "session_limit")
            outcome = chat.start_page_update(entry.public_record(), initiative_id=entry.id,
                                             version=entry.version, lang=lang)
            new = new_key()
            session.add(ChatConversation(
                id=conversation_id(new), state=outcome.state.to_json(),
                transcript=_bot_lines(outcome.replies), language=outcome.state.lang,
                ip_hash=ip_h, token_hash=None, initiative_id=entry.id, contact_id=None,
                window_count=0, messages=0))
            return Opened(new)

    # -- verification --------------------------------------------------------------------
    async def _verification_rows(self, session: AsyncSession, token: str
                                 ) -> tuple[str, ReplyToken | None, Submission | None]:
        tok = await lookup_token(session, token)
        if tok is None:
            stale = await session.get(ReplyToken, hash_token(token)) if token else None
            if stale is not None and stale.purpose == VERIFY_PURPOSE:
                return "expired", None, None
            return "invalid", None, None
        if tok.purpose != VERIFY_PURPOSE or tok.submission_id is None:
            return "invalid", None, None
        sub = await session.get(Submission, tok.submission_id)
        if sub is None:
            return "invalid", None, None
        return ("ready" if sub.state == "unverified" else "done"), tok, sub

    def _describe(self, status: str, sub: Submission | None,
                  entry: Initiative | None) -> Verification:
        if sub is None:
            return Verification(status)
        title = sub.proposed.get("title") or (entry.title if entry else None)
        return Verification(status, title=title, email=sub.sender_email, kind=sub.kind,
                            lang=sub.language)

    async def verification(self, token: str) -> Verification:
        """What a verification link stands for (GET: nothing changes)."""
        async with self.db.read() as session:
            status, _tok, sub = await self._verification_rows(session, token)
            entry = await session.get(Initiative, sub.initiative_id) \
                if sub is not None and sub.initiative_id else None
            return self._describe(status, sub, entry)

    async def verify(self, token: str) -> Verification:
        """Verify the address behind a link: the submission enters the queue."""
        async with self.db.write() as session:
            status, tok, sub = await self._verification_rows(session, token)
            if sub is None or tok is None:
                return Verification(status)
            entry = await session.get(Initiative, sub.initiative_id) \
                if sub.initiative_id else None
            if status == "ready":
                await self._enter_queue(session, sub, entry)
                tok.used_at = dbnow()
                status = "verified"
            return self._describe(status, sub, entry)

    async def _enter_queue(self, session: AsyncSession, sub: Submission,
                           entry: Initiative | None) -> None:
        if sub.kind == "new":
            # The registry may have changed since the conversation: look again.
            candidates = await find_duplicates(session, sub.proposed)
            sub.duplicate_candidates = list(candidates)
            flags = set(sub.flags or [])
            if any(float(c.get("score") or 0) >= chat.DUPLICATE_SCORE for c in candidates):
                flags.add("likely_duplicate")
            sub.flags = sorted(flags)
        await enter_queue(session, sub, actor=f"chat:{sub.sender_email}",
                          detail={"channel": "chat"})
        if sub.kind == "new":  # a case an invitation led to registers its lead
            await registration_verified(session, sub.id)


__all__ = ["COOKIE_NAME", "ChatStore", "Opened", "Turn", "Verification", "View",
           "check_csrf", "conversation_id", "csrf_token", "ip_hash", "new_key", "valid_key"]
