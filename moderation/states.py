"""What a submission can be, and how it may move: the state machine, as pure data.

::

    unverified ──verified──▶ pending ──asked──▶ needs_info
    (chat, before the          ▲  │               │  │
     e-mail is confirmed)      │  └──────────┐    │  │
                               └─answered────┼────┘  │
                                             ▼       ▼
                           approved · rejected · duplicate  (final)

A submission is created *unverified* (a chat whose sender has not confirmed the address
yet) or *pending*; only :mod:`moderation.submissions` changes the state, and only along
:data:`MOVES`. Pure: the chat's conversation and the tests use it without a database.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.registry.record import CONTACT_FIELDS

SUBMISSION_KINDS = ("new", "update", "confirmation", "contact_change")
SUBMISSION_CHANNELS = ("email", "chat", "web", "import")
# Where a person answers (an import is the editors' own work): such an answer stops a
# campaign's follow-ups and, approved, earns the contact a thank-you.
CONTACT_CHANNELS = ("email", "chat", "web")
SUBMISSION_STATES = ("unverified", "pending", "needs_info", "approved", "rejected", "duplicate")
# In the moderators' queue.
OPEN_STATES = ("pending", "needs_info")
# A submission may be created in these.
INITIAL_STATES = ("unverified", "pending")
# Not decided yet: waiting for the sender's confirmation or for a moderator.
UNDECIDED_STATES = ("unverified", *OPEN_STATES)
FINAL_STATES = ("approved", "rejected", "duplicate")

MOVES: dict[str, frozenset[str]] = {
    "unverified": frozenset({"pending"}),
    "pending": frozenset({"needs_info", *FINAL_STATES}),
    "needs_info": frozenset({"pending", *FINAL_STATES}),
    **{state: frozenset() for state in FINAL_STATES},
}


def can_move(from_state: str, to_state: str) -> bool:
    """True when the state machine allows ``from_state`` → ``to_state``."""
    return to_state in MOVES.get(from_state, frozenset())


def submission_kind(changes: Mapping[str, Any], *, problems: bool = False) -> str:
    """The kind of a proposal about an existing entry, from what it changes: *confirmation*
    when nothing differs (and nothing was misunderstood), *contact_change* when only the
    contact's fields do, else *update*. Every channel uses this one rule."""
    if not changes:
        return "update" if problems else "confirmation"
    if all(k in CONTACT_FIELDS for k in changes):
        return "contact_change"
    return "update"


__all__ = [
    "CONTACT_CHANNELS", "FINAL_STATES", "INITIAL_STATES", "MOVES", "OPEN_STATES",
    "SUBMISSION_CHANNELS", "SUBMISSION_KINDS", "SUBMISSION_STATES", "UNDECIDED_STATES",
    "can_move", "submission_kind",
]
