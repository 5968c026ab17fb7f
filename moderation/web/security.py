"""Sessions, CSRF protection and login throttling of the moderator web UI.

* **Sessions** live in the ``web_sessions`` table. The cookie carries a random 256-bit id;
  the table stores only its SHA-256. A session is created at login only (a cookie that
  was not issued at a login is never accepted, and any old session is deleted at login:
  no fixation) and ends after ``session_max_age_hours`` or at logout.
* **CSRF**: every session has its own random synchronizer token; every form posts it as
  ``csrf_token`` (or a script sends ``X-CSRF-Token``) and :func:`moderation_guard` refuses
  unsafe requests whose token does not match (``hmac.compare_digest``) with 403. The login
  form, which has no session yet, carries an HMAC of a random pre-login cookie.
* **Throttling**: every password check is reserved first, atomically, per client address
  and per account (:func:`take_login_attempt`); an address gets ``login_max_failures``
  within ``login_lockout_minutes``, an account four times that, and a browser that logged
  in to the account before (a signed cookie) is not limited per account, so nobody can
  lock the real moderator out. Refusals carry the same generic message whether or not
  the account exists.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, unquote

from aiohttp import web
from sqlalchemy import delete, func, select, update

from bot.core.appkeys import DB
from bot.core.db import Database, dbnow
from bot.core.pages import PageError
from bot.core.settings import Settings
from moderation.accounts import UserInfo, info
from moderation.models import LoginFailure, User, WebSession

SESSION_COOKIE = "landkort_session"
LOGIN_COOKIE = "landkort_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Paths that need a logged-in moderator (every method) — the whole moderation UI.
PROTECTED_PREFIXES = ("/moderation",)
PROTECTED_PATHS = ("/logout",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# last_seen_at is written at most this often (no write per page view).
TOUCH_INTERVAL = timedelta(minutes=5)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class SessionInfo:
    """A live session and its account."""

    id_hash: str
    csrf_token: str
    user: UserInfo


SESSION_KEY = web.RequestKey("web_session", SessionInfo)


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


# --- sessions ----------------------------------------------------------------------------

async def create_session(db: Database, settings: Settings, user: UserInfo, *,
                         client_addr: str | None = None,
                         replaces: str | None = None) -> tuple[str, SessionInfo]:
    """Start a session for ``user``; returns (cookie value, session). ``replaces`` (the
    old cookie value, if any) is deleted in the same transaction (id rotation)."""
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = dbnow()
    row = WebSession(id_hash=hash_session_id(session_id), user_id=user.id, csrf_token=csrf,
                     created_at=now, last_seen_at=now,
                     expires_at=now + timedelta(hours=settings.session_max_age_hours),
                     client_addr=(client_addr or "")[:64] or None)
    async with db.write() as session:
        if replaces:
            await session.execute(delete(WebSession).where(
                WebSession.id_hash == hash_session_id(replaces)))
        await session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(row)
    return session_id, SessionInfo(row.id_hash, csrf, user)


async def load_session(db: Database, session_id: str | None) -> SessionInfo | None:
    """The live session for a cookie value, or None (unknown, expired, account disabled)."""
    if not session_id or len(session_id) > 100:
        return None
    id_hash = hash_session_id(session_id)
    now = dbnow()
    async with db.read() as session:
        row = (await session.execute(
            select(WebSession, User).join(User, User.id == WebSession.user_id)
            .where(WebSession.id_hash == id_hash))).first()
    if row is None:
        return None
    web_session, user = row
    if web_session.expires_at <= now or user.disabled:
        return None
    if now - web_session.last_seen_at > TOUCH_INTERVAL:
        async with db.write() as session:
            await session.execute(update(WebSession).where(WebSession.id_hash == id_hash)
                                  .values(last_seen_at=now))
    return SessionInfo(id_hash, web_session.csrf_token, info(user))


async def end_session(db: Database, session_id: str | None) -> None:
    if session_id:
        async with db.write() as session:
            await session.execute(delete(WebSession).where(
                WebSession.id_hash == hash_session_id(session_id)))


# --- cookies -----------------------------------------------------------------------------

def is_https(request: web.Request, settings: Settings) -> bool:
    return settings.base_url.startswith("https://") or request.secure


def set_session_cookie(response: web.StreamResponse, request: web.Request,
                       settings: Settings, session_id: str) -> None:
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="Lax",
                        secure=is_https(request, settings), path="/",
                        max_age=settings.session_max_age_hours * 3600)


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


# --- CSRF ----------------------------------------------------------------------------------

def tokens_match(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def login_csrf_token(settings: Settings, nonce: str) -> str:
    """The login form's token: an HMAC of the pre-login cookie under the secret key."""
    key = (settings.secret_key or "landkort-development-key").encode()
    return hmac.new(key, b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def login_nonce(request: web.Request) -> tuple[str, bool]:
    """The pre-login cookie value and whether it must be set (it is new)."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    if nonce and 20 <= len(nonce) <= 100:
        return nonce, False
    return secrets.token_urlsafe(24), True


def set_login_cookie(response: web.StreamResponse, request: web.Request, settings: Settings,
                     nonce: str) -> None:
    response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="Lax",
                        secure=is_https(request, settings), path="/login")


async def submitted_token(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


# --- throttling --------------------------------------------------------------------------

# The account key allows this many times the address key's failures: an attacker who
# guesses from many addresses is slowed down, but five bad tries by anyone no longer lock
# the real moderator out (OWASP Authentication Cheat Sheet: "account lockout" DoS).
ACCOUNT_FACTOR = 4
DEVICE_COOKIE = "landkort_device"
DEVICE_MAX_AGE = timedelta(days=90)


def throttle_keys(username: str, client_addr: str | None) -> list[str]:
    keys = [f"user:{username.strip().casefold()[:150]}"]
    if client_addr:
        keys.append(f"addr:{client_addr[:150]}")
    return keys


def _limit(key: str, settings: Settings, known_device: bool) -> int | None:
    """Failures a key may have in the window (None: no limit for this attempt)."""
    if key.startswith("user:"):
        # A browser that logged in to this account before is not throttled per account
        # (only per address): the right moderator gets in during an attack.
        return None if known_device else settings.login_max_failures * ACCOUNT_FACTOR
    return settings.login_max_failures


async def take_login_attempt(db: Database, settings: Settings, keys: list[str], *,
                             known_device: bool = False) -> list[int] | None:
    """Reserve one password check; None when a key is over its limit.

    Counting and recording happen in one write transaction (SQLite: ``BEGIN IMMEDIATE``
    serialises writers; PostgreSQL: a transaction-scoped advisory lock per key), so 60
    parallel attempts get exactly as many checks as the limit allows. The reservation
    is recorded as a failure; None when throttled, else the reservation's row ids, which
    a successful login gives back (:func:`login_succeeded`).
    """
    since = dbnow() - timedelta(minutes=settings.login_lockout_minutes)
    async with db.write() as session:
        if db.is_postgres:
            for key in sorted(keys):
                await session.execute(select(func.pg_advisory_xact_lock(
                    func.hashtextextended(key, 0))))
        rows: dict[str, int] = {k: n for k, n in (await session.execute(
            select(LoginFailure.key, func.count()).where(LoginFailure.key.in_(keys),
                                                          LoginFailure.at >= since)
            .group_by(LoginFailure.key))).all()}
        for key in keys:
            limit = _limit(key, settings, known_device)
            if limit is not None and rows.get(key, 0) >= limit:
                return None
        now = dbnow()
        reserved = [LoginFailure(key=key, at=now) for key in keys]
        session.add_all(reserved)
        old = now - timedelta(minutes=max(settings.login_lockout_minutes, 1) * 4)
        await session.execute(delete(LoginFailure).where(LoginFailure.at < old))
        await session.flush()
        return [r.id for r in reserved]


async def login_succeeded(db: Database, account_key: str, reserved: list[int]) -> None:
    """The right password: this attempt's reservation was no failure (so an office
    behind one address is not throttled by its own logins), and the account's earlier
    failures are forgiven. Other failures from the address stay counted."""
    async with db.write() as session:
        await session.execute(delete(LoginFailure).where(
            (LoginFailure.key == account_key) | LoginFailure.id.in_(reserved)))


def device_cookie_value(settings: Settings, username: str, *, now: int | None = None) -> str:
    """A signed "this browser logged in as USERNAME" mark (no secret in it)."""
    expires = (now if now is not None else int(time.time())) + int(
        DEVICE_MAX_AGE.total_seconds())
    payload = f"{username.strip().casefold()}|{expires}"
    mac = hmac.new(settings.secret_key.encode(), b"device|" + payload.encode(),
                   hashlib.sha256).hexdigest()
    return f"{quote(payload, safe='')}|{mac}"


def is_known_device(settings: Settings, cookie: str | None, username: str) -> bool:
    if not cookie or cookie.count("|") != 1:
        return False
    quoted, mac = cookie.split("|")
    payload = unquote(quoted)
    expected = hmac.new(settings.secret_key.encode(), b"device|" + payload.encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected) or payload.count("|") != 1:
        return False
    name, expires = payload.split("|")
    return name == username.strip().casefold() and expires.isdigit() and \
        int(expires) > time.time()


def set_device_cookie(resp: web.StreamResponse, request: web.Request, settings: Settings,
                      username: str) -> None:
    resp.set_cookie(DEVICE_COOKIE, device_cookie_value(settings, username), path="/login",
                    max_age=int(DEVICE_MAX_AGE.total_seconds()), httponly=True,
                    samesite="Strict", secure=settings.base_url.startswith("https://"))


def client_address(request: web.Request) -> str | None:
    return request.remote


# --- the guard -----------------------------------------------------------------------------

def is_protected(path: str) -> bool:
    return path in PROTECTED_PATHS or any(
        path == p or path.startswith(p + "/") for p in PROTECTED_PREFIXES)


def current(request: web.Request) -> SessionInfo:
    """The session of a request that passed the guard."""
    return request[SESSION_KEY]


@web.middleware
async def moderation_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Closes every protected path to anonymous users and checks CSRF on unsafe methods.

    GET/HEAD without a session redirect to the login page; anything else gets 401.
    An unsafe method with a missing or wrong CSRF token gets 403.
    """
    if not is_protected(request.path):
        return await handler(request)
    sess = await load_session(request.app[DB], request.cookies.get(SESSION_COOKIE))
    if sess is None:
        if request.method in SAFE_METHODS:
            target = quote(request.path_qs, safe="/?=&")
            raise web.HTTPSeeOther(f"/login?next={target}")
        raise PageError(401, "err.log_in")
    if request.method not in SAFE_METHODS:
        if not tokens_match(await submitted_token(request), sess.csrf_token):
            raise PageError(403, "err.form_expired")
    request[SESSION_KEY] = sess
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def require_admin(request: web.Request) -> SessionInfo:
    sess = current(request)
    if not sess.user.is_admin:
        raise PageError(403, "err.admin_only")
    return sess
