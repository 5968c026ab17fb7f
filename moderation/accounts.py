"""Moderator accounts: argon2id password hashes, login checks, the demo moderator.

Passwords are hashed with argon2-cffi's :class:`PasswordHasher` (argon2id); a hash made
with older parameters is replaced at the next successful login. Login *throttling* lives
in :mod:`moderation.web.security`; this module only knows whether a password is right.
"""
from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database, dbnow
from moderation.audit import record_event
from moderation.models import User, WebSession

ROLES = ("moderator", "admin")
MIN_PASSWORD_LENGTH = 10
DEMO_USERNAME = "demo"

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong username costs as much time
# as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def end_sessions_of(session: AsyncSession, user_id: int) -> None:
    """Log an account out everywhere (inside the caller's transaction): a changed
    password or a disabled account ends every web session it had."""
    await session.execute(delete(WebSession).where(WebSession.user_id == user_id))


class AccountError(Exception):
    """An account operation that cannot be done as asked (message for the operator)."""


@dataclass(frozen=True)
class UserInfo:
    """What the web layer needs to know about a logged-in account."""

    id: int
    username: str
    role: str
    language: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def info(user: User) -> UserInfo:
    return UserInfo(user.id, user.username, user.role, user.language)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")


def _clean_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise AccountError("a username is 1–100 characters without spaces")
    return name


async def get_user(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username.strip()))


async def create_user(db: Database, username: str, password: str, *, role: str = "moderator",
                      email: str | None = None, language: str = "da",
                      actor: str = "cli") -> User:
    """Add an account; raises AccountError when the name is taken or the input is bad."""
    name = _clean_username(username)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    check_password_strength(password)
    async with db.write() as session:
        if await get_user(session, name) is not None:
            raise AccountError(f"user {name!r} exists already")
        user = User(username=name, password_hash=hash_password(password), role=role,
                    email=email or None, language=language, disabled=False)
        session.add(user)
        await session.flush()
        await record_event(session, actor=actor, action="user.added",
                           detail={"username": name, "role": role})
        return user


async def set_password(db: Database, username: str, password: str, *,
                       actor: str = "cli") -> None:
    """Set a new password (and log the account out everywhere)."""
    check_password_strength(password)
    async with db.write() as session:
        user = await get_user(session, username)
        if user is None:
            raise AccountError(f"no user {username!r}")
        user.password_hash = hash_password(password)
        await end_sessions_of(session, user.id)
        await record_event(session, actor=actor, action="user.password_changed",
                           detail={"username": user.username})


async def set_disabled(db: Database, username: str, disabled: bool = True, *,
                       actor: str = "cli") -> None:
    """Disable (or enable again) an account; a disabled account's sessions end at once."""
    async with db.write() as session:
        user = await get_user(session, username)
        if user is None:
            raise AccountError(f"no user {username!r}")
        user.disabled = disabled
        if disabled:
            await end_sessions_of(session, user.id)
        await record_event(session, actor=actor,
                           action="user.disabled" if disabled else "user.enabled",
                           detail={"username": user.username})


async def list_users(db: Database) -> list[User]:
    async with db.read() as session:
        return list(await session.scalars(select(User).order_by(User.username)))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def authenticate(db: Database, username: str, password: str) -> UserInfo | None:
    """The account when the name and password are right and it is enabled, else None.

    Costs one argon2 verification whether or not the user exists. Rehashes the password
    when the hasher's parameters changed since it was stored.
    """
    async with db.read() as session:
        user = await get_user(session, username) if username.strip() else None
    # argon2 costs ~100 ms of CPU by design: in a thread, so the event loop (and
    # /healthz, the LMTP listener, every other request) keeps running meanwhile.
    if user is None:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return None
    if not await asyncio.to_thread(_verify, user.password_hash, password):
        return None
    if user.disabled:
        return None
    async with db.write() as session:
        fresh = await session.get(User, user.id)
        if fresh is None:
            return None
        fresh.last_login_at = dbnow()
        if _hasher.check_needs_rehash(fresh.password_hash):
            fresh.password_hash = hash_password(password)
        return info(fresh)


async def ensure_demo_moderator(db: Database) -> tuple[str, str | None]:
    """The demo's admin login. The password is set afresh at every demo start (so the
    banner can always print it); the account is created on the first start."""
    password = secrets.token_urlsafe(12)
    async with db.read() as session:
        existing = await get_user(session, DEMO_USERNAME)
    if existing is None:
        await create_user(db, DEMO_USERNAME, password, role="admin", actor="demo")
    else:
        await set_password(db, DEMO_USERNAME, password, actor="demo")
        await set_disabled(db, DEMO_USERNAME, False, actor="demo")
    return DEMO_USERNAME, password
