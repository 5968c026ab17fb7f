"""The moderator UI's fixed choices whose words live in the catalogues (bot/locale)."""
from __future__ import annotations

from bot.core.i18n import gettext

#: Preset rejection reasons, by key; the text is ``reason.<key>`` in the catalogues. The
#: mail to the sender uses the sender's language; the moderator may add free text.
REJECT_REASONS: tuple[str, ...] = (
    "not_telemedicine", "not_danish", "duplicate", "insufficient", "not_authorised", "spam",
)
_REASON_KEYS = {key: f"reason.{key}" for key in REJECT_REASONS}


def reason_text(key: str, lang: str) -> str:
    """The preset reason ``key`` in ``lang``; "" for a key that is not a preset."""
    message = _REASON_KEYS.get(key)
    return gettext(lang)(message) if message else ""


def reason_choices(lang: str) -> list[tuple[str, str]]:
    """(key, text) of every preset reason, for the rejection form."""
    return [(key, reason_text(key, lang)) for key in REJECT_REASONS]
