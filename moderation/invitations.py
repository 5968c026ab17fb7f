"""Personal links to register a new initiative: a lead's invitation
(:mod:`moderation.leads`) and an outreach mail (:mod:`moderation.outreach`) both open
``/indmeld`` prefilled, and both count a case as theirs once it is verified. The form and
the chat ask here, so neither needs to know which kind of link it was."""
from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from moderation import leads, outreach


async def prefill_for(session: AsyncSession, token: str) -> dict[str, Any] | None:
    """What the form starts with for a personal link (None: not a live link)."""
    lead = await leads.lead_for_token(session, token)
    if lead is not None:
        return leads.prefill(lead)
    found = await outreach.recipient_for_token(session, token)
    if found is not None:
        return outreach.prefill(*found)
    return None


async def claim_for_registration(session: AsyncSession, token: str,
                                 submission_id: int) -> bool:
    """The form was sent through a personal link: the link's lead or outreach recipient
    points at the new, still unverified case (in the caller's transaction)."""
    if await leads.claim_for_registration(session, token, submission_id):
        return True
    return await outreach.claim_for_registration(session, token, submission_id)


async def registration_verified(session: AsyncSession, submission_id: int) -> None:
    """The case was verified: whatever link led to it counts it as registered."""
    await leads.registration_verified(session, submission_id)
    await outreach.registration_verified(session, submission_id)


__all__ = ["claim_for_registration", "prefill_for", "registration_verified"]
