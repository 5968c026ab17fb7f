"""The leads work list: initiatives someone mentioned that may not be on the map; a
moderator invites someone to register one, or dismisses it."""
from __future__ import annotations

from aiohttp import web

from bot.core.appkeys import DB, SETTINGS
from bot.core.pages import PageError
from moderation import leads
from moderation.web.views import actor_of, int_param, lang_of, page, redirect

routes = web.RouteTableDef()


async def _page(request: web.Request, *, status: int = 200,
                error: str | None = None) -> web.Response:
    state = request.query.get("state", "open")
    if state not in leads.LEAD_STATES:
        state = "open"
    return page(request, "leads.html", status=status, error=error, state=state,
                states=leads.LEAD_STATES, counts=await leads.lead_counts(request.app[DB]),
                leads=await leads.list_leads(request.app[DB], state),
                done=request.query.get("done"))


@routes.get("/moderation/leads", name="leads")
async def lead_list(request: web.Request) -> web.Response:
    """Open leads first; the other states by the menu."""
    return await _page(request)


def _lead_id(form: object) -> int:
    lead_id = int_param(form.get("lead_id"))  # type: ignore[attr-defined]
    if lead_id is None:
        raise PageError(400, "err.lead_decided")
    return lead_id


@routes.post("/moderation/leads/invite")
async def invite(request: web.Request) -> web.Response:
    """Mail an invitation with a personal link to register the lead's initiative."""
    form = await request.post()
    try:
        await leads.invite_lead(request.app[DB], request.app[SETTINGS], _lead_id(form),
                                to_addr=str(form.get("to") or ""),
                                actor=actor_of(request),
                                lang=str(form.get("lang") or lang_of(request)),
                                note=str(form.get("note") or ""))
    except leads.LeadError as exc:
        return await _page(request, status=400, error=exc.key)
    raise redirect("/moderation/leads", done="invited")


@routes.post("/moderation/leads/reinvite")
async def reinvite(request: web.Request) -> web.Response:
    """The invited person never registered: send the invitation again, with a new link."""
    form = await request.post()
    try:
        await leads.reinvite_lead(request.app[DB], request.app[SETTINGS], _lead_id(form),
                                  actor=actor_of(request),
                                  lang=str(form.get("lang") or lang_of(request)),
                                  note=str(form.get("note") or ""))
    except leads.LeadError as exc:
        return await _page(request, status=400, error=exc.key)
    raise redirect("/moderation/leads", state="invited", done="reinvited")


@routes.post("/moderation/leads/dismiss")
async def dismiss(request: web.Request) -> web.Response:
    """Not worth an invitation: on the map already, not telemedicine, too vague."""
    form = await request.post()
    try:
        await leads.dismiss_lead(request.app[DB], _lead_id(form), actor=actor_of(request),
                                 reason=str(form.get("reason") or ""))
    except leads.LeadError as exc:
        return await _page(request, status=400, error=exc.key)
    raise redirect("/moderation/leads", done="dismissed")


__all__ = ["routes"]
